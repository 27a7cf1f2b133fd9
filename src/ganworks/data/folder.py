"""Datasets from a folder of your own images (``--data folder:PATH``).

Every image file in the folder tree (png, jpg/jpeg, bmp, gif (first frame), webp when Pillow
can read it; hidden files and folders skipped) is read in sorted path order, converted to
gray (``channels=1``) or RGB (3), scaled so its short side is ``resolution`` and center-cropped
to a square, into one uint8 tensor (N, C, resolution, resolution).

Labels: when the images live in immediate subfolders, at least two of them and none at the top
(``PATH/cat/*.png``, ``PATH/dog/*.png``), each subfolder is a class (sorted names -> 0..K-1);
otherwise the dataset is unlabelled.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ganworks.errors import GanworksError

from .dataset import ImageDataset, make_image_dataset

__all__ = ["FOLDER_PREFIX", "folder_info", "image_extensions", "list_images", "load_folder"]

FOLDER_PREFIX = "folder:"


def image_extensions() -> tuple[str, ...]:
    """The file suffixes read as images (lower case, with the dot)."""
    from PIL import features

    exts = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
    return exts + ((".webp",) if features.check("webp") else ())


def _check_dir(path: str | Path) -> Path:
    if not str(path).strip():  # Path("") is "." : an empty path must not silently mean the current directory
        raise GanworksError(f"{FOLDER_PREFIX} needs a path: {FOLDER_PREFIX}PATH, e.g. {FOLDER_PREFIX}./photos "
                            f"(for the current directory: {FOLDER_PREFIX}.)")
    p = Path(path).expanduser()
    if not p.exists():
        raise GanworksError(f"image folder {str(p)!r} does not exist")
    if not p.is_dir():
        raise GanworksError(f"image folder {str(p)!r} is not a directory")
    return p


def list_images(path: str | Path) -> tuple[list[Path], list[str] | None]:
    """The image files under ``path`` in sorted order, and the class names (None: unlabelled)."""
    root = _check_dir(path)
    exts = image_extensions()
    files = sorted(
        (f for f in root.rglob("*")
         if f.suffix.lower() in exts and not any(part.startswith(".") for part in f.relative_to(root).parts)
         and f.is_file()),
        key=lambda f: f.relative_to(root).as_posix(),
    )
    if not files:
        raise GanworksError(f"image folder {str(root)!r} has no images ({', '.join(e[1:] for e in exts)})")
    tops = {f.relative_to(root).parts[0] for f in files}
    in_subdirs = all(len(f.relative_to(root).parts) > 1 for f in files)
    classes = sorted(tops) if in_subdirs and len(tops) >= 2 else None
    return files, classes


def _read(f: Path, resolution: int, mode: str) -> np.ndarray:
    """One image file -> uint8 (resolution, resolution) or (resolution, resolution, 3)."""
    from PIL import Image, ImageOps

    with Image.open(f) as im:
        im.seek(0)  # the first frame of an animation
        im.draft(mode, (2 * resolution, 2 * resolution))  # JPEG: decode big photos at reduced size
        if im.mode in ("P", "PA", "LA", "RGBA") or "transparency" in im.info:
            im = im.convert("RGBA")  # palette and alpha images: through RGBA, so transparency is dropped cleanly
        im = ImageOps.fit(im.convert(mode), (resolution, resolution), Image.Resampling.LANCZOS)
        return np.asarray(im, dtype=np.uint8)


def load_folder(path: str | Path, *, resolution: int, channels: int, strict: bool = False) -> ImageDataset:
    """All images under ``path`` as an :class:`ImageDataset` of shape (N, channels, resolution, resolution).

    Unreadable files are skipped with a warning naming the first few (``strict=True``: a
    GanworksError naming the first). Raises GanworksError for a missing path, a file, or a
    folder without images.
    """
    if not isinstance(resolution, int) or isinstance(resolution, bool) or resolution <= 0:
        raise GanworksError(f"--resolution must be a positive integer, got {resolution!r}")
    if channels not in (1, 3):
        raise GanworksError(f"--channels must be 1 (gray) or 3 (RGB), got {channels!r}")
    root = _check_dir(path)
    files, classes = list_images(root)
    mode = "L" if channels == 1 else "RGB"
    images = np.empty((len(files), channels, resolution, resolution), dtype=np.uint8)
    labels = np.empty(len(files), dtype=np.int64)
    class_index = {c: i for i, c in enumerate(classes or [])}
    bad: list[str] = []
    first_reason = ""
    n = 0
    for f in files:
        try:
            images[n] = _read(f, resolution, mode).reshape(resolution, resolution, channels).transpose(2, 0, 1)
        except Exception as e:  # noqa: BLE001 -- Pillow raises many types for broken files
            reason = " ".join(str(e).split()) or type(e).__name__
            if strict:
                raise GanworksError(f"cannot read image {str(f)!r}: {reason}") from None
            first_reason = first_reason or reason
            bad.append(f.relative_to(root).as_posix())
            continue
        if classes:
            labels[n] = class_index[f.relative_to(root).parts[0]]
        n += 1
    if n == 0:  # the error alone says it all: no warning line before it
        raise GanworksError(f"image folder {str(root)!r} has no readable images "
                            f"({len(bad)} unreadable; first: {bad[0]}: {first_reason})")
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        warnings.warn(f"image folder {str(root)!r}: skipped {len(bad)} unreadable file(s): "
                      f"{', '.join(bad[:3])}{more} (first: {first_reason})", stacklevel=2)
    return make_image_dataset(
        FOLDER_PREFIX + str(path),
        "train",
        images[:n],
        labels[:n] if classes else None,
        num_classes=len(classes) if classes else None,
        shape=(channels, resolution, resolution),
        source=str(root.resolve()),
    )


def folder_info(path: str | Path) -> dict[str, Any]:
    """What ``dataset_info('folder:PATH')`` returns: the same keys as a registered dataset's,
    from the file listing alone (nothing is decoded; the shape is set when loading)."""
    root = _check_dir(path)
    files, classes = list_images(root)
    return {
        "name": FOLDER_PREFIX + str(path),
        "description": f"your images under {str(root.resolve())}, {len(files)} files"
                       + (f" in {len(classes)} class folders" if classes else ", unlabelled"),
        "shape": None,  # chosen when loading: (channels, resolution, resolution)
        "num_classes": len(classes) if classes else None,
        "classes": classes or [],
        "splits": {"train": len(files)},  # files found; unreadable ones are skipped when loading
        "license": "unknown (your own images)",
        "citation": "",
        "sources": [str(root.resolve())],
        "cached": True,
        "cache_dir": str(root.resolve()),
        "extensions": [e[1:] for e in image_extensions()],
    }
