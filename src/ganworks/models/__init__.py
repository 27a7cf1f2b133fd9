"""Architectures by name. Each registry entry builds a (generator, discriminator) pair.

Every generator is ``G(z, y=None) -> (B, C, H, W)`` in [-1, 1] with ``G.cfg.z_dim`` and
``G.cfg.image_shape``; every discriminator is ``D(x, y=None) -> (B,)`` logits. Every config has
``sn`` (spectral normalization in D) and ``num_classes`` (0: unconditional; else y is required).

A model's config is a plain dict stored beside its weights (``generator.json``), so a saved
network can be rebuilt with no code from the file: ``load_generator(path)``.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, fields
from typing import TYPE_CHECKING

from ..errors import GanworksError, unknown_name
from ..options import Option, options_of, validate_fields
from .configs import (ARCH_CONFIGS, DCGANConfig, MLPConfig, R3Config, ResNetConfig, SeqConfig, generator_embeds,
                      generator_input_width)

if TYPE_CHECKING:
    from torch import nn

# name -> (module, generator class, discriminator class); imported on first use, so that reading
# configs and options (the command line, validation) does not load torch.
NETWORKS = {"mlp": ("mlp", "MLPGenerator", "MLPDiscriminator"),
            "dcgan": ("dcgan", "DCGANGenerator", "DCGANDiscriminator"),
            "resnet": ("resnet", "ResNetGenerator", "ResNetDiscriminator"),
            "r3": ("r3", "R3Generator", "R3Discriminator"),
            "seq": ("seq", "SeqGenerator", "SeqDiscriminator")}

__all__ = ["ARCH_CONFIGS", "MLPConfig", "DCGANConfig", "ResNetConfig", "R3Config", "SeqConfig", "list_models",
           "check_model", "make_model_config", "validate_model_config", "build_generator", "build_discriminator",
           "config_to_dict", "config_from_dict", "model_options", "saved_before", "generator_embeds"]


def _network(arch: str, which: int):
    check_model(arch)
    module, *classes = NETWORKS[arch]
    return getattr(importlib.import_module(f".{module}", __name__), classes[which])


def model_options() -> dict[str, tuple[Option, list[str]]]:
    """Every architecture option with a flag: name -> (its Option, the architectures that have it)."""
    out: dict[str, tuple[Option, list[str]]] = {}
    for arch in ARCH_CONFIGS:  # mlp first: the default
        for name, opt in options_of(ARCH_CONFIGS[arch]).items():
            out.setdefault(name, (opt, []))[1].append(arch)
    return out


def list_models() -> list[str]:
    return sorted(ARCH_CONFIGS)


def check_model(name: str) -> None:
    if name not in ARCH_CONFIGS:
        raise unknown_name("model", name, ARCH_CONFIGS)


def list_model_choices() -> list[str]:
    """What ``--model`` accepts: ``auto`` (the recipe for the data, ``ganworks.config.RECIPES``) and every
    architecture."""
    return ["auto", *list_models()]


def check_model_choice(name: str) -> None:
    if name != "auto" and name not in ARCH_CONFIGS:
        raise unknown_name("model", name, list_model_choices())


def make_model_config(arch: str, **kwargs):
    """Build the typed config of ``arch`` from keyword arguments; unknown keys are errors."""
    check_model(arch)
    cfg_cls = ARCH_CONFIGS[arch]
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
    """One-line GanworksErrors naming the flag and the bad value: each option's own check (from its
    field in ``configs.py``), then the internal fields and the combinations."""
    validate_fields(cfg)
    if not _is_int(cfg.num_classes) or cfg.num_classes < 0:
        raise GanworksError(f"model option num_classes must be a non-negative integer (0: unconditional; "
                            f"--conditional sets it from the data), got {cfg.num_classes!r}")
    if getattr(cfg, "output", "tanh") not in ("tanh", "linear"):
        raise GanworksError(f"model output must be tanh or linear, got {cfg.output!r}")
    k = getattr(cfg, "z_categories", 0)
    if k and cfg.z_dim < 2:
        raise GanworksError(f"--z-categories {k} cuts the last latent coordinate and needs --z-dim >= 2, "
                            f"got {cfg.z_dim}")
    pack = getattr(cfg, "pack", 1)
    if pack > 1 and cfg.num_classes:
        raise GanworksError(f"--pack {pack} does not combine with --conditional: a pack of samples has no "
                            "single class label for the projection discriminator")
    group = getattr(cfg, "group_size", 0)  # r3: grouped convolutions over the widened channels
    for flag, name in (("--g-channels", "g_channels"), ("--d-channels", "d_channels")):
        ch = getattr(cfg, name, 0)
        if group and (ch * cfg.expansion) % group:
            raise GanworksError(f"--group-size {group} must divide the widened channels: {flag} {ch} x --expansion "
                                f"{cfg.expansion} = {ch * cfg.expansion}")
    if isinstance(cfg, SeqConfig):  # token sequences: the shape is a vocabulary and a length, set from the data
        for name, least in (("vocab_size", 2), ("seq_len", 1)):
            if not _is_int(getattr(cfg, name)) or getattr(cfg, name) < least:
                raise GanworksError(f"model 'seq': {name} must be an integer of at least {least}, "
                                    f"got {getattr(cfg, name)!r}")
        check_model_size(arch, cfg)
        return
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
    check_model_size(arch, cfg)


def _mlp_parameters(n_in: int, hidden, n_out: int) -> int:
    widths = [n_in, *hidden, n_out]
    return sum((a + 1) * b for a, b in zip(widths, widths[1:]))  # weights and biases of each Linear


def parameter_count(arch: str, cfg) -> int:
    """G's and D's parameters together, counted without allocating them: the MLP from its widths (the
    sum of products of consecutive widths), the convolutional models built on the meta device."""
    if arch == "seq":  # embeddings, the LSTM's four gates (two biases), read-out; D's embedding, convolutions, logit
        V, E, H, F = cfg.vocab_size, cfg.emb_dim, cfg.hidden_dim, cfg.d_filters
        widths = {min(k, cfg.seq_len) for k in (2, 3, 4, 5)}
        return ((V + 1) * E + 4 * H * (E + H + 2) + (H + 1) * V
                + V * E + sum(E * F * k + F for k in widths) + F * len(widths) + 1)
    if arch == "mlp":
        c, h, w = cfg.image_shape
        n_in = generator_input_width(cfg)
        embedding = cfg.num_classes * cfg.z_dim if generator_embeds(cfg) else 0
        g = _mlp_parameters(n_in, cfg.g_hidden, c * h * w) + embedding
        d = _mlp_parameters(c * h * w * cfg.pack, cfg.d_hidden, 1) + cfg.num_classes * cfg.d_hidden[-1]
        return g + d
    import torch

    with torch.device("meta"):  # shapes only: no memory, no random numbers drawn
        nets = build_generator(arch, cfg), build_discriminator(arch, cfg)
    return sum(p.numel() for net in nets for p in net.parameters())


#: The flags that make each architecture big, for the message when it cannot fit.
_SIZE_FLAGS = {"mlp": "--g-hidden, --d-hidden or --z-dim",
               "seq": "--emb-dim, --hidden-dim, --d-filters or the vocabulary"}


def check_model_size(arch: str, cfg) -> None:
    """Refuse, before anything is built, a model whose float32 weights alone exceed the memory available."""
    from ..files import check_fits

    n = parameter_count(arch, cfg)
    flags = _SIZE_FLAGS.get(arch, "--g-channels, --d-channels or --z-dim")
    check_fits(4 * n, f"model {arch!r} with {n:.3g} parameters", f"reduce {flags} (or the class count or image size)")


def build_generator(arch: str, cfg) -> nn.Module:
    return _network(arch, 0)(cfg)


def build_discriminator(arch: str, cfg) -> nn.Module:
    return _network(arch, 1)(cfg)


def config_to_dict(arch: str, cfg) -> dict:
    return {"arch": arch, **asdict(cfg)}


#: Options that a model saved before they existed lacks, with the value its networks were built with.
SAVED_BEFORE = {"class_code": "embedding"}


def saved_before(arch: str, saved: dict) -> dict:
    """The options of :data:`SAVED_BEFORE` that architecture ``arch`` has and a saved model config lacks."""
    check_model(arch)
    known = {f.name for f in fields(ARCH_CONFIGS[arch])}
    return {k: v for k, v in SAVED_BEFORE.items() if k in known and k not in saved}


def config_from_dict(d: dict):
    d = dict(d)
    arch = d.pop("arch", None)
    if arch is None:
        raise GanworksError("model config has no 'arch' field")
    return arch, make_model_config(arch, **d, **saved_before(arch, d))
