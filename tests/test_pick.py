"""--pick-tail: which steps are scored, that the saved generator is the best-scored one and its score is its own,
exact resume inside and before the tail, a longer run picking from its new tail, and the errors."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from ganworks import GanworksError, TrainConfig, train
from ganworks.config import BEFORE_IT_EXISTED, DATA_RECIPES
from ganworks.training.schedule import Budget, Schedules

from gwtest import RING, TINY, assert_bitwise, cli, grid_of, needs_mnist5k, one_line_error, rewind_copy, stats

# 1,024 images (32 steps of 32): scores every 128 images over the last half, from 512 on, and at the end. At lr 2e-3
# the tiny pair's FD falls over the tail, so the pick is not its first score (at 2e-4 each score was worse).
PICK = {**TINY, "kimg": 1.0, "pick_tail": 0.5, "pick_kimg": 0.128, "pick_n": 256, "checkpoint_kimg": 0.128,
        "keep_checkpoints": 100, "lr_g": 2e-3, "lr_d": 2e-3}


def _scores(run) -> list[dict]:
    return [json.loads(x) for x in (run / "picked" / "scores.jsonl").read_text().splitlines()]


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_pick_share_under_images_and_under_a_budget():
    base = dict(total=1000, lr="constant", nan_lr_factor=0.5, noise=0.0, noise_end=1000, r1_gamma=0.0,
                r1_interval=16)
    s = Schedules(**base, pick_tail=0.1)
    assert [s.in_pick(n) for n in (0, 899, 900, 1000)] == [False, False, True, True]
    assert not Schedules(**base).in_pick(1000)  # off by default
    budget = Schedules(**{**base, "total": 10 ** 12}, pick_tail=0.1, budget=Budget(600.0))
    budget.budget.at_tick_s = 539.0
    assert not budget.in_pick(5)
    budget.budget.at_tick_s = 540.0  # 90% of 10 minutes used at the last tick
    assert budget.in_pick(5)


@pytest.fixture(scope="module")
def picked_run(tmp_path_factory):
    return train(run_dir=str(tmp_path_factory.mktemp("pick") / "run"), **PICK)


@needs_mnist5k
def test_the_run_keeps_the_best_scored_generator_of_its_tail(picked_run):
    from ganworks.metrics.evaluate import evaluate
    from ganworks.release import load_generator

    run = picked_run
    scores = _scores(run)
    assert [s["kimg"] for s in scores] == [0.512, 0.64, 0.768, 0.896, 1.024]  # none before the tail's start
    best = min(scores, key=lambda s: s["fd_train"])
    picked = json.loads((run / "picked" / "picked.json").read_text())
    assert (picked["kimg"], picked["value"], picked["split"], picked["n"]) == (best["kimg"], best["fd_train"],
                                                                               "train", 256)
    # each score says whether it was the best so far
    running = [s["fd_train"] < min([t["fd_train"] for t in scores[:i]], default=float("inf"))
               for i, s in enumerate(scores)]
    assert [s["picked"] for s in scores] == running
    assert json.loads((run / "config.json").read_text())["picked"] == picked
    assert json.loads((run / "generator.json").read_text())["picked"] == picked
    saved = load_file(str(run / "generator.safetensors"))
    assert _same(saved, load_file(str(run / "picked" / "generator.safetensors")))
    # the last generator is kept beside it, and equals it exactly when the last score was the best
    last = load_file(str(run / "generator_last.safetensors"))
    assert _same(saved, last) == (best is scores[-1])
    # the recorded score is the saved network's: the same evaluation of the released generator gives it again
    again = evaluate(load_generator(run), data="mnist-5k", metrics="fd", n=256, seed=PICK.get("seed", 0) + 1,
                     split="train")
    assert again["metrics"]["fd"]["value"] == pytest.approx(picked["value"], rel=1e-6)
    assert "pick kimg 0.512" in (run / "log.txt").read_text()


@needs_mnist5k
def test_the_picked_generator_has_its_grid_and_the_report_shows_it(picked_run, tmp_path):
    from ganworks.cli import main
    from ganworks.release import load_network

    run, z_dim = picked_run, PICK["model_options"]["z_dim"]
    picked = json.loads((run / "config.json").read_text())["picked"]
    shown = np.asarray(Image.open(run / "picked" / "fakes.png"), dtype=np.int16)
    assert np.abs(shown - grid_of(load_network(run, "generator"), z_dim, tmp_path / "g.png")).max() <= 1
    if picked["kimg"] != _scores(run)[-1]["kimg"]:  # the last G differs from the picked one: so does its grid
        assert np.abs(shown - grid_of(load_network(run, "generator_last"), z_dim, tmp_path / "l.png")).max() > 1
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    assert f"<figcaption>picked: {picked['kimg']} kimg</figcaption>" in (tmp_path / "r.html").read_text()


@needs_mnist5k
@pytest.mark.parametrize("pick_kimg, scored", [(0.992, [0.992]), (0.96, [0.96, 1.024])])
def test_a_score_one_step_before_the_end_stands_for_the_ends(tmp_path, pick_kimg, scored):
    # 32 steps of 32 images: a score due at 992 images comes one G step before the end (1,024), one due at 960 two
    run = train(run_dir=str(tmp_path / "run"), **{**PICK, "pick_kimg": pick_kimg})
    assert [s["kimg"] for s in _scores(run)] == scored
    assert json.loads((run / "config.json").read_text())["picked"]["kimg"] in scored


@needs_mnist5k
def test_resume_before_and_inside_the_tail_is_bitwise_exact(picked_run, tmp_path):
    for nimg in (384, 640):  # before the first score, and after two
        run = rewind_copy(picked_run, tmp_path / f"r{nimg}", nimg)
        (run / "generator_last.safetensors").unlink()
        if nimg == 384:
            shutil.rmtree(run / "picked")  # a run killed before its tail has none
        train(resume=str(run))
        assert_bitwise(picked_run, run)
        assert _scores(run) == _scores(picked_run)
        assert stats(run) == stats(picked_run)
        for name in ("picked/picked.json", "generator.json"):
            assert json.loads((run / name).read_text()) == json.loads((picked_run / name).read_text())


@needs_mnist5k
def test_a_run_continued_from_a_checkpoint_keeps_what_it_had_picked_by_then(picked_run, tmp_path):
    """picked/ is resume state: a run continued from a checkpoint writes back the G it had picked by then, and
    forgets one picked later in the branch it left; the run's generator is then that G. Each copy killed after a
    checkpoint in the tail is resumed to end there (--kimg N: its tail, the last half, still holds the scores)."""
    from ganworks.release import load_network
    from ganworks.training.resume import take

    scores = _scores(picked_run)
    for nimg in (512, 640, 768, 896):
        run = rewind_copy(picked_run, tmp_path / f"r{nimg}", nimg)
        (run / "generator_last.safetensors").unlink()
        train(resume=str(run), kimg=nimg / 1000)
        by_then = [s for s in scores if s["kimg"] <= nimg / 1000]
        assert _scores(run) == by_then
        best = min(by_then, key=lambda s: s["fd_train"])
        picked = json.loads((run / "picked" / "picked.json").read_text())
        assert (picked["kimg"], picked["value"]) == (best["kimg"], best["fd_train"])
        assert json.loads((run / "config.json").read_text())["picked"] == picked
        then = take(load_file(str(picked_run / "checkpoints" / f"ckpt-{round(best['kimg'] * 1000):09d}"
                                  / "state.safetensors")), "G")  # scores fall on checkpoints here
        assert _same(load_file(str(run / "picked" / "generator.safetensors")), then)
        assert _same(load_file(str(run / "generator.safetensors")), then)
        shown = np.asarray(Image.open(run / "picked" / "fakes.png"), dtype=np.int16)
        G = load_network(run, "generator")
        assert np.abs(shown - grid_of(G, PICK["model_options"]["z_dim"], tmp_path / f"g{nimg}.png")).max() <= 1


@needs_mnist5k
def test_a_longer_run_picks_from_its_new_tail(picked_run, tmp_path):
    """Resumed with --kimg 2: its last half starts at 1,000 images, so the first run's pick still counts only if
    it was the score at 1,024; one from before is forgotten."""
    run = tmp_path / "longer"
    shutil.copytree(picked_run, run)
    train(resume=str(run), kimg=2.0)
    picked = json.loads((run / "picked" / "picked.json").read_text())
    scores = _scores(run)
    assert scores[:5] == _scores(picked_run)
    assert [s["kimg"] for s in scores[5:]] == [1.152, 1.28, 1.408, 1.536, 1.664, 1.792, 1.92, 2.016]
    before = json.loads((picked_run / "picked" / "picked.json").read_text())
    kept = [{"kimg": before["kimg"], "fd_train": before["value"]}] if before["kimg"] >= 1.0 else []
    best = min(kept + scores[5:], key=lambda s: s["fd_train"])
    assert (picked["kimg"], picked["value"]) == (best["kimg"], best["fd_train"])
    assert json.loads((run / "config.json").read_text())["picked"] == picked
    assert _same(load_file(str(run / "generator.safetensors")), load_file(str(run / "picked" / "generator.safetensors")))


@needs_mnist5k
def test_picking_by_the_class_histograms_kl(tmp_path):
    """--pick-metric kl: the modes metric's KL to uniform scores G; the saved generator's KL is its record."""
    from ganworks.metrics.evaluate import evaluate
    from ganworks.release import load_generator

    run = train(run_dir=str(tmp_path / "kl"), **{**PICK, "pick_metric": "kl", "checkpoint_kimg": 0.5, "seed": 3})
    scores = _scores(run)
    assert [s["kimg"] for s in scores] == [0.512, 0.64, 0.768, 0.896, 1.024]
    best = min(scores, key=lambda s: s["kl_to_uniform"])
    picked = json.loads((run / "picked" / "picked.json").read_text())
    assert (picked["metric"], picked["split"], picked["kimg"], picked["value"]) == ("kl", None, best["kimg"],
                                                                                    best["kl_to_uniform"])
    again = evaluate(load_generator(run), data="mnist-5k", metrics="modes", n=256, seed=4)
    assert again["metrics"]["modes"]["kl_to_uniform"] == pytest.approx(picked["value"], rel=1e-9)


def test_which_data_a_pick_needs(capsys, tmp_path):
    for data, what in (("ring8", "ring8"), (f"folder:{tmp_path}", "folder:")):
        with pytest.raises(GanworksError, match="--pick-tail scores G with a dataset's feature network"):
            TrainConfig(data=data, pick_tail=0.1)
        r = cli(capsys, "train", "--data", data, "--pick-tail", "0.1", "--run-dir", str(tmp_path / "x"))
        one_line_error(r, "--pick-tail", what, "fashion-mnist")
    with pytest.raises(GanworksError, match="--pick-tail is not supported for token sequences"):
        TrainConfig(data="oracle", pick_tail=0.1)
    for flag, value, named in (("--pick-tail", "1", "--pick-tail"), ("--pick-tail", "-0.1", "--pick-tail"),
                               ("--pick-tail", "x", "--pick-tail"), ("--pick-kimg", "0", "--pick-kimg"),
                               ("--pick-n", "1", "--pick-n"), ("--pick-metric", "fid", "pick metric")):
        r = cli(capsys, "train", *RING, flag, value, "--run-dir", str(tmp_path / "y"))
        one_line_error(r, named, value)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_samples_per_score_default_to_the_evaluations(tmp_path):
    from ganworks.training.evaluation import Picker

    def n(**kw):
        return Picker(TrainConfig(pick_tail=0.1, **kw), None, tmp_path, None, None, None, None).n

    assert (n(data="stacked-mnist"), n(data="fashion-mnist"), n(data="fashion-mnist", pick_n=500)) == (26_000, 10_000,
                                                                                                       500)


def test_defaults_follow_the_recipe():
    recipe = DATA_RECIPES["fashion-mnist"].get("pick_tail", 0.0)
    assert TrainConfig(data="fashion-mnist").pick_tail == recipe
    assert TrainConfig(data="fashion-mnist", model="dcgan").pick_tail == 0.0  # a named model: off
    assert TrainConfig(data="fashion-mnist", pick_tail=0.2).pick_tail == 0.2
    assert BEFORE_IT_EXISTED["pick_tail"] == 0.0  # a run written before the option resumes without a pick
