"""The code stays easy to change: short functions, a readable train(), flags declared once."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ganworks"


def functions():
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path, node


def test_no_function_over_100_lines_unless_its_docstring_says_why():
    long = []
    for path, fn in functions():
        length = fn.end_lineno - fn.lineno + 1
        doc = ast.get_docstring(fn) or ""
        if length > 100 and "on purpose" not in doc:
            long.append(f"{path.relative_to(SRC)}:{fn.name} ({length} lines)")
    assert not long, long


def test_no_line_of_the_package_over_120_columns():
    """Source lines fit a side-by-side diff; a long string or call is wrapped, not left to scroll."""
    long = [f"{path.relative_to(SRC)}:{number} ({len(line)} columns)"
            for path in sorted(SRC.rglob("*.py"))
            for number, line in enumerate(path.read_text().splitlines(), start=1) if len(line) > 120]
    assert not long, long


def test_train_is_no_exception_to_the_100_line_limit():
    """train() reads top to bottom in at most 100 lines; the events that fall due live in events.py."""
    (fn,) = [fn for path, fn in functions() if path.name == "loop.py" and fn.name == "train"]
    assert fn.end_lineno - fn.lineno + 1 <= 100
    assert "on purpose" not in (ast.get_docstring(fn) or "")


def test_train_flags_are_not_declared_by_hand_in_the_cli():
    """cli.py adds train flags only from the typed config (plus --resume and the --lr shorthand)."""
    from ganworks.config import OPTIONS
    from ganworks.models import model_options

    flags = {f for o in OPTIONS.values() for f in o.flags} | {o.flag for o, _ in model_options().values()}
    cli = ast.parse((SRC / "cli.py").read_text())
    train_code = [n for n in cli.body if isinstance(n, ast.FunctionDef) and "train" in n.name]
    assert len(train_code) >= 3  # _add_train, train_fields, _cmd_train
    literal = {node.value for fn in train_code for node in ast.walk(fn)
               if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    by_hand = sorted(flags & literal)
    assert not by_hand, f"train flags written out in cli.py: {by_hand}"


def test_benchmark_results_never_point_into_tmp():
    """A results file names the command, commit and machine; a scratch path in /tmp resolves to nothing."""
    results = SRC.parents[1] / "benchmarks" / "results"
    bad = [str(p.relative_to(results)) for p in results.rglob("*")
           if p.suffix in (".json", ".md") and "/tmp/" in p.read_text(errors="ignore")]
    assert not bad, bad
