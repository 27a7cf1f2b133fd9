"""The one exception type that reaches users as a single line (CLI exit code 2)."""


class GanworksError(Exception):
    """A problem with the user's input or environment, worded for the user.

    The message is one line that names the bad value and what would be valid. The CLI prints
    it as ``ganworks: error: <message>`` and exits with status 2, without a traceback.
    """


def unknown_name(kind: str, name: str, valid) -> GanworksError:
    """Error for a name that is not in a registry, listing the valid names."""
    return GanworksError(f"unknown {kind} {name!r}; valid: {', '.join(sorted(valid))}")
