"""``--model r3``, R3GAN's modern ResNet: it builds for every supported image size, has no
normalization, its blocks are grouped inverted bottlenecks that start as the identity, its options
are checked, and a tiny mnist-5k run with the R3GAN objective trains."""

import json
import math

import pytest
import torch
from torch import nn

from ganworks import GanworksError, load_discriminator, load_generator, sample, train
from ganworks.models import (build_discriminator, build_generator, config_from_dict, config_to_dict,
                             make_model_config)
from ganworks.models.r3 import Block

from gwtest import needs_mnist5k

TINY = dict(z_dim=8, g_channels=8, d_channels=8, group_size=8)
REAL_MEAN = -0.737  # mnist-5k's mean pixel in [-1, 1] (33.49 of 255)


@pytest.mark.parametrize("side", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_builds_for_every_size(side, channels):
    torch.manual_seed(0)
    cfg = make_model_config("r3", image_shape=(channels, side, side), **TINY)
    G, D = build_generator("r3", cfg), build_discriminator("r3", cfg)
    x = G(torch.randn(5, 8))
    assert x.shape == (5, channels, side, side) and x.abs().max() <= 1 and x.std() > 0
    logits = D(x)
    assert logits.shape == (5,) and torch.isfinite(logits).all()
    # Each sample is judged on its own (no normalization mixes the batch): D of one = D of it in a batch.
    torch.testing.assert_close(D(x[2:3]), logits[2:3])
    # The saved config rebuilds the same networks.
    assert config_from_dict(json.loads(json.dumps(config_to_dict("r3", cfg)))) == ("r3", cfg)


def test_conditional_sn_and_pack():
    torch.manual_seed(0)
    cfg = make_model_config("r3", image_shape=(1, 28, 28), num_classes=3, sn=True, **TINY)
    G, D = build_generator("r3", cfg), build_discriminator("r3", cfg)
    y = torch.tensor([0, 1, 2, 0])
    z = torch.randn(1, 8).expand(4, 8)
    x = G(z, y)
    assert not torch.allclose(x[0], x[1]) and torch.allclose(x[0], x[3], atol=1e-6)  # same z: the class decides
    assert D(x, y).shape == (4,)
    with pytest.raises(ValueError, match="class-conditional"):
        G(z)
    packed = build_discriminator("r3", make_model_config("r3", image_shape=(1, 32, 32), pack=2, **TINY))
    assert packed(torch.randn(6, 1, 32, 32)).shape == (3,)


def test_blocks_are_grouped_inverted_bottlenecks_that_start_as_the_identity():
    torch.manual_seed(0)
    cfg = make_model_config("r3", image_shape=(1, 32, 32), g_channels=16, d_channels=16, expansion=3,
                            group_size=12, blocks=2)
    G, D = build_generator("r3", cfg), build_discriminator("r3", cfg)
    for net in (G, D):
        norms = [m for m in net.modules() if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm,
                                                           nn.InstanceNorm2d))]
        assert not norms
        blocks = [m for m in net.modules() if isinstance(m, Block)]
        assert len(blocks) == 2 * 4  # 2 per resolution: 4, 8, 16, 32
        for b in blocks:
            assert b.expand.out_channels == 48 and b.conv.groups == 4 and b.project.out_channels == 16
    b = blocks[0]
    x = torch.randn(2, 16, 4, 4)
    assert torch.equal(b(x), x)  # Fixup: the branch's last convolution starts at zero
    with torch.no_grad():
        b.project.weight.normal_()
    assert not torch.allclose(b(x), x)


def test_bad_options_are_one_line_errors():
    with pytest.raises(GanworksError, match=r"^--group-size 16 must divide the widened channels: --g-channels 12 "
                                            r"x --expansion 2 = 24$"):
        make_model_config("r3", g_channels=12)
    with pytest.raises(GanworksError, match="--d-channels 4 x --expansion 3 = 12"):
        make_model_config("r3", g_channels=16, d_channels=4, expansion=3, group_size=8)
    with pytest.raises(GanworksError, match="model 'r3' supports 28, 32 or 64 px square images, got 1x48x48"):
        make_model_config("r3", image_shape=(1, 48, 48))
    with pytest.raises(GanworksError, match="--blocks"):
        make_model_config("r3", blocks=0)


@needs_mnist5k
@pytest.mark.slow
def test_tiny_r3gan_run_on_mnist5k_trains(tmp_path):
    run = train(run_dir=str(tmp_path / "run"), data="mnist-5k", model="r3", objective="rpgan", r1_gamma=1.0,
                r2_gamma=1.0, r1_interval=4, kimg=1.0, batch_size=32, tick_kimg=0.5, snapshot_kimg=0,
                progress=False, seed=1, lr_g=1e-3, lr_d=1e-3, model_options=TINY)
    ticks = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert len(ticks) == 2
    for t in ticks:
        assert "nonfinite" not in t and all(math.isfinite(v) for v in t.values() if isinstance(v, float)), t
        assert t["R1"] > 0 and t["R2"] > 0
    # D tells the real digits from the fakes by the end (the critic ranks real above fake on average) ...
    assert ticks[-1]["D_real"] > ticks[-1]["D_fake"], ticks[-1]
    # ... and G learned the first thing about digits: mostly dark background. Mean pixel in [-1, 1]: real
    # mnist-5k -0.74; an untrained G about 0 (-0.24 to 0.26 over seeds 1-3); after this run about -0.96.
    G = load_generator(run)
    torch.manual_seed(0)
    untrained = build_generator("r3", G.cfg)

    def gap(net):  # |mean pixel - the data's|
        return abs(sample(net, 256, seed=0).float().mean().item() / 127.5 - 1 - REAL_MEAN)

    assert gap(G) < 0.5 * gap(untrained), (gap(G), gap(untrained))
    imgs = sample(G, 4, seed=0)
    assert imgs.dtype == torch.uint8 and imgs.shape == (4, 1, 28, 28)
    assert load_discriminator(run)(torch.zeros(3, 1, 28, 28)).shape == (3,)
