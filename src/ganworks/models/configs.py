"""The options of every architecture: one frozen dataclass each, with no torch import.

Each field that a user may set is declared with :func:`ganworks.options.option`, so its flag
(``--g-hidden``), help, check and resume rule come from here and nowhere else; the command line
collects the flags of every architecture (``ganworks train --help``). ``image_shape``,
``num_classes`` and ``output`` are filled in from the data, so they have no flag.

The networks themselves live in ``mlp.py``, ``dcgan.py``, ``resnet.py``, ``r3.py`` and ``seq.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..options import Bool, Choice, Custom, Int, UNIT, Widths, option

#: Image sides the convolutional models build for, and the starting map of G for each.
BASE_SIZE = {28: 7, 32: 4, 64: 4}

GROUP = "what to train"


def _z_dim(default: int):
    return option(default, help="latent dimension (default: 100 for mlp and dcgan, 128 for resnet, 64 for r3)",
                  check=Int(1), group=GROUP)


def _sn():
    return option(False, help="spectral normalization on D's layers (Miyato et al. 2018)", check=Bool(), group=GROUP)


def _pack():
    # PacGAN (Lin et al. 2018): D judges M samples at once, concatenated along the channels, and returns
    # one logit per pack; 1 is the ordinary D.
    return option(1, help="PacGAN: D judges M samples at once (Lin et al. 2018); the batch must divide by M",
                  check=Int(1, describe="must be a positive integer (1: no packing)"), group=GROUP, metavar="M")


#: 0 (off) or a count of at least 2 (--z-categories, --mbstd): 1 would be a no-op with a cost.
_OFF_OR_AT_LEAST_TWO = Custom(Int(0), lambda k: isinstance(k, int) and not isinstance(k, bool) and (k == 0 or k >= 2),
                              "must be 0 (off) or an integer >= 2")


def _z_categories():
    # z_categories K > 1: the last latent coordinate is cut into K equally likely bins (by its normal CDF)
    # and G sees the bin one-hot in its place, so the latent space falls into K disconnected pieces. A
    # continuous G maps a connected latent space to a connected set, so on data with separated modes it
    # must lay some samples on bridges between them; with pieces it need not (Khayatkhoei et al. 2018,
    # "Disconnected Manifold Learning for Generative Adversarial Networks"). z stays standard normal, so
    # sampling and seeds are unchanged; z_dim counts the cut coordinate.
    return option(0, help="cut the last latent coordinate into K equally likely bins, seen one-hot by G: a "
                          "disconnected latent space for data with separated modes (0: off)",
                  check=_OFF_OR_AT_LEAST_TWO, group=GROUP, metavar="K")


#: How a conditional G sees its class (``--class-code``): one-hot, or a learned embedding as wide as z.
CLASS_CODES = ("onehot", "embedding")


def _class_code():
    # The learned embedding (N(0, 1) at the start, as strong as z) let the image recipe's G ignore z on mnist-5k:
    # one image per class (recall 0), with DiffAugment too and with D's class term 10x weaker. With the class
    # one-hot (magnitude 1, as Mirza & Osindero 2014 fed it) the same G kept z (docs/research/recipes.md).
    return option("onehot", help="conditional G: how it sees its class, onehot (concatenated to z, as in the "
                                 "2014 conditional GAN) or embedding (learned, z_dim wide; collapsed each class to "
                                 "one image in the DCGAN recipe)", check=Choice(CLASS_CODES),
                  group=GROUP, metavar="CODE")


def generator_embeds(cfg) -> bool:
    """True when a conditional G of this config learns a class embedding (``--class-code embedding``)."""
    return bool(cfg.num_classes) and getattr(cfg, "class_code", None) == "embedding"


def generator_input_width(cfg) -> int:
    """The width of what G's first layer sees: z (its last coordinate cut into ``z_categories`` one-hot bins
    when the architecture has that option and it is on), then, if conditional, the class code: one-hot
    (num_classes wide) or the learned embedding (z_dim wide)."""
    k = getattr(cfg, "z_categories", 0)
    code = cfg.z_dim if generator_embeds(cfg) else cfg.num_classes  # num_classes is 0 when unconditional
    return cfg.z_dim + (k - 1 if k else 0) + code


_WIDTH_RULE = {"generator": "dcgan: its last hidden layer, each layer towards the noise twice as wide",
               "discriminator": "dcgan: its first layer, each later layer twice as wide"}


def _channels(net: str, default: int = 64):
    return option(default, help=f"{net} base width ({_WIDTH_RULE[net]}; resnet, r3: every block)", check=Int(1),
                  group=GROUP)


# num_classes: 0 unconditional; K > 0: G and D take labels y in [0, K) (set by --conditional from the data).
# image_shape: (C, H, W) of the data. Neither has a flag.


@dataclass(frozen=True)
class MLPConfig:
    """Widths of the MLP pair of the 2014 paper. ``image_shape`` is (C, H, W) of the data."""

    image_shape: tuple[int, int, int] = (1, 28, 28)
    z_dim: int = _z_dim(100)
    g_hidden: tuple[int, ...] = option((256, 512, 1024), help="generator hidden widths, e.g. 256,512,1024",
                                       check=Widths(), group=GROUP)
    d_hidden: tuple[int, ...] = option((512, 256), help="discriminator hidden widths, e.g. 512,256",
                                       check=Widths(), group=GROUP)
    d_dropout: float = option(0.3, help="dropout in D's hidden layers", check=UNIT, group=GROUP)
    # BatchNorm in G is not in the 2014 paper; it speeds up learning.
    g_batchnorm: bool = option(False, help="BatchNorm in G's hidden layers", check=Bool(), group=GROUP)
    sn: bool = _sn()
    num_classes: int = 0
    class_code: str = _class_code()
    pack: int = _pack()
    output: str = "tanh"
    """G's output activation: tanh for images in [-1, 1]; linear for unbounded data (2-D points)."""
    z_categories: int = _z_categories()


@dataclass(frozen=True)
class DCGANConfig:
    """``image_shape`` is (C, H, W) with C in {1, 3} and H = W in {28, 32, 64}."""

    image_shape: tuple[int, int, int] = (1, 28, 28)
    z_dim: int = _z_dim(100)
    g_channels: int = _channels("generator")
    d_channels: int = _channels("discriminator")
    # Off by default: BatchNorm makes each image's logit depend on the rest of its batch (see dcgan.py).
    d_batchnorm: bool = option(False, help="BatchNorm in D after every convolution but the first",
                               check=Bool(), group=GROUP)
    # Extra capacity where G lays out the whole digit: a 3x3 convolution (+ BatchNorm + ReLU) at each
    # resolution below the output, after that resolution's upsampling (0: the plain DCGAN of Radford et al.).
    g_extra: int = option(0, help="extra 3x3 convolutions in G at each resolution below the output "
                                  "(0: the plain DCGAN)", check=Int(0), group=GROUP, metavar="N")
    # D's mirror of g_extra: a 3x3 convolution (+ LeakyReLU) after each of D's downsamplings.
    d_extra: int = option(0, help="extra 3x3 convolutions in D after each downsampling (0: the plain DCGAN)",
                          check=Int(0), group=GROUP, metavar="N")
    # Minibatch standard deviation (Karras et al. 2018, ProGAN; StyleGAN's default group of 4): D sees how
    # much a group of its inputs vary, so a G that makes the same image again and again is easy to spot.
    mbstd: int = option(0, help="minibatch standard deviation: D's last feature map gets one channel with the "
                                "spread of each group of this many inputs (ProGAN, StyleGAN: 4; 0: off)",
                        check=_OFF_OR_AT_LEAST_TWO, group=GROUP, metavar="G")
    sn: bool = _sn()
    num_classes: int = 0
    class_code: str = _class_code()
    pack: int = _pack()
    z_categories: int = _z_categories()

    image_sizes: ClassVar[tuple[int, ...]] = tuple(BASE_SIZE)


@dataclass(frozen=True)
class ResNetConfig:
    """``image_shape`` is (C, H, W) with C in {1, 3} and H = W in {28, 32, 64}."""

    image_shape: tuple[int, int, int] = (1, 28, 28)
    z_dim: int = _z_dim(128)
    g_channels: int = _channels("generator")
    d_channels: int = _channels("discriminator")
    sn: bool = _sn()
    num_classes: int = 0
    pack: int = _pack()

    image_sizes: ClassVar[tuple[int, ...]] = tuple(BASE_SIZE)


@dataclass(frozen=True)
class R3Config:
    """R3GAN's modern ResNet (``r3.py``). ``image_shape`` is (C, H, W) with C in {1, 3} and H = W in
    {28, 32, 64}; ``g_channels`` and ``d_channels`` times ``expansion`` must divide by ``group_size``."""

    image_shape: tuple[int, int, int] = (1, 28, 28)
    z_dim: int = _z_dim(64)
    g_channels: int = _channels("generator", 32)
    d_channels: int = _channels("discriminator", 32)
    blocks: int = option(1, help="r3: residual blocks per resolution", check=Int(1), group=GROUP)
    expansion: int = option(2, help="r3: each block's inverted bottleneck widens its channels this many times",
                            check=Int(1), group=GROUP)
    group_size: int = option(16, help="r3: channels per group of each block's grouped 3x3 convolution "
                                      "(must divide the widened channels)", check=Int(1), group=GROUP)
    sn: bool = _sn()
    num_classes: int = 0
    class_code: str = _class_code()
    pack: int = _pack()

    image_sizes: ClassVar[tuple[int, ...]] = tuple(BASE_SIZE)


@dataclass(frozen=True)
class SeqConfig:
    """The sequence pair of ``seq.py``: an LSTM generator of tokens and a CNN discriminator over their
    embeddings (SeqGAN, Yu et al. 2017; RelGAN, Nie et al. 2019). ``vocab_size``, ``seq_len`` and ``eos``
    come from the data: token 0 ends a sequence when ``eos`` is true (every later position is 0 too)."""

    vocab_size: int = 2
    seq_len: int = 1
    eos: bool = False
    emb_dim: int = option(32, help="seq: token embedding width of G and of D (SeqGAN's oracle: 32)", check=Int(1),
                          group=GROUP)
    hidden_dim: int = option(32, help="seq: G's LSTM hidden units (SeqGAN's oracle: 32)", check=Int(1), group=GROUP)
    d_filters: int = option(64, help="seq: D's convolution filters per kernel width (widths 2, 3, 4, 5)",
                            check=Int(1), group=GROUP)
    sn: bool = _sn()
    num_classes: int = 0


#: Architecture name -> its config class (the networks are looked up in ``ganworks.models``).
ARCH_CONFIGS: dict[str, type] = {"mlp": MLPConfig, "dcgan": DCGANConfig, "resnet": ResNetConfig, "r3": R3Config,
                                 "seq": SeqConfig}
