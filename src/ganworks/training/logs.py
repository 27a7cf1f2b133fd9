"""TensorBoard event files beside ``stats.jsonl``: the same numbers, for ``tensorboard --logdir runs``.

Every tick record (losses, D(x), D(G(z)), D's accuracy, gradient norms, images/s, ...) and
every evaluation's metric values become scalars under ``RUN/tensorboard/``; the x axis is the
number of real images shown to D (``kimg * 1000``), as in ``stats.jsonl``. stats.jsonl stays
the record of truth; the event files are a view of it.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

TB_DIR = "tensorboard"

# stats.jsonl key -> TensorBoard tag. Grouped so TensorBoard shows one panel per concern.
TAGS = {
    "loss_D": "loss/D",
    "loss_G": "loss/G",
    "GP": "loss/gradient_penalty",
    "R1": "loss/R1",
    "R2": "loss/R2",
    "D(x)": "D_output/D(x)",
    "D(G(z))": "D_output/D(G(z))",
    "D_real": "D_output/critic_real",
    "D_fake": "D_output/critic_fake",
    "D_acc": "D_output/accuracy",
    "grad_G": "grad_norm/G",
    "grad_D": "grad_norm/D",
    "lr_G": "learning_rate/G",
    "lr_D": "learning_rate/D",
    "img_per_s": "speed/img_per_s",
    "time_s": "speed/time_s",
}
_NOT_SCALARS = ("tick", "kimg")  # the step itself and the tick counter


def tag_for(key: str) -> str:
    """The TensorBoard tag for a ``stats.jsonl`` key (unknown keys go under ``stats/``)."""
    return TAGS.get(key) or "stats/" + re.sub(r"[^\w./()-]", "_", key)


def metric_tag(name: str) -> str:
    """The TensorBoard tag for an evaluation metric's value (``metrics.jsonl``)."""
    return "metrics/" + re.sub(r"[^\w./()-]", "_", name)


def _after_existing_files(directory: Path) -> None:
    """Wait, if needed, until a new event file will sort after those already in ``directory``.

    TensorBoard reads a run's event files in name order, and a resume's purge_step hides only the points
    read *before* it. The names are ``events.out.tfevents.SECONDS.HOST.PID.N``. Within one second they
    sort by PID and a per-process counter N, as text, so "…10" sorts before "…9". A resume started in
    the same second as the file it continues could then be read first, and the purged points would come
    back. A new file whose SECONDS is larger than every existing one always sorts last. At most one
    second is spent, and only when a file was created within that second."""
    newest = -1
    for f in directory.glob("events.out.tfevents.*"):
        field = f.name.split(".")[3]
        if field.isdigit():
            newest = max(newest, int(field))
    while newest >= int(time.time()):
        time.sleep(0.05)


class TensorBoardLog:
    """Writes one run's scalars to ``run_dir/tensorboard/``; a context manager that closes the file."""

    def __init__(self, run_dir: str | Path, enabled: bool = True, purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.dir = Path(run_dir) / TB_DIR
        # Under torchrun only rank 0 writes (enabled=False elsewhere: every call is a no-op).
        # purge_step (on resume): TensorBoard hides the killed run's points from this step on, as
        # stats.jsonl is cut back to the checkpoint, so a resumed curve has no doubled stretch.
        if enabled:
            _after_existing_files(self.dir)
        self._w = (SummaryWriter(log_dir=str(self.dir), flush_secs=3600, purge_step=purge_step)  # flushed per tick
                   if enabled else None)

    def tick(self, rec: dict) -> None:
        """One ``stats.jsonl`` record: every finite number in it, at step = images shown."""
        if self._w is None:
            return
        step = int(round(rec["kimg"] * 1000))
        for k, v in rec.items():
            if k in _NOT_SCALARS or isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                continue
            self._w.add_scalar(tag_for(k), v, global_step=step)
        self._w.flush()  # a live `tensorboard --logdir` sees each tick as it happens

    def metrics(self, kimg: float, values: dict[str, float]) -> None:
        """One evaluation's metric values (name -> value)."""
        if self._w is None:
            return
        step = int(round(kimg * 1000))
        for name, v in values.items():
            if isinstance(v, (int, float)) and math.isfinite(v):
                self._w.add_scalar(metric_tag(name), v, global_step=step)
        self._w.flush()

    def close(self) -> None:
        if self._w is not None:
            self._w.close()

    def __enter__(self) -> "TensorBoardLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_scalars(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in a run's event files: tag -> [(step, value), ...] (TensorBoard's own reader)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(Path(run_dir) / TB_DIR), size_guidance={"scalars": 0})  # 0: keep every point
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
