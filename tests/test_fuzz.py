"""Fuzzing the two readers of user files with hypothesis: only GanworksError may escape.

The IDX reader gets arbitrary bytes and mutations of valid files (plain and gzip: truncations,
flipped and inserted bytes, rewritten header fields); the image-folder loader gets folders of
random bytes, valid images of every Pillow mode, and damaged images. Any other exception is a
bug. Derandomized (a fixed seed from the test's name), so CI sees the same examples every run.
"""

from __future__ import annotations

import gzip
import io
import re
import struct
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from ganworks.data.folder import load_folder
from ganworks.data.idx import IDX_TYPES, read_idx
from ganworks.errors import GanworksError

FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory(prefix="ganworks-fuzz-") as d:
        yield Path(d)


# ------------------------------------------------------------------------------------------ IDX
@st.composite
def valid_idx(draw) -> bytes:
    code = draw(st.sampled_from(sorted(IDX_TYPES)))
    dims = draw(st.lists(st.integers(0, 5), min_size=1, max_size=4))
    n = int(np.prod(dims)) * IDX_TYPES[code].itemsize
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + draw(st.binary(min_size=n, max_size=n))


@st.composite
def mutated(draw, base: st.SearchStrategy[bytes]) -> bytes:
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "flip", "insert", "header", "append"]))
        if op == "truncate":
            data = data[:draw(st.integers(0, len(data)))]
        elif op == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
        elif op == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "header" and len(data) >= 4:
            i = draw(st.integers(0, min(len(data), 20) - 1))  # magic, type code, ndim or a dimension
            data[i] = draw(st.integers(0, 255))
        elif op == "append":
            data += draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


def _gz(b: bytes) -> bytes:
    return gzip.compress(b, mtime=0)


idx_inputs = st.one_of(
    st.binary(max_size=64),  # anything at all
    valid_idx(),
    mutated(valid_idx()),
    valid_idx().map(_gz),  # a good gzip of a good file
    mutated(valid_idx()).map(_gz),  # a good gzip of a damaged file
    mutated(valid_idx().map(_gz)),  # a damaged gzip (bad CRC, truncated stream, garbled deflate)
)


@pytest.mark.slow
@settings(FUZZ, max_examples=2000)
@given(data=idx_inputs, name=st.sampled_from(["x.idx", "x-ubyte", "x.gz", "x-ubyte.gz"]))
def test_fuzz_read_idx_raises_only_ganworks_errors(scratch, data, name):
    path = scratch / name
    path.write_bytes(data)
    try:
        arr = read_idx(path)
    except GanworksError as e:
        msg = str(e)
        assert "\n" not in msg and str(path) in msg  # one line that names the file
        kind = re.sub(r"0x[0-9a-fA-F]+|\d+", "N", msg.split(str(path))[-1])[2:32]
        event(f"GanworksError: {kind}")  # pytest --hypothesis-show-statistics
        return
    event("accepted")
    # Accepted: then it really was a valid IDX file, and the array is what its header says.
    payload = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    ndim = payload[3]
    dims = struct.unpack(f">{ndim}I", payload[4:4 + 4 * ndim])
    assert arr.shape == dims and arr.dtype == IDX_TYPES[payload[2]].newbyteorder("=")
    assert arr.tobytes() == np.frombuffer(payload[4 + 4 * ndim:], dtype=IDX_TYPES[payload[2]]).astype(arr.dtype).tobytes()


# --------------------------------------------------------------------------------- image folder
FORMATS = {".png": "PNG", ".bmp": "BMP", ".gif": "GIF", ".jpg": "JPEG", ".webp": "WEBP"}
MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "I", "I;16", "F", "CMYK", "YCbCr", "PA"]


@st.composite
def image_bytes(draw) -> bytes:
    """A small image of a random mode and size encoded in a random format; None if Pillow cannot
    write that combination (then random bytes stand in)."""
    ext = draw(st.sampled_from(sorted(FORMATS)))
    mode = draw(st.sampled_from(MODES))
    w, h = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    seed = draw(st.integers(0, 2**16))
    arr = np.random.default_rng(seed).integers(0, 256, size=(h, w, 4), dtype=np.uint8)
    img = Image.fromarray(arr, "RGBA").convert(mode) if mode not in ("I;16",) else \
        Image.fromarray(arr[..., 0].astype(np.uint16) * 257).convert("I;16")
    buf = io.BytesIO()
    try:
        img.save(buf, format=FORMATS[ext])
    except (OSError, ValueError, KeyError):
        return draw(st.binary(max_size=64))
    return buf.getvalue()


def damaged(b: bytes, draw) -> bytes:
    data = bytearray(b)
    op = draw(st.sampled_from(["truncate", "flip", "none"]))
    if op == "truncate":
        data = data[:draw(st.integers(0, len(data)))]
    elif op == "flip" and data:
        for _ in range(draw(st.integers(1, 6))):
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
    return bytes(data)


@st.composite
def image_folder(draw) -> list[tuple[str, bytes]]:
    files = []
    for i in range(draw(st.integers(0, 5))):
        sub = draw(st.sampled_from(["", "a/", "b/", ".hidden/"]))
        ext = draw(st.sampled_from([".png", ".PNG", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".txt"]))
        kind = draw(st.sampled_from(["image", "damaged", "random"]))
        if kind == "random":
            content = draw(st.binary(max_size=128))
        else:
            content = draw(image_bytes())
            if kind == "damaged":
                content = damaged(content, draw)
        files.append((f"{sub}f{i}{ext}", content))
    return files


@pytest.mark.slow
@settings(FUZZ, max_examples=500)
@given(files=image_folder(), resolution=st.integers(1, 12), channels=st.sampled_from([1, 3]), strict=st.booleans())
def test_fuzz_load_folder_raises_only_ganworks_errors(scratch, files, resolution, channels, strict):
    root = Path(tempfile.mkdtemp(dir=scratch))
    for name, content in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # skipped files are reported as a warning: allowed
            ds = load_folder(root, resolution=resolution, channels=channels, strict=strict)
    except GanworksError as e:
        assert "\n" not in str(e)
        event("GanworksError: " + ("no images" if "has no images" in str(e) else "unreadable"))
        return
    event(f"loaded {len(ds.images)} image(s)")
    assert ds.images.shape[1:] == (channels, resolution, resolution) and len(ds.images) >= 1
    assert str(ds.images.dtype) == "torch.uint8"
