"""The registry of tasks: which tasks can be trained, and their :class:`Task` objects.

Torch-free: the web process imports it to fill the training form and to validate commands.
A new task is one module defining a :class:`Task` instance, added to ``_TASKS`` below.
"""

from __future__ import annotations

from aistudio.tasks import (
    classification,
    detection,
    instance_segmentation,
    regression,
    segmentation,
)
from aistudio.tasks.base import Task
from events.schemas.common import TASKS

_TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        classification.TASK,
        regression.TASK,
        detection.TASK,
        instance_segmentation.TASK,
        segmentation.TASK,
    )
}


class TaskNotAvailableError(ValueError):
    """The task is one of AI Studio's tasks, but training for it is not implemented yet."""


def available_tasks() -> list[str]:
    """Names of the tasks that can be trained, in the order of ``events.schemas.common.TASKS``."""
    return [name for name in TASKS if name in _TASKS]


def get_task(name: str) -> Task:
    """The task ``name``.

    Raises:
        TaskNotAvailableError: ``name`` is a known task that cannot be trained yet.
        ValueError: ``name`` is no task at all.
    """
    task = _TASKS.get(name)
    if task is not None:
        return task
    available = ", ".join(available_tasks())
    if name in TASKS:
        raise TaskNotAvailableError(
            f"training for {name} is not available yet (available: {available})"
        )
    raise ValueError(f"unknown task {name!r}: choose one of {', '.join(TASKS)}")
