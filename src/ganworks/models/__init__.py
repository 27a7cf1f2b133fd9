"""Architectures by name. Each registry entry builds a (generator, discriminator) pair.

A model's config is a plain dict stored beside its weights (``generator.json``), so a saved
network can be rebuilt with no code from the file: ``load_generator(path)``.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Callable

from torch import nn

from ..errors import GanworksError, unknown_name
from .mlp import MLPConfig, MLPDiscriminator, MLPGenerator

# name -> (config class, generator class, discriminator class)
ARCHITECTURES: dict[str, tuple[type, Callable[..., nn.Module], Callable[..., nn.Module]]] = {
    "mlp": (MLPConfig, MLPGenerator, MLPDiscriminator),
}


def list_models() -> list[str]:
    return sorted(ARCHITECTURES)


def check_model(name: str) -> None:
    if name not in ARCHITECTURES:
        raise unknown_name("model", name, ARCHITECTURES)


def make_model_config(arch: str, **kwargs):
    """Build the typed config of ``arch`` from keyword arguments; unknown keys are errors."""
    check_model(arch)
    cfg_cls = ARCHITECTURES[arch][0]
    valid = {f.name for f in fields(cfg_cls)}
    bad = sorted(set(kwargs) - valid)
    if bad:
        raise GanworksError(f"model {arch!r} has no option {bad[0]!r}; valid: {', '.join(sorted(valid))}")
    # JSON stores tuples as lists; the dataclasses are frozen and hashable with tuples.
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    cfg = cfg_cls(**kwargs)
    validate_model_config(arch, cfg)
    return cfg


def validate_model_config(arch: str, cfg) -> None:
    if cfg.z_dim <= 0:
        raise GanworksError(f"--z-dim must be a positive integer, got {cfg.z_dim}")
    for name in ("g_hidden", "d_hidden"):
        widths = getattr(cfg, name, ())
        if not widths or any(int(w) <= 0 for w in widths):
            flag = "--" + name.replace("_", "-")
            raise GanworksError(f"{flag} must be a comma-separated list of positive widths, got {widths!r}")
    p = getattr(cfg, "d_dropout", 0.0)
    if not 0.0 <= p < 1.0:
        raise GanworksError(f"--d-dropout must be in [0, 1), got {p}")


def build_generator(arch: str, cfg) -> nn.Module:
    check_model(arch)
    return ARCHITECTURES[arch][1](cfg)


def build_discriminator(arch: str, cfg) -> nn.Module:
    check_model(arch)
    return ARCHITECTURES[arch][2](cfg)


def config_to_dict(arch: str, cfg) -> dict:
    return {"arch": arch, **asdict(cfg)}


def config_from_dict(d: dict):
    d = dict(d)
    arch = d.pop("arch", None)
    if arch is None:
        raise GanworksError("model config has no 'arch' field")
    return arch, make_model_config(arch, **d)
