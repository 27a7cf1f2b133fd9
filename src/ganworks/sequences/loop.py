"""The training loop of a sequence run, readable top to bottom, in the image loop's run directory.

``ganworks.training.train`` hands a config with sequence data here. Each iteration is either a
maximum-likelihood step of G (``--objective mle``, or the first ``--pretrain-kimg``) or one round
of the game: k D steps on real token ids against G's samples, then one G step through the discrete
tokens (``--estimator gumbel``: Gumbel-softmax with RelGAN's temperature schedule; ``reinforce``:
SeqGAN's policy gradient). The run directory, resume state (``TrainState``: bitwise on CPU), log,
stats.jsonl, TensorBoard and release files are the image loop's; sample text takes the place of
sample grids (``samples/fakesNNNNNN.txt``) and ``vocab.json`` says how tokens are written.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from ..config import TrainConfig
from ..errors import GanworksError
from ..images import atomic_path
from ..models import build_discriminator, build_generator, config_to_dict, make_model_config
from ..objectives import MLE, get_objective
from ..release import save_network
from ..training import lock
from ..training.data import IndexBatches
from ..training.guard import nonfinite
# The set-up both training loops share (this process's device, optimizers, environment, resume state).
from ..training.setup import count_parameters, environment, join, make_optimizer, save_state
from ..training.rundir import choose_run_dir, record_reached, write_run_config
from ..training.schedule import Schedules, lr_factor
from ..training.state import Progress, TrainState
from ..training.tracking import Clock, Tracker
from .data import load_sequences, write_vocab
from .estimators import beta_at
from .steps import discriminator_step, gumbel_generator_step, mle_step, reinforce_generator_step

SAMPLE_SEED, SAMPLE_ROWS = 1234, 32  # the fixed samples written at each snapshot


def train_sequences(cfg: TrainConfig, resume_dir: Path | None, ckpt: Path | None, skipped: list[str]) -> Path:
    """Train the ``seq`` pair on ``cfg.data``; returns the run directory (see :func:`ganworks.training.train`)."""
    resolved = cfg.resolved()
    dist, device = join(cfg)
    if dist.active:
        raise GanworksError("sequence runs train in one process; run ganworks train without torchrun")
    if resolved.gp_weight > 0:
        raise GanworksError(f"--objective {cfg.objective}: the gradient penalty is not supported for token "
                            "sequences (D's input is discrete); use wgan, hinge, ns, ragan or rpgan")
    torch.manual_seed(cfg.seed)
    data = load_sequences(cfg.data, "train", tokens=cfg.tokens, max_len=cfg.max_len, max_vocab=cfg.max_vocab)
    if len(data) < cfg.batch_size:
        raise GanworksError(f"--batch-size {cfg.batch_size} is larger than dataset {cfg.data!r} "
                            f"({len(data)} sequences)")
    model_cfg = make_model_config("seq", **cfg.model_options, vocab_size=data.vocab_size, seq_len=data.seq_len,
                                  eos=data.eos)
    G = build_generator("seq", model_cfg).to(device)
    D = build_discriminator("seq", model_cfg).to(device)
    mle_only = cfg.objective == MLE
    objective = None if mle_only else get_objective(cfg.objective)
    opt_g = make_optimizer(resolved.optimizer, G.parameters(), resolved.lr_g, resolved.betas)
    opt_d = make_optimizer(resolved.optimizer, D.parameters(), resolved.lr_d, resolved.betas)

    desc = f"{cfg.data.split(':')[0]}-seq-{cfg.objective.replace(':', '-')}"
    if not mle_only:
        desc += f"-{cfg.estimator}"
    run_dir = choose_run_dir(cfg, desc, resume_dir, ckpt is not None, dist, device)
    model_info = config_to_dict("seq", model_cfg)
    order = IndexBatches(len(data), cfg.batch_size, cfg.seed)
    tokens = data.tokens.to(device)
    total = cfg.total_images
    pretrain = total if mle_only else int(round(cfg.pretrain_kimg * 1000))
    schedules = Schedules.of(cfg, total)
    progress = Progress.of(cfg, schedules.budget)
    ticks, snaps, ckpts = (progress.events[name] for name in ("tick", "snap", "ckpt"))  # no evaluation, no pick
    clock = Clock()
    tracker = Tracker(run_dir, dist, clock)
    state = TrainState(G, D, None, opt_g, opt_d, order, None, tracker.means, progress, clock, device,
                       info={"model": model_info, "train": cfg.to_dict(), "world_size": dist.world})
    state.continue_run(ckpt, resume_dir, run_dir, tracker)
    write_run_config(run_dir, cfg, resolved, model_info, data,
                     environment(device, dist, "fp32", "token sequences train in fp32"),
                     {"generator": count_parameters(G), "discriminator": count_parameters(D)})
    write_vocab(run_dir, data)
    snapshot = _Snapshots(G, data, run_dir, device)

    opening = _opening(cfg, resolved, skipped, ckpt, run_dir, progress, data, device, G, D)

    with tracker.open(total, progress.nimg, ckpt is not None, cfg.progress, desc), flush_denormals():
        for line in opening:
            tracker.log(line)
        if ckpt is None:
            snapshot(0)
        G.train()
        D.train()
        while progress.nimg < total and not schedules.budget.spent and lock.running():
            if cfg.lr_schedule != "constant":
                _schedule_rates(cfg, resolved, schedules, progress.nimg, pretrain, total, opt_g, opt_d)
            if progress.nimg < pretrain:
                # Maximum likelihood: G alone, teacher-forced on a real batch.
                share = progress.nimg / pretrain
                _set_lr(opt_g, cfg.pretrain_lr * lr_factor(cfg.lr_schedule, share, cfg.cooldown_share))
                step_stats = mle_step(G, tokens[next(order)], opt_g)
                problem = nonfinite("generator", step_stats["loss_mle"], step_stats["grad_G"])
                shown = cfg.batch_size
            else:
                step_stats, problem = _game_step(G, D, objective, cfg, resolved, progress, order, tokens, opt_g,
                                                 opt_d, schedules, pretrain, total)
                shown = cfg.batch_size * resolved.d_steps
            if problem:
                raise GanworksError(f"{problem} at kimg {progress.nimg / 1000:.3f}; the last checkpoint in "
                                    f"{run_dir / 'checkpoints'} holds the run before it (lower the learning rates)")
            progress.g_step_count += 1
            progress.nimg += shown
            tracker.step(shown, step_stats)

            done = progress.nimg >= total
            if ticks.due(progress.nimg, at_end=done):
                extra = {"lr_G": opt_g.param_groups[0]["lr"], "lr_D": opt_d.param_groups[0]["lr"],
                         "phase": 0 if progress.nimg <= pretrain else 1}
                probabilistic = objective is not None and objective.probabilistic
                stats = tracker.tick(progress.tick, progress.nimg, extra, probabilistic)
                progress.last_d_acc = stats.get("D_acc")
                progress.tick += 1
                ticks.advance(progress.nimg)
                done = schedules.budget.tick(clock.elapsed(), dist, device, ticks, progress.nimg) or done
            if snaps.due(progress.nimg) and not done:
                snapshot(progress.nimg // 1000)
                snaps.advance(progress.nimg)
            if ckpts.due(progress.nimg) and not done:
                ckpts.advance(progress.nimg)
                save_state(run_dir, state, cfg.keep_checkpoints)

        _finish(run_dir, state, cfg, snapshot, progress, clock, data, G, D, model_cfg)
        tracker.log(f"done: {progress.nimg / 1000:.1f} kimg in {clock.elapsed():.1f}s; networks saved in {run_dir}")
    return run_dir


@contextlib.contextmanager
def flush_denormals():
    """Treat subnormal floats as 0 while a sequence run trains. A Gumbel-softmax over 5,000 tokens at
    beta around 10 puts most of its mass far below 1e-38: every matmul over those subnormal values ran
    about 7 times slower (1.8 s instead of 0.25 s a G step on the oracle, one thread). Values that small
    change nothing a float32 sum can hold. torch's default (off) is restored afterwards."""
    supported = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if supported:
            torch.set_flush_denormal(False)


def _set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def _schedule_rates(cfg: TrainConfig, resolved, schedules: Schedules, nimg: int, pretrain: int, total: int,
                    opt_g, opt_d) -> None:
    """``--lr-schedule`` in a sequence run: each phase follows it over its own length, as the Gumbel
    temperature does. The maximum-likelihood steps (``--objective mle``, or the first ``--pretrain-kimg``)
    run at ``--pretrain-lr`` times f(images / pre-training images), set by the loop; the game at its rates
    times f(share of the game done), so that it starts at its full rates whatever came before. Without
    pre-training the game's share is the run's, as for images (``--minutes`` included)."""
    if nimg < pretrain:
        return
    if pretrain == 0:
        schedules.set_learning_rates([(opt_g, resolved.lr_g), (opt_d, resolved.lr_d)], nimg, 0)
        return
    f = lr_factor(cfg.lr_schedule, _game_share(schedules, nimg, pretrain, total), cfg.cooldown_share)
    _set_lr(opt_g, resolved.lr_g * f)
    _set_lr(opt_d, resolved.lr_d * f)


def _game_share(schedules: Schedules, nimg: int, pretrain: int, total: int) -> float:
    """How far the game (the images after pre-training) has gone, in [0, 1]; under ``--minutes`` the larger of
    that and the budget's share used (:meth:`Schedules.fraction`), so its schedules end with the run."""
    return min(schedules.fraction(nimg - pretrain, max(total - pretrain, 1)), 1.0)


def _plan_words(cfg: TrainConfig, resolved) -> str:
    if cfg.objective == MLE:
        return f"maximum likelihood, adam lr {cfg.pretrain_lr:g}"
    pre = f"{cfg.pretrain_kimg:g} kimg maximum likelihood (lr {cfg.pretrain_lr:g}), then " if cfg.pretrain_kimg else ""
    how = (f"gumbel temperature 1 -> {cfg.gumbel_temperature:g} ({cfg.gumbel_schedule})"
           f"{', straight-through' if cfg.straight_through else ''}" if cfg.estimator == "gumbel"
           else f"reinforce, {cfg.rollouts or 'no'} rollouts")
    return (f"{pre}{cfg.objective} with {how}, {resolved.optimizer} lr G {resolved.lr_g:g} D {resolved.lr_d:g}, "
            f"k={resolved.d_steps}")


class _Snapshots:
    """``samples/fakesNNNNNN.txt``: G's samples from a fixed private RNG (the training RNG is untouched,
    so a resumed run draws what an uninterrupted one draws), and ``samples/reals.txt`` once."""

    def __init__(self, G, data, run_dir: Path, device: torch.device):
        self.G, self.data, self.dir = G, data, run_dir / "samples"
        reals = self.dir / "reals.txt"
        if not reals.exists():
            with atomic_path(reals) as tmp:
                tmp.write_text("\n".join(data.decode(data.tokens[:SAMPLE_ROWS])) + "\n", encoding="utf-8")

    def __call__(self, kimg: int) -> None:
        was = self.G.training
        self.G.eval()
        rows = self.G.sample(SAMPLE_ROWS, generator=torch.Generator().manual_seed(SAMPLE_SEED))
        self.G.train(was)
        with atomic_path(self.dir / f"fakes{kimg:06d}.txt") as tmp:
            tmp.write_text("\n".join(self.data.decode(rows)) + "\n", encoding="utf-8")


def _game_step(G, D, objective, cfg: TrainConfig, resolved, progress, order, tokens, opt_g, opt_d,
               schedules: Schedules, pretrain: int, total: int) -> tuple[dict, str | None]:
    """One round of the game after pre-training: k D steps on real ids against G's hard samples, then one G
    step through the discrete tokens. Returns the step's statistics and the first non-finite problem (or None)."""
    if progress.nimg < pretrain + cfg.batch_size * resolved.d_steps and cfg.lr_schedule == "constant":
        _set_lr(opt_g, resolved.lr_g)  # the game's rate from its first step (also after a resume)
    step_stats, problem = {}, None
    # D phase: k steps on real ids against G's hard samples.
    for _ in range(resolved.d_steps):
        progress.d_step_count += 1
        step_stats.update(discriminator_step(G, D, objective, tokens[next(order)], opt_d, resolved.clip))
        problem = nonfinite("discriminator", step_stats["loss_D"], step_stats["grad_D"])
        if problem:
            break
    if problem is None:
        # G phase: one step through the discrete tokens, D frozen (its gradients are discarded).
        real = tokens[next(order)] if objective.g_needs_real else None
        if cfg.estimator == "gumbel":
            beta = beta_at(1.0 / cfg.gumbel_temperature, _game_share(schedules, progress.nimg, pretrain, total),
                           cfg.gumbel_schedule)
            step_stats.update(gumbel_generator_step(G, D, objective, cfg.batch_size, beta, opt_g,
                                                    cfg.straight_through, real))
        else:
            step_stats.update(reinforce_generator_step(G, D, objective, cfg.batch_size, opt_g,
                                                       cfg.rollouts))
        problem = nonfinite("generator", step_stats["loss_G"], step_stats["grad_G"])
    return step_stats, problem


def _opening(cfg: TrainConfig, resolved, skipped, ckpt, run_dir, progress, data, device, G, D) -> list[str]:
    """The lines a run starts with: skipped checkpoints, then what resumed or what trains."""
    opening = [f"WARNING: skipped checkpoint: {why}" for why in skipped]
    opening.append(f"resumed {run_dir} from {ckpt.name} at kimg {progress.nimg / 1000:.3f}; training for "
                   f"{cfg.length_text()}" if ckpt is not None else
                   f"run {run_dir}: {cfg.length_text()} of {cfg.data} ({len(data)} sequences of {data.seq_len} tokens, "
                   f"vocabulary {data.vocab_size}) on {device}; seq G {count_parameters(G):,} params, "
                   f"D {count_parameters(D):,}; "
                   f"{_plan_words(cfg, resolved)}")
    return opening


def _finish(run_dir, state, cfg: TrainConfig, snapshot, progress, clock, data, G, D, model_cfg) -> None:
    """The last checkpoint, sample file and record of the run, then both networks."""
    save_state(run_dir, state, cfg.keep_checkpoints)
    snapshot(progress.nimg // 1000)
    record_reached(run_dir, progress.nimg, clock.elapsed())
    save_network(run_dir, "generator", G, "seq", model_cfg, {"ema": False, "tokens": data.vocab_record()})
    save_network(run_dir, "discriminator", D, "seq", model_cfg)
