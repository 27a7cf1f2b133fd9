"""Feature extractors: networks that turn uint8 images into features and class probabilities.

>>> from ganworks.metrics.extractors import get_extractor
>>> ex = get_extractor("lenet-mnist")
>>> ex.features(images)   # float64 (N, 128): the penultimate layer, for FD, KID, PR, DC
>>> ex.probs(images)      # float64 (N, 10): softmax, for the classifier score and mode counts

Built in (:data:`EXTRACTORS`):

* ``lenet-mnist`` and ``lenet-fashion``: the small CNNs of :mod:`ganworks.metrics.classifier`,
  shipped in ``ganworks/metrics/weights/`` (no network needed). Before use, the sha256 of the
  ``.safetensors`` file is checked against the ``sha256`` its ``.json`` records.
* ``inception``: Inception-v3 as torch-fidelity ports it from the TensorFlow FID/IS graph
  (2048-d pool features, 1008 logits). It needs the optional package torch-fidelity
  (``pip install 'ganworks[inception]'``), and its weights are downloaded on first use unless you
  pass ``weights=PATH`` (``--inception-weights PATH`` on the command line) on an offline machine.

Results do not depend on ``batch_size``: every forward pass sees at least :data:`MIN_BATCH`
images (a short last batch is padded with black images whose outputs are dropped), because
PyTorch's CPU convolutions pick other kernels, with other rounding, for a handful of images.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..errors import GanworksError, unknown_name
from ..schema import Dict, Int, Str, load_json
from .classifier import ARCH, FEATURE_DIM, LeNet, sha256_file, to_input

__all__ = ["EXTRACTORS", "Extractor", "InceptionExtractor", "LeNetExtractor", "MIN_BATCH", "WEIGHTS_DIR",
           "as_uint8_images", "get_extractor", "list_extractors"]

#: Where the shipped classifier weights live.
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
# The .json beside an extractor's weights, as ganworks classifier writes it; only LeNet can be rebuilt.
WEIGHTS_JSON = Dict({"sha256": Str(), "arch": Dict({"name": Str((ARCH,))}, optional={
    "num_classes": Int(2, 10_000), "feature_dim": Int(FEATURE_DIM, FEATURE_DIM)})})
#: No forward pass sees fewer images than this (see the module docstring).
MIN_BATCH = 32


def as_uint8_images(images, what: str = "images") -> torch.Tensor:
    """numpy or torch uint8 (N, H, W) or (N, C, H, W) -> a uint8 torch tensor (N, C, H, W)."""
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8:
            raise GanworksError(f"{what}: expected uint8 pixels, got dtype {images.dtype}")
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, torch.Tensor):
        raise GanworksError(f"{what}: expected a uint8 array, got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise GanworksError(f"{what}: expected uint8 pixels, got dtype {str(images.dtype).replace('torch.', '')}")
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise GanworksError(f"{what}: expected shape (N, H, W) or (N, C, H, W), got {tuple(images.shape)}")
    return images


class Extractor:
    """What every extractor provides. Subclasses set the attributes and implement :meth:`_forward`."""

    name: str
    weights_sha256: str
    weights_path: str
    num_classes: int
    feature_dim: int
    input_shape: tuple  # (C, H, W); None for a free size
    input_description: str

    def _check(self, images) -> torch.Tensor:
        x = as_uint8_images(images, f"extractor {self.name!r}")
        c, h, w = self.input_shape
        ok = x.shape[1] in (c if isinstance(c, tuple) else (c,)) and (h is None or (x.shape[2], x.shape[3]) == (h, w))
        if not ok:
            raise GanworksError(f"extractor {self.name!r} expects {self.input_description}; got images of shape "
                                f"{tuple(x.shape)}")
        return x

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 (B, C, H, W) -> (features (B, D), logits (B, K)), B >= MIN_BATCH."""
        raise NotImplementedError

    @torch.no_grad()
    def features_and_probs(self, images, batch_size: int = 500,
                           progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """float64 features (N, D) and class probabilities (N, K) in one pass over ``images``."""
        x = self._check(images)
        n = x.shape[0]
        bs = max(int(batch_size), MIN_BATCH)
        feats = np.empty((n, self.feature_dim), dtype=np.float64)
        probs = np.empty((n, self.num_classes), dtype=np.float64)
        for i in range(0, n, bs):
            xb = x[i:i + bs]
            m = xb.shape[0]
            if m < MIN_BATCH:  # pad a short batch so the kernels (and their rounding) stay the same
                xb = torch.cat([xb, xb.new_zeros((MIN_BATCH - m, *xb.shape[1:]))])
            f, logits = self._forward(xb)
            feats[i:i + m] = f[:m].double().cpu().numpy()
            probs[i:i + m] = torch.softmax(logits[:m].double(), dim=1).cpu().numpy()
            if progress:
                progress(min(i + bs, n), n)
        return feats, probs

    def features(self, images, batch_size: int = 500) -> np.ndarray:
        """float64 (N, feature_dim)."""
        return self.features_and_probs(images, batch_size)[0]

    def probs(self, images, batch_size: int = 500) -> np.ndarray:
        """float64 (N, num_classes) class probabilities (softmax)."""
        return self.features_and_probs(images, batch_size)[1]

    def provenance(self) -> dict[str, Any]:
        return {"name": self.name, "weights_sha256": self.weights_sha256, "weights_file": self.weights_path,
                "feature_dim": self.feature_dim, "num_classes": self.num_classes}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} sha256 {self.weights_sha256[:12]}>"


class LeNetExtractor(Extractor):
    """A shipped (or your own, ``weights=PATH``) LeNet classifier: 128-d features, 10 classes, 1x28x28 input."""

    input_shape = (1, 28, 28)
    input_description = "uint8 grayscale 28x28 images, shape (N, 1, 28, 28) or (N, 28, 28)"

    def __init__(self, name: str, weights: str | os.PathLike | None = None):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        self.name = name
        w_path = Path(weights) if weights is not None else WEIGHTS_DIR / f"{name}.safetensors"
        j_path = w_path.with_suffix(".json")
        if not w_path.is_file() or not j_path.is_file():
            missing = w_path if not w_path.is_file() else j_path
            raise GanworksError(f"extractor {name!r}: weights file {missing} is missing (reinstall ganworks, or "
                                "train one with: ganworks classifier train)")
        try:
            info = load_json(j_path, WEIGHTS_JSON)
        except GanworksError as e:
            raise GanworksError(f"extractor {name!r}: {e}") from None
        recorded, arch = info["sha256"], info["arch"]
        actual = sha256_file(w_path)
        if actual != recorded:
            raise GanworksError(f"extractor {name!r}: weights file {w_path} has sha256 {actual[:16]}..., but "
                                f"{j_path.name} records {recorded[:16]}...; the file is corrupt or was replaced "
                                "(reinstall ganworks)")
        with torch.random.fork_rng(devices=[]):  # the initialisation is overwritten: keep the caller's RNG as it was
            net = LeNet(num_classes=int(arch.get("num_classes", 10)))
        try:
            net.load_state_dict(load_file(str(w_path)), strict=True)
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise GanworksError(f"extractor {name!r}: cannot load {w_path}: {str(e).splitlines()[0]}") from None
        self.net = net.eval()
        self.info = info
        self.weights_sha256 = actual
        self.weights_path = str(w_path)
        self.num_classes = net.num_classes
        self.feature_dim = int(arch.get("feature_dim", 128))

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.net.features(to_input(x))
        return f, self.net.head(f)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "trained_on": self.info.get("training_data", {}).get("dataset"),
                "test_accuracy": self.info.get("test_accuracy")}


INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's name for them


class InceptionExtractor(Extractor):
    """Inception-v3 from torch-fidelity: 2048-d pool3 features; probabilities from its 1008 unbiased logits.

    Grayscale images are repeated to 3 channels; any size is resized to 299x299 inside
    torch-fidelity (bilinear, as TensorFlow 1.x did).
    """

    name = "inception"
    input_shape = ((1, 3), None, None)
    input_description = "uint8 images with 1 or 3 channels, shape (N, C, H, W) or (N, H, W)"
    num_classes = 1008
    feature_dim = 2048

    def __init__(self, weights: str | os.PathLike | None = None):
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        except ImportError:
            raise GanworksError("extractor 'inception' needs the optional package torch-fidelity: "
                                "pip install 'ganworks[inception]'; offline, also pass its weights file with "
                                "--inception-weights PATH") from None
        if weights is not None and not Path(weights).is_file():
            raise GanworksError(f"--inception-weights {weights}: no such file")
        try:
            self.net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                                   feature_extractor_weights_path=None if weights is None
                                                   else str(weights))
        except Exception as e:  # a failed download or a wrong file: one line
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise GanworksError(f"extractor 'inception': cannot load the Inception-v3 weights ({first}); offline, "
                                "pass the file with --inception-weights PATH") from None
        path = Path(weights) if weights is not None else Path(torch.hub.get_dir()) / "checkpoints" / \
            INCEPTION_WEIGHTS_FILE
        self.weights_path = str(path)
        self.weights_sha256 = sha256_file(path) if path.is_file() else "unknown (" + INCEPTION_WEIGHTS_FILE + ")"

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1).contiguous()
        feats, logits = self.net(x)
        return feats, logits


#: Extractor factories by name: ``EXTRACTORS[name](weights=None) -> Extractor``.
EXTRACTORS: dict[str, Callable[..., Extractor]] = {
    "lenet-mnist": lambda weights=None: LeNetExtractor("lenet-mnist", weights),
    "lenet-fashion": lambda weights=None: LeNetExtractor("lenet-fashion", weights),
    "inception": lambda weights=None: InceptionExtractor(weights),
}


def list_extractors() -> list[str]:
    return sorted(EXTRACTORS)


def get_extractor(name: str, weights: str | os.PathLike | None = None) -> Extractor:
    """A ready extractor by name (:data:`EXTRACTORS`); ``weights`` overrides its weights file."""
    try:
        factory = EXTRACTORS[name]
    except KeyError:
        raise unknown_name("feature extractor", name, EXTRACTORS) from None
    return factory(weights=weights)
