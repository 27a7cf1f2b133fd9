"""Can an intervention bring a starved grid25 mode back? (issue 5's search; not a unit test.)

Continues the final G and D of a finished grid25 run (say, a benchmarks/toy_modes.py run kept with
--runs-root) for KIMG thousand images at constant rates under one intervention, and every 250 kimg
prints ``mode/poorest/hq``: samples of 20,000 (latent seed 1) on MODE, on the poorest mode, and the
high-quality percentage (within 3 std per axis of the nearest mode). Optimizers start fresh.

Usage: python benchmarks/revive_mode.py RUN MODE KIMG NAME [JSON]
JSON keys (all optional): lr_g (2e-4), lr_d (8e-4), batch (512), d_steps (1), objective ("ns"),
replay (buffer size; 0), noise (instance-noise std; 0), noise_kimg (anneal it to 0 by then),
then_at (kimg: switch to then_noise and then_lr, a multiplier of both rates).
Example: python benchmarks/revive_mode.py runs/grid25-seed4 7 2000 noise025 '{"noise": 0.25}'
"""

from __future__ import annotations

import json
import sys

import torch

import ganworks
from ganworks.data import load_dataset
from ganworks.data.toy import GRID25
from ganworks.metrics import mixture_modes
from ganworks.objectives import get_objective
from ganworks.training.loop import DOptions, discriminator_step, generator_step
from ganworks.training.replay import ReplayBuffer


def main() -> int:
    if len(sys.argv) not in (5, 6):
        print(__doc__.split("\n\n")[2], file=sys.stderr)
        return 2
    run, mode, kimg, name = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    o = json.loads(sys.argv[5]) if len(sys.argv) == 6 else {}
    torch.set_num_threads(1)
    torch.manual_seed(0)
    G, D = ganworks.load_generator(run).train(), ganworks.load_discriminator(run).train()
    data = load_dataset("grid25", "train").images
    bs, k = o.get("batch", 512), o.get("d_steps", 1)
    lr_g, lr_d = o.get("lr_g", 2e-4), o.get("lr_d", 8e-4)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(0.5, 0.999))
    objective = get_objective(o.get("objective", "ns"))
    d_opt = DOptions(noise_std=o.get("noise", 0.0),
                     replay=ReplayBuffer(o["replay"], 0.5) if o.get("replay") else None)
    z_test = torch.randn(20000, 2, generator=torch.Generator().manual_seed(1))

    def count() -> str:  # the benchmark's own scoring (PacGAN protocol), on 20,000 points
        G.eval()
        with torch.no_grad():
            r = mixture_modes(G(z_test), GRID25.modes(), GRID25.std)
        G.train()
        c = r["mode_counts"]
        return f"{c[mode]}/{min(c)}/{r['high_quality_fraction']:.1%}"

    out, nimg, step, switched = [count()], 0, 0, False
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
            discriminator_step(G, D, objective, real, torch.randn(bs, 2), opt_d, opt=d_opt)
        generator_step(G, D, objective, torch.randn(bs, 2), opt_g, noise_std=d_opt.noise_std)
        nimg += bs * k
        step += 1
        if step % max(1, 250_000 // (bs * k)) == 0:
            out.append(count())
    print(name, " ".join(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
