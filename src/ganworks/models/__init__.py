"""Architectures by name. Each registry entry builds a (generator, discriminator) pair.

Every generator is ``G(z, y=None) -> (B, C, H, W)`` in [-1, 1] with ``G.cfg.z_dim`` and
``G.cfg.image_shape``; every discriminator is ``D(x, y=None) -> (B,)`` logits. Every config has
``sn`` (spectral normalization in D) and ``num_classes`` (0: unconditional; else y is required).

A model's config is a plain dict stored beside its weights (``generator.json``), so a saved
network can be rebuilt with no code from the file: ``load_generator(path)``.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Callable

from torch import nn

from ..errors import GanworksError, unknown_name
from .dcgan import DCGANConfig, DCGANDiscriminator, DCGANGenerator
from .mlp import MLPConfig, MLPDiscriminator, MLPGenerator
from .resnet import ResNetConfig, ResNetDiscriminator, ResNetGenerator

# name -> (config class, generator class, discriminator class)
ARCHITECTURES: dict[str, tuple[type, Callable[..., nn.Module], Callable[..., nn.Module]]] = {
    "mlp": (MLPConfig, MLPGenerator, MLPDiscriminator),
    "dcgan": (DCGANConfig, DCGANGenerator, DCGANDiscriminator),
    "resnet": (ResNetConfig, ResNetGenerator, ResNetDiscriminator),
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


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def validate_model_config(arch: str, cfg) -> None:
    """One-line GanworksErrors naming the flag and the bad value."""
    if not _is_int(cfg.z_dim) or cfg.z_dim <= 0:
        raise GanworksError(f"--z-dim must be a positive integer, got {cfg.z_dim!r}")
    for name in ("g_channels", "d_channels"):
        if hasattr(cfg, name) and (not _is_int(getattr(cfg, name)) or getattr(cfg, name) <= 0):
            raise GanworksError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(cfg, name)!r}")
    for name in ("g_hidden", "d_hidden"):
        if not hasattr(cfg, name):
            continue
        widths = getattr(cfg, name)
        if not isinstance(widths, tuple) or not widths or any(not _is_int(w) or w <= 0 for w in widths):
            flag = "--" + name.replace("_", "-")
            raise GanworksError(f"{flag} must be a comma-separated list of positive widths, got {widths!r}")
    p = getattr(cfg, "d_dropout", 0.0)
    if not 0.0 <= p < 1.0:
        raise GanworksError(f"--d-dropout must be in [0, 1), got {p}")
    if not _is_int(cfg.num_classes) or cfg.num_classes < 0:
        raise GanworksError(f"--num-classes must be a non-negative integer (0: unconditional), got {cfg.num_classes!r}")
    if getattr(cfg, "output", "tanh") not in ("tanh", "linear"):
        raise GanworksError(f"model output must be tanh or linear, got {cfg.output!r}")
    k = getattr(cfg, "z_categories", 0)
    if not _is_int(k) or k == 1 or k < 0:
        raise GanworksError(f"--z-categories must be 0 (off) or an integer >= 2, got {k!r}")
    if k and cfg.z_dim < 2:
        raise GanworksError(f"--z-categories {k} cuts the last latent coordinate and needs --z-dim >= 2, got {cfg.z_dim}")
    pack = getattr(cfg, "pack", 1)
    if not _is_int(pack) or pack < 1:
        raise GanworksError(f"--pack must be a positive integer (1: no packing), got {pack!r}")
    if pack > 1 and cfg.num_classes:
        raise GanworksError(f"--pack {pack} does not combine with --conditional: a pack of samples has no "
                            "single class label for the projection discriminator")
    if not isinstance(cfg.sn, bool):
        raise GanworksError(f"--sn must be true or false, got {cfg.sn!r}")
    shape = cfg.image_shape
    if len(shape) != 3 or any(not _is_int(s) or s <= 0 for s in shape):
        raise GanworksError(f"model {arch!r}: image_shape must be three positive integers (C, H, W), got {shape!r}")
    sizes = getattr(cfg, "image_sizes", None)  # None: any shape (mlp)
    if sizes is not None:
        got = "x".join(map(str, shape))
        if shape[1] != shape[2] or shape[1] not in sizes:
            valid = ", ".join(map(str, sizes[:-1])) + f" or {sizes[-1]}"
            raise GanworksError(f"model {arch!r} supports {valid} px square images, got {got}")
        if shape[0] not in (1, 3):
            raise GanworksError(f"model {arch!r} supports 1 (gray) or 3 (RGB) channels, got {got}")


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
