"""--z-categories K: the generator's last latent coordinate cut into K equally likely bins (mlp, dcgan)."""

import json

import pytest
import torch

import ganworks
from ganworks import GanworksError
from ganworks.models import build_generator, make_model_config

from gwtest import RING, cli, one_line_error


def _g(k: int, z_dim: int = 3):
    cfg = make_model_config("mlp", image_shape=(2, 1, 1), z_dim=z_dim, g_hidden=(16,), z_categories=k,
                            output="linear")
    return build_generator("mlp", cfg).eval()


def test_bins_are_equally_likely_and_one_hot():
    G = _g(10)
    z = torch.randn(200_000, 3, generator=torch.Generator().manual_seed(0))
    h = G.cut_latent(z)
    assert h.shape == (200_000, 2 + 10)
    assert torch.equal(h[:, :2], z[:, :2])  # the other coordinates pass through
    onehot = h[:, 2:]
    assert torch.equal(onehot.sum(1), torch.ones(200_000))
    share = onehot.mean(0)
    # each bin holds 1/10 of the mass: binomial std sqrt(0.1 * 0.9 / 2e5) = 0.00067; allow 5 std
    assert (share - 0.1).abs().max() < 0.0034, share
    # the bin is the decile of the coordinate: the normal CDF's 10% points split it
    edges = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor([0.1, 0.9]))
    assert torch.equal(h[z[:, 2] < edges[0] - 1e-4, 2], torch.ones(int((z[:, 2] < edges[0] - 1e-4).sum())))
    assert (h[z[:, 2] > edges[1] + 1e-4, -1] == 1).all()


def test_g_jumps_at_a_bin_edge_and_is_smooth_inside_a_bin():
    """A connected latent space can only give a connected image; the cut makes G discontinuous."""
    torch.manual_seed(0)
    G = _g(2)  # one edge, at z_last = 0
    eps = 1e-6
    base = torch.tensor([[0.3, -0.2, 0.0]])
    lo, hi = base.clone(), base.clone()
    lo[0, 2], hi[0, 2] = -eps, eps
    jump = (G(hi) - G(lo)).norm()
    inside = (G(hi + torch.tensor([[0.0, 0.0, 0.5]])) - G(hi)).norm()
    assert jump > 1e-3  # a different one-hot, a different first-layer input
    assert inside == 0  # within a bin the cut coordinate is not seen at all


def test_off_by_default_and_bad_values():
    assert make_model_config("mlp").z_categories == 0
    G = build_generator("mlp", make_model_config("mlp", image_shape=(2, 1, 1), z_dim=3, g_hidden=(16,)))
    z = torch.randn(4, 3)
    assert torch.equal(G.cut_latent(z), z)
    for k, msg in ((1, "integer >= 2, got 1"), (-3, "integer >= 2, got -3"), (2.5, "got 2.5")):
        with pytest.raises(GanworksError, match=msg):
            make_model_config("mlp", z_categories=k)
    with pytest.raises(GanworksError, match="needs --z-dim >= 2, got 1"):
        make_model_config("mlp", z_dim=1, z_categories=4)


def test_cli_trains_saves_and_samples_with_categories(tmp_path, capsys):
    """A real run: the saved generator rebuilds from its JSON with the cut, and sampling uses it."""
    run = tmp_path / "r"
    r = cli(capsys, "train", *RING, "--kimg", "2", "--z-categories", "8", "--run-dir", str(run))
    assert r.returncode == 0, r.stderr
    assert json.loads((run / "generator.json").read_text())["model"]["z_categories"] == 8
    G = ganworks.load_generator(run)
    assert G.cfg.z_categories == 8 and G.net[0].in_features == 4 - 1 + 8
    a = ganworks.sample(G, 64, seed=3)
    assert a.shape == (64, 2, 1, 1) and torch.equal(a, ganworks.sample(G, 64, seed=3))


def test_cli_errors_are_one_line_and_create_nothing(tmp_path, capsys):
    for args, fragments in (
        ([*RING, "--z-categories", "1"], ["--z-categories", "integer >= 2", "got 1"]),
        (["--data", "ring8", "--model", "resnet", "--z-categories", "4"], ["'resnet'", "'z_categories'"]),
    ):
        run = tmp_path / "never"
        r = cli(capsys, "train", *args, "--kimg", "1", "--run-dir", str(run))
        one_line_error(r, *fragments)
        assert not run.exists()


@pytest.mark.parametrize("code,width", [("onehot", 3), ("embedding", 4)])
def test_cut_combines_with_a_class_code(code, width):
    """Conditional G: [cut z, code of y] -> z_dim - 1 + K inputs, then the class one-hot (3 classes) or its
    learned embedding (z_dim wide); each class changes the output."""
    torch.manual_seed(0)
    cfg = make_model_config("mlp", image_shape=(2, 1, 1), z_dim=4, g_hidden=(16,), z_categories=5, num_classes=3,
                            output="linear", class_code=code)
    G = build_generator("mlp", cfg).eval()
    assert G.net[0].in_features == 4 - 1 + 5 + width
    z = torch.randn(1, 4).expand(3, 4)
    out = G(z, torch.arange(3)).flatten(1)
    assert not torch.equal(out[0], out[1]) and not torch.equal(out[1], out[2])


def test_dcgan_cuts_the_same_way():
    """The DCGAN generator sees the same cut as the MLP: z_dim - 1 + K inputs, smooth inside a bin, a jump at
    its edge; with K = 0 it is the plain DCGAN (same layers, same output for the same weights)."""
    torch.manual_seed(0)
    cfg = make_model_config("dcgan", z_dim=8, g_channels=4, d_channels=4, z_categories=2)
    G = build_generator("dcgan", cfg).eval()
    assert G.net[0].in_channels == 8 - 1 + 2
    z = torch.randn(1, 8)
    lo, hi = z.clone(), z.clone()
    lo[0, -1], hi[0, -1] = -1e-6, 1e-6
    assert (G(hi) - G(lo)).abs().max() > 1e-4
    far = hi.clone()
    far[0, -1] = 2.0
    assert torch.equal(G(far), G(hi))  # the bin, not the coordinate, reaches G
    plain = build_generator("dcgan", make_model_config("dcgan", z_dim=8, g_channels=4, d_channels=4)).eval()
    assert plain.net[0].in_channels == 8
    assert [k for k in plain.state_dict()] == [k for k in G.state_dict()]


def test_dcgan_cli_trains_and_samples_with_categories(tmp_path, capsys):
    run = tmp_path / "r"
    r = cli(capsys, "train", "--data", "mnist-5k", "--model", "dcgan", "--g-channels", "8", "--d-channels", "8",
            "--kimg", "0.5", "--z-categories", "10", "--run-dir", str(run))
    assert r.returncode == 0, r.stderr
    G = ganworks.load_generator(run)
    assert G.cfg.z_categories == 10 and G.net[0].in_channels == 100 - 1 + 10
    a = ganworks.sample(G, 16, seed=3)
    assert a.shape == (16, 1, 28, 28) and torch.equal(a, ganworks.sample(G, 16, seed=3))
