"""Where a benchmark result came from, recorded beside it in every results file.

A number in ``benchmarks/results/`` is only worth reading when one can tell which code, machine
and command produced it, so every benchmark script writes its results through this module:

    prov = provenance()                      # once, when the results are ready
    write_json(path, results, prov)          # adds a "provenance" object
    md_lines.append(markdown_footer(prov))   # the same, one line at the foot of a table

The record holds the command line (as it would be typed from the repository root), the date in
UTC, the git commit and whether the working tree had uncommitted changes, the torch, Python and
ganworks versions, the CPU model with the flags that decide bf16 speed (avx512f, avx512_bf16,
amx_bf16) and the torch thread count. ``run_ref`` keeps run directories in results only when
they live inside the repository: a path into ``/tmp`` means nothing to the next reader.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
# The CPU features that change what a CPU benchmark measures: bf16 matmuls run natively only
# with avx512_bf16 or AMX; without them torch emulates bf16 and it is slower than fp32.
CPU_FLAGS = ("avx512f", "avx512_bf16", "amx_bf16")
# What results say in place of a run directory outside the repository (a temporary one, or a
# path on another machine): a reader could not follow it.
RUNS_NOT_KEPT = "not kept (outside the repository)"
# What a recorded command says in place of the temporary folder (``/tmp``) in a path it was given.
SCRATCH = "SCRATCH"


def cpu_info() -> dict:
    """The CPU model, logical core count and the CPU_FLAGS it has (from /proc/cpuinfo on Linux)."""
    model, flags = None, None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and model is None:
                model = value.strip()
            elif key == "flags" and flags is None:
                flags = set(value.split())
    except OSError:  # not Linux: no flags to report
        pass
    return {"model": model or platform.processor() or platform.machine() or "unknown", "cores": os.cpu_count(),
            "flags": None if flags is None else {f: f in flags for f in CPU_FLAGS}}


def cpu_name() -> str:
    """The CPU model and core count in a few words, for a table caption."""
    c = cpu_info()
    return f"{c['model']} ({c['cores']} cores)"


def _git(*args: str) -> str | None:
    try:
        r = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def git_state() -> dict:
    """The commit checked out and whether tracked files differ from it (None outside a git checkout)."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def command_line(argv: list[str] | None = None) -> str:
    """The command that ran, as typed from the repository root (the script path made relative)."""
    argv = list(sys.argv if argv is None else argv)
    if argv:
        script = Path(argv[0]).resolve()
        argv[0] = script.relative_to(REPO).as_posix() if script.is_relative_to(REPO) else script.name
    return shlex.join(["python", *(_scratch(a) for a in argv)])


def _scratch(arg: str) -> str:
    """An argument with a path into the temporary folder (``--keep-runs /tmp/x``, ``--out=/tmp/y``) written
    from SCRATCH: the path names nothing on another machine, and results must not point into ``/tmp``."""
    flag, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
    tmp, path = Path(tempfile.gettempdir()).resolve(), Path(value)
    if not path.is_absolute() or not path.resolve().is_relative_to(tmp):
        return arg
    return flag + eq + (Path(SCRATCH) / path.resolve().relative_to(tmp)).as_posix()


def provenance(argv: list[str] | None = None) -> dict:
    """Everything needed to tell where a result came from; call it when the results are ready."""
    try:
        import ganworks
        version = ganworks.__version__
    except (ImportError, AttributeError):  # a broken install should not cost the benchmark its results
        version = None
    return {
        "command": command_line(argv),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": git_state(),
        "ganworks": version,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": cpu_info(),
        "threads": torch.get_num_threads(),
    }


def run_ref(path: str | os.PathLike | None) -> str | None:
    """A run directory as results may name it: relative to the repository root when inside it,
    else None (say RUNS_NOT_KEPT in its place)."""
    if path is None:
        return None
    p = Path(path).resolve()
    return p.relative_to(REPO).as_posix() if p.is_relative_to(REPO) else None


def write_json(path: str | os.PathLike, results: dict, prov: dict | None = None) -> Path:
    """Write ``results`` with a "provenance" object (``prov``, or a fresh one) to ``path``."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**results, "provenance": prov or provenance()}, indent=2) + "\n")
    return out


def markdown_footer(prov: dict) -> str:
    """The provenance as one Markdown line, for the foot of a results table."""
    git = prov["git"]
    commit = "no git checkout" if git["commit"] is None else \
        f"commit {git['commit'][:12]}" + (" with uncommitted changes" if git["dirty"] else "")
    cpu = prov["cpu"]
    flags = "flags unknown" if cpu["flags"] is None else \
        ", ".join(f"{f} {'yes' if on else 'no'}" for f, on in cpu["flags"].items())
    return (f"_Produced by `{prov['command']}` on {prov['date_utc']}; {commit}; ganworks {prov['ganworks']}, "
            f"torch {prov['torch']}, Python {prov['python']}; {cpu['model']} ({cpu['cores']} cores; {flags}); "
            f"{prov['threads']} torch thread(s)._")
