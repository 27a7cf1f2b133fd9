"""One training loop for every model and objective, readable top to bottom.

Goodfellow et al. 2014, Algorithm 1: for each training iteration, take k steps on D (each on a
minibatch of real images and a minibatch of noise) with G frozen, then one step on G with D
frozen. The budget is counted in real images shown to D (``kimg``), so changing the batch size
or k does not silently change how much data a run sees.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from .. import __version__
from ..checkpoint import save_network
from ..config import TrainConfig
from ..data import load_dataset
from ..images import make_grid, save_png, to_float, to_uint8
from ..models import build_discriminator, build_generator, config_to_dict, make_model_config
from ..objectives import Objective, discriminator_stats, get_objective
from ..sampling import latents
from .rundir import claim_run_dir, new_run_dir, write_json

GRID_SEED = 2014  # fixed noise for the grids over time: the same 64 latents in every snapshot


def discriminator_step(G: nn.Module, D: nn.Module, objective: Objective, real: torch.Tensor, z: torch.Tensor,
                       opt_d: torch.optim.Optimizer, autocast=contextlib.nullcontext) -> dict[str, torch.Tensor]:
    """One update of D on a real and a generated minibatch. G is frozen: its parameters get no gradient."""
    G.requires_grad_(False)
    try:
        with autocast():
            with torch.no_grad():
                fake = G(z)  # (B, C, H, W), a constant for this step
            real_logits, fake_logits = D(real).float(), D(fake).float()  # (B,), (B,)
        loss = objective.d_loss(real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        opt_d.step()
    finally:
        G.requires_grad_(True)
    return {"loss_D": loss.detach(), **discriminator_stats(real_logits.detach(), fake_logits.detach())}


def generator_step(G: nn.Module, D: nn.Module, objective: Objective, z: torch.Tensor,
                   opt_g: torch.optim.Optimizer, autocast=contextlib.nullcontext) -> dict[str, torch.Tensor]:
    """One update of G through D's judgement. D is frozen: gradients pass through it to G's
    output, but D's parameters get none."""
    D.requires_grad_(False)
    try:
        with autocast():
            fake_logits = D(G(z)).float()  # (B,)
        loss = objective.g_loss(fake_logits)
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
    finally:
        D.requires_grad_(True)
    return {"loss_G": loss.detach()}


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    """G_ema <- beta * G_ema + (1 - beta) * G for weights; buffers (BatchNorm statistics) are copied."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.lerp_(p, 1.0 - beta)
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


def _index_batches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless minibatches of indices: a fresh permutation per epoch, batches never straddle two."""
    while True:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - batch_size + 1, batch_size):
            yield perm[i:i + batch_size]


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from ..errors import GanworksError
        raise GanworksError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu or auto")
    return torch.device(name)


def _log(line: str, log_file) -> None:
    from tqdm import tqdm
    tqdm.write(line, file=sys.stderr)
    log_file.write(line + "\n")
    log_file.flush()


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

    device = _resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    data = load_dataset(cfg.data, "train")
    if len(data) < cfg.batch_size:
        from ..errors import GanworksError
        raise GanworksError(f"--batch-size {cfg.batch_size} is larger than dataset {cfg.data!r} ({len(data)} images)")
    model_cfg = make_model_config(cfg.model, **{**cfg.model_options, "image_shape": tuple(data.shape)})
    G = build_generator(cfg.model, model_cfg).to(device)
    D = build_discriminator(cfg.model, model_cfg).to(device)
    objective = get_objective(cfg.objective)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    use_bf16 = cfg.precision == "bf16"
    autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)  # noqa: E731

    desc = f"{cfg.data}-{cfg.model}-{cfg.objective}"
    run_dir = claim_run_dir(cfg.run_dir) if cfg.run_dir else new_run_dir(cfg.runs_root, desc)
    (run_dir / "samples").mkdir(exist_ok=True)
    write_json(run_dir / "config.json", {
        "train": cfg.to_dict(),
        "model": config_to_dict(cfg.model, model_cfg),
        "data": {"name": data.name, "split": data.split, "images": len(data), "shape": list(data.shape),
                 "source": data.source},
        "environment": {"ganworks": __version__, "torch": torch.__version__, "python": platform.python_version(),
                        "device": str(device), "threads": torch.get_num_threads()},
        "params": {"generator": sum(p.numel() for p in G.parameters()),
                   "discriminator": sum(p.numel() for p in D.parameters())},
    })

    images = data.images.to(device)  # uint8 (N, C, H, W): the whole dataset, batches drawn by index
    batches = _index_batches(len(images), cfg.batch_size, torch.Generator().manual_seed(cfg.seed))
    # EMA with a half-life of ema_kimg thousand images: beta^(images per step) halves every ema_kimg.
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if cfg.ema_kimg > 0 else None
    ema_beta = 0.5 ** (cfg.batch_size / (cfg.ema_kimg * 1000)) if cfg.ema_kimg > 0 else 0.0
    G_out = G_ema if G_ema is not None else G  # the network that grids and the saved "generator" use
    grid_z = latents(64, model_cfg.z_dim, GRID_SEED).to(device)
    save_png(make_grid(data.images[:64]), run_dir / "samples" / "reals.png", scale=2)

    def snapshot(kimg: int) -> None:
        was_training = G_out.training
        G_out.eval()
        with torch.no_grad():
            grid = make_grid(to_uint8(G_out(grid_z)).cpu(), nrow=8)
        G_out.train(was_training)
        save_png(grid, run_dir / "samples" / f"fakes{kimg:06d}.png", scale=2)

    total = int(round(cfg.kimg * 1000))
    per_iter = cfg.batch_size * cfg.d_steps
    tick_img, snap_img = cfg.tick_kimg * 1000, cfg.snapshot_kimg * 1000
    nimg, tick, next_tick, next_snap = 0, 0, tick_img, snap_img
    sums: dict[str, torch.Tensor] = {}
    count = 0
    t_start = t_tick = time.perf_counter()
    nimg_tick = 0

    with open(run_dir / "log.txt", "a") as log_file, open(run_dir / "stats.jsonl", "a") as stats_file, \
            tqdm(total=total, unit="img", unit_scale=True, file=sys.stderr, dynamic_ncols=True,
                 disable=None if cfg.progress else True, desc=desc, leave=False) as bar:
        _log(f"run {run_dir}: {cfg.kimg:g} kimg of {cfg.data} ({len(data)} images) on {device}, "
             f"G {sum(p.numel() for p in G.parameters()):,} params, D {sum(p.numel() for p in D.parameters()):,}",
             log_file)
        snapshot(0)
        G.train(), D.train()
        while nimg < total:
            # D phase: k steps, G frozen.
            for _ in range(cfg.d_steps):
                real = to_float(images[next(batches).to(device)])  # (B, C, H, W) in [-1, 1]
                z = torch.randn(cfg.batch_size, model_cfg.z_dim, device=device)
                d_stats = discriminator_step(G, D, objective, real, z, opt_d, autocast)
            # G phase: one step, D frozen.
            z = torch.randn(cfg.batch_size, model_cfg.z_dim, device=device)
            g_stats = generator_step(G, D, objective, z, opt_g, autocast)
            if G_ema is not None:
                update_ema(G_ema, G, ema_beta)

            nimg += per_iter
            bar.update(per_iter)
            for k, v in {**d_stats, **g_stats}.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1

            done = nimg >= total
            if nimg >= next_tick or done:
                now = time.perf_counter()
                stats = {k: round(float(v) / count, 6) for k, v in sums.items()}
                ips = (nimg - nimg_tick) / max(now - t_tick, 1e-9)
                rec = {"tick": tick, "kimg": round(nimg / 1000, 3), "time_s": round(now - t_start, 2),
                       "img_per_s": round(ips, 1), **stats}
                if not all(math.isfinite(v) for v in stats.values()):
                    rec["nonfinite"] = True
                stats_file.write(json.dumps(rec) + "\n")
                stats_file.flush()
                _log(f"tick {tick:<4d} kimg {nimg / 1000:<8.1f} time {now - t_start:6.1f}s  img/s {ips:7.0f}  "
                     f"loss_D {stats['loss_D']:.3f}  loss_G {stats['loss_G']:.3f}  D(x) {stats['D(x)']:.3f}  "
                     f"D(G(z)) {stats['D(G(z))']:.3f}  D_acc {stats['D_acc']:.3f}", log_file)
                sums, count, tick, t_tick, nimg_tick = {}, 0, tick + 1, now, nimg
                while next_tick <= nimg:
                    next_tick += tick_img
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
