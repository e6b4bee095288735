"""The UI side of each task: what the pages show and do differently for it.

One module per task (:mod:`ui.tasks.classification`, :mod:`~ui.tasks.regression`,
:mod:`~ui.tasks.detection`, :mod:`~ui.tasks.instance_segmentation`,
:mod:`~ui.tasks.segmentation`), each a :class:`ui.tasks.base.UiTask` named ``TASK``;
:func:`ui_task` is the only way in, so no page or component asks which task it shows. A task
without a module of its own (anomaly detection, oriented boxes) gets the base class: its images
are browsed and their annotations drawn, it is not evaluated here yet.

Torch-free, like everything in the web process (the pages never import the training side of a
task, :mod:`aistudio.tasks`). The task modules are loaded on first use: they build on the page
components, which import this registry.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ui.tasks.base import UiTask

_MODULES: dict[str, str] = {
    "classification": "ui.tasks.classification",
    "regression": "ui.tasks.regression",
    "detection": "ui.tasks.detection",
    "instance_segmentation": "ui.tasks.instance_segmentation",
    "segmentation": "ui.tasks.segmentation",
}
"""task name -> the module whose ``TASK`` is its :class:`~ui.tasks.base.UiTask`."""


@cache
def ui_task(name: str) -> UiTask:
    """The UI side of task ``name`` (the base :class:`~ui.tasks.base.UiTask` for a task that
    has no module of its own)."""
    module = _MODULES.get(name)
    if module is not None:
        task: UiTask = importlib.import_module(module).TASK
        return task
    from ui.tasks.base import UiTask  # loaded on first use, as the task modules are

    return UiTask(name)


def evaluated_tasks() -> list[str]:
    """The tasks whose models the Evaluation page evaluates, in the registry's order."""
    return [name for name in _MODULES if ui_task(name).evaluates]
