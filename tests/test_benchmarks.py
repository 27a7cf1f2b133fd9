"""Every script in benchmarks/ as users run it (a real subprocess), on settings tiny enough for the
suite: each writes its results into a temporary folder, with the provenance that benchmarks/provenance.py
adds, and never names a run directory outside the repository. Also benchmarks/toy_modes.py's
trajectory and --reuse, and the provenance helper itself."""

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import pytest
import torch
from gwtest import ONE_THREAD, needs_mnist5k

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
BENCH = BENCH_DIR / "toy_modes.py"
sys.path.insert(0, str(BENCH_DIR))
import provenance  # noqa: E402  (benchmarks/provenance.py)


def bench(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run benchmarks/SCRIPT.py with ARGS in a subprocess, one thread, from the repository root."""
    return subprocess.run([sys.executable, str(BENCH_DIR / f"{script}.py"), *map(str, args)],
                          cwd=BENCH_DIR.parent, env={**os.environ, **ONE_THREAD}, capture_output=True, text=True,
                          timeout=timeout)


def bench_here(script: str, *args: str) -> subprocess.CompletedProcess:
    """benchmarks/SCRIPT.py's main() in this process, as if run with ARGS from the repository root: the same
    code, argument parsing and files as :func:`bench` without a second or two of importing torch again. For
    scripts that change no process-wide state (threads, environment); the others run in :func:`bench`."""
    import contextlib
    import importlib.util
    import io

    spec = importlib.util.spec_from_file_location(f"bench_{script}", BENCH_DIR / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out, err = io.StringIO(), io.StringIO()
    argv, cwd = sys.argv, os.getcwd()
    sys.argv = [str(BENCH_DIR / f"{script}.py"), *map(str, args)]
    try:
        os.chdir(BENCH_DIR.parent)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = module.main()
            except SystemExit as e:
                code = e.code
    finally:
        sys.argv = argv
        os.chdir(cwd)
    return subprocess.CompletedProcess(sys.argv, code or 0, out.getvalue(), err.getvalue())


def results(r: subprocess.CompletedProcess, path: Path, script: str, tmp: Path) -> dict:
    """The JSON a benchmark wrote, after checking it ran, carries its provenance and names no run in ``tmp``."""
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(path.read_text())
    prov = res["provenance"]
    assert prov["command"].startswith(f"python benchmarks/{script}.py ")
    datetime.strptime(prov["date_utc"], "%Y-%m-%dT%H:%M:%SZ")
    assert re.fullmatch(r"[0-9a-f]{40}", prov["git"]["commit"]) and isinstance(prov["git"]["dirty"], bool)
    assert prov["torch"] == torch.__version__ and prov["python"] == platform.python_version()
    assert prov["cpu"]["model"] and prov["cpu"]["cores"] == os.cpu_count()
    if Path("/proc/cpuinfo").is_file():
        assert set(prov["cpu"]["flags"]) == {"avx512f", "avx512_bf16", "amx_bf16"}
    assert prov["threads"] == 1  # ONE_THREAD reached torch in the benchmark's process
    # pytest's temporary folders (runs, inputs) may appear in the command line the user typed, nowhere else.
    assert str(tmp.parent) not in json.dumps({k: v for k, v in res.items() if k != "provenance"})
    return res


def assert_md_footer(md: str) -> None:
    last = md.strip().splitlines()[-1]
    assert last.startswith("_Produced by `python benchmarks/")
    assert re.search(r"commit [0-9a-f]{12}", last) and f"torch {torch.__version__}" in last and "thread(s)" in last


# --- benchmarks/provenance.py -------------------------------------------------------------------

def test_provenance_names_runs_only_inside_the_repository(tmp_path):
    assert provenance.run_ref(provenance.REPO / "runs" / "00001-x") == "runs/00001-x"
    assert provenance.run_ref(tmp_path / "r") is None and provenance.run_ref(None) is None


def test_provenance_command_line_is_relative_to_the_repository():
    cmd = provenance.command_line([str(BENCH), "--seeds", "0,1", "--set", "lr_schedule=cosine x"])
    assert cmd == "python benchmarks/toy_modes.py --seeds 0,1 --set 'lr_schedule=cosine x'"


def test_provenance_command_line_names_no_temporary_folder():
    tmp = tempfile.gettempdir()
    cmd = provenance.command_line([str(BENCH), "--keep-runs", f"{tmp}/exp/runs", f"--out={tmp}/exp/r", "--data",
                                   tmp, "--x", "relative/tmp/y", "--y", "/usr/share/x"])
    assert cmd == ("python benchmarks/toy_modes.py --keep-runs SCRATCH/exp/runs --out=SCRATCH/exp/r --data SCRATCH "
                   "--x relative/tmp/y --y /usr/share/x")


def test_provenance_markdown_footer_says_what_the_json_says():
    prov = {**provenance.provenance(["x.py"]), "git": {"commit": "ab" * 20, "dirty": True},
            "cpu": {"model": "Some CPU", "cores": 4,
                    "flags": {"avx512f": True, "avx512_bf16": False, "amx_bf16": False}}}
    line = provenance.markdown_footer(prov)
    assert "commit abababababab with uncommitted changes" in line
    assert "Some CPU (4 cores; avx512f yes, avx512_bf16 no, amx_bf16 no)" in line
    assert line.startswith("_Produced by `python x.py` on ") and line.endswith("torch thread(s)._")
    clean = provenance.markdown_footer({**prov, "git": {"commit": None, "dirty": None},
                                        "cpu": {**prov["cpu"], "flags": None}})
    assert "no git checkout" in clean and "flags unknown" in clean and "uncommitted" not in clean


# --- one smoke test per script ------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_like_run(tmp_path_factory) -> Path:
    """A finished mnist-5k run whose D has the shape pretrained_d.py's demo settings build."""
    import ganworks
    from pretrained_d import DEMO

    return ganworks.train(**{**DEMO, "kimg": 0.128, "tick_kimg": 0.128, "batch_size": 64},
                          run_dir=str(tmp_path_factory.mktemp("runs") / "demo"))


@pytest.fixture(scope="module")
def grid25_cut_run(tmp_path_factory) -> Path:
    """A finished grid25 run with toy_modes.py's latent: z_dim 3, the last coordinate cut into 100 bins."""
    import ganworks

    return ganworks.train(data="grid25", model="mlp", kimg=0.256, batch_size=64, tick_kimg=0.128, snapshot_kimg=0,
                          progress=False, run_dir=str(tmp_path_factory.mktemp("runs") / "g25"),
                          model_options=dict(z_dim=3, z_categories=100, g_hidden=(32, 32), g_batchnorm=True,
                                             d_hidden=(32,), d_dropout=0.0))


SCRIPTS = sorted(p.stem for p in BENCH_DIR.glob("*.py") if p.stem != "provenance")  # provenance: a helper


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("args", [("--no-such-option",), ("--help-me", "--out", "x.json")])
def test_every_benchmark_states_a_bad_command_line_in_one_line(script, args):
    """A bad command line is one line on stderr (no usage dump, no traceback) with exit status 2, for every
    script in benchmarks/, and nothing in benchmarks/results changes."""
    results_dir = BENCH_DIR / "results"
    before = sorted((p.name, p.stat().st_mtime_ns) for p in results_dir.iterdir())
    r = bench_here(script, *args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith(f"{script}.py: error: ") and "usage:" not in r.stderr
    # Either the first missing required argument or the unknown option itself is named.
    assert "required" in lines[0] or "--no-such-option" in lines[0] or "--help-me" in lines[0], lines[0]
    assert sorted((p.name, p.stat().st_mtime_ns) for p in results_dir.iterdir()) == before


@needs_mnist5k
@pytest.mark.slow
def test_digits_judge(tmp_path):
    out = tmp_path / "digits.json"
    res = results(bench_here("digits", "--epochs", "0.2", "--out", out), out, "digits", tmp_path)
    assert res["epochs"] == 0.2 and 0.1 < res["val_accuracy"] <= 1  # 14 steps already beat chance
    assert res["fd_cnn_floor"] >= 0 and sum(res["real"]["histogram"]) == 5000


@needs_mnist5k
@pytest.mark.slow
def test_digit_classes(tiny_run, tmp_path):
    out = tmp_path / "dc.json"
    r = bench_here("digit_classes", tiny_run, "--n", "100", "--classifier-epochs", "0.2", "--json", out)
    res = results(r, out, "digit_classes", tmp_path)
    assert res["run"] == provenance.RUNS_NOT_KEPT  # the run lives in a temporary folder
    assert res["n"] == 100 and sum(res["histogram"]) == 100 and len(res["histogram"]) == 10
    assert res["classes_present"] == sum(h > 0 for h in res["histogram"])
    assert 0 <= res["classifier"]["val_accuracy"] <= 1 and res["classifier"]["epochs"] == 0.2


@needs_mnist5k
@pytest.mark.slow
def test_evaluate_speed(tmp_path):
    out = tmp_path / "ev.json"
    r = bench("evaluate_speed", "--n", "200", "--metrics", "fd", "--no-stacked", "--json", out)
    res = results(r, out, "evaluate_speed", tmp_path)
    assert res["metrics"] == ["fd"] and res["fake_count"] == 200 and res["stacked"] is None
    totals = {row["run"]: row["seconds"] for row in res["rows"] if row["stage"] == "total"}
    assert set(totals) == {"cold", "warm"} and all(s > 0 for s in totals.values())
    assert res["values_warm"]["fd"]["value"] >= 0


@needs_mnist5k
@pytest.mark.slow
def test_train_speed(tmp_path):
    out = tmp_path / "ts.json"
    r = bench_here("train_speed", "--kimg", "0.192", "--models", "mlp", "--precisions", "fp32", "--repeats", "2",
                   "--json", out)
    res = results(r, out, "train_speed", tmp_path)
    assert [(row["model"], row["batch_size"], row["precision"]) for row in res["rows"]] == [("mlp", 64, "fp32")]
    row = res["rows"][0]
    assert row["loop"] > 0 and row["bare"] > 0 and res["kimg_per_measurement"] == 0.192 and res["repeats"] == 2
    assert len(row["loop_runs"]) == len(row["bare_runs"]) == 2  # alternated; each keeps its best
    assert row["loop"] == max(row["loop_runs"]) and row["bare"] == max(row["bare_runs"])
    assert row["loop_over_bare"] == pytest.approx(row["loop"] / row["bare"], abs=0.01)


@needs_mnist5k
@pytest.mark.slow
def test_objectives_dcgan(tmp_path):
    r = bench_here("objectives_dcgan", "--kimg", "0.128", "--objectives", "ns,hinge", "--batch-size", "32", "--n", "200",
              "--classifier-epochs", "0.2", "--device", "cpu", "--out", tmp_path, "--runs", tmp_path / "runs")
    res = results(r, tmp_path / "objectives_dcgan.json", "objectives_dcgan", tmp_path)
    assert [row["objective"] for row in res["rows"]] == ["ns", "hinge"]
    for row in res["rows"]:
        assert row["run"] == provenance.RUNS_NOT_KEPT and 0 <= row["classes"] <= 10 and row["img_per_s"] > 0
        assert (tmp_path / row["grid"]).is_file()
    assert len(list((tmp_path / "runs").iterdir())) == 2  # the runs went where --runs said
    md = (tmp_path / "objectives_dcgan.md").read_text()
    assert "| `hinge` |" in md
    assert_md_footer(md)


@needs_mnist5k
@pytest.mark.slow
def test_pretrained_d(demo_like_run, tmp_path):
    r = bench_here("pretrained_d", demo_like_run, "--kimg", "0.128", "--n", "200", "--classifier-epochs", "0.2",
              "--out", tmp_path, "--runs", tmp_path / "runs")
    res = results(r, tmp_path / "pretrained_d.json", "pretrained_d", tmp_path)
    assert res["source"] == provenance.RUNS_NOT_KEPT and res["n"] == 200
    assert [row["variant"] for row in res["rows"]] == ["fresh", "init", "frozen"]
    for row in res["rows"]:
        assert 0 <= row["D_on_real"] <= 1 and 0 <= row["D_on_fakes"] <= 1 and sum(row["histogram"]) == 200
        assert (tmp_path / "pretrained_d" / f"{row['variant']}.png").is_file()


@pytest.mark.slow
def test_revive_mode_on_a_run_with_a_latent_cut(grid25_cut_run, tmp_path):
    """The grid25 configuration's latent (z_dim 3, 100 categories) once crashed this script with
    (4x101 and 102x8): it assumed z_dim 2."""
    out = tmp_path / "rv.json"
    r = bench("revive_mode", grid25_cut_run, "7", "0.384", "probe", '{"batch": 64, "noise": 0.25}',
              "--every", "0.128", "--out", out)
    res = results(r, out, "revive_mode", tmp_path)
    assert res["latent"] == {"z_dim": 3, "z_categories": 100} and res["data"] == "grid25" and res["mode"] == 7
    assert [c["kimg"] for c in res["counts"]] == [0.0, 0.128, 0.256, 0.384]
    for c in res["counts"]:
        assert 0 <= c["poorest"] <= c["mode"] <= res["n_samples"] and 0 <= c["high_quality"] <= 1
    name, *printed = r.stdout.split()  # what it prints is what it wrote
    assert name == "probe" and [p.rsplit("/", 1)[0] for p in printed] == [f"{c['mode']}/{c['poorest']}"
                                                                          for c in res["counts"]]


@pytest.mark.slow
def test_revive_mode_bad_json_exits_2(grid25_cut_run):
    r = bench("revive_mode", grid25_cut_run, "7", "1", "x", "{noise: 1}")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "JSON '{noise: 1}': expected a JSON object" in r.stderr.strip().splitlines()[-1]


# --- benchmarks/toy_modes.py ----------------------------------------------------------------------

def toy_modes(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), "--datasets", "ring8", "--seeds", "0", "--kimg", "4",
                           "--eval-every", "2", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
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

    # Both results carry their provenance; the runs, in a temporary folder, are named as not kept.
    res = results(r, again, "toy_modes", tmp_path)
    assert res["provenance"]["threads"] == res["threads"] == 1 and row2["run"] == provenance.RUNS_NOT_KEPT
    assert_md_footer(again.with_suffix(".md").read_text())
    scratch = out.resolve().relative_to(Path(tempfile.gettempdir()).resolve()).as_posix()  # tmp_path lies in /tmp
    assert json.loads(out.read_text())["provenance"]["command"].endswith(f"--out SCRATCH/{scratch}")


@pytest.mark.slow
def test_toy_modes_bad_set_exits_2_and_writes_nothing(tmp_path):
    r = toy_modes("--set", "not_a_field=1", "--out", str(tmp_path / "t.json"))
    assert r.returncode == 2
    assert "not_a_field=1" in r.stderr and "TrainConfig field" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "t.json").exists()


# --- benchmarks/soak.py ---------------------------------------------------------------------------

@pytest.mark.slow
def test_soak_a_kill_resume_bitwise(tmp_path):
    """A kill (SIGKILL) of a real `ganworks train` at a random moment, resumed to the end: the final weights
    and stats.jsonl equal an uninterrupted run's, nothing temporary is left, and no reader of the live run
    failed. (SIGTERM's own path is tested in tests/test_run_lifecycle.py; one cycle keeps this smoke cheap.)"""
    out = tmp_path / "soak.json"
    r = bench("soak", "--cycles", "1", "--kimg", "3", "--min-delay", "0.2", "--max-delay", "2", "--reader-pause", "4",
              "--out", out)
    res = results(r, out, "soak", tmp_path)
    # Timing-dependent (a random kill moment on a shared machine): a failure shows every round's story.
    story = json.dumps({k: res[k] for k in ("rounds_detail", "exit_codes", "elapsed_s")})[-3000:]
    assert res["kills"] == 1 and res["kills_by_signal"] == {"SIGKILL": 1}, story
    assert res["rounds"] == res["rounds_completed"] == 1 and res["resume_failures"] == 0, story
    assert res["final_bitwise"] == [True] and res["stats_equal"] == [True], story
    assert res["cycles_survived"] == 1 and "differs" not in res["checkpoint_checks"]
    assert res["leftovers"] == 0 and res["reader_errors"] == 0, (res["leftover_names"], res["reader_error_examples"])
    md = out.with_suffix(".md").read_text()
    assert "| kills survived" in md and "| temporary files left in the runs | 0 | 0 |" in md
    assert_md_footer(md)
