"""The generic LightningModule: model, loss and metrics of the task; optimizer and schedule.

Nothing here knows which task it trains: the network comes from ``task.build_model``, the losses
of a batch (a dict, as torchvision's detection models return; their sum is minimised) from
``task.training_losses``, and the metrics of the whole validation pass from the task's
evaluator, which accumulates it batch by batch (``task.evaluator``).

The learning rate is set before every optimizer step from :func:`lr_factor`, a pure function of
the step: linear warm-up over ``warmup_epochs``, then constant (``none``), multiplied by
``gamma`` every ``step_size`` epochs (``step``), a cosine decay to zero at the last epoch
(``cosine``), or multiplied by ``gamma`` after ``step_size`` epochs without improvement of the
monitored figure (``plateau``). A resumed run with more epochs stretches the cosine to the new end.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch

from aistudio.tasks.base import TargetInfo, Task, TaskInputError, TaskOptions
from aistudio.training.data import IMAGENET_MEAN, IMAGENET_STD, to_model_input
from events.schemas.training import TrainingConfig

logger = logging.getLogger(__name__)

CHECKPOINT_KEY = "aistudio"
"""Key of AI Studio's own metadata in a Lightning checkpoint (plain types only)."""
CHECKPOINT_FORMAT = 1


class DivergedError(TaskInputError):
    """The training loss stopped being a finite number (the job reports it as bad input)."""


def lr_factor(
    step: int,
    steps_per_epoch: int,
    epochs: int,
    scheduler: str,
    warmup_epochs: int = 0,
    step_size: int = 10,
    gamma: float = 0.1,
    plateau_factor: float = 1.0,
) -> float:
    """The multiplier of the base learning rate at optimizer step ``step`` (0-based).

    Args:
        step: optimizer steps taken before this one.
        steps_per_epoch: optimizer steps per epoch.
        epochs: the run's number of epochs.
        scheduler: ``none``, ``step``, ``cosine`` or ``plateau``.
        warmup_epochs: epochs of linear warm-up from almost 0 to the base rate.
        step_size: ``step``: epochs between decays; ``plateau``: epochs without improvement.
        gamma: decay factor of ``step`` and ``plateau``.
        plateau_factor: the decay ``plateau`` has reached so far.
    """
    per_epoch = max(1, steps_per_epoch)
    warmup_steps = warmup_epochs * per_epoch
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if scheduler == "step":
        return float(gamma ** ((step // per_epoch) // max(1, step_size)))
    if scheduler == "cosine":
        span = max(1, epochs * per_epoch - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if scheduler == "plateau":
        return plateau_factor
    return 1.0


@dataclass
class EpochFigures:
    """What one finished epoch measured (the same on every process of a DDP run)."""

    train_loss: float
    val_loss: float | None
    metrics: dict[str, float]
    lr: float
    monitor: float | None
    """The value of the monitored figure (primary metric, else train loss)."""


def better(value: float, best: float | None, mode: str) -> bool:
    """Whether ``value`` improves on ``best`` (``mode``: ``max`` or ``min``)."""
    if best is None:
        return True
    return value > best if mode == "max" else value < best


class TrainingModule(pl.LightningModule):
    """Trains ``task``'s network for ``config``.

    Args:
        task: the task (model, targets, loss, metrics).
        config: the run's configuration.
        info: the train subset's target information (classes; value mean and std).
        options: the task's parsed options.
        class_counts: train images per class (in ``info.classes`` order), for class weights.
        has_val: whether there is a validation subset (else the train loss is monitored).
        pretrained: ask the task for pretrained weights (False when resuming a checkpoint).
        experiment_id: stored in the checkpoint's metadata.
    """

    def __init__(
        self,
        task: Task,
        config: TrainingConfig,
        info: TargetInfo,
        options: TaskOptions,
        class_counts: list[int],
        has_val: bool = True,
        pretrained: bool | None = None,
        experiment_id: str = "",
    ) -> None:
        super().__init__()
        self.task = task
        self.config = config
        self.info = info
        self.experiment_id = experiment_id
        use_pretrained = config.pretrained if pretrained is None else pretrained
        self.options = options
        self.model, self.weights = task.build_model(
            config.model, info, use_pretrained, config.image_size
        )
        self.criterion = task.loss_fn(options, info, class_counts)
        self.has_val = has_val
        self.monitor_name = task.primary_metric if has_val else "train_loss"
        self.monitor_mode = task.metric_mode if has_val else "min"
        self.plateau_factor = 1.0
        self._plateau_best: float | None = None
        self._plateau_bad = 0
        self.epochs_completed = 0
        """Epochs finished; set by the event callback before it saves a checkpoint."""
        self.original_weights = self.weights
        """The weights sentence of the run that started the experiment (kept across resumes)."""
        self._train_loss_sum = torch.zeros(())
        self._train_count = torch.zeros(())
        self._val_loss_sum = torch.zeros(())
        self._val_count = torch.zeros(())
        self._val_loss_count = torch.zeros(())
        self._evaluator = task.evaluator(info, options)
        self._val_figures: tuple[float | None, dict[str, float]] = (None, {})

    @property
    def parameters_count(self) -> int:
        """Number of parameters of the network."""
        return sum(p.numel() for p in self.model.parameters())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Outputs for a ``uint8`` image batch."""
        return self.model(to_model_input(images))

    # ------------------------------------------------------------------ optimizer
    def configure_optimizers(self) -> torch.optim.Optimizer:
        """SGD (with momentum), Adam or AdamW with the config's rate and weight decay."""
        cfg = self.config
        params = [p for p in self.parameters() if p.requires_grad]
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(
                params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
            )
        if cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def current_lr(self) -> float:
        """The learning rate of the last (or next) step."""
        return float(self.config.lr * self._factor(max(0, self.global_step - 1)))

    def _factor(self, step: int) -> float:
        cfg = self.config
        return lr_factor(
            step,
            int(self.trainer.num_training_batches),
            cfg.epochs,
            cfg.scheduler,
            cfg.warmup_epochs,
            cfg.step_size,
            cfg.gamma,
            self.plateau_factor,
        )

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        """Set the learning rate of the coming step."""
        lr = self.config.lr * self._factor(self.global_step)
        optimizer = self.optimizers()
        for group in optimizer.param_groups:  # type: ignore[union-attr]
            group["lr"] = lr

    # ------------------------------------------------------------------ training
    def on_train_epoch_start(self) -> None:
        """Reset the epoch's loss sums."""
        self._train_loss_sum = torch.zeros((), device=self.device)
        self._train_count = torch.zeros((), device=self.device)

    def training_step(self, batch: tuple[torch.Tensor, Any], batch_idx: int) -> Any:
        """One batch: the task's losses, their sum minimised (summed for the epoch without a
        device sync)."""
        images, targets = batch
        losses = self.task.training_losses(
            self.model, self.criterion, to_model_input(images), targets
        )
        loss = sum(losses.values()) if len(losses) > 1 else next(iter(losses.values()))
        n = images.shape[0]
        self._train_loss_sum += loss.detach().float() * n
        self._train_count += n
        return loss

    # ------------------------------------------------------------------ validation
    def on_validation_epoch_start(self) -> None:
        """Reset what the validation pass collects."""
        self._val_loss_sum = torch.zeros((), device=self.device)
        self._val_count = torch.zeros((), device=self.device)
        self._val_loss_count = torch.zeros((), device=self.device)
        self._evaluator = self.task.evaluator(self.info, self.options)

    def validation_step(self, batch: tuple[torch.Tensor, Any], batch_idx: int) -> None:
        """One batch: its loss summed, its outputs handed to the evaluator."""
        images, targets = batch
        losses, outputs = self.task.validation_batch(
            self.model, self.criterion, to_model_input(images), targets, self.options
        )
        n = images.shape[0]
        if losses is not None:
            loss = sum(losses.values()) if len(losses) > 1 else next(iter(losses.values()))
            self._val_loss_sum += loss.detach().float() * n
            self._val_loss_count += n
        self._val_count += n
        self._evaluator.update(outputs, targets)

    def on_validation_epoch_end(self) -> None:
        """Metrics of the whole validation pass (gathered from every device)."""
        if int(self._val_count) == 0 and self.trainer.world_size == 1:
            self._val_figures = (None, {})
            return
        loss_sum, count = self._val_loss_sum, self._val_loss_count
        if self.trainer.world_size > 1:
            self._evaluator.gather(self)
            loss_sum = self.trainer.strategy.reduce(loss_sum, reduce_op="sum")
            count = self.trainer.strategy.reduce(count, reduce_op="sum")
        result = self._evaluator.compute()
        val_loss = float(loss_sum / count) if float(count) > 0 else None
        values = {} if result is None else {k: v for k, v in result.values.items()}
        self._val_figures = (
            val_loss,
            {k: float(v) for k, v in values.items() if v is not None},
        )
        self._evaluator = self.task.evaluator(self.info, self.options)

    # ------------------------------------------------------------------ epoch end
    def end_epoch(self) -> EpochFigures:
        """The finished epoch's figures; updates the plateau schedule. Called once per epoch.

        Raises:
            DivergedError: the train loss is not a finite number.
        """
        loss_sum, count = self._train_loss_sum, self._train_count
        if self.trainer.world_size > 1:
            loss_sum = self.trainer.strategy.reduce(loss_sum, reduce_op="sum")
            count = self.trainer.strategy.reduce(count, reduce_op="sum")
        train_loss = float(loss_sum / count.clamp(min=1))
        if not math.isfinite(train_loss):
            raise DivergedError(
                f"the training loss became {train_loss} in epoch {self.current_epoch + 1}: "
                f"lower the learning rate (lr {self.config.lr:g}) or check the targets"
            )
        val_loss, metrics = self._val_figures if self.has_val else (None, {})
        self._val_figures = (None, {})
        metrics = {k: v for k, v in metrics.items() if math.isfinite(v)}
        if val_loss is not None and not math.isfinite(val_loss):
            val_loss = None
        monitor = train_loss if not self.has_val else metrics.get(self.monitor_name)
        lr = self.current_lr()
        if self.config.scheduler == "plateau" and monitor is not None:
            self._update_plateau(monitor)
        return EpochFigures(train_loss, val_loss, metrics, lr, monitor)

    def _update_plateau(self, value: float) -> None:
        if better(value, self._plateau_best, self.monitor_mode):
            self._plateau_best = value
            self._plateau_bad = 0
            return
        self._plateau_bad += 1
        if self._plateau_bad >= self.config.step_size:
            self.plateau_factor *= self.config.gamma
            self._plateau_bad = 0
            logger.info("plateau: learning rate x%g", self.config.gamma)

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store what evaluation, export and resume need, as plain types."""
        checkpoint[CHECKPOINT_KEY] = {
            "format": CHECKPOINT_FORMAT,
            "task": self.task.name,
            "experiment_id": self.experiment_id,
            "model": self.config.model,
            "image_size": self.config.image_size,
            "config": self.config.model_dump(mode="json"),
            "target_info": {
                "classes": list(self.info.classes),
                "mean": float(self.info.mean),
                "std": float(self.info.std),
            },
            "normalize": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
            "input": "uint8 RGB, resized to image_size x image_size, then normalised",
            "epochs_completed": self.epochs_completed,
            "weights": self.original_weights,
            "monitor": {"name": self.monitor_name, "mode": self.monitor_mode},
            "plateau": {
                "factor": self.plateau_factor,
                "best": self._plateau_best,
                "bad": self._plateau_bad,
            },
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the schedule state and the original weights sentence of a resumed run."""
        meta = checkpoint.get(CHECKPOINT_KEY, {})
        plateau = meta.get("plateau", {})
        self.plateau_factor = float(plateau.get("factor", 1.0))
        best = plateau.get("best")
        self._plateau_best = None if best is None else float(best)
        self._plateau_bad = int(plateau.get("bad", 0))
        self.epochs_completed = int(meta.get("epochs_completed", 0))
        self.original_weights = str(meta.get("weights", self.original_weights))
