"""The callback that turns a Lightning run into events, and stops it on cancel.

Per run: ``TrainingStarted``; during epochs, throttled ``JobProgress`` ("epoch 2/10 · step
30/90"); after each epoch ``EpochCompleted``, then ``CheckpointSaved`` for ``last`` and, when
the monitored figure improved, ``best`` (each file written completely before its event). These
are facts and are appended at once; the run's end (``TrainingCompleted``) is the job's result.

Early stopping lives here too (its state is saved in checkpoints, so a resumed run keeps
counting). With a :class:`~aistudio.training.resources.RunGuard` (the job's), a cancel or a
memory stop it decided is raised at every batch end (and, through its hooks, inside the steps);
the callback's own appends and checkpoint writes are never interrupted. Without one, a cancel
request is looked for after every batch and the run stops after the current batch. Either way
the last epoch's checkpoint is kept.

After the first few steps of a run, the callback measures them (seconds a step, the job's
memory) and says so in a progress message at once, with the epoch time extrapolated from them
and the estimate made before the run; later progress messages keep the figures.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytorch_lightning as pl

from aistudio.training.checkpoints import SavedFile, save_atomically
from aistudio.training.module import TrainingModule, better
from aistudio.training.resources import (
    ResourceEstimate,
    RunGuard,
    duration_text,
    gb_text,
    job_peak_bytes,
)
from aistudio.worker.context import JobCancelledError

logger = logging.getLogger(__name__)

MEASURED_STEPS = 3
"""Steps (after the first, which warms up) whose time the first measurement averages."""
MEMORY_EVERY_S = 30.0
"""Seconds between two readings of the job's memory for the progress messages."""


class RunReporter(Protocol):
    """What the callback needs of a job (:class:`aistudio.worker.context.JobContext` fits)."""

    def append(self, type: str, data: dict[str, Any]) -> Any:
        """Append one event now."""

    def progress(
        self, done: int, total: int | None = None, message: str = "", *, force: bool = False
    ) -> None:
        """Report throttled progress."""

    def cancel_requested(self) -> bool:
        """Whether the job was asked to stop."""


@dataclass
class RunInfo:
    """What ``TrainingStarted`` says besides what the trainer knows."""

    experiment_id: str
    epochs: int
    train_images: int
    val_images: int
    parameters: int
    device: str
    weights: str
    last_path: Path
    best_path: Path
    patience: int | None = None
    estimate: ResourceEstimate | None = None
    """What the run was estimated to take before it started (quoted next to the measurement)."""


class EventCallback(pl.Callback):
    """Appends the run's events; saves ``last``/``best`` checkpoints; early stopping; cancel."""

    def __init__(self, reporter: RunReporter, info: RunInfo, guard: RunGuard | None = None) -> None:
        self.reporter = reporter
        self.info = info
        self.guard = guard
        self.measured = ""
        """The first steps' figures in words (empty until measured)."""
        self._step_s: float | None = None
        self._ends: list[float] = []
        self._peak_memory = 0
        self._memory_at = -math.inf
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0
        self.stopped_early = False
        self.cancelled = False
        self.epochs_completed = 0
        self.start_epoch = 0
        self._epoch_start = 0.0
        self._train_end = 0.0
        self._batches = 0
        self._images = 0
        self._stepped = False

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Best value and early-stopping count, kept in checkpoints for a resumed run."""
        return {
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        best = state_dict.get("best_value")
        self.best_value = None if best is None else float(best)
        epoch = state_dict.get("best_epoch")
        self.best_epoch = None if epoch is None else int(epoch)
        self.bad_epochs = int(state_dict.get("bad_epochs", 0))

    # ------------------------------------------------------------------ run
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Append ``TrainingStarted`` (the epoch it starts from is known once resumed)."""
        self.start_epoch = trainer.current_epoch
        self.epochs_completed = trainer.current_epoch
        if not trainer.is_global_zero:
            return
        weights = self.info.weights
        if self.start_epoch > 0:
            weights = f"resumed from last.ckpt at epoch {self.start_epoch} ({weights})"
        self._append(
            "TrainingStarted",
            {
                "experiment_id": self.info.experiment_id,
                "start_epoch": self.start_epoch,
                "epochs": self.info.epochs,
                "train_images": self.info.train_images,
                "val_images": self.info.val_images,
                "parameters": self.info.parameters,
                "device": self.info.device[:100],
                "weights": weights[:300],
            },
        )

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Start the epoch's clocks and counters."""
        self._epoch_start = time.monotonic()
        self._train_end = self._epoch_start
        self._batches = 0
        self._images = 0

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        """Throttled progress; stop after this batch when a cancel was requested."""
        self._batches += 1
        self._images += int(batch[0].shape[0])
        self._train_end = time.monotonic()
        per_epoch = int(trainer.num_training_batches)
        epoch = trainer.current_epoch
        just_measured = self._measure(per_epoch)
        if trainer.is_global_zero:
            message = f"epoch {epoch + 1}/{self.info.epochs} · step {batch_idx + 1}/{per_epoch}"
            if just_measured:
                message += f" · {self.measured}"
            elif self._step_s is not None:
                message += f" · {self._step_s:.2g} s a step, {gb_text(self._memory())} in use"
            with self._uninterrupted():
                self.reporter.progress(
                    epoch * per_epoch + batch_idx + 1,
                    self.info.epochs * per_epoch,
                    message,
                    # the first step shows at once that training runs; the measurement too
                    force=not self._stepped or just_measured,
                )
            self._stepped = True
        self._check_cancel(trainer)

    def _measure(self, per_epoch: int) -> bool:
        """Time the first steps of the run; True right after the measurement is complete."""
        if self._step_s is not None:
            return False
        self._ends.append(self._train_end)
        if len(self._ends) < min(MEASURED_STEPS + 1, per_epoch):
            return False
        if len(self._ends) < 2:  # an epoch of one step: its duration says it all
            return False
        gaps = [b - a for a, b in zip(self._ends, self._ends[1:], strict=False)]
        self._step_s = sorted(gaps)[len(gaps) // 2]
        epoch_s = self._step_s * per_epoch
        memory = self._memory()
        text = (
            f"measured: {self._step_s:.2g} s a step, about {duration_text(epoch_s)} per epoch "
            f"of training steps, {gb_text(memory)} in use"
        )
        estimate = self.info.estimate
        if estimate is not None and estimate.peak_bytes is not None:
            guess = f"about {gb_text(estimate.peak_bytes)}"
            if estimate.epoch_s is not None:
                guess += f", {duration_text(estimate.epoch_s)} per epoch"
            text += f" (estimated {guess})"
        self.measured = text
        logger.info("%s", text)
        return True

    def _memory(self) -> int:
        """The job's peak memory (precise: the workers' proportional share), taken at most every
        :data:`MEMORY_EVERY_S` (it reads the workers' page tables)."""
        now = time.monotonic()
        if now - self._memory_at >= MEMORY_EVERY_S:
            self._memory_at = now
            self._peak_memory = max(self._peak_memory, job_peak_bytes(precise=True))
        return self._peak_memory

    def _uninterrupted(self) -> Any:
        """A block the guard's signal must not interrupt (an event or a checkpoint written)."""
        if self.guard is None:
            return contextlib.nullcontext()
        return self.guard.deferred()

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Progress while validating; a cancel stops a single-process run right away."""
        if trainer.sanity_checking:
            return
        per_epoch = int(trainer.num_training_batches)
        epoch = trainer.current_epoch
        total_val = trainer.num_val_batches[0] if trainer.num_val_batches else 0
        if trainer.is_global_zero:
            with self._uninterrupted():
                self.reporter.progress(
                    (epoch + 1) * per_epoch,
                    self.info.epochs * per_epoch,
                    f"epoch {epoch + 1}/{self.info.epochs} · "
                    f"validating {batch_idx + 1}/{total_val}",
                )
        if trainer.world_size == 1:
            if self.guard is not None and self.guard.stop_requested:
                self.cancelled = True
                self.guard.check()
            if self.reporter.cancel_requested():
                self.cancelled = True
                raise JobCancelledError("cancelled while validating")

    def _check_cancel(self, trainer: pl.Trainer) -> None:
        guard = self.guard
        if guard is not None and guard.stop_requested and trainer.world_size == 1:
            self.cancelled = True
            guard.check()  # raises the guard's stop (cancel, or memory running out)
        wanted = self.reporter.cancel_requested() or (guard is not None and guard.stop_requested)
        if trainer.world_size > 1:  # every process must stop at the same batch
            wanted = bool(trainer.strategy.reduce_boolean_decision(wanted, all=False))
        if wanted and not self.cancelled:
            logger.info("cancel requested: stopping after this batch")
            self.cancelled = True
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """After a whole epoch (validation included): figures, checkpoints, early stopping."""
        if self.cancelled or self._batches < int(trainer.num_training_batches):
            return  # a stopped epoch leaves the previous epoch's checkpoint as the last one
        assert isinstance(pl_module, TrainingModule)
        figures = pl_module.end_epoch()
        epoch = trainer.current_epoch + 1
        now = time.monotonic()
        train_s = max(1e-9, self._train_end - self._epoch_start)
        improved = figures.monitor is not None and better(
            figures.monitor, self.best_value, pl_module.monitor_mode
        )
        if improved:
            self.best_value = figures.monitor
            self.best_epoch = epoch
            self.bad_epochs = 0
        elif figures.monitor is not None:
            self.bad_epochs += 1
        self.epochs_completed = epoch
        pl_module.epochs_completed = epoch
        patience = self.info.patience
        stop_early = (
            patience is not None and self.bad_epochs >= patience and epoch < self.info.epochs
        )
        if trainer.is_global_zero:
            self._append(
                "EpochCompleted",
                {
                    "experiment_id": self.info.experiment_id,
                    "epoch": epoch,
                    "epochs": self.info.epochs,
                    "train_loss": figures.train_loss,
                    "val_loss": figures.val_loss,
                    "metrics": figures.metrics,
                    "lr": figures.lr,
                    "duration_s": round(now - self._epoch_start, 4),
                    "images_per_s": round(self._images * trainer.world_size / train_s, 2),
                },
            )
        targets = [self.info.last_path] + ([self.info.best_path] if improved else [])
        with self._uninterrupted():  # the files and the events that name them, together
            saved = self._save(trainer, targets)
            if saved is not None:
                self._announce(saved, "last", epoch, pl_module.monitor_name, figures.monitor)
                if improved:
                    self._announce(saved, "best", epoch, pl_module.monitor_name, figures.monitor)
        if stop_early:
            logger.info("early stopping: no improvement for %d epochs", self.bad_epochs)
            self.stopped_early = True
            trainer.should_stop = True

    def _append(self, type: str, data: dict[str, Any]) -> None:
        with self._uninterrupted():
            self.reporter.append(type, data)

    # ------------------------------------------------------------------ checkpoints
    def _save(self, trainer: pl.Trainer, targets: list[Path]) -> SavedFile | None:
        def write(path: Path) -> None:
            trainer.save_checkpoint(path, weights_only=False)  # the whole state, to resume

        if not trainer.is_global_zero:  # a collective call: only the first process writes
            write(targets[0].with_name(".unused"))
            return None
        return save_atomically(write, targets)

    def _announce(
        self, saved: SavedFile, which: str, epoch: int, metric: str, value: float | None
    ) -> None:
        self._append(
            "CheckpointSaved",
            {
                "experiment_id": self.info.experiment_id,
                "which": which,
                "epoch": epoch,
                "sha256": saved.sha256,
                "size_bytes": saved.size_bytes,
                "metric": metric if value is not None else None,
                "value": value if value is not None and math.isfinite(value) else None,
            },
        )
