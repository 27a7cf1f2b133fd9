"""Can an intervention bring a starved grid25 mode back? (a research probe, not a unit test)

Continues the final G and D of a finished grid25 run (say, a benchmarks/toy_modes.py run kept with
--runs-root) for KIMG thousand images at constant rates under one intervention, and every 250 kimg
(--every) prints ``mode/poorest/hq``: samples of 20,000 (latent seed 1) on MODE, on the poorest mode,
and the high-quality percentage (within 3 std per axis of the nearest mode). Optimizers start fresh.
The latent (its size, and a categorical cut when the run has one) and the mixture the modes are
counted on (grid25 or ring8) come from the run's own generator.json and config.json.

Usage: python benchmarks/revive_mode.py RUN MODE KIMG NAME [JSON] [--every KIMG] [--out results.json]
JSON keys (all optional): lr_g (2e-4), lr_d (8e-4), batch (512), d_steps (1), objective ("ns"),
replay (buffer size; 0), noise (instance-noise std; 0), noise_kimg (anneal it to 0 by then),
then_at (kimg: switch to then_noise and then_lr, a multiplier of both rates).
--out also writes the counts as JSON with their provenance. See docs/research/grid25.md for the search.
Example: python benchmarks/revive_mode.py runs/grid25-seed4 7 2000 noise025 '{"noise": 0.25}'
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import ganworks
from ganworks.data import load_dataset
from ganworks.data.toy import GRID25, RING8
from ganworks.metrics import mixture_modes
from ganworks.objectives import get_objective
from ganworks.training.loop import DOptions, discriminator_step, generator_step
from ganworks.training.replay import ReplayBuffer
from provenance import RUNS_NOT_KEPT, run_ref, write_json
from ganworks.cli import OneLineParser

SPECS = {"grid25": GRID25, "ring8": RING8}


def run_data(run: str, ap: argparse.ArgumentParser) -> str:
    """The mixture the run was trained on, from its config.json."""
    try:
        data = json.loads((Path(run) / "config.json").read_text())["train"]["data"]
    except (OSError, ValueError, KeyError):
        ap.error(f"RUN {run!r}: not a finished ganworks run (no readable config.json with train.data)")
    if data not in SPECS:
        ap.error(f"RUN {run!r} was trained on {data!r}; this probe counts modes of {' or '.join(SPECS)} only")
    return data


def main() -> int:
    ap = OneLineParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("mode", type=int, help="the mode to watch (an index into the mixture's modes)")
    ap.add_argument("kimg", type=float)
    ap.add_argument("name", help="a label printed before the counts")
    ap.add_argument("options", nargs="?", default="{}", help="the intervention, as a JSON object (see above)")
    ap.add_argument("--every", type=float, default=250.0, help="count every this many kimg")
    ap.add_argument("--out", help="also write the counts as JSON, with their provenance")
    a = ap.parse_args()
    run, mode, kimg, name = a.run, a.mode, a.kimg, a.name
    try:
        o = json.loads(a.options)
    except ValueError:
        o = None
    if not isinstance(o, dict):
        ap.error(f"JSON {a.options!r}: expected a JSON object such as '{{\"noise\": 0.25}}'")
    data_name = run_data(run, ap)
    spec = SPECS[data_name]
    if not 0 <= mode < len(spec.modes()):
        ap.error(f"MODE {mode}: {data_name} has modes 0 to {len(spec.modes()) - 1}")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    G, D = ganworks.load_generator(run).train(), ganworks.load_discriminator(run).train()
    # G's own latent size: with a categorical cut (z_categories) the last coordinate is binned
    # inside G, so G still takes z_dim normal coordinates.
    z_dim = G.cfg.z_dim
    data = load_dataset(data_name, "train").images
    bs, k = o.get("batch", 512), o.get("d_steps", 1)
    lr_g, lr_d = o.get("lr_g", 2e-4), o.get("lr_d", 8e-4)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(0.5, 0.999))
    objective = get_objective(o.get("objective", "ns"))
    d_opt = DOptions(noise_std=o.get("noise", 0.0),
                     replay=ReplayBuffer(o["replay"], 0.5) if o.get("replay") else None)
    z_test = torch.randn(20000, z_dim, generator=torch.Generator().manual_seed(1))
    counts = []

    def count() -> str:  # the benchmark's own scoring (PacGAN protocol), on 20,000 points
        G.eval()
        with torch.no_grad():
            r = mixture_modes(G(z_test), spec.modes(), spec.std)
        G.train()
        c = r["mode_counts"]
        counts.append({"kimg": round(nimg / 1000, 3), "mode": c[mode], "poorest": min(c),
                       "high_quality": round(r["high_quality_fraction"], 4)})
        return f"{c[mode]}/{min(c)}/{r['high_quality_fraction']:.1%}"

    nimg, step, switched = 0, 0, False
    out = [count()]
    while nimg < kimg * 1000:
        if "then_at" in o and not switched and nimg >= o["then_at"] * 1000:
            switched = True
            for opt, lr in ((opt_g, lr_g), (opt_d, lr_d)):
                for group in opt.param_groups:
                    group["lr"] = lr * o.get("then_lr", 1.0)
        if switched:
            d_opt.noise_std = o.get("then_noise", 0.0)
        elif "noise_kimg" in o:
            d_opt.noise_std = o.get("noise", 0.0) * max(0.0, 1 - nimg / (o["noise_kimg"] * 1000))
        for _ in range(k):
            real = data[torch.randint(0, len(data), (bs,))]
            discriminator_step(G, D, objective, real, torch.randn(bs, z_dim), opt_d, opt=d_opt)
        generator_step(G, D, objective, torch.randn(bs, z_dim), opt_g, noise_std=d_opt.noise_std)
        nimg += bs * k
        step += 1
        if step % max(1, int(a.every * 1000) // (bs * k)) == 0:
            out.append(count())
    print(name, " ".join(out), flush=True)
    if a.out:
        write_json(a.out, {"benchmark": "revive_mode", "name": name, "run": run_ref(run) or RUNS_NOT_KEPT,
                           "data": data_name, "mode": mode, "kimg": kimg, "options": o,
                           "latent": {"z_dim": z_dim, "z_categories": getattr(G.cfg, "z_categories", 0)},
                           "n_samples": len(z_test), "counts": counts})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
