"""Resume state: everything a run needs to continue bit for bit, stored without pickle.

A checkpoint is a directory ``RUN/checkpoints/ckpt-NNNNNNNNN/`` (NNNNNNNNN = images shown to D):

- ``state.safetensors``: every tensor (G, D, EMA of G, both optimizers' moments, every RNG state
  as a uint8 tensor, the replay buffer, the tick's partial sums);
- ``state.json``: everything else (counters, optimizer hyper-parameters, model config, data
  order position), plain JSON;
- ``manifest.json``: size and sha256 of the two files above, written last.

The directory is assembled under a temporary name, every file is fsynced, and it appears under
its final name with one ``os.replace``, so a reader sees a whole checkpoint or none. A checkpoint
whose manifest is missing or disagrees with its files (a crash mid-write, a truncated copy, a
flipped bit) is skipped with a warning naming the file, and the previous one is used.

Loading never unpickles: tensors come from safetensors and the rest from JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import GanworksError
from ..images import usual_mode
from ..schema import Any_, Bool, Dict, Float, Int, List, Map, Opt, Str, check
from .data import IndexBatches  # noqa: F401  (moved to data.py; importable from here as before)

FORMAT = "ganworks-resume-1"
FILES = ("state.safetensors", "state.json")
_NAME = re.compile(r"^ckpt-(\d{9,})$")

# state.json, checked before any value is used: its manifest can be rewritten to match a forged file.
_COUNT, _KIMG = Int(0, 2**62), Float(0, finite=False)  # next_* / intervals may be inf (an event that never comes)
_COUNTERS = Dict({"nimg": _COUNT}, optional={
    "tick": _COUNT, "d_step_count": _COUNT, "g_step_count": _COUNT, "next_tick": _KIMG, "next_snap": _KIMG,
    "next_eval": _KIMG, "next_ckpt": _KIMG, "elapsed_s": Float(0), "best_value": Opt(Float()),
    "last_d_acc": Opt(Float(0, 1)), "rollbacks": _COUNT, "intervals": Map(_KIMG, max_len=16),
    "tail_from": Opt(_COUNT), "next_pick": _KIMG, "picked_value": Opt(Float()),
    "picked_at": Opt(List(Float(0), min_len=2, max_len=2)), "scored_step": Opt(_COUNT)}, extra=False)
_OPTIMIZER = Dict({"class": Str(), "param_groups": List(Dict({"params": List(Int(0))}), min_len=1),
                   "state": Map(Map(Dict(optional={"tensor": Str(), "value": Any_})))})
STATE_SCHEMA = Dict({
    "format": Str((FORMAT,)), "counters": _COUNTERS, "tick_counts": Map(_COUNT),
    "optimizers": Dict({"G": _OPTIMIZER, "D": _OPTIMIZER}),
    "rng": Dict({"numpy": Dict({"kind": Str(("MT19937",)), "pos": Int(0, 624), "has_gauss": Int(0, 1),
                                "gauss": Float()}),
                 "python": Dict({"version": Int(0, 99), "gauss_next": Opt(Float())})},
                optional={"cuda_devices": Int(0, 4096)}),
    "data": Dict({"n": Int(1), "batch_size": Int(1), "pos": Int(0), "started": Bool}),
    "replay": Opt(Dict({"size": Int(0), "capacity": Int(0)})), "model": Dict({"arch": Str()}), "train": Dict(),
    "world_size": Int(1)}, optional={"budget": Opt(Dict({"at_tick_s": Float(0)})), "ganworks_version": Str(),
                                     "kept": Dict(optional={name: Dict({"kimg": Float(0), "record": Dict()})
                                                            for name in ("best", "picked")}, extra=False)})


def check_tensors(tensors: dict[str, Tensor], expected: dict[str, tuple[tuple[int, ...] | None, torch.dtype]],
                  where: str) -> None:
    """Each ``expected`` name is in ``tensors`` with that shape (None: any) and dtype; else one line."""
    for name, (shape, dtype) in expected.items():
        t = tensors.get(name)
        if t is None:
            raise GanworksError(f"{where}: tensor {name!r} is missing; the file is damaged or was edited")
        if t.dtype != dtype or (shape is not None and tuple(t.shape) != tuple(shape)):
            raise GanworksError(f"{where}: tensor {name!r} is {str(t.dtype)[6:]} {tuple(t.shape)}, expected "
                                f"{str(dtype)[6:]} {tuple(shape) if shape is not None else '(any shape)'}; "
                                "the file is damaged or was edited")


# ------------------------------------------------------------------------------------------ RNGs
def rng_state() -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Every global RNG: torch CPU (and CUDA), numpy, Python's random. States become uint8 /
    int64 tensors; the small scalar parts go to JSON."""
    tensors = {"rng.torch": torch.get_rng_state()}
    meta: dict[str, Any] = {"cuda_devices": 0}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states = torch.cuda.get_rng_state_all()
        meta["cuda_devices"] = len(states)
        for i, s in enumerate(states):
            tensors[f"rng.cuda.{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    meta["numpy"] = {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)}
    version, internal, gauss_next = random.getstate()
    tensors["rng.python"] = torch.tensor(internal, dtype=torch.int64)  # 625 words < 2**32
    meta["python"] = {"version": version, "gauss_next": gauss_next}
    return tensors, meta


def set_rng_state(tensors: dict[str, Tensor], meta: dict[str, Any], where: str = "checkpoint") -> None:
    n = meta.get("cuda_devices", 0)
    use_cuda = bool(n and torch.cuda.is_available() and torch.cuda.device_count() == n)
    check_tensors(tensors, {"rng.torch": (tuple(torch.get_rng_state().shape), torch.uint8),
                            "rng.numpy": ((624,), torch.int64), "rng.python": ((625,), torch.int64),
                            **{f"rng.cuda.{i}": (None, torch.uint8) for i in range(n if use_cuda else 0)}}, where)
    torch.set_rng_state(tensors["rng.torch"])
    if n and torch.cuda.is_available() and torch.cuda.device_count() == n:
        torch.cuda.set_rng_state_all([tensors[f"rng.cuda.{i}"] for i in range(n)])
    npm = meta["numpy"]
    np.random.set_state((npm["kind"], tensors["rng.numpy"].numpy().astype(np.uint32), npm["pos"],
                         npm["has_gauss"], npm["gauss"]))
    py = meta["python"]
    random.setstate((py["version"], tuple(int(v) for v in tensors["rng.python"].tolist()), py["gauss_next"]))


# ------------------------------------------------------------------------------------ optimizers
def optimizer_state(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """An optimizer's state_dict, flattened: tensors keyed ``prefix.state.I.NAME``, the rest JSON."""
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    state_meta: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        entry: dict[str, Any] = {}
        for name, v in st.items():
            if isinstance(v, Tensor):
                key = f"{prefix}.state.{idx}.{name}"
                tensors[key] = v.detach().to("cpu").contiguous()
                entry[name] = {"tensor": key}
            else:
                entry[name] = {"value": v}
        state_meta[str(idx)] = entry
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"class": type(opt).__name__, "param_groups": groups, "state": state_meta}


def load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, Tensor], meta: dict[str, Any], what: str,
                   where: str = "checkpoint") -> None:
    if meta["class"] != type(opt).__name__:
        raise GanworksError(f"the checkpoint's {what} optimizer is {meta['class']}, this run uses {type(opt).__name__}")
    params = [p for g in opt.param_groups for p in g["params"]]
    for idx, entry in meta["state"].items():  # every tensor it names exists and fits its parameter
        if not idx.isdigit() or int(idx) >= len(params):
            raise GanworksError(f"{where}: {what} optimizer state names parameter {idx!r}; this run's optimizer "
                                f"has parameters 0 to {len(params) - 1}")
        for name, v in entry.items():
            if len(v) != 1:
                raise GanworksError(f"{where}: {what} optimizer state {idx}.{name} must hold one 'tensor' or "
                                    "'value'; the file is damaged or was edited")
            t = tensors.get(v["tensor"]) if "tensor" in v else None
            if "tensor" in v and (t is None or not t.is_floating_point()
                                  or tuple(t.shape) not in ((), tuple(params[int(idx)].shape))):
                got = f"{str(t.dtype)[6:]} {tuple(t.shape)}" if t is not None else "missing"
                raise GanworksError(f"{where}: {what} optimizer tensor {v['tensor']!r} is {got}, expected a float "
                                    f"scalar or {tuple(params[int(idx)].shape)}; the file is damaged or was edited")
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    state = {int(idx): {name: (tensors[v["tensor"]] if "tensor" in v else v["value"]) for name, v in entry.items()}
             for idx, entry in meta["state"].items()}
    try:
        opt.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as e:
        raise GanworksError(f"the checkpoint's {what} optimizer state does not fit this run: {e}") from None


def module_state(prefix: str, module: torch.nn.Module) -> dict[str, Tensor]:
    return {f"{prefix}.{k}": v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}


def take(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The tensors under ``prefix.``, with the prefix removed."""
    p = prefix + "."
    return {k[len(p):]: v for k, v in tensors.items() if k.startswith(p)}


# ------------------------------------------------------------------------------- files on disk
def checkpoint_root(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / "checkpoints"


def checkpoint_name(nimg: int) -> str:
    return f"ckpt-{nimg:09d}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(run_dir: str | os.PathLike, nimg: int, tensors: dict[str, Tensor], meta: dict[str, Any],
                    keep: int) -> Path:
    """Write one checkpoint atomically and delete all but the newest ``keep``. Returns its path."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    root = checkpoint_root(run_dir)
    final = root / checkpoint_name(nimg)
    tmp = root / f".{final.name}.tmp-{os.getpid()}"
    try:
        root.mkdir(exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp / "state.safetensors"),
                  metadata={"format": FORMAT})
        os.chmod(tmp / "state.safetensors", usual_mode())  # safetensors makes 0600; the usual mode, like state.json
        (tmp / "state.json").write_text(json.dumps({"format": FORMAT, **meta}, indent=1) + "\n")
        manifest = {"format": FORMAT, "nimg": nimg,
                    "files": {n: {"size": (tmp / n).stat().st_size, "sha256": _sha256(tmp / n)} for n in FILES}}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        for n in (*FILES, "manifest.json"):
            with open(tmp / n, "rb") as f:
                os.fsync(f.fileno())
        _fsync_dir(tmp)
        if final.exists():  # the same images-seen point written before (a resumed run, a corrupt copy)
            old = root / f".{final.name}.old-{os.getpid()}"
            os.replace(final, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, final)
        _fsync_dir(root)
    except (OSError, SafetensorError) as e:  # a full disk: safetensors raises its own error type, not OSError
        shutil.rmtree(tmp, ignore_errors=True)
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e).splitlines()[0]
        raise GanworksError(f"cannot write checkpoint {final}: {why}; the previous checkpoint is kept") from None
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Complete-looking checkpoint directories, oldest first (temporary ones are ignored)."""
    root = checkpoint_root(run_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def verify(ckpt: Path) -> str | None:
    """None when the checkpoint is whole; otherwise why not, naming the file."""
    from safetensors import SafetensorError, safe_open

    mpath = ckpt / "manifest.json"
    for name in ("manifest.json", *FILES):  # a FIFO in place of one would block its read forever
        if (ckpt / name).exists() and not (ckpt / name).is_file():
            return f"{ckpt / name} is not a regular file"
    try:
        manifest = json.loads(mpath.read_text())
        files = manifest["files"]
        if manifest.get("format") != FORMAT or set(files) != set(FILES):
            return f"{mpath} is not a {FORMAT} manifest"
    except FileNotFoundError:
        return f"{mpath} is missing (the checkpoint was never completed)"
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"{mpath} is unreadable ({e})"
    for name, want in files.items():
        p = ckpt / name
        try:
            size = p.stat().st_size
        except OSError:
            return f"{p} is missing"
        if size != want.get("size"):
            return f"{p} is truncated or padded ({size} bytes, the manifest says {want.get('size')})"
        if _sha256(p) != want.get("sha256"):
            return f"{p} is corrupt (sha256 differs from the manifest)"
    try:  # a file whose hash matches a rewritten manifest must still parse as what it claims to be
        with safe_open(str(ckpt / "state.safetensors"), framework="pt") as f:
            if (f.metadata() or {}).get("format") != FORMAT:
                return f"{ckpt / 'state.safetensors'} is not a ganworks resume state"
        meta = json.loads((ckpt / "state.json").read_text())
        if meta.get("format") != FORMAT:
            return f"{ckpt / 'state.json'} is not a ganworks resume state"
    except (SafetensorError, OSError, ValueError) as e:
        return f"{ckpt / 'state.safetensors'} is not a readable safetensors file ({str(e).splitlines()[0]})"
    return None


def latest_checkpoint(run_dir: str | os.PathLike) -> tuple[Path | None, list[str]]:
    """The newest whole checkpoint and the reasons each newer one was skipped."""
    skipped = []
    for ckpt in reversed(list_checkpoints(run_dir)):
        why = verify(ckpt)
        if why is None:
            return ckpt, skipped
        skipped.append(why)
    return None, skipped


def load_checkpoint(ckpt: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The tensors and JSON of a verified checkpoint (safetensors + JSON: nothing is unpickled)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors, meta = load_file(str(ckpt / "state.safetensors")), json.loads((ckpt / "state.json").read_text())
    except (SafetensorError, OSError, ValueError, RecursionError) as e:
        raise GanworksError(f"cannot read checkpoint {ckpt}: {str(e).splitlines()[0]}") from None
    return tensors, check(meta, STATE_SCHEMA, ckpt / "state.json")


@dataclass
class Counters:
    """The loop's position: images seen, ticks, steps and the next scheduled events."""

    nimg: int = 0
    tick: int = 0
    d_step_count: int = 0
    g_step_count: int = 0
    next_tick: float = 0.0
    next_snap: float = 0.0
    next_eval: float = 0.0
    next_ckpt: float = 0.0
    elapsed_s: float = 0.0
    best_value: float | None = None
    last_d_acc: float | None = None
    rollbacks: int = 0
    intervals: dict[str, float] = field(default_factory=dict)  # the schedule the next_* were counted on
    tail_from: int | None = None  # --ema-tail: the G step where the running mean began (None: not yet, or off)
    next_pick: float = 0.0  # --pick-tail: where G is next scored (written since --pick-tail existed)
    picked_value: float | None = None  # --pick-tail: the best score in the tail so far (RUN/picked/); None: none yet
    picked_at: list[float] | None = None  # --pick-tail: [images, training seconds at the last tick] of that score
    scored_step: int | None = None  # --pick-tail: the G step of the last score (None: none yet)


# --------------------------------------------------------------------------- which run, which config
def flag_name(key: str) -> str:
    """The command-line flag of a TrainConfig field or architecture option (for messages)."""
    from ..config import flag_of

    return flag_of(key)


def _plain(v: Any) -> Any:
    return json.loads(json.dumps(v))  # tuples -> lists, as stored in config.json


def _as_resolved(stored: dict[str, Any], resolved: dict[str, Any] | None) -> dict[str, Any]:
    """The optimizer settings the run left unset, as they were resolved when it started (config.json's
    "resolved"): a run continues at its own rates and betas when a later ganworks changes the recipe's or
    an objective's defaults. Empty for a config.json without them."""
    from dataclasses import fields

    from ..config import Resolved

    if not isinstance(resolved, dict):
        return {}
    # Every field of Resolved but betas has a config field of its name (betas: beta1, beta2).
    pinned = {f.name: resolved[f.name] for f in fields(Resolved)
              if f.name != "betas" and stored.get(f.name) is None and f.name in resolved}
    betas = resolved.get("betas")
    if isinstance(betas, list) and len(betas) == 2:
        pinned.update({name: beta for name, beta in zip(("beta1", "beta2"), betas) if stored.get(name) is None})
    return pinned


def _saved_before(stored: dict[str, Any], model: Any) -> dict[str, Any]:
    """A run's stored config with the model options its networks were built with where ``config.json``
    predates them (``models.SAVED_BEFORE``: a conditional G of then had a learned class embedding)."""
    from ..models import saved_before

    if not isinstance(model, dict) or model.get("arch") != stored.get("model"):
        return stored
    old = saved_before(model["arch"], model)
    return {**stored, "model_options": {**old, **stored.get("model_options", {})}} if old else stored


def plan(requested: dict[str, Any], overrides: dict[str, Any], resume: str):
    """Decide what ``--resume`` means for this call.

    ``requested`` is the full config a fresh start would use; ``overrides`` the fields the caller
    set explicitly. ``resume`` is a run directory or ``"auto"`` (the run in ``run_dir``, or a
    fresh start there when it holds no checkpoint). Returns (config, run directory, checkpoint or
    None, warnings about skipped checkpoints). A continued run keeps its own ``config.json``;
    an explicit override of anything outside :data:`RESUME_SAFE` that differs is an error.
    """
    from ..config import BEFORE_IT_EXISTED, RESUME_SAFE, TrainConfig
    from ..models import make_model_config

    if resume == "auto":
        if not requested.get("run_dir"):
            raise GanworksError("--resume auto needs --run-dir DIR: the run to continue (or to start, "
                                "when it holds no checkpoint yet)")
        run = Path(requested["run_dir"])
    else:
        run = Path(resume)
        if overrides.get("run_dir") and Path(overrides["run_dir"]).resolve() != run.resolve():
            raise GanworksError(f"--resume {resume} and --run-dir {overrides['run_dir']} name different runs; "
                                "give only --resume RUN")
        if not run.is_dir():
            raise GanworksError(f"--resume {resume}: no such run directory")
    cfg_path = run / "config.json"
    if not cfg_path.is_file():
        if resume != "auto":
            raise GanworksError(f"--resume {resume}: {run} is not a ganworks run directory (no config.json)")
        return TrainConfig.from_dict(requested), run, None, []
    try:
        written = json.loads(cfg_path.read_text())
        stored = written["train"]
        stored = {**BEFORE_IT_EXISTED, **_saved_before(stored, written.get("model"))}  # settings added since
        base = TrainConfig.from_dict({**stored, **_as_resolved(stored, written.get("resolved"))}).to_dict()
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise GanworksError(f"--resume {resume}: cannot read {cfg_path}: {e}") from None
    except GanworksError as e:
        raise GanworksError(f"--resume {resume}: {cfg_path} holds an invalid config: {e}") from None
    ckpt, skipped = latest_checkpoint(run)
    if ckpt is None and resume != "auto":
        why = f" ({skipped[0]})" if skipped else ""
        raise GanworksError(f"--resume {resume}: nothing to resume, no valid checkpoint in "
                            f"{checkpoint_root(run)}{why}; start a new run without --resume")
    allowed = ", ".join(flag_name(k) for k in RESUME_SAFE)
    for key, value in overrides.items():
        if key in ("run_dir", "runs_root") or key in RESUME_SAFE:
            continue
        if key == "model_options":
            theirs = make_model_config(base["model"], **base["model_options"])
            for opt, v in value.items():
                if _plain(v) != _plain(getattr(theirs, opt, None)):
                    raise GanworksError(f"--resume: {flag_name(opt)} {_plain(v)!r} conflicts with the run's "
                                        f"{opt} {_plain(getattr(theirs, opt, None))!r} ({cfg_path}); a resumed run "
                                        f"may change only {allowed}")
        elif key in base and _plain(value) != _plain(base[key]):
            raise GanworksError(f"--resume: {flag_name(key)} {value!r} conflicts with the run's {key} {base[key]!r} "
                                f"({cfg_path}); a resumed run may change only {allowed}")
    merged = {**base, **{k: v for k, v in overrides.items() if k in RESUME_SAFE}, "run_dir": str(run)}
    return TrainConfig.from_dict(merged), run, ckpt, skipped
