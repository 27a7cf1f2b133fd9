"""Architectures: the common G(z, y) / D(x, y) interface, conditioning, spectral norm, configs, saving."""

import json

import pytest
import torch
from torch import nn

from ganworks import GanworksError, load_discriminator, load_generator
from ganworks.checkpoint import save_network
from ganworks.models import (build_discriminator, build_generator, config_from_dict, config_to_dict, list_models,
                             make_model_config)

from gwtest import pair

SHAPES = [(1, 28, 28), (1, 32, 32), (3, 64, 64)]
TINY = {  # widths small enough that all tests together take a few seconds on CPU
    # The MLP's D keeps the dropout users get (the unit-test pair of gwtest turns it off).
    "mlp": dict(z_dim=8, g_hidden=(16,), d_hidden=(16,), d_dropout=make_model_config("mlp").d_dropout),
    "dcgan": dict(z_dim=8, g_channels=4, d_channels=4),
    "resnet": dict(z_dim=8, g_channels=4, d_channels=4),
}
K = 3  # classes of the conditional variants


def _pair(arch, shape=(1, 28, 28), **kw):
    return pair(arch, **{"image_shape": shape, **TINY[arch], **kw})


def _labels(n=4):
    return torch.arange(n) % K


def test_registry_lists_every_arch():
    assert list_models() == ["dcgan", "mlp", "r3", "resnet", "seq"]


@pytest.mark.parametrize("sn", [False, True], ids=["plain", "sn"])
@pytest.mark.parametrize("cond", [False, True], ids=["uncond", "cond"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("arch", ["mlp", "dcgan", "resnet"])
def test_interface_shapes_range_and_gradients(arch, shape, cond, sn):
    cfg, G, D = _pair(arch, shape, num_classes=K if cond else 0, sn=sn)
    assert G.cfg.z_dim == 8 and G.cfg.image_shape == shape
    y = _labels() if cond else None
    x = G(torch.randn(4, 8), y)
    assert x.shape == (4, *shape) and x.min() >= -1 and x.max() <= 1
    logits = D(x, y)
    assert logits.shape == (4,)
    logits.sum().backward()
    for name, p in [*G.named_parameters(), *D.named_parameters()]:
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {name}"


@pytest.mark.parametrize("arch", ["mlp", "dcgan", "resnet"])
def test_conditional_models_need_labels_and_unconditional_ignore_them(arch):
    _, G, D = _pair(arch, num_classes=K)
    with pytest.raises(ValueError, match="class-conditional"):
        G(torch.randn(2, 8))
    with pytest.raises(ValueError, match="class-conditional"):
        D(torch.zeros(2, 1, 28, 28))
    _, G, D = _pair(arch)
    G.eval(), D.eval()
    z, x = torch.randn(2, 8), torch.rand(2, 1, 28, 28)
    assert torch.equal(G(z), G(z, torch.tensor([0, 1]))) and torch.equal(D(x), D(x, torch.tensor([5, 6])))


@pytest.mark.parametrize("arch", ["mlp", "dcgan", "resnet"])
def test_projection_discriminator_and_conditional_generator_use_y(arch):
    _, G, D = _pair(arch, num_classes=K)
    G.eval(), D.eval()
    x, z = torch.rand(4, 1, 28, 28) * 2 - 1, torch.randn(4, 8)
    y0, y1 = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    assert not torch.allclose(D(x, y0), D(x, y1))
    if arch == "resnet":  # conditional BatchNorm starts as scale 1, shift 0 for every class: move it
        with torch.no_grad():
            for m in G.modules():
                if isinstance(m, nn.Embedding):
                    m.weight.normal_()
    assert not torch.allclose(G(z, y0), G(z, y1))


# The first layer of each G that concatenates its class to z (resnet conditions its BatchNorm instead).
_FIRST = {"mlp": lambda G: G.net[0], "dcgan": lambda G: G.net[0], "r3": lambda G: G.fc}
_SMALL_R3 = dict(z_dim=8, g_channels=16, d_channels=16)


def _first_input(arch, G, z, y) -> tuple[int, torch.Tensor]:
    """The width of G's first layer and what it sees for (z, y), as (B, width)."""
    first, seen = _FIRST[arch](G), []
    handle = first.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    G(z, y)
    handle.remove()
    return (first.in_features if isinstance(first, nn.Linear) else first.in_channels), seen[0].reshape(len(z), -1)


@pytest.mark.parametrize("arch", ["mlp", "dcgan", "r3"])
def test_a_conditional_generator_sees_its_class_one_hot_by_default(arch):
    cfg = make_model_config(arch, num_classes=K, **(_SMALL_R3 if arch == "r3" else TINY[arch]))
    assert cfg.class_code == "onehot"
    G = build_generator(arch, cfg).eval()
    assert not any(isinstance(m, nn.Embedding) for m in G.modules())
    # What the first layer sees: z, then the class one-hot of magnitude 1.
    z, y = torch.randn(4, 8), torch.tensor([2, 0, 1, 2])
    width, seen = _first_input(arch, G, z, y)
    assert width == 8 + K and torch.equal(seen, torch.cat([z, torch.eye(K)[y]], dim=1))


@pytest.mark.parametrize("arch", ["mlp", "dcgan", "r3"])
def test_class_code_embedding_learns_a_z_wide_code(arch):
    cfg = make_model_config(arch, num_classes=K, class_code="embedding", **(_SMALL_R3 if arch == "r3" else TINY[arch]))
    G = build_generator(arch, cfg).eval()
    assert G.embed.weight.shape == (K, 8)
    z, y = torch.randn(3, 8), torch.tensor([1, 1, 0])
    width, seen = _first_input(arch, G, z, y)
    assert width == 8 + 8 and torch.equal(seen, torch.cat([z, G.embed.weight[y]], dim=1))
    with pytest.raises(GanworksError, match="unknown --class-code 'learned'; valid: onehot, embedding"):
        make_model_config(arch, num_classes=K, class_code="learned")


def test_a_generator_saved_before_class_code_existed_loads_with_its_embedding(tmp_path):
    # Such a run's generator.json has no class_code: its conditional G learned an embedding.
    cfg, G, _ = _pair("dcgan", num_classes=K, class_code="embedding")
    save_network(tmp_path, "generator", G, "dcgan", cfg)
    meta_path = tmp_path / "generator.json"
    meta = json.loads(meta_path.read_text())
    assert meta["model"].pop("class_code") == "embedding"
    meta_path.write_text(json.dumps(meta))
    G2 = load_generator(tmp_path)
    assert G2.cfg.class_code == "embedding"
    z, y = torch.randn(3, 8), torch.tensor([2, 0, 1])
    G.eval()
    assert torch.equal(G2(z, y), G(z, y))


@pytest.mark.parametrize("arch", ["mlp", "dcgan", "resnet"])
def test_spectral_norm_bounds_the_largest_singular_value(arch):
    _, _, D = _pair(arch, sn=True)
    layer = next(m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    with torch.no_grad():
        layer.parametrizations.weight.original.mul_(50.0)  # far from 1-Lipschitz before normalization
    assert torch.linalg.matrix_norm(layer.parametrizations.weight.original.flatten(1), ord=2) > 5
    D.train()
    for _ in range(5):  # one power iteration per forward pass
        D(torch.rand(2, 1, 28, 28))
    sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
    assert sigma == pytest.approx(1.0, abs=0.02)
    _, _, D_plain = _pair(arch)
    assert not any(hasattr(m, "parametrizations") for m in D_plain.modules())


def test_batchnorm_placement():
    _, G, D = _pair("dcgan", (3, 64, 64))
    assert any(isinstance(m, nn.BatchNorm2d) for m in G.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())  # off by default
    ups = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d) and m.stride == (2, 2)]
    assert len(ups) == 4 and all(m.kernel_size == (4, 4) and m.padding == (1, 1) for m in ups)
    _, _, D = _pair("dcgan", (3, 64, 64), d_batchnorm=True)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.modules()) == 3  # not after the first conv
    _, G, D = _pair("resnet", (1, 32, 32))
    assert len(G.blocks) == 3 and len(D.blocks) == 3 and not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 64, 64)])
def test_g_extra_adds_shape_preserving_convolutions_at_each_inner_resolution(shape):
    """--g-extra N: N 3x3 convolutions (+ BatchNorm) at each resolution G passes through before the output,
    none at the output; the plain layers keep their order, so N = 0 is the plain DCGAN."""
    _, G0, _ = _pair("dcgan", shape)
    _, G2, _ = _pair("dcgan", shape, g_extra=2)
    inner = len([m for m in G0.modules() if isinstance(m, nn.ConvTranspose2d)]) - 1  # resolutions before the output
    extra = [m for m in G2.modules() if isinstance(m, nn.Conv2d) and not isinstance(m, nn.ConvTranspose2d)]
    assert len(extra) == 2 * inner
    assert all(m.kernel_size == (3, 3) and m.stride == (1, 1) and m.in_channels == m.out_channels for m in extra)
    assert not any(isinstance(m, nn.Conv2d) and not isinstance(m, nn.ConvTranspose2d) for m in G0.modules())
    sizes = [m.in_channels for m in G2.net if type(m) is nn.Conv2d]
    widths = [m.out_channels for m in G0.net if isinstance(m, nn.ConvTranspose2d)][:-1]
    assert sizes == [w for w in widths for _ in range(2)]  # the width of the resolution they sit at
    z = torch.randn(3, G2.cfg.z_dim)
    assert G2.eval()(z).shape == (3, *shape)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 64, 64)])
def test_d_extra_adds_shape_preserving_convolutions_after_each_downsampling(shape):
    """--d-extra N: N 3x3 convolutions (+ LeakyReLU) after each of D's stride-2 convolutions, at that
    width; spectral normalization covers them too; N = 0 is the plain DCGAN's D."""
    _, _, D0 = _pair("dcgan", shape)
    _, _, D2 = _pair("dcgan", shape, d_extra=2, sn=True)
    convs = [m for m in D2.features if isinstance(m, nn.Conv2d)]
    downs = [m for m in D0.features if isinstance(m, nn.Conv2d)]
    assert all(m.stride == (2, 2) for m in downs)
    assert [(m.kernel_size, m.stride) for m in convs] == [k for m in downs for k in
                                                          [((4, 4), (2, 2))] + [((3, 3), (1, 1))] * 2]
    extra = [m for m in convs if m.stride == (1, 1)]
    assert [m.in_channels for m in extra] == [m.out_channels for m in downs for _ in range(2)]
    assert all(m.in_channels == m.out_channels and hasattr(m, "parametrizations") for m in extra)
    x = torch.randn(3, *shape)
    assert D2(x).shape == D0(x).shape == (3,)


def test_minibatch_std_channel_is_the_spread_of_each_group_and_groups_do_not_mix():
    """MinibatchStd(4): one extra channel holding, for each group of 4 consecutive inputs, the mean over
    features of their standard deviation; identical inputs give ~0; a change in one group leaves the
    other groups' channel alone; a batch that 4 does not divide uses its largest divisor below 4."""
    from ganworks.models.common import MinibatchStd
    x = torch.randn(8, 3, 5, 5)
    out = MinibatchStd(4)(x)
    assert out.shape == (8, 4, 5, 5) and torch.equal(out[:, :3], x)
    for i in range(2):
        group = x[4 * i:4 * i + 4]
        expected = group.std(dim=0, unbiased=False).mean()
        torch.testing.assert_close(out[4 * i:4 * i + 4, 3], expected.expand(4, 5, 5), rtol=1e-5, atol=1e-5)
    same = MinibatchStd(4)(x[:1].expand(4, 3, 5, 5).contiguous())
    assert same[:, 3].abs().max() < 1e-3
    y = x.clone()
    y[5] += 10.0
    moved = MinibatchStd(4)(y)[:, 3, 0, 0]
    assert torch.equal(moved[:4], out[:4, 3, 0, 0]) and (moved[4:] > out[4:, 3, 0, 0] + 1).all()
    odd = MinibatchStd(4)(x[:6])  # 6 = 2 groups of 3
    torch.testing.assert_close(odd[:3, 3, 0, 0], x[:3].std(dim=0, unbiased=False).mean().expand(3))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_dcgan_mbstd_widens_ds_last_features_by_one_channel(shape):
    _, _, D0 = _pair("dcgan", shape)
    _, _, D4 = _pair("dcgan", shape, mbstd=4, sn=True, d_extra=1)
    last = [m for m in D0.features if isinstance(m, nn.Conv2d)][-1].out_channels
    assert D4.fc.in_features == D0.fc.in_features // last * (last + 1)
    x = torch.randn(8, *shape)
    assert D4(x).shape == (8,) and D4(x[:3]).shape == (3,)


@pytest.mark.parametrize("bad", [1, -1, True, 2.5])
def test_mbstd_refuses_what_is_not_off_or_a_group(bad):
    with pytest.raises(GanworksError, match=r"--mbstd.*must be 0 \(off\) or an integer >= 2"):
        _pair("dcgan", mbstd=bad)


def test_mlp_unconditional_weights_keep_their_names():
    # Runs saved before conditioning existed must still load.
    _, G, D = _pair("mlp", g_batchnorm=False, d_dropout=0.0)
    assert list(G.state_dict()) == ["net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"]
    assert list(D.state_dict()) == ["net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"]


@pytest.mark.parametrize("arch,options", [
    ("mlp", dict(image_shape=(3, 8, 8), g_hidden=(16, 8), num_classes=2, sn=True, g_batchnorm=True)),
    ("dcgan", dict(image_shape=(3, 32, 32), g_channels=3, d_channels=5, num_classes=2, sn=True, d_batchnorm=True)),
    ("dcgan", dict(image_shape=(1, 28, 28), g_channels=3, d_channels=5, g_extra=2, d_extra=1, z_categories=4,
                   mbstd=2)),
    ("resnet", dict(image_shape=(1, 28, 28), g_channels=3, d_channels=5, num_classes=2, sn=True)),
])
def test_config_json_round_trip_rebuilds_the_same_networks(arch, options):
    cfg, G, D = _pair(arch, **options)
    d = json.loads(json.dumps(config_to_dict(arch, cfg)))
    assert d["arch"] == arch and d["image_shape"] == list(options["image_shape"])
    arch2, cfg2 = config_from_dict(d)
    assert (arch2, cfg2) == (arch, cfg)
    y, z = torch.tensor([0, 1]), torch.randn(2, 8)
    for net, build in ((G, build_generator), (D, build_discriminator)):
        twin = build(arch2, cfg2)
        twin.load_state_dict(net.state_dict())
        net.eval(), twin.eval()
        inp = z if net is G else G(z, y).detach()
        assert torch.equal(net(inp, y), twin(inp, y))


@pytest.mark.parametrize("arch", ["dcgan", "resnet"])
def test_save_and_load_networks(arch, tmp_path):
    cfg, G, D = _pair(arch, (3, 32, 32), num_classes=K, sn=True)
    G.eval(), D.eval()
    save_network(tmp_path, "generator", G, arch, cfg)
    save_network(tmp_path, "discriminator", D, arch, cfg)
    G2, D2 = load_generator(tmp_path), load_discriminator(tmp_path)
    z, y = torch.randn(3, 8), torch.tensor([2, 0, 1])
    x = G(z, y)
    assert G2.arch == arch and G2.cfg == cfg
    assert torch.equal(G2(z, y), x) and torch.equal(D2(x, y), D(x, y))


@pytest.mark.parametrize("options,message", [
    (dict(image_shape=(1, 40, 40)), "model 'dcgan' supports 28, 32 or 64 px square images, got 1x40x40"),
    (dict(image_shape=(3, 32, 64)), "model 'dcgan' supports 28, 32 or 64 px square images, got 3x32x64"),
    (dict(image_shape=(2, 32, 32)), "model 'dcgan' supports 1 (gray) or 3 (RGB) channels, got 2x32x32"),
    (dict(g_channels=0), "--g-channels must be a positive integer, got 0"),
    (dict(d_channels=-8), "--d-channels must be a positive integer, got -8"),
    (dict(d_channels="64"), "--d-channels must be a positive integer, got '64'"),
    (dict(num_classes=-1), "model option num_classes must be a non-negative integer (0: unconditional; --conditional sets it from the data), got -1"),
    (dict(sn="yes"), "--sn must be true or false, got 'yes'"),
    (dict(z_dim=0), "--z-dim must be a positive integer, got 0"),
    (dict(g_hidden=(8,)), "model 'dcgan' has no option 'g_hidden'"),
])
def test_config_errors_name_the_flag_and_value(options, message):
    with pytest.raises(GanworksError) as e:
        make_model_config("dcgan", **options)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_resnet_and_mlp_size_rules():
    with pytest.raises(GanworksError, match="model 'resnet' supports 28, 32 or 64 px square images, got 3x128x128"):
        make_model_config("resnet", image_shape=(3, 128, 128))
    make_model_config("mlp", image_shape=(3, 40, 24))  # the MLP takes any shape
    with pytest.raises(GanworksError, match="model option num_classes"):  # no flag of its own: --conditional
        make_model_config("mlp", num_classes=1.5)
