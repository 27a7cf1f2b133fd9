"""A run's process lifecycle: one owner, a clean stop on SIGINT/SIGTERM, no stale temporaries.

- **One owner.** A training process holds an exclusive ``flock`` on ``RUN/.lock`` for as long as it
  trains that run (under torchrun: rank 0 only). The kernel drops the lock when the process dies,
  kill -9 included, so a lock is never stale; a second trainer of the same run is refused with one
  line naming the holder's PID. Readers (``sample``, ``report``) take no lock: they read files that
  are only ever replaced atomically.
- **A clean stop.** While :func:`lifecycle` wraps ``train()`` (one process; not under torchrun, whose
  ranks would see a signal at different steps), SIGINT and SIGTERM are handled alike:
  during the loop the first signal lets the current iteration finish, the loop writes a checkpoint
  and :func:`stop_here` raises :class:`Interrupted` (the CLI prints one line, exits 128 + signal:
  130 / 143); a second signal, or one outside the loop, abandons at once. Resuming from that
  checkpoint is bitwise exact, as from any other.
- **No stale temporaries.** A run that starts or resumes removes what killed processes left behind:
  checkpoint directories being written (only the lock holder writes those) and the atomic-write
  temporaries of :func:`ganworks.images.atomic_path` whose process is gone.
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
import shutil
import signal
import threading
from pathlib import Path

from ..errors import GanworksError

LOCK_NAME = ".lock"

# Locks taken during the current train() call (released when it returns or raises), innermost last.
_held: list[list["RunLock"]] = []


class RunLock:
    """An exclusive lock on one run directory, held through an open file descriptor."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> "RunLock":
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise GanworksError(f"cannot create the run lock {self.path}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise GanworksError(f"run {self.path.parent} is being trained by another process (PID {holder}, lock "
                                f"{self.path}); wait for it to finish or stop it, then --resume") from None
        self.fd = fd
        try:  # the holder's PID, for the refusal above (the lock itself needs no bytes: a full disk keeps it)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as e:
            self.release()
            raise GanworksError(f"cannot write the run lock {self.path}: {e.strerror or e}") from None
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None


def hold(run_dir: Path) -> RunLock:
    """Lock ``run_dir`` for this process until the enclosing :func:`lifecycle` call ends (or, outside
    one, until the process exits)."""
    lock = RunLock(run_dir).acquire()
    if _held:
        _held[-1].append(lock)
    return lock


# ------------------------------------------------------------------------------------ signals
class Interrupted(KeyboardInterrupt):
    """Training stopped by SIGINT or SIGTERM; ``str()`` is the one line to print."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum


class _Stop:
    armed = False  # True while the loop runs: a signal then only asks it to stop after this iteration
    requested: int | None = None


_stop: list[_Stop] = []


def _name(signum: int) -> str:
    return signal.Signals(signum).name


def _on_signal(signum, frame) -> None:
    stop = _stop[-1] if _stop else None
    if stop is not None and stop.armed and stop.requested is None:
        stop.requested = signum
        return
    raise Interrupted(signum, f"interrupted by {_name(signum)}")


def running() -> bool:
    """For the loop's condition: arms the graceful stop; False once a signal asked to stop."""
    if not _stop:
        return True
    _stop[-1].armed = True
    return _stop[-1].requested is None


def stop_here(run_dir: Path, nimg: int) -> None:
    """After the loop wrote its last checkpoint: raise :class:`Interrupted` if a signal stopped it."""
    if _stop and _stop[-1].requested is not None:
        signum = _stop[-1].requested
        raise Interrupted(signum, f"interrupted by {_name(signum)}: checkpoint written at kimg {nimg / 1000:.3f}; "
                                  f"continue with: ganworks train --resume {run_dir}")


def lifecycle(fn):
    """Wrap ``train()``: SIGINT/SIGTERM handled as above (main thread only), and every run lock taken
    during the call released when it ends, however it ends (so the same process may train the run again)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        # Under torchrun the processes would see a signal at different iterations and fall out of step
        # in their collectives: there torchrun's own handling (it stops every rank) stays in charge.
        alone = os.environ.get("WORLD_SIZE", "1").strip() in ("", "1")
        main = threading.current_thread() is threading.main_thread()
        old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if main and alone else {}
        _held.append([])
        _stop.append(_Stop())
        try:
            return fn(*args, **kwargs)
        finally:
            _stop.pop()
            for lock in _held.pop():
                lock.release()
            for s, h in old.items():
                signal.signal(s, h)

    return wrapper


# ----------------------------------------------------------------------------- stale temporaries
_CKPT_TMP = re.compile(r"^\.ckpt-\d+\.(tmp|old)-\d+$")  # resume.save_checkpoint's directories
# atomic_path's temporaries: ".NAME.RANDOM.tmpSUFFIX" (a ".pidPID" before RANDOM, where there is one, names the writer)
_ATOMIC_TMP = re.compile(r"^\.(?P<name>.+?)(?:\.pid(?P<pid>\d+))?\.[A-Za-z0-9_]{3,}\.tmp(\.[^.]*)?$")
# The files only a run's trainer writes (so, holding the lock, any temporary of theirs is stale).
_TRAINER_FILES = re.compile(r"^((generator|generator_raw|generator_last|discriminator)\.(safetensors|json)|config\.json"
                            r"|stats\.jsonl|metrics\.jsonl|scores\.jsonl|log\.txt|best\.json|picked\.json|reals\.png"
                            r"|fakes\d+\.png)$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process is only starting: nothing of its own is being written yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Remove what killed processes left in ``run_dir``; call it holding the run's lock. Returns the
    paths removed. Temporaries of the files only a trainer writes (checkpoints, release files, logs,
    grids) go whatever their PID: the lock says no other trainer lives (and a PID may have been reused).
    Any other temporary (a ``report.html`` being written by a reader) goes only when its PID is dead."""
    removed = []
    ckpts = Path(run_dir) / "checkpoints"
    if ckpts.is_dir():
        for p in ckpts.iterdir():
            if _CKPT_TMP.match(p.name) and p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    for folder in (Path(run_dir), Path(run_dir) / "samples", Path(run_dir) / "best", Path(run_dir) / "picked"):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            m = _ATOMIC_TMP.match(p.name)
            if not m or p.is_dir():
                continue
            stale = _TRAINER_FILES.match(m["name"]) or (m["pid"] is not None and not _alive(int(m["pid"])))
            if stale:
                try:
                    p.unlink()
                    removed.append(p)
                except OSError:
                    pass
    return removed
