"""The resume state of a run: everything that changes while it trains, saved and restored as one.

:class:`TrainState` turns G, D, the EMA of G, both optimizers, every RNG, the data order, the
replay buffer, the tick's partial sums and the loop's counters into the tensors and JSON of a
``ganworks-resume-1`` checkpoint (see :mod:`.resume` for the files), and back; with them the generators
that ``--eval-every`` and ``--pick-tail`` keep (:class:`.evaluation.KeptGenerators`). The key names are
the on-disk format: checkpoints written by earlier versions must keep loading.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .._version import __version__
from ..errors import GanworksError
from .data import IndexBatches
from .replay import ReplayBuffer
from .resume import (Counters, check_tensors, load_checkpoint, load_optimizer, module_state, optimizer_state,
                     rng_state, set_rng_state, take)
from .schedule import Budget, Every
from .tracking import Clock, TickMeans

EVENTS = ("tick", "snap", "eval", "ckpt", "pick")  # the names under which their next_* and intervals are stored


@dataclass
class Progress:
    """Where the run is: images shown to D, ticks and steps taken, events due, best metric so far."""

    events: dict[str, Every]  # tick, snap (sample grid), eval, ckpt, pick (--pick-tail)
    nimg: int = 0
    tick: int = 0
    d_step_count: int = 0
    g_step_count: int = 0
    elapsed_s: float = 0.0
    best_value: float | None = None
    last_d_acc: float | None = None
    rollbacks: int = 0
    budget: Budget = field(default_factory=lambda: Budget(None))  # --minutes, and the clock at the last tick
    tail_from: int | None = None  # --ema-tail: the G step at which the run's tail (the running mean) began
    picked_value: float | None = None  # --pick-tail: the best score (--pick-metric) in the tail so far
    picked_at: list[float] | None = None  # --pick-tail: where it was scored: [images, seconds at the last tick]
    scored_step: int | None = None  # --pick-tail: the G step of the last score, kept or not (None: none yet)

    @classmethod
    def of(cls, cfg, budget: Budget) -> "Progress":
        """A new run's position: its events every so many kimg, as configured, and its budget."""
        kimg = {"tick": cfg.tick_kimg, "snap": cfg.snapshot_kimg, "eval": cfg.eval_every,
                "ckpt": cfg.checkpoint_every(), "pick": cfg.pick_kimg if cfg.pick_tail > 0 else 0.0}
        events = {name: Every.kimg(kimg[name]) for name in EVENTS}
        if budget.seconds is not None and events["tick"].interval > 0:
            events["tick"].next = 1.0  # --minutes: a first tick after one step measures the speed (Budget.next_tick)
        return cls(events=events, budget=budget)

    def counters(self) -> dict[str, Any]:
        """The ``counters`` record of state.json."""
        nexts = {f"next_{name}": self.events[name].next for name in EVENTS}
        return Counters(nimg=self.nimg, tick=self.tick, d_step_count=self.d_step_count,
                        g_step_count=self.g_step_count, **nexts, elapsed_s=self.elapsed_s,
                        best_value=self.best_value, last_d_acc=self.last_d_acc, rollbacks=self.rollbacks,
                        tail_from=self.tail_from, picked_value=self.picked_value, picked_at=self.picked_at,
                        scored_step=self.scored_step,
                        intervals={name: self.events[name].interval for name in EVENTS}).__dict__

    def load_counters(self, record: dict[str, Any]) -> None:
        saved = Counters(**record)
        for name in EVENTS:
            event = self.events[name]
            if saved.intervals.get(name) != event.interval:
                event.restart(saved.nimg)  # a schedule changed on resume restarts from here
            else:
                event.next = getattr(saved, f"next_{name}")
        for name in ("nimg", "tick", "d_step_count", "g_step_count", "elapsed_s", "best_value", "last_d_acc",
                     "rollbacks", "tail_from", "picked_value", "picked_at", "scored_step"):
            setattr(self, name, getattr(saved, name))


@dataclass
class TrainState:
    """References to everything a checkpoint holds; :meth:`state_dict` reads them, :meth:`load_state_dict`
    writes them in place (so the loop's own objects continue from the checkpoint)."""

    G: nn.Module
    D: nn.Module
    G_ema: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    order: IndexBatches
    replay: ReplayBuffer | None
    means: TickMeans
    progress: Progress
    clock: Clock
    device: torch.device
    info: dict[str, Any] = field(default_factory=dict)  # model, train, world_size: recorded, and the model checked
    kept: Any = None  # evaluation.KeptGenerators: the Gs that --eval-every and --pick-tail keep (None: none kept)

    def state_dict(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """(tensors for state.safetensors, JSON for state.json)."""
        tensors = {**module_state("G", self.G), **module_state("D", self.D)}
        if self.G_ema is not None:
            tensors.update(module_state("G_ema", self.G_ema))
        t_g, meta_g = optimizer_state("opt_g", self.opt_g)
        t_d, meta_d = optimizer_state("opt_d", self.opt_d)
        t_rng, meta_rng = rng_state()
        t_data, meta_data = self.order.state()
        tensors.update({**t_g, **t_d, **t_rng, **t_data})
        meta_replay = None
        if self.replay is not None:
            st = self.replay.state_dict()
            meta_replay = {"size": st["size"], "capacity": st["capacity"]}
            for k in ("images", "labels"):
                if st[k] is not None:
                    tensors[f"replay.{k}"] = st[k]
        t_sums, counts = self.means.state()
        tensors.update(t_sums)
        self.progress.elapsed_s = self.clock.elapsed()
        meta = {"counters": self.progress.counters(), "tick_counts": counts,
                "optimizers": {"G": meta_g, "D": meta_d}, "rng": meta_rng, "data": meta_data,
                "replay": meta_replay, "model": self.info["model"], "train": self.info["train"],
                "world_size": self.info["world_size"], "ganworks_version": __version__}
        if self.progress.budget.seconds is not None:
            meta["budget"] = self.progress.budget.state()  # the held schedule position: a resume goes on with it
        if self.kept is not None:
            t_kept, meta_kept = self.kept.state()
            tensors.update(t_kept)
            if meta_kept is not None:
                meta["kept"] = meta_kept
        return tensors, meta

    def load_state_dict(self, tensors: dict[str, Tensor], meta: dict[str, Any], source: str = "checkpoint") -> None:
        """Put a checkpoint's state back; ``source`` names it in errors."""
        mine = json.loads(json.dumps(self.info["model"]))
        self.check_tensors(tensors, meta, source)
        for prefix, net in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):
            if net is None:
                continue
            try:
                net.load_state_dict(take(tensors, prefix))
            except RuntimeError as e:
                detail = " ".join(str(e).strip().splitlines()[1:2]).strip() or str(e).splitlines()[0]
                raise GanworksError(f"{source}: its {prefix} does not fit this run's {mine}: {detail}") from None
        load_optimizer(self.opt_g, tensors, meta["optimizers"]["G"], "generator", source)
        load_optimizer(self.opt_d, tensors, meta["optimizers"]["D"], "discriminator", source)
        set_rng_state(tensors, meta["rng"], source)
        self.order.load(tensors, meta["data"])
        if self.replay is not None:
            r = meta["replay"] or {"size": 0, "capacity": self.replay.capacity}
            self.replay.load_state_dict({**r, "images": tensors["replay.images"].to(self.device) if r["size"] else None,
                                         "labels": tensors["replay.labels"].to(self.device)
                                         if r["size"] and "replay.labels" in tensors else None})
        self.means.load(take(tensors, "tick_sum"), meta["tick_counts"], self.device)
        self.progress.load_counters(meta["counters"])
        self.progress.budget.load(meta.get("budget"), self.progress.elapsed_s)
        if self.kept is not None:  # last: the kept directories are written back only once all else has loaded
            self.kept.load(tensors, meta.get("kept"), source)

    def check_tensors(self, tensors: dict[str, Tensor], meta: dict[str, Any], source: str) -> None:
        """The networks', data order's, replay buffer's and tick sums' tensors are all there, with the
        names, shapes and dtypes this run expects (optimizers and RNGs: checked as they load)."""
        expected: dict[str, tuple[tuple[int, ...] | None, torch.dtype]] = {}
        for prefix, net in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):
            if net is not None:
                have = take(tensors, prefix)
                # a missing or extra key is load_state_dict's message (it names them); shapes and dtypes are not
                expected.update({f"{prefix}.{k}": (tuple(v.shape), v.dtype) for k, v in net.state_dict().items()
                                 if k in have})
        gen = self.order.gen.get_state()
        expected["data.gen"] = (tuple(gen.shape), gen.dtype)
        if meta["data"]["started"]:
            expected["data.epoch_start"] = (tuple(gen.shape), gen.dtype)
        expected.update({f"tick_sum.{k}": ((1,), torch.float32) for k in meta["tick_counts"]})
        check_tensors(tensors, expected, source)
        replay = meta["replay"]
        if self.replay is not None and replay:
            images = tensors.get("replay.images")
            if replay["capacity"] != self.replay.capacity or replay["size"] > replay["capacity"] or (
                    replay["size"] and (images is None or images.ndim < 1 or len(images) != replay["size"])):
                got = tuple(images.shape) if images is not None else "missing"
                raise GanworksError(f"{source}: the replay buffer ({replay['size']} of {replay['capacity']} images, "
                                    f"tensor 'replay.images' {got}) does not fit this run's capacity "
                                    f"{self.replay.capacity}; the file is damaged or was edited")

    def continue_run(self, ckpt: Path | None, resume_dir: Path | None, run_dir: Path, tracker) -> None:
        """Resume: every piece of state continues from ``ckpt``, and the logs are cut back to it (``--resume
        auto`` restarting a run that never checkpointed: cut back to nothing)."""
        if ckpt is not None:
            self.load(ckpt, run_dir / "config.json")
            tracker.rewind(self.progress.nimg)
            self.clock.carry(self.progress.elapsed_s)
        elif resume_dir is not None and (run_dir / "config.json").is_file():
            tracker.rewind(-1)

    def load(self, path: Path, config_path: Path) -> None:
        """Continue from the checkpoint directory ``path``, refusing one of another model
        (``config_path``: where this run's model comes from, for the message)."""
        tensors, meta = load_checkpoint(path)
        mine, theirs = json.loads(json.dumps(self.info["model"])), meta.get("model")
        if theirs != mine:
            raise GanworksError(f"checkpoint {path} holds a different model ({theirs}) than this run "
                                f"({mine}, from {config_path})")
        self.load_state_dict(tensors, meta, source=f"checkpoint {path}")
