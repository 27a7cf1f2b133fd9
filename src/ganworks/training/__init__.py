"""The training loop and run directories."""

from .loop import train

__all__ = ["train"]
