"""Reading user-supplied and run files safely: only regular files are opened.

Opening a named pipe (FIFO) for reading blocks until some other process writes to it, so a FIFO left
in place of ``generator.json`` or a ``.npy`` would hang a command forever; a device or socket is
no data file either. :func:`regular_file` checks what a path is (following symlinks) before any
reader opens it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import GanworksError

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` as a Path if it is a regular file (after symlinks); else one GanworksError line naming it.

    ``what`` words the message ("weights file", "samples file").
    """
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise GanworksError(f"no such {what}: {p}") from None
    except OSError as e:
        raise GanworksError(f"cannot read {what} {p}: {e.strerror or e}") from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise GanworksError(f"{what} {p} is {kind}; expected a regular file")
    return p


# ---------------------------------------------------------------------------------------- memory
def available_memory() -> int:
    """Bytes of memory a new allocation can get now: MemAvailable (Linux), else the physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return 1 << 62  # unknown: let the allocator decide


def gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.3g} GiB"


def check_fits(nbytes: int, request: str, fix: str) -> None:
    """One GanworksError line when ``nbytes`` cannot fit in the memory available now, checked before the
    allocation: ``request`` names what needs it ("--n 1000000000"), ``fix`` what to change."""
    have = available_memory()
    if nbytes > have:
        raise GanworksError(f"{request} needs {gib(nbytes)} of memory, more than the {gib(have)} available; {fix}")


def check_disk(nbytes: int, where: str | os.PathLike, request: str) -> None:
    """One GanworksError line when ``nbytes`` will not fit on the disk that holds ``where`` (a file or
    folder to be made: its nearest existing parent is measured)."""
    import shutil

    p = Path(where).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        free = shutil.disk_usage(p).free
    except OSError:
        return  # unknown: the write itself will say
    if nbytes > free:
        raise GanworksError(f"{request} needs about {gib(nbytes)} on the disk of {where}, more than the "
                            f"{gib(free)} free; ask for fewer samples or write elsewhere")
