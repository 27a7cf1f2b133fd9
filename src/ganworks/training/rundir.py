"""Run directories: ``runs/00001-mnist-mlp-ns/`` with config, logs, sample grids and weights."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..errors import GanworksError
from ..images import atomic_path


def new_run_dir(root: str | os.PathLike, desc: str) -> Path:
    """Create the next numbered run directory under ``root`` (StyleGAN's convention)."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GanworksError(f"cannot create runs directory {root}: {e.strerror or e}") from None
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", desc)
    for _ in range(100):  # another process may take the same number: retry with the next one
        ids = [int(m.group(1)) for p in root.iterdir() if (m := re.match(r"(\d+)-", p.name))]
        path = root / f"{max(ids, default=0) + 1:05d}-{safe}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise GanworksError(f"could not create a new run directory under {root}")


def claim_run_dir(path: str | os.PathLike) -> Path:
    """Use ``path`` as the run directory; it must not exist or be empty (nothing is overwritten)."""
    p = Path(path)
    if p.exists() and (not p.is_dir() or any(p.iterdir())):
        raise GanworksError(f"--run-dir {p} already exists and is not empty; "
                            "choose a new path (nothing was overwritten)")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GanworksError(f"cannot create --run-dir {p}: {e.strerror or e}") from None
    return p


def write_json(path: Path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")


def choose_run_dir(cfg, desc: str, resume_dir: Path | None, resuming: bool, dist, device) -> Path:
    """The run directory: rank 0 picks or creates it, locks it for this process (:mod:`.lock`) and every
    process learns its name (a rollback reads checkpoints from it). A resumed run keeps its own directory."""
    from . import distributed, lock

    run_dir = None
    if dist.main:
        if resume_dir is not None and (resuming or (resume_dir / "config.json").is_file()):
            run_dir = resume_dir  # continuing, or --resume auto restarting a run that never checkpointed
        else:
            run_dir = claim_run_dir(cfg.run_dir) if cfg.run_dir else new_run_dir(cfg.runs_root, desc)
        lock.hold(run_dir)  # one trainer per run: a second one is refused here, naming this process
        lock.remove_stale_temporaries(run_dir)  # what a killed trainer (or reader) was writing
        (run_dir / "samples").mkdir(exist_ok=True)
    return Path(distributed.broadcast_text(str(run_dir) if run_dir else None, dist, device))


def write_run_config(run_dir: Path, cfg, resolved, model: dict, data, environment: dict, params: dict) -> None:
    """``config.json``: the settings as given and as resolved, the model, the data and the machine."""
    write_json(run_dir / "config.json", {
        "train": cfg.to_dict(),
        "resolved": {**resolved.__dict__, "betas": list(resolved.betas)},
        "model": model,
        "data": {"name": data.name, "split": data.split, "images": len(data), "shape": list(data.shape),
                 "num_classes": data.num_classes, "source": data.source},
        "environment": environment,
        "params": params,
    })


def record_reached(run_dir: Path, nimg: int, elapsed_s: float, picked: dict | None = None) -> None:
    """Add to ``config.json`` where the run ended: kimg and minutes of training reached (with
    ``--minutes`` the kimg reached depends on the machine's speed; --kimg is only the upper bound), and with
    ``--pick-tail`` which generator was picked (``picked``; without a pick the key is removed)."""
    path = run_dir / "config.json"
    config = json.loads(path.read_text())
    config["reached"] = {"kimg": round(nimg / 1000, 3), "minutes": round(elapsed_s / 60, 4)}
    config.pop("picked", None)
    if picked is not None:
        config["picked"] = picked
    write_json(path, config)
