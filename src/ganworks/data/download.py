"""Download one file from a list of mirrors, with resume and checksum verification.

Uses urllib only. The bytes go to ``<dest>.part``; a ``.part`` left by an interrupted
run is resumed with an HTTP Range request. Only a file whose size and checksums match
is fsynced and atomically renamed onto ``dest``, so ``dest`` is never half-written.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import socket
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ganworks.errors import GanworksError

__all__ = ["DownloadError", "MirrorFailure", "download_file", "verify_file"]

_CHUNK = 1 << 20
_USER_AGENT = "ganworks (python urllib)"


@dataclass(frozen=True)
class MirrorFailure:
    """Why one URL failed. ``offline`` is True when no HTTP answer came back at all."""

    url: str
    reason: str
    offline: bool = False


class DownloadError(GanworksError):
    """Every mirror failed; ``failures`` says how, so callers can word offline help."""

    def __init__(self, message: str, dest: Path, failures: list[MirrorFailure]):
        super().__init__(message)
        self.dest = dest
        self.failures = failures

    @property
    def offline(self) -> bool:
        """True when no mirror could be reached (refused, DNS failure, timeout)."""
        return bool(self.failures) and all(f.offline for f in self.failures)


def _short(digest: str) -> str:
    return digest[:12]


def verify_file(
    path: Path, *, sha256: str | None = None, md5: str | None = None, size: int | None = None
) -> str | None:
    """Check ``path`` against the given size and digests: None when it matches, else why not.

    Reads the file once, however many digests are asked for.
    """
    try:
        actual = path.stat().st_size
        if size is not None and actual != size:
            return f"wrong size: {actual} bytes, expected {size}"
        hashes = {k: hashlib.new(k, usedforsecurity=False) for k, v in (("sha256", sha256), ("md5", md5)) if v}
        if hashes:
            with open(path, "rb") as f:
                while chunk := f.read(_CHUNK):
                    for h in hashes.values():
                        h.update(chunk)
    except OSError as e:
        return f"cannot read it: {e.strerror or e}"
    for algo, expected in (("sha256", sha256), ("md5", md5)):
        if expected and hashes[algo].hexdigest() != expected.lower():
            got = hashes[algo].hexdigest()
            return f"checksum mismatch ({algo} expected {_short(expected)}..., got {_short(got)}...)"
    return None


def _unwrap(err: BaseException) -> BaseException:
    if isinstance(err, urllib.error.URLError) and isinstance(err.reason, BaseException):
        return err.reason
    return err


def _is_offline(err: BaseException) -> bool:
    """True for failures that mean "no network here", not "this server is broken"."""
    err = _unwrap(err)
    if isinstance(err, (ConnectionRefusedError, socket.gaierror, TimeoutError, socket.timeout)):
        return True
    return getattr(err, "errno", None) in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN)


def _network_reason(err: BaseException) -> str:
    """Words for a failure to reach the server at all."""
    err = _unwrap(err)
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, socket.gaierror):
        return "host name lookup failed"
    if isinstance(err, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    return getattr(err, "strerror", None) or str(err) or type(err).__name__


class _Progress:
    """A tqdm bar on an interactive stderr; nothing otherwise (CI logs, pipes)."""

    def __init__(self, name: str, total: int | None, initial: int):
        self._bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm  # imported lazily: only needed on a terminal

            self._bar = tqdm(
                total=total, initial=initial, unit="B", unit_scale=True, desc=name, leave=False, file=sys.stderr
            )

    def update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _fetch_into(url: str, part: Path, *, size: int | None, timeout: float) -> tuple[MirrorFailure | None, bool]:
    """Bring ``part`` up to the whole file from ``url``.

    Returns (failure or None, whether bytes from an earlier attempt were kept). Network
    problems come back as a failure; problems writing ``part`` raise OSError.
    """
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:
        part.unlink()  # longer than the real file: cannot be a prefix of it
        offset = 0
    if size is not None and offset == size:
        return None, True  # a complete .part from an earlier run; the caller verifies it
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            part.unlink()  # the server disowns our partial file: start over, once
            return _fetch_into(url, part, size=size, timeout=timeout)
        return MirrorFailure(url, f"HTTP {e.code} {e.reason}".rstrip()), False
    except ValueError as e:  # malformed URL or unknown scheme
        return MirrorFailure(url, f"invalid URL ({e})"), False
    except http.client.HTTPException as e:  # garbled status line or headers
        return MirrorFailure(url, f"bad HTTP response ({type(e).__name__})"), False
    except OSError as e:  # refused, DNS, timeout, unreachable, TLS, ...
        return MirrorFailure(url, _network_reason(e), offline=_is_offline(e)), False
    with response:
        # 206 = the server honoured Range: append. Anything else (200, or None for
        # file: URLs) is the whole file: start from scratch.
        if offset and getattr(response, "status", None) != 206:
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else size
        got = offset
        progress = _Progress(part.name.removesuffix(".part"), total, offset)
        try:
            with open(part, "ab" if offset else "wb") as out:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except http.client.IncompleteRead as e:
                        out.write(e.partial)
                        got += len(e.partial)
                        break
                    except (OSError, http.client.HTTPException) as e:
                        # The connection broke mid-body. The .part stays, so the next
                        # mirror or the next run resumes from here.
                        reason = f"truncated: got {got} of {total or '?'} bytes ({_network_reason(e)})"
                        return MirrorFailure(url, reason), offset > 0
                    if not chunk:
                        break
                    out.write(chunk)
                    got += len(chunk)
                    progress.update(len(chunk))
                out.flush()
                os.fsync(out.fileno())
        finally:
            progress.close()
    # http.client reports a body cut short by returning b"" early, so compare counts.
    if total is not None and got < total:
        return MirrorFailure(url, f"truncated: got {got} of {total} bytes"), offset > 0
    return None, offset > 0


def download_file(
    urls: list[str],
    dest: Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = None,
    timeout: float = 30,
) -> Path:
    """Download ``dest`` from the first of ``urls`` that yields the right bytes.

    Each URL is tried in order. The file is written to ``dest`` + ``.part`` (resumed with
    a Range request if a previous attempt left one), then checked against ``size``,
    ``sha256`` and ``md5`` (each only if given). A mismatch deletes the part file and
    moves on to the next URL. On success the part file is fsynced and atomically renamed
    to ``dest``, which is returned. If every URL fails, :class:`DownloadError` (a
    :class:`~ganworks.errors.GanworksError`) names the file and each URL's failure.
    """
    dest = Path(dest)
    part = dest.with_suffix(dest.suffix + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GanworksError(f"cannot create download directory {str(dest.parent)!r}: {e.strerror or e}") from None
    failures: list[MirrorFailure] = []
    for url in urls:
        try:
            failure, resumed = _fetch_into(url, part, size=size, timeout=timeout)
            if failure is None:
                problem = verify_file(part, sha256=sha256, md5=md5, size=size)
                if problem is not None and resumed:
                    # The kept prefix may be what is wrong: fetch this mirror afresh, once.
                    part.unlink(missing_ok=True)
                    failure, _ = _fetch_into(url, part, size=size, timeout=timeout)
                    if failure is None:
                        problem = verify_file(part, sha256=sha256, md5=md5, size=size)
            if failure is None:
                if problem is None:
                    os.replace(part, dest)
                    _fsync_dir(dest.parent)
                    return dest
                # Wrong bytes: never keep them for a later resume.
                part.unlink(missing_ok=True)
                failure = MirrorFailure(url, problem)
        except OSError as e:  # our side: disk full, permission denied, ...
            part.unlink(missing_ok=True)
            raise GanworksError(f"cannot write {str(part)!r}: {e.strerror or e}") from None
        failures.append(failure)
    tried = "; ".join(f"{f.url}: {f.reason}" for f in failures) or "no mirrors given"
    raise DownloadError(f"could not download {dest.name} to {str(dest.parent)!r} ({tried})", dest, failures)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; best effort (not every OS/filesystem allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
