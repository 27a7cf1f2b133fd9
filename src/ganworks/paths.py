"""Where ganworks keeps downloaded data and caches."""

from __future__ import annotations

import os
from pathlib import Path


def ganworks_home() -> Path:
    """``$GANWORKS_HOME``, else ``$XDG_CACHE_HOME/ganworks``, else ``~/.cache/ganworks``."""
    env = os.environ.get("GANWORKS_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "ganworks"
