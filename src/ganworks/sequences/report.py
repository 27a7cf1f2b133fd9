"""The sequence part of ``ganworks report``: sample text over training in place of sample grids."""

from __future__ import annotations

import html
import re
from pathlib import Path

MAX_SNAPSHOTS, LINES = 8, 16
_SNAPSHOT = re.compile(r"fakes(\d+)\.txt$")


def samples_html(run: Path) -> list[str]:
    """The text samples of ``run``'s snapshots (at most MAX_SNAPSHOTS, evenly spaced, ends kept) and the
    real sequences, LINES lines each: the same fixed sampling seed at every snapshot."""
    found = sorted((int(m.group(1)), f) for f in (run / "samples").glob("fakes*.txt")
                   if (m := _SNAPSHOT.search(f.name)))
    if len(found) > MAX_SNAPSHOTS:
        idx = sorted({round(i * (len(found) - 1) / (MAX_SNAPSHOTS - 1)) for i in range(MAX_SNAPSHOTS)})
        found = [found[i] for i in idx]
    parts = ['<h2 id="samples">Samples over time</h2>',
             "<p>G's samples from the same sampling seed at every snapshot (one sequence a line), and real "
             "training sequences.</p>", '<div class="grids">']
    for label, f in [(f"{kimg} kimg", f) for kimg, f in found] + [("real data", run / "samples" / "reals.txt")]:
        try:
            lines = f.read_text(encoding="utf-8", errors="replace").splitlines()[:LINES]
        except OSError:
            continue
        parts.append(f'<figure><pre style="min-width:200px">{html.escape(chr(10).join(lines))}</pre>'
                     f"<figcaption>{html.escape(label)}</figcaption></figure>")
    parts.append("</div>")
    if not found:
        parts.append('<p class="note">no sample text in samples/</p>')
    return parts
