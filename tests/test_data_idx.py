"""IDX reader/writer: round trips and every kind of damaged file."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from ganworks.data.idx import read_idx, write_idx
from ganworks.errors import GanworksError


def _idx_bytes(code: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload


@pytest.mark.parametrize(
    "dtype, shape",
    [
        (np.uint8, (7, 28, 28)),
        (np.uint8, (5,)),
        (np.int8, (3, 4)),
        (np.int16, (2, 3, 4)),
        (np.int32, (2, 2, 2, 2)),
        (np.float32, (6,)),
        (np.float64, (2, 5)),
        (np.uint8, (0, 28, 28)),
    ],
)
@pytest.mark.parametrize("suffix", ["idx", "idx.gz"])
def test_round_trip(tmp_path, dtype, shape, suffix):
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        arr = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    else:
        arr = rng.standard_normal(shape).astype(dtype)
    path = write_idx(tmp_path / f"a.{suffix}", arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == suffix.endswith(".gz")
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.shape == shape
    np.testing.assert_array_equal(back, arr)
    assert back.flags.writeable  # torch.from_numpy needs that


def test_values_are_big_endian_on_disk(tmp_path):
    path = write_idx(tmp_path / "a.idx", np.array([1, 258], dtype=np.int16))
    assert path.read_bytes() == bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x00, 0x01, 0x01, 0x02])
    # and a file written by hand with big-endian floats reads back right
    (tmp_path / "f.idx").write_bytes(_idx_bytes(0x0D, (2,), struct.pack(">2f", 1.5, -2.0)))
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx"), np.array([1.5, -2.0], np.float32))


def test_gzip_is_detected_by_content_and_output_is_reproducible(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    a = write_idx(tmp_path / "a.gz", arr)
    b = write_idx(tmp_path / "b.gz", arr)
    assert a.read_bytes() == b.read_bytes()  # no time stamp in the gzip header
    renamed = tmp_path / "gzipped-without-suffix"
    renamed.write_bytes(a.read_bytes())
    np.testing.assert_array_equal(read_idx(renamed), arr)


def _assert_error(path, *fragments):
    with pytest.raises(GanworksError) as info:
        read_idx(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "\n" not in msg
    for frag in fragments:
        assert frag in msg, msg
    return msg


GOOD = _idx_bytes(0x08, (2, 3), bytes(range(6)))


@pytest.mark.parametrize(
    "content, fragments",
    [
        (b"\x01\x00\x08\x02" + GOOD[4:], ["bad magic number", "0x01000802", "two zero bytes"]),
        (b"\x00\x00\x0a\x02" + GOOD[4:], ["unknown IDX type code 0x0A", "0x08 (uint8)", "0x0E (float64)"]),
        (_idx_bytes(0x08, (1, 1, 1, 1, 1), b"\x00"), ["declares 5 dimensions", "1 to 4"]),
        (_idx_bytes(0x08, (), b""), ["declares 0 dimensions"]),
        (GOOD[:-1], ["is truncated", "[2, 3]", "need 6 payload bytes, found 5"]),
        (GOOD + b"xyz", ["has 3 trailing bytes", "need 6 payload bytes, found 9"]),
        (GOOD[:9], ["truncated inside its header", "needs 12"]),
        (_idx_bytes(0x0C, (2,), b"\x00" * 7), ["is truncated", "int32", "need 8 payload bytes, found 7"]),
        (b"", ["too short (0 bytes)"]),
        (b"\x00\x00", ["too short (2 bytes)"]),
    ],
)
def test_damaged_plain_files(tmp_path, content, fragments):
    path = tmp_path / "bad.idx"
    path.write_bytes(content)
    _assert_error(path, *fragments)


def test_damaged_header_inside_good_gzip(tmp_path):
    path = tmp_path / "bad.idx.gz"
    path.write_bytes(gzip.compress(GOOD + b"\x00", mtime=0))
    _assert_error(path, "1 trailing bytes")


@pytest.mark.slow
def test_gzip_bomb_is_not_inflated(tmp_path):
    """A header declaring 6 bytes followed by 256 MiB of zeros (about 250 KiB of gzip): the reader
    stops about 1 MiB past the declared payload instead of inflating everything, and says so."""
    import tracemalloc
    import zlib

    path = tmp_path / "bomb.idx.gz"
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    with path.open("wb") as f:
        f.write(comp.compress(GOOD))
        zeros = bytes(1 << 20)
        for _ in range(256):
            f.write(comp.compress(zeros))
        f.write(comp.flush())
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        _assert_error(path, "has at least 1048576 trailing bytes", "need 6 payload bytes")
        peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert peak_mib < 16, f"reading a 256 MiB gzip bomb allocated {peak_mib:.0f} MiB at its peak"


def test_corrupt_gzip(tmp_path):
    good = gzip.compress(GOOD * 50, mtime=0)
    # CRC32 is in the 8-byte trailer: damage it.
    bad_crc = good[:-8] + bytes([good[-8] ^ 0xFF]) + good[-7:]
    (tmp_path / "crc.gz").write_bytes(bad_crc)
    _assert_error(tmp_path / "crc.gz", "corrupt gzip file", "CRC")
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    _assert_error(tmp_path / "cut.gz", "corrupt gzip file")
    garbled = bytearray(good)
    for i in range(12, len(good) - 8):
        garbled[i] ^= 0x5A
    (tmp_path / "garbled.gz").write_bytes(bytes(garbled))
    _assert_error(tmp_path / "garbled.gz", "corrupt gzip file")


def test_gz_name_without_gzip_content(tmp_path):
    (tmp_path / "plain.gz").write_bytes(GOOD)
    _assert_error(tmp_path / "plain.gz", "not a gzip file", "0000")
    (tmp_path / "empty.gz").write_bytes(b"")
    _assert_error(tmp_path / "empty.gz", "not a gzip file", "is empty")


def test_missing_file_and_directory(tmp_path):
    _assert_error(tmp_path / "nope.idx.gz", "does not exist")
    _assert_error(tmp_path, "is a directory")


def test_every_truncation_and_byte_flip_gives_only_ganworks_errors(tmp_path):
    """No IndexError/struct.error/zlib.error/EOFError/OSError can escape."""
    arr = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    for name in ("f.idx", "f.idx.gz"):
        data = write_idx(tmp_path / name, arr).read_bytes()
        variants = [data[:n] for n in range(len(data))]
        variants += [data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :] for i in range(len(data))]
        path = tmp_path / ("v-" + name)
        for v in variants:
            path.write_bytes(v)
            try:
                read_idx(path)  # a flip inside the values is still a valid file
            except GanworksError as e:
                assert str(path) in str(e)


def test_write_rejects_what_idx_cannot_hold(tmp_path):
    with pytest.raises(GanworksError, match=r"cannot write dtype bool .*valid: uint8, int8, int16"):
        write_idx(tmp_path / "a.idx", np.zeros(3, dtype=bool))
    with pytest.raises(GanworksError, match=r"5-dimensional .* 1 to 4"):
        write_idx(tmp_path / "a.idx", np.zeros((1,) * 5, dtype=np.uint8))
    with pytest.raises(GanworksError, match=r"0-dimensional"):
        write_idx(tmp_path / "a.idx", np.uint8(3))
    with pytest.raises(GanworksError, match=r"cannot write IDX file .*no-such-dir"):
        write_idx(tmp_path / "no-such-dir" / "a.idx", np.zeros(3, dtype=np.uint8))
