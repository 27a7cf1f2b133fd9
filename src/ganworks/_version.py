"""The ganworks version, in a module of its own so that any module can read it without importing the package's
public API (``ganworks/__init__.py`` loads it lazily; importing the version from there made a cycle)."""

__version__ = "0.1.0"
