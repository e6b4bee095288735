"""The task registry: one module per task; the pipeline and the UI ask the registry, never ``if``.

Importing this package is torch-free (task modules import torch only inside their methods).
"""

from __future__ import annotations

from aistudio.tasks.base import ModelSpec, TargetInfo, Task, TaskInputError, TaskOptions
from aistudio.tasks.registry import TaskNotAvailableError, available_tasks, get_task

__all__ = [
    "ModelSpec",
    "TargetInfo",
    "Task",
    "TaskInputError",
    "TaskNotAvailableError",
    "TaskOptions",
    "available_tasks",
    "get_task",
]
