"""The training configuration checked against a task, with one-line errors. Torch-free.

``TrainingConfig`` (``events.schemas.training``) checks what any task accepts; this module adds
what depends on the task: the model exists, the image size suits it, the task's own options are
valid. The web process and :mod:`aistudio.commands` may use it (it imports no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from events.schemas.training import Augmentations, TrainingConfig
from events.validation import describe

if TYPE_CHECKING:
    from aistudio.tasks.base import Task, TaskOptions


class ConfigError(ValueError):
    """The training configuration is invalid; the message is one line for the user."""


def describe_validation_error(
    exc: ValidationError, prefix: str = "", model: type[BaseModel] | None = None
) -> str:
    """One line naming each invalid field and why, in words (:func:`events.validation.describe`;
    with ``model``, a number out of range states both limits of its field)."""
    return describe(exc, prefix, model)


def parse_config(data: Any) -> TrainingConfig:
    """``data`` validated as a :class:`TrainingConfig` (ConfigError otherwise)."""
    if isinstance(data, TrainingConfig):
        return data
    if not isinstance(data, dict):
        raise ConfigError("the training config must be a JSON object")
    try:
        return TrainingConfig.model_validate(data)
    except ValidationError as exc:
        detail = describe_validation_error(exc, model=TrainingConfig)
        raise ConfigError(f"invalid training config: {detail}") from None


def check_config(task: Task, config: TrainingConfig) -> TaskOptions:
    """Check ``config`` against ``task``; returns the task's parsed options.

    Raises:
        ConfigError: unknown model, an image size below what the model works at, or invalid
            task options (each with a one-line reason).
    """
    try:
        spec = task.model_spec(config.model)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if config.image_size < spec.min_image_size:
        raise ConfigError(
            f"{spec.title} needs images of at least {spec.min_image_size} px "
            f"(image_size is {config.image_size})" + (f": {spec.note}" if spec.note else "")
        )
    try:
        return task.validate_options(config.task_options)
    except ValidationError as exc:
        detail = describe_validation_error(exc, "task_options.", task.options_model)
        raise ConfigError(f"invalid options for {task.name}: {detail}") from None


def augmentations_of(task: Task, config: TrainingConfig) -> Augmentations:
    """The augmentations a run uses: the config's, else the task's defaults."""
    if config.augmentations is not None:
        return config.augmentations
    return Augmentations.model_validate(dict(task.default_augmentations))


def schedule_summary(config: TrainingConfig) -> str:
    """A short description of the schedule, for logs (``adamw lr 0.001, cosine, 2 warm-up``)."""
    warmup = f", {config.warmup_epochs} warm-up epochs" if config.warmup_epochs else ""
    return f"{config.optimizer} lr {config.lr:g}, scheduler {config.scheduler}{warmup}"
