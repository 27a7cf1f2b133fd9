"""The ``ganworks`` command: a thin layer over the Python API. Nothing imports this module.

Progress and logs go to stderr; results (paths, JSON) go to stdout. A GanworksError becomes one
line ``ganworks: error: ...`` and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import warnings
from pathlib import Path

from .errors import GanworksError


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _widths(s: str) -> tuple[int, ...]:
    try:
        out = tuple(int(w) for w in s.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 256,512, got {s!r}") from None
    return out


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}")
    return v


def _nonneg_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {s!r}")
    return v


def _seed(s: str) -> int:
    """A seed: torch's generators take 0 .. 2**64 - 1 (``manual_seed(2**64)`` overflows)."""
    from .options import SEED_MAX

    v = _nonneg_int(s)
    if v > SEED_MAX:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, {SEED_MAX}], got {s!r}")
    return v


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {s!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {s!r}")
    return v


# ---------------------------------------------------------------------------------------- train
# The train parser is generated from the typed config: every flag, its help, its conversion and the
# --resume rule come from TrainConfig's fields and the architectures' config dataclasses. No argparse
# default is set: the namespace holds exactly the flags typed, and the dataclass supplies the rest.
def _converter(check, flag: str):
    def convert(text: str):
        try:
            return check.convert(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    convert.__name__ = flag  # argparse names the type in some messages
    return convert


def _add_option(group, dest: str, opt, default=None, archs: list[str] | None = None) -> None:
    from .options import Bool, Registered, valid_values

    help_text = opt.help if not archs else f"{'/'.join(archs)}: {opt.help}"
    if default not in (None, "", argparse.SUPPRESS) and not isinstance(opt.check, Bool):
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        help_text += f" (default {shown})"
    elif isinstance(opt.check, Bool) and default:
        help_text += " (default on)"
    kw: dict = {"dest": dest, "default": argparse.SUPPRESS}
    if isinstance(opt.check, Bool):
        kw["action"] = argparse.BooleanOptionalAction
    else:
        kw["type"] = _converter(opt.check, opt.flag)
        kw["metavar"] = opt.metavar or opt.check.metavar or dest.upper()
    action = group.add_argument(*opt.flags, help=help_text.replace("%", "%%"), **kw)
    if isinstance(opt.check, Registered):
        action.lazy_choices = opt.check  # listed by --help only: naming them imports the registry
    elif not isinstance(opt.check, Bool) and opt.check.choices():
        action.help += f"; one of: {valid_values(opt.check)}"


class _HelpFormatter(argparse.HelpFormatter):
    """Appends registry names (datasets, objectives, ...) to a flag's help when --help is printed."""

    def _get_help_string(self, action):
        lazy = getattr(action, "lazy_choices", None)
        text = super()._get_help_string(action)
        return f"{text}; one of: {', '.join(lazy.choices())}" if lazy is not None else text


def _add_train(sub) -> None:
    from .config import GROUPS, OPTIONS, RESUME_SAFE, SHORTHANDS, WHAT, default_of
    from .models import ARCH_CONFIGS, model_options
    from .options import field_default

    p = sub.add_parser("train", help="train a GAN; prints the run directory", formatter_class=_HelpFormatter,
                       description="Train a GAN. The run directory (config, logs, sample grids, both networks) "
                                   "is printed on stdout when training ends. Settings left unset take the "
                                   "objective's paper defaults (e.g. wgan: RMSProp, lr 5e-5, 5 critic steps, "
                                   "clip 0.01), else Adam lr 2e-4 betas (0.5, 0.999), k = 1. Every option is "
                                   "also a field of ganworks.TrainConfig (docs/options.md).")
    groups = {g: p.add_argument_group(g) for g in GROUPS}
    for name, opt in OPTIONS.items():
        if name == "lr_g":
            flag, (targets, help_text) = next(iter(SHORTHANDS.items()))
            groups[opt.group].add_argument(flag, dest=flag.lstrip("-"), default=argparse.SUPPRESS, metavar="X",
                                           type=_converter(opt.check, flag), help=help_text)
        if opt.cli:
            _add_option(groups[opt.group], name, opt, default_of(name))
        if name == "model":  # the architectures' options follow --model
            for opt_name, (m_opt, archs) in model_options().items():
                defaults = {repr(field_default(ARCH_CONFIGS[arch], opt_name)) for arch in archs}
                _add_option(groups[WHAT], opt_name, m_opt, field_default(ARCH_CONFIGS[archs[0]], opt_name)
                            if len(defaults) == 1 else None, archs if len(archs) < len(ARCH_CONFIGS) else None)
    from .config import flag_of

    groups[GROUPS[-1]].add_argument(
        "--resume", metavar="RUN|auto", default=None,
        help="continue RUN from its latest valid checkpoint with its own config (only "
             f"{', '.join(flag_of(k) for k in RESUME_SAFE)} may change); auto: continue --run-dir if it has "
             "a checkpoint, else start it")
    p.set_defaults(func=_cmd_train)


def train_fields(a: argparse.Namespace) -> dict:
    """The TrainConfig fields typed on a ``ganworks train`` command line (architecture options in
    ``model_options``; ``--lr`` spread over both rates unless one is typed too)."""
    from .config import OPTIONS, SHORTHANDS
    from .models import model_options
    from .options import Registered

    typed = vars(a)
    fields = {k: v for k, v in typed.items() if k in OPTIONS}
    for k, v in fields.items():  # the plain checks now, before the registries (and torch) load
        if not isinstance(OPTIONS[k].check, Registered):
            OPTIONS[k].validate(v)
    for flag, (targets, _) in SHORTHANDS.items():
        if flag.lstrip("-") in typed:
            value = typed[flag.lstrip("-")]
            OPTIONS[targets[0]].check.validate(flag, value)
            fields.update({t: value for t in targets if t not in typed})
    arch_opts = {k: v for k, v in typed.items() if k in model_options()}
    if arch_opts:
        fields["model_options"] = arch_opts
    return fields


def _cmd_train(a: argparse.Namespace) -> int:
    import os

    from .config import TrainConfig

    fields = train_fields(a)
    cfg = TrainConfig(**fields)
    from .training import train
    # With --resume only the settings typed on this command line may change the run (the safe ones).
    run_dir = train(cfg) if a.resume is None else train(cfg, resume=a.resume, **fields)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 reports
        print(run_dir)
    return 0


# --------------------------------------------------------------------------------------- sample
def _check_out(path: str | None, suffixes: tuple[str, ...], flag: str) -> None:
    """An output file's type and writability, checked before any work (nothing is written yet)."""
    from .images import check_writable

    if path is not None and Path(path).suffix.lower() not in suffixes:
        raise GanworksError(f"{flag} {path}: unsupported file type; use {' or '.join(suffixes)}")
    if path is not None:
        check_writable(path)


def _add_force(p: argparse.ArgumentParser, what: str) -> None:
    """--force: a command that writes several files replaces none the user had unless given it."""
    p.add_argument("--force", "--overwrite", dest="force", action="store_true", help=what)


def _cmd_sample(a: argparse.Namespace) -> int:
    from .checkpoint import load_generator
    from .images import make_grid, save_image_dir, save_npy, save_png
    from .sampling import sample
    from .sequences.run import is_sequence_run

    if is_sequence_run(a.run):
        return _sample_text(a)
    if a.txt is not None or a.temperature is not None:
        raise GanworksError(f"--txt and --temperature apply to sequence runs; {a.run} is not one (use --out, --npy "
                            "or --dir for images)")
    if a.out is None and a.npy is None and a.dir is None:
        a.out = "samples.png"
    _check_out(a.out, (".png",), "--out")
    _check_out(a.npy, (".npy",), "--npy")
    from .images import image_dir_existing, plot_points, refuse_existing

    named = [p for p in (a.out, a.npy) if p is not None]
    if a.dir is not None or len(named) > 1:  # several files: replace none the user had unless --force
        refuse_existing([*named, *(image_dir_existing(a.dir, a.n) if a.dir is not None else [])], a.force)
    from .sampling import is_points, num_classes

    G = load_generator(a.run)
    if a.out is None and not (a.dir and is_points(G)):
        return _stream_samples(G, a)  # --npy / --dir only: piece by piece, so --n is bounded by disk
    from .sampling import check_sample_size

    grid = (a.nrow or (-(-a.n // num_classes(G)) if num_classes(G) and a.cls is None else None), a.scale)
    check_sample_size(G, a.n, f"--n {a.n}" + (f" --nrow {a.nrow}" if a.nrow else "") + f" --scale {a.scale}",
                      grid if a.out else None)
    imgs = sample(G, a.n, seed=a.seed, labels=a.cls)
    if a.nrow is None and num_classes(G) and a.cls is None:
        a.nrow = -(-a.n // num_classes(G))  # one class per row
    written = []
    if is_points(G):  # a generator of 1-D/2-D points: a histogram/scatter plot and an (N, D) float array
        if a.dir:
            raise GanworksError("--dir writes one PNG per image; this generator makes points (use --npy or --out)")
        if a.out:
            written.append(save_png(plot_points(imgs), a.out))
        a.out = None
    if a.out:
        written.append(save_png(make_grid(imgs, nrow=a.nrow), a.out, scale=a.scale))
    if a.npy:
        written.append(save_npy(imgs, a.npy))
    if a.dir:
        save_image_dir(imgs, a.dir, overwrite=a.force)
        written.append(Path(a.dir))
    for w in written:
        print(w)
    return 0


def _sample_text(a: argparse.Namespace) -> int:
    """A sequence run: ``--n`` sequences as text, one a line, to ``--txt`` (default samples.txt)."""
    from .sequences.run import sample_text

    for flag, value in (("--out", a.out), ("--npy", a.npy), ("--dir", a.dir), ("--class", a.cls), ("--nrow", a.nrow)):
        if value is not None:
            raise GanworksError(f"{flag} applies to images; {a.run} generates token sequences (use --txt FILE.txt)")
    out = a.txt or "samples.txt"
    _check_out(out, (".txt",), "--txt")
    lines = sample_text(a.run, a.n, a.seed, a.temperature if a.temperature is not None else 1.0)
    from .images import atomic_path

    with atomic_path(out) as tmp:
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    print(out)
    return 0


def _stream_samples(G, a: argparse.Namespace) -> int:
    """``sample --npy/--dir`` without a grid: the samples are drawn and written a chunk at a time (the
    same samples as in one piece), so memory holds one chunk and the disk bounds --n."""
    from .files import check_disk
    from .images import npy_writer, save_image_dir
    from .sampling import CHUNK_ROWS, check_sample_size, is_points, sample_chunks

    check_sample_size(G, min(a.n, CHUNK_ROWS), f"--n {a.n}")  # one chunk in memory at a time
    item = tuple(G.cfg.image_shape)
    per_sample = math.prod(item) * (4 if is_points(G) else 1)
    for where in (a.npy, a.dir):
        if where is not None:
            check_disk(a.n * per_sample, where, f"--n {a.n}")
    dtype = "float32" if is_points(G) else "uint8"
    with contextlib.ExitStack() as stack:
        write_npy = stack.enter_context(npy_writer(a.npy, a.n, item, dtype)) if a.npy else None
        start = 0
        for chunk in sample_chunks(G, a.n, seed=a.seed, labels=a.cls, rows=CHUNK_ROWS):
            if write_npy is not None:
                write_npy(chunk)
            if a.dir:  # existing files were refused (or --force given) before anything was drawn
                save_image_dir(chunk, a.dir, start=start, overwrite=True)
            start += len(chunk)
    for w in (a.npy, a.dir):
        if w is not None:
            print(w)
    return 0


def _add_sample(sub) -> None:
    p = sub.add_parser("sample", help="turn noise into images with a trained generator",
                       description="Sample a trained generator (run or snapshot directory).")
    p.add_argument("run", help="run or snapshot directory (holds generator.safetensors + generator.json)")
    p.add_argument("--n", type=_positive_int, default=64, help="number of samples (default 64)")
    p.add_argument("--seed", type=_seed, default=0, help="noise seed (default 0)")
    p.add_argument("--out", help="PNG grid to write (default samples.png when no other output is named)")
    p.add_argument("--npy", help="write the samples as a uint8 .npy, N x H x W (N x C x H x W for colour)")
    p.add_argument("--dir", help="write each sample as NNNNNN.png into this folder")
    p.add_argument("--class", dest="cls", type=_nonneg_int, metavar="C",
                   help="conditional generators: sample only class C (default: one class per grid row)")
    p.add_argument("--nrow", type=_positive_int, help="images per grid row (default: square)")
    p.add_argument("--scale", type=_positive_int, default=2, help="pixel scale of the grid PNG (default 2)")
    p.add_argument("--txt", metavar="FILE.txt", help="sequence runs: write the samples as text, one a line "
                                                   "(default samples.txt)")
    p.add_argument("--temperature", type=_positive_float, metavar="T",
                   help="sequence runs: draw from softmax(logits / T) (default 1; below 1: likelier, less diverse)")
    _add_force(p, "with --dir, or two of --out/--npy/--dir: replace existing files (default: refuse, naming one)")
    p.set_defaults(func=_cmd_sample)


# ---------------------------------------------------------------------------------- interpolate
def _cmd_interpolate(a: argparse.Namespace) -> int:
    from .checkpoint import load_generator
    from .images import make_grid, save_gif, save_png
    from .sampling import interpolate

    _check_out(a.out, (".png", ".gif"), "--out")
    from .sequences.run import is_sequence_run

    if is_sequence_run(a.run):
        raise GanworksError(f"{a.run} generates token sequences from no latent code; interpolate draws images "
                            "(use ganworks sample RUN --txt FILE.txt)")
    G = load_generator(a.run)
    from .sampling import is_points
    if is_points(G):
        raise GanworksError(f"{a.run} holds a generator of 2-D points; interpolate draws images (use sample --npy)")
    from .sampling import check_sample_size

    # the walks, then the strip (PNG) or one frame per step there and back (GIF)
    grid = (a.rows, a.scale) if Path(a.out).suffix.lower() == ".gif" else (a.steps, a.scale)
    frames = 2 * a.steps if Path(a.out).suffix.lower() == ".gif" else 1
    check_sample_size(G, a.steps * a.rows, f"--steps {a.steps} --rows {a.rows} --scale {a.scale}", None)
    from .files import check_fits
    from .images import grid_bytes

    check_fits(frames * grid_bytes(a.rows if frames > 1 else a.rows * a.steps, G.cfg.image_shape, *grid),
               f"--steps {a.steps} --rows {a.rows} --scale {a.scale}", "ask for fewer or smaller images")
    walk = interpolate(G, steps=a.steps, rows=a.rows, seed=a.seed, spherical=a.slerp)  # (R, K, C, H, W)
    if Path(a.out).suffix.lower() == ".gif":
        # One frame per step (each frame: the R walks side by side), there and back again.
        frames = [make_grid(walk[:, k], nrow=a.rows) for k in range(a.steps)]
        save_gif(frames + frames[-2:0:-1], a.out, scale=a.scale)
    else:
        save_png(make_grid(walk.flatten(0, 1), nrow=a.steps), a.out, scale=a.scale)
    print(a.out)
    return 0


def _add_interpolate(sub) -> None:
    p = sub.add_parser("interpolate", help="walk the latent space between random points",
                       description="Each row walks from one random latent vector to another in --steps steps.")
    p.add_argument("run", help="run or snapshot directory")
    p.add_argument("--steps", type=_positive_int, default=10, help="images per walk (default 10)")
    p.add_argument("--rows", type=_positive_int, default=8, help="number of walks (default 8)")
    p.add_argument("--slerp", action="store_true", help="spherical instead of linear interpolation")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--out", default="interpolation.png", help="strip of walks (.png) or an animation (.gif)")
    p.add_argument("--scale", type=_positive_int, default=2)
    p.set_defaults(func=_cmd_interpolate)


# ----------------------------------------------------------------------------------------- data
def _cmd_data(a: argparse.Namespace) -> int:
    from . import data

    if a.action == "list":
        for name in data.list_datasets():
            info = data.dataset_info(name)
            mark = "cached" if info.get("cached") else "not cached"
            print(f"{name:<15} {mark:<11} {info.get('description', '')}")
    elif a.action == "info":
        print(json.dumps(data.dataset_info(a.name), indent=2))
    elif a.action == "fetch":
        for p in data.fetch_dataset(a.name):
            print(p)
    elif a.action == "pick":
        # The first of the named datasets that needs no download (make demo: mnist, else mnist-5k).
        for name in a.names:
            if data.is_cached(name):
                print(name)
                return 0
        raise GanworksError(f"none of {', '.join(a.names)} is available offline; try: ganworks data fetch {a.names[0]}")
    return 0


def _add_data(sub) -> None:
    p = sub.add_parser("data", help="list, describe and download datasets")
    dsub = p.add_subparsers(dest="action", required=True, metavar="{list,info,fetch,pick}", parser_class=OneLineParser)
    dsub.add_parser("list", help="datasets and whether they are cached")
    dsub.add_parser("info", help="one dataset's details (JSON)").add_argument("name")
    dsub.add_parser("fetch", help="download (or locate) a dataset's files").add_argument("name")
    pk = dsub.add_parser("pick", help="print the first of NAMES usable offline")
    pk.add_argument("names", nargs="+")
    p.set_defaults(func=_cmd_data)


# --------------------------------------------------------------------------------------- report
def _cmd_report(a: argparse.Namespace) -> int:
    from .report import write_report

    _check_out(a.out, (".html", ".htm"), "--out")
    print(write_report(a.run, a.out))
    return 0


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="write a self-contained HTML report of a run",
                       description="Write one HTML file about a run: loss, D-output and metric curves, sample "
                                   "grids over time, a latent interpolation strip, the config and provenance. "
                                   "Every image is embedded; the page loads nothing else. Prints its path.")
    p.add_argument("run", help="run directory (written by ganworks train)")
    p.add_argument("--out", metavar="PATH.html", help="where to write it (default RUN/report.html)")
    p.set_defaults(func=_cmd_report)


# ------------------------------------------------------------------------------------- evaluate
def _cmd_evaluate(a: argparse.Namespace) -> int:
    from .images import atomic_path
    from .metrics.evaluate import evaluate, format_table, parse_metrics
    from .metrics.registry import DEFAULT_METRICS
    from .sequences.run import is_sequence_run

    if is_sequence_run(a.source):
        return _evaluate_sequences(a)
    if a.temperature is not None:
        raise GanworksError(f"--temperature applies to sequence runs; {a.source} is not one")
    if a.data is None:
        raise GanworksError("--data is required: the dataset the samples imitate, e.g. mnist-5k (a sequence run "
                            "is scored against its own data)")
    a.metrics = a.metrics or ",".join(DEFAULT_METRICS)
    parse_metrics(a.metrics)  # an unknown metric fails before any work
    if a.n is not None and a.n > 10**6:  # the same bound as train --eval-n: FD/KID settle long before
        raise GanworksError(f"--n must be at most 1000000 samples, got {a.n}")
    if a.json is not None:
        _check_out(a.json, (".json",), "--json")
    result = evaluate(a.source, data=a.data, metrics=a.metrics, n=a.n, seed=a.seed, extractor=a.extractor,
                      split=a.split, batch_size=a.batch_size, reference=a.reference,
                      extractor_weights=a.extractor_weights,
                      log=lambda s: print(f"evaluate: {s}", file=sys.stderr, flush=True))
    return _report_evaluation(result, a.json, format_table)


def _report_evaluation(result: dict, json_path: str | None, table) -> int:
    """--json: every value with its provenance; the table on stdout."""
    from .images import atomic_path

    if json_path is not None:
        with atomic_path(json_path) as tmp:
            tmp.write_text(json.dumps(result, indent=2) + "\n")
        print(f"evaluate: wrote {json_path}", file=sys.stderr)
    print(table(result))
    return 0


def _evaluate_sequences(a: argparse.Namespace) -> int:
    from .sequences.metrics import parse_metrics
    from .sequences.run import evaluate_run, format_table

    if a.metrics:
        parse_metrics(a.metrics)  # an unknown metric fails before any work
    if a.json is not None:
        _check_out(a.json, (".json",), "--json")
    result = evaluate_run(a.source, a.metrics, n=a.n, seed=a.seed, data=a.data,
                          temperature=a.temperature if a.temperature is not None else 1.0,
                          log=lambda s: print(f"evaluate: {s}", file=sys.stderr, flush=True))
    return _report_evaluation(result, a.json, format_table)


def _add_evaluate(sub) -> None:
    from .metrics.registry import DEFAULT_METRICS

    p = sub.add_parser("evaluate", help="score samples against a dataset (FD, KID, precision/recall, modes, ...)",
                       description="Score a run (sampled) or a .npy of uint8 samples against a dataset's reference "
                                   "split (its test split when it has one, else train). Prints a table on stdout; "
                                   "--json writes every value with its provenance. Progress goes to stderr.")
    p.add_argument("source", metavar="RUN_OR_SAMPLES.npy",
                   help="run or snapshot directory, or a .npy of uint8 images (N, H, W) or (N, C, H, W)")
    p.add_argument("--data", help="dataset the samples imitate, e.g. mnist-5k, fashion-mnist, stacked-mnist "
                                  "(required, but for a sequence run: its own data)")
    p.add_argument("--metrics",
                   help=f"comma-separated: fd, kid, pr, dc, score, modes, parzen (mixture for ring8/grid25); "
                        f"default {','.join(DEFAULT_METRICS)}; sequence runs: nll-oracle, nll-gen, bleu, self-bleu, "
                        "validity, unique, novel (default: those that fit the data)")
    p.add_argument("--temperature", type=_positive_float, metavar="T",
                   help="sequence runs: sample from softmax(logits / T) (default 1)")
    p.add_argument("--n", type=_positive_int,
                   help="number of samples (run: default 10000, 26000 for stacked-mnist; .npy: default all)")
    p.add_argument("--seed", type=_seed, default=0, help="sampling noise and reference subsets (default 0)")
    p.add_argument("--extractor", help="feature extractor: lenet-mnist, lenet-fashion or inception "
                                       "(default: lenet-mnist for the MNIST family, lenet-fashion for fashion-mnist)")
    p.add_argument("--inception-weights", "--extractor-weights", dest="extractor_weights", metavar="PATH",
                   help="weights file for the extractor (e.g. Inception-v3 on an offline machine)")
    p.add_argument("--split", help="reference split (default: test if the dataset has one, else train)")
    p.add_argument("--reference", metavar="REF.npy", help="a .npy of uint8 reference images instead of a split")
    p.add_argument("--batch-size", type=_positive_int, default=500, help="images per forward pass (default 500)")
    p.add_argument("--json", metavar="OUT.json", help="write the full results and provenance here")
    p.set_defaults(func=_cmd_evaluate)


# ----------------------------------------------------------------------------------- classifier
def _cmd_classifier(a: argparse.Namespace) -> int:
    from .metrics.classifier import train_classifier

    info = train_classifier(a.data, epochs=a.epochs, seed=a.seed, out_dir=a.out, overwrite=a.force,
                            log=lambda s: print(s, file=sys.stderr, flush=True))
    for path in info["paths"]:
        print(path)
    return 0


def _add_classifier(sub) -> None:
    p = sub.add_parser("classifier", help="train the LeNet classifier behind the lenet-* feature extractors")
    csub = p.add_subparsers(dest="action", required=True, metavar="{train}", parser_class=OneLineParser)
    t = csub.add_parser("train", help="train on a dataset; writes NAME.safetensors and NAME.json",
                        description="Train the LeNet classifier (lenet-mnist or lenet-fashion) and write its weights "
                                    "and a JSON record of how it was trained and its held-out test accuracy.")
    t.add_argument("--data", required=True, help="mnist, mnist-5k or fashion-mnist")
    t.add_argument("--epochs", type=_positive_int, help="default: 15 for mnist-5k, 4 for mnist, 5 for fashion-mnist")
    t.add_argument("--out", default=".", help="directory for NAME.safetensors and NAME.json (default .)")
    _add_force(t, "replace an existing NAME.safetensors or NAME.json (default: refuse before training)")
    t.add_argument("--seed", type=_seed, default=0)
    p.set_defaults(func=_cmd_classifier)


# ------------------------------------------------------------------------------------------ lab
def _cmd_lab(a: argparse.Namespace) -> int:
    from .lab import EXPERIMENTS, get_experiment, run_experiment

    if a.name == "list":
        width = max(len(n) for n in EXPERIMENTS)
        for e in EXPERIMENTS.values():
            print(f"{e.name:<{width}}  {e.summary}")
        return 0
    exp = get_experiment(a.name)
    out = a.out or f"lab-{exp.name}{exp.figure_suffix}"
    _check_out(out, (exp.figure_suffix,), "--out")
    options = {}
    if exp.name == "training-movie":
        html = a.html or str(Path(out).with_suffix(".html"))
        _check_out(html, (".html",), "--html")
        options["html"] = Path(html)
    elif a.html:
        raise GanworksError(f"--html applies to training-movie, not {exp.name!r}")
    if a.kimg is not None:
        if not (math.isfinite(a.kimg) and a.kimg > 0):
            raise GanworksError(f"--kimg must be a positive finite number, got {a.kimg!r}")
        if exp.name not in ("mode-collapse", "training-movie"):
            raise GanworksError(f"--kimg applies to mode-collapse and training-movie, not {exp.name!r}")
        options["kimg"] = a.kimg
    if a.json:
        _check_out(a.json, (".json",), "--json")
    outputs = [out, *([options["html"]] if "html" in options else []), *([a.json] if a.json else [])]
    if len(outputs) > 1:  # several files: replace none the user had unless --force
        from .images import refuse_existing

        refuse_existing(outputs, a.force)
    if exp.name == "training-movie":
        options["overwrite"] = True  # checked above, with --json too
    print(f"lab {exp.name}: {exp.summary} ({exp.citation})", file=sys.stderr)
    res = run_experiment(exp.name, seed=a.seed, quick=a.quick, out=out, **options)
    for c in res["checks"]:
        expected = c.get("bound") or f"= {c['closed_form']:.6g} +- {c['tolerance']:g}"
        print(f"  [{'ok' if c['ok'] else 'FAIL'}] {c['claim']}: {c['measured']:.6g} (closed form / bound "
              f"{expected})", file=sys.stderr)
    text = json.dumps(res, indent=2) + "\n"
    if a.json:
        from .images import atomic_path

        with atomic_path(a.json) as tmp:
            tmp.write_text(text)
        print(a.json)
    else:
        print(text, end="")
    written = [res["figure"]] + ([res["html"]] if res.get("html") else [])
    print(f"figure: {', '.join(written)}; {res['time_s']:.1f}s; "
          f"{'every claim reproduced' if res['all_ok'] else 'NOT every claim reproduced (exit 1)'}", file=sys.stderr)
    return 0 if res["all_ok"] else 1


def _add_lab(sub) -> None:
    from .lab import EXPERIMENTS

    p = sub.add_parser("lab", help="run one experiment of the theory lab (ganworks lab list)",
                       description="Measure one claim of GAN theory and draw it. Results (JSON, each measured value "
                                   "next to its closed form) go to stdout or --json; the figure to --out. Exit "
                                   "status 1 when a claim was not reproduced within its tolerance.")
    p.add_argument("name", metavar="NAME", choices=["list", *EXPERIMENTS],
                   help="list, or one of: " + ", ".join(EXPERIMENTS))
    p.add_argument("--out", help="figure to write (default lab-NAME.png; training-movie: lab-training-movie.gif)")
    p.add_argument("--json", help="write the results here instead of stdout")
    p.add_argument("--seed", type=_seed, default=0, help="seed for data, networks and noise (default 0)")
    p.add_argument("--quick", action="store_true", help="a smaller, faster version (seconds, not minutes)")
    p.add_argument("--kimg", type=float, help="mode-collapse / training-movie: training length per run")
    p.add_argument("--html", help="training-movie: the standalone HTML page (default: --out with .html)")
    _add_force(p, "with --json, or training-movie (GIF + HTML): replace existing files (default: refuse, naming one)")
    p.set_defaults(func=_cmd_lab)


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__

    p = OneLineParser(prog="ganworks", description="Train, sample and understand generative adversarial networks.")
    p.add_argument("--version", action="version", version=f"ganworks {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)
    _add_train(sub)
    _add_sample(sub)
    _add_interpolate(sub)
    _add_report(sub)
    _add_data(sub)
    _add_evaluate(sub)
    _add_classifier(sub)
    _add_lab(sub)
    return p


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (skipped files, small-sample metrics) as one line each, without a source listing."""
    print(f"ganworks: warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


def _on_sigterm(signum, frame) -> None:
    """SIGTERM before training has its own handler (while torch and the data load): the same one line
    and status 143 as later, instead of a silent death."""
    e = KeyboardInterrupt("interrupted by SIGTERM")
    e.signum = signum  # type: ignore[attr-defined]
    raise e


def main(argv: list[str] | None = None) -> int:
    import os
    import signal
    import threading

    argv = sys.argv[1:] if argv is None else list(argv)
    warnings.showwarning = _warning_line
    # Not under torchrun, whose own handling stops every rank (see training/lock.py).
    alone = os.environ.get("WORLD_SIZE", "1").strip() in ("", "1")
    handle = alone and threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if handle else None
    try:
        code = _run(argv)
    finally:
        if handle:
            signal.signal(signal.SIGTERM, previous)
    if not alone and argv[:1] == ["train"]:
        # A torchrun worker whose run is over (process group destroyed, every file written and
        # closed) leaves at once: gloo's threads can otherwise still be torn down by C++ static
        # destructors at interpreter exit, which now and then aborts the process under load
        # ("terminate called without an active exception") after a run that succeeded.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GanworksError as e:
        print(f"ganworks: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        # The environment failed under a write or read the code did not wrap (a disk filling up
        # mid-run): still one line that names the file, not a traceback.
        where = f": {e.filename}" if e.filename else ""
        print(f"ganworks: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        # SIGINT (Ctrl-C) and SIGTERM (schedulers, docker stop) alike: ``train`` stops after the current
        # step with a checkpoint and says so (training.lock.Interrupted); the status is 128 + the signal.
        signum = int(getattr(e, "signum", 2))  # 2: SIGINT
        print(f"ganworks: {str(e) or 'interrupted'}", file=sys.stderr)
        return 128 + signum


if __name__ == "__main__":
    raise SystemExit(main())
