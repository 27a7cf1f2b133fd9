"""Release snapshots: trained networks saved as safetensors weights + a JSON config beside them.

(Resume checkpoints, which also hold optimizers, RNGs and counters, are :mod:`ganworks.training.resume`.)

A *snapshot directory* holds ``generator.safetensors`` + ``generator.json`` (and, in a run
directory, ``discriminator.*`` too). Loading never unpickles anything: weights come from
safetensors, configs from JSON, and the network is rebuilt from the registry by name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._version import __version__
from .errors import GanworksError
from .files import regular_file
from .images import atomic_path
from .models import build_discriminator, build_generator, config_from_dict, config_to_dict
from .schema import Dict, Str, load_json

# generator: what sampling uses (the EMA of G when the run kept one; with --pick-tail the one picked);
# generator_raw: G itself then; generator_last: the last generator when another one was picked.
KINDS = ("generator", "generator_raw", "generator_last", "discriminator")
# {kind}.json as read back: the model's own fields are checked by its config class (make_model_config).
NETWORK_JSON = Dict({"model": Dict({"arch": Str()})}, optional={"kind": Str(KINDS), "ganworks_version": Str()})


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module under DDP / torch.compile wrappers, so saved keys never carry prefixes."""
    module = getattr(module, "module", module)  # DDP
    return getattr(module, "_orig_mod", module)  # torch.compile


def save_network(directory: str | os.PathLike, kind: str, module: nn.Module, arch: str, cfg,
                 extra: dict[str, Any] | None = None) -> Path:
    """Write ``{kind}.safetensors`` and ``{kind}.json`` into ``directory`` atomically."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    assert kind in KINDS, kind
    d = Path(directory)
    module = unwrap(module)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    meta = {"format": "ganworks", "kind": kind, "arch": arch, "ganworks_version": __version__}
    with atomic_path(d / f"{kind}.safetensors") as tmp:
        try:
            save_file(tensors, str(tmp), metadata=meta)
        except SafetensorError as e:  # a full disk: not an OSError, so atomic_path would not name the file
            raise GanworksError(f"cannot write {d / f'{kind}.safetensors'}: {str(e).splitlines()[0]}") from None
    info = {"kind": kind, "ganworks_version": __version__, "model": config_to_dict(arch, cfg), **(extra or {})}
    with atomic_path(d / f"{kind}.json") as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n")
    return d / f"{kind}.safetensors"


def _resolve(path: str | os.PathLike, kind: str) -> tuple[Path, str]:
    """A run/snapshot directory, or one saved network's .safetensors/.json file -> (directory, kind)."""
    p = Path(path)
    if not p.exists():
        raise GanworksError(f"no such run or snapshot: {p}")
    if p.is_file():
        same_role = KINDS if kind != "discriminator" else ("discriminator",)
        if p.suffix in (".safetensors", ".json") and p.stem in same_role:
            return p.parent, p.stem
        names = " or ".join(f"{k}.safetensors" for k in same_role)
        raise GanworksError(f"{p} is not a run or snapshot directory (expected a folder with {kind}.safetensors, "
                            f"or the file {names})")
    if not (p / f"{kind}.safetensors").exists() or not (p / f"{kind}.json").exists():
        have = " (a run still training, or not a ganworks run?)" if (p / "config.json").exists() else ""
        raise GanworksError(f"{p} has no {kind}.safetensors and {kind}.json: "
                            f"not a finished ganworks run or snapshot{have}")
    return p, kind


def load_network(path: str | os.PathLike, kind: str = "generator", device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the saved ``kind`` network from ``path`` (run dir, snapshot dir or file) in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    d, kind = _resolve(path, kind)
    cfg_path, w_path = d / f"{kind}.json", d / f"{kind}.safetensors"
    regular_file(cfg_path, "model config")  # a FIFO here would block the reader forever
    regular_file(w_path, "weights file")
    info = load_json(cfg_path, NETWORK_JSON)
    try:
        arch, cfg = config_from_dict(info["model"])
    except (ValueError, KeyError, TypeError) as e:
        raise GanworksError(f"cannot read model config {cfg_path}: {e}") from None
    except GanworksError as e:
        raise GanworksError(f"{cfg_path}: {e}") from None
    # The fresh layers' random initialisation is overwritten below; drawing it from a forked RNG
    # leaves the caller's random stream untouched (``--eval-every`` loads G mid-run: without this,
    # evaluating would change how the run trains).
    with torch.random.fork_rng(devices=[]):
        module = build_discriminator(arch, cfg) if kind == "discriminator" else build_generator(arch, cfg)
    try:
        state = load_file(str(w_path))
    except (SafetensorError, OSError, ValueError) as e:
        raise GanworksError(f"corrupt or unreadable weights file {w_path}: {e}") from None
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        detail = " ".join(s.strip() for s in first[1:3]) if len(first) > 1 else first[0]
        raise GanworksError(f"weights in {w_path} do not match the {arch} config in {cfg_path}: {detail}") from None
    module.arch = arch  # type: ignore[attr-defined]
    return module.to(device).eval()


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """The trained generator of a run or snapshot directory, in eval mode. A run still training (no
    ``generator.safetensors`` yet) gives the generator (its EMA, when kept) of its latest valid checkpoint."""
    p = Path(path)
    if p.is_dir() and not (p / "generator.safetensors").exists() and (p / "config.json").is_file():
        return _generator_of_checkpoint(p, device)
    return load_network(path, "generator", device)


def _generator_of_checkpoint(run: Path, device: str | torch.device) -> nn.Module:
    """The sampling generator of ``run``'s latest valid checkpoint (a live run: checkpoints are only ever
    replaced whole, so a reader never sees one half-written)."""
    from .training.resume import latest_checkpoint, load_checkpoint, take

    ckpt, skipped = latest_checkpoint(run)
    if ckpt is None:
        why = f" ({skipped[0]})" if skipped else ""
        raise GanworksError(f"{run} has no generator.safetensors and no valid checkpoint yet{why}: a run still "
                            "training has a generator from its first checkpoint on (--checkpoint-kimg)")
    tensors, meta = load_checkpoint(ckpt)
    try:
        arch, cfg = config_from_dict(meta["model"])
    except (KeyError, TypeError, ValueError) as e:
        raise GanworksError(f"cannot read the model config of checkpoint {ckpt}: {e}") from None
    with torch.random.fork_rng(devices=[]):  # as in load_network: the caller's random stream is untouched
        module = build_generator(arch, cfg)
    state = take(tensors, "G_ema") or take(tensors, "G")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise GanworksError(f"the generator in checkpoint {ckpt} does not match its {arch} config: "
                            f"{str(e).strip().splitlines()[0]}") from None
    module.arch = arch  # type: ignore[attr-defined]
    return module.to(device).eval()


def load_discriminator(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """The trained discriminator of a run directory, in eval mode."""
    return load_network(path, "discriminator", device)


class Generator:
    """``Generator.from_pretrained(path)``: the diffusers-style spelling of :func:`load_generator`."""

    @staticmethod
    def from_pretrained(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
        return load_generator(path, device)
