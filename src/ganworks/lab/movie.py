"""Experiment 7, the training movie: a 2-D GAN learning, frame by frame, as GAN Lab shows it
(Kahng et al. 2018, "GAN Lab: Understanding Complex Deep Generative Models using Interactive
Visual Experimentation"): D's decision surface D(x) as a heat map, the real points, the
generated points for fixed noise, and the direction G's loss pushes each generated point
(-grad_x of -log D(x), the non-saturating loss) as arrows.

The steps are the training loop's own :func:`~ganworks.training.loop.discriminator_step` and
:func:`~ganworks.training.loop.generator_step`; this file only adds a camera between them.
Output: a GIF and a standalone HTML page (frames embedded, a small player, no network).
"""

from __future__ import annotations

import html as html_lib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.functional import softplus

from ..data import get_spec, load_dataset
from ..images import atomic_path, png_data_uri, refuse_existing, save_gif
from ..metrics.mixtures import mixture_modes
from ..models import build_discriminator, build_generator, make_model_config
from ..objectives import get_objective
from ..training.loop import discriminator_step, generator_step
from .common import bound, pyplot

DATA = "ring8"
LIM = 1.6  # the view: [-LIM, LIM]^2 holds ring8 (radius 1) with room for stray samples


def training_movie(seed: int = 0, quick: bool = False, out: Path | None = None, html: Path | None = None,
                   kimg: float | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Train a 2-D GAN and film it: a GIF at ``out``, a standalone page at ``html`` (each None: not
    written). Two files: an existing one is an error before any work, unless ``overwrite``."""
    if out is not None and html is not None:
        refuse_existing([out, html], overwrite)
    torch.manual_seed(seed)
    data, spec = load_dataset(DATA, "train"), get_spec(DATA)
    kimg = kimg if kimg is not None else (4.0 if quick else 300.0)
    batch = 256
    steps = max(1, int(round(kimg * 1000 / batch)))
    n_frames = 6 if quick else 48
    frame_at = sorted({int(round(i * steps / (n_frames - 1))) for i in range(n_frames)})
    cfg = make_model_config("mlp", image_shape=(2, 1, 1), z_dim=2, g_hidden=(128, 128, 128),
                            d_hidden=(128, 128, 128), d_dropout=0.0, output="linear")
    G, D = build_generator("mlp", cfg), build_discriminator("mlp", cfg)
    objective = get_objective("ns")
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(seed)
    reals = data.images[torch.randperm(len(data), generator=gen)[:500]]  # (500, 2, 1, 1) shown in every frame
    z_show = torch.randn(500, 2, generator=gen)  # fixed noise: the same generated points move
    arrows_idx = torch.arange(0, 500, 6)  # arrows on every 6th generated point
    u = np.linspace(-LIM, LIM, 120)
    grid = torch.from_numpy(np.stack(np.meshgrid(u, u), -1).reshape(-1, 2).astype(np.float32)).view(-1, 2, 1, 1)

    frames, stats = [], []

    def camera(step: int) -> None:
        with torch.no_grad():
            surface = torch.sigmoid(D(grid)).view(len(u), len(u)).numpy()
            fake = G(z_show)
        x = fake.detach().requires_grad_(True)
        (gx,) = torch.autograd.grad(softplus(-D(x)).sum(), x)  # d/dx of -log D(x), per point
        push = -gx.view(-1, 2)[arrows_idx].numpy()
        pts = fake.view(-1, 2).numpy()
        with torch.no_grad():
            d_real, d_fake = float(torch.sigmoid(D(reals)).mean()), float(torch.sigmoid(D(fake)).mean())
        modes = mixture_modes(pts, spec.modes(), spec.std)
        stats.append({"step": step, "kimg": round(step * batch / 1000, 3), "D(x)": d_real, "D(G(z))": d_fake,
                      "modes": modes["modes_captured"], "high_quality_fraction": modes["high_quality_fraction"],
                      "mean_push": float(np.linalg.norm(push, axis=1).mean())})
        frames.append(_render(surface, reals.view(-1, 2).numpy(), pts, pts[arrows_idx.numpy()], push, stats[-1]))

    idx = 0
    perm = torch.randperm(len(data), generator=gen)
    for step in range(steps + 1):
        if step in frame_at:
            camera(step)
        if step == steps:
            break
        if idx + batch > len(perm):
            perm, idx = torch.randperm(len(data), generator=gen), 0
        real = data.images[perm[idx:idx + batch]]
        idx += batch
        discriminator_step(G, D, objective, real, torch.randn(batch, 2, generator=gen), opt_d)
        generator_step(G, D, objective, torch.randn(batch, 2, generator=gen), opt_g)

    checks = []
    if out is not None:
        save_gif(frames, out, duration_ms=150)
        from PIL import Image

        with Image.open(out) as im:
            checks.append(bound("GIF frames written (read back)", im.n_frames, ">=", len(frames)))
    if html is not None:
        _write_html(frames, stats, html, title=f"ganworks training movie: {DATA}, {kimg:g} kimg, seed {seed}")
        checks.append(bound("HTML page frames embedded", html.read_text().count("data:image/png;base64,"), ">=",
                            len(frames)))
    return {"settings": {"data": DATA, "kimg": kimg, "steps": steps, "batch": batch, "objective": "ns",
                         "networks": "ganworks mlp G and D, 3 x 128 hidden, z_dim 2", "frames": len(frames)},
            "measured": {"frames": stats}, "checks": checks, "html": str(html) if html is not None else None}


def _render(surface: np.ndarray, real: np.ndarray, fake: np.ndarray, at: np.ndarray, push: np.ndarray,
            s: dict[str, Any]) -> np.ndarray:
    """One frame (H, W, 3) uint8."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4.4), dpi=80)
    ax.imshow(surface, origin="lower", extent=(-LIM, LIM, -LIM, LIM), cmap="PRGn", vmin=0, vmax=1)
    ax.scatter(real[:, 0], real[:, 1], s=4, c="#1a7a1a", label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=4, c="#6a1b9a", label="generated")
    norm = np.linalg.norm(push, axis=1, keepdims=True)
    direction = push / np.maximum(norm, 1e-12) * 0.15  # unit arrows: where the loss pushes, not how hard
    ax.quiver(at[:, 0], at[:, 1], direction[:, 0], direction[:, 1], angles="xy", scale_units="xy", scale=1,
              width=0.004, color="k", alpha=0.7)
    ax.set_xlim(-LIM, LIM)
    ax.set_ylim(-LIM, LIM)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"step {s['step']}  ({s['kimg']:g} kimg)   D(x) {s['D(x)']:.2f}  D(G(z)) {s['D(G(z))']:.2f}\n"
                 f"modes {s['modes']}/8   green: D says real, purple: D says fake", fontsize=8)
    fig.tight_layout()
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return img


def _write_html(frames: list[np.ndarray], stats: list[dict[str, Any]], path: Path, title: str) -> None:
    """A page that needs nothing but itself: frames as data URIs, a player in a few lines of JS."""
    srcs = json.dumps([png_data_uri(f) for f in frames])
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html_lib.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
#frame {{ border: 1px solid #ccc; image-rendering: auto; }}
#controls {{ margin: 0.8em 0; display: flex; gap: 1em; align-items: center; }}
#slider {{ width: 320px; }}
table {{ border-collapse: collapse; font-size: 0.85em; }} td, th {{ padding: 2px 8px; text-align: right; }}
</style></head>
<body>
<h1>{html_lib.escape(title)}</h1>
<p>Heat map: the discriminator's D(x), green where it says <em>real</em>, purple where it says <em>fake</em>.
Green dots: real data. Purple dots: the generator's samples for fixed noise. Arrows: the direction in
which the generator's loss (-log D) pushes each sample.</p>
<div id="controls"><button id="play">pause</button>
<input id="slider" type="range" min="0" max="{len(frames) - 1}" value="0">
<span id="label"></span></div>
<img id="frame" alt="training frame" width="{frames[0].shape[1]}" height="{frames[0].shape[0]}">
<h2>Per frame</h2>
<table id="stats"><tr><th>step</th><th>kimg</th><th>D(x)</th><th>D(G(z))</th><th>modes</th><th>high quality</th></tr>
{"".join(f"<tr><td>{s['step']}</td><td>{s['kimg']:g}</td><td>{s['D(x)']:.3f}</td><td>{s['D(G(z))']:.3f}</td>"
         f"<td>{s['modes']}/8</td><td>{100 * s['high_quality_fraction']:.1f}%</td></tr>" for s in stats)}
</table>
<script>
const frames = {srcs};
const stats = {json.dumps(stats)};
const img = document.getElementById("frame"), slider = document.getElementById("slider");
const label = document.getElementById("label"), button = document.getElementById("play");
let i = 0, playing = true;
function show(k) {{
  i = k; img.src = frames[k]; slider.value = k;
  label.textContent = "frame " + (k + 1) + " / " + frames.length + ", step " + stats[k].step;
}}
slider.addEventListener("input", () => {{ playing = false; button.textContent = "play"; show(+slider.value); }});
button.addEventListener("click", () => {{ playing = !playing; button.textContent = playing ? "pause" : "play"; }});
setInterval(() => {{ if (playing) show((i + 1) % frames.length); }}, 150);
show(0);
document.body.dataset.frames = String(frames.length);
</script>
</body></html>
"""
    with atomic_path(path) as tmp:
        tmp.write_text(page)


__all__ = ["training_movie"]
