"""--cooldown-share and --ema-tail: the multiplier and the decay in closed form, the running mean a real run
saves, resume across the tail's start, old runs, and the CLI's errors."""

import json

import pytest
import torch
from safetensors.torch import load_file

from ganworks import GanworksError, TrainConfig, train
from ganworks.config import BEFORE_IT_EXISTED, RECIPES
from ganworks.training.schedule import Budget, Schedules, lr_factor
from ganworks.training.steps import update_ema

from gwtest import RING, assert_bitwise, cli, one_line_error, rewind_copy, stats

RING_KW = dict(data="ring8", model="mlp", batch_size=64, tick_kimg=0.256, snapshot_kimg=0, progress=False,
               model_options={"z_dim": 4, "g_hidden": [32], "d_hidden": [32], "output": "linear"})


def _schedules(**kw) -> Schedules:
    base = dict(total=1024, lr="cooldown", nan_lr_factor=0.5, noise=0.0, noise_end=1024, r1_gamma=0.0,
                r1_interval=16, batch_size=64)
    return Schedules(**{**base, **kw})


def test_cooldown_share_moves_where_the_rates_start_to_fall():
    assert [lr_factor("cooldown", t, 0.4) for t in (0, 0.3, 0.6)] == [1.0, 1.0, 1.0]
    assert lr_factor("cooldown", 0.8, 0.4) == pytest.approx(0.5)
    assert lr_factor("cooldown", 0.9, 0.4) == pytest.approx(0.25)
    assert lr_factor("cooldown", 1.0, 0.4) == 0.0
    assert lr_factor("cooldown", 0.7, 1.0) == pytest.approx(0.3)  # share 1: linear from the start
    assert lr_factor("cooldown", 0.7) == 1.0  # the default share, 0.2, starts at 0.8
    assert lr_factor("linear", 0.7, 0.4) == pytest.approx(0.3)  # only the cooldown has a share


def test_rates_logged_each_tick_follow_the_share(tmp_path):
    run = train(run_dir=str(tmp_path / "r"), kimg=1.024, lr_g=2e-4, lr_d=8e-4, lr_schedule="cooldown",
                cooldown_share=0.5, **RING_KW)
    recs = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert len(recs) == 4
    for r in recs:
        t = (r["kimg"] * 1000 - 64) / 1024  # the last step of a tick set its rate before its batch
        assert r["lr_G"] == pytest.approx(2e-4 * lr_factor("cooldown", t, 0.5), rel=1e-12)
        assert r["lr_D"] == pytest.approx(8e-4 * lr_factor("cooldown", t, 0.5), rel=1e-12)
    # falling from the middle on, not from 80%: 0.625 at t = 704 / 1024, where a 20% cooldown still gives 1
    assert [r["lr_G"] for r in recs[:2]] == [2e-4] * 2 and recs[2]["lr_G"] == pytest.approx(2e-4 * 0.625)


def test_ema_decay_in_the_tail_is_the_running_mean_or_the_ema_whichever_remembers_longer():
    s = _schedules(ema_kimg=0.0, ema_tail=0.25)
    assert s.ema_beta(500) == 0.0  # no EMA, before the tail: the copy of G
    assert [s.ema_beta(900, n) for n in (0, 1, 3)] == [0.0, 0.5, 0.75]  # 1 - 1/(n+1)
    ema = _schedules(ema_kimg=1.0, ema_tail=0.25)  # half-life 1,000 images: beta 0.5 ** (64/1000) = 0.9566
    assert ema.ema_beta(900, 2) == pytest.approx(0.5 ** 0.064)
    assert ema.ema_beta(900, 99) == pytest.approx(0.99)
    assert [s.in_tail(n) for n in (0, 767, 768, 1024)] == [False, False, True, True]  # the last 25% of 1,024
    assert not _schedules(ema_tail=0.0).in_tail(1024)


def test_the_tail_under_a_budget_starts_at_the_budget_used():
    s = _schedules(total=10 ** 12, ema_tail=0.1, budget=Budget(600.0))
    s.budget.at_tick_s = 530.0
    assert not s.in_tail(5)
    s.budget.at_tick_s = 545.0  # 90.8% of the 10 minutes used at the last tick
    assert s.in_tail(5)


def test_decays_of_the_tail_average_the_iterates_exactly():
    """update_ema with the tail's decays from the step the tail starts: the mean of G's weights over the
    tail, whatever the EMA held before (beta 0 at n = 0)."""
    s = _schedules(ema_kimg=0.0, ema_tail=0.5)
    g, avg = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    torch.manual_seed(0)
    seen = []
    for n in range(7):
        with torch.no_grad():
            for p in g.parameters():
                p.copy_(torch.randn_like(p))
        seen.append([p.detach().clone() for p in g.parameters()])
        update_ema(avg, g, s.ema_beta(800, n))
    for got, *each in zip(avg.parameters(), *seen):
        assert torch.allclose(got, torch.stack(each).mean(0), atol=1e-6)


def test_the_saved_generator_is_the_mean_of_the_tails_generators(tmp_path):
    """A real run, no EMA, a tail over the last half: the saved generator equals the mean of the raw G
    after each step of the tail, read from a checkpoint after every step."""
    run = train(run_dir=str(tmp_path / "r"), kimg=1.024, ema_kimg=0.0, ema_tail=0.5, lr_schedule="constant",
                checkpoint_kimg=0.064, keep_checkpoints=100, **RING_KW)
    ckpts = sorted((run / "checkpoints").glob("ckpt-*"))
    assert len(ckpts) == 16
    start = json.loads((ckpts[-1] / "state.json").read_text())["counters"]["tail_from"]
    assert start == 8  # the ninth step (images 512 to 576) is the first of the last half
    tail = [load_file(str(c / "state.safetensors")) for c in ckpts[start:]]  # G after steps 9 .. 16
    saved = load_file(str(run / "generator.safetensors"))
    for key, value in saved.items():
        if value.is_floating_point() and f"G.{key}" in tail[0]:
            mean = torch.stack([t[f"G.{key}"].double() for t in tail]).mean(0)
            assert torch.allclose(value.double(), mean, atol=1e-6), key
    raw = load_file(str(run / "generator_raw.safetensors"))
    assert any(not torch.equal(raw[k], saved[k]) for k in saved)  # the average, not the last G


def test_resume_across_the_tails_start_is_bitwise_exact(tmp_path):
    kw = dict(kimg=1.024, ema_kimg=0.2, ema_tail=0.4, lr_schedule="cooldown", cooldown_share=0.5,
              checkpoint_kimg=0.256, keep_checkpoints=10, **RING_KW)
    ref = train(run_dir=str(tmp_path / "ref"), **kw)
    for nimg in (512, 768):  # before the tail (it starts after 614 images) and inside it
        run = rewind_copy(ref, tmp_path / f"resumed{nimg}", nimg)
        train(resume=str(run))
        assert_bitwise(ref, run)
        assert stats(run) == stats(ref)


def test_a_run_written_before_the_settings_existed_resumes_with_what_it_had(tmp_path, monkeypatch):
    """config.json without cooldown_share / ema_tail (a run of an earlier ganworks): the resumed run keeps the
    settings it trained with (BEFORE_IT_EXISTED), not what today's recipe would pick."""
    run = train(run_dir=str(tmp_path / "old"), kimg=0.512, checkpoint_kimg=0.256, **{**RING_KW, "model": "auto"})
    cfg_path = run / "config.json"
    written = json.loads(cfg_path.read_text())
    assert written["train"]["recipe"] == "points"
    for key in BEFORE_IT_EXISTED:
        del written["train"][key]
    cfg_path.write_text(json.dumps(written))
    monkeypatch.setitem(RECIPES["points"], "ema_tail", 0.3)  # today's recipe would now average the tail
    monkeypatch.setitem(RECIPES["points"], "cooldown_share", 0.7)
    assert TrainConfig(data="ring8").ema_tail == 0.3
    train(resume=str(run), kimg=0.768)
    resumed = json.loads(cfg_path.read_text())["train"]
    assert {k: resumed[k] for k in BEFORE_IT_EXISTED} == BEFORE_IT_EXISTED == {"cooldown_share": 0.2, "ema_tail": 0.0,
                                                                              "pick_tail": 0.0}


def test_sequences_refuse_the_tail():
    with pytest.raises(GanworksError, match="--ema-tail is not supported for token sequences"):
        TrainConfig(data="oracle", ema_tail=0.1)


def test_cli_errors(capsys, tmp_path):
    for flag, value, valid in (("--cooldown-share", "0", "--cooldown-share"), ("--ema-tail", "1.5", "--ema-tail"),
                               ("--cooldown-share", "x", "--cooldown-share")):
        r = cli(capsys, "train", *RING, "--kimg", "1", flag, value, "--run-dir", str(tmp_path / "x"))
        one_line_error(r, valid, value)
        assert not (tmp_path / "x").exists()
    r = cli(capsys, "train", *RING, "--kimg", "0.256", "--ema-tail", "0.5", "--cooldown-share", "0.3",
            "--run-dir", str(tmp_path / "y"))
    assert r.returncode == 0, r.stderr
    saved = json.loads((tmp_path / "y" / "config.json").read_text())["train"]
    assert (saved["ema_tail"], saved["cooldown_share"]) == (0.5, 0.3)
