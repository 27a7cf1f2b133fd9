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
