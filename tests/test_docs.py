"""The README and docs/ as a newcomer meets them: every relative link leads somewhere, every
``ganworks`` command shown in a code block parses with the real parser, and the README stays short.

Docs rot silently: a page moves, a flag is renamed, an example keeps a typo. These tests read the
Markdown files themselves, so a broken link or a command that would exit with a usage error fails
here instead of in a reader's terminal.
"""

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]

# Written by a generator from the typed config, not by hand; until that lands, links to it are
# reported as skipped rather than failing the whole link check.
GENERATED = {ROOT / "docs" / "options.md": "docs/options.md is generated from the typed config and not written yet"}

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`\n]*`")
INLINE_LINK = re.compile(r"\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http:, https:, mailto:, ...


def _split_fences(text: str) -> tuple[list[str], list[list[str]]]:
    """The page's prose lines (code blocks blanked out) and the lines of each fenced code block."""
    prose, blocks, block = [], [], None
    for line in text.splitlines():
        if FENCE.match(line):
            if block is None:
                block = []
            else:
                blocks.append(block)
                block = None
            prose.append("")
            continue
        if block is None:
            prose.append(line)
        else:
            block.append(line)
            prose.append("")
    assert block is None, "a code block is never closed"
    return prose, blocks


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    prose, _ = _split_fences(page.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out = set()
    for line in prose:
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = _slug(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")  # repeated headings get -1, -2, ... as on GitHub
    return out


def _links(page: Path) -> list[str]:
    prose, _ = _split_fences(page.read_text(encoding="utf-8"))
    # Inline code may hold brackets and parentheses that are not links; keep its place as text.
    text = INLINE_CODE.sub("code", "\n".join(prose))
    return INLINE_LINK.findall(text) + REF_LINK.findall(text)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_every_page_is_found():
    names = {_rel(p) for p in PAGES}
    # The pages the README's table promises; if one is renamed the table must follow.
    for name in ("docs/objectives.md", "docs/evaluation.md", "docs/lab.md", "docs/long-runs.md",
                 "docs/guarantees.md", "docs/benchmarks.md", "docs/testing.md", "docs/research/grid25.md"):
        assert name in names, f"{name} is missing"


def _check_links(pages: list[Path]) -> tuple[list[str], list[str], int]:
    """(broken links, links to a generated page not written yet, relative links checked)."""
    broken, pending, checked = [], [], 0
    for page in pages:
        for target in _links(page):
            if EXTERNAL.match(target):
                continue
            path_part, _, anchor = target.partition("#")
            dest = (page.parent / path_part).resolve() if path_part else page
            checked += 1
            where = f"{page.name} -> {target}"
            if dest in GENERATED and not dest.exists():
                pending.append(where)
            elif not dest.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{where} (no heading with anchor #{anchor})")
    return broken, pending, checked


def test_relative_links_point_to_files_that_exist():
    broken, _, checked = _check_links(PAGES)
    assert not broken, "broken links:\n" + "\n".join(broken)
    assert checked >= 50, f"only {checked} relative links found: is the link pattern still matching?"


@pytest.mark.parametrize("generated", sorted(GENERATED), ids=[_rel(p) for p in sorted(GENERATED)])
def test_generated_pages_that_are_linked_exist(generated):
    _, pending, _ = _check_links(PAGES)
    if not generated.exists():
        pytest.skip(f"{GENERATED[generated]} ({len(pending)} links wait for it: {', '.join(pending)})")
    assert generated.read_text(encoding="utf-8").strip(), f"{_rel(generated)} is empty"


def test_link_check_catches_a_missing_file_and_anchor(tmp_path):
    """The check above must be able to fail: a missing file, a wrong anchor, a link hidden in code."""
    (tmp_path / "other.md").write_text("# Other page\n\n## Some `code` heading: yes\n\n```\n# not a heading\n```\n")
    page = tmp_path / "page.md"
    page.write_text("\n".join([
        "[fine](other.md#some-code-heading-yes) and ![img](other.md) and [web](https://example.org/x)",
        "[gone](missing.md) and [bad anchor](other.md#not-a-heading) and [self](#top)",
        "`[not a link](nowhere.md)`",
        "```",
        "[also not a link](nowhere.md)",
        "```",
        "# Top",
    ]))
    broken, pending, checked = _check_links([page])
    assert sorted(broken) == ["page.md -> missing.md (no such file)",
                              "page.md -> other.md#not-a-heading (no heading with anchor #not-a-heading)"]
    assert pending == [] and checked == 5


def test_every_docs_page_is_linked_from_somewhere():
    """A page nobody links to is a page no newcomer finds."""
    linked = set()
    for page in PAGES:
        for target in _links(page):
            if not EXTERNAL.match(target):
                linked.add((page.parent / target.partition("#")[0]).resolve())
    orphans = [_rel(p) for p in PAGES if p != README and p.resolve() not in linked]
    assert not orphans, f"pages no other page links to: {orphans}"


def _commands_in(name: str, text: str) -> tuple[list[tuple[str, str, list[str]]], list[str]]:
    """(page, line, argv after 'ganworks') for each ganworks command in a code block of one page,
    and the lines left out because they cannot be parsed as they stand."""
    found, left_out = [], []
    _, blocks = _split_fences(text)
    for block in blocks:
        if any(line.lstrip().startswith("$ ") for line in block):
            # A terminal transcript: it may show a mistake and its error on purpose, and its
            # other lines are output, not commands.
            left_out += [f"{name}: {line.strip()}" for line in block if line.lstrip().startswith("$ ")]
            continue
        for line in block:
            s = line.strip()
            if not (s.startswith("ganworks ") or " -m ganworks " in s):
                continue
            if "$(" in s or "`" in s:
                left_out.append(f"{name}: {s}")
                continue
            tokens = shlex.split(s, comments=True)
            if tokens[0] == "ganworks":
                argv = tokens[1:]
            else:
                i = tokens.index("-m")
                assert tokens[i + 1] == "ganworks", s
                argv = tokens[i + 2:]
            if "..." in argv or any(t.startswith("[") for t in argv):
                left_out.append(f"{name}: {s}")  # an elided or optional part: not a whole command
                continue
            found.append((name, s, argv))
    return found, left_out


def _parse_error(argv: list[str]) -> str | None:
    """None when the real parser accepts argv, else its exit status and message."""
    from ganworks.cli import build_parser

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(argv)
    except SystemExit as e:
        return f"exit {e.code}: {err.getvalue().strip()}"
    return None


def test_commands_shown_in_the_docs_parse():
    found, left_out = [], []
    for page in PAGES:
        f, skipped = _commands_in(_rel(page), page.read_text(encoding="utf-8"))
        found += f
        left_out += skipped
    failures = [f"{page}: {line}\n    {err}" for page, line, argv in found if (err := _parse_error(argv))]
    assert not failures, "commands in the docs that the parser rejects:\n" + "\n".join(failures)
    # Most commands must be checkable; a drop here means the extraction stopped seeing them.
    assert len(found) >= 30, f"only {len(found)} commands checked ({len(left_out)} left out: {left_out})"
    assert len(left_out) <= len(found) // 4, f"too many commands could not be checked: {left_out}"
    pages = {page for page, _, _ in found}
    assert "README.md" in pages and len(pages) >= 5, pages


def test_command_check_catches_a_bad_flag():
    """The check above must be able to fail: a made-up flag in a code block is found and rejected,
    while prose, Python and transcripts are not taken for commands."""
    page = "\n".join([
        "Run `ganworks train --bogus` in prose (not a code block).",
        "```",
        "ganworks train --data mnist --no-such-flag 3   # a comment",
        "torchrun --standalone --nproc_per_node=2 -m ganworks sample RUN --n 4",
        "ganworks evaluate RUN --data mnist-5k [--n 10000]",
        "```",
        "```",
        "$ ganworks train --lr 0",
        "ganworks train: error: argument --lr: expected a positive finite number, got '0'",
        "```",
        "```python",
        "run = ganworks.train(data='mnist-5k')",
        "```",
    ])
    found, left_out = _commands_in("example.md", page)
    assert [argv for _, _, argv in found] == [["train", "--data", "mnist", "--no-such-flag", "3"],
                                              ["sample", "RUN", "--n", "4"]]
    assert len(left_out) == 2
    err = _parse_error(found[0][2])
    assert err is not None and err.startswith("exit 2") and "--no-such-flag" in err
    assert _parse_error(found[1][2]) is None


def test_readme_is_short():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= 250, f"README.md has {n} lines; keep it at most 250 and move depth into docs/"


def test_readme_keeps_the_two_commands():
    """`make demo` and `make test` are the README's first instructions (CI runs `make test`)."""
    text = README.read_text(encoding="utf-8")
    quick = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "make demo" in quick and "make test" in quick


@pytest.mark.parametrize("page", PAGES, ids=[_rel(p) for p in PAGES])
def test_no_internal_references(page):
    """Text a reader cannot resolve: placeholders and pointers into a private tracker or notes."""
    text = page.read_text(encoding="utf-8")
    for pattern in (r"\bSUITE_TIME\b", r"\bthe user's note", r"\bthe notes ask\b", r"\bthe seeds'",
                    r"\bthe issue\b", r"\bissue \d+\b"):
        m = re.search(pattern, text, re.I)
        assert not m, f"{_rel(page)}: {m.group(0)!r} at offset {m.start()}"


def test_readme_layout_names_real_paths():
    """The README's Layout block is a map of the source tree; a renamed module must show up here."""
    text = README.read_text(encoding="utf-8")
    _, blocks = _split_fences(text.split("## Layout", 1)[1])
    missing, checked = [], 0
    for line in blocks[0]:
        if not line.strip():
            continue
        name = line.split()[0]
        # Indented entries live in the package named on the block's first line.
        path = (ROOT / "src" / "ganworks" if line.startswith(" ") else ROOT) / name
        checked += 1
        if not path.exists():
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"the README's Layout names paths that do not exist: {missing}"
    assert checked >= 10
