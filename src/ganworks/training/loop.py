"""One training loop for every model and objective, readable top to bottom.

Goodfellow et al. 2014, Algorithm 1: for each training iteration, take k steps on D (each on a
minibatch of real images and a minibatch of noise) with G frozen, then one step on G with D
frozen. The budget is counted in real images shown to D (``kimg``), so changing the batch size
or k does not silently change how much data a run sees.

Everything a run can switch on is visible here: weight clipping (WGAN), the gradient penalty
(WGAN-GP), lazy R1, one-sided label smoothing, a replay buffer of past fakes, differentiable
augmentation, class conditioning, an EMA of G, and a pre-trained (optionally frozen) D.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from torch import Tensor, nn

from .. import __version__
from ..augment import diff_augment, parse_policy
from ..checkpoint import load_discriminator, save_network
from ..config import TrainConfig
from ..data import load_dataset
from ..errors import GanworksError
from ..images import make_grid, save_png, scatter, to_float, to_uint8
from ..models import build_discriminator, build_generator, config_to_dict, make_model_config
from ..objectives import Objective, d_loss_gan_smoothed, discriminator_stats, get_objective
from ..regularizers import gradient_penalty, r1_penalty
from ..sampling import latents
from .logs import TensorBoardLog
from .replay import ReplayBuffer
from .rundir import claim_run_dir, new_run_dir, write_json

GRID_SEED = 2014  # fixed noise for the grids over time: the same latents in every snapshot


@dataclass
class DOptions:
    """How D's loss is formed beyond the objective itself (all off by default)."""

    clip: float = 0.0  # clamp D's weights to [-clip, clip] after the step (WGAN)
    gp_weight: float = 0.0  # lambda of the gradient penalty (WGAN-GP)
    gp_one_sided: bool = False
    r1_weight: float = 0.0  # gamma / 2 * lazy interval, on this step only (0 on the others)
    label_smoothing: float = 0.0
    augment: tuple[str, ...] = ()
    replay: ReplayBuffer | None = None


def _aug(x: Tensor, policy: tuple[str, ...]) -> Tensor:
    return diff_augment(x, policy) if policy else x


def discriminator_step(G: nn.Module, D: nn.Module, objective: Objective, real: Tensor, z: Tensor,
                       opt_d: torch.optim.Optimizer, autocast=contextlib.nullcontext, y_real: Tensor | None = None,
                       y_fake: Tensor | None = None, opt: DOptions | None = None) -> dict[str, Tensor]:
    """One update of D on a real and a generated minibatch. G is frozen: its parameters get no gradient."""
    opt = opt or DOptions()
    G.requires_grad_(False)
    try:
        with autocast():
            with torch.no_grad():
                fresh = G(z, y_fake).float()  # (B, C, H, W), a constant for this step
            fake, y_d = opt.replay.mix(fresh, y_fake) if opt.replay is not None else (fresh, y_fake)
            real_in, fake_in = _aug(real, opt.augment), _aug(fake, opt.augment)
            real_logits, fake_logits = D(real_in, y_real).float(), D(fake_in, y_d).float()  # (B,), (B,)
        if opt.label_smoothing > 0:
            loss = d_loss_gan_smoothed(real_logits, fake_logits, opt.label_smoothing)
        else:
            loss = objective.d_loss(real_logits, fake_logits)
        extra: dict[str, Tensor] = {}
        if opt.gp_weight > 0:
            # Interpolates between real and this step's fresh fakes (same labels as the real batch).
            gp = gradient_penalty(D, real_in, _aug(fresh, opt.augment), y_real, one_sided=opt.gp_one_sided)
            loss = loss + opt.gp_weight * gp
            extra["GP"] = gp.detach()
        if opt.r1_weight > 0:
            r1 = r1_penalty(D, real_in.detach(), y_real)
            loss = loss + opt.r1_weight * r1
            extra["R1"] = r1.detach()
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = _grad_norm(D)  # ||dloss_D/dtheta_D||: explodes before a divergence, vanishes when D is stuck
        opt_d.step()
        if opt.clip > 0:
            with torch.no_grad():
                for p in D.parameters():
                    p.clamp_(-opt.clip, opt.clip)
        if opt.replay is not None:
            opt.replay.push(fresh, y_fake)
    finally:
        G.requires_grad_(True)
    stats = {"loss_D": loss.detach(), "grad_D": grad_norm, **extra}
    rl, fl = real_logits.detach(), fake_logits.detach()
    if objective.probabilistic:
        stats.update(discriminator_stats(rl, fl))
    else:
        stats.update({"D_real": rl.mean(), "D_fake": fl.mean()})  # raw critic outputs
    return stats


def generator_step(G: nn.Module, D: nn.Module, objective: Objective, z: Tensor, opt_g: torch.optim.Optimizer,
                   autocast=contextlib.nullcontext, y: Tensor | None = None, real: Tensor | None = None,
                   y_real: Tensor | None = None, augment: tuple[str, ...] = ()) -> dict[str, Tensor]:
    """One update of G through D's judgement. D is frozen: gradients pass through it to G's
    output, but D's parameters get none. ``real`` is needed only by relativistic objectives."""
    D.requires_grad_(False)
    try:
        with autocast():
            fake_logits = D(_aug(G(z, y), augment), y).float()  # (B,)
            real_logits = None
            if objective.g_needs_real:
                with torch.no_grad():
                    real_logits = D(_aug(real, augment), y_real).float()
        loss = objective.g_loss(fake_logits, real_logits)
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = _grad_norm(G)  # ||dloss_G/dtheta_G||: tends to 0 when D wins and the loss saturates
        opt_g.step()
    finally:
        D.requires_grad_(True)
    return {"loss_G": loss.detach(), "grad_G": grad_norm}


@torch.no_grad()
def _grad_norm(m: nn.Module) -> Tensor:
    grads = [p.grad.detach().float().norm() for p in m.parameters() if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(grads)) if grads else torch.zeros(())


# Alarms, checked at every tick (printed, logged and recorded in stats.jsonl). The user's notes:
# "if D is too good G gets no meaningful gradient", and "past the point where D's feedback is
# random, G trains on junk". Thresholds are deliberately conservative.
D_WINS_ACC = 0.99


def tick_alarms(stats: dict[str, float], probabilistic: bool) -> list[str]:
    """Warnings about the state of the game from one tick's averaged statistics."""
    alarms = []
    if probabilistic and stats.get("D_acc", 0.0) >= D_WINS_ACC:
        alarms.append(f"D wins: accuracy {stats['D_acc']:.1%} on real vs. fake, D(G(z)) {stats.get('D(G(z))', 0):.3f}; "
                      f"G's gradient norm {stats.get('grad_G', float('nan')):.2e} (saturating losses vanish here)")
    if any(not math.isfinite(v) for v in stats.values()):
        bad = ", ".join(k for k, v in stats.items() if not math.isfinite(v))
        alarms.append(f"non-finite statistics: {bad}")
    return alarms


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    """G_ema <- beta * G_ema + (1 - beta) * G for weights; buffers (BatchNorm statistics) are copied."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.lerp_(p, 1.0 - beta)
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


def _index_batches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[Tensor]:
    """Endless minibatches of indices: a fresh permutation per epoch, batches never straddle two."""
    while True:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - batch_size + 1, batch_size):
            yield perm[i:i + batch_size]


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise GanworksError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu or auto")
    return torch.device(name)


def _make_optimizer(name: str, params, lr: float, betas: tuple[float, float]) -> torch.optim.Optimizer:
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)  # Arjovsky et al. 2017: momentum-free for the critic
    return torch.optim.Adam(params, lr=lr, betas=betas)


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


def _log(line: str, log_file) -> None:
    from tqdm import tqdm
    tqdm.write(line, file=sys.stderr)
    log_file.write(line + "\n")
    log_file.flush()


def _collapsed(result: dict) -> str | None:
    """A description of mode collapse in one evaluation's results, or None."""
    for name, r in result["metrics"].items():
        if name == "modes" and r.get("collapsed"):
            return (f"mode collapse: {r['modes_covered']}/{r['num_classes']} classes covered, "
                    f"KL(hist || uniform) {r['kl_to_uniform']:.3f}")
        if name == "mixture" and r["modes_captured"] < 0.75 * r["num_modes"]:
            return f"mode collapse: {r['modes_captured']}/{r['num_modes']} modes captured"
    return None


def _status(tick: int, nimg: int, elapsed: float, ips: float, stats: dict[str, float]) -> str:
    parts = [f"tick {tick:<4d} kimg {nimg / 1000:<8.1f} time {elapsed:6.1f}s  img/s {ips:7.0f}"]
    parts += [f"{k} {v:.3f}" for k, v in stats.items()]
    return "  ".join(parts)


def train(config: TrainConfig | dict | None = None, **overrides) -> Path:
    """Train a GAN and return its run directory.

    ``config`` is a :class:`TrainConfig` or a dict of its fields; keyword arguments override
    fields. The run directory receives ``config.json``, ``log.txt``, ``stats.jsonl``, grids of
    samples from fixed noise under ``samples/``, and the final generator and discriminator
    (``generator.safetensors`` / ``.json``, ``discriminator.safetensors`` / ``.json``).
    """
    from tqdm import tqdm

    if config is None:
        config = TrainConfig()
    base = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
    cfg = TrainConfig.from_dict({**base, **overrides})
    rc = cfg.resolved()  # objective defaults applied (e.g. WGAN: RMSProp, lr 5e-5, 5 critic steps, clip 0.01)

    device = _resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    data = load_dataset(cfg.data, "train", resolution=cfg.resolution, channels=cfg.channels, strict=cfg.strict_data)
    if len(data) < cfg.batch_size:
        raise GanworksError(f"--batch-size {cfg.batch_size} is larger than dataset {cfg.data!r} ({len(data)} images)")
    num_classes = 0
    if cfg.conditional:
        if data.labels is None or not data.num_classes:
            raise GanworksError(f"--conditional needs class labels, and dataset {cfg.data!r} has none")
        num_classes = data.num_classes
    points = data.images.dtype.is_floating_point  # 2-D toy data: float points, not uint8 pixels
    extra = {"image_shape": tuple(data.shape), "num_classes": num_classes}
    if points:
        if cfg.model != "mlp":
            raise GanworksError(f"dataset {cfg.data!r} holds 2-D points; use --model mlp ({cfg.model!r} needs images)")
        extra["output"] = cfg.model_options.get("output", "linear")  # points are unbounded: no tanh
        if cfg.augment:
            raise GanworksError(f"--augment {cfg.augment!r} applies to images; dataset {cfg.data!r} holds 2-D points")
    model_cfg = make_model_config(cfg.model, **{**cfg.model_options, **extra})
    G = build_generator(cfg.model, model_cfg).to(device)
    D = build_discriminator(cfg.model, model_cfg).to(device)
    if cfg.init_discriminator:
        _init_discriminator(D, cfg.init_discriminator, cfg.model, model_cfg)
    objective = get_objective(cfg.objective)
    opt_g = _make_optimizer(rc.optimizer, G.parameters(), rc.lr_g, rc.betas)
    opt_d = _make_optimizer(rc.optimizer, D.parameters(), rc.lr_d, rc.betas)
    use_bf16 = cfg.precision == "bf16"
    autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)  # noqa: E731
    policy = parse_policy(cfg.augment)
    replay = ReplayBuffer(cfg.replay_size, cfg.replay_fraction) if cfg.replay_size > 0 else None
    d_opt = DOptions(clip=rc.clip, gp_weight=rc.gp_weight, gp_one_sided=cfg.gp_one_sided,
                     label_smoothing=cfg.label_smoothing, augment=policy, replay=replay)

    desc = f"{cfg.data.split(':')[0]}-{cfg.model}-{cfg.objective.replace(':', '-')}"
    run_dir = claim_run_dir(cfg.run_dir) if cfg.run_dir else new_run_dir(cfg.runs_root, desc)
    (run_dir / "samples").mkdir(exist_ok=True)
    write_json(run_dir / "config.json", {
        "train": cfg.to_dict(),
        "resolved": {**rc.__dict__, "betas": list(rc.betas)},
        "model": config_to_dict(cfg.model, model_cfg),
        "data": {"name": data.name, "split": data.split, "images": len(data), "shape": list(data.shape),
                 "num_classes": data.num_classes, "source": data.source},
        "environment": {"ganworks": __version__, "torch": torch.__version__, "python": platform.python_version(),
                        "device": str(device), "threads": torch.get_num_threads()},
        "params": {"generator": sum(p.numel() for p in G.parameters()),
                   "discriminator": sum(p.numel() for p in D.parameters())},
    })

    images = data.images.to(device)  # uint8 (N, C, H, W): the whole dataset, batches drawn by index
    labels = data.labels.to(device) if num_classes else None
    batches = _index_batches(len(images), cfg.batch_size, torch.Generator().manual_seed(cfg.seed))

    def real_batch() -> tuple[Tensor, Tensor | None]:
        idx = next(batches).to(device)
        x = images[idx] if points else to_float(images[idx])  # (B, C, H, W) in [-1, 1]
        return x, (labels[idx] if labels is not None else None)

    def class_batch() -> Tensor | None:
        return torch.randint(0, num_classes, (cfg.batch_size,), device=device) if num_classes else None

    # EMA with a half-life of ema_kimg thousand images: beta^(images per step) halves every ema_kimg.
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if cfg.ema_kimg > 0 else None
    ema_beta = 0.5 ** (cfg.batch_size / (cfg.ema_kimg * 1000)) if cfg.ema_kimg > 0 else 0.0
    G_out = G_ema if G_ema is not None else G  # the network that grids and the saved "generator" use
    # Grids: 8 x 8 from fixed noise; conditional: one row per class (up to 10 classes shown).
    grid_rows = min(num_classes, 10) if num_classes else 8
    grid_z = latents(8 * grid_rows, model_cfg.z_dim, GRID_SEED).to(device)
    grid_y = torch.arange(grid_rows, device=device).repeat_interleave(8) if num_classes else None
    if points:  # scatter plots of 2,500 generated points (white) over 2,500 real ones (blue)
        grid_z = latents(2500, model_cfg.z_dim, GRID_SEED).to(device)
        grid_y = torch.arange(2500, device=device) % num_classes if num_classes else None
        save_png(scatter(data.images[:2500]), run_dir / "samples" / "reals.png")
    else:
        save_png(make_grid(data.images[:64], nrow=8), run_dir / "samples" / "reals.png", scale=2)

    def snapshot(kimg: int) -> None:
        was_training = G_out.training
        G_out.eval()
        with torch.no_grad():
            out = G_out(grid_z, grid_y)
        G_out.train(was_training)
        if points:
            save_png(scatter(out, data.images[:2500]), run_dir / "samples" / f"fakes{kimg:06d}.png")
        else:
            save_png(make_grid(to_uint8(out).cpu(), nrow=8), run_dir / "samples" / f"fakes{kimg:06d}.png", scale=2)

    eval_names = cfg.eval_metric_names() if cfg.eval_every > 0 else []
    best_name = cfg.best_metric or (eval_names[0] if eval_names else "")
    best_value: float | None = None
    last_d_acc: float | None = None

    def evaluate_now(kimg: float, log_file) -> list[str]:
        """Evaluate G (the EMA when kept) on eval_n samples; keep the best generator in best/."""
        nonlocal best_value
        from ..metrics.evaluate import evaluate

        snap = run_dir / "eval-snapshot"
        snap.mkdir(exist_ok=True)
        save_network(snap, "generator", G_out, cfg.model, model_cfg, {"ema": G_ema is not None, "kimg": kimg})
        res = evaluate(snap, data=cfg.data, metrics=eval_names, n=cfg.eval_n, seed=cfg.seed)
        with open(run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"kimg": kimg, **res}) + "\n")
        values = {m: r["value"] for m, r in res["metrics"].items()}
        tb.metrics(kimg, values)
        _log(f"eval kimg {kimg:<8.1f} " + "  ".join(f"{m} {v:.4g}" for m, v in values.items()), log_file)
        v, hib = values[best_name], res["metrics"][best_name]["higher_is_better"]
        if best_value is None or (v > best_value if hib else v < best_value):
            best_value = v
            (run_dir / "best").mkdir(exist_ok=True)
            for f in snap.iterdir():
                (run_dir / "best" / f.name).write_bytes(f.read_bytes())
            write_json(run_dir / "best" / "best.json", {"metric": best_name, "value": v, "kimg": kimg,
                                                         "higher_is_better": hib})
        alarms = []
        collapse = _collapsed(res)
        if collapse:
            alarms.append(collapse)
            if last_d_acc is not None and abs(last_d_acc - 0.5) <= 0.05:
                alarms.append(f"D's accuracy is {last_d_acc:.1%} while the samples are collapsed: D's feedback "
                              "has stopped being informative, and G now trains on noise")
        for alarm in alarms:
            _log(f"ALARM kimg {kimg:.1f}: {alarm}", log_file)
        return alarms

    total = int(round(cfg.kimg * 1000))
    per_iter = cfg.batch_size * rc.d_steps
    tick_img, snap_img = cfg.tick_kimg * 1000, cfg.snapshot_kimg * 1000
    eval_img = cfg.eval_every * 1000
    nimg, tick, next_tick, next_snap, d_step_count = 0, 0, tick_img, snap_img, 0
    next_eval = eval_img
    sums: dict[str, Tensor] = {}
    counts: dict[str, int] = {}
    t_start = t_tick = time.perf_counter()
    nimg_tick = 0

    with open(run_dir / "log.txt", "a") as log_file, open(run_dir / "stats.jsonl", "a") as stats_file, \
            TensorBoardLog(run_dir) as tb, \
            tqdm(total=total, unit="img", unit_scale=True, file=sys.stderr, dynamic_ncols=True,
                 disable=None if cfg.progress else True, desc=desc, leave=False) as bar:
        _log(f"run {run_dir}: {cfg.kimg:g} kimg of {cfg.data} ({len(data)} images) on {device}, "
             f"{cfg.model} G {sum(p.numel() for p in G.parameters()):,} params, "
             f"D {sum(p.numel() for p in D.parameters()):,}; {cfg.objective}, {rc.optimizer} "
             f"lr G {rc.lr_g:g} D {rc.lr_d:g}, k={rc.d_steps}", log_file)
        snapshot(0)
        G.train()
        D.train(not cfg.freeze_discriminator)
        while nimg < total:
            step_stats: dict[str, Tensor] = {}
            # D phase: k steps, G frozen. A frozen pre-trained D is only ever judged against.
            for _ in range(rc.d_steps):
                real, y_real = real_batch()
                if cfg.freeze_discriminator:
                    continue
                z = torch.randn(cfg.batch_size, model_cfg.z_dim, device=device)
                d_step_count += 1
                d_opt.r1_weight = (cfg.r1_gamma / 2 * cfg.r1_interval
                                   if cfg.r1_gamma > 0 and d_step_count % cfg.r1_interval == 0 else 0.0)
                step_stats.update(discriminator_step(G, D, objective, real, z, opt_d, autocast,
                                                     y_real=y_real, y_fake=y_real, opt=d_opt))
            # G phase: one step, D frozen.
            z = torch.randn(cfg.batch_size, model_cfg.z_dim, device=device)
            real_g, y_real_g = real_batch() if objective.g_needs_real else (None, None)
            step_stats.update(generator_step(G, D, objective, z, opt_g, autocast, y=class_batch(), real=real_g,
                                             y_real=y_real_g, augment=policy))
            if G_ema is not None:
                update_ema(G_ema, G, ema_beta)

            nimg += per_iter
            bar.update(per_iter)
            for k, v in step_stats.items():
                sums[k] = sums.get(k, 0.0) + v
                counts[k] = counts.get(k, 0) + 1

            done = nimg >= total
            if nimg >= next_tick or done:
                now = time.perf_counter()
                stats = {k: round(float(v) / counts[k], 6) for k, v in sums.items()}
                ips = (nimg - nimg_tick) / max(now - t_tick, 1e-9)
                rec = {"tick": tick, "kimg": round(nimg / 1000, 3), "time_s": round(now - t_start, 2),
                       "img_per_s": round(ips, 1), **stats}
                if not all(math.isfinite(v) for v in stats.values()):
                    rec["nonfinite"] = True
                alarms = tick_alarms(stats, objective.probabilistic)
                if alarms:
                    rec["alarms"] = alarms
                stats_file.write(json.dumps(rec) + "\n")
                stats_file.flush()
                tb.tick(rec)
                _log(_status(tick, nimg, now - t_start, ips, stats), log_file)
                for alarm in alarms:
                    _log(f"ALARM tick {tick}: {alarm}", log_file)
                last_d_acc = stats.get("D_acc")
                sums, counts, tick, t_tick, nimg_tick = {}, {}, tick + 1, now, nimg
                while next_tick <= nimg:
                    next_tick += tick_img
            if eval_img > 0 and (nimg >= next_eval or done):
                evaluate_now(round(nimg / 1000, 3), log_file)
                while next_eval <= nimg:
                    next_eval += eval_img
            if snap_img > 0 and nimg >= next_snap and not done:
                snapshot(nimg // 1000)
                while next_snap <= nimg:
                    next_snap += snap_img

        snapshot(nimg // 1000)
        save_network(run_dir, "generator", G_out, cfg.model, model_cfg, {"ema": G_ema is not None})
        if G_ema is not None:
            save_network(run_dir, "generator_raw", G, cfg.model, model_cfg)
        save_network(run_dir, "discriminator", D, cfg.model, model_cfg)
        _log(f"done: {nimg / 1000:.1f} kimg in {time.perf_counter() - t_start:.1f}s; networks saved in {run_dir}",
             log_file)
    return run_dir
