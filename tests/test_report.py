"""ganworks report: a self-contained HTML page, checked as files and in a real headless Chromium."""

import base64
import contextlib
import html
import io
import json
import os
import re
import subprocess
import time

import numpy as np
import pytest
from gwtest import TINY, cli, needs_mnist5k
from PIL import Image

CHROMIUM = "/usr/bin/chromium"  # Debian's package; `make test` installs it with apt-get
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                    reason=f"{CHROMIUM} is missing (Debian's chromium; `make test` installs it with "
                                           "apt-get install -y chromium when apt-get is available)")
SECTIONS = ("summary", "curves", "metrics", "samples", "interpolation", "config")


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory):
    """A tiny finished run that evaluated twice (so metrics.jsonl exists) and kept 2 grids."""
    from ganworks import train

    return train(run_dir=str(tmp_path_factory.mktemp("report") / "run"),
                 **{**TINY, "kimg": 1.0, "eval_every": 0.5, "eval_n": 300})


@pytest.fixture(scope="module")
def report(evaluated_run, tmp_path_factory):
    """``ganworks report RUN --out FILE`` through the CLI's main() in this process (capsys is per test;
    this fixture is per module, so it captures the two streams itself)."""
    from ganworks.cli import main

    out = tmp_path_factory.mktemp("out") / "report.html"
    stdout, stderr = io.StringIO(), io.StringIO()
    t = time.perf_counter()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = main(["report", str(evaluated_run), "--out", str(out)])
    seconds = time.perf_counter() - t
    assert rc == 0, stderr.getvalue()
    assert stdout.getvalue().strip() == str(out)
    print(f"report: {out.stat().st_size / 1024:.0f} KiB in {seconds:.1f} s (CLI main, in this process)")
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _chromium(*args, tmp_path, timeout=120):
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={tmp_path / 'chromium-profile'}", *args],
                          capture_output=True, text=True, timeout=timeout)


def _embedded_pngs(text):
    return [Image.open(io.BytesIO(base64.b64decode(b))) for b in re.findall(r'src="data:image/png;base64,([^"]+)"', text)]


@needs_mnist5k
@pytest.mark.slow
def test_report_is_self_contained_html(report, evaluated_run, capsys):
    text = report.read_text()
    assert text.startswith("<!DOCTYPE html>")
    for section in SECTIONS:
        assert f'id="{section}"' in text, section
    # Nothing outside the file: every src/href is a data: URI, no URLs, no CSS imports, and a
    # Content-Security-Policy that would block anything else.
    assert re.findall(r'(?:src|href)="([^"]*)"', text) and all(
        u.startswith("data:image/png;base64,") for u in re.findall(r'(?:src|href)="([^"]*)"', text))
    assert "http://" not in text and "https://" not in text and "url(" not in text and "<script" not in text
    assert "default-src 'none'; img-src data:" in text
    # The images: curves, metric curves, two grids, the best generator's grid (--eval-every), the real images,
    # and the interpolation strip.
    pngs = _embedded_pngs(text)
    assert len(pngs) == 7
    grids = [np.asarray(p) for p in pngs[2:4]]
    disk = [np.asarray(Image.open(f)) for f in sorted((evaluated_run / "samples").glob("fakes*.png"))]
    assert len(disk) == 2 and all(np.array_equal(a, b) for a, b in zip(grids, disk))  # the very grids of the run
    assert np.array_equal(np.asarray(pngs[4]), np.asarray(Image.open(evaluated_run / "best" / "fakes.png")))
    best_kimg = json.loads((evaluated_run / "best" / "best.json").read_text())["kimg"]
    assert f"<figcaption>best: {best_kimg} kimg</figcaption>" in text
    assert pngs[6].size == (2 * (2 + 10 * 30), 2 * (2 + 4 * 30))  # 10 steps x 4 walks of 28 px, scale 2
    # The strip is what `ganworks interpolate --slerp` draws with the same settings.
    walk = report.parent / "walk.png"
    r = cli(capsys, "interpolate", str(evaluated_run), "--steps", "10", "--rows", "4", "--slerp", "--seed", "0",
            "--out", str(walk))
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.asarray(pngs[6]), np.asarray(Image.open(walk)))
    cfg = json.loads((evaluated_run / "config.json").read_text())
    shown = re.search(r"<h3>config.json</h3><pre>(.*?)</pre>", text, re.S).group(1)
    assert json.loads(html.unescape(shown)) == cfg  # the whole config, exactly
    assert f"<th>environment: torch</th><td>{cfg['environment']['torch']}</td>" in text  # provenance
    assert 50_000 < report.stat().st_size < 3_000_000
    assert report.stat().st_mode & 0o444 == 0o444 & ~_umask()  # readable as any new file, not 0600


@needs_mnist5k
def test_default_output_is_inside_the_run(evaluated_run, capsys):
    r = cli(capsys, "report", str(evaluated_run))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(evaluated_run / "report.html") and (evaluated_run / "report.html").is_file()


@needs_mnist5k
@needs_chromium
@pytest.mark.slow
def test_report_renders_in_headless_chromium(report, tmp_path):
    # 1. The DOM after load: every section is there and every image decoded, at its PNG's size.
    # A copy of the page gets a probe script (the report itself has none; its CSP allows none).
    text = report.read_text()
    probe = ("<script>window.addEventListener('load', function () {"
             "  var out = [];"
             "  for (const im of document.images) out.push([im.alt, im.complete, im.naturalWidth, im.naturalHeight]);"
             "  var ids = Array.from(document.querySelectorAll('h2[id]')).map(function (h) { return h.id; });"
             "  var p = document.createElement('pre'); p.id = 'probe';"
             "  p.textContent = JSON.stringify({images: out, sections: ids}); document.body.appendChild(p);"
             "});</script>")
    copy = tmp_path / "probe.html"
    copy.write_text(text.replace("style-src 'unsafe-inline'", "style-src 'unsafe-inline'; script-src 'unsafe-inline'", 1)
                    .replace("</body>", probe + "</body>"))
    r = _chromium("--dump-dom", copy.as_uri(), tmp_path=tmp_path)
    m = re.search(r'<pre id="probe">(.*?)</pre>', r.stdout)
    assert m, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    seen = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert seen["sections"] == list(SECTIONS)
    sizes = [p.size for p in _embedded_pngs(text)]
    assert len(seen["images"]) == len(sizes) == 7
    for (alt, complete, w, h), size in zip(seen["images"], sizes):
        assert complete and (w, h) == size, alt  # decoded by the browser, not a broken-image icon

    # 2. A screenshot of the report itself: the right size and not blank.
    shot = tmp_path / "report.png"
    r = _chromium(f"--screenshot={shot}", "--window-size=1200,2000", report.as_uri(), tmp_path=tmp_path)
    assert shot.is_file(), (r.returncode, r.stderr[-2000:])
    img = Image.open(shot)
    assert img.size == (1200, 2000)
    px = np.asarray(img.convert("L"), dtype=np.float64)
    non_white = float((px < 250).mean())
    print(f"screenshot: {img.size}, pixel std {px.std():.1f}, {non_white:.1%} non-white")
    assert px.std() > 20 and non_white > 0.05  # text, curves and grids, not an empty page
    # The top third holds the curves (colour), not only black text on white.
    rgb = np.asarray(img.convert("RGB"), dtype=np.int16)
    colourful = (np.abs(rgb[..., 0] - rgb[..., 2]) > 60).mean()
    assert colourful > 0.001
