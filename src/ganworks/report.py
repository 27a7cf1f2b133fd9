"""``ganworks report RUN``: one self-contained HTML page about a training run.

The page holds the loss, D-output, gradient-norm and speed curves from ``stats.jsonl``, the
metric curves from ``metrics.jsonl`` (when the run evaluated), the sample grids over time from
``samples/``, a latent interpolation strip drawn from the run's generator, the alarms, and the
run's configuration and provenance (``config.json``). Every image is embedded as a base64 PNG
and a Content-Security-Policy forbids loading anything else, so the file can be mailed,
archived or opened offline and shows the same thing.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import html
import io
import json
import math
import re
from pathlib import Path
from typing import Any, Callable

from ._version import __version__
from .errors import GanworksError
from .images import png_data_uri
from .schema import Any_, Dict, Float, Int, Invalid, List, Map, Opt, Str

# What the report reads from the run, checked before use (a run directory can be edited by hand):
# a record that does not fit is skipped and counted, and config.json / best.json become a note.
_NUMBER = Opt(Float(finite=False))  # a diverged run logs NaN losses: they are drawn as gaps
STATS_RECORD = Dict({"kimg": Float(0, 1e12)}, optional={"tick": Int(0), "time_s": Float(0), "alarms": List(Str()),
                                                        "nonfinite": Any_})
METRICS_RECORD = Dict({"kimg": Float(0, 1e12), "metrics": Map(Dict(optional={"value": _NUMBER,
                                                                             "higher_is_better": Opt(Any_)}))})
CONFIG = Dict(optional={"train": Dict(optional={"kimg": Opt(Float(0, 1e12))}), "params": Map(Int(0)),
                        "data": Dict(), "environment": Dict()})
BEST = Dict({"metric": Str(), "value": Float(), "kimg": Float(0, 1e12)})

__all__ = ["load_stats", "write_report"]

MAX_GRIDS = 12  # sample grids shown; evenly spaced over the run, first and last always
INTERP_STEPS, INTERP_ROWS, INTERP_SEED = 10, 4, 0
_REPORT_SUFFIXES = (".html", ".htm")
_SNAPSHOT = re.compile(r"fakes(\d+)\.png$")


# ------------------------------------------------------------------------------------ reading
def _read_jsonl(path: Path, schema=STATS_RECORD, why: list[str] | None = None) -> tuple[list[dict], int]:
    """Records of a JSON-lines file that fit ``schema`` and how many lines did not (a run killed
    mid-write leaves a partial last line; that must not make the rest of its history unreadable).
    ``why`` receives the reason of the first bad record that parsed, naming the line and key."""
    records, bad = [], 0
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise GanworksError(f"cannot read {path}: {e.strerror or e}") from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            schema(rec, "")
        except (ValueError, RecursionError):
            bad += 1
            continue
        except Invalid as e:
            bad += 1
            if why is not None and not why:
                why.append(f"line {n}: {e}")
            continue
        records.append(rec)
    return records, bad


def load_stats(run: str | Path) -> tuple[Path, list[dict], int]:
    """(run directory, stats.jsonl records, unreadable lines); a GanworksError unless ``run`` is a
    run directory with at least one tick of statistics."""
    p = Path(run)
    if not p.exists():
        raise GanworksError(f"no such run directory: {p}")
    if not p.is_dir():
        raise GanworksError(f"{p} is not a run directory (expected a folder with stats.jsonl, "
                            "as written by ganworks train)")
    stats = p / "stats.jsonl"
    if not stats.is_file():
        hint = " (it holds a generator: a snapshot, not a run)" if (p / "generator.safetensors").exists() else ""
        raise GanworksError(f"{p} has no stats.jsonl: not a ganworks run directory{hint}; "
                            "a report needs a run written by ganworks train")
    why: list[str] = []
    records, bad = _read_jsonl(stats, STATS_RECORD, why)
    if not records:
        detail = f", e.g. {why[0]}" if why else ""
        raise GanworksError(f"{stats} holds no training statistics ({bad} unreadable line(s){detail}); "
                            "the run has not finished its first tick")
    return p, records, bad


# ------------------------------------------------------------------------------------ figures
def _figure_png(panels: list[tuple[str, list[tuple[str, list[float], list[float]]], dict]], width: float = 11.0
                ) -> bytes:
    """Render panels side by side (two per row) with matplotlib's Agg canvas; no pyplot, so no
    global backend state changes in the caller's process."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(width, 3.4 * rows), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    for i, (title, series, opts) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        for label, xs, ys in series:
            ax.plot(xs, ys, marker="." if len(xs) < 40 else None, label=label)
        for y in opts.get("hlines", ()):
            ax.axhline(y, color="0.6", linestyle="--", linewidth=1)
        if opts.get("log") and all(v > 0 for _, _, ys in series for v in ys if math.isfinite(v)):
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("kimg (thousands of real images shown to D)")
        ax.grid(alpha=0.3)
        if len(series) > 1 or opts.get("legend"):
            ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _series(records: list[dict], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for r in records:
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            xs.append(float(r["kimg"]))
            ys.append(float(v) if math.isfinite(v) else float("nan"))
    return xs, ys


def _training_panels(records: list[dict]) -> list:
    keys = {k for r in records for k in r}

    def group(names: list[str], labels: dict[str, str] | None = None) -> list:
        return [(labels.get(k, k) if labels else k, *_series(records, k)) for k in names if k in keys]

    panels = []
    losses = group(sorted(k for k in keys if k.startswith("loss_")) + [k for k in ("GP", "R1", "R2") if k in keys])
    if losses:
        panels.append(("Losses", losses, {}))
    if "D(x)" in keys:  # a probabilistic D: D(x) and D(G(z)) in (0, 1), accuracy; equilibrium at 1/2
        panels.append(("D outputs and accuracy (equilibrium: 0.5)",
                       group(["D(x)", "D(G(z))", "D_acc"], {"D_acc": "D accuracy"}), {"hlines": [0.5]}))
    elif "D_real" in keys:  # a critic: raw scores
        panels.append(("Critic outputs", group(["D_real", "D_fake"], {"D_real": "f(x)", "D_fake": "f(G(z))"}), {}))
    grads = group(["grad_D", "grad_G"], {"grad_D": "‖∇D‖", "grad_G": "‖∇G‖"})
    if grads:
        panels.append(("Gradient norms", grads, {"log": True}))
    if "img_per_s" in keys:
        panels.append(("Speed (images/s)", group(["img_per_s"]), {}))
    return panels


def _metric_panels(evals: list[dict]) -> list:
    names: list[str] = []
    for e in evals:
        for n in (e.get("metrics") or {}):
            if n not in names:
                names.append(n)
    panels = []
    for n in names:
        xs, ys = [], []
        for e in evals:
            v = ((e.get("metrics") or {}).get(n) or {}).get("value")
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                xs.append(float(e["kimg"]))
                ys.append(float(v))
        hib = next((e["metrics"][n].get("higher_is_better") for e in evals if n in (e.get("metrics") or {})), None)
        better = " (higher is better)" if hib else " (lower is better)" if hib is False else ""
        panels.append((f"{n}{better}", [(n, xs, ys)], {}))
    return panels


# ------------------------------------------------------------------------------------- images
def _snapshots(run: Path, limit: int) -> list[tuple[int, Path]]:
    """(kimg, path) of the sample grids over time, at most ``limit``, evenly spaced, ends kept."""
    found = sorted((int(m.group(1)), f) for f in (run / "samples").glob("fakes*.png")
                   if (m := _SNAPSHOT.search(f.name)))
    if len(found) <= limit:
        return found
    idx = sorted({round(i * (len(found) - 1) / (limit - 1)) for i in range(limit)})
    return [found[i] for i in idx]


def _interpolation(run: Path) -> tuple[bytes | None, str]:
    """A PNG strip of latent walks from the run's generator, or (None, why not)."""
    from .images import _pil, make_grid
    from .release import load_generator
    from .sampling import interpolate, is_points

    if not (run / "generator.safetensors").exists():
        return None, "no generator.safetensors yet (the run has not finished)"
    try:
        G = load_generator(run)
    except GanworksError as e:
        return None, f"the generator could not be loaded: {e}"
    if is_points(G):
        return None, "this generator makes 2-D points, not images; see the scatter plots above"
    walk = interpolate(G, steps=INTERP_STEPS, rows=INTERP_ROWS, seed=INTERP_SEED, spherical=True)  # (R, K, C, H, W)
    buf = io.BytesIO()
    _pil(make_grid(walk.flatten(0, 1), nrow=INTERP_STEPS), scale=2).save(buf, format="PNG")
    return buf.getvalue(), (f"{INTERP_ROWS} spherical walks (slerp) of {INTERP_STEPS} steps between random latents, "
                            f"seed {INTERP_SEED}; the same strip as ganworks interpolate RUN --steps {INTERP_STEPS} "
                            f"--rows {INTERP_ROWS} --slerp")


# --------------------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1100px;color:#222;
     background:#fff;line-height:1.4}
h1{font-size:1.6em;margin-bottom:0}h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
.sub{color:#666;margin-top:4px}table{border-collapse:collapse;font-size:.92em}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
img{max-width:100%;image-rendering:pixelated}.grids{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;text-align:center}figcaption{font-size:.85em;color:#555}
.grids img{width:240px}pre{background:#f6f6f6;padding:10px;overflow:auto;font-size:.8em;max-height:520px}
.alarm{color:#a40000}.note{color:#666;font-style:italic}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _img(src: str, alt: str, cls: str = "") -> str:
    return f'<img src="{src}" alt="{_e(alt)}"{f" class={cls!r}" if cls else ""}>'


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return str(v)


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _read_run(run: Path) -> tuple[dict[str, Any], list[dict], list[str]]:
    """(config.json, the metrics.jsonl records, notes on what could not be read)."""
    notes: list[str] = []
    config: dict[str, Any] = {}
    if (run / "config.json").is_file():
        try:
            config = json.loads((run / "config.json").read_text())
            CONFIG(config, "")
        except (OSError, ValueError, RecursionError, Invalid) as e:
            config = {}
            notes.append(f"config.json could not be read (shown without it): {e}")
    else:
        notes.append("no config.json in this run directory")
    evals: list[dict] = []
    if (run / "metrics.jsonl").is_file():
        why: list[str] = []
        evals, bad = _read_jsonl(run / "metrics.jsonl", METRICS_RECORD, why)
        if bad:
            notes.append(f"metrics.jsonl: {bad} unreadable line(s) skipped" + (f" ({why[0]})" if why else ""))
    return config, evals, notes


def _summary_html(run: Path, config: dict[str, Any], records: list[dict], notes: list[str]) -> list[str]:
    """The summary table, the alarms and the notes (``notes`` may grow: best.json is read here)."""
    train = config.get("train", {}) if isinstance(config.get("train"), dict) else {}
    last = records[-1]
    rows = [("data", train.get("data")), ("model", train.get("model")), ("objective", train.get("objective")),
            ("trained", f"{last['kimg']:g} of {train['kimg']:g} kimg" if isinstance(train.get("kimg"), (int, float))
             else f"{last['kimg']:g} kimg"),
            ("ticks", len(records)), ("wall time", f"{last.get('time_s', float('nan')):.1f} s"),
            ("seed", train.get("seed"))]
    params = config.get("params") or {}
    if params:
        rows.append(("parameters", ", ".join(f"{k} {v:,}" for k, v in params.items())))
    best = run / "best" / "best.json"
    if best.is_file():
        try:
            b = json.loads(best.read_text())
            BEST(b, "")
            rows.append(("best generator", f"{b['metric']} {b['value']:.4g} at {b['kimg']:g} kimg (best/)"))
        except (OSError, ValueError, RecursionError, Invalid) as e:
            notes.append(f"best/best.json could not be read: {e}")
    last_stats = {k: v for k, v in last.items() if k not in ("tick", "kimg", "time_s", "alarms", "nonfinite")}
    rows.append(("last tick", ", ".join(f"{k} {_fmt(v)}" for k, v in last_stats.items())))
    parts = ['<h2 id="summary">Summary</h2><table>']
    parts += [f"<tr><th>{_e(k)}</th><td>{_e(v if v is not None else '?')}</td></tr>" for k, v in rows]
    parts.append("</table>")
    alarms = [(r["kimg"], a) for r in records for a in (r.get("alarms") or [])]
    if alarms:
        shown = alarms[-20:]
        more = f" (the last 20 of {len(alarms)})" if len(alarms) > 20 else ""
        parts.append(f"<h3>Alarms{more}</h3><ul>" + "".join(
            f'<li class="alarm">kimg {k:g}: {_e(a)}</li>' for k, a in shown) + "</ul>")
    for n in notes:
        parts.append(f'<p class="note">{_e(n)}</p>')
    return parts


def _curves_html(records: list[dict], evals: list[dict]) -> list[str]:
    """The training curves and the metric curves (with the last evaluation's provenance)."""
    parts = ['<h2 id="curves">Training curves</h2>']
    panels = _training_panels(records)
    if panels:
        parts.append(_img(png_data_uri(_figure_png(panels)),
                          "training curves: losses, D outputs, gradient norms, speed"))
    parts.append('<h2 id="metrics">Metrics</h2>')
    mpanels = _metric_panels(evals)
    if mpanels:
        parts.append(_img(png_data_uri(_figure_png(mpanels)), "metric curves from metrics.jsonl"))
        prov = {k: v for k, v in evals[-1].items() if k not in ("metrics",)}
        parts.append("<details><summary>provenance of the last evaluation</summary>"
                     f"<pre>{_e(json.dumps(prov, indent=2))}</pre></details>")
    else:
        parts.append('<p class="note">no evaluations in this run (train with --eval-every KIMG to get '
                     "metrics.jsonl)</p>")
    return parts


def _kept_grids(run: Path) -> list[str]:
    """The grids of the generators a run kept besides its last: ``--pick-tail``'s pick (the run's generator) and
    ``--eval-every``'s best (``best/``). The grids over time are drawn from the last G, so they show neither."""
    figures = []
    # (what, its record, the keys to its kimg there, the grid, alt text). config.json records the pick once the
    # run has ended with one (a stale picked/ is never shown); best.json is written with its grid.
    for what, record, keys, grid, alt in (
            ("picked", "config.json", ("picked", "kimg"), "picked/fakes.png", "the picked generator"),
            ("best", "best/best.json", ("kimg",), "best/fakes.png", "the best-evaluated generator")):
        try:
            kimg = json.loads((run / record).read_text())
            for key in keys:
                kimg = kimg[key]
            data = (run / grid).read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            continue
        figures.append(f"<figure>{_img(png_data_uri(data), f'{alt} at {kimg} kimg')}"
                       f"<figcaption>{what}: {kimg} kimg</figcaption></figure>")
    return figures


def _samples_html(run: Path) -> list[str]:
    """The sample grids over time and the real images."""
    parts = ['<h2 id="samples">Samples over time</h2>'
             "<p>The same fixed noise at every snapshot, so each cell follows one latent vector.</p>"
             '<div class="grids">']
    snaps = _snapshots(run, MAX_GRIDS)
    for kimg, f in snaps:
        try:
            parts.append(f"<figure>{_img(png_data_uri(f.read_bytes()), f'samples at {kimg} kimg')}"
                         f"<figcaption>{kimg} kimg</figcaption></figure>")
        except OSError as e:
            parts.append(f'<p class="note">{_e(f.name)}: {_e(e.strerror or e)}</p>')
    parts += _kept_grids(run)
    reals = run / "samples" / "reals.png"
    if reals.is_file():
        parts.append(f"<figure>{_img(png_data_uri(reals.read_bytes()), 'real images')}"
                     "<figcaption>real data</figcaption></figure>")
    parts.append("</div>")
    if not snaps:
        parts.append('<p class="note">no sample grids in samples/</p>')
    return parts


def _provenance_html(run: Path, config: dict[str, Any]) -> list[str]:
    """Data, environment, weight hashes and the report's own version and time; then config.json whole."""
    parts = ['<h2 id="config">Configuration and provenance</h2><table>']
    env = config.get("environment") or {}
    data = config.get("data") or {}
    prov_rows = [("data source", data.get("source")), ("data", f"{data.get('name')} {data.get('split')}, "
                 f"{data.get('images')} images of shape {data.get('shape')}" if data else None)]
    prov_rows += [(f"environment: {k}", v) for k, v in env.items()]
    for kind in ("generator", "discriminator"):
        h = _sha256(run / f"{kind}.safetensors")
        if h:
            prov_rows.append((f"{kind}.safetensors sha256", h))
    prov_rows.append(("report", f"ganworks {__version__}, "
                                f"{_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')}"))
    parts += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in prov_rows if v is not None]
    parts.append("</table>")
    if config:
        parts.append(f"<h3>config.json</h3><pre>{_e(json.dumps(config, indent=2))}</pre>")
    return parts


def render_report(run: str | Path, log: Callable[[str], None] | None = None) -> str:
    """The report of ``run`` as one HTML string (see the module docstring)."""
    log = log or (lambda s: None)
    run, records, bad_lines = load_stats(run)
    config, evals, read_notes = _read_run(run)
    notes = ([f"stats.jsonl: {bad_lines} unreadable line(s) skipped (a run stopped mid-write?)"] if bad_lines
             else []) + read_notes
    title = f"ganworks report: {run.name}"
    parts = ["<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
             # Nothing but this file: images are data: URIs, no scripts, no fonts, no network.
             "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
             "style-src 'unsafe-inline'\">",
             f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{_e(title)}</h1>",
             f"<p class=\"sub\">{_e(run.resolve())}</p>"]
    parts += _summary_html(run, config, records, notes)
    log("report: drawing the training curves")
    parts += _curves_html(records, evals)
    from .sequences.run import is_sequence_run

    if is_sequence_run(run):  # token sequences: sample text, and no latent space to walk
        from .sequences.report import samples_html

        parts += samples_html(run)
    else:
        log("report: embedding the sample grids")
        parts += _samples_html(run)
        log("report: drawing the interpolation strip")
        parts.append('<h2 id="interpolation">Latent interpolation</h2>')
        strip, why = _interpolation(run)
        if strip is not None:
            parts.append(f"<p>{_e(why)}.</p>" + _img(png_data_uri(strip), "latent interpolation strip", "strip"))
        else:
            parts.append(f'<p class="note">{_e(why)}</p>')
    parts += _provenance_html(run, config)
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(run: str | Path, out: str | Path | None = None, log: Callable[[str], None] | None = None) -> Path:
    """Write the report of ``run`` to ``out`` (default ``RUN/report.html``) atomically; returns the path.

    Raises GanworksError, before writing anything, when ``run`` is not a run directory with
    statistics or ``out`` is not an .html path in an existing directory.
    """
    from .images import atomic_path

    if out is not None and Path(out).suffix.lower() not in _REPORT_SUFFIXES:
        raise GanworksError(f"--out {out}: a report is an HTML file; use a name ending in .html")
    run_dir, _, _ = load_stats(run)  # fail early, before any drawing
    path = Path(out) if out is not None else run_dir / "report.html"
    if path.is_dir():
        raise GanworksError(f"--out {path} is a directory; name the .html file to write")
    text = render_report(run_dir, log)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")  # atomic_path gives it the usual mode of a new file
    return path
