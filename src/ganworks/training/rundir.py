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
        raise GanworksError(f"--run-dir {p} already exists and is not empty; choose a new path (nothing was overwritten)")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GanworksError(f"cannot create --run-dir {p}: {e.strerror or e}") from None
    return p


def write_json(path: Path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")
