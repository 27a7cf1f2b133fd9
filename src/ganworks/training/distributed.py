"""Multi-process training with PyTorch's own DistributedDataParallel, started by ``torchrun``.

``torchrun --nproc_per_node=N -m ganworks train ...`` sets RANK, WORLD_SIZE, LOCAL_RANK and
the rendezvous variables; :func:`setup` joins the process group from them (gloo on CPU, nccl on
CUDA). Without torchrun (or with one process) nothing here is used and the loop runs as usual.

How the loop splits the work (see ``loop.py``): every process draws the same global batch of
data indices and the same global noise, and keeps its own slice of ``batch_size / world_size``
rows, so the union over processes is exactly the one-process batch. G and D are wrapped in
``DistributedDataParallel``, which all-reduces (averages) their gradients during ``backward``.
Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import GanworksError


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False  # this process initialized the group (and destroys it at the end)

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def wants_cuda(device_name: str) -> bool:
    """Whether ``--device device_name`` trains on CUDA: ``cuda``, or ``auto`` where torch sees a GPU."""
    return device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())


def setup(device_name: str) -> tuple[Dist, str]:
    """Join the process group torchrun describes in the environment. Returns the rank info and the
    device name to use (``cuda:LOCAL_RANK`` on GPUs)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), device_name
    local = int(os.environ.get("LOCAL_RANK", "0"))  # the global rank comes from the process group below
    cuda = wants_cuda(device_name)
    if cuda:
        if torch.cuda.device_count() <= local:
            raise GanworksError(f"LOCAL_RANK {local} needs a CUDA device, but torch sees {torch.cuda.device_count()}; "
                                "use --nproc_per_node <= the number of GPUs, or --device cpu")
        torch.cuda.set_device(local)
        device_name = f"cuda:{local}"
    else:
        device_name = "cpu"
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
        owns = True
    return Dist(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local, owns_group=owns), device_name


def teardown(d: Dist) -> None:
    """Leave the group once every process is done (rank 0 writes the final files last)."""
    if d.owns_group and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def wrap(module: torch.nn.Module, d: Dist, device: torch.device, sync_bn: bool) -> torch.nn.Module:
    """``module`` in DistributedDataParallel (or as is, for one process).

    ``forward_sync_buffers=False``: buffers are copied from rank 0 once, at construction, and
    then BatchNorm statistics stay per process (each normalizes its own share of the batch)
    unless ``sync_bn`` converts them to SyncBatchNorm. The loop freezes each
    network while the other trains (requires_grad off, or no_grad): a forward pass under no_grad
    does not arm DDP's reducer, and a frozen network's parameters produce no gradient hooks, so
    nothing waits for a reduction that never comes.
    """
    if not d.active:
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    if sync_bn:
        module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    ids = [device.index] if device.type == "cuda" else None
    return DDP(module, device_ids=ids, forward_sync_buffers=False)


def mean_across(values: torch.Tensor, d: Dist) -> torch.Tensor:
    """The average of a tensor over processes (the tensor itself for one process)."""
    if d.active:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        values /= d.world
    return values


def any_across(flag: bool, d: Dist, device: torch.device) -> bool:
    """True when ``flag`` is true in any process (every process gets the same answer)."""
    if not d.active:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def broadcast_text(text: str | None, d: Dist, device: torch.device) -> str:
    """Rank 0's string on every process (as bytes in a tensor: nothing is pickled)."""
    if not d.active:
        return text or ""
    data = torch.zeros(4096, dtype=torch.uint8, device=device)
    if d.main:
        raw = (text or "").encode()[:4096]
        data[:len(raw)] = torch.tensor(list(raw), dtype=torch.uint8)
    dist.broadcast(data, src=0)
    return bytes(data.cpu().tolist()).rstrip(b"\0").decode()
