"""The package's import structure: ``import ganworks`` is light, light modules stay light, the
public names resolve lazily, no import cycle, and nothing imports the command line."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import ganworks

SRC = Path(ganworks.__file__).parent
PUBLIC = ("train", "TrainConfig", "load_generator", "sample", "interpolate", "GanworksError", "Generator",
          "load_discriminator", "__version__")


def _loaded_after(statement: str) -> set[str]:
    """The modules in ``sys.modules`` after ``statement`` runs in a fresh interpreter."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return set(json.loads(r.stdout.strip().splitlines()[-1]))


def test_import_ganworks_loads_no_torch():
    mods = _loaded_after("import ganworks")
    assert "torch" not in mods
    assert not {m for m in mods if m.startswith("ganworks.")} - {"ganworks._version"}


def test_the_metric_functions_and_names_load_neither_torch_nor_training():
    for statement in ("import ganworks.metrics.frechet", "from ganworks.metrics.registry import parse_metrics"):
        mods = _loaded_after(statement)
        assert "ganworks.training" not in mods, statement
        assert "torch" not in mods, statement
        assert "ganworks.metrics.evaluate" not in mods, statement  # config checks names without it


def test_version_and_public_names_resolve():
    from ganworks._version import __version__

    assert ganworks.__version__ == __version__ and __version__.count(".") == 2
    assert set(PUBLIC) == set(ganworks.__all__)
    for name in PUBLIC:
        assert getattr(ganworks, name) is not None, name
        assert name in dir(ganworks), name
    from ganworks.config import TrainConfig
    from ganworks.errors import GanworksError
    from ganworks.training import train

    assert ganworks.TrainConfig is TrainConfig and ganworks.GanworksError is GanworksError and ganworks.train is train
    assert callable(ganworks.Generator.from_pretrained) and callable(ganworks.load_discriminator)
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        ganworks.trian  # noqa: B018 - a typo is an AttributeError, not a lazy import of nothing


# --------------------------------------------------------------------------------- import graph
def _module_name(path: Path) -> str:
    parts = ["ganworks", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _module_level_imports(tree: ast.Module):
    """Import statements that run when the module is imported: not in functions, classes or TYPE_CHECKING."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try, ast.With)) and not _is_type_checking(node):
            for field in ("body", "orelse", "finalbody", "handlers"):
                stack.extend(getattr(node, field, []))
        elif isinstance(node, ast.ExceptHandler):
            stack.extend(node.body)


def _targets(node: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The ganworks modules an import statement loads (a name imported from a package that is a
    submodule counts as that submodule)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name.split(".")[0] == "ganworks"}
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not target.startswith("ganworks"):
        return set()
    out = set()
    for a in node.names:
        sub = f"{target}.{a.name}"
        out.add(sub if sub in modules else target)
    return out


def _graph(level: str = "module") -> dict[str, set[str]]:
    """ganworks module -> the ganworks modules it imports (``level="any"``: also inside functions)."""
    files = {(_module_name(p), p) for p in SRC.rglob("*.py")}
    modules = {m for m, _ in files}
    graph: dict[str, set[str]] = {}
    for mod, path in files:
        tree = ast.parse(path.read_text())
        nodes = (_module_level_imports(tree) if level == "module"
                 else (n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))))
        graph[mod] = set().union(*(_targets(n, mod, path.name == "__init__.py", modules) for n in nodes)) - {mod}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_reader_sees_a_cycle():
    """The check below must be able to fail: a two-module cycle and a hidden one through a package."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert _cycles({"p": {"p.x"}, "p.x": {"p.y"}, "p.y": {"p"}}) == [["p", "p.x", "p.y"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    tree = ast.parse("from . import __version__\nif TYPE_CHECKING:\n    from .x import y\ndef f():\n    import z\n")
    found = [_targets(n, "ganworks.m", False, {"ganworks.x"}) for n in _module_level_imports(tree)]
    assert found == [{"ganworks"}]


def test_no_import_cycle_among_module_level_imports():
    graph = _graph()
    assert "ganworks.metrics.frechet" in graph and graph["ganworks"] == {"ganworks._version"}
    assert _cycles(graph) == []


def test_nothing_imports_the_command_line():
    graph = _graph(level="any")
    users = sorted(m for m, targets in graph.items() if "ganworks.cli" in targets and m != "ganworks.__main__")
    assert users == []
