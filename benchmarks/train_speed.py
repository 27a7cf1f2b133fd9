"""Training throughput of the MLP GAN (images/s), by device, precision and batch size.

Runs ganworks' own training loop (``ganworks.train``) on mnist-5k for a short budget per setting
and reports the median img/s over the ticks after the first (the first includes warm-up).
Usage: python benchmarks/train_speed.py [--device cpu|cuda] [--kimg 60] [--batch-sizes 64,128,512]
                                       [--precisions fp32,bf16] [--json PATH]
Writes benchmarks/results/train_speed-DEVICE.json (or --json) with its provenance.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch

import ganworks
from provenance import cpu_name, write_json


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--kimg", type=float, default=60.0)
    ap.add_argument("--batch-sizes", default="64,128")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--json")
    a = ap.parse_args()
    dev_name = torch.cuda.get_device_name() if a.device == "cuda" else cpu_name()
    rows = []
    for bs in (int(b) for b in a.batch_sizes.split(",")):
        for prec in a.precisions.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                run = ganworks.train(data="mnist-5k", kimg=a.kimg, batch_size=bs, device=a.device, precision=prec,
                                     tick_kimg=a.kimg / 6, snapshot_kimg=0, progress=False, run_dir=f"{tmp}/r",
                                     model_options={"g_batchnorm": True})
                ticks = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
            ips = statistics.median(t["img_per_s"] for t in ticks[1:]) if len(ticks) > 1 else ticks[0]["img_per_s"]
            rows.append({"batch_size": bs, "precision": prec, "img_per_s": round(ips, 1)})
            print(f"{a.device:5s} {dev_name[:40]:40s} batch {bs:5d} {prec:5s} {ips:10.0f} img/s", flush=True)
    write_json(a.json or Path(__file__).parent / "results" / f"train_speed-{a.device}.json",
               {"device": a.device, "device_name": dev_name, "torch": torch.__version__,
                "threads": torch.get_num_threads(), "kimg_per_setting": a.kimg, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
