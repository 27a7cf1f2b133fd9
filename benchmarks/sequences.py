"""Sequence GANs against an honest maximum-likelihood baseline: the synthetic oracle, a formal language, names.

For each data set and seed, through the real command line (``ganworks train`` / ``evaluate`` / ``sample``,
run in this process):

- ``random``: G as initialised (the starting weights of every trained row of that seed), no training;
- ``mle``: ``--objective mle`` for the pre-training budget: maximum likelihood alone, the baseline;
  ``mle-long``: the same for as many kimg as the GANs train in all (is a GAN's move just more training?);
- ``reinforce``: SeqGAN-style (Yu et al. 2017): the same MLE pre-training, then the game with the policy
  gradient (D's probability of "real" as the reward, Monte-Carlo rollouts, leave-one-out baseline);
- ``gumbel``: RelGAN-style (Nie et al. 2019): the same pre-training, then the relativistic loss through
  Gumbel-softmax samples, the inverse temperature rising to 100.

The same seed gives the same pre-training bitwise, so each GAN starts from exactly the ``mle`` row's
generator. On the oracles (SeqGAN's synthetic benchmark, lengths 20 and 40) every model is scored by
NLL_oracle (quality: the oracle's NLL of 2,000 samples) and NLL_gen (diversity: the model's NLL of the
2,000 held-out oracle sequences), and the MLE model also at a sweep of sampling temperatures, scoring
the tempered model softmax(logits / T) on both axes: the quality / diversity curve of Caccia et al.
(2020). A GAN beats MLE only if its point lies below that curve; ``gap`` is the GAN's NLL_oracle minus
the curve's (linear between the sweep's points, T <= 1) at the GAN's NLL_gen: negative = below.
On brackets: validity (exact), uniqueness and novelty; on names: BLEU-4 against the held-out names,
self-BLEU, novelty and a few samples. Every row records its commands and wall time.

Usage: python benchmarks/sequences.py [--seeds 0,1,2] [--datasets oracle,oracle40,brackets,names]
           [--kimg K] [--temperatures 0.5,...] [--n 2000] [--jobs 2] [--out PREFIX]
Writes PREFIX.json, PREFIX.md and PREFIX.png (default benchmarks/results/sequences).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

from provenance import markdown_footer, provenance, run_ref, write_json
from ganworks.cli import OneLineParser

RESULTS = Path(__file__).parent / "results"

#: Per data set: kimg of maximum likelihood (the ``mle`` row, and the GANs' pre-training), kimg of the
#: game after it, and the metrics ``ganworks evaluate`` computes. Chosen so that the default invocation
#: (3 seeds, two runs at a time) takes under 30 minutes on a 2-core CPU; ``--kimg K`` sets the MLE
#: budget of every data set and keeps each one's share of adversarial training. Optional: ``model``, G's
#: size (``--hidden-dim``; the ``random`` row is built alike), ``flags`` added to every trained row, and
#: ``method_flags``, a method's own values for flags of METHODS on this data set.
#: brackets (docs/research/brackets.md): validity >= 0.99 at T = 1 needs more than SeqGAN's hidden 32 and
#: 100 kimg at a constant rate (0.984): hidden 64, 300 kimg, the rate's cosine decay reach 0.997 - 0.999
#: for 22 CPU s; REINFORCE at lr 1e-3 then loses 0.02 of it (D, a width-5 CNN, cannot see most invalid
#: strings and rewards length and novelty), at 3e-5 none.
BUDGETS = {
    "oracle": {"mle": 20.0, "adv": 4.0, "metrics": "nll-oracle,nll-gen,unique"},
    "oracle40": {"mle": 15.0, "adv": 3.0, "metrics": "nll-oracle,nll-gen,unique"},
    "brackets": {"mle": 300.0, "adv": 20.0, "metrics": "validity,unique,novel,nll-gen", "model": {"hidden_dim": 64},
                 "flags": ["--lr-schedule", "cosine"], "method_flags": {"reinforce": {"--lr-g": "3e-5"}}},
    "names": {"mle": 50.0, "adv": 10.0, "metrics": "bleu,self-bleu,novel,unique,nll-gen"},
}
ORACLES = ("oracle", "oracle40")
COST = {"oracle40": 3, "oracle": 2, "names": 1, "brackets": 2}  # roughly, per (data set, seed)
#: The flags of each method after ``ganworks train --data D --seed S``: P = MLE kimg, A = adversarial kimg.
METHODS = {
    "mle": ("--objective mle --kimg {P}", "maximum likelihood alone (teacher forcing, Adam lr 0.01)"),
    "mle-long": ("--objective mle --kimg {PA}", "maximum likelihood for as many kimg as the GANs (P + A): is a "
                 "GAN's move more than more training?"),
    "reinforce": ("--pretrain-kimg {P} --kimg {PA} --objective ns --estimator reinforce --rollouts 4 "
                  "--d-steps 3 --lr-g 1e-3",
                  "SeqGAN-style: MLE pre-training, then REINFORCE with D's probability as the reward, "
                  "4 Monte-Carlo rollouts per prefix, 3 D steps per G step"),
    "gumbel": ("--pretrain-kimg {P} --kimg {PA} --objective rpgan --estimator gumbel --gumbel-temperature 0.01 "
               "--lr 1e-4",
               "RelGAN-style: MLE pre-training, then the relativistic loss through Gumbel-softmax, "
               "beta rising 1 -> 100 (exp)"),
}
COMMON = ["--batch-size", "64", "--tick-kimg", "1", "--snapshot-kimg", "0", "--no-progress"]
TEMPERATURES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2)
#: Published NLL_oracle at L = 20 on each paper's own oracle (other weights: compare shapes and the gap
#: to the same paper's MLE, not the values), as SeqGAN (Yu et al. 2017) and RelGAN (Nie et al. 2019) report them.
LITERATURE_L20 = {"MLE": 9.038, "SeqGAN": 8.736, "RankGAN": 8.247, "LeakGAN": 7.038, "RelGAN": 6.680}


def fail(message: str) -> int:
    """A bad argument: one line on stderr; main() returns 2."""
    print(f"sequences.py: {message}", file=sys.stderr)
    return 2


def _positive(text: str, kind: type) -> float | None:
    """``text`` as a positive finite int or float, else None."""
    try:
        value = kind(text)
    except ValueError:
        return None
    return value if 0 < value < float("inf") else None


def ganworks(*args: str, log: Path) -> str:
    """The real command line, in this process (no second start-up of torch); stdout, stderr to ``log``."""
    from ganworks.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(args))
        except SystemExit as e:
            rc = e.code
    with log.open("a") as f:
        f.write(f"$ {shlex.join(['ganworks', *args])}\n{out.getvalue()}{err.getvalue()}\n")
    if rc:
        sys.exit(f"sequences.py: `ganworks {shlex.join(args)}` failed ({rc}): {err.getvalue().strip()[-2000:]}")
    return out.getvalue()


def shown(args: list[str], run: Path) -> str:
    """A command as the results show it: a run outside the repository is RUN."""
    text = shlex.join(["ganworks", *args])
    return text if run_ref(run) is not None else text.replace(str(run), "RUN")


def values(evaluated: dict) -> dict:
    return {name: round(m["value"], 4) for name, m in evaluated["metrics"].items()}


def evaluate(run: Path, data: str, n: int, temperature: float, workdir: Path, log: Path) -> tuple[dict, str]:
    out = workdir / f"eval-{time.monotonic_ns()}.json"
    args = ["evaluate", str(run), "--metrics", BUDGETS[data]["metrics"], "--n", str(n), "--seed", "0",
            "--temperature", f"{temperature:g}", "--json", str(out)]
    ganworks(*args, log=log)
    return values(json.loads(out.read_text())), shown(args, run)


def random_g(data: str, seed: int, n: int) -> dict:
    """The scores of G as initialised: the weights every trained row of ``seed`` starts from (the training
    loop seeds torch, loads the data, then builds G; so does this)."""
    import torch

    from ganworks.models import build_generator, make_model_config
    from ganworks.sequences.data import load_sequences
    from ganworks.sequences.metrics import SequenceInputs, compute, parse_metrics
    from ganworks.sequences.run import _draw

    torch.manual_seed(seed)
    train, test = load_sequences(data, "train"), load_sequences(data, "test")
    G = build_generator("seq", make_model_config("seq", vocab_size=train.vocab_size, seq_len=train.seq_len,
                                                 eos=train.eos, **BUDGETS[data].get("model", {}))).eval()
    samples = _draw(G, n, 0, 1.0)
    res = compute(parse_metrics(BUDGETS[data]["metrics"]), SequenceInputs(samples, G, train, test), 0)
    return {name: round(m["value"], 4) for name, m in res.items()}


def model_flags(data: str) -> list[str]:
    """The model size of ``data``'s rows as flags: ``{"hidden_dim": 64}`` -> ``--hidden-dim 64``."""
    return [x for k, v in BUDGETS[data].get("model", {}).items() for x in (f"--{k.replace('_', '-')}", str(v))]


def train_flags(method: str, data: str, P: float, A: float) -> list[str]:
    """The flags of ``method`` on ``data`` after ``--data D --seed S``: METHODS' template with this data set's
    own values (``method_flags``), then its model size and ``flags``."""
    flags = METHODS[method][0].format(P=f"{P:g}", PA=f"{P + A:g}").split()
    for flag, value in BUDGETS[data].get("method_flags", {}).get(method, {}).items():
        flags[flags.index(flag) + 1] = value
    return [*flags, *model_flags(data), *BUDGETS[data].get("flags", [])]


def budget(data: str, kimg: float | None) -> tuple[float, float]:
    b = BUDGETS[data]
    if kimg is None:
        return b["mle"], b["adv"]
    return kimg, round(kimg * b["adv"] / b["mle"], 6)


def run_unit(data: str, seed: int, kimg: float | None, n: int, temperatures: list[float], workdir: Path,
             log: Path) -> list[dict]:
    """Every method on one data set with one seed: the rows of the table (and the sweep)."""
    import torch

    torch.set_num_threads(1)
    P, A = budget(data, kimg)
    rows = []
    t0, c0 = time.perf_counter(), time.process_time()
    rows.append({"data": data, "seed": seed, "method": "random", "temperature": 1.0, "kimg": 0,
                 "command": f"none: G as initialised after torch.manual_seed({seed})",
                 "scores": random_g(data, seed, n), "train_s": 0.0, "eval_s": round(time.perf_counter() - t0, 1),
                 "wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(time.process_time() - c0, 1)})
    for method in METHODS:
        run = workdir / f"{data}-{method}-s{seed}"
        args = ["train", "--data", data, "--seed", str(seed), *train_flags(method, data, P, A), *COMMON,
                "--run-dir", str(run)]
        t, c = time.perf_counter(), time.process_time()
        ganworks(*args, log=log)
        train_s, train_cpu = time.perf_counter() - t, time.process_time() - c
        temps = temperatures if method == "mle" and data in ORACLES else [1.0]
        for T in temps:
            t, c = time.perf_counter(), time.process_time()
            scores, eval_cmd = evaluate(run, data, n, T, workdir, log)
            eval_cmd = re.sub(r"--json \S+", "--json EVAL.json", eval_cmd)  # a scratch file, deleted after
            eval_s, eval_cpu = time.perf_counter() - t, time.process_time() - c
            row = {"data": data, "seed": seed, "method": method, "temperature": T,
                   "kimg": P if method == "mle" else P + A, "pretrain_kimg": P if method != "mle-long" else P + A,
                   "adversarial_kimg": 0 if method.startswith("mle") else A, "command": shown(args, run),
                   "eval_command": eval_cmd, "scores": scores, "train_s": round(train_s, 1),
                   "eval_s": round(eval_s, 1), "wall_s": round(train_s + eval_s, 1),
                   "cpu_s": round((train_cpu if T == 1.0 else 0.0) + eval_cpu, 1), "run": run_ref(run)}
            rows.append(row)
        if data == "names":
            txt = workdir / f"{run.name}.txt"
            ganworks("sample", str(run), "--n", "10", "--seed", "0", "--txt", str(txt), log=log)
            rows[-1]["samples"] = txt.read_text(encoding="utf-8").splitlines()
        print(f"{data:9s} seed {seed} {method:9s} {train_s:6.1f} s  {rows[-1]['scores']}", flush=True)
    return rows


# ------------------------------------------------------------------------- the curve and the gaps
def curve(rows: list[dict], data: str, seed: int | None) -> list[tuple[float, float, float]]:
    """(T, NLL_gen, NLL_oracle) of the MLE sweep at T <= 1, by increasing NLL_gen (decreasing T); the
    mean over seeds when ``seed`` is None."""
    pts: dict[float, list[tuple[float, float]]] = {}
    for r in rows:
        if r["data"] == data and r["method"] == "mle" and r["temperature"] <= 1 and seed in (None, r["seed"]):
            pts.setdefault(r["temperature"], []).append((r["scores"]["nll-gen"], r["scores"]["nll-oracle"]))
    out = [(T, statistics.fmean(p[0] for p in v), statistics.fmean(p[1] for p in v)) for T, v in pts.items()]
    return sorted(out, key=lambda p: -p[0])


def gap_to_curve(points: list[tuple[float, float, float]], nll_gen: float, nll_oracle: float) -> dict:
    """Where (nll_gen, nll_oracle) lies against the MLE curve ``points`` (T descending from 1, as above):
    ``gap`` = nll_oracle minus the curve's NLL_oracle at this NLL_gen (linear between neighbouring
    temperatures); negative = below the curve (better quality at equal diversity). Left of the curve (a
    lower NLL_gen than MLE at T = 1): the gap to the T = 1 point, which the point then dominates when
    negative. Right of the sweep (NLL_gen above the lowest temperature's): no gap, ``where`` says so."""
    if not points:
        return {"gap": None, "where": "no MLE curve"}
    xs = [p[1] for p in points]
    if nll_gen <= xs[0]:
        return {"gap": round(nll_oracle - points[0][2], 4), "where": "left of the curve (NLL_gen below MLE at T = 1)"}
    for (t0, x0, y0), (t1, x1, y1) in zip(points, points[1:]):
        if min(x0, x1) <= nll_gen <= max(x0, x1) and x0 != x1:
            y = y0 + (y1 - y0) * (nll_gen - x0) / (x1 - x0)
            return {"gap": round(nll_oracle - y, 4), "where": f"between T = {t0:g} and {t1:g}"}
    return {"gap": None, "where": f"right of the sweep (NLL_gen above MLE at T = {points[-1][0]:g})"}


def gaps(rows: list[dict]) -> dict:
    """Per oracle and GAN method: the gap of each seed to that seed's MLE curve, and of the mean point to
    the mean curve."""
    out: dict = {}
    for data in ORACLES:
        for method in ("mle-long", "reinforce", "gumbel"):
            pts = [r for r in rows if r["data"] == data and r["method"] == method]
            if not pts:
                continue
            per_seed = {r["seed"]: gap_to_curve(curve(rows, data, r["seed"]), r["scores"]["nll-gen"],
                                                r["scores"]["nll-oracle"]) for r in pts}
            mean_pt = (statistics.fmean(r["scores"]["nll-gen"] for r in pts),
                       statistics.fmean(r["scores"]["nll-oracle"] for r in pts))
            known = [g["gap"] for g in per_seed.values() if g["gap"] is not None]
            out.setdefault(data, {})[method] = {
                "per_seed": per_seed, "mean_point": [round(v, 4) for v in mean_pt],
                "mean_curve": gap_to_curve(curve(rows, data, None), *mean_pt),
                "seeds_below": sum(g < 0 for g in known), "seeds": len(per_seed)}
    return out


# ------------------------------------------------------------------------------------ output
def _mean_sd(xs: list[float], digits: int = 3) -> str:
    if not xs:
        return "—"
    m = statistics.fmean(xs)
    return f"{m:.{digits}f}" if len(xs) < 2 else f"{m:.{digits}f} ± {statistics.stdev(xs):.{digits}f}"


COLUMNS = {"oracle": [("NLL_oracle", "nll-oracle"), ("NLL_gen", "nll-gen"), ("unique", "unique")],
           "brackets": [("validity", "validity"), ("unique", "unique"), ("novel", "novel"), ("NLL_gen", "nll-gen")],
           "names": [("BLEU-4", "bleu"), ("self-BLEU-4", "self-bleu"), ("novel", "novel"), ("unique", "unique"),
                     ("NLL_gen", "nll-gen")]}
COLUMNS["oracle40"] = COLUMNS["oracle"]


def table(res: dict, data: str) -> list[str]:
    cols = COLUMNS[data]
    head = ["method", "T", "kimg (MLE + game)", *[c for c, _ in cols], "CPU s per seed", "wall s per seed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ref = res.get("reference", {}).get(data)
    if ref:
        lines.append("| the oracle itself (held-out real sequences) | | | " + " | ".join(
            f"{ref[k]:.3f}" if k in ref else "—" for _, k in cols) + " | | |")
    keys = []
    for r in res["rows"]:
        if r["data"] == data and (r["method"], r["temperature"]) not in keys:
            keys.append((r["method"], r["temperature"]))
    for method, T in keys:
        rs = [r for r in res["rows"] if r["data"] == data and r["method"] == method and r["temperature"] == T]
        kimg = "0" if method == "random" else (f"{rs[0]['pretrain_kimg']:g}" if method.startswith("mle") else
                                                f"{rs[0]['pretrain_kimg']:g} + {rs[0]['adversarial_kimg']:g}")
        wall = [r["wall_s"] if T == 1.0 or method != "mle" else r["eval_s"] for r in rs]
        cpu = [r["cpu_s"] for r in rs]
        lines.append("| " + " | ".join([method if T == 1.0 else f"mle, T = {T:g}", f"{T:g}", kimg,
                                        *[_mean_sd([r["scores"][k] for r in rs if k in r["scores"]]) for _, k in cols],
                                        f"{statistics.fmean(cpu):.0f}", f"{statistics.fmean(wall):.0f}"]) + " |")
    return lines


def markdown(res: dict, prov: dict) -> str:
    lines = ["# Sequence GANs against maximum likelihood", "",
             f"Seeds {', '.join(map(str, res['seeds']))}; values are the mean ± sd over seeds. {res['n']:,} samples "
             f"per evaluation (sampling seed 0). One torch thread per run, {res['jobs']} run(s) at a time; "
             "CPU s and wall s per seed: training and evaluation of one row (the MLE sweep's rows: the evaluation "
             "alone); CPU s is the run's own process time, which other load on the machine does not inflate.", ""]
    for data in res["datasets"]:
        P, A = res["budgets"][data]
        own = [*model_flags(data), *BUDGETS[data].get("flags", [])]
        changed = "; ".join(f"{m}: `{' '.join(f'{k} {v}' for k, v in fl.items())}`"
                            for m, fl in BUDGETS[data].get("method_flags", {}).items())
        lines += [f"## {data}", "",
                  f"MLE: {P:g} kimg; each GAN: the same {P:g} kimg of MLE, then {A:g} kimg of the game." +
                  (f" Every trained row adds `{' '.join(own)}`." if own else "") +
                  (f" On this data set {changed} (in place of the value below)." if changed else ""), "",
                  *table(res, data), ""]
        g = res["gaps"].get(data)
        if g:
            lines += ["Against the MLE temperature curve (T <= 1), at the GAN's own NLL_gen: gap = GAN's NLL_oracle "
                      "minus the curve's (negative = below the curve = better than MLE at equal diversity).", "",
                      "| method | " + " | ".join(f"seed {s}" for s in res["seeds"]) + " | mean point vs mean curve | "
                      "seeds below |", "|" + "---|" * (len(res["seeds"]) + 3)]
            for method, v in g.items():
                cells = [("—" if v["per_seed"][s]["gap"] is None else f"{v['per_seed'][s]['gap']:+.3f}") +
                         f" ({v['per_seed'][s]['where']})" for s in res["seeds"] if s in v["per_seed"]]
                mc = v["mean_curve"]
                lines.append(f"| {method} | " + " | ".join(cells) + " | " +
                             ("—" if mc["gap"] is None else f"{mc['gap']:+.3f}") + f" ({mc['where']}) | "
                             f"{v['seeds_below']} of {v['seeds']} |")
            lines.append("")
        if data == "names":
            lines += ["Samples (seed 0, sampling seed 0):", ""]
            for r in res["rows"]:
                if r["data"] == "names" and r["seed"] == res["seeds"][0] and r.get("samples"):
                    lines.append(f"- {r['method']}: " + ", ".join(f"`{s}`" for s in r["samples"]))
            lines.append("")
    if any(d in ORACLES for d in res["datasets"]):
        lines += ["Literature, L = 20, on each paper's own oracle (other weights: compare the gap to that paper's "
                  "MLE, not the values): " + ", ".join(f"{k} {v:.3f}" for k, v in LITERATURE_L20.items()) +
                  " (SeqGAN, Yu et al. 2017; RelGAN, Nie et al. 2019).", ""]
    lines += ["Methods (after `ganworks train --data D --seed S`; P, A: the kimg of MLE and of the game above):", ""]
    for method, (flags, what) in METHODS.items():
        lines.append(f"- `{method}`: {what}; `{flags.format(P='P', PA='P+A')} {' '.join(COMMON)}`")
    lines += ["- evaluation: `ganworks evaluate RUN --metrics M --n N --seed 0 --temperature T --json OUT`", "",
              markdown_footer(prov), ""]
    return "\n".join(lines)


def figure(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = res["datasets"]
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 4.2), dpi=100, squeeze=False)
    colors = {"random": "0.5", "mle": "C0", "mle-long": "C9", "reinforce": "C3", "gumbel": "C2"}
    for ax, data in zip(axes[0], datasets):
        rows = [r for r in res["rows"] if r["data"] == data]
        if data in ORACLES:
            for seed in res["seeds"]:
                c = curve(rows, data, seed)
                ax.plot([p[1] for p in c], [p[2] for p in c], color="C0", lw=0.7, alpha=0.5)
            c = curve(rows, data, None)
            ax.plot([p[1] for p in c], [p[2] for p in c], color="C0", marker="o", ms=3,
                    label="MLE, temperature sweep (mean)")
            for T, x, y in c:
                ax.annotate(f"T={T:g}", (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
            for method, marker in (("mle-long", "D"), ("reinforce", "s"), ("gumbel", "^")):
                pts = [r for r in rows if r["method"] == method]
                if pts:
                    ax.scatter([r["scores"]["nll-gen"] for r in pts], [r["scores"]["nll-oracle"] for r in pts],
                               color=colors[method], marker=marker, label=f"{method} (each seed)", zorder=3)
            ref = res.get("reference", {}).get(data)
            if ref:
                ax.scatter([ref["nll-gen"]], [ref["nll-oracle"]], color="k", marker="*", s=80,
                           label="the oracle itself", zorder=3)
            ax.set_xlabel("NLL_gen (held-out real sequences; lower = more diverse)")
            ax.set_ylabel("NLL_oracle (samples; lower = better quality)")
            ax.set_title(f"{data} (L = {20 if data == 'oracle' else 40}): random G at NLL_oracle "
                         f"{statistics.fmean(r['scores']['nll-oracle'] for r in rows if r['method'] == 'random'):.2f}",
                         fontsize=9)
            ax.legend(fontsize=7)
        else:
            cols = [k for _, k in COLUMNS[data] if k != "nll-gen"]
            methods = [m for m in ("random", *METHODS) if any(r["method"] == m for r in rows)]
            width = 0.8 / len(methods)
            for i, m in enumerate(methods):
                vals = [statistics.fmean(r["scores"][k] for r in rows if r["method"] == m) for k in cols]
                ax.bar([j + i * width for j in range(len(cols))], vals, width, color=colors[m], label=m)
            ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cols))], cols)
            ax.set_ylim(0, 1.05)
            ax.set_title(f"{data}: mean over seeds", fontsize=9)
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def reference(data: str) -> dict:
    """The oracle's own scores: its NLL of the held-out real sequences is both the quality of real data
    (NLL_oracle) and the best NLL_gen any model can reach on them (the oracle's entropy rate, estimated)."""
    import torch

    from ganworks.sequences.data import ORACLES as LENGTHS
    from ganworks.sequences.data import load_sequences, oracle_model

    test = load_sequences(data, "test")
    with torch.no_grad():
        nll = oracle_model(LENGTHS[data]).nll(test.tokens).mean().item()
    return {"nll-oracle": round(nll, 4), "nll-gen": round(nll, 4)}


def _unit(job: tuple) -> list[dict]:
    return run_unit(*job)


def main(argv: list[str] | None = None) -> int:
    """The benchmark with ``argv`` (default: this process's command line); 0, or 2 for a bad argument."""
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    ap.add_argument("--datasets", default=",".join(BUDGETS), help=f"comma-separated, from: {', '.join(BUDGETS)}")
    ap.add_argument("--kimg", help="MLE kimg of every data set (default: per data set, BUDGETS); the game keeps "
                                   "its share")
    ap.add_argument("--temperatures", default=",".join(map(str, TEMPERATURES)),
                    help="the MLE sweep on the oracles (must include 1)")
    ap.add_argument("--n", default="2000", help="samples per evaluation (default 2000)")
    ap.add_argument("--jobs", default="2", help="runs at a time, one process and one thread each (default 2)")
    ap.add_argument("--out", help="output prefix (default benchmarks/results/sequences)")
    a = ap.parse_args(argv)
    try:
        seeds = [int(s) for s in a.seeds.split(",")]
    except ValueError:
        return fail(f"--seeds {a.seeds!r}: must be comma-separated integers, e.g. 0,1,2")
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        return fail(f"--seeds {a.seeds!r}: must be distinct non-negative integers, e.g. 0,1,2")
    datasets = [d.strip() for d in a.datasets.split(",") if d.strip()]
    for d in datasets or [a.datasets]:
        if d not in BUDGETS:
            return fail(f"--datasets: unknown data set {d!r}; valid: {', '.join(BUDGETS)}")
    numbers = {}
    for flag, text, kind in (("--kimg", a.kimg, float), ("--n", a.n, int), ("--jobs", a.jobs, int)):
        numbers[flag] = None if text is None else _positive(text, kind)
        if text is not None and numbers[flag] is None:
            return fail(f"{flag} {text!r}: must be a positive {'number' if kind is float else 'integer'}")
    try:
        temps = sorted({float(t) for t in a.temperatures.split(",")})
    except ValueError:
        temps = []
    if 1.0 not in temps or min(temps) <= 0:
        return fail(f"--temperatures {a.temperatures!r}: must be positive numbers including 1, e.g. 0.5,0.8,1")
    prefix = Path(a.out) if a.out else RESULTS / "sequences"
    prefix.parent.mkdir(parents=True, exist_ok=True)
    import torch

    from ganworks.sequences.data import load_sequences

    for d in datasets:  # draw (and cache) the oracle's samples once, before any worker needs them
        load_sequences(d, "train"), load_sequences(d, "test")
    log = prefix.parent / f"{prefix.name}.log"
    log.write_text("")
    res = {"benchmark": "sequences", "seeds": seeds, "datasets": datasets, "n": numbers["--n"],
           "jobs": numbers["--jobs"], "temperatures": temps,
           "budgets": {d: budget(d, numbers["--kimg"]) for d in datasets},
           "methods": {m: {"flags": f, "what": w} for m, (f, w) in METHODS.items()}, "common_flags": COMMON,
           "data_flags": {d: {k: BUDGETS[d][k] for k in ("model", "flags", "method_flags") if k in BUDGETS[d]}
                          for d in datasets},
           "threads": 1, "literature_l20": LITERATURE_L20,
           "reference": {d: reference(d) for d in datasets if d in ORACLES}, "rows": []}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(d, s, numbers["--kimg"], numbers["--n"], temps, Path(tmp), log) for d in datasets for s in seeds]
        if numbers["--jobs"] == 1:
            torch_threads = torch.get_num_threads()
            try:
                for job in jobs:
                    res["rows"] += _unit(job)
            finally:
                torch.set_num_threads(torch_threads)
        else:
            import concurrent.futures
            import multiprocessing

            with concurrent.futures.ProcessPoolExecutor(numbers["--jobs"],
                                                        mp_context=multiprocessing.get_context("spawn")) as pool:
                # The longest first (oracle40), so that the two workers finish together.
                for rows in pool.map(_unit, sorted(jobs, key=lambda j: -COST[j[0]])):
                    res["rows"] += rows
    order = {(d, s): i for i, (d, s, *_) in enumerate(jobs)}
    res["rows"].sort(key=lambda r: order[(r["data"], r["seed"])])
    res["gaps"] = gaps(res["rows"])
    res["total_wall_s"] = round(time.perf_counter() - t0, 1)
    prov = provenance([__file__, *argv])
    write_json(prefix.with_suffix(".json"), res, prov)
    prefix.with_suffix(".md").write_text(markdown(res, prov))
    figure(res, prefix.with_suffix(".png"))
    print(f"wrote {prefix}.json, {prefix}.md, {prefix}.png ({res['total_wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
