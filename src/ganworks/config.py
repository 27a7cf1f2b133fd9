"""Typed training configuration, validated at the boundary.

Every check names the CLI flag and the bad value, so the same messages serve the command line
and the Python API (``ganworks.train(TrainConfig(...))``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .errors import GanworksError

DEVICES = ("auto", "cpu", "cuda")
OPTIMIZERS = ("adam", "rmsprop")
SMOOTHABLE = ("minimax", "ns")  # the objectives whose D loss is the binary cross-entropy


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


PRECISIONS = ("fp32", "bf16")
LR_SCHEDULES = ("constant", "linear", "cosine")
ON_NAN = ("stop", "rollback")

#: The fields a resumed run may change (``ganworks train --resume RUN --kimg 1200``): how long it
#: runs, how often it reports and checkpoints, the divergence guard and the device. Anything else
#: would make the continued run a different experiment, so it is refused.
RESUME_SAFE = ("kimg", "tick_kimg", "snapshot_kimg", "checkpoint_kimg", "keep_checkpoints", "on_nan",
               "nan_lr_factor", "max_rollbacks", "progress", "device", "eval_every", "eval_n")


@dataclass
class TrainConfig:
    """Everything a training run depends on. Stored as ``config.json`` in the run directory."""

    data: str = "mnist"
    """Dataset name (``ganworks data list``)."""
    model: str = "mlp"
    """Architecture name."""
    objective: str = "ns"
    """Objective name (``ganworks.objectives.list_objectives()``): ns, minimax, wgan, wgan-gp, hinge,
    lsgan, ragan, f:kl, f:reverse-kl, f:pearson, f:hellinger, f:js, f:gan."""
    model_options: dict[str, Any] = field(default_factory=dict)
    """Architecture options (z_dim, widths, sn, ...); see ``ganworks.models``."""
    kimg: float = 600.0
    """Training length in thousands of real images shown to D (independent of batch size)."""
    batch_size: int = 64
    d_steps: int | None = None
    """k: discriminator steps per generator step (Goodfellow et al. 2014, Algorithm 1).
    None: the objective's default (5 for the WGANs), else 1."""
    optimizer: str | None = None
    """adam or rmsprop; None: the objective's default (RMSProp for WGAN), else adam."""
    lr_g: float | None = None
    """Generator learning rate; None: the objective's default, else 2e-4. Set lr_g != lr_d for TTUR."""
    lr_d: float | None = None
    lr_schedule: str = "constant"
    """Both learning rates times f(t), t = images shown / the run's total (``kimg``): constant
    f = 1, linear f = 1 - t, cosine f = (1 + cos(pi t)) / 2 (Loshchilov & Hutter 2017). The
    schedule follows ``kimg``: resuming with a larger ``--kimg`` stretches what is left of it."""
    beta1: float | None = None
    """Adam betas; None: the objective's default ((0, 0.9) for WGAN-GP), else (0.5, 0.999)."""
    beta2: float | None = None
    clip: float | None = None
    """Clamp D's weights to [-clip, clip] after each D step (WGAN); None: objective default; 0: off."""
    gp_weight: float | None = None
    """Gradient penalty weight lambda (WGAN-GP); None: objective default (10 for wgan-gp); 0: off."""
    gp_one_sided: bool = False
    r1_gamma: float = 0.0
    """R1 penalty gamma (Mescheder et al. 2018) on real data; 0: off."""
    r1_interval: int = 16
    """Lazy R1: apply every this many D steps, scaled by the interval (Karras et al. 2020)."""
    label_smoothing: float = 0.0
    """One-sided label smoothing: D's target for real data is 1 - s (Salimans et al. 2016)."""
    replay_size: int = 0
    """Capacity (images) of a buffer of past fakes mixed into D's batches; 0: off."""
    replay_fraction: float = 0.5
    """Fraction of each of D's fake batches drawn from the replay buffer."""
    instance_noise: float = 0.0
    """Std of Gaussian noise added to every input of D, real and fake, in D's and G's steps; 0: off.
    Noise gives p_data and p_g overlapping supports, so D stays smooth and G keeps a gradient towards
    data it does not cover (Arjovsky & Bottou 2017, Sec. 3.3; Sonderby et al. 2017, "instance noise").
    Annealed linearly to 0 by ``instance_noise_kimg``."""
    instance_noise_kimg: float | None = None
    """Where the instance noise reaches 0, in kimg; None: at the end of the run (``kimg``)."""
    augment: str = ""
    """DiffAugment policy for D's inputs, e.g. "translation,cutout"; empty: off."""
    conditional: bool = False
    """Class-conditional G and projection D, with the dataset's labels."""
    init_discriminator: str | None = None
    """Start D from a trained discriminator (run directory or discriminator.safetensors)."""
    freeze_discriminator: bool = False
    """With init_discriminator: never update D; G trains against the fixed pre-trained judge."""
    resolution: int = 64
    """Image size for ``folder:PATH`` datasets (resized and center-cropped)."""
    channels: int = 3
    """1 (grayscale) or 3 (RGB) for ``folder:PATH`` datasets."""
    strict_data: bool = False
    """``folder:PATH``: fail on the first unreadable file instead of skipping it."""
    seed: int = 0
    ema_kimg: float = 0.0
    """Half-life, in thousands of images, of an exponential moving average of G's weights
    (0: off). Sampling uses the average when a run has one (Karras et al. 2018; Yazici et al. 2019)."""
    eval_every: float = 0.0
    """Evaluate G every this many kimg during training (0: off); results go to metrics.jsonl."""
    eval_metrics: str = ""
    """Metrics for --eval-every (default: fd,modes for images, mixture for 2-D points)."""
    eval_n: int = 2000
    """Samples per evaluation during training."""
    best_metric: str = ""
    """Keep the best generator by this metric in best/ (default: the first of eval_metrics)."""
    tick_kimg: float = 10.0
    """One status line and one stats.jsonl record per tick."""
    snapshot_kimg: float = 50.0
    """A grid of samples from fixed noise every this many kimg (0: only at the end)."""
    checkpoint_kimg: float | None = None
    """Write a resume state to ``RUN/checkpoints/`` every this many kimg; None: every
    ``snapshot_kimg``; 0: only at the end. The last one is always written when the run ends."""
    keep_checkpoints: int = 3
    """Keep the newest this many checkpoints; older ones are deleted."""
    on_nan: str = "stop"
    """Non-finite loss or weights: ``stop`` with an error naming the step and network, or
    ``rollback`` to the last good checkpoint with learning rates times ``nan_lr_factor``."""
    nan_lr_factor: float = 0.5
    """With on_nan=rollback: multiply both learning rates by this on each rollback."""
    max_rollbacks: int = 3
    """With on_nan=rollback: give up (an error) after this many rollbacks in one run."""
    sync_bn: bool = False
    """Distributed runs: synchronize BatchNorm statistics across processes (SyncBatchNorm);
    default: each process normalizes its own share of the batch."""
    device: str = "auto"
    precision: str = "fp32"
    """``bf16`` runs forward passes under bfloat16 autocast (CPU with AMX, or CUDA)."""
    run_dir: str | None = None
    """Run directory; default: a new numbered folder under ``runs_root``."""
    runs_root: str = "runs"
    progress: bool = True
    """Show a progress bar on stderr."""

    def __post_init__(self) -> None:
        from .augment import parse_policy
        from .data import check_dataset_name
        from .models import check_model, make_model_config
        from .objectives import get_objective

        check_dataset_name(self.data)
        check_model(self.model)
        get_objective(self.objective)
        _positive_int("--batch-size", self.batch_size)
        if self.d_steps is not None:
            _positive_int("--d-steps", self.d_steps)
        _positive_float("--kimg", self.kimg)
        for flag, v in (("--lr-g", self.lr_g), ("--lr-d", self.lr_d)):
            if v is not None:
                _positive_float(flag, v)
        _positive_float("--tick-kimg", self.tick_kimg)
        _nonneg_float("--snapshot-kimg", self.snapshot_kimg)
        _nonneg_float("--ema-kimg", self.ema_kimg)
        _nonneg_float("--eval-every", self.eval_every)
        if not isinstance(self.eval_n, int) or self.eval_n < 2:
            raise GanworksError(f"--eval-n must be an integer of at least 2, got {self.eval_n!r}")
        if self.eval_every > 0 and self.data.startswith("folder:"):
            raise GanworksError("--eval-every needs a named dataset with reference statistics, "
                                f"not {self.data!r}; evaluate image folders with ganworks evaluate --extractor")
        if self.eval_every > 0:
            names = self.eval_metric_names()
            if self.best_metric and self.best_metric not in names:
                raise GanworksError(f"--best-metric {self.best_metric!r} is not among --eval-metrics "
                                    f"({', '.join(names)})")
        for flag, b in (("--beta1", self.beta1), ("--beta2", self.beta2)):
            if b is not None and not (isinstance(b, (int, float)) and math.isfinite(b) and 0.0 <= b < 1.0):
                raise GanworksError(f"{flag} must be in [0, 1), got {b!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise GanworksError(f"unknown --lr-schedule {self.lr_schedule!r}; valid: {', '.join(LR_SCHEDULES)}")
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise GanworksError(f"unknown optimizer {self.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
        for flag, v in (("--clip", self.clip), ("--gp-weight", self.gp_weight)):
            if v is not None:
                _nonneg_float(flag, v)
        _nonneg_float("--r1-gamma", self.r1_gamma)
        _positive_int("--r1-interval", self.r1_interval)
        if not (isinstance(self.label_smoothing, (int, float)) and 0.0 <= self.label_smoothing < 1.0):
            raise GanworksError(f"--label-smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if self.label_smoothing > 0 and self.objective not in SMOOTHABLE:
            raise GanworksError(f"--label-smoothing applies to the objectives {', '.join(SMOOTHABLE)} "
                                f"(binary cross-entropy D), not {self.objective!r}")
        if not isinstance(self.replay_size, int) or self.replay_size < 0:
            raise GanworksError(f"--replay-size must be a non-negative integer, got {self.replay_size!r}")
        if not (isinstance(self.replay_fraction, (int, float)) and 0.0 < self.replay_fraction <= 1.0):
            raise GanworksError(f"--replay-fraction must be in (0, 1], got {self.replay_fraction!r}")
        _nonneg_float("--instance-noise", self.instance_noise)
        if self.instance_noise_kimg is not None:
            _positive_float("--instance-noise-kimg", self.instance_noise_kimg)
        parse_policy(self.augment)
        if self.freeze_discriminator and not self.init_discriminator:
            raise GanworksError("--freeze-discriminator needs --init-discriminator RUN_OR_FILE "
                                "(a frozen random D teaches G nothing)")
        _positive_int("--resolution", self.resolution)
        if self.channels not in (1, 3):
            raise GanworksError(f"--channels must be 1 or 3, got {self.channels!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise GanworksError(f"--seed must be a non-negative integer, got {self.seed!r}")
        if self.checkpoint_kimg is not None:
            _nonneg_float("--checkpoint-kimg", self.checkpoint_kimg)
        _positive_int("--keep-checkpoints", self.keep_checkpoints)
        if self.on_nan not in ON_NAN:
            raise GanworksError(f"unknown --on-nan {self.on_nan!r}; valid: {', '.join(ON_NAN)}")
        f = self.nan_lr_factor
        if not (isinstance(f, (int, float)) and not isinstance(f, bool) and math.isfinite(f) and 0.0 < f <= 1.0):
            raise GanworksError(f"--nan-lr-factor must be in (0, 1], got {f!r}")
        _positive_int("--max-rollbacks", self.max_rollbacks)
        if self.device not in DEVICES:
            raise GanworksError(f"unknown device {self.device!r}; valid: {', '.join(DEVICES)}")
        if self.precision not in PRECISIONS:
            raise GanworksError(f"unknown precision {self.precision!r}; valid: {', '.join(PRECISIONS)}")
        # Validates option names and values; the image shape is filled in from the data later.
        make_model_config(self.model, **self.model_options)

    def instance_noise_at(self, nimg: int) -> float:
        """The instance noise std after ``nimg`` images: ``instance_noise`` * (1 - nimg / its end), at least 0."""
        if self.instance_noise <= 0:
            return 0.0
        end = 1000 * (self.instance_noise_kimg if self.instance_noise_kimg is not None else self.kimg)
        return self.instance_noise * max(0.0, 1.0 - nimg / end)

    def eval_metric_names(self) -> list[str]:
        """The metrics evaluated during training, validated against the metric registry."""
        from .metrics.evaluate import parse_metrics

        from .data import get_spec
        from .data.toy import ToySpec

        spec = get_spec(self.data) if not self.data.startswith("folder:") else None
        if isinstance(spec, ToySpec) and not spec.is_mixture:
            raise GanworksError(f"--eval-every: dataset {self.data!r} has no metric during training "
                                "(the mixture metric needs modes: ring8, grid25)")
        default = "mixture" if isinstance(spec, ToySpec) else "fd,modes"
        return parse_metrics(self.eval_metrics or default)

    def resolved(self) -> "Resolved":
        """Fill every None with the objective's default (its paper's settings), else the global one."""
        from .objectives import get_objective

        d = get_objective(self.objective).defaults
        betas = tuple(d.get("betas", (0.5, 0.999)))
        lr = d.get("lr", 2e-4)
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


def _positive_int(flag: str, v: Any) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise GanworksError(f"{flag} must be a positive integer, got {v!r}")


def _positive_float(flag: str, v: Any) -> None:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
        raise GanworksError(f"{flag} must be a positive finite number, got {v!r}")


def _nonneg_float(flag: str, v: Any) -> None:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
        raise GanworksError(f"{flag} must be a non-negative finite number, got {v!r}")
