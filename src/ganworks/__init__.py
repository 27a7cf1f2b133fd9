"""ganworks: train, sample, evaluate and understand generative adversarial networks."""

__version__ = "0.1.0"

from .checkpoint import Generator, load_discriminator, load_generator  # noqa: E402
from .config import TrainConfig  # noqa: E402
from .errors import GanworksError  # noqa: E402
from .sampling import interpolate, sample  # noqa: E402
from .training import train  # noqa: E402

__all__ = ["TrainConfig", "GanworksError", "Generator", "train", "load_generator", "load_discriminator", "sample",
           "interpolate", "__version__"]
