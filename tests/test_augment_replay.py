"""The replay buffer of past fakes and DiffAugment (translation, cutout): unit behaviour, their
use inside the discriminator step, and training runs on real data with each switched on."""

import json
import math

import pytest
import torch

from ganworks import GanworksError, train
from ganworks.augment import cutout, diff_augment, parse_policy, translation
from ganworks.objectives import get_objective
from ganworks.training import loop
from ganworks.training.loop import DOptions, discriminator_step
from ganworks.training.replay import ReplayBuffer

from gwtest import needs_mnist5k, pair

MLP = {"z_dim": 8, "g_hidden": [16], "d_hidden": [16]}
FAST = dict(data="mnist-5k", model="mlp", model_options=MLP, kimg=0.1, batch_size=16, tick_kimg=0.05,
            snapshot_kimg=0, progress=False)
ITERS = math.ceil(100 / 16)  # kimg 0.1 at batch 16, one D step per iteration: 7 iterations



def _ticks(run):
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


def _const(values, shape=(1, 2, 2)):
    """A batch of images, image i filled with values[i] (so an image tells where it came from)."""
    v = torch.as_tensor(values, dtype=torch.float32)
    return v.view(-1, 1, 1, 1).expand(-1, *shape).clone()


def _ids(images):
    """The value each constant image was filled with."""
    flat = images.flatten(1)
    assert (flat == flat[:, :1]).all(), "an image was mixed up with another"
    return flat[:, 0].tolist()


# ------------------------------------------------------------------------------------ replay buffer
def test_replay_fills_fifo_then_replaces_random_slots():
    torch.manual_seed(0)
    buf = ReplayBuffer(capacity=10, fraction=0.5)
    assert len(buf) == 0
    buf.push(_const([0, 1, 2, 3]), torch.tensor([0, 1, 2, 3]))
    assert len(buf) == 4 and _ids(buf.images[:4]) == [0, 1, 2, 3]
    buf.push(_const([4, 5, 6, 7]), torch.tensor([4, 5, 6, 7]))
    assert len(buf) == 8 and _ids(buf.images[:8]) == [0, 1, 2, 3, 4, 5, 6, 7]
    # 2 free slots take 8 and 9 in order; 10 and 11 then overwrite random slots.
    buf.push(_const([8, 9, 10, 11]), torch.tensor([8, 9, 10, 11]))
    assert len(buf) == 10 and buf.images.shape[0] == 10 and buf.labels.shape == (10,)
    ids = _ids(buf.images)
    changed = [i for i, v in enumerate(ids) if v != i]
    assert 1 <= len(changed) <= 2 and all(ids[i] in (10, 11) for i in changed)
    assert ids == [float(v) for v in buf.labels.tolist()]  # every label stays with its image

    # Full: one image at a time, each replaces a uniformly random slot (not a ring, not only the newest).
    hit = []
    for v in range(100, 300):
        before = _ids(buf.images)
        buf.push(_const([v]), torch.tensor([v]))
        after = _ids(buf.images)
        diff = [i for i in range(10) if before[i] != after[i]]
        assert len(diff) == 1 and after[diff[0]] == v
        hit.append(diff[0])
        assert len(buf) == 10 and buf.images.shape[0] == 10
    assert set(hit) == set(range(10)), "random replacement should reach every slot"
    assert hit != [i % 10 for i in range(len(hit))], "slots were replaced in ring order, not at random"
    assert _ids(buf.images) == [float(v) for v in buf.labels.tolist()]


def test_replay_push_larger_than_capacity():
    buf = ReplayBuffer(capacity=4, fraction=1.0)
    buf.push(_const(list(range(10))), torch.arange(10))
    assert len(buf) == 4 and buf.images.shape[0] == 4
    ids = _ids(buf.images)
    assert all(0 <= v < 10 for v in ids) and ids == [float(v) for v in buf.labels.tolist()]


def test_replay_mix_replaces_a_fraction_once_nonempty():
    torch.manual_seed(0)
    buf = ReplayBuffer(capacity=50, fraction=0.3)
    fresh, y = _const(list(range(100, 110))), torch.arange(100, 110)
    out, out_y = buf.mix(fresh, y)  # empty buffer: nothing replaced
    assert torch.equal(out, fresh) and torch.equal(out_y, y)

    buf.push(_const(list(range(20))), torch.arange(20))
    for _ in range(5):
        out, out_y = buf.mix(fresh, y)
        assert out.shape == fresh.shape and out_y.shape == y.shape
        ids = _ids(out)
        m = round(0.3 * 10)  # 3 of 10
        assert all(0 <= v < 20 for v in ids[:m]), ids  # the first m come from the buffer
        assert ids[m:] == list(range(100 + m, 110))  # the rest are this step's fakes, in order
        assert ids == [float(v) for v in out_y.tolist()]  # labels travel with their images
    assert torch.equal(fresh, _const(list(range(100, 110))))  # the caller's batch is not modified in place

    # Without labels the mix works the same and returns None for them.
    out, none = buf.mix(fresh)
    assert none is None and all(0 <= v < 20 for v in _ids(out)[:3])

    full = ReplayBuffer(capacity=50, fraction=1.0)
    full.push(_const(list(range(20))))
    assert all(0 <= v < 20 for v in _ids(full.mix(fresh)[0]))  # fraction 1: all of it from the buffer


@pytest.mark.slow
def test_d_step_with_replay_pushes_fresh_fakes_and_shows_d_the_mix():
    _, G, D = pair(num_classes=3)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3)
    buf = ReplayBuffer(capacity=64, fraction=0.5)
    seen = []
    D.register_forward_pre_hook(lambda m, args: seen.append((args[0].detach().clone(), args[1].clone())))
    obj = get_objective("ns")
    B = 8
    real1, y1, z1 = torch.rand(B, 1, 4, 4) * 2 - 1, torch.randint(0, 3, (B,)), torch.randn(B, 3)
    discriminator_step(G, D, obj, real1, z1, opt_d, y_real=y1, y_fake=y1, opt=DOptions(replay=buf))
    with torch.no_grad():
        g1 = G(z1, y1)
    assert len(buf) == B
    assert torch.equal(buf.images[:B], g1) and torch.equal(buf.labels[:B], y1)
    assert torch.equal(seen[1][0], g1)  # empty buffer: D saw only this step's fakes

    seen.clear()
    real2, y2, z2 = torch.rand(B, 1, 4, 4) * 2 - 1, torch.randint(0, 3, (B,)), torch.randn(B, 3)
    discriminator_step(G, D, obj, real2, z2, opt_d, y_real=y2, y_fake=y2, opt=DOptions(replay=buf))
    with torch.no_grad():
        g2 = G(z2, y2)
    # The buffer grows by B and receives this step's fresh fakes, not the mixed batch.
    assert len(buf) == 2 * B
    assert torch.equal(buf.images[B:2 * B], g2) and torch.equal(buf.labels[B:2 * B], y2)
    # D's fake batch: half replayed from step 1 (with step 1's labels), half fresh.
    (fake_in, y_in) = seen[1]
    assert torch.equal(fake_in[B // 2:], g2[B // 2:]) and torch.equal(y_in[B // 2:], y2[B // 2:])
    for img, lab in zip(fake_in[:B // 2], y_in[:B // 2]):
        j = [i for i in range(B) if torch.equal(img, g1[i])]
        assert j, "a replayed image is not one of the earlier fakes"
        assert lab == y1[j[0]], "a replayed image lost its label"


@needs_mnist5k
def test_train_with_replay(tmp_path, monkeypatch):
    made = []

    class Spy(ReplayBuffer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.sizes_at_mix = []
            made.append(self)

        def mix(self, fakes, labels=None):
            self.sizes_at_mix.append(len(self))
            out, out_y = super().mix(fakes, labels)
            assert out.shape == fakes.shape and (out_y is None) == (labels is None)
            return out, out_y

    monkeypatch.setattr(loop, "ReplayBuffer", Spy)
    run = train(run_dir=str(tmp_path / "replay"), **{**FAST, "conditional": True, "replay_size": 40,
                                                     "replay_fraction": 0.5})
    assert len(made) == 1
    buf = made[0]
    assert (buf.capacity, buf.fraction) == (40, 0.5)
    assert buf.sizes_at_mix == [min(16 * i, 40) for i in range(ITERS)]  # pushed B per D step, capped
    assert len(buf) == 40 and buf.images.shape == (40, 1, 28, 28)
    assert buf.images.abs().max() <= 1.0  # generated images (tanh)
    assert buf.labels is not None and 0 <= buf.labels.min() and buf.labels.max() < 10
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["replay_size"] == 40 and cfg["train"]["replay_fraction"] == 0.5
    ticks = _ticks(run)
    assert ticks and all("nonfinite" not in t for t in ticks)
    assert (run / "generator.safetensors").is_file() and (run / "discriminator.safetensors").is_file()


# --------------------------------------------------------------------------------------- DiffAugment
def _shift(x, dy, dx):
    """x with its content moved by (dy, dx) pixels, the uncovered border filled with -1."""
    H, W = x.shape[-2:]
    out = torch.full_like(x, -1.0)
    src_y, dst_y = slice(max(-dy, 0), H - max(dy, 0)), slice(max(dy, 0), H - max(-dy, 0))
    src_x, dst_x = slice(max(-dx, 0), W - max(dx, 0)), slice(max(dx, 0), W - max(-dx, 0))
    out[..., dst_y, dst_x] = x[..., src_y, src_x]
    return out


def test_translation_moves_a_bright_pixel_by_at_most_an_eighth():
    torch.manual_seed(0)
    B, S = 64, 32
    x = torch.full((B, 1, S, S), -1.0)
    x[:, :, 16, 16] = 1.0
    out = translation(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    moves = set()
    for img in out[:, 0]:
        bright = (img == 1.0).nonzero().tolist()
        assert len(bright) == 1, "the pixel must move, not vanish or smear"
        assert ((img == -1.0).sum() == S * S - 1), "everything else stays background"
        dy, dx = bright[0][0] - 16, bright[0][1] - 16
        assert abs(dy) <= S // 8 and abs(dx) <= S // 8, (dy, dx)
        moves.add((dy, dx))
    assert len(moves) > 10  # per-sample random shifts, not one shift for all (nor none)
    assert any(abs(dy) == S // 8 or abs(dx) == S // 8 for dy, dx in moves)  # the full range is used


def test_translation_is_a_pure_shift_of_every_channel():
    torch.manual_seed(1)
    x = torch.rand(16, 3, 32, 32) * 2 - 1  # distinct values: only one shift can explain the output
    out = translation(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    for i in range(len(x)):
        hits = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5) if torch.equal(out[i], _shift(x[i], dy, dx))]
        assert len(hits) == 1, f"sample {i} is not a shifted copy of its input"
    x28 = torch.rand(4, 1, 28, 20) * 2 - 1  # non-square, not a multiple of 8
    assert translation(x28).shape == x28.shape


def _box(mask):
    """(rows, cols) covered by a 2-D boolean mask, asserting it is exactly their product."""
    rows = mask.any(1).nonzero().flatten().tolist()
    cols = mask.any(0).nonzero().flatten().tolist()
    assert rows == list(range(rows[0], rows[-1] + 1)) and cols == list(range(cols[0], cols[-1] + 1))
    box = torch.zeros_like(mask)
    box[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = True
    assert torch.equal(mask, box), "the cut-out region is not a rectangle"
    return rows, cols


@pytest.mark.parametrize("H, W", [(32, 32), (28, 20)])
def test_cutout_blacks_out_one_clipped_square_per_sample(H, W):
    torch.manual_seed(2)
    B = 200
    x = torch.full((B, 3, H, W), 0.5)
    out = cutout(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert ((out == -1.0) | (out == 0.5)).all()  # black (-1) or untouched
    ch, cw = int(H * 0.5 + 0.5), int(W * 0.5 + 0.5)
    full = 0
    for img in out:
        mask = img[0] == -1.0
        assert all(torch.equal(mask, c == -1.0) for c in img), "the same square in every channel"
        rows, cols = _box(mask)
        assert len(rows) <= ch and len(cols) <= cw
        if len(rows) < ch:  # clipped: only at the image border
            assert rows[0] == 0 or rows[-1] == H - 1
        if len(cols) < cw:
            assert cols[0] == 0 or cols[-1] == W - 1
        full += len(rows) == ch and len(cols) == cw
    assert full > 0, "never a whole square"
    assert full < B, "never clipped at a border"


def test_augmentations_are_differentiable():
    torch.manual_seed(3)
    x = (torch.rand(8, 1, 16, 16) * 0.9 + 0.05).requires_grad_(True)  # in (0, 1): never the fill value
    w = torch.rand(8, 1, 16, 16) + 0.5
    out = translation(x)
    (out * w).sum().backward()
    g = x.grad
    assert torch.isfinite(g).all() and g.abs().sum() > 0
    # Each input pixel lands at one output pixel (or falls off): its gradient is that pixel's weight.
    kept = out != -1.0
    assert torch.allclose(g.sum(), (w * kept).sum())
    for gi, wi in zip(g, w):
        assert ((gi == 0) | torch.isin(gi, wi)).all()

    x.grad = None
    out = cutout(x)
    out.sum().backward()
    keep = (out != -1.0).float()
    assert 0 < keep.mean() < 1
    assert torch.equal(x.grad, keep)  # gradient 1 outside the square, 0 inside

    x.grad = None
    diff_augment(x, ("translation", "cutout")).sum().backward()
    assert x.grad.abs().sum() > 0
    assert torch.equal(diff_augment(x, ()), x)


def test_parse_policy():
    assert parse_policy("translation,cutout") == ("translation", "cutout")
    assert parse_policy(" cutout , translation ") == ("cutout", "translation")
    assert parse_policy("") == ()
    with pytest.raises(GanworksError, match=r"unknown --augment policy 'color'; valid: translation, cutout"):
        parse_policy("translation,color")
    from ganworks import TrainConfig
    with pytest.raises(GanworksError, match="--augment.*'flip'.*translation.*cutout"):
        TrainConfig(augment="flip")


@needs_mnist5k
def test_train_with_diffaugment(tmp_path, monkeypatch):
    calls = []
    real = loop.diff_augment

    def spy(x, policy):
        calls.append((policy, x.requires_grad, tuple(x.shape)))
        return real(x, policy)

    monkeypatch.setattr(loop, "diff_augment", spy)
    run = train(run_dir=str(tmp_path / "aug"), **{**FAST, "augment": "translation,cutout"})
    assert calls and all(p == ("translation", "cutout") for p, _, _ in calls)
    assert all(s == (16, 1, 28, 28) for _, _, s in calls)
    # D's step augments real and fake (constants for D); G's step augments its own fakes, with the
    # gradient flowing through the augmentation back to G.
    with_grad = sum(g for _, g, _ in calls)
    assert with_grad == ITERS
    assert len(calls) - with_grad == 2 * ITERS
    assert json.loads((run / "config.json").read_text())["train"]["augment"] == "translation,cutout"
    ticks = _ticks(run)
    assert ticks and all("nonfinite" not in t and math.isfinite(t["loss_D"]) for t in ticks)


def test_augment_is_refused_for_2d_points(tmp_path):
    pts = torch.randn(6, 2, 1, 1)
    assert (cutout(pts) == -1.0).all()  # what D would see: every point replaced by the fill value
    with pytest.raises(GanworksError, match="--augment"):
        train(run_dir=str(tmp_path / "pts"), **{**FAST, "data": "ring8", "augment": "translation,cutout"})
    assert not (tmp_path / "pts").exists()
