"""Issue 18, classes 3, 4 and 7: sizes checked before allocation, 64-bit seeds, and named pipes.

Each bad request must end as one line naming the flag or file, exit 2, before anything big is
allocated or a blocking file is opened. The FIFO tests run a real process with a timeout: the bug
they guard against is a process that never returns.
"""

from __future__ import annotations

import pytest
from gwtest import cli, needs_mnist5k, one_line_error

SEED_MAX = 2**64 - 1


# ------------------------------------------------------------------------------------- seeds
@pytest.mark.parametrize("args", [
    ["interpolate", "{run}", "--out", "{t}/w.png"],
    ["lab", "vanishing-gradients", "--quick"],
    ["classifier", "train", "--data", "mnist-5k", "--out", "{t}"],
], ids=["interpolate", "lab", "classifier"])
def test_seed_beyond_64_bits_is_one_line(args, capsys, tmp_path):
    args = [a.format(run=tmp_path / "no-run", t=tmp_path) for a in args]
    r = cli(capsys, *args, "--seed", str(SEED_MAX + 1))
    one_line_error(r, "--seed", str(SEED_MAX + 1), str(SEED_MAX))
    assert list(tmp_path.iterdir()) == []


def test_seed_range_in_the_python_api():
    from ganworks.config import TrainConfig
    from ganworks.errors import GanworksError

    with pytest.raises(GanworksError, match=f"--seed must be an integer in \\[0, {SEED_MAX}\\]"):
        TrainConfig(data="ring8", seed=SEED_MAX + 1)
    assert TrainConfig(data="ring8", seed=SEED_MAX).seed == SEED_MAX


@needs_mnist5k
def test_largest_seed_samples(tiny_run, capsys, tmp_path):
    """2**64 - 1 is a valid seed end to end (the bound is torch's, not an arbitrary one)."""
    r = cli(capsys, "sample", str(tiny_run), "--n", "4", "--seed", str(SEED_MAX), "--npy", str(tmp_path / "s.npy"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "s.npy").stat().st_size > 4 * 28 * 28
