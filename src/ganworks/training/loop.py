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
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from .. import __version__
from ..augment import diff_augment, parse_policy
from ..checkpoint import load_discriminator, save_network
from ..config import TrainConfig
from ..data import load_dataset
from ..errors import GanworksError
from ..images import atomic_path, make_grid, plot_points, save_png, to_float, to_uint8
from ..models import build_discriminator, build_generator, config_to_dict, make_model_config
from ..objectives import Objective, d_loss_gan_smoothed, discriminator_stats, get_objective
from ..regularizers import gradient_penalty, r1_penalty
from ..sampling import latents
from . import distributed
from .logs import TensorBoardLog
from .replay import ReplayBuffer
from .resume import (Counters, IndexBatches, latest_checkpoint, load_checkpoint, load_optimizer, module_state,
                     optimizer_state, plan, rng_state, save_checkpoint, set_rng_state, take)
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
    noise_std: float = 0.0  # instance noise on D's inputs, real and fake (its value at this step)


def _aug(x: Tensor, policy: tuple[str, ...], noise_std: float = 0.0) -> Tensor:
    """What D sees of x: DiffAugment (when a policy is set), then instance noise (when noise_std > 0)."""
    x = diff_augment(x, policy) if policy else x
    return x + noise_std * torch.randn_like(x) if noise_std > 0 else x


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
            real_in, fake_in = _aug(real, opt.augment, opt.noise_std), _aug(fake, opt.augment, opt.noise_std)
            real_logits, fake_logits = D(real_in, y_real).float(), D(fake_in, y_d).float()  # (B,), (B,)
        if opt.label_smoothing > 0:
            loss = d_loss_gan_smoothed(real_logits, fake_logits, opt.label_smoothing)
        else:
            loss = objective.d_loss(real_logits, fake_logits)
        extra: dict[str, Tensor] = {}
        if opt.gp_weight > 0:
            # Interpolates between real and this step's fresh fakes (same labels as the real batch).
            gp = gradient_penalty(D, real_in, _aug(fresh, opt.augment, opt.noise_std), y_real,
                                  one_sided=opt.gp_one_sided)
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
                   y_real: Tensor | None = None, augment: tuple[str, ...] = (),
                   noise_std: float = 0.0) -> dict[str, Tensor]:
    """One update of G through D's judgement. D is frozen: gradients pass through it to G's
    output, but D's parameters get none. ``real`` is needed only by relativistic objectives.
    ``noise_std``: instance noise on what D sees, as in D's step."""
    D.requires_grad_(False)
    try:
        with autocast():
            fake_logits = D(_aug(G(z, y), augment, noise_std), y).float()  # (B,)
            real_logits = None
            if objective.g_needs_real:
                with torch.no_grad():
                    real_logits = D(_aug(real, augment, noise_std), y_real).float()
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


def lr_factor(schedule: str, t: float) -> float:
    """The learning-rate multiplier at fraction t in [0, 1] of the run (``--lr-schedule``)."""
    t = min(max(t, 0.0), 1.0)
    if schedule == "linear":
        return 1.0 - t
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    return 1.0


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



def _append_jsonl(path: Path, rec: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


def _truncate_jsonl(path: Path, nimg: int) -> None:
    """Keep the records of ``path`` up to ``nimg`` images (a resumed run writes the later ones
    again); a torn last line from a killed process is dropped too."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if round(json.loads(line)["kimg"] * 1000) <= nimg:
                keep.append(line + "\n")
        except (ValueError, KeyError, TypeError):
            continue
    with atomic_path(path) as tmp:
        tmp.write_text("".join(keep))


@torch.no_grad()
def _nonfinite(name: str, loss: Tensor | None, module: nn.Module) -> str | None:
    """What is non-finite after a step of ``module`` (its loss, else its weights), or None."""
    if loss is not None and not torch.isfinite(loss).all():
        return f"non-finite loss_{name[0].upper()} ({float(loss)}) in the {name} step"
    total = torch.stack([p.detach().float().sum() for p in module.parameters()]).sum()
    if not torch.isfinite(total):  # any NaN/inf weight makes the sum non-finite
        return f"non-finite weights in the {name} after its step"
    return None


def train(config: TrainConfig | dict | None = None, *, resume: str | None = None, **overrides) -> Path:
    """Train a GAN and return its run directory.

    ``config`` is a :class:`TrainConfig` or a dict of its fields; keyword arguments override
    fields. The run directory receives ``config.json``, ``log.txt``, ``stats.jsonl``, grids of
    samples from fixed noise under ``samples/``, resume states under ``checkpoints/``, and the
    final generator and discriminator (``generator.safetensors`` / ``.json``,
    ``discriminator.safetensors`` / ``.json``).

    ``resume``: a run directory to continue from its latest valid checkpoint, with its own
    ``config.json`` (keyword arguments may change only :data:`ganworks.config.RESUME_SAFE`
    fields, e.g. ``kimg`` to extend it); or ``"auto"``: continue the run in ``run_dir`` if it
    has a checkpoint, else start it. On CPU a resumed run ends bitwise equal to an
    uninterrupted one. Under ``torchrun`` each process trains on its share of the batch.
    """
    from tqdm import tqdm

    if config is None:
        config = TrainConfig()
    base = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
    ckpt, skipped, resume_dir = None, [], None
    if resume is None:
        cfg = TrainConfig.from_dict({**base, **overrides})
    else:
        cfg, resume_dir, ckpt, skipped = plan({**base, **overrides}, overrides, resume)
    rc = cfg.resolved()  # objective defaults applied (e.g. WGAN: RMSProp, lr 5e-5, 5 critic steps, clip 0.01)

    dd, device_name = distributed.setup(cfg.device)  # torchrun: join the process group (one process: no-op)
    device = _resolve_device(device_name) if not dd.active else torch.device(device_name)
    if cfg.batch_size % dd.world:
        raise GanworksError(f"--batch-size {cfg.batch_size} must be divisible by the number of processes "
                            f"({dd.world}): each takes an equal share of the global batch")
    if cfg.sync_bn and dd.active and device.type != "cuda":
        raise GanworksError("--sync-bn needs CUDA devices: PyTorch's SyncBatchNorm does not run on CPU "
                            "(leave it off for per-process BatchNorm)")
    local = slice(dd.rank * cfg.batch_size // dd.world, (dd.rank + 1) * cfg.batch_size // dd.world)
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
    pack = getattr(model_cfg, "pack", 1)
    if (cfg.batch_size // dd.world) % pack:
        per = f" per process ({cfg.batch_size} over {dd.world})" if dd.active else ""
        raise GanworksError(f"--batch-size {cfg.batch_size // dd.world}{per} must be a multiple of --pack {pack}: "
                            f"D judges packs of {pack} samples")
    G = build_generator(cfg.model, model_cfg).to(device)
    D = build_discriminator(cfg.model, model_cfg).to(device)
    if cfg.init_discriminator and ckpt is None:
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

    # The run directory: rank 0 creates it (every process learns its name: rollbacks read from it).
    desc = f"{cfg.data.split(':')[0]}-{cfg.model}-{cfg.objective.replace(':', '-')}"
    run_dir = None
    if dd.main:
        if resume_dir is not None and (ckpt is not None or (resume_dir / "config.json").is_file()):
            run_dir = resume_dir  # continuing, or --resume auto restarting a run that never checkpointed
        else:
            run_dir = claim_run_dir(cfg.run_dir) if cfg.run_dir else new_run_dir(cfg.runs_root, desc)
    run_dir = Path(distributed.broadcast_text(str(run_dir) if run_dir else None, dd, device))
    if dd.main:
        (run_dir / "samples").mkdir(exist_ok=True)
        write_json(run_dir / "config.json", {
            "train": cfg.to_dict(),
            "resolved": {**rc.__dict__, "betas": list(rc.betas)},
            "model": config_to_dict(cfg.model, model_cfg),
            "data": {"name": data.name, "split": data.split, "images": len(data), "shape": list(data.shape),
                     "num_classes": data.num_classes, "source": data.source},
            "environment": {"ganworks": __version__, "torch": torch.__version__, "python": platform.python_version(),
                            "device": str(device), "threads": torch.get_num_threads(), "world_size": dd.world},
            "params": {"generator": sum(p.numel() for p in G.parameters()),
                       "discriminator": sum(p.numel() for p in D.parameters())},
        })

    images = data.images.to(device)  # uint8 (N, C, H, W): the whole dataset, batches drawn by index
    labels = data.labels.to(device) if num_classes else None
    # One global order of the data for every process; each keeps its slice of each global batch.
    batches = IndexBatches(len(images), cfg.batch_size, cfg.seed)

    def real_batch() -> tuple[Tensor, Tensor | None]:
        idx = next(batches)[local].to(device)
        x = images[idx] if points else to_float(images[idx])  # (b, C, H, W) in [-1, 1]
        return x, (labels[idx] if labels is not None else None)

    def noise() -> Tensor:
        return torch.randn(cfg.batch_size, model_cfg.z_dim, device=device)[local]  # (b, z_dim) of the global batch

    def class_batch() -> Tensor | None:
        return torch.randint(0, num_classes, (cfg.batch_size,), device=device)[local] if num_classes else None

    # EMA with a half-life of ema_kimg thousand images: beta^(images per step) halves every ema_kimg.
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if cfg.ema_kimg > 0 else None
    ema_beta = 0.5 ** (cfg.batch_size / (cfg.ema_kimg * 1000)) if cfg.ema_kimg > 0 else 0.0
    G_out = G_ema if G_ema is not None else G  # the network that grids and the saved "generator" use
    # Grids: 8 x 8 from fixed noise; conditional: one row per class (up to 10 classes shown).
    grid_rows = min(num_classes, 10) if num_classes else 8
    grid_z = latents(8 * grid_rows, model_cfg.z_dim, GRID_SEED).to(device)
    grid_y = torch.arange(grid_rows, device=device).repeat_interleave(8) if num_classes else None
    if points:  # 2,500 generated points (white) over 2,500 real ones (blue): scatter (2-D), histogram (1-D)
        grid_z = latents(2500, model_cfg.z_dim, GRID_SEED).to(device)
        grid_y = torch.arange(2500, device=device) % num_classes if num_classes else None
        if dd.main:
            save_png(plot_points(data.images[:2500]), run_dir / "samples" / "reals.png")
    elif dd.main:
        save_png(make_grid(data.images[:64], nrow=8), run_dir / "samples" / "reals.png", scale=2)

    def snapshot(kimg: int) -> None:
        if not dd.main:
            return
        was_training = G_out.training
        G_out.eval()
        with torch.no_grad():
            out = G_out(grid_z, grid_y)
        G_out.train(was_training)
        if points:
            save_png(plot_points(out, data.images[:2500]), run_dir / "samples" / f"fakes{kimg:06d}.png")
        else:
            save_png(make_grid(to_uint8(out).cpu(), nrow=8), run_dir / "samples" / f"fakes{kimg:06d}.png", scale=2)

    eval_names = cfg.eval_metric_names() if cfg.eval_every > 0 else []
    best_name = cfg.best_metric or (eval_names[0] if eval_names else "")

    def evaluate_now(kimg: float) -> list[str]:
        """Evaluate G (the EMA when kept) on eval_n samples; keep the best generator in best/."""
        from ..metrics.evaluate import evaluate

        snap = run_dir / "eval-snapshot"
        snap.mkdir(exist_ok=True)
        save_network(snap, "generator", G_out, cfg.model, model_cfg, {"ema": G_ema is not None, "kimg": kimg})
        res = evaluate(snap, data=cfg.data, metrics=eval_names, n=cfg.eval_n, seed=cfg.seed)
        _append_jsonl(run_dir / "metrics.jsonl", {"kimg": kimg, **res})
        values = {m: r["value"] for m, r in res["metrics"].items()}
        tb.metrics(kimg, values)
        log(f"eval kimg {kimg:<8.1f} " + "  ".join(f"{m} {v:.4g}" for m, v in values.items()))
        v, hib = values[best_name], res["metrics"][best_name]["higher_is_better"]
        if pos.best_value is None or (v > pos.best_value if hib else v < pos.best_value):
            pos.best_value = v
            (run_dir / "best").mkdir(exist_ok=True)
            for f in snap.iterdir():
                (run_dir / "best" / f.name).write_bytes(f.read_bytes())
            write_json(run_dir / "best" / "best.json", {"metric": best_name, "value": v, "kimg": kimg,
                                                         "higher_is_better": hib})
        alarms = []
        collapse = _collapsed(res)
        if collapse:
            alarms.append(collapse)
            if pos.last_d_acc is not None and abs(pos.last_d_acc - 0.5) <= 0.05:
                alarms.append(f"D's accuracy is {pos.last_d_acc:.1%} while the samples are collapsed: D's feedback "
                              "has stopped being informative, and G now trains on noise")
        for alarm in alarms:
            log(f"ALARM kimg {kimg:.1f}: {alarm}")
        return alarms

    total = int(round(cfg.kimg * 1000))
    per_iter = cfg.batch_size * rc.d_steps
    intervals = {"tick": cfg.tick_kimg * 1000, "snap": cfg.snapshot_kimg * 1000, "eval": cfg.eval_every * 1000,
                 "ckpt": cfg.checkpoint_every() * 1000}
    pos = Counters(next_tick=intervals["tick"], next_snap=intervals["snap"], next_eval=intervals["eval"],
                   next_ckpt=intervals["ckpt"], intervals=intervals)
    sums: dict[str, Tensor] = {}  # this tick's running sums of the step statistics
    counts: dict[str, int] = {}

    # ---- resume state: everything above that changes while training, as tensors + JSON
    def capture() -> tuple[dict[str, Tensor], dict]:
        tensors = {**module_state("G", G), **module_state("D", D)}
        if G_ema is not None:
            tensors.update(module_state("G_ema", G_ema))
        t_g, meta_g = optimizer_state("opt_g", opt_g)
        t_d, meta_d = optimizer_state("opt_d", opt_d)
        t_rng, meta_rng = rng_state()
        t_data, meta_data = batches.state()
        tensors.update({**t_g, **t_d, **t_rng, **t_data})
        meta_replay = None
        if replay is not None:
            st = replay.state_dict()
            meta_replay = {"size": st["size"], "capacity": st["capacity"]}
            for k in ("images", "labels"):
                if st[k] is not None:
                    tensors[f"replay.{k}"] = st[k]
        tensors.update({f"tick_sum.{k}": v.detach().float().cpu().reshape(1) for k, v in sums.items()})
        pos.elapsed_s = time.perf_counter() - t_start
        return tensors, {"counters": pos.__dict__, "tick_counts": counts, "optimizers": {"G": meta_g, "D": meta_d},
                         "rng": meta_rng, "data": meta_data, "replay": meta_replay,
                         "model": config_to_dict(cfg.model, model_cfg), "train": cfg.to_dict(),
                         "world_size": dd.world, "ganworks_version": __version__}

    def restore(path: Path) -> None:
        tensors, meta = load_checkpoint(path)
        mine, theirs = json.loads(json.dumps(config_to_dict(cfg.model, model_cfg))), meta.get("model")
        if theirs != mine:
            raise GanworksError(f"checkpoint {path} holds a different model ({theirs}) than this run "
                                f"({mine}, from {run_dir / 'config.json'})")
        for prefix, net in (("G", G), ("D", D), ("G_ema", G_ema)):
            if net is None:
                continue
            try:
                net.load_state_dict(take(tensors, prefix))
            except RuntimeError as e:
                detail = " ".join(str(e).strip().splitlines()[1:2]).strip() or str(e).splitlines()[0]
                raise GanworksError(f"checkpoint {path}: its {prefix} does not fit this run's {mine}: {detail}") from None
        load_optimizer(opt_g, tensors, meta["optimizers"]["G"], "generator")
        load_optimizer(opt_d, tensors, meta["optimizers"]["D"], "discriminator")
        set_rng_state(tensors, meta["rng"])
        batches.load(tensors, meta["data"])
        if replay is not None:
            r = meta["replay"] or {"size": 0, "capacity": replay.capacity}
            replay.load_state_dict({**r, "images": tensors["replay.images"].to(device) if r["size"] else None,
                                    "labels": tensors["replay.labels"].to(device)
                                    if r["size"] and "replay.labels" in tensors else None})
        sums.clear()
        sums.update({k: v.to(device).reshape(()) for k, v in take(tensors, "tick_sum").items()})
        counts.clear()
        counts.update(meta["tick_counts"])
        saved = Counters(**meta["counters"])
        for name, every in intervals.items():  # a schedule changed on resume restarts from here
            if saved.intervals.get(name) != every:
                setattr(saved, f"next_{name}", (saved.nimg // every + 1) * every if every > 0 else 0.0)
        saved.intervals = intervals
        pos.__dict__.update(saved.__dict__)
        if dd.main:
            _truncate_jsonl(run_dir / "stats.jsonl", pos.nimg)
            _truncate_jsonl(run_dir / "metrics.jsonl", pos.nimg)

    def log(line: str) -> None:
        if dd.main:
            _log(line, log_file)

    def diverged(problem: str) -> None:
        """--on-nan: stop with the step and network, or roll back to the last good checkpoint."""
        where = f"{problem} at step {pos.g_step_count + 1} (kimg {pos.nimg / 1000:.3f})"
        if cfg.on_nan == "stop":
            if dd.main:  # the error itself reaches stderr through the CLI
                log_file.write(f"STOP: {where}\n")
            raise GanworksError(f"{where}; stopped (--on-nan stop): lower the learning rate, or use "
                                f"--on-nan rollback to return to the last good checkpoint")
        if pos.rollbacks >= cfg.max_rollbacks:
            if dd.main:
                log_file.write(f"STOP: {where}; already rolled back {pos.rollbacks} times\n")
            raise GanworksError(f"{where}; gave up after {pos.rollbacks} rollbacks (--max-rollbacks "
                                f"{cfg.max_rollbacks}) with learning rates x{cfg.nan_lr_factor ** pos.rollbacks:g}")
        good, _ = latest_checkpoint(run_dir)
        if good is None:
            raise GanworksError(f"{where}; no checkpoint to roll back to in {run_dir / 'checkpoints'}")
        rollbacks = pos.rollbacks + 1
        restore(good)
        pos.rollbacks = rollbacks
        scale = cfg.nan_lr_factor ** rollbacks
        set_learning_rates()
        log(f"ROLLBACK {rollbacks}/{cfg.max_rollbacks}: {where}; restored {good.name} (kimg {pos.nimg / 1000:.3f}), "
            f"learning rates x{scale:g}: G {rc.lr_g * scale:g}, D {rc.lr_d * scale:g}")
        bar.n = pos.nimg
        bar.refresh()

    def set_learning_rates() -> None:
        """The base rates, times the rollback factor, times the schedule at this point of the run."""
        scale = cfg.nan_lr_factor ** pos.rollbacks * lr_factor(cfg.lr_schedule, pos.nimg / total)
        for opt, lr in ((opt_g, rc.lr_g), (opt_d, rc.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr * scale

    t_start = time.perf_counter()
    if ckpt is not None:
        restore(ckpt)
        t_start -= pos.elapsed_s
    elif dd.main and resume_dir is not None and (run_dir / "config.json").is_file():
        _truncate_jsonl(run_dir / "stats.jsonl", -1)  # --resume auto restarting a run with no checkpoint
        _truncate_jsonl(run_dir / "metrics.jsonl", -1)
    # Under torchrun: DDP all-reduces gradients; G and D stay the plain modules for EMA, saving, grids.
    G_train = distributed.wrap(G, dd, device, cfg.sync_bn)
    D_train = distributed.wrap(D, dd, device, cfg.sync_bn)
    t_tick, nimg_tick = time.perf_counter(), pos.nimg

    with open(run_dir / "log.txt" if dd.main else os.devnull, "a") as log_file, \
            TensorBoardLog(run_dir, enabled=dd.main, purge_step=pos.nimg + 1 if ckpt is not None else None) as tb, \
            tqdm(total=total, initial=min(pos.nimg, total), unit="img", unit_scale=True, file=sys.stderr,
                 dynamic_ncols=True, disable=None if cfg.progress and dd.main else True, desc=desc,
                 leave=False) as bar:
        for why in skipped:
            log(f"WARNING: skipped checkpoint: {why}")
        if ckpt is not None:
            log(f"resumed {run_dir} from {ckpt.name} at kimg {pos.nimg / 1000:.3f} (tick {pos.tick}) "
                f"on {dd.world} process(es); training to {cfg.kimg:g} kimg")
        else:
            log(f"run {run_dir}: {cfg.kimg:g} kimg of {cfg.data} ({len(data)} images) on {device}"
                f"{f' x {dd.world} processes' if dd.active else ''}, "
                f"{cfg.model} G {sum(p.numel() for p in G.parameters()):,} params, "
                f"D {sum(p.numel() for p in D.parameters()):,}; {cfg.objective}, {rc.optimizer} "
                f"lr G {rc.lr_g:g} D {rc.lr_d:g}"
                f"{'' if cfg.lr_schedule == 'constant' else f' ({cfg.lr_schedule} schedule)'}, k={rc.d_steps}")
            snapshot(0)
            if cfg.on_nan == "rollback" and dd.main:
                save_checkpoint(run_dir, 0, *capture(), keep=cfg.keep_checkpoints)  # a good state to return to
        G.train()
        D.train(not cfg.freeze_discriminator)
        while pos.nimg < total:
            if cfg.lr_schedule != "constant":
                set_learning_rates()
            step_stats: dict[str, Tensor] = {}
            problem = None
            d_opt.noise_std = cfg.instance_noise_at(pos.nimg)
            # D phase: k steps, G frozen. A frozen pre-trained D is only ever judged against.
            for _ in range(rc.d_steps):
                real, y_real = real_batch()
                if cfg.freeze_discriminator:
                    continue
                z = noise()
                pos.d_step_count += 1
                d_opt.r1_weight = (cfg.r1_gamma / 2 * cfg.r1_interval
                                   if cfg.r1_gamma > 0 and pos.d_step_count % cfg.r1_interval == 0 else 0.0)
                step_stats.update(discriminator_step(G_train, D_train, objective, real, z, opt_d, autocast,
                                                     y_real=y_real, y_fake=y_real, opt=d_opt))
                problem = _nonfinite("discriminator", step_stats["loss_D"], D)
                if problem:
                    break
            if problem is None:
                # G phase: one step, D frozen.
                z = noise()
                real_g, y_real_g = real_batch() if objective.g_needs_real else (None, None)
                step_stats.update(generator_step(G_train, D_train, objective, z, opt_g, autocast, y=class_batch(),
                                                 real=real_g, y_real=y_real_g, augment=policy,
                                                 noise_std=d_opt.noise_std))
                problem = _nonfinite("generator", step_stats["loss_G"], G)
            # Divergence guard: every process takes the same decision.
            if distributed.any_across(problem is not None, dd, device):
                diverged(problem or "non-finite values in another process")
                continue
            if G_ema is not None:
                update_ema(G_ema, G, ema_beta)

            pos.g_step_count += 1
            pos.nimg += per_iter
            bar.update(per_iter)
            for k, v in step_stats.items():
                sums[k] = sums.get(k, 0.0) + v
                counts[k] = counts.get(k, 0) + 1

            done = pos.nimg >= total
            if pos.nimg >= pos.next_tick or done:
                now = time.perf_counter()
                keys = list(sums)
                means = distributed.mean_across(torch.stack([sums[k] / counts[k] for k in keys]), dd) \
                    if dd.active else None
                stats = {k: round(float(means[i]) if means is not None else float(sums[k]) / counts[k], 6)
                         for i, k in enumerate(keys)}
                ips = (pos.nimg - nimg_tick) / max(now - t_tick, 1e-9)
                rec = {"tick": pos.tick, "kimg": round(pos.nimg / 1000, 3), "time_s": round(now - t_start, 2),
                       "img_per_s": round(ips, 1), **stats,
                       # the rates in effect now (--lr-schedule, rollbacks)
                       "lr_G": opt_g.param_groups[0]["lr"], "lr_D": opt_d.param_groups[0]["lr"]}
                if cfg.instance_noise > 0:
                    rec["instance_noise"] = round(d_opt.noise_std, 6)  # the std of the tick's last step
                if not all(math.isfinite(v) for v in stats.values()):
                    rec["nonfinite"] = True
                alarms = tick_alarms(stats, objective.probabilistic)
                if alarms:
                    rec["alarms"] = alarms
                if dd.main:
                    _append_jsonl(run_dir / "stats.jsonl", rec)
                tb.tick(rec)
                log(_status(pos.tick, pos.nimg, now - t_start, ips, stats))
                for alarm in alarms:
                    log(f"ALARM tick {pos.tick}: {alarm}")
                pos.last_d_acc = stats.get("D_acc")
                sums.clear()
                counts.clear()
                pos.tick, t_tick, nimg_tick = pos.tick + 1, now, pos.nimg
                while pos.next_tick <= pos.nimg:
                    pos.next_tick += intervals["tick"]
            if intervals["eval"] > 0 and (pos.nimg >= pos.next_eval or done):
                if dd.main:
                    evaluate_now(round(pos.nimg / 1000, 3))
                while pos.next_eval <= pos.nimg:
                    pos.next_eval += intervals["eval"]
            if intervals["snap"] > 0 and pos.nimg >= pos.next_snap and not done:
                snapshot(pos.nimg // 1000)
                while pos.next_snap <= pos.nimg:
                    pos.next_snap += intervals["snap"]
            # Last in the iteration, so the saved state is exactly what the next iteration starts from.
            if intervals["ckpt"] > 0 and pos.nimg >= pos.next_ckpt and not done:
                while pos.next_ckpt <= pos.nimg:
                    pos.next_ckpt += intervals["ckpt"]
                if dd.main:
                    save_checkpoint(run_dir, pos.nimg, *capture(), keep=cfg.keep_checkpoints)

        # The end: a last resume state (so --resume RUN --kimg MORE can extend the run), then the
        # release files: sample grid and both networks as safetensors + JSON.
        if dd.main:
            save_checkpoint(run_dir, pos.nimg, *capture(), keep=cfg.keep_checkpoints)
            snapshot(pos.nimg // 1000)
            save_network(run_dir, "generator", G_out, cfg.model, model_cfg, {"ema": G_ema is not None})
            if G_ema is not None:
                save_network(run_dir, "generator_raw", G, cfg.model, model_cfg)
            save_network(run_dir, "discriminator", D, cfg.model, model_cfg)
        log(f"done: {pos.nimg / 1000:.1f} kimg in {time.perf_counter() - t_start:.1f}s; networks saved in {run_dir}")
    distributed.teardown(dd)
    return run_dir
