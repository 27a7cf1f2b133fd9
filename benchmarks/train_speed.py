"""Training throughput (images/s): ganworks' loop against a bare PyTorch step of the same networks.

For each model and precision, side by side in one process:

- ``loop``: ganworks' own training loop (``ganworks.train``) on the data for ``--kimg``, the median
  img/s over the ticks after the first (the first includes warm-up);
- ``bare``: the least code that trains the same pair: one D step (real + fake, non-saturating loss,
  Adam) and one G step, no statistics, checks, EMA or logging, timed over the same number of images;
- ``bare-cl`` (convolutional models): the bare step with channels_last tensors, a lever measured here
  and not (yet) used by the loop.

The ratio loop / bare says what the loop's bookkeeping costs. Models: ``mlp`` (the 2014 paper's pair,
BatchNorm in G), ``dcgan32`` (the default image recipe: DCGAN widths 32) and ``dcgan64`` (DCGAN widths
64), all on 28x28 data, batch 64.

Usage: python benchmarks/train_speed.py [--device cpu|cuda] [--models mlp,dcgan32,dcgan64]
                                       [--precisions fp32,bf16] [--kimg 20] [--batch-size 64] [--json PATH]
Writes benchmarks/results/train_speed-DEVICE.json and .md (or --json) with their provenance.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import ganworks
from ganworks.models import build_discriminator, build_generator, make_model_config
from provenance import cpu_name, markdown_footer, provenance, write_json

MODELS = {"mlp": ("mlp", {"g_batchnorm": True}), "dcgan32": ("dcgan", {"g_channels": 32, "d_channels": 32}),
          "dcgan64": ("dcgan", {"g_channels": 64, "d_channels": 64})}


def loop_speed(model: str, precision: str, kimg: float, batch: int, device: str) -> float:
    arch, opts = MODELS[model]
    with tempfile.TemporaryDirectory() as tmp:
        run = ganworks.train(data="mnist-5k", model=arch, model_options=opts, kimg=kimg, batch_size=batch,
                             device=device, precision=precision, ema_kimg=0, tick_kimg=kimg / 6, snapshot_kimg=0,
                             progress=False, run_dir=f"{tmp}/r")
        ticks = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    return statistics.median(t["img_per_s"] for t in ticks[1:]) if len(ticks) > 1 else ticks[0]["img_per_s"]


def bare_speed(model: str, precision: str, kimg: float, batch: int, device: str, channels_last: bool = False) -> float:
    arch, opts = MODELS[model]
    torch.manual_seed(0)
    cfg = make_model_config(arch, image_shape=(1, 28, 28), **opts)
    G, D = build_generator(arch, cfg).to(device), build_discriminator(arch, cfg).to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    G, D = G.to(memory_format=fmt), D.to(memory_format=fmt)
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    real = (torch.rand(batch, 1, 28, 28, device=device) * 2 - 1).contiguous(memory_format=fmt)
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def step():
        with autocast:
            with torch.no_grad():
                fake = G(torch.randn(batch, cfg.z_dim, device=device))
            loss_d = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.float().backward()
        opt_d.step()
        D.requires_grad_(False)
        with autocast:
            loss_g = F.softplus(-D(G(torch.randn(batch, cfg.z_dim, device=device)))).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.float().backward()
        opt_g.step()
        D.requires_grad_(True)

    steps = max(3, round(kimg * 1000 / batch))
    for _ in range(min(10, steps // 6 + 1)):  # warm-up, as the loop's first tick
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default="mlp,dcgan32,dcgan64")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--kimg", type=float, default=20.0, help="images per measurement, in thousands")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--json")
    a = ap.parse_args()
    models = [m for m in a.models.split(",") if m]
    for m in models:
        if m not in MODELS:
            ap.error(f"--models: unknown model {m!r}; valid: {', '.join(MODELS)}")
    dev_name = torch.cuda.get_device_name() if a.device == "cuda" else cpu_name()
    rows = []
    for model in models:
        for prec in a.precisions.split(","):
            row = {"model": model, "precision": prec, "batch_size": a.batch_size,
                   "loop": round(loop_speed(model, prec, a.kimg, a.batch_size, a.device), 1),
                   "bare": round(bare_speed(model, prec, a.kimg, a.batch_size, a.device), 1)}
            if MODELS[model][0] != "mlp":
                row["bare_channels_last"] = round(bare_speed(model, prec, a.kimg, a.batch_size, a.device, True), 1)
            row["loop_over_bare"] = round(row["loop"] / row["bare"], 3)
            rows.append(row)
            print(f"{model:8s} {prec:5s} loop {row['loop']:8.0f}  bare {row['bare']:8.0f}  img/s  "
                  f"loop/bare {row['loop_over_bare']:.2f}"
                  + (f"  bare channels_last {row['bare_channels_last']:8.0f}" if "bare_channels_last" in row else ""),
                  flush=True)
    for row in rows:  # bf16 against fp32 of the same model and code path
        ref = next((r for r in rows if r["model"] == row["model"] and r["precision"] == "fp32"), None)
        if ref is not None and row is not ref:
            row["loop_over_fp32_loop"] = round(row["loop"] / ref["loop"], 3)
    out = Path(a.json) if a.json else Path(__file__).parent / "results" / f"train_speed-{a.device}.json"
    prov = provenance()
    res = {"device": a.device, "device_name": dev_name, "torch": torch.__version__, "threads": torch.get_num_threads(),
           "kimg_per_measurement": a.kimg, "rows": rows}
    write_json(out, res, prov)
    lines = [f"# Training throughput on {dev_name}", "",
             "| model | precision | ganworks loop (img/s) | bare PyTorch step (img/s) | loop / bare | "
             "bare, channels_last (img/s) | loop vs fp32 loop |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['precision']} | {r['loop']:.0f} | {r['bare']:.0f} | {r['loop_over_bare']:.2f} | "
                     f"{r.get('bare_channels_last', '—')} | {r.get('loop_over_fp32_loop', '—')} |")
    lines += ["", markdown_footer(prov), ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
