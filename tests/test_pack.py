"""PacGAN packing (--pack M): D judges M samples at once, in every architecture and the training loop."""

import json

import pytest
import torch

import ganworks
from ganworks import GanworksError, train
from ganworks.models import build_discriminator, make_model_config
from ganworks.models.common import pack_samples

from gwtest import RING, cli, one_line_error


def test_pack_groups_consecutive_samples_along_channels():
    x = torch.arange(4 * 3 * 2 * 2, dtype=torch.float32).view(4, 3, 2, 2)
    p = pack_samples(x, 2)
    assert p.shape == (2, 6, 2, 2)
    assert torch.equal(p[1, :3], x[2]) and torch.equal(p[1, 3:], x[3]) and torch.equal(p[0, 3:], x[1])
    assert pack_samples(x, 1) is x
    with pytest.raises(ValueError, match="packs of 3 samples .* batch of 4, which is not a multiple of 3"):
        pack_samples(x, 3)


def test_packed_mlp_d_is_an_ordinary_d_on_concatenated_samples():
    """A pack-2 D on 2-D points has exactly the weights of an unpacked D on 4-D points, and gives
    the same logits when that D is fed each pair of points concatenated."""
    torch.manual_seed(0)
    packed = build_discriminator("mlp", make_model_config("mlp", image_shape=(2, 1, 1), pack=2, d_hidden=(16,),
                                                          d_dropout=0.0)).eval()
    plain = build_discriminator("mlp", make_model_config("mlp", image_shape=(4, 1, 1), d_hidden=(16,),
                                                         d_dropout=0.0)).eval()
    plain.load_state_dict(packed.state_dict())
    x = torch.randn(10, 2, 1, 1)
    out = packed(x)
    assert out.shape == (5,)
    pairs = torch.cat([x[0::2], x[1::2]], dim=1)  # (5, 4, 1, 1): sample 2i, then 2i + 1
    assert torch.equal(out, plain(pairs))


@pytest.mark.parametrize("arch", ["dcgan", "resnet"])
def test_packed_conv_discriminators(arch):
    cfg = make_model_config(arch, image_shape=(1, 28, 28), pack=4, d_channels=8)
    D = build_discriminator(arch, cfg)
    first = next(m for m in D.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 4
    assert D(torch.randn(8, 1, 28, 28)).shape == (2,)
    with pytest.raises(ValueError, match="not a multiple of 4"):
        D(torch.randn(6, 1, 28, 28))


def test_training_with_pack_saves_a_packed_discriminator(tmp_path, capsys):
    """Every D input in the loop (real, fake, replayed fakes, gradient-penalty interpolates, R1 on
    real data) goes through the pack; the saved D knows it judges packs."""
    run = tmp_path / "r"
    r = cli(capsys, "train", *RING, "--kimg", "2", "--pack", "4", "--gp-weight", "1", "--r1-gamma", "0.1",
            "--r1-interval", "2", "--replay-size", "128", "--run-dir", str(run))
    assert r.returncode == 0, r.stderr
    recs = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert all(all(v == v for v in rec.values() if isinstance(v, float)) for rec in recs)  # no NaN
    assert {"GP", "R1", "D(x)"} <= set(recs[-1])
    assert json.loads((run / "discriminator.json").read_text())["model"]["pack"] == 4
    D = ganworks.load_discriminator(run)
    assert D.cfg.pack == 4 and D(torch.randn(12, 2, 1, 1)).shape == (3,)
    assert ganworks.load_generator(run)(torch.randn(5, 4)).shape == (5, 2, 1, 1)  # G is unchanged


def test_pack_changes_what_d_learns(tmp_path):
    """Same seed, same data: the packed run's weights differ from the plain one's (the flag is used)."""
    kw = dict(data="ring8", model="mlp", kimg=0.5, batch_size=64, progress=False, snapshot_kimg=0,
              model_options={"z_dim": 4, "g_hidden": [32], "d_hidden": [32]})
    a = train(run_dir=str(tmp_path / "a"), **kw)
    b = train(run_dir=str(tmp_path / "b"), **{**kw, "model_options": {**kw["model_options"], "pack": 2}})
    ga, gb = ganworks.load_generator(a), ganworks.load_generator(b)
    z = torch.randn(16, 4)
    assert not torch.equal(ga(z), gb(z))


def test_pack_errors_are_one_line_and_create_nothing(tmp_path, capsys):
    for args, fragments in (
        (["--batch-size", "64", "--pack", "3"], ["--batch-size 64 must be a multiple of --pack 3"]),
        (["--pack", "0"], ["--pack", "positive integer", "got 0"]),
    ):
        run = tmp_path / "never"
        r = cli(capsys, "train", *[a for a in RING if a != "64" and a != "--batch-size"], *args,
                    "--kimg", "1", "--run-dir", str(run))
        one_line_error(r, *fragments)
        assert not run.exists()
    with pytest.raises(GanworksError, match="--pack 2 does not combine with --conditional"):
        make_model_config("mlp", pack=2, num_classes=10)
