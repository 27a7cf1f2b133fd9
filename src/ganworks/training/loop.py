"""One training loop for every model and objective, readable top to bottom.

Goodfellow et al. 2014, Algorithm 1: for each training iteration, take k steps on D (each on a
minibatch of real images and a minibatch of noise) with G frozen, then one step on G with D
frozen. The budget is counted in real images shown to D (``kimg``), so changing the batch size
or k does not silently change how much data a run sees.

Everything a run can switch on is visible here: weight clipping (WGAN), the gradient penalty
(WGAN-GP), lazy R1, one-sided label smoothing, a replay buffer of past fakes, differentiable
augmentation, instance noise, class conditioning, an EMA of G, and a pre-trained (optionally
frozen) D. The parts live beside this file: one iteration of k D steps and a G step (``game.py``),
the steps themselves (``steps.py``), schedules and events (``schedule.py``), the resume state
(``state.py``), what falls due after an iteration, in its fixed order (``events.py``), logs and statistics
(``tracking.py``), the divergence guard (``guard.py``), sample grids (``grids.py``) and evaluation
(``evaluation.py``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from ..augment import diff_augment, parse_policy
from ..config import TrainConfig
from ..data import load_dataset
from ..errors import GanworksError
from ..models import build_discriminator, build_generator, config_to_dict, make_model_config
from ..objectives import get_objective
from ..release import load_discriminator, save_network
from . import distributed, lock
from .data import Feed
from .evaluation import Evaluator, KeptGenerators, Picker, _collapsed  # noqa: F401  (_collapsed: as before)
from .game import Game
from .grids import GRID_SEED, SampleGrids  # noqa: F401
from .guard import Guard, nonfinite  # noqa: F401  (nonfinite: importable from here as before)
from .precision import choose as choose_precision
from .replay import ReplayBuffer
from .resume import plan
from .rundir import choose_run_dir, record_reached, write_run_config
from .schedule import Every, Schedules, lr_factor  # noqa: F401  (lr_factor: importable from here as before)
from .events import RunEvents
from .setup import count_parameters, environment, join, make_optimizer
from .state import Progress, TrainState
from .steps import DInput, DOptions, _grad_norm, discriminator_step, generator_step, update_ema  # noqa: F401
from .tracking import D_WINS_ACC, Clock, Tracker, tick_alarms  # noqa: F401

@lock.lifecycle  # SIGINT/SIGTERM: a checkpoint, then exit; the run's lock is released however train() ends
def train(config: TrainConfig | dict | None = None, *, resume: str | None = None, **overrides) -> Path:
    """Train a GAN and return its run directory: set-up, resume, then the loop (k D steps, a G step, the
    divergence guard, the EMA, and the events that fall due: ``events.py``).

    ``config`` is a :class:`TrainConfig` or a dict of its fields; keyword arguments override
    fields. The run directory receives ``config.json``, ``log.txt``, ``stats.jsonl``, grids of
    samples under ``samples/``, resume states under ``checkpoints/``, and both final networks
    (``generator`` / ``discriminator`` ``.safetensors`` + ``.json``).

    ``resume``: a run directory to continue from its latest valid checkpoint, with its own ``config.json``
    (keyword arguments may change only :data:`ganworks.config.RESUME_SAFE` fields, e.g. ``kimg`` to extend
    it); or ``"auto"``: continue the run in ``run_dir`` if it has a checkpoint, else start it. On CPU a
    resumed run ends bitwise equal to an uninterrupted one (``--minutes``: what stays exact and what follows
    the wall clock is in :class:`.schedule.Budget`). Under ``torchrun`` each process trains on its share.
    """
    cfg, resume_dir, ckpt, skipped = _plan(config, resume, overrides)
    if cfg.model == "seq":  # token sequences: their own loop, in the same run directory (ganworks.sequences)
        from ..sequences.loop import train_sequences

        return train_sequences(cfg, resume_dir, ckpt, skipped)
    resolved = cfg.resolved()  # objective defaults applied (e.g. WGAN: RMSProp, lr 5e-5, 5 critic steps, clip 0.01)
    dist, device = join(cfg)  # torchrun: join the process group (one process: no-op)
    torch.manual_seed(cfg.seed)
    data = load_dataset(cfg.data, "train", resolution=cfg.resolution, channels=cfg.channels, strict=cfg.strict_data)
    model_cfg, num_classes = _model_config(cfg, data, dist)
    precision, precision_why = _precision(cfg, device, data, resume_dir if ckpt is not None else None)
    G = use_channels_last(build_generator(cfg.model, model_cfg).to(device), precision)
    D = use_channels_last(build_discriminator(cfg.model, model_cfg).to(device), precision)
    if cfg.init_discriminator and ckpt is None:
        _init_discriminator(D, cfg.init_discriminator, cfg.model, model_cfg)
    objective = get_objective(cfg.objective)
    opt_g = make_optimizer(resolved.optimizer, G.parameters(), resolved.lr_g, resolved.betas)
    opt_d = make_optimizer(resolved.optimizer, D.parameters(), resolved.lr_d, resolved.betas)
    base_rates = [(opt_g, resolved.lr_g), (opt_d, resolved.lr_d)]
    autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")  # noqa: E731
    # What D sees, the same in both steps: augmentation (this module's diff_augment, so that it is
    # the one name to replace) and instance noise, whose std the loop sets at each iteration.
    sees = DInput(parse_policy(cfg.augment), augment_fn=diff_augment)
    replay = ReplayBuffer(cfg.replay_size, cfg.replay_fraction) if cfg.replay_size > 0 else None
    d_setup = DOptions(clip=resolved.clip, gp_weight=resolved.gp_weight, gp_one_sided=cfg.gp_one_sided,
                       label_smoothing=cfg.label_smoothing, replay=replay, sees=sees)

    desc = f"{cfg.data.split(':')[0]}-{cfg.model}-{cfg.objective.replace(':', '-')}"
    run_dir = choose_run_dir(cfg, desc, resume_dir, ckpt is not None, dist, device)
    model_info = config_to_dict(cfg.model, model_cfg)
    feed = Feed(data, cfg.batch_size, model_cfg.z_dim, num_classes, cfg.seed, dist, device)
    # EMA with a half-life of ema_kimg kimg (--ema-rampup; a running mean over the last --ema-tail): _average.
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if cfg.ema_kimg > 0 or cfg.ema_tail > 0 else None
    G_out = G_ema if G_ema is not None else G  # the network that grids and the saved "generator" use
    grids = SampleGrids(G_out, data, model_cfg.z_dim, num_classes, run_dir, device, dist.main)

    total = cfg.total_images
    per_iter = cfg.batch_size * resolved.d_steps
    schedules = Schedules.of(cfg, total)
    progress = Progress.of(cfg, schedules.budget)  # events every so many kimg; the --minutes budget
    clock = Clock()
    tracker = Tracker(run_dir, dist, clock)
    evaluate_now, pick = _judges(cfg, G_out, G_ema is not None, model_cfg, run_dir, tracker, progress, schedules, grids)
    state = TrainState(G, D, G_ema, opt_g, opt_d, feed.order, replay, tracker.means, progress, clock, device,
                       {"model": model_info, "train": cfg.to_dict(), "world_size": dist.world}, evaluate_now.kept)

    # ---- resume: every piece of state above continues from the checkpoint
    state.continue_run(ckpt, resume_dir, run_dir, tracker)
    if dist.main:  # after the checkpoint was read and accepted: a rejected resume leaves config.json as it was
        write_run_config(run_dir, cfg, resolved, model_info, data, environment(device, dist, precision, precision_why),
                         {"generator": count_parameters(G), "discriminator": count_parameters(D)})
    # Under torchrun: DDP all-reduces gradients; G and D stay the plain modules for EMA, saving, grids.
    G_train, D_train = (distributed.wrap(net, dist, device, cfg.sync_bn) for net in (G, D))
    guard = Guard(cfg, run_dir, state, tracker, schedules, base_rates)
    game = Game(G_train, D_train, objective, opt_g, opt_d, autocast, d_setup, sees, resolved.d_steps,
                cfg.freeze_discriminator, cfg.reuse_fakes)
    events = RunEvents(cfg, state, schedules, tracker, evaluate_now, grids, run_dir, dist, sees,
                       objective.probabilistic, pick)

    with tracker.open(total, progress.nimg, ckpt is not None, cfg.progress, desc):
        events.start(ckpt, skipped, _start_line(cfg, resolved, run_dir, data, device, dist, G, D, precision))
        G.train()
        D.train(not cfg.freeze_discriminator)
        while progress.nimg < total and not schedules.budget.spent and lock.running():  # --minutes: spent at a tick
            if cfg.lr_schedule != "constant":
                schedules.set_learning_rates(base_rates, progress.nimg, progress.rollbacks)
            sees.noise_std = schedules.noise_std(progress.nimg)
            step_stats, problem = game.play(feed, schedules, progress)  # k D steps, then one G step
            # Divergence guard: every process takes the same decision (stop, or roll back and go on).
            if guard.tripped(problem):
                continue
            if G_ema is not None:
                _average(G_ema, G, schedules, progress)
            progress.g_step_count += 1
            progress.nimg += per_iter
            tracker.step(per_iter, step_stats)
            events.after_iteration(done=progress.nimg >= total)  # tick (--minutes), evaluation, grid, checkpoint

        # The end: a last resume state and grid, then the release files: both networks as safetensors + JSON.
        events.end()
        if dist.main:
            _save_release(run_dir, cfg.model, model_cfg, G_out, G, G_ema, D, (progress.nimg, clock.elapsed()), pick)
        tracker.log(f"done: {progress.nimg / 1000:.1f} kimg in {clock.elapsed():.1f}s; networks saved in {run_dir}")
    distributed.teardown(dist)
    return run_dir


# ------------------------------------------------------------------------------------------ set-up
def _plan(config: TrainConfig | dict | None, resume: str | None, overrides: dict):
    """(config, run directory to resume or None, checkpoint or None, warnings about skipped checkpoints)."""
    # A TrainConfig counts as what was asked for (--model auto's choices undone), so that keyword
    # overrides of the model or the data are decided afresh.
    base = {} if config is None else config.requested() if isinstance(config, TrainConfig) else dict(config)
    if resume is None:
        return TrainConfig.from_dict({**base, **overrides}), None, None, []
    return plan({**base, **overrides}, overrides, resume)


def _model_config(cfg: TrainConfig, data, dist: distributed.Dist):
    """The model's config for this data (shape, classes, output), after checking that they fit.
    Returns (model config, number of classes: 0 when unconditional)."""
    if len(data) < cfg.batch_size:
        raise GanworksError(f"--batch-size {cfg.batch_size} is larger than dataset {cfg.data!r} ({len(data)} images)")
    per_iter = cfg.batch_size * cfg.resolved().d_steps
    if cfg.total_images < per_iter:  # the loop would take no step and leave an empty run
        raise GanworksError(f"--kimg {cfg.kimg:g} is less than one iteration ({cfg.batch_size} images x "
                            f"{cfg.resolved().d_steps} D step(s)); the minimum is --kimg {per_iter / 1000:g}")
    num_classes = 0
    if cfg.conditional:
        if data.labels is None or not data.num_classes:
            raise GanworksError(f"--conditional needs class labels, and dataset {cfg.data!r} has none")
        num_classes = data.num_classes
    extra = {"image_shape": tuple(data.shape), "num_classes": num_classes}
    if data.images.dtype.is_floating_point:  # 2-D toy data: float points, not uint8 pixels
        if cfg.model != "mlp":
            raise GanworksError(f"dataset {cfg.data!r} holds 2-D points; use --model mlp ({cfg.model!r} needs images)")
        extra["output"] = cfg.model_options.get("output", "linear")  # points are unbounded: no tanh
        if cfg.augment:
            raise GanworksError(f"--augment {cfg.augment!r} applies to images; dataset {cfg.data!r} holds 2-D points")
    model_cfg = make_model_config(cfg.model, **{**cfg.model_options, **extra})
    pack = getattr(model_cfg, "pack", 1)
    if (cfg.batch_size // dist.world) % pack:
        per = f" per process ({cfg.batch_size} over {dist.world})" if dist.active else ""
        raise GanworksError(f"--batch-size {cfg.batch_size // dist.world}{per} must be a multiple of --pack {pack}: "
                            f"D judges packs of {pack} samples")
    return model_cfg, num_classes


def _init_discriminator(D: nn.Module, path: str, arch: str, model_cfg) -> None:
    """Copy a trained discriminator's weights into D. Its architecture and every tensor's shape must
    match this run's D (G's settings may differ: a new generator can learn from an old judge)."""
    try:
        src = load_discriminator(path)
    except GanworksError as e:
        raise GanworksError(f"--init-discriminator: {e}") from None
    theirs = {k: tuple(v.shape) for k, v in src.state_dict().items()}
    mine = {k: tuple(v.shape) for k, v in D.state_dict().items()}
    if src.arch != arch or theirs != mine:
        diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))[:3]
        raise GanworksError(f"--init-discriminator {path}: its discriminator ({src.arch}, "
                            f"{config_to_dict(src.arch, src.cfg)}) does not fit this run's ({arch}, "
                            f"{config_to_dict(arch, model_cfg)}); first differing tensors: {diff}")
    D.load_state_dict(src.state_dict())


def _precision(cfg: TrainConfig, device: torch.device, data, resumed: Path | None) -> tuple[str, str]:
    """(precision, why): --precision auto picks bf16 where the hardware runs it natively (``precision.py``);
    a resumed run keeps the precision its ``config.json`` records."""
    previous = None
    if resumed is not None:
        try:
            previous = json.loads((resumed / "config.json").read_text())["environment"]["precision"]
        except (OSError, TypeError, KeyError, ValueError):
            previous = None
    return choose_precision(cfg.precision, device, data.images.dtype.is_floating_point, previous)


def use_channels_last(net: nn.Module, precision: str) -> nn.Module:
    """Convolutional networks under bf16 keep their 4-D weights channels_last (NHWC), the layout oneDNN's bf16
    convolutions run fastest in (benchmarks/train_speed.py: +13% for the default recipe at 28x28, +50% for
    DCGAN at 64x64 on a CPU with AMX); in fp32 at 28x28 it was slower, so fp32 keeps the default layout.
    The same values either way; files are written contiguous (release.py, resume.py)."""
    if precision == "bf16" and any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in net.modules()):
        net.to(memory_format=torch.channels_last)
    return net


def _judges(cfg: TrainConfig, G_out: nn.Module, ema: bool, model_cfg, run_dir: Path, tracker: Tracker,
            progress: Progress, schedules: Schedules, grids: SampleGrids) -> tuple[Evaluator, Picker | None]:
    """What scores G during the run: ``--eval-every``'s evaluations, and ``--pick-tail``'s picker (None: off); the
    Gs they keep (``.kept``, resume state) are one :class:`.evaluation.KeptGenerators` for both."""
    kept = KeptGenerators(run_dir, G_out, cfg.model, model_cfg, ema, grids, tracker.main)
    pick = Picker(cfg, G_out, run_dir, tracker, progress, schedules, kept) if cfg.pick_tail > 0 else None
    return Evaluator(cfg, G_out, run_dir, tracker, progress, kept), pick


def _average(G_ema: nn.Module, G: nn.Module, schedules: Schedules, progress: Progress) -> None:
    """One update of G's average after a G step: the EMA (``Schedules.ema_beta``), which from the step where the
    run reaches its last ``--ema-tail`` share on (``progress.tail_from``, resume state) weighs each new G at least
    1/(n+1), a running mean of the tail."""
    if not schedules.in_tail(progress.nimg):
        progress.tail_from = None  # before the tail, or a run resumed with a longer --kimg / --minutes: a new tail
    elif progress.tail_from is None:
        progress.tail_from = progress.g_step_count
    tail = None if progress.tail_from is None else progress.g_step_count - progress.tail_from
    update_ema(G_ema, G, schedules.ema_beta(progress.nimg, tail))


def _start_line(cfg: TrainConfig, resolved, run_dir: Path, data, device, dist, G: nn.Module, D: nn.Module,
                precision: str) -> str:
    schedule = "" if cfg.lr_schedule == "constant" else f" ({cfg.lr_schedule} schedule)"
    return (f"run {run_dir}: {cfg.length_text()} of {cfg.data} ({len(data)} images) on {device}"
            f"{f' x {dist.world} processes' if dist.active else ''}, "
            f"{cfg.model}{f' (recipe {cfg.recipe})' if cfg.recipe else ''} G {count_parameters(G):,} params, "
            f"D {count_parameters(D):,}; "
            f"{cfg.objective}, {resolved.optimizer} "
            f"lr G {resolved.lr_g:g} D {resolved.lr_d:g}{schedule}, k={resolved.d_steps}, {precision}")


# ------------------------------------------------------------------------------------------- the end
def _save_release(run_dir: Path, arch: str, model_cfg, G_out: nn.Module, G: nn.Module, G_ema: nn.Module | None,
                  D: nn.Module, reached: tuple[int, float], pick: Picker | None = None) -> None:
    """The finished run's networks: ``generator`` (the EMA when kept, else G; with ``--pick-tail`` the one
    ``pick`` picked, recorded in ``config.json``, and the last one is then ``generator_last``), ``generator_raw``
    (G itself, when an EMA was kept) and ``discriminator``; and where it ended in ``config.json`` (``reached``:
    images shown and seconds of training)."""
    picked = pick.picked() if pick is not None else None
    record_reached(run_dir, *reached, picked)
    if picked is None:
        save_network(run_dir, "generator", G_out, arch, model_cfg, {"ema": G_ema is not None})
    else:
        save_network(run_dir, "generator_last", G_out, arch, model_cfg, {"ema": G_ema is not None})
        chosen = copy.deepcopy(G_out)
        chosen.load_state_dict(load_file(str(run_dir / "picked" / "generator.safetensors"), device="cpu"))
        save_network(run_dir, "generator", chosen, arch, model_cfg, {"ema": G_ema is not None, "picked": picked})
    if G_ema is not None:
        save_network(run_dir, "generator_raw", G, arch, model_cfg)
    save_network(run_dir, "discriminator", D, arch, model_cfg)
