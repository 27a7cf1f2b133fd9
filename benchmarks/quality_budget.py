"""Quality per CPU-minute: what each training recipe reaches after M minutes of wall-clock training.

Each recipe is trained with the real command line (``ganworks train --data D --minutes M``, plus the
recipe's flags), then 10,000 samples (26,000 on stacked-mnist) are scored with ``ganworks evaluate``
against the dataset's reference split (Fashion-MNIST: the 10,000 test images, extractor lenet-fashion;
mnist-5k: its 5,000 digits, lenet-mnist; stacked-mnist: modes and KL to uniform). Next to the scores:

- the floor: 10,000 real training images scored the same way (what a perfect generator would get);
- on mnist-5k, a memorisation check: each sample's pixel distance to its nearest training digit,
  against each real digit's distance to its nearest *other* training digit (leave-one-out, the stand-in
  for held-out digits); a generator that copies its training digits scores ``near_copies`` far above
  the real digits' 1%.

Budgets (``--minutes 2,5,10``): ``--mode extend`` trains one run per recipe for the first budget, scores
it, then resumes it (``--resume RUN --minutes NEXT``) to the next budget and scores it again, so the
10-minute row is one 10-minute run and costs 10 minutes, not 17; with schedules that do not follow the
run's length (a constant learning rate) that is what three separate runs would compute (up to the machine's
speed). ``--mode separate`` trains every budget from scratch: what a recipe whose schedules follow the
length needs (the default recipes' cooldown: an extended run would cool at each budget's end, then take the
rate up again), and ``extend`` refuses such a recipe. ``--mode auto`` (the default) picks ``separate`` for
those recipes and ``extend`` for the others. Every row records its mode, the command, kimg reached, img/s
and precision.

Usage: python benchmarks/quality_budget.py --data fashion-mnist --minutes 2,5,10
           [--recipes default,mlp-demo,dcgan-ns,r3gan] [--mode auto|extend|separate] [--out PREFIX] [--keep-runs DIR]
           [--seed N]
Writes PREFIX.json, PREFIX.md and PREFIX.png (default benchmarks/results/quality_budget-DATA), and
one sample grid per recipe and budget beside them (PREFIX-RECIPE-Mmin.png).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from provenance import markdown_footer, provenance, run_ref, write_json
from ganworks.cli import OneLineParser

RESULTS = Path(__file__).parent / "results"

#: name -> (the flags after ``ganworks train --data D``, one line on what it is). "default" is what a user
#: gets with no flag: the product's default recipe for the data. The others are the rows the issue asks for
#: and the candidates of the recipe search (docs/research/recipes.md).
RECIPES: dict[str, tuple[list[str], str]] = {
    "default": ([], "no flag but the data: the default recipe"),
    "mlp-demo": ("--model mlp --objective ns --g-batchnorm --batch-size 128 --lr-g 1e-3 --lr-d 5e-4 "
                 "--ema-kimg 10".split(), "the 2014 paper's MLP pair as make demo trained it before"),
    "dcgan-ns": ("--model dcgan --objective ns --batch-size 64 --ema-kimg 10".split(),
                 "DCGAN (widths 64), non-saturating loss, EMA: the documented flags"),
    "dcgan32-b128": ("--model dcgan --objective ns --g-channels 32 --d-channels 32 --batch-size 128 "
                     "--ema-kimg 10 --ema-rampup 0.05".split(), "DCGAN at half width, batch 128, EMA with ramp-up"),
    "dcgan64-rampup": ("--model dcgan --objective ns --batch-size 64 --ema-kimg 10 --ema-rampup 0.05".split(),
                       "DCGAN (widths 64), batch 64, EMA with ramp-up"),
    "dcgan32-hinge": ("--model dcgan --objective hinge --g-channels 32 --d-channels 32 --batch-size 64 "
                      "--ema-kimg 10 --ema-rampup 0.05".split(), "DCGAN at half width, hinge loss, EMA with ramp-up"),
    "dcgan32-lr4": ("--model dcgan --objective ns --g-channels 32 --d-channels 32 --batch-size 64 --lr 4e-4 "
                    "--ema-kimg 10 --ema-rampup 0.05".split(), "DCGAN at half width, lr 4e-4, EMA with ramp-up"),
    "dcgan64-bn": ("--model dcgan --objective ns --batch-size 64 --d-batchnorm --ema-kimg 10 "
                   "--ema-rampup 0.05".split(), "DCGAN (widths 64), BatchNorm in D, EMA with ramp-up"),
    "dcgan48-bn": ("--model dcgan --objective ns --g-channels 48 --d-channels 48 --batch-size 64 --d-batchnorm "
                   "--ema-kimg 10 --ema-rampup 0.05".split(), "DCGAN (widths 48), BatchNorm in D, EMA with ramp-up"),
    "dcgan32-bn": ("--model dcgan --objective ns --g-channels 32 --d-channels 32 --batch-size 64 --d-batchnorm "
                   "--ema-kimg 10 --ema-rampup 0.05".split(), "DCGAN (widths 32), BatchNorm in D, EMA with ramp-up"),
    "previous-default": (["--no-sn", "--d-batchnorm", "--g-extra", "0", "--d-extra", "0", "--lr", "2e-4",
                          "--no-reuse-fakes"],
                         "the default recipe until commit 4fe1fc8: BatchNorm in D instead of spectral norm, plain G "
                         "and D, lr 2e-4, two forwards of G"),
    "sn-default": (["--d-extra", "0", "--lr", "2e-4", "--no-reuse-fakes"],
                   "the default recipe from commit 4fe1fc8 until D got its 3x3 convolutions: plain D, lr 2e-4, "
                   "two forwards of G"),
    "default-no-reuse": (["--no-reuse-fakes"], "the default recipe with a fresh forward pass of G for G's step"),
    "default-fp32": (["--precision", "fp32"], "the default recipe in fp32 (against bf16 where auto picks it)"),
    "default-diffaug": (["--augment", "translation,cutout"], "the default recipe with DiffAugment (translation, "
                                                             "cutout) on D's inputs, for small data"),
    "default-pack2": (["--pack", "2"], "the default recipe with PacGAN packing: D judges 2 samples at once "
                                         "(Lin et al. 2018), against mode imbalance"),
    "default-linear": (["--lr-schedule", "linear"], "the default recipe, both learning rates decayed linearly to 0 "
                                                    "over the budget (use --mode separate: each budget its own decay)"),
    "default-mbstd": (["--mbstd", "4"], "the default recipe with a minibatch standard deviation channel in D "
                                        "(groups of 4; Karras et al. 2018), against mode imbalance"),
    "default-cooldown": (["--lr-schedule", "cooldown"], "the default recipe, both learning rates falling linearly "
                                                        "to 0 over the last 20% of the budget (use --mode separate)"),
    "default-unconditional": (["--no-conditional"], "the default recipe without classes (on the data whose "
                                                       "recipe is class-conditional)"),
    "default-lr1e-3": (["--lr", "1e-3"], "the default recipe at lr 1e-3 for both networks"),
    "default-lr1.5e-3": (["--lr", "1.5e-3"], "the default recipe at lr 1.5e-3 for both networks (Fashion-MNIST's "
                         "rate on a CPU without bf16 units)"),
    "default-b128-lr1.5e-3": (["--batch-size", "128", "--lr", "1.5e-3"], "the default recipe at batch 128 and lr "
                              "1.5e-3 (the rate times about the square root of the batch's growth; Fashion-MNIST's "
                              "recipe since commit ae82ee3)"),
    "default-short-cooldown": (["--cooldown-share", "0.2", "--ema-tail", "0"], "the default recipe with the rates "
                               "falling over the last 20% and no running mean of G in the tail (written out: the "
                               "default recipe's own settings again since commit 6fbce48)"),
    "default-tail": (["--cooldown-share", "0.4", "--ema-tail", "0.1"], "the default recipe with the rates falling "
                     "over the last 40% and a running mean of G over the last 10% (Fashion-MNIST's recipe at "
                     "commit 461863b)"),
    "default-pick": (["--cooldown-share", "0.4", "--pick-tail", "0.1"], "the default recipe with the rates falling "
                     "over the last 40% and, of G's average scored every 10 kimg over the last 10% by FD against "
                     "the training split, the best kept"),
    "default-pick-kl": (["--pick-tail", "0.1", "--pick-metric", "kl", "--pick-n", "26000", "--pick-kimg", "60"],
                        "the default recipe; of G's average scored every 60 kimg over the last 10% by the KL of its "
                        "mode histogram to uniform (26,000 samples of other noise), the best kept (for Stacked MNIST)"),
    "default-checkpoints": (["--checkpoint-kimg", "500", "--keep-checkpoints", "1000"],
                            "the default recipe keeping a resume state every 500 kimg (for scoring G along a long "
                            "run afterwards; training unchanged)"),
    "d48-lr4e-4-checkpoints": (["--d-channels", "48", "--lr", "4e-4", "--beta2", "0.999", "--checkpoint-kimg", "500",
                                "--keep-checkpoints", "1000"],
                               "the default recipe with D at width 48, lr 4e-4 and beta2 0.999 (commit 66afade's "
                               "Stacked MNIST settings, with the cooldown), keeping a resume state every 500 kimg"),
    "default-rpgan": (["--objective", "rpgan"], "the default recipe with the relativistic pairing loss (no R1/R2: "
                                                "D keeps spectral normalization)"),
    "r3gan": ("--model r3 --objective rpgan --r1-gamma 0.1 --r2-gamma 0.1 --batch-size 64 --ema-kimg 10".split(),
              "R3GAN: relativistic loss, R1 + R2, the modern ResNet (Huang et al. 2024)"),
}

#: Reference split and sample count per dataset (what ``ganworks evaluate`` uses by default).
DATASETS = {"fashion-mnist": {"n": 10000, "metrics": "fd,kid,pr,dc,score,modes"},
            "mnist-5k": {"n": 10000, "metrics": "fd,kid,pr,dc,score,modes"},
            "stacked-mnist": {"n": 26000, "metrics": "modes"}}


def ganworks(*args: str, log: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real command line; a failure stops the benchmark with its stderr."""
    cmd = [sys.executable, "-m", "ganworks", *args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if log is not None:
        with log.open("a") as f:
            f.write(f"$ {shlex.join(['ganworks', *args])}\n{r.stdout}{r.stderr}\n")
    if r.returncode != 0:
        sys.exit(f"quality_budget: `ganworks {shlex.join(args)}` failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return r


def scores(evaluated: dict) -> dict:
    """The numbers a row shows, from ``ganworks evaluate --json``."""
    out = {}
    for name, m in evaluated["metrics"].items():
        for key, value in m.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[f"{name}.{key}" if key != name else name] = value
        if "channel_kl" in m:  # Stacked MNIST: the KL's per-channel part, summed (its other part is dependence_kl)
            out[f"{name}.channel_kl_sum"] = float(sum(m["channel_kl"]))
    return out


def evaluate(source: Path, data: str, n: int, metrics: str, workdir: Path, log: Path) -> dict:
    out = workdir / f"eval-{time.monotonic_ns()}.json"
    ganworks("evaluate", str(source), "--data", data, "--n", str(n), "--metrics", metrics, "--json", str(out),
             log=log)
    return json.loads(out.read_text())


def floor(data: str, n: int, metrics: str, workdir: Path, log: Path) -> dict:
    """Real training images scored as if they were samples: the best a generator can do."""
    from ganworks.data import load_dataset

    images = load_dataset(data, "train").images.numpy()
    idx = np.random.default_rng(0).choice(len(images), size=min(n, len(images)), replace=False)
    path = workdir / "real-train.npy"
    np.save(path, images[np.sort(idx)])
    return evaluate(path, data, len(idx), metrics, workdir, log)  # mnist-5k holds 5,000: all of them


def memorisation(samples: np.ndarray, data: str) -> dict:
    """Nearest-training-digit distances of samples against the real digits' leave-one-out distances."""
    import torch

    from ganworks.data import load_dataset

    train = load_dataset(data, "train").images.reshape(-1, 784).float().div(255)
    fake = torch.from_numpy(samples.reshape(len(samples), -1)).float().div(255)

    def nearest(x: torch.Tensor, leave_one_out: bool) -> torch.Tensor:
        out = []
        for start in range(0, len(x), 1000):
            d = torch.cdist(x[start:start + 1000], train)
            if leave_one_out:
                d[torch.arange(len(d)), torch.arange(start, start + len(d))] = float("inf")
            out.append(d.min(1).values)
        return torch.cat(out)

    real_d, fake_d = nearest(train, True), nearest(fake, False)
    cut = torch.quantile(real_d, 0.01).item()  # 1% of real digits have a neighbour this close
    return {"real_median_nn": round(real_d.median().item(), 3), "sample_median_nn": round(fake_d.median().item(), 3),
            "nn_ratio": round(fake_d.median().item() / real_d.median().item(), 3), "copy_cut": round(cut, 3),
            "near_copies": round((fake_d < cut).float().mean().item(), 4), "near_copies_real": 0.01}


def grid_args(config: dict) -> list[str]:
    """``ganworks sample`` arguments of a run's grid: 64 samples; a conditional run 10 of each class, one class a
    row (``ganworks sample`` draws the classes in blocks: the first 64 of a large draw would all be class 0)."""
    if config["train"].get("conditional"):
        return ["--n", "100", "--nrow", "10"]
    return ["--n", "64"]


def train_cmd(recipe: str, data: str, run: Path, minutes: float, resume: bool, seed: int | None = None) -> list[str]:
    if resume:
        return ["train", "--resume", str(run), "--minutes", f"{minutes:g}", "--no-progress"]
    flags, _ = RECIPES[recipe]
    if seed is not None:
        flags = [*flags, "--seed", str(seed)]
    return ["train", "--data", data, *flags, "--minutes", f"{minutes:g}", "--kimg", "100000", "--tick-kimg", "1",
            "--snapshot-kimg", "0", "--run-dir", str(run), "--no-progress"]


def length_bound(recipe: str, data: str) -> list[str]:
    """The settings of ``recipe`` on ``data`` whose schedules follow the run's length, as ``ganworks train``
    resolves them (``TrainConfig.length_bound``): ["--lr-schedule cooldown"] for the default recipes."""
    from ganworks.cli import build_parser, train_fields
    from ganworks.config import TrainConfig

    flags, _ = RECIPES[recipe]
    args = build_parser().parse_args(["train", "--data", data, *flags, "--minutes", "1"])
    return TrainConfig(**train_fields(args)).length_bound()


def recipe_modes(recipes: list[str], data: str, mode: str) -> dict[str, str]:
    """Each recipe's mode: ``mode``, or with ``auto`` separate runs where the schedules follow the length.
    Raises ``ValueError`` (one line) for ``extend`` with such a recipe."""
    modes = {}
    for recipe in recipes:
        bound = length_bound(recipe, data) if mode != "separate" else []
        if bound and mode == "extend":
            raise ValueError(f"--mode extend: recipe {recipe!r} follows the run's length ({', '.join(bound)}), so "
                             "a run resumed to the next budget is not that budget's run; use --mode separate or auto")
        modes[recipe] = "separate" if bound or mode == "separate" else "extend"
    return modes


def run_recipe(recipe: str, data: str, budgets: list[float], mode: str, runs: Path, workdir: Path,
               prefix: Path, log: Path, n: int, seed: int | None = None) -> list[dict]:
    spec = DATASETS[data]
    rows = []
    for i, minutes in enumerate(budgets):
        separate = mode == "separate"
        run = runs / (f"{recipe}-{minutes:g}min" if separate else recipe)
        resume = not separate and i > 0
        cmd = train_cmd(recipe, data, run, minutes, resume, seed)
        t0 = time.perf_counter()
        ganworks(*cmd, log=log)
        wall = time.perf_counter() - t0
        config = json.loads((run / "config.json").read_text())
        ticks = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
        ips = float(np.median([t["img_per_s"] for t in ticks[1:]])) if len(ticks) > 1 else ticks[0]["img_per_s"]
        ev = evaluate(run, data, n, spec["metrics"], workdir, log)
        shown = shlex.join(["ganworks", *cmd])
        if run_ref(run) is None:  # a temporary folder: say RUN, not a path nobody can follow
            shown = shown.replace(str(run), "RUN")
        row = {"recipe": recipe, "minutes": minutes, "mode": mode, "command": shown,
               "kimg": config["reached"]["kimg"], "trained_minutes": config["reached"]["minutes"],
               "wall_s": round(wall, 1), "img_per_s": round(ips, 1),
               "precision": config.get("environment", {}).get("precision", config["train"]["precision"]),
               "model": config["train"]["model"], "objective": config["train"]["objective"],
               # what --model auto chose, e.g. "fashion-mnist/cpu-without-bf16" (narrower networks on such a CPU)
               "auto_recipe": config["train"].get("recipe", ""),
               "scores": scores(ev), "run": run_ref(run)}
        grid = prefix.parent / f"{prefix.name}-{recipe}-{minutes:g}min.png"
        if data == "mnist-5k":
            npy = workdir / "samples.npy"
            ganworks("sample", str(run), "--n", str(n), "--seed", "0", "--npy", str(npy), "--force", log=log)
            row["memorisation"] = memorisation(np.load(npy), data)
        ganworks("sample", str(run), *grid_args(config), "--seed", "0", "--out", str(grid), "--force", log=log)
        row["grid"] = grid.name
        rows.append(row)
        fd = row["scores"].get("fd")
        print(f"{recipe:16s} {minutes:5g} min  {row['kimg']:8.1f} kimg  {ips:7.0f} img/s  "
              + (f"FD {fd:.2f}" if fd is not None else f"modes {row['scores'].get('modes.modes_covered')}"),
              flush=True)
    return rows


def headline(data: str) -> list[tuple[str, str]]:
    """(column title, score key) for the Markdown table."""
    if data == "stacked-mnist":
        return [("modes (of 1000)", "modes.modes_covered"), ("KL to uniform", "modes.kl_to_uniform"),
                ("of it: channels", "modes.channel_kl_sum"), ("of it: dependence", "modes.dependence_kl")]
    return [("FD", "fd"), ("FD / floor", "fd_ratio"), ("KID", "kid"), ("precision", "pr.precision"),
            ("recall", "pr.recall"), ("coverage", "dc.coverage"), ("confident", "modes.confident_fraction"),
            ("classes", "modes.modes_covered"), ("KL to uniform", "modes.kl_to_uniform")]


def markdown(res: dict, prov: dict) -> str:
    data, cols = res["data"], headline(res["data"])
    head = ["recipe", "minutes", "kimg", "img/s", *[c for c, _ in cols]]
    if data == "mnist-5k":
        head += ["near copies", "NN ratio"]
    lines = [f"# Quality per CPU-minute: {data}", "",
             f"Samples: {res['n']:,} per row, against {res['reference']}. Mode: {mode_text(res)}.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(row, key):
        v = row.get(key) if key == "fd_ratio" else row["scores"].get(key)
        return "—" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))

    if res.get("floor"):
        f = dict(res["floor"], recipe="real training images (floor)", minutes="", kimg="", img_per_s="")
        lines.append("| " + " | ".join(str(f[k]) for k in ("recipe", "minutes", "kimg", "img_per_s"))
                     + " | " + " | ".join(cell(f, k) for _, k in cols) + (" | 1% | 1.000 |" if data == "mnist-5k" else " |"))
    for r in res["rows"]:
        cells = [r["recipe"], f"{r['minutes']:g}", f"{r['kimg']:.0f}", f"{r['img_per_s']:.0f}",
                 *[cell(r, k) for _, k in cols]]
        if data == "mnist-5k":
            m = r["memorisation"]
            cells += [f"{100 * m['near_copies']:.1f}%", f"{m['nn_ratio']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Recipes:", ""]
    for name in res["recipes"]:
        flags, what = RECIPES[name]
        lines.append(f"- `{name}`: {what}; `ganworks train --data {data} {' '.join(flags)} --minutes M`".replace("  ", " "))
    lines += ["", markdown_footer(prov), ""]
    return "\n".join(lines)


def mode_text(res: dict) -> str:
    """How the budgets were trained, for the table's heading: "separate (a run per budget)", or per recipe
    where they differ (``--mode auto``)."""
    what = {"extend": "extend (each budget resumes the run of the one before)",
            "separate": "separate (a run per budget)"}
    modes = res["modes"]
    if len(set(modes.values())) == 1:
        return what[next(iter(modes.values()))]
    return f"{res['mode']}: " + "; ".join(f"{what[m]} for {', '.join(n for n in modes if modes[n] == m)}"
                                           for m in ("separate", "extend"))


def figure(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = "modes.modes_covered" if res["data"] == "stacked-mnist" else "fd"
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for name in res["recipes"]:
        pts = [(r["minutes"], r["scores"].get(key)) for r in res["rows"] if r["recipe"] == name]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    if res.get("floor") and key in res["floor"]["scores"]:
        ax.axhline(res["floor"]["scores"][key], color="k", ls="--", lw=1, label="real data (floor)")
    if key == "fd":
        ax.set_yscale("log")
    ax.set_xlabel("minutes of training (2 CPU cores)" if res["threads"] <= 2 else "minutes of training")
    ax.set_ylabel("Fréchet distance (lower is better)" if key == "fd" else "modes covered (of 1000)")
    ax.set_title(f"{res['data']}: quality per minute")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> int:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, choices=sorted(DATASETS))
    ap.add_argument("--minutes", default="2,5,10", help="comma-separated budgets, increasing")
    ap.add_argument("--recipes", default="default,mlp-demo,dcgan-ns,r3gan", help=f"from: {', '.join(RECIPES)}")
    ap.add_argument("--mode", choices=("auto", "extend", "separate"), default="auto",
                    help="extend: resume one run from budget to budget; separate: a run per budget; auto: separate "
                         "where the recipe's schedules follow the run's length (the default recipes' cooldown)")
    ap.add_argument("--out", help="output prefix (default benchmarks/results/quality_budget-DATA)")
    ap.add_argument("--keep-runs", help="train the runs in this folder (default: a temporary one, deleted)")
    ap.add_argument("--no-floor", action="store_true", help="skip scoring real images (smoke tests)")
    ap.add_argument("--seed", type=int, help="train every run with this --seed (default: ganworks train's)")
    ap.add_argument("--n", type=int, help="samples per evaluation (default: 10,000; 26,000 on stacked-mnist)")
    a = ap.parse_args()
    try:
        budgets = [float(m) for m in a.minutes.split(",")]
    except ValueError:
        ap.error(f"--minutes {a.minutes!r}: must be comma-separated positive numbers, e.g. 2,5,10")
    if not budgets or any(m <= 0 for m in budgets) or budgets != sorted(set(budgets)):
        ap.error(f"--minutes {a.minutes!r}: must be positive and increasing, e.g. 2,5,10")
    recipes = [r.strip() for r in a.recipes.split(",") if r.strip()]
    for r in recipes:
        if r not in RECIPES:
            ap.error(f"--recipes: unknown recipe {r!r}; valid: {', '.join(RECIPES)}")
    try:
        modes = recipe_modes(recipes, a.data, a.mode)
    except ValueError as e:
        ap.error(str(e))
    prefix = Path(a.out) if a.out else RESULTS / f"quality_budget-{a.data}"
    prefix.parent.mkdir(parents=True, exist_ok=True)
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        runs = Path(a.keep_runs) if a.keep_runs else workdir / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        log = prefix.parent / f"{prefix.name}.log"
        log.write_text("")
        spec = DATASETS[a.data]
        n = a.n or spec["n"]
        res = {"benchmark": "quality_budget", "data": a.data, "mode": a.mode, "modes": modes,
               "budgets_minutes": budgets, "n": n,
               "recipes": recipes, "threads": torch.get_num_threads(),
               "reference": ev_reference(a.data), "rows": []}
        if not a.no_floor:
            fl = floor(a.data, n, spec["metrics"], workdir, log)
            res["floor"] = {"scores": scores(fl)}
            print(f"floor (real training images): {res['floor']['scores']}", flush=True)
        for recipe in recipes:
            res["rows"] += run_recipe(recipe, a.data, budgets, modes[recipe], runs, workdir, prefix, log, n, a.seed)
            for r in res["rows"]:
                add_ratios(r, res.get("floor"))
            _write(res, prefix)  # after each recipe: a long benchmark keeps what it has
        if res.get("floor"):
            add_ratios(res["floor"], res["floor"])
        _write(res, prefix)
    print(f"wrote {prefix}.json, {prefix}.md, {prefix}.png")
    return 0


def ev_reference(data: str) -> str:
    return {"fashion-mnist": "the 10,000 Fashion-MNIST test images (extractor lenet-fashion)",
            "mnist-5k": "the 5,000 mnist-5k digits (extractor lenet-mnist)",
            "stacked-mnist": "no reference images (each channel classified by lenet-mnist: 1,000 modes; modes and KL to uniform need none)"}[data]


def add_ratios(row: dict, fl: dict | None) -> None:
    fd = row["scores"].get("fd")
    if fd is not None and fl and fl["scores"].get("fd"):
        row["fd_ratio"] = round(fd / fl["scores"]["fd"], 2)


def _write(res: dict, prefix: Path) -> None:
    prov = provenance()
    write_json(prefix.with_suffix(".json"), res, prov)
    prefix.with_suffix(".md").write_text(markdown(res, prov))
    if res["rows"]:
        figure(res, prefix.with_suffix(".png"))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
