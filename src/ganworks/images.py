"""Image grids and files: uint8 tensors in, PNG / GIF / .npy out, every write atomic."""

from __future__ import annotations

import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from .errors import GanworksError


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> uint8 in [0, 255] (round to nearest)."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 in [0, 255] -> float in [-1, 1]: the inverse of :func:`to_uint8` on the grid."""
    return x.float() / 127.5 - 1.0


def grid_bytes(n: int, shape: tuple[int, int, int], nrow: int | None = None, scale: int = 1, pad: int = 2) -> int:
    """Bytes of the grid :func:`make_grid` builds for n images of ``shape`` (C, H, W), plus its copy
    enlarged ``scale`` times for the PNG: known before any image is made."""
    c, h, w = shape
    nrow = nrow or max(1, math.isqrt(n - 1) + 1 if n > 1 else 1)
    rows = -(-n // nrow)
    return (pad + rows * (h + pad)) * (pad + nrow * (w + pad)) * c * (1 + (scale * scale if scale > 1 else 0))


def make_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2, pad_value: int = 0) -> np.ndarray:
    """(N, C, H, W) uint8 -> one (H', W', C) uint8 array with ``nrow`` images per row."""
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError("make_grid expects a (N, C, H, W) uint8 tensor")
    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    grid = np.full((pad + rows * (h + pad), pad + nrow * (w + pad), c), pad_value, dtype=np.uint8)
    arr = images.permute(0, 2, 3, 1).cpu().numpy()  # (N, H, W, C)
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y:y + h, x:x + w] = arr[i]
    return grid


def _pil(arr: np.ndarray, scale: int = 1):
    from PIL import Image

    img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def _check_parent(path: Path) -> Path:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise GanworksError(f"cannot write {path}: directory {parent} does not exist")
    if not parent.is_dir():
        raise GanworksError(f"cannot write {path}: {parent} is not a directory")
    return parent


def check_writable(path: str | os.PathLike) -> None:
    """Fail now, before any work, when ``path`` could not be written: its folder is missing or is a
    file, it is itself a folder, or the file system refuses a new file there (read-only, /proc)."""
    path = Path(path)
    if path.is_dir():
        raise GanworksError(f"cannot write {path}: it is a directory; name a file")
    parent = _check_parent(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check", dir=parent)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise GanworksError(f"cannot write {path}: {e.strerror or e}") from None


def usual_mode() -> int:
    """The permissions ``open(path, "w")`` gives a new file: 0666 less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def refuse_existing(paths: Iterable[str | os.PathLike], force: bool = False) -> None:
    """The overwrite rule of a command that writes several files: before any work, refuse to replace
    a file that exists (one line naming the first one) unless ``force`` (``--force``) is given."""
    if force:
        return
    for p in paths:
        if os.path.lexists(p):
            raise GanworksError(f"{p} exists; this command writes several files and replaces none you had unless "
                                "asked: pass --force (or --overwrite) to replace it, or choose another path")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it into place with os.replace.

    A failure leaves ``path`` as it was (absent or the old file) and removes the temporary file.
    An unwritable destination becomes a one-line GanworksError naming the path.
    """
    path = Path(path)
    parent = _check_parent(path)
    try:
        # The writer's PID in the name: a trainer starting on the run removes the leftovers of dead ones.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.pid{os.getpid()}.", suffix=".tmp" + path.suffix, dir=parent)
    except OSError as e:
        raise GanworksError(f"cannot write {path}: {e.strerror or e}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes 0600, and some writers (safetensors) recreate the file 0600 themselves:
        # the finished file gets the usual permissions of a new file (0644 under umask 022).
        os.chmod(tmp_path, usual_mode())
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except OSError as e:
        raise GanworksError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def save_png(arr: np.ndarray, path: str | os.PathLike, scale: int = 1) -> Path:
    """Write an (H, W, C) uint8 array as PNG, atomically."""
    with atomic_path(path) as tmp:
        _pil(arr, scale).save(tmp, format="PNG")
    return Path(path)


def png_data_uri(png: bytes | np.ndarray) -> str:
    """A PNG as a ``data:`` URI for self-contained HTML; an (H, W, 3) uint8 array is encoded first
    (as a 256-colour palette PNG, about 4x smaller for plots)."""
    import base64
    import io

    if isinstance(png, np.ndarray):
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(png).quantize(256).save(buf, format="PNG", optimize=True)
        png = buf.getvalue()
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def save_gif(frames: list[np.ndarray], path: str | os.PathLike, duration_ms: int = 120, scale: int = 1) -> Path:
    """Write (H, W, C) uint8 frames as a looping GIF, atomically."""
    imgs = [_pil(f, scale) for f in frames]
    with atomic_path(path) as tmp:
        imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:], duration=duration_ms, loop=0)
    return Path(path)


def scatter(points: torch.Tensor, reference: torch.Tensor | None = None, size: int = 320,
            bounds: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Rasterize 2-D points (N, 2) as white dots on black, over ``reference`` points in blue.

    The view covers the reference (else the points) with a 10% margin, so generated points that
    fly off stay visible at the border only if they are near. Returns (size, size, 3) uint8.
    """
    from PIL import Image, ImageDraw

    pts = points.detach().float().reshape(-1, 2).cpu()
    ref = reference.detach().float().reshape(-1, 2).cpu() if reference is not None else None
    if bounds is None:
        base = ref if ref is not None else pts
        lo, hi = base.min(0).values, base.max(0).values
        pad = 0.1 * (hi - lo).max().clamp_min(1e-3)
        bounds = (float(lo[0] - pad), float(hi[0] + pad), float(lo[1] - pad), float(hi[1] + pad))
    x0, x1, y0, y1 = bounds
    side = max(x1 - x0, y1 - y0)
    img = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(img)

    def px(p: torch.Tensor) -> list[tuple[float, float]]:
        u = (p[:, 0] - x0) / side * (size - 1)
        v = (size - 1) - (p[:, 1] - y0) / side * (size - 1)  # y up
        return list(zip(u.tolist(), v.tolist()))

    if ref is not None:
        draw.point(px(ref), fill=(60, 110, 255))
    for u, v in px(pts):
        draw.rectangle([u - 1, v - 1, u + 1, v + 1], fill=(255, 255, 255))
    return np.asarray(img)


def histogram(points: torch.Tensor, reference: torch.Tensor | None = None, size: int = 320, bins: int = 80,
              bounds: tuple[float, float] | None = None) -> np.ndarray:
    """Rasterize 1-D points (N,) as a white histogram outline over ``reference``'s histogram in
    blue (filled). The range covers the reference (else the points) with a 10% margin; both
    histograms are densities on the same scale. Returns (size, size, 3) uint8."""
    from PIL import Image, ImageDraw

    pts = points.detach().float().reshape(-1).cpu().numpy()
    ref = reference.detach().float().reshape(-1).cpu().numpy() if reference is not None else None
    if bounds is None:
        base = ref if ref is not None else pts
        lo, hi = float(base.min()), float(base.max())
        pad = 0.1 * max(hi - lo, 1e-3)
        bounds = (lo - pad, hi + pad)
    edges = np.linspace(bounds[0], bounds[1], bins + 1)
    h_pts = np.histogram(pts, edges, density=True)[0]
    h_ref = np.histogram(ref, edges, density=True)[0] if ref is not None else np.zeros(bins)
    top = max(float(h_pts.max(initial=0)), float(h_ref.max(initial=0)), 1e-12) * 1.05
    img = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(img)
    w = size / bins
    for i in range(bins):
        if h_ref[i] > 0:
            draw.rectangle([i * w, size - 1 - h_ref[i] / top * (size - 1), (i + 1) * w - 1, size - 1],
                           fill=(60, 110, 255))
    ys = [size - 1 - h / top * (size - 1) for h in h_pts]
    line = [(x, y) for i, y in enumerate(ys) for x in (i * w, (i + 1) * w)]
    draw.line(line, fill=(255, 255, 255), width=2)
    return np.asarray(img)


def plot_points(points: torch.Tensor, reference: torch.Tensor | None = None, size: int = 320) -> np.ndarray:
    """A picture of toy-data samples: a histogram for 1-D points, a scatter plot for 2-D ones."""
    dim = points[0].numel() if len(points) else (reference[0].numel() if reference is not None else 2)
    return histogram(points, reference, size) if dim == 1 else scatter(points, reference, size)


def _npy_rows(arr: np.ndarray) -> np.ndarray:
    """The .npy layout of samples: (N, H, W) for one channel, else (N, C, H, W); points as (N, 2)."""
    if arr.ndim == 4 and arr.shape[2:] == (1, 1):
        return arr[:, :, 0, 0]  # 2-D points: (N, 2)
    if arr.ndim == 4 and arr.shape[1] == 1:
        return arr[:, 0]
    return arr


def save_npy(images: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write uint8 images as .npy: (N, H, W) for one channel, else (N, C, H, W); points as (N, 2) float."""
    arr = _npy_rows(images.cpu().numpy())
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, arr)
    return Path(path)


@contextmanager
def npy_writer(path: str | os.PathLike, n: int, item_shape: tuple[int, ...], dtype) -> Iterator:
    """A .npy of n samples written piece by piece (``write(chunk)``), so only one piece is in memory;
    the same file :func:`save_npy` writes for all n at once. It appears at ``path`` only when complete."""
    rows = _npy_rows(np.empty((0, *item_shape), dtype=dtype))
    with atomic_path(path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=rows.dtype, shape=(n, *rows.shape[1:]))
        done = 0

        def write(chunk: torch.Tensor) -> None:
            nonlocal done
            part = _npy_rows(chunk.cpu().numpy())
            out[done:done + len(part)] = part
            done += len(part)

        yield write
        assert done == n, (done, n)
        out.flush()
        del out


def image_dir_existing(directory: str | os.PathLike, n: int, start: int = 0) -> list[Path]:
    """The files among those :func:`save_image_dir` would write for ``n`` images that exist already
    (read from the folder's listing, so a huge ``n`` costs nothing), in order."""
    d = Path(directory)
    if not d.is_dir():
        return []
    names = {e.name for e in os.scandir(d)}
    hits = sorted(int(m[:-4]) for m in names if m.endswith(".png") and m[:-4].isdigit())
    return [d / f"{i:06d}.png" for i in hits if start <= i < start + n and f"{i:06d}.png" in names]


def save_image_dir(images: torch.Tensor, directory: str | os.PathLike, start: int = 0,
                   overwrite: bool = False) -> list[Path]:
    """Write each image as ``NNNNNN.png`` into ``directory`` (created if needed). An existing
    ``NNNNNN.png`` is an error, checked before anything is written, unless ``overwrite``."""
    d = Path(directory)
    refuse_existing(image_dir_existing(d, len(images), start), force=overwrite)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GanworksError(f"cannot create directory {d}: {e.strerror or e}") from None
    return [save_png(img.permute(1, 2, 0).cpu().numpy(), d / f"{start + i:06d}.png") for i, img in enumerate(images)]
