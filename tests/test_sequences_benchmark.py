"""benchmarks/sequences.py on a budget of seconds: the real train / evaluate commands on brackets, the JSON +
Markdown + figure with provenance; where a GAN point lies against the MLE temperature curve; bad arguments."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from test_benchmarks import BENCH_DIR, assert_md_footer, results

sys.path.insert(0, str(BENCH_DIR))
import sequences as bench_sequences  # noqa: E402  (benchmarks/sequences.py)


def _run(capsys, *args) -> tuple[int, str]:
    """sequences.py's main() in this process with ``args`` as its command line: (exit status, stderr)."""
    capsys.readouterr()
    rc = bench_sequences.main(list(map(str, args)))
    return rc, capsys.readouterr().err


@pytest.mark.slow
def test_sequences_benchmark_trains_and_scores_every_method(tmp_path, capsys):
    out = tmp_path / "seq"
    rc, err = _run(capsys, "--datasets", "brackets", "--seeds", "0", "--kimg", "0.064", "--n", "100",
                    "--jobs", "1", "--out", out)
    res = results(subprocess.CompletedProcess([], rc, "", err), out.with_suffix(".json"), "sequences", tmp_path)
    assert [r["method"] for r in res["rows"]] == ["random", "mle", "mle-long", "reinforce", "gumbel"]
    rows = {r["method"]: r for r in res["rows"]}
    _, A = bench_sequences.budget("brackets", 0.064)  # --kimg sets the MLE budget; the game keeps its share
    b = bench_sequences.BUDGETS["brackets"]
    assert A == pytest.approx(0.064 * b["adv"] / b["mle"], abs=1e-6)  # rounded to 6 decimals
    assert rows["mle"]["command"].startswith("ganworks train --data brackets --seed 0 --objective mle --kimg 0.064 ")
    assert rows["gumbel"]["command"].endswith("--run-dir RUN") and f"--kimg {0.064 + A:g}" in rows["gumbel"]["command"]
    assert rows["reinforce"]["adversarial_kimg"] == pytest.approx(A) and rows["mle"]["adversarial_kimg"] == 0
    assert rows["mle-long"]["pretrain_kimg"] == pytest.approx(0.064 + A)
    # brackets' own settings reach every trained row, and REINFORCE's learning rate is replaced, not repeated
    own = " ".join(bench_sequences.train_flags("mle", "brackets", 0.064, A)[4:])
    assert own and all(own in rows[m]["command"] for m in ("mle", "mle-long", "reinforce", "gumbel"))
    for method, flags in b.get("method_flags", {}).items():
        for flag, value in flags.items():
            assert rows[method]["command"].count(flag + " ") == 1 and f"{flag} {value} " in rows[method]["command"]
    for r in res["rows"]:
        assert set(r["scores"]) == {"validity", "unique", "novel", "nll-gen"}
        assert 0 <= r["scores"]["validity"] <= 1 and r["scores"]["nll-gen"] > 0 and r["wall_s"] >= 0
    # A different G from the random one: trained rows moved away from it (one MLE step at lr 0.01).
    assert rows["mle"]["scores"]["nll-gen"] < rows["random"]["scores"]["nll-gen"]
    md = out.with_suffix(".md").read_text()
    assert "## brackets" in md and "| mle | 1 | 0.064 |" in md and f"| gumbel | 1 | 0.064 + {A:g} |" in md
    assert_md_footer(md)
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _row(data, seed, method, T, gen, orc):
    return {"data": data, "seed": seed, "method": method, "temperature": T,
            "scores": {"nll-gen": gen, "nll-oracle": orc}, "pretrain_kimg": 1,
            "adversarial_kimg": 0 if method == "mle" else 1, "wall_s": 1.0, "eval_s": 0.5, "cpu_s": 1.0}


def test_a_gan_point_is_placed_against_the_mle_temperature_curve(tmp_path):
    # MLE: T = 1 at (6, 9), T = 0.8 at (7, 8), T = 0.6 at (9, 7); T = 1.2 lies off the quality side, unused.
    mle = [_row("oracle", 0, "mle", T, g, o) for T, g, o in ((1.0, 6, 9), (0.8, 7, 8), (0.6, 9, 7), (1.2, 6.5, 9.8))]
    curve = bench_sequences.curve(mle, "oracle", 0)
    assert [p[0] for p in curve] == [1.0, 0.8, 0.6]
    gap = bench_sequences.gap_to_curve
    assert gap(curve, 8.0, 7.2) == {"gap": -0.3, "where": "between T = 0.8 and 0.6"}  # curve: 7.5 at NLL_gen 8
    assert gap(curve, 6.5, 8.6)["gap"] == pytest.approx(0.1)  # above the curve: worse than MLE
    assert gap(curve, 5.0, 8.9)["where"].startswith("left of the curve") and gap(curve, 5.0, 8.9)["gap"] == -0.1
    assert gap(curve, 9.5, 6.0) == {"gap": None, "where": "right of the sweep (NLL_gen above MLE at T = 0.6)"}

    rows = mle + [_row("oracle", 0, "gumbel", 1.0, 8.0, 7.2), _row("oracle", 0, "random", 1.0, 8.5, 10.5)]
    g = bench_sequences.gaps(rows)["oracle"]["gumbel"]
    assert g["seeds_below"] == 1 and g["mean_curve"]["gap"] == pytest.approx(-0.3)
    res = {"seeds": [0], "datasets": ["oracle"], "n": 10, "jobs": 1, "budgets": {"oracle": (1, 1)}, "rows": rows,
           "gaps": bench_sequences.gaps(rows), "reference": {"oracle": {"nll-oracle": 5.0, "nll-gen": 5.0}}}
    md = bench_sequences.markdown(res, {**json.loads(json.dumps(_PROV))})
    assert "| gumbel | -0.300 (between T = 0.8 and 0.6) | -0.300 (between T = 0.8 and 0.6) | 1 of 1 |" in md
    assert "| mle, T = 0.8 | 0.8 | 1 | 8.000 | 7.000 |" in md and "the oracle itself" in md
    bench_sequences.figure(res, tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


_PROV = {"command": "python benchmarks/sequences.py", "date_utc": "2026-01-01T00:00:00Z",
         "git": {"commit": "ab" * 20, "dirty": False}, "ganworks": "0", "torch": "0", "python": "3",
         "cpu": {"model": "cpu", "cores": 2, "flags": None}, "threads": 1}


@pytest.mark.parametrize("args, fragment", [
    (["--datasets", "oracle,typo"], "unknown data set 'typo'; valid: oracle, oracle40, brackets, names"),
    (["--seeds", "0,x"], "--seeds '0,x'"),
    (["--temperatures", "0.5,0.8"], "including 1"),
    (["--kimg", "0"], "--kimg '0': must be a positive number"),
    (["--jobs", "two"], "--jobs 'two': must be a positive integer"),
])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, capsys, args, fragment):
    rc, err = _run(capsys, *args, "--out", tmp_path / "seq")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and fragment in err, err
    assert list(tmp_path.iterdir()) == []
