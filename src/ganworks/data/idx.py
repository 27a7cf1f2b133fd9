"""Read and write IDX files (the MNIST format), plain or gzip-compressed.

An IDX file is a 4-byte magic number -- two zero bytes, a type code and the number of
dimensions -- then one big-endian uint32 per dimension, then the values, big-endian,
in C order. See http://yann.lecun.com/exdb/mnist/ (bottom of the page).
"""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ganworks.errors import GanworksError

__all__ = ["IDX_TYPES", "read_idx", "write_idx"]

#: IDX type code -> big-endian numpy dtype, as the format defines them.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_TYPES.items()}
_MAX_DIMS = 4
_GZIP_MAGIC = b"\x1f\x8b"
_SLACK = 1 << 20  # gunzipped bytes read past the declared payload, to report trailing bytes


def _valid_types() -> str:
    return ", ".join(f"0x{c:02X} ({dt.newbyteorder('=').name})" for c, dt in IDX_TYPES.items())


def _read_payload(path: Path) -> tuple[bytes, bool]:
    """The file's bytes, gunzipped when it is gzip (by content, or by a .gz name), and whether the
    gunzipping stopped early (see :func:`_gunzip_capped`)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise GanworksError(f"IDX file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise GanworksError(f"IDX file {str(path)!r} is a directory, not a file") from None
    except OSError as e:
        raise GanworksError(f"cannot read IDX file {str(path)!r}: {e.strerror or e}") from None
    if raw.startswith(_GZIP_MAGIC):
        try:
            return _gunzip_capped(raw), True
        # BadGzipFile (bad header/CRC/length), EOFError (truncated stream), zlib.error
        # (corrupt deflate data): all mean the same thing to the user.
        except (OSError, EOFError, zlib.error) as e:
            raise GanworksError(
                f"IDX file {str(path)!r} is a corrupt gzip file ({e or type(e).__name__}); "
                "delete it and download it again"
            ) from None
    if path.name.endswith(".gz"):
        what = "is empty" if not raw else f"starts with {raw[:2].hex()} instead of 1f8b"
        raise GanworksError(f"IDX file {str(path)!r} is named .gz but is not a gzip file (it {what})")
    return raw, False


def _gunzip_capped(raw: bytes) -> bytes:
    """Gunzip no more than the IDX header says the file holds, plus _SLACK bytes.

    A few kilobytes of gzip can expand to gigabytes (a "gzip bomb"); reading the header first and
    stopping just past the payload it declares keeps memory bounded by the declared size, and the
    caller reports any excess as trailing bytes.
    """
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
        data = f.read(4 + 4 * _MAX_DIMS)
        limit = _SLACK
        if len(data) >= 4 and data[2] in IDX_TYPES and 1 <= data[3] <= _MAX_DIMS and len(data) >= 4 + 4 * data[3]:
            dims = struct.unpack(f">{data[3]}I", data[4:4 + 4 * data[3]])
            limit += 4 + 4 * data[3] + math.prod(dims) * IDX_TYPES[data[2]].itemsize
        chunks = [data]
        size = len(data)
        while size < limit:  # in pieces: read(n) of a huge declared n would allocate n bytes up front
            piece = f.read(min(limit - size, _SLACK))
            if not piece:
                break
            chunks.append(piece)
            size += len(piece)
        return b"".join(chunks)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (plain, or gzip-compressed) into a native-endian numpy array.

    Every problem -- missing file, corrupt gzip, bad magic number, unknown type code,
    wrong number of dimensions, a payload shorter or longer than the dimensions say --
    raises :class:`~ganworks.errors.GanworksError` with a one-line message that names
    the file. MNIST images come back as ``(N, 28, 28)`` uint8, labels as ``(N,)`` uint8.
    """
    path = Path(path)
    data, data_capped = _read_payload(path)
    where = f"IDX file {str(path)!r}"
    if len(data) < 4:
        raise GanworksError(f"{where} is too short ({len(data)} bytes) to hold the 4-byte IDX magic number")
    zero1, zero2, code, ndim = data[0], data[1], data[2], data[3]
    if zero1 or zero2:
        raise GanworksError(
            f"{where} has a bad magic number 0x{data[:4].hex()} (an IDX file starts with two zero bytes)"
        )
    if code not in IDX_TYPES:
        raise GanworksError(f"{where} has unknown IDX type code 0x{code:02X}; valid: {_valid_types()}")
    if not 1 <= ndim <= _MAX_DIMS:
        raise GanworksError(f"{where} declares {ndim} dimensions; supported: 1 to {_MAX_DIMS}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise GanworksError(
            f"{where} is truncated inside its header: {len(data)} bytes, the header of a "
            f"{ndim}-dimensional IDX file needs {header}"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_TYPES[code]
    need = math.prod(dims) * dtype.itemsize
    have = len(data) - header
    if have != need:
        # A gunzipped payload stops _SLACK bytes past the declared size, so the excess may be larger.
        extra = f"at least {have - need}" if data_capped and have - need >= _SLACK else f"{have - need}"
        problem = "is truncated" if have < need else f"has {extra} trailing bytes"
        raise GanworksError(
            f"{where} {problem}: dimensions {list(dims)} of {dtype.newbyteorder('=').name} "
            f"need {need} payload bytes, found {have}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    # astype copies, so the result is writable (torch.from_numpy wants that) and native-endian.
    return arr.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file; gzip-compressed when ``path`` ends with ``.gz``.

    Supported dtypes: uint8, int8, int16, int32, float32, float64; 1 to 4 dimensions.
    The gzip header carries no time stamp, so equal arrays give byte-identical files.
    """
    path = Path(path)
    arr = np.asarray(array)
    native = arr.dtype.newbyteorder("=")
    if native not in _CODES:
        valid = ", ".join(dt.newbyteorder("=").name for dt in IDX_TYPES.values())
        raise GanworksError(f"cannot write dtype {arr.dtype} to IDX file {str(path)!r}; valid: {valid}")
    if not 1 <= arr.ndim <= _MAX_DIMS:
        raise GanworksError(
            f"cannot write a {arr.ndim}-dimensional array to IDX file {str(path)!r}; "
            f"supported: 1 to {_MAX_DIMS} dimensions"
        )
    code = _CODES[native]
    body = (
        bytes([0, 0, code, arr.ndim])
        + struct.pack(f">{arr.ndim}I", *arr.shape)
        + np.ascontiguousarray(arr, dtype=IDX_TYPES[code]).tobytes()
    )
    if path.name.endswith(".gz"):
        body = gzip.compress(body, mtime=0)
    try:
        path.write_bytes(body)
    except OSError as e:
        raise GanworksError(f"cannot write IDX file {str(path)!r}: {e.strerror or e}") from None
    return path
