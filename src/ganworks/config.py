"""Typed training configuration: the single definition of every ``ganworks train`` option.

Each field of :class:`TrainConfig` is declared with :func:`ganworks.options.option`, carrying its
flag, help, check and whether ``--resume`` may change it. From those fields come the argparse parser
(``ganworks.cli``), ``--help``, the validation here (the same message for the command line and the
Python API, ``ganworks.train(TrainConfig(...))``), the ``--resume`` rule (:data:`RESUME_SAFE`) and
``docs/options.md`` (:func:`options_markdown`). Model options come the same way from each
architecture's config dataclass (``ganworks.models.configs``). Adding an option = one field here and
its use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import GanworksError
from .options import (NONNEGATIVE, POSITIVE, SEED, UNIT, Bool, Check, Choice, Custom, Float, Int, Option, Registered,
                      Text, field_default, option, options_of, validate_fields)

DEVICES = ("auto", "cpu", "cuda")
OPTIMIZERS = ("adam", "rmsprop")
PRECISIONS = ("auto", "fp32", "bf16")
LR_SCHEDULES = ("constant", "linear", "cosine", "cooldown")
ON_NAN = ("stop", "rollback")
ESTIMATORS = ("gumbel", "reinforce")  # how G's gradient passes a discrete token (ganworks.sequences.estimators)
GUMBEL_SCHEDULES = ("exp", "linear", "constant")
TOKENS = ("char", "word")
SMOOTHABLE = ("minimax", "ns")  # the objectives whose D loss is the binary cross-entropy

# argparse groups of ``ganworks train --help``, in this order.
WHAT, HOW, OUTPUT, CKPT = "what to train", "how long and how", "output", "checkpoints, resume and divergence"
SEQ = "token sequences (docs/sequences.md)"
GROUPS = (WHAT, HOW, OUTPUT, CKPT, SEQ)


@dataclass(frozen=True)
class Resolved:
    """The settings a run actually used, after objective defaults were applied."""

    optimizer: str
    lr_g: float
    lr_d: float
    betas: tuple[float, float]
    d_steps: int
    clip: float
    gp_weight: float


#: ``--lr-schedule cooldown``: the share of the run at its end over which the rates fall linearly to 0, where
#: neither the user (``--cooldown-share``) nor a recipe sets it. Hägele et al. 2024 found 20% enough.
COOLDOWN_SHARE = 0.2

#: What ``--model auto`` (the default) trains, by the kind of data: the model, its options and the
#: settings a run leaves unset. "images": the recipe with the best quality per CPU-minute in
#: ``benchmarks/quality_budget.py`` (docs/research/recipes.md); "points" (the 1-D and 2-D toy sets):
#: the 2014 paper's MLP pair, which auto also picks on images when an option only the MLP has is given
#: (``--g-hidden``, ...). A flag the user gives always wins over the recipe. Below: each image recipe for one
#: dataset (DATA_RECIPES) and for a CPU without bf16 units (CPU_WITHOUT_BF16_CHANGES).
RECIPES: dict[str, dict[str, Any]] = {
    "images": {"model": "dcgan",
               # D narrower than G: 1.1-1.4x the images per minute, and the better samples at 10 minutes
               # (docs/research/recipes.md).
               "model_options": {"g_channels": 48, "d_channels": 32, "sn": True, "g_extra": 1, "d_extra": 1},
               "batch_size": 64, "ema_kimg": 10.0, "ema_rampup": 0.05,
               # Constant, then linear to 0 over the last 20% of the run (of --minutes where given).
               "lr_schedule": "cooldown",
               # Used by objectives without a paper rate (or betas) of their own (ns, hinge, lsgan, ...; not the
               # WGANs, not rpgan's betas): 6e-4 with beta2 0.99, FD 1.1 against 1.4-1.8 for 4e-4 with 0.999 at
               # 10 minutes on Fashion-MNIST (docs/research/recipes.md).
               "lr": 6e-4, "betas": (0.5, 0.99),
               # Where it applies (one D step per G step, D trained): 20-30% more images per second.
               "reuse_fakes": True},
    "points": {"model": "mlp"},
}
#: The image recipe with settings changed for one dataset (``--data`` NAME, the recipe's name in
#: ``config.json``). Fashion-MNIST: Adam without momentum, FD 5-20% lower (mean 15%) than betas (0.5, 0.99) in
#: three paired runs; on mnist-5k the FD was split and on Stacked MNIST the KL worse (docs/research/recipes.md).
#: mnist-5k: a larger G (width 64, two 3x3 convolutions per resolution) and Adam without momentum: 85% of
#: the digits classified confidently against 80% at 10 minutes, FD no worse, in two paired runs, though it sees
#: 30% fewer images per minute; on Fashion-MNIST the same G lost (FD 3.1 against 1.5, recall 0.56).
#: Both are class-conditional (G sees its class one-hot; samples draw the classes evenly): on a CPU without bf16
#: units, 10 minutes gave mnist-5k 95.5% / 95.6% / 97.1% confident against 72-78% and Fashion-MNIST FD 2.94 /
#: 3.73 / 2.74 against 5.18 / 5.36 / 5.34, no near copies beyond real digits' share (docs/research/recipes.md).
#: Fashion-MNIST's conditional pair trained at lr 1e-3: with bf16, 10 minutes gave FD 0.87 / 0.92 / 0.84 / 1.15 / 0.86
#: (mean 0.93) against 1.04 / 1.30 at 6e-4; the relativistic pairing loss lost (1.70). Two more runs on a slower
#: evening: 1.02 / 1.13. A 40% cooldown with a running mean over the last 10% (--cooldown-share 0.4 --ema-tail 0.1)
#: won one seed of two (1.01 against 1.13, 1.06 against 1.02): not adopted; nor a 40% cooldown keeping the G that the
#: training split scores best over the last 10% (--pick-tail 0.1: 0.959 against 0.950), nor lr 1.5e-3 alone (1.00 /
#: 1.06). Batch 128 at lr 1.5e-3 took over: six 10-minute runs gave 1.07 / 0.818 / 0.753 / 0.777 / 0.931 / 0.841
#: (mean 0.865, 2.6x the floor) against the eleven of batch 64 at 1e-3 (mean 1.02), with 15% more images
#: (docs/research/recipes.md).
#: Stacked MNIST (its target: all 1,000 modes, KL to uniform <= 0.03 on 26,000 samples, at a budget of our choice):
#: D at width 48, lr 4e-4 and beta2 0.999. An hour with bf16 gave KL 0.0289 / 0.0320 (seeds 0 / 1), where the image
#: recipe's hours gave 0.0306 / 0.0332 and its two hours 0.0328, and it is lower at equal images in both seeds (2,000
#: kimg: 0.031 / 0.033 against 0.036): the wider D evens each channel's digits out sooner (docs/research/recipes.md).
#: Its budget for the target is 90 minutes: seeds 0 / 1 then scored 0.0246 / 0.0280 (4,100-4,200 kimg).
#: Unconditional: the modes are what the benchmark counts.
DATA_RECIPES: dict[str, dict[str, Any]] = {
    "fashion-mnist": {"betas": (0.0, 0.99), "conditional": True, "lr": 1.5e-3, "batch_size": 128},
    "mnist-5k": {"betas": (0.0, 0.99), "model_options": {"g_channels": 64, "g_extra": 2}, "conditional": True},
    "stacked-mnist": {"model_options": {"d_channels": 48}, "lr": 4e-4, "betas": (0.5, 0.999)},
}


def _changed(recipe: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``recipe`` with ``changes`` applied (model options one by one)."""
    return {**recipe, **changes, "model_options": {**recipe["model_options"], **changes.get("model_options", {})}}


RECIPES.update({name: _changed(RECIPES["images"], changes) for name, changes in DATA_RECIPES.items()})
#: The image recipes on a CPU without bf16 units (``training.precision.on_a_cpu_without_bf16``: no
#: ``amx_bf16`` or ``avx512_bf16``, and no CUDA): the recipe's name (``config.json``) gets ``/cpu-without-bf16``
#: and these changes. Such a CPU trained the recipes about 6x slower (fp32, the faster there) than a 2-core CPU
#: with ``avx512_bf16`` (bf16), and at a sixth of the images each change won its paired runs on an AVX2-only AMD
#: EPYC: G and D at width 32 (10 minutes: Fashion-MNIST FD 7.6 / 11.2 / 6.2 against 12.8 / 14.8 / 9.9), batch 32
#: (`make demo`'s 2.5 minutes on mnist-5k: 13.8 / 21.6 / 17.8 against 47.7 / 54.2 / 30.0; no worse at 10), and
#: lr 1e-3 for objectives without a paper rate of their own (10 minutes: mnist-5k 4.04 / 5.14 against 6.00 / 5.67,
#: Fashion-MNIST 7.4 against 8.9; 2.5 minutes: 20.0 / 37.4 against 49.6 / 62.4; Stacked MNIST 990 / 1000 modes
#: against 968); on Fashion-MNIST 1.5e-3 (10 minutes: 5.36 / 5.34 / 5.18 against 5.58 / 6.26 / 6.36 for 1e-3; it
#: lost on mnist-5k, 5.87 against 3.76). With bf16 (500-1,200 kimg in 10 minutes) the wider G and batch 64 won.
#: Every pair, with what lost (lr 3e-4, batch 16, lsgan): docs/research/recipes.md from "A recipe for a CPU
#: without bf16 units" on; benchmarks/results/recipe_screen-cpu-epyc-avx2.json.
CPU_WITHOUT_BF16 = "cpu-without-bf16"
CPU_WITHOUT_BF16_CHANGES: dict[str, dict[str, Any]] = {
    name: {"model_options": {"g_channels": 32, "d_channels": 32}, "batch_size": 32,
           "lr": 1.5e-3 if name == "fashion-mnist" else 1e-3}
    for name in ("images", *DATA_RECIPES)}
# Stacked MNIST's own D, rate and beta2 were measured with bf16 units only: without them it keeps the image recipe's.
CPU_WITHOUT_BF16_CHANGES["stacked-mnist"]["betas"] = RECIPES["images"]["betas"]
RECIPES.update({f"{name}/{CPU_WITHOUT_BF16}": _changed(RECIPES[name], changes)
                for name, changes in CPU_WITHOUT_BF16_CHANGES.items()})


def _recipe_conditional() -> str:
    """The datasets whose recipe is class-conditional, for --conditional's help."""
    return " and ".join(name for name, changes in DATA_RECIPES.items() if changes.get("conditional"))


def _recipe_betas(i: int) -> str:
    """The data recipes' own Adam beta1 (``i`` 0) or beta2 (1) where it differs from the image recipe's, for the
    --beta1 / --beta2 help: "0 on fashion-mnist and mnist-5k"."""
    by_value: dict[float, list[str]] = {}
    for name, changes in DATA_RECIPES.items():
        if "betas" in changes and changes["betas"][i] != RECIPES["images"]["betas"][i]:
            by_value.setdefault(changes["betas"][i], []).append(name)
    return "; ".join(f"{value:g} on {' and '.join(names)}" for value, names in by_value.items())


def _recipe_default(name: str) -> str:
    """A setting's default for its help: "0.2", or where a recipe differs "the recipe's with --model auto: 0.2,
    0.4 on fashion-mnist; else 0.2"."""
    plain = UNSET_DEFAULTS[name]
    base = RECIPES["images"].get(name, plain)
    own = _own_values(DATA_RECIPES, name, base, lambda x: f"{x:g}")
    if base == plain and not own:
        return f"{plain:g}"
    return f"the recipe's with --model auto: {', '.join([f'{base:g}', *own])}; else {plain:g}"


def rate_text(x: float) -> str:
    """A learning rate as people write it: 6e-4, 1.5e-3."""
    mantissa, exponent = f"{x:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def _own_values(changes_by_name: dict[str, dict[str, Any]], key: str, base: Any, text=rate_text) -> list[str]:
    """Each recipe's setting ``key`` where it differs from ``base``, as ``text`` writes it (a rate by default):
    ["1e-3 on fashion-mnist"]."""
    return [f"{text(changes[key])} on {name}" for name, changes in changes_by_name.items()
            if changes.get(key, base) != base]


def _recipe_batches() -> str:
    """The image recipes' batch sizes, for the --batch-size help: "64, 128 on fashion-mnist, 32 on a CPU without
    bf16 units"."""
    base, cpu = RECIPES["images"]["batch_size"], CPU_WITHOUT_BF16_CHANGES["images"]["batch_size"]
    cpu_own = _own_values(CPU_WITHOUT_BF16_CHANGES, "batch_size", cpu, str)
    cpu_text = f"{cpu} ({'; '.join(cpu_own)})" if cpu_own else f"{cpu}"
    return ", ".join([str(base), *_own_values(DATA_RECIPES, "batch_size", base, str),
                      f"{cpu_text} on a CPU without bf16 units"])


def _recipe_rates() -> str:
    """The image recipes' learning rates, for the --lr-g help: "6e-4; 1e-3 on fashion-mnist"."""
    base = RECIPES["images"]["lr"]
    return "; ".join([rate_text(base), *_own_values(DATA_RECIPES, "lr", base)])


def _cpu_without_bf16_rates() -> str:
    """The rates of the CPU-without-bf16 recipes, for the --model help: "lr 1e-3 (1.5e-3 on fashion-mnist)"."""
    base = CPU_WITHOUT_BF16_CHANGES["images"]["lr"]
    own = _own_values(CPU_WITHOUT_BF16_CHANGES, "lr", base)
    return f"lr {rate_text(base)}" + (f" ({'; '.join(own)})" if own else "")


#: --pick-metric: what scores G in the run's tail (lower is better): the metric, its value's key, and the score's
#: name in RUN/picked/scores.jsonl.
PICK_METRICS: dict[str, tuple[str, str, str]] = {"fd": ("fd", "value", "fd_train"),
                                                 "kl": ("modes", "kl_to_uniform", "kl_to_uniform")}
#: Training length without --kimg or --minutes, in thousands of images.
DEFAULT_KIMG = 600.0
#: The image count that stands for "no limit" in the loop (--minutes without --kimg): 2**62, never reached.
NO_IMAGE_LIMIT = 2 ** 62
#: The value of each recipe setting when neither the user nor a recipe sets it (a named --model).
UNSET_DEFAULTS: dict[str, Any] = {"batch_size": 64, "ema_kimg": 0.0, "ema_rampup": 0.0, "reuse_fakes": False,
                                  "lr_schedule": "constant", "conditional": False,
                                  "cooldown_share": COOLDOWN_SHARE, "ema_tail": 0.0, "pick_tail": 0.0}
#: What a setting added after a run was written meant before it existed: a stored ``config.json`` without the
#: key resumes with this value, not with today's recipe (a resumed run stays the run it was).
BEFORE_IT_EXISTED: dict[str, Any] = {"cooldown_share": COOLDOWN_SHARE, "ema_tail": 0.0, "pick_tail": 0.0}


def _path(metavar: str = "PATH") -> Check:
    return Text(metavar)


@dataclass
class TrainConfig:
    """Everything a training run depends on. Stored as ``config.json`` in the run directory."""

    # ---- what to train
    data: str = option("mnist", help="dataset name (ganworks data list) or folder:PATH for an image folder",
                       check=Registered("ganworks.data:check_dataset_name", "NAME", "ganworks.data:list_datasets"),
                       group=WHAT)
    model: str = option("auto", help="architecture; auto: the recipe for the data (RECIPES: the image recipe for "
                                     "images, with narrower networks, batch 32 and "
                                     f"{_cpu_without_bf16_rates()} on a CPU without bf16 units; the 2014 paper's "
                                     "mlp pair for points); "
                                     "config.json's recipe says which; mlp: the 2014 paper's MLPs",
                        check=Registered("ganworks.models:check_model_choice", "NAME",
                                         "ganworks.models:list_model_choices"), group=WHAT)
    objective: str = option("ns", help="the game's loss (unset settings take its paper's defaults)",
                            check=Registered("ganworks.objectives:check_objective_choice", "NAME",
                                             "ganworks.objectives:list_objective_choices"), group=WHAT)
    # Architecture options (z_dim, widths, sn, ...): their flags come from ganworks.models.configs.
    model_options: dict[str, Any] = option(help="architecture options; each has its own flag (--z-dim, ...)",
                                           check=Custom(Text(), lambda v: isinstance(v, dict),
                                                        "must be a dict of architecture options"),
                                           group=WHAT, default_factory=dict, cli=False)
    conditional: bool | None = option(None, help="class-conditional G (its class one-hot, --class-code) and "
                                                  "projection D, from the dataset's labels; samples draw the classes "
                                                  f"evenly (default: on with --model auto on {_recipe_conditional()}, "
                                                  "else off)", check=Bool(), group=WHAT)
    # 1024: the models build for at most 64 px; a bigger side only makes a folder's decoded images huge.
    resolution: int = option(64, help="folder:PATH: image size (resized and center-cropped)", check=Int(1, max=1024),
                             group=WHAT)
    channels: int = option(3, help="folder:PATH: 1 (grayscale) or 3 (RGB)",
                           check=Custom(Int(1), lambda v: v in (1, 3) and not isinstance(v, bool),
                                        "must be 1 or 3"), group=WHAT)
    strict_data: bool = option(False, flag=("--strict", "--strict-data"),
                               help="folder:PATH: fail on the first unreadable file instead of skipping it",
                               check=Bool(), group=WHAT)

    # ---- how long and how. None: the objective's paper default (``resolved()``), else the global one.
    # None after __post_init__ only with --minutes: the budget alone ends the run.
    kimg: float | None = option(None, help=f"training length in thousands of real images shown to D (independent of "
                                           f"the batch size; default {DEFAULT_KIMG:g}, or with --minutes no limit "
                                           f"but the time)", check=POSITIVE, resume=True)
    minutes: float | None = option(None, help="wall-clock budget: stop at the first tick after this many minutes of "
                                              "training (a --kimg given stays the upper bound); ticks then also come "
                                              "at most 1/50 of the budget apart (1-30 s), so a run ends within about "
                                              "a step of it; the lr schedule and the instance noise go by the share "
                                              "of the budget used",
                                   check=POSITIVE, resume=True, metavar="M")
    batch_size: int | None = option(None, help="images per minibatch (default: the recipe's with --model auto: "
                                               f"{_recipe_batches()}; else 64)", check=Int(1))
    d_steps: int | None = option(None, flag=("--d-steps", "--n-critic"),
                                 help="k: D steps per G step (Goodfellow et al. 2014, Algorithm 1); default: the "
                                      "objective's (5 for the WGANs), else 1", check=Int(1))
    # Saves one forward pass of G per iteration; G's step then trains on the fakes D was just updated on.
    reuse_fakes: bool | None = option(None, help="G's step uses the D step's noise and G's forward pass of it "
                                                  "(one G forward per iteration, as PyTorch-GAN's gan.py and "
                                                  "pytorch/examples' DCGAN do); needs one D step per G step (default: "
                                                  "on with --model auto on images where k = 1, else off)",
                                      check=Bool())
    optimizer: str | None = option(None, help="default: the objective's (RMSProp for WGAN), else adam",
                                   check=Choice(OPTIMIZERS, noun="optimizer"))
    lr_g: float | None = option(None, help="generator learning rate (default: the objective's, else the recipe's "
                                           f"with --model auto: {_recipe_rates()}, {_cpu_without_bf16_rates()} on a "
                                           "CPU without bf16 units; else 2e-4; TTUR: differ from --lr-d)",
                                check=POSITIVE)
    lr_d: float | None = option(None, help="discriminator learning rate (default as --lr-g)", check=POSITIVE)
    # f(t), t = images shown / the run's total (kimg): constant 1, linear 1 - t, cosine (1 + cos(pi t)) / 2
    # (Loshchilov & Hutter 2017), cooldown 1 then linear to 0 over the last --cooldown-share (the decay phase of
    # warmup-stable-decay schedules; Hägele et al. 2024 found 20% enough). It follows kimg: resuming with a
    # larger --kimg stretches what is left.
    lr_schedule: str | None = option(None, help="both learning rates times f(t) over the run: constant, linear "
                                                "(to 0 at the end), cosine, or cooldown (constant, then linear to 0 "
                                                "over the last --cooldown-share; default: the recipe's with --model "
                                                "auto, else constant)", check=Choice(LR_SCHEDULES))
    cooldown_share: float | None = option(None, help="--lr-schedule cooldown: the share of the run at its end over "
                                                     "which the rates fall to 0 (default: "
                                                     f"{_recipe_default('cooldown_share')})",
                                          check=Float(0, 1, lo_open=True))
    beta1: float | None = option(None, help="Adam beta1 (default: the objective's, else the recipe's: "
                                            f"{RECIPES['images']['betas'][0]:g}, {_recipe_betas(0)}; else 0.5)",
                                 check=UNIT)
    beta2: float | None = option(None, help="Adam beta2 (default: the objective's, else the recipe's: "
                                            f"{RECIPES['images']['betas'][1]:g}, {_recipe_betas(1)}; else 0.999)",
                                 check=UNIT)
    clip: float | None = option(None, help="clamp D's weights to [-clip, clip] after each D step (WGAN default "
                                           "0.01; 0 = off)", check=NONNEGATIVE)
    gp_weight: float | None = option(None, help="gradient penalty lambda (WGAN-GP default 10; 0 = off)",
                                     check=NONNEGATIVE)
    gp_one_sided: bool = option(False, help="penalize only gradient norms above 1", check=Bool())
    r1_gamma: float = option(0.0, help="R1 penalty gamma on real data (Mescheder et al. 2018; 0 = off)",
                             check=NONNEGATIVE)
    r1_interval: int = option(16, help="lazy R1: apply every this many D steps, scaled by the interval "
                                       "(Karras et al. 2020)", check=Int(1))
    r2_gamma: float = option(0.0, help="R2 penalty gamma on generated data, on R1's lazy schedule (with --r1-gamma "
                                       "and --objective rpgan: R3GAN, Huang et al. 2024; 0 = off)",
                             check=NONNEGATIVE)
    label_smoothing: float = option(0.0, help="one-sided label smoothing: D's target for real data is 1 - s "
                                              "(Salimans et al. 2016)", check=UNIT)
    replay_size: int = option(0, help="a buffer of this many past fakes mixed into D's batches (0 = off)",
                              check=Int(0))
    replay_fraction: float = option(0.5, help="share of D's fake batches drawn from the replay buffer",
                                    check=Float(0, 1, lo_open=True))
    # Noise gives p_data and p_g overlapping supports, so D stays smooth and G keeps a gradient towards data
    # it does not cover (Arjovsky & Bottou 2017, Sec. 3.3; Sonderby et al. 2017, "instance noise").
    instance_noise: float = option(0.0, help="std of Gaussian noise on every input of D, real and fake, in both "
                                             "steps, annealed linearly to 0 (0 = off)", check=NONNEGATIVE)
    instance_noise_kimg: float | None = option(None, help="where the instance noise reaches 0, in kimg "
                                                          "(default: the end of the run)", check=POSITIVE)
    augment: str = option("", help="DiffAugment policy for D's inputs, e.g. translation,cutout (empty = off)",
                          check=Registered("ganworks.augment:parse_policy", "POLICY", "ganworks.augment:list_policies"))
    # Sampling uses the average when a run has one (Karras et al. 2018; Yazici et al. 2019).
    ema_kimg: float | None = option(None, help="half-life (kimg) of an exponential moving average of G's weights, "
                                               "used for sampling (0 = off; default: the recipe's with --model auto, "
                                               "else 0)", check=NONNEGATIVE)
    ema_rampup: float | None = option(None, help="EMA ramp-up: the half-life is at most this share of the images "
                                                 "seen so far (StyleGAN2-ADA: 0.05; 0 = off; default: the recipe's "
                                                 "with --model auto, else 0)", check=NONNEGATIVE)
    # Over the run's last part the average's weight on each new G falls as 1 / n (its half-life grows with the
    # tail): a running mean of the iterates, Polyak & Juditsky 1992, taken where the cooldown has tamed them.
    ema_tail: float | None = option(None, help="over the last this share of the run, the EMA of G becomes a running "
                                               "mean (each step's weight 1/n, never less than the EMA's; 0 = off; "
                                               f"default: {_recipe_default('ema_tail')})", check=UNIT)
    # Model selection on the training split only (the benchmarks score the test split): over the tail, where the
    # cooldown has slowed G, checkpoints 10 kimg apart still differ by 10-20% in FD (docs/research/recipes.md).
    pick_tail: float | None = option(None, help="over the last this share of the run, score G (its average when "
                                                "kept) every --pick-kimg kimg and at the end (--pick-metric: FD "
                                                "against the training split); the run's generator is the best of "
                                                "them (RUN/picked/; 0 = off, the last; default: "
                                                f"{_recipe_default('pick_tail')})",
                                     check=UNIT)
    pick_metric: str = option("fd", help="--pick-tail: the score, lower is better: fd (Frechet distance to the "
                                         "training split) or kl (KL of the class histogram to uniform: the modes "
                                         "metric, no reference data)", check=Choice(PICK_METRICS, noun="pick metric"))
    pick_kimg: float = option(10.0, help="--pick-tail: score G every this many kimg in the tail", check=POSITIVE)
    pick_n: int | None = option(None, help="--pick-tail: samples per score (default: as ganworks evaluate, 10,000; "
                                           "26,000 on stacked-mnist)", check=Int(2, max=10**6))
    init_discriminator: str | None = option(None, help="start D from a trained discriminator (run directory or "
                                                       "discriminator.safetensors)", check=_path("RUN_OR_FILE"))
    freeze_discriminator: bool = option(False, help="with --init-discriminator: never update D; G trains "
                                                    "against the fixed judge", check=Bool())
    seed: int = option(0, help="seed of the weights, the data order and the noise", check=SEED)
    device: str = option("auto", help="where to train", check=Choice(DEVICES, noun="device"), resume=True,
                         metavar="DEVICE")
    precision: str = option("auto", help="bf16: bfloat16 autocast of the forward passes (fp32 weights); auto: bf16 "
                                         "where the hardware has native bf16 (CUDA Ampere+, a CPU with amx_bf16 or "
                                         "avx512_bf16), fp32 elsewhere and for point data; config.json says which",
                            check=Choice(PRECISIONS, noun="precision"))
    sync_bn: bool = option(False, help="under torchrun: SyncBatchNorm across processes (default: each process "
                                       "normalizes its own share of the batch)", check=Bool())

    # ---- output
    run_dir: str | None = option(None, help="run directory (must be new or empty); default: a new numbered "
                                            "folder under --runs-root", check=_path("DIR"), group=OUTPUT)
    runs_root: str = option("runs", help="where numbered run directories go", check=_path("DIR"), group=OUTPUT)
    tick_kimg: float = option(10.0, help="one status line and one stats.jsonl record every this many kimg (with "
                                         "--minutes, or sooner: see there)",
                              check=POSITIVE, resume=True, group=OUTPUT)
    snapshot_kimg: float = option(50.0, help="a grid of samples from fixed noise every this many kimg (0: only at "
                                             "the end)", check=NONNEGATIVE, resume=True, group=OUTPUT)
    eval_every: float = option(0.0, help="evaluate G every this many kimg (metrics.jsonl, best/, collapse alarms; "
                                         "0 = off)", check=NONNEGATIVE, resume=True, group=OUTPUT)
    eval_metrics: str = option("", help="metrics for --eval-every (default: fd,modes for images, mixture for "
                                        "ring8/grid25)", check=Text("M,M,..."), group=OUTPUT)
    # 10**6: far past where FD/KID estimates settle; refused up front, not at the first evaluation.
    eval_n: int = option(2000, help="samples per evaluation during training", check=Int(2, max=10**6), resume=True,
                         group=OUTPUT)
    best_metric: str = option("", help="keep the best generator by this metric in best/ (default: the first of "
                                       "--eval-metrics)", check=Text("METRIC"), group=OUTPUT)
    progress: bool = option(True, flag="--progress", help="a progress bar on stderr (--no-progress: none)",
                            check=Bool(), resume=True, group=OUTPUT)

    # ---- checkpoints, resume and divergence
    checkpoint_kimg: float | None = option(None, help="write a resume state to RUN/checkpoints/ every this many "
                                                      "kimg (default: --snapshot-kimg; 0: only at the end)",
                                           check=NONNEGATIVE, resume=True, group=CKPT)
    keep_checkpoints: int = option(3, help="keep the newest this many checkpoints", check=Int(1), resume=True,
                                   group=CKPT)
    on_nan: str = option("stop", help="non-finite loss or weights: stop with an error naming the step and "
                                      "network, or rollback to the last good checkpoint",
                         check=Choice(ON_NAN), resume=True, group=CKPT)
    nan_lr_factor: float = option(0.5, help="--on-nan rollback: multiply both learning rates by this per rollback",
                                  check=Float(0, 1, lo_open=True), resume=True, group=CKPT)
    max_rollbacks: int = option(3, help="--on-nan rollback: give up after this many rollbacks", check=Int(1),
                                resume=True, group=CKPT)

    # ---- token sequences: --data oracle, oracle40, brackets, names, text:PATH (ganworks.sequences)
    estimator: str = option("gumbel", help="how G's gradient passes its discrete tokens: gumbel (Gumbel-softmax, "
                                           "RelGAN) or reinforce (policy gradient, D's output as the reward, SeqGAN)",
                            check=Choice(ESTIMATORS, noun="estimator"), group=SEQ)
    # RelGAN (Nie et al. 2019) raises the inverse temperature beta from 1 to beta_max (100 or 1000): tau = 1 / beta.
    gumbel_temperature: float = option(0.01, help="gumbel: the temperature falls from 1 to this over adversarial "
                                                  "training (RelGAN's beta_max = 1 / this)",
                                       check=Float(0, 1, lo_open=True), group=SEQ, metavar="TAU")
    gumbel_schedule: str = option("exp", help="gumbel: how beta = 1 / temperature rises: exp (RelGAN: "
                                              "beta_max^t), linear, or constant (the final temperature throughout)",
                                  check=Choice(GUMBEL_SCHEDULES), group=SEQ)
    straight_through: bool = option(False, help="gumbel: D sees hard one-hot tokens, G gets the soft gradient",
                                    check=Bool(), group=SEQ)
    rollouts: int = option(0, help="reinforce: Monte-Carlo rollouts per prefix for per-token rewards (SeqGAN: "
                                   "16; 0: the whole sequence's reward for every token)", check=Int(0), group=SEQ)
    pretrain_kimg: float = option(0.0, help="maximum-likelihood pre-training of G for the first this many thousand "
                                            "sequences of --kimg (then the game)", check=NONNEGATIVE, group=SEQ)
    pretrain_lr: float = option(1e-2, help="learning rate of G's maximum-likelihood steps (--pretrain-kimg, "
                                           "--objective mle; SeqGAN: 0.01)", check=POSITIVE, group=SEQ)
    tokens: str = option("char", help="text:PATH: one token per character or per whitespace-separated word",
                         check=Choice(TOKENS), group=SEQ)
    max_len: int | None = option(None, help="names, text:PATH: leave out sequences longer than this many tokens "
                                            "(default: keep all; text longer than 256 tokens needs it)",
                                 check=Int(1), group=SEQ)
    max_vocab: int = option(10_000, help="text:PATH: refuse a larger vocabulary (e.g. word tokens of a big file)",
                            check=Int(2, max=10**6), group=SEQ)

    # What --model auto chose: "images" or "points" (a key of RECIPES), "mlp-options" (images, but an MLP-only
    # option was given); "" when a model was named.
    recipe: str = option("", help="the recipe --model auto chose (set by ganworks)", check=Text(), cli=False)

    def __post_init__(self) -> None:
        validate_fields(self)  # each field's own check, worded from its flag
        if self.kimg is None and self.minutes is None:
            self.kimg = DEFAULT_KIMG  # with --minutes and no --kimg the time alone ends the run
        self._apply_recipe()
        self._check_sequences()
        if self.label_smoothing > 0 and self.objective not in SMOOTHABLE:
            raise GanworksError(f"--label-smoothing applies to the objectives {', '.join(SMOOTHABLE)} "
                                f"(binary cross-entropy D), not {self.objective!r}")
        if self.freeze_discriminator and not self.init_discriminator:
            raise GanworksError("--freeze-discriminator needs --init-discriminator RUN_OR_FILE "
                                "(a frozen random D teaches G nothing)")
        if self.reuse_fakes:
            self._check_reuse_fakes()
        if self.eval_every > 0:
            if self.data.startswith("folder:"):
                raise GanworksError("--eval-every needs a named dataset with reference statistics, not "
                                    f"{self.data!r}; evaluate image folders with ganworks evaluate --extractor")
            names = self.eval_metric_names()
            if self.best_metric and self.best_metric not in names:
                raise GanworksError(f"--best-metric {self.best_metric!r} is not among --eval-metrics "
                                    f"({', '.join(names)})")
        if self.pick_tail > 0:
            self._check_pick()
        from .models import make_model_config

        # Validates option names and values; the image shape is filled in from the data later.
        try:
            make_model_config(self.model, **self.model_options)
        except GanworksError as e:
            if not self.recipe:
                raise
            raise GanworksError(f"{e} (--model auto chose {self.model} for {self.data}; name the model with "
                                "--model to use its options)") from None

    def _apply_recipe(self) -> None:
        """--model auto: the recipe for the data's kind; then every setting left unset takes the recipe's
        value, else its plain default. Everything the user set wins."""
        if self.model == "auto" and _sequence_data(self.data):
            self.model = "seq"  # token sequences have one architecture
        if self.model == "auto":
            from .data import holds_points
            from .models import ARCH_CONFIGS

            mlp_only = set(self.model_options) - {f.name for f in fields(ARCH_CONFIGS[RECIPES["images"]["model"]])}
            if holds_points(self.data) or (mlp_only and mlp_only <= {f.name for f in fields(ARCH_CONFIGS["mlp"])}):
                # Points, or an option only the MLP has (--g-hidden, ...): the 2014 paper's MLP pair, as
                # before --model auto existed.
                self.recipe = "points" if holds_points(self.data) else "mlp-options"
                self.model = "mlp"
            else:
                from .training.precision import on_a_cpu_without_bf16

                self.recipe = self.data if self.data in DATA_RECIPES else "images"
                if on_a_cpu_without_bf16(self.device):  # about 6x fewer images a minute (CPU_WITHOUT_BF16_CHANGES)
                    self.recipe = f"{self.recipe}/{CPU_WITHOUT_BF16}"
                self.model = RECIPES["images"]["model"]
                # The recipe's D has no BatchNorm (spectral normalization instead): each logit is a function of its
                # own image, so a per-sample gradient penalty (WGAN-GP, R1, R2) penalises what it means to.
                self.model_options = {**RECIPES[self.recipe].get("model_options", {}), **self.model_options}
        recipe = RECIPES.get(self.recipe, {})
        for name, plain in UNSET_DEFAULTS.items():
            if getattr(self, name) is None:
                value = recipe.get(name, plain)
                if name == "reuse_fakes" and value and self._reuse_fakes_blocked():
                    value = False  # the recipe's lever, where it does not apply (k D steps, a frozen D)
                setattr(self, name, value)

    def _check_sequences(self) -> None:
        """Sequence data goes with --model seq and the sequence options; image data with neither."""
        from .objectives import MLE

        if not _sequence_data(self.data):
            if self.model == "seq" or self.objective == MLE:
                what = "--model seq" if self.model == "seq" else "--objective mle"
                raise GanworksError(f"{what} trains on token sequences (oracle, oracle40, brackets, names, "
                                    f"text:PATH), not dataset {self.data!r}")
            for name in SEQ_ONLY:
                if getattr(self, name) != default_of(name):
                    raise GanworksError(f"{flag_of(name)} applies to token sequences (oracle, brackets, names, "
                                        f"text:PATH), not dataset {self.data!r}")
            return
        if self.model != "seq":
            raise GanworksError(f"dataset {self.data!r} holds token sequences; use --model seq (or auto), "
                                f"not {self.model!r}")
        for name in IMAGE_ONLY:
            if getattr(self, name) not in (default_of(name), None, 0, 0.0):
                raise GanworksError(f"{flag_of(name)} is not supported for token sequences ({self.data}); "
                                    "see docs/sequences.md for what a sequence run supports")
        if self.precision == "bf16":
            raise GanworksError("--precision bf16 is not supported for token sequences; use fp32 or auto")
        if self.on_nan != "stop":
            raise GanworksError(f"--on-nan {self.on_nan} is not supported for token sequences; use stop")
        if self.tokens != "char" and not self.data.startswith("text:"):
            raise GanworksError(f"--tokens {self.tokens} applies to text:PATH, not {self.data!r}")
        if self.max_len is not None and not (self.data == "names" or self.data.startswith("text:")):
            raise GanworksError(f"--max-len applies to names and text:PATH; dataset {self.data!r} has a fixed length")
        if self.estimator == "gumbel" and self.rollouts:
            raise GanworksError(f"--rollouts {self.rollouts} applies to --estimator reinforce, not gumbel")
        if self.estimator == "reinforce" and (self.straight_through or self.gumbel_temperature !=
                                              default_of("gumbel_temperature")):
            raise GanworksError("--straight-through and --gumbel-temperature apply to --estimator gumbel, "
                                "not reinforce")
        if self.objective != MLE and self.kimg is not None and self.pretrain_kimg >= self.kimg:
            raise GanworksError(f"--pretrain-kimg {self.pretrain_kimg:g} leaves no adversarial training within "
                                f"--kimg {self.kimg:g}; lower it, or use --objective mle for maximum likelihood alone")

    def instance_noise_at(self, nimg: int) -> float:
        """The instance noise std after ``nimg`` images (the training loop's schedule, ``Schedules.noise_std``)."""
        from .training.schedule import Schedules

        return Schedules.of(self, self.total_images).noise_std(nimg)

    @property
    def total_images(self) -> int:
        """The run's length in images: --kimg, or with --minutes and no --kimg a bound never reached."""
        return NO_IMAGE_LIMIT if self.kimg is None else int(round(self.kimg * 1000))

    def length_text(self) -> str:
        """The run's length for its log: "600 kimg", "10 minutes", "10 minutes (at most 900 kimg)"."""
        if self.minutes is None:
            return f"{self.kimg:g} kimg"
        return f"{self.minutes:g} minutes" + ("" if self.kimg is None else f" (at most {self.kimg:g} kimg)")

    def length_bound(self) -> list[str]:
        """The settings whose schedules follow the run's length (its --kimg, or the share of --minutes used), as
        flags: ["--lr-schedule cooldown"]. A finished run resumed to a longer length picks them up where the longer
        run would be (a cooled rate back at full), so it is not the run a fresh one of that length trains."""
        bound = [f"--lr-schedule {self.lr_schedule}"] if self.lr_schedule != "constant" else []
        if self.instance_noise > 0 and self.instance_noise_kimg is None:
            bound.append(f"--instance-noise {self.instance_noise:g}")
        bound += [f"{flag_of(name)} {getattr(self, name):g}" for name in ("ema_tail", "pick_tail")
                  if getattr(self, name) > 0]
        return bound

    def eval_metric_names(self) -> list[str]:
        """The metrics evaluated during training, validated against the metric registry."""
        from .data import get_spec
        from .data.toy import ToySpec
        from .metrics.registry import parse_metrics

        spec = get_spec(self.data) if not self.data.startswith("folder:") else None
        if isinstance(spec, ToySpec) and not spec.is_mixture:
            raise GanworksError(f"--eval-every: dataset {self.data!r} has no metric during training "
                                "(the mixture metric needs modes: ring8, grid25)")
        default = "mixture" if isinstance(spec, ToySpec) else "fd,modes"
        return parse_metrics(self.eval_metrics or default)

    def _check_pick(self) -> None:
        """--pick-tail scores G with a named dataset's feature network and classifier (FD, the KL of the classes)."""
        from .metrics.evaluate import DEFAULT_EXTRACTOR

        if self.data not in DEFAULT_EXTRACTOR:
            raise GanworksError(f"--pick-tail scores G with a dataset's feature network and classifier, which "
                                f"{', '.join(DEFAULT_EXTRACTOR)} have; not {self.data!r} (use 0)")

    def _reuse_fakes_blocked(self) -> str | None:
        """Why --reuse-fakes cannot apply to this run (None: it can). One forward of G serves D's step and
        G's only when there is exactly one D step per G step."""
        if self.freeze_discriminator:
            return ("--reuse-fakes shares G's forward pass between D's step and G's; with "
                    "--freeze-discriminator there is no D step to share it with")
        k = 1 if self.objective == "mle" else self.resolved().d_steps
        if k != 1:
            why = "" if self.d_steps is not None else f" (objective {self.objective}'s default)"
            return (f"--reuse-fakes needs one D step per G step; --d-steps is {k}{why}: "
                    "pass --d-steps 1 or drop --reuse-fakes")
        return None

    def _check_reuse_fakes(self) -> None:
        problem = self._reuse_fakes_blocked()
        if problem:
            raise GanworksError(problem)

    def resolved(self) -> "Resolved":
        """Fill every None with the objective's default (its paper's settings), else the recipe's (the
        image recipe's learning rate and betas), else the global one."""
        from .objectives import get_objective

        d = get_objective(self.objective).defaults if self.objective != "mle" else {}
        betas = tuple(d.get("betas", RECIPES.get(self.recipe, {}).get("betas", (0.5, 0.999))))
        lr = d.get("lr", RECIPES.get(self.recipe, {}).get("lr", 2e-4))
        return Resolved(
            optimizer=self.optimizer or d.get("optimizer", "adam"),
            lr_g=self.lr_g if self.lr_g is not None else lr,
            lr_d=self.lr_d if self.lr_d is not None else lr,
            # floats both: torch's Adam refuses an int beside a float (beta1=0 from the Python API)
            betas=(float(self.beta1 if self.beta1 is not None else betas[0]),
                   float(self.beta2 if self.beta2 is not None else betas[1])),
            d_steps=self.d_steps if self.d_steps is not None else int(d.get("d_steps", 1)),
            clip=self.clip if self.clip is not None else float(d.get("clip", 0.0)),
            gp_weight=self.gp_weight if self.gp_weight is not None else float(d.get("gp_weight", 0.0)),
        )

    def requested(self) -> dict[str, Any]:
        """The fields as asked for: what ``--model auto`` filled in is unset again (``model`` "auto", the
        recipe's model options and settings removed where they still hold the recipe's values)."""
        d = self.to_dict()
        if not self.recipe:
            return d
        recipe = RECIPES.get(self.recipe, {})
        d.update(model="auto", recipe="")
        d["model_options"] = {k: v for k, v in self.model_options.items()
                              if recipe.get("model_options", {}).get(k, object()) != v}
        for name in UNSET_DEFAULTS:
            if d[name] == recipe.get(name, UNSET_DEFAULTS[name]):
                d[name] = None
        if recipe.get("reuse_fakes") and not self.reuse_fakes and self._reuse_fakes_blocked():
            d["reuse_fakes"] = None  # the recipe's value, switched off where it does not apply
        return d

    def checkpoint_every(self) -> float:
        """kimg between checkpoints (0: only the final one)."""
        return self.snapshot_kimg if self.checkpoint_kimg is None else self.checkpoint_kimg

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        valid = {f.name for f in fields(cls)}
        bad = sorted(set(d) - valid)
        if bad:
            raise GanworksError(f"unknown config key {bad[0]!r}; valid: {', '.join(sorted(valid))}")
        return cls(**d)


def _sequence_data(name: str) -> bool:
    from .sequences.data import is_sequence_data

    return is_sequence_data(name)


#: What a sequence run refuses: image techniques its loop does not have (``_check_sequences``).
IMAGE_ONLY = ("conditional", "gp_weight", "r1_gamma", "r2_gamma", "label_smoothing", "replay_size",
              "instance_noise", "augment", "ema_kimg", "ema_rampup", "init_discriminator", "freeze_discriminator",
              "eval_every", "sync_bn", "reuse_fakes", "ema_tail", "pick_tail")
#: The sequence options, which an image run refuses when they are set.
SEQ_ONLY = ("estimator", "gumbel_temperature", "gumbel_schedule", "straight_through", "rollouts", "pretrain_kimg",
            "pretrain_lr", "tokens", "max_len", "max_vocab")

#: Every TrainConfig field with its command-line option, in declaration order.
OPTIONS: dict[str, Option] = options_of(TrainConfig)

#: The fields a resumed run may change (``ganworks train --resume RUN --kimg 1200``): how long it runs,
#: how often it reports and checkpoints, the divergence guard and the device. Anything else would make
#: the continued run a different experiment, so it is refused.
RESUME_SAFE: tuple[str, ...] = tuple(name for name, opt in OPTIONS.items() if opt.resume)

#: Command-line shorthands that set several fields at once: flag -> (fields, help).
SHORTHANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "--lr": (("lr_g", "lr_d"), "learning rate of both networks (--lr-g and --lr-d override it)"),
}


def flag_of(name: str) -> str:
    """The command-line flag of a TrainConfig field or an architecture option (for messages)."""
    if name in OPTIONS:
        opt = OPTIONS[name]
        return opt.flag
    from .models import model_options

    opts = model_options()
    return opts[name][0].flag if name in opts else "--" + name.replace("_", "-")


def default_of(name: str) -> Any:
    return field_default(TrainConfig, name)


def command_line(values: dict[str, Any]) -> str:
    """``values`` (TrainConfig fields, model options in ``model_options``) as a ``ganworks train``
    command line, naming only what differs from the defaults; the inverse of the parser."""
    from .models import model_options

    arch = model_options()
    parts = ["ganworks train"]
    items = [(k, v, OPTIONS[k]) for k, v in values.items() if k != "model_options"]
    items += [(k, v, arch[k][0]) for k, v in values.get("model_options", {}).items()]
    for name, value, opt in items:
        if name not in ("data", "model", "objective") and name in OPTIONS and value == default_of(name):
            continue
        if isinstance(value, bool):
            parts.append(opt.flag if value else "--no-" + opt.flag[2:])
        elif isinstance(value, (tuple, list)):
            parts.append(f"{opt.flag} {','.join(map(str, value))}")
        elif value is not None:
            parts.append(f"{opt.flag} {value:g}" if isinstance(value, float) else f"{opt.flag} {value}")
    return " ".join(parts)


def options_markdown() -> str:
    """The table of every ``ganworks train`` option, generated from the fields (``docs/options.md``)."""
    from .models import ARCH_CONFIGS, model_options
    from .options import valid_values

    def cell(text: Any) -> str:
        return str(text).replace("|", "\\|")

    def default_text(value: Any) -> str:
        if value is None or value == "":
            return "(see help)"
        if isinstance(value, bool):
            return "on" if value else "off"
        return ",".join(map(str, value)) if isinstance(value, tuple) else f"`{value}`"

    lines = ["# `ganworks train` options", "",
             "Generated from the typed configuration (`ganworks.config.TrainConfig` and the architectures' "
             "config dataclasses in `ganworks.models.configs`) by `python -m ganworks.config`; a test keeps "
             "it equal to the code. Every flag is also a keyword of `ganworks.train(...)` / `TrainConfig` "
             "(architecture options go in `model_options`). *Resume*: may a `--resume RUN` command line "
             "change it.", ""]
    header = ["| flag | field | default | valid values | resume | what it does |", "|---|---|---|---|---|---|"]
    for group in GROUPS:
        lines += [f"## {group}", "", *header]
        for name, opt in OPTIONS.items():
            if opt.group != group or not opt.cli:
                continue
            flags = ", ".join(f"`{f}`" for f in opt.flags)
            lines.append(f"| {flags} | `{name}` | {default_text(default_of(name))} | {cell(valid_values(opt.check))} "
                         f"| {'yes' if opt.resume else ''} | {cell(opt.help)} |")
            if name == "lr_g":
                for flag, (targets, help_text) in SHORTHANDS.items():
                    lines.append(f"| `{flag}` | {', '.join(f'`{t}`' for t in targets)} | | "
                                 f"{cell(valid_values(opt.check))} | | {cell(help_text)} |")
        lines.append("")
    lines += ["## architecture options (`model_options`)", "",
              "| flag | option | architectures | default | valid values | what it does |", "|---|---|---|---|---|---|"]
    for name, (opt, archs) in model_options().items():
        by_value: dict[str, list[str]] = {}
        for a in archs:
            by_value.setdefault(default_text(field_default(ARCH_CONFIGS[a], name)), []).append(a)
        defaults = "; ".join(v if len(by_value) == 1 else f"{v} ({', '.join(a)})" for v, a in by_value.items())
        lines.append(f"| `{opt.flag}` | `{name}` | {', '.join(archs)} | {defaults} | {cell(valid_values(opt.check))} "
                     f"| {cell(opt.help)} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(options_markdown(), end="")
