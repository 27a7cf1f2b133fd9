"""``--precision auto``: bfloat16 autocast where the hardware runs it natively, fp32 elsewhere.

bf16 halves the bytes of every activation and, on hardware with bf16 matrix units, runs matrix
products and convolutions faster; the weights, the optimizer state and the losses stay fp32
(autocast only lowers the forward passes), so what bf16 changes is the rounding of activations.
Without native bf16 instructions a CPU emulates them and bf16 is *slower* than fp32, so the choice
is made per machine, at run start, from what the hardware reports:

- CUDA: bf16 when the device supports it (``torch.cuda.is_bf16_supported()``: Ampere and later);
- CPU: bf16 when the CPU has ``amx_bf16`` or ``avx512_bf16`` (read from ``/proc/cpuinfo``); else fp32;
- data that are points (1-D and 2-D toy sets): fp32 always, since their experiments compare against
  closed forms and their tiny MLPs gain nothing from bf16.

The choice and its reason go into ``config.json`` (``environment.precision`` and ``precision_why``);
a resumed run keeps the precision it started with, so that resume stays exact. The same CPU flags
decide one more thing, before the device is set up: ``--model auto`` gives a CPU without bf16 units
narrower networks, smaller batches and a higher learning rate (:func:`on_a_cpu_without_bf16`).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

#: CPU flags (``/proc/cpuinfo``) under which bf16 matrix products run natively.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (empty when the platform does not expose ``/proc/cpuinfo``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "flags":
                return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def choose(requested: str, device: torch.device, points: bool, previous: str | None = None) -> tuple[str, str]:
    """(precision to train in, why). ``previous``: what the run being resumed used (it is kept)."""
    if requested != "auto":
        return requested, f"--precision {requested}"
    if previous in ("fp32", "bf16"):
        return previous, "auto, kept from the run's start (resume stays exact)"
    if points:
        return "fp32", "auto: fp32 for point data (closed-form experiments; nothing to gain)"
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", f"auto: {torch.cuda.get_device_name(device)} supports bf16"
        return "fp32", f"auto: {torch.cuda.get_device_name(device)} has no bf16 support"
    native = [f for f in BF16_CPU_FLAGS if f in cpu_flags()]
    if native:
        return "bf16", f"auto: the CPU has {' and '.join(native)} (native bf16)"
    return "fp32", "auto: the CPU has neither amx_bf16 nor avx512_bf16 (bf16 would be emulated, slower)"


def on_a_cpu_without_bf16(device_name: str) -> bool:
    """Whether a run with ``--device device_name`` trains on a CPU without bf16 units, decided before the
    device is set up (``distributed.wants_cuda`` reads the flag). Such a CPU (AVX2, say) trains the
    image recipe in fp32 about 6x slower than a 2-core CPU with ``avx512_bf16`` trains it in bf16, so
    ``--model auto`` gives it narrower networks, smaller batches and a higher learning rate
    (``ganworks.config.CPU_WITHOUT_BF16``)."""
    from .distributed import wants_cuda

    if wants_cuda(device_name):
        return False
    return not any(f in cpu_flags() for f in BF16_CPU_FLAGS)
