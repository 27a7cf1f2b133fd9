"""Behaviour, not shapes: a short real training run on ring8 covers all eight modes.

The configuration was chosen by running it on seeds 0-9: every seed covered 8/8 modes with
33-53% of the samples high quality (seeds 0-5: at least 11 samples on the emptiest mode), in
about 10 CPU-seconds each; the same model at 200 kimg had as few as 11% high quality, and a
2x64 MLP at lr 1e-3 missed modes. Seed 0 is fixed so the test is deterministic; the other seeds
say it is not a lucky draw.
"""

import pytest

from ganworks import load_generator, sample, train
from ganworks.data.toy import RING8
from ganworks.metrics.mixtures import mixture_modes

# The PacGAN protocol as the product applies it (ganworks lab mode-collapse, the `modes` metric):
# 2,500 samples, a sample counts for the nearest mode when within 3 std of it on each axis.
N_SAMPLES = 2500


@pytest.mark.slow
def test_ring8_run_covers_all_eight_modes(tmp_path):
    run = train(data="ring8", model="mlp", objective="ns", kimg=300, batch_size=256, lr_g=5e-4, lr_d=5e-4,
                lr_schedule="linear", ema_kimg=5, seed=0, progress=False, tick_kimg=100, snapshot_kimg=0,
                model_options={"z_dim": 2, "g_hidden": [128] * 3, "d_hidden": [128] * 3, "d_dropout": 0.0},
                run_dir=str(tmp_path / "ring8"))
    points = sample(load_generator(run), N_SAMPLES, seed=123_456).reshape(N_SAMPLES, -1).numpy()
    res = mixture_modes(points, RING8.modes(), RING8.std)
    assert res["modes_captured"] == 8, res
    assert min(res["mode_counts"]) >= 10, res  # each mode held by samples, not by one stray point
    assert res["high_quality_fraction"] >= 0.2, res
