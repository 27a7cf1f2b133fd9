"""benchmarks/toy_modes.py as users run it (a real subprocess), on a run short enough for the suite:
its JSON and table, the trajectory's poorest-mode count, and --reuse scoring a finished run again."""

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "toy_modes.py"


def toy_modes(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), "--datasets", "ring8", "--seeds", "0", "--kimg", "4",
                           "--eval-every", "2", *args], capture_output=True, text=True, timeout=300)


def test_toy_modes_trajectory_and_reuse(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "res" / "t.json"
    r = toy_modes("--runs-root", str(runs), "--out", str(out))
    assert r.returncode == 0, r.stderr
    row = json.loads(out.read_text())["datasets"]["ring8"]["seeds"][0]
    assert row["seed"] == 0 and row["reused"] is False and len(row["mode_counts"]) == 8
    # The trajectory is the run's own metrics.jsonl, one entry per evaluation, with the poorest count.
    evals = [json.loads(line)["metrics"]["mixture"] for line in (runs / "ring8-seed0" / "metrics.jsonl").open()]
    assert len(evals) == 2
    assert [t["poorest"] for t in row["trajectory"]] == [min(m["mode_counts"]) for m in evals]
    assert [t["modes"] for t in row["trajectory"]] == [m["modes_captured"] for m in evals]
    md = out.with_suffix(".md").read_text()
    assert "| poorest mode |" in md and f"| {min(row['mode_counts'])} |" in md

    stats = runs / "ring8-seed0" / "stats.jsonl"
    before = stats.read_bytes(), stats.stat().st_mtime_ns
    again = tmp_path / "res" / "again.json"
    r = toy_modes("--runs-root", str(runs), "--reuse", "--out", str(again))
    assert r.returncode == 0, r.stderr
    row2 = json.loads(again.read_text())["datasets"]["ring8"]["seeds"][0]
    assert row2["reused"] is True
    assert (stats.read_bytes(), stats.stat().st_mtime_ns) == before  # scored, not trained again
    for k in ("modes", "high_quality", "reverse_kl", "mode_counts", "trajectory"):
        assert row2[k] == row[k], k
    assert "trained by an earlier invocation" in again.with_suffix(".md").read_text()


def test_toy_modes_bad_set_exits_2_and_writes_nothing(tmp_path):
    r = toy_modes("--set", "not_a_field=1", "--out", str(tmp_path / "t.json"))
    assert r.returncode == 2
    assert "not_a_field=1" in r.stderr and "TrainConfig field" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "t.json").exists()
