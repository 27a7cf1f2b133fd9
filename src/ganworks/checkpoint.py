"""The former name of :mod:`ganworks.release` (release snapshots: trained networks as safetensors +
JSON), kept so that existing imports keep working."""

from .release import KINDS, Generator, _resolve, load_discriminator, load_generator, load_network, save_network, unwrap

__all__ = ["KINDS", "Generator", "load_discriminator", "load_generator", "load_network", "save_network", "unwrap",
           "_resolve"]
