"""ganworks: train, sample, evaluate and understand generative adversarial networks.

The public names are loaded on first use (PEP 562), so ``import ganworks`` is cheap and loads no
torch: the command line answers ``--help`` and ``--version`` without the training stack.
"""

from ._version import __version__

# public name -> the submodule that defines it (imported when the name is first read)
_LAZY = {
    "Generator": "release",
    "load_discriminator": "release",
    "load_generator": "release",
    "TrainConfig": "config",
    "GanworksError": "errors",
    "interpolate": "sampling",
    "sample": "sampling",
    "train": "training",
}

__all__ = ["TrainConfig", "GanworksError", "Generator", "train", "load_generator", "load_discriminator", "sample",
           "interpolate", "__version__"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'ganworks' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value  # later reads skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
