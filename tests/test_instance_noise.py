"""--instance-noise: the annealed std, the inputs D really sees in both steps, the logged values,
resume, and the CLI."""

import json

import pytest
import torch

from ganworks import TrainConfig, train
from ganworks.objectives import get_objective
from ganworks.training.loop import DOptions, discriminator_step, generator_step

from gwtest import RING, assert_bitwise, cli, pair, rewind_copy, stats

RING_KW = dict(data="ring8", model="mlp", batch_size=64, tick_kimg=0.256, snapshot_kimg=0, progress=False,
               model_options={"z_dim": 4, "g_hidden": [32], "d_hidden": [32], "d_dropout": 0.0, "output": "linear"})


def test_std_anneals_linearly_to_zero():
    cfg = TrainConfig(data="ring8", kimg=10, instance_noise=0.8)
    assert [cfg.instance_noise_at(n) for n in (0, 2500, 5000, 10_000, 20_000)] == \
        pytest.approx([0.8, 0.6, 0.4, 0.0, 0.0], abs=1e-15)
    early = TrainConfig(data="ring8", kimg=10, instance_noise=0.8, instance_noise_kimg=4)
    assert [early.instance_noise_at(n) for n in (0, 1000, 4000, 9000)] == pytest.approx([0.8, 0.6, 0.0, 0.0])
    assert TrainConfig(data="ring8").instance_noise_at(0) == 0.0  # off by default


def _pair():  # 2-D points
    return pair(image_shape=(2, 1, 1), z_dim=2, g_hidden=(16,), d_hidden=(16,), output="linear")[1:]


def _recording(D):
    """The inputs of every forward call of D (a hook on the real module)."""
    seen = []
    D.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    return seen


@pytest.mark.parametrize("std", [0.0, 0.5])
def test_both_steps_show_d_noisy_inputs(std):
    G, D = _pair()
    seen = _recording(D)
    real, z = torch.randn(4096, 2, 1, 1), torch.randn(4096, 2)
    opt_d, opt_g = torch.optim.SGD(D.parameters(), lr=0.0), torch.optim.SGD(G.parameters(), lr=0.0)
    discriminator_step(G, D, get_objective("ns"), real, z, opt_d, opt=DOptions(noise_std=std))
    with torch.no_grad():
        fake = G(z)
    assert len(seen) == 2  # real, then fake
    for got, clean in zip(seen, (real, fake)):
        diff = got - clean
        assert diff.std().item() == pytest.approx(std, abs=0.02)
        assert diff.mean().abs().item() < 0.03
    seen.clear()
    generator_step(G, D, get_objective("ns"), z, opt_g, noise_std=std)
    assert len(seen) == 1
    assert (seen[0] - fake).std().item() == pytest.approx(std, abs=0.02)


def test_run_logs_the_std_and_noise_changes_training(tmp_path):
    run = train(run_dir=str(tmp_path / "noisy"), kimg=1.024, instance_noise=0.3, instance_noise_kimg=0.768,
                **RING_KW)
    cfg = TrainConfig.from_dict(json.loads((run / "config.json").read_text())["train"])
    recs = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert len(recs) == 4
    for r in recs:  # the std of each tick's last step, set before its batch
        assert r["instance_noise"] == pytest.approx(cfg.instance_noise_at(r["kimg"] * 1000 - 64), abs=1e-6)
    assert recs[0]["instance_noise"] > 0.2 and recs[-1]["instance_noise"] == 0.0
    plain = train(run_dir=str(tmp_path / "plain"), kimg=1.024, **RING_KW)
    assert "instance_noise" not in json.loads((plain / "stats.jsonl").read_text().splitlines()[0])
    with pytest.raises(AssertionError):
        assert_bitwise(plain, run)


def test_resume_with_noise_is_bitwise_exact(tmp_path):
    kw = dict(kimg=1.024, instance_noise=0.5, checkpoint_kimg=0.256, keep_checkpoints=10, **RING_KW)
    ref = train(run_dir=str(tmp_path / "ref"), **kw)
    run = rewind_copy(ref, tmp_path / "resumed", 512)
    train(resume=str(run))
    assert_bitwise(ref, run)
    assert stats(run) == stats(ref)


def test_cli_flags(capsys, tmp_path):
    r = cli(capsys, "train", *RING, "--kimg", "0.256", "--instance-noise", "0.2", "--instance-noise-kimg", "0.128",
            "--run-dir", str(tmp_path / "y"))
    assert r.returncode == 0, r.stderr
    train_cfg = json.loads((tmp_path / "y" / "config.json").read_text())["train"]
    assert train_cfg["instance_noise"] == 0.2 and train_cfg["instance_noise_kimg"] == 0.128
