"""Set-up that both training loops share (images: ``loop.py``; token sequences: ``ganworks.sequences``):
this process's place and device, the optimizers, the environment recorded in ``config.json``, and the
resume state written at checkpoints."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from .._version import __version__
from ..errors import GanworksError
from . import distributed, lock
from .resume import save_checkpoint
from .state import TrainState

if TYPE_CHECKING:
    from ..config import TrainConfig


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise GanworksError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu or auto")
    return torch.device(name)


def join(cfg: TrainConfig) -> tuple[distributed.Dist, torch.device]:
    """This process's place in the run (torchrun or alone) and its device, checked against the config."""
    dist, device_name = distributed.setup(cfg.device)
    device = resolve_device(device_name) if not dist.active else torch.device(device_name)
    if cfg.batch_size % dist.world:
        raise GanworksError(f"--batch-size {cfg.batch_size} must be divisible by the number of processes "
                            f"({dist.world}): each takes an equal share of the global batch")
    if cfg.sync_bn and dist.active and device.type != "cuda":
        raise GanworksError("--sync-bn needs CUDA devices: PyTorch's SyncBatchNorm does not run on CPU "
                            "(leave it off for per-process BatchNorm)")
    return dist, device


def make_optimizer(name: str, params, lr: float, betas: tuple[float, float]) -> torch.optim.Optimizer:
    # Adam: fused, one kernel per parameter for the whole update (CPU and CUDA), where foreach still runs
    # about ten elementwise passes over every tensor. 0.34 ms against 1.17 ms per step for the 1.5M
    # parameters of gan.py's MLP G on 2 CPU cores; the same update within float32 rounding
    # (tests/test_speed_levers.py). RMSprop has no fused kernel: foreach, one multi-tensor kernel per
    # operation (torch picks it by itself only on CUDA), bitwise the same as the plain loop.
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, foreach=True)  # Arjovsky et al. 2017: momentum-free for the critic
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def environment(device: torch.device, dist: distributed.Dist, precision: str, why: str) -> dict:
    return {"ganworks": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "device": str(device), "threads": torch.get_num_threads(), "world_size": dist.world,
            "precision": precision, "precision_why": why}


def save_state(run_dir: Path, state: TrainState, keep: int) -> None:
    save_checkpoint(run_dir, state.progress.nimg, *state.state_dict(), keep=keep)
    lock.stop_here(run_dir, state.progress.nimg)  # a SIGINT/SIGTERM stopped the loop: exit 130/143 now
