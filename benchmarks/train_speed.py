"""Training throughput (images/s): ganworks' loop against a bare PyTorch step and the canonical public scripts.

For each model and precision, side by side in one process:

- ``loop``: ganworks' own training loop (``ganworks.train``) on the data for ``--kimg``, the median
  img/s over the ticks after the first (the first includes warm-up);
- ``bare``: the least code that trains the same pair: one D step (real + fake, non-saturating loss,
  Adam) and one G step on fresh noise, no statistics, checks, EMA or logging, timed over the same
  number of images;
- ``loop_reuse_fakes``: the same loop with ``--reuse-fakes`` (G's step on the D step's noise and fakes:
  one forward of G per iteration instead of two, the loop order of both peers below);
- ``bare_channels_last`` (convolutional models): the bare step with channels_last tensors;
- ``peer`` (two models): the timed step of a canonical public script, its architecture and step
  reimplemented here from its published description, labelled as such (nothing is fetched):
  ``mlp-gan.py`` is PyTorch-GAN's ``implementations/gan/gan.py`` (G 100-128-256-512-1024-784 with
  BatchNorm1d(eps 0.8) after all but the first layer, LeakyReLU 0.2, tanh; D 784-512-256-1, sigmoid +
  BCELoss; G step first, then D on the same fakes, detached; Adam 2e-4, betas 0.5/0.999), and
  ``dcgan-64px`` is pytorch/examples' ``dcgan/main.py`` (ngf = ndf = 64, nz 100, 64x64 images, BatchNorm
  in G and in D after the first convolution, sigmoid + BCELoss; D on real then on the fakes, G on the
  same fakes). ganworks trains the same networks: for ``mlp-gan.py`` its MLP with those widths and
  BatchNorm (ours also normalises the first hidden layer, eps 1e-5), for ``dcgan-64px`` its DCGAN with
  BatchNorm in D (the last 4x4 convolution is a linear layer in ours: the same map) on a folder of
  64x64 images;
- ``fp32_peak_gflops`` and, per convolutional row, ``loop_of_peak``: the loop's arithmetic rate (FLOPs
  of one step counted by ``torch.utils.flop_counter``, times steps per second) over the fp32 matmul
  peak measured in the same run (2048x2048 matrices).

The ratio loop / bare says what the loop's bookkeeping costs; loop / peer what a user gains over the
canonical script. Models: ``mlp`` (the 2014 paper's pair, BatchNorm in G), ``mlp-gan.py``, ``default``
(the image recipe a user gets with no flag, ``RECIPES["images"]``), ``dcgan28`` (the image recipe before
commit 4fe1fc8: DCGAN widths 64, BatchNorm in D, 28x28), ``dcgan32`` (widths 32, 28x28),
``dcgan-64px``; batch 64.

Usage: python benchmarks/train_speed.py [--device cpu|cuda] [--models mlp,mlp-gan.py,default,dcgan28,dcgan32,dcgan-64px]
                                       [--precisions fp32,bf16] [--kimg 10] [--batch-size 64] [--repeats 1]
                                       [--json PATH]
Writes benchmarks/results/train_speed-DEVICE.json and .md (or --json) with their provenance.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import ganworks
from ganworks.config import RECIPES
from ganworks.models import build_discriminator, build_generator, make_model_config
from provenance import cpu_name, markdown_footer, provenance, write_json
from ganworks.cli import OneLineParser

#: name -> (ganworks model, its options, image side, the canonical script reimplemented for it or None)
MODELS = {"mlp": ("mlp", {"g_batchnorm": True}, 28, None),
          "mlp-gan.py": ("mlp", {"g_hidden": (128, 256, 512, 1024), "g_batchnorm": True, "d_hidden": (512, 256),
                                 "d_dropout": 0.0}, 28, "PyTorch-GAN gan.py (reimplemented)"),
          "default": ("dcgan", dict(RECIPES["images"]["model_options"]), 28, None),
          "dcgan28": ("dcgan", {"g_channels": 64, "d_channels": 64, "d_batchnorm": True}, 28, None),
          "dcgan32": ("dcgan", {"g_channels": 32, "d_channels": 32}, 28, None),
          "dcgan-64px": ("dcgan", {"g_channels": 64, "d_channels": 64, "d_batchnorm": True}, 64,
                         "pytorch/examples dcgan (reimplemented)")}


def _folder_64px(root: Path, n: int = 512) -> str:
    """n gray 64x64 PNGs (mnist-5k digits, upsampled) for the 64-px rows: ganworks' folder: data."""
    from PIL import Image

    from ganworks.data import load_dataset

    digits = load_dataset("mnist-5k").images[:n].float()
    big = F.interpolate(digits, size=64, mode="bilinear").clamp(0, 255).to(torch.uint8)
    root.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(big):
        Image.fromarray(im[0].numpy()).save(root / f"{i:04d}.png")
    return f"folder:{root}"


def _autocast(device: str, precision: str):
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")


def _timed(step, kimg: float, batch: int, device: str) -> float:
    """img/s of ``step`` over kimg thousand images, after a short warm-up."""
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


class GanPyGenerator(torch.nn.Module):
    """PyTorch-GAN gan.py's generator, as published: BatchNorm1d(out, 0.8) means eps = 0.8."""

    def __init__(self, z_dim: int = 100, side: int = 28):
        super().__init__()
        nn = torch.nn

        def block(n_in, n_out, normalize=True):
            return [nn.Linear(n_in, n_out), *([nn.BatchNorm1d(n_out, 0.8)] if normalize else []), nn.LeakyReLU(0.2)]

        self.side = side
        self.model = nn.Sequential(*block(z_dim, 128, normalize=False), *block(128, 256), *block(256, 512),
                                   *block(512, 1024), nn.Linear(1024, side * side), nn.Tanh())

    def forward(self, z):
        return self.model(z).view(z.shape[0], 1, self.side, self.side)


def _gan_py_d(side: int = 28) -> torch.nn.Module:
    nn = torch.nn
    return nn.Sequential(nn.Flatten(), nn.Linear(side * side, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256),
                         nn.LeakyReLU(0.2), nn.Linear(256, 1), nn.Sigmoid())


def _examples_dcgan(nz: int = 100, ngf: int = 64, ndf: int = 64, nc: int = 1):
    """pytorch/examples dcgan/main.py's netG and netD (64x64 images)."""
    nn = torch.nn
    G = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
    D = nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())
    return G, D


def peer_speed(model: str, precision: str, kimg: float, batch: int, device: str) -> float:
    """img/s of the canonical script's timed step (its loop body, a fixed real batch: no data loading)."""
    torch.manual_seed(0)
    side = MODELS[model][2]
    bce = torch.nn.BCELoss()
    real = torch.rand(batch, 1, side, side, device=device) * 2 - 1
    ones, zeros = torch.ones(batch, device=device), torch.zeros(batch, device=device)
    autocast = _autocast(device, precision)
    if model == "mlp-gan.py":
        G, D = GanPyGenerator(side=side).to(device), _gan_py_d(side).to(device)
    else:
        G, D = (m.to(device) for m in _examples_dcgan())
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))

    def d_of(x):  # BCELoss is unsafe under autocast: score in fp32, as a bf16 port of the script would
        return D(x).float().view(-1)

    def gan_py_step():
        opt_g.zero_grad()
        with autocast:
            gen = G(torch.randn(batch, 100, device=device))
            g_loss = bce(d_of(gen), ones)
        g_loss.backward()
        opt_g.step()
        opt_d.zero_grad()
        with autocast:
            d_loss = (bce(d_of(real), ones) + bce(d_of(gen.detach()), zeros)) / 2
        d_loss.backward()
        opt_d.step()

    def examples_step():
        D.zero_grad()
        with autocast:
            err_real = bce(d_of(real), ones)
        err_real.backward()
        with autocast:
            fake = G(torch.randn(batch, 100, 1, 1, device=device))
            err_fake = bce(d_of(fake.detach()), zeros)
        err_fake.backward()
        opt_d.step()
        G.zero_grad()
        with autocast:
            err_g = bce(d_of(fake), ones)
        err_g.backward()
        opt_g.step()

    return _timed(gan_py_step if model == "mlp-gan.py" else examples_step, kimg, batch, device)


def loop_speed(model: str, precision: str, kimg: float, batch: int, device: str, reuse_fakes: bool = False) -> float:
    arch, opts, side, _ = MODELS[model]
    with tempfile.TemporaryDirectory() as tmp:
        data = "mnist-5k" if side == 28 else _folder_64px(Path(tmp) / "images")
        run = ganworks.train(data=data, resolution=side, channels=1, model=arch, model_options=opts, kimg=kimg,
                             batch_size=batch, device=device, precision=precision, ema_kimg=0, tick_kimg=kimg / 6,
                             snapshot_kimg=0, progress=False, run_dir=f"{tmp}/r", reuse_fakes=reuse_fakes)
        ticks = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    return statistics.median(t["img_per_s"] for t in ticks[1:]) if len(ticks) > 1 else ticks[0]["img_per_s"]


def _bare_pair(model: str, device: str, channels_last: bool):
    arch, opts, side, _ = MODELS[model]
    torch.manual_seed(0)
    cfg = make_model_config(arch, image_shape=(1, side, side), **opts)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    G = build_generator(arch, cfg).to(device).to(memory_format=fmt)
    D = build_discriminator(arch, cfg).to(device).to(memory_format=fmt)
    return cfg, G, D, fmt


def bare_speed(model: str, precision: str, kimg: float, batch: int, device: str, channels_last: bool = False,
               count_flops: bool = False) -> float:
    """img/s of the least code that trains ganworks' pair (or, with count_flops, the FLOPs of one step)."""
    cfg, G, D, fmt = _bare_pair(model, device, channels_last)
    side = cfg.image_shape[1]
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    real = (torch.rand(batch, 1, side, side, device=device) * 2 - 1).contiguous(memory_format=fmt)
    autocast = _autocast(device, precision)

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

    if count_flops:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            step()
        return float(counter.get_total_flops())
    return _timed(step, kimg, batch, device)


def fp32_matmul_peak(device: str, n: int = 2048, seconds: float = 2.0) -> float:
    """GFLOP/s of an fp32 n x n matmul on this device, the best of a few timed seconds."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best, t_end = 0.0, time.perf_counter() + seconds
    a @ b  # warm-up
    while time.perf_counter() < t_end:
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t0) / 1e9)
    return best


def main() -> int:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--kimg", type=float, default=10.0,
                    help="images per measurement at 28x28, in thousands (a tenth of it at 64x64)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=1,
                    help="measure the loop and the bare step this many times each, alternating; report each one's best")
    ap.add_argument("--json")
    a = ap.parse_args()
    models = [m for m in a.models.split(",") if m]
    for m in models:
        if m not in MODELS:
            ap.error(f"--models: unknown model {m!r}; valid: {', '.join(MODELS)}")
    if a.repeats < 1:
        ap.error(f"--repeats: {a.repeats} is not a positive count; use 1 or more")
    precisions = [p for p in a.precisions.split(",") if p]
    for p in precisions:
        if p not in ("fp32", "bf16"):
            ap.error(f"--precisions: unknown precision {p!r}; valid: fp32, bf16")
    dev_name = torch.cuda.get_device_name() if a.device == "cuda" else cpu_name()
    peak = fp32_matmul_peak(a.device)
    print(f"fp32 matmul peak: {peak:.0f} GFLOP/s", flush=True)
    rows = []
    for model in models:
        arch, _, side, peer = MODELS[model]
        kimg = a.kimg if side == 28 else a.kimg / 10  # 64x64 steps cost ~10x more: similar seconds per row
        peer_fp32 = round(peer_speed(model, "fp32", kimg, a.batch_size, a.device), 1) if peer else None
        gflop_per_img = bare_speed(model, "fp32", 0, a.batch_size, a.device, count_flops=True) / a.batch_size / 1e9
        for prec in precisions:
            # --repeats R: loop and bare step alternate R times; each keeps its best (the least disturbed) run.
            loops, bares, reuses = [], [], []
            for _ in range(a.repeats):
                loops.append(round(loop_speed(model, prec, kimg, a.batch_size, a.device), 1))
                bares.append(round(bare_speed(model, prec, kimg, a.batch_size, a.device), 1))
                reuses.append(round(loop_speed(model, prec, kimg, a.batch_size, a.device, reuse_fakes=True), 1))
            row = {"model": model, "image_side": side, "precision": prec, "batch_size": a.batch_size,
                   "loop": max(loops), "bare": max(bares), "loop_reuse_fakes": max(reuses),
                   "gflop_per_img": round(gflop_per_img, 4)}
            if a.repeats > 1:
                row.update(loop_runs=loops, bare_runs=bares, loop_reuse_fakes_runs=reuses)
            if arch != "mlp":
                row["bare_channels_last"] = round(bare_speed(model, prec, kimg, a.batch_size, a.device, True), 1)
            row["loop_over_bare"] = round(row["loop"] / row["bare"], 3)
            row["reuse_over_loop"] = round(row["loop_reuse_fakes"] / row["loop"], 3)
            row["loop_of_fp32_peak"] = round(row["loop"] * gflop_per_img / peak, 3)
            if peer:
                row.update(peer=peer, peer_fp32=peer_fp32, loop_over_peer=round(row["loop"] / peer_fp32, 3),
                           reuse_over_peer=round(row["loop_reuse_fakes"] / peer_fp32, 3),
                           peer_of_fp32_peak=round(peer_fp32 * gflop_per_img / peak, 3))
            rows.append(row)
            print(f"{model:10s} {prec:5s} loop {row['loop']:7.0f}  bare {row['bare']:7.0f} img/s  "
                  f"loop --reuse-fakes {row['loop_reuse_fakes']:7.0f} ({row['reuse_over_loop']:.2f}x)  "
                  f"loop/bare {row['loop_over_bare']:.2f}  of peak {row['loop_of_fp32_peak']:.0%}"
                  + (f"  bare channels_last {row['bare_channels_last']:7.0f}" if "bare_channels_last" in row else "")
                  + (f"  peer {peer_fp32:7.0f} (loop/peer {row['loop_over_peer']:.2f})" if peer else ""), flush=True)
    for row in rows:  # bf16 against fp32 of the same model and code path
        ref = next((r for r in rows if r["model"] == row["model"] and r["precision"] == "fp32"), None)
        if ref is not None and row is not ref:
            row["loop_over_fp32_loop"] = round(row["loop"] / ref["loop"], 3)
    out = Path(a.json) if a.json else Path(__file__).parent / "results" / f"train_speed-{a.device}.json"
    prov = provenance()
    res = {"device": a.device, "device_name": dev_name, "torch": torch.__version__, "threads": torch.get_num_threads(),
           "kimg_per_measurement": a.kimg, "repeats": a.repeats, "kimg_per_measurement_64px": a.kimg / 10, "fp32_matmul_peak_gflops": round(peak, 1), "rows": rows}
    write_json(out, res, prov)
    lines = [f"# Training throughput on {dev_name}", "",
             f"{torch.get_num_threads()} threads, batch {a.batch_size}, {a.kimg:g} kimg per measurement "
             f"({a.kimg / 10:g} at 64x64)"
             + (f", loop and bare step each measured {a.repeats} times alternating, the best of each shown; " if a.repeats > 1
                else "; ")
             + 
             f"fp32 matmul peak {peak:.0f} GFLOP/s in the same run. Peers: the canonical scripts' timed steps, "
             "reimplemented (see the script's docstring), in fp32 as published.", "",
             "| model | precision | ganworks loop (img/s) | bare PyTorch step (img/s) | loop / bare | "
             "loop, --reuse-fakes (img/s) | reuse / loop | "
             "bare, channels_last (img/s) | peer, fp32 (img/s) | loop / peer | reuse / peer | loop, % of fp32 peak | "
             "loop vs fp32 loop |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        peer_cell = f"{r['peer_fp32']:.0f} ({r['peer']})" if "peer" in r else "—"
        lines.append(f"| {r['model']} | {r['precision']} | {r['loop']:.0f} | {r['bare']:.0f} | {r['loop_over_bare']:.2f} | "
                     f"{r['loop_reuse_fakes']:.0f} | {r['reuse_over_loop']:.2f} | "
                     f"{r.get('bare_channels_last', '—')} | {peer_cell} | {r.get('loop_over_peer', '—')} | "
                     f"{r.get('reuse_over_peer', '—')} | "
                     f"{r['loop_of_fp32_peak']:.0%} | {r.get('loop_over_fp32_loop', '—')} |")
    lines += ["", markdown_footer(prov), ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
