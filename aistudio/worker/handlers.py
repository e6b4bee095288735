"""Which job handler runs which command, and what to tidy after one that died. A new command is
one line here."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from aistudio.worker.context import JobContext, JobResult
from aistudio.workspace import Workspace

JobHandler = Callable[[JobContext], JobResult]
AfterDeath = Callable[[Workspace, str], None]

HANDLERS: dict[str, str] = {
    "ImportRequested": "aistudio.datasets.importer:run_import",
    "TrainingRequested": "aistudio.training.job:run_training",
    "EvaluationRequested": "aistudio.evaluation.job:run_evaluation",
    "ExportRequested": "aistudio.export.job:run_export",
}

WAIT_FOR_WARM: frozenset[str] = frozenset(
    {"TrainingRequested", "EvaluationRequested", "ExportRequested"}
)
"""Commands whose handlers import torch and Lightning: a cold start of one costs about as much as
the warm runner's own start (the same imports), which began earlier, so while the warm runner is
starting they wait for it (:mod:`aistudio.worker.warm`). Others (an import needs neither) start
cold meanwhile."""

AFTER_DEATH: dict[str, str] = {
    "ImportRequested": "aistudio.datasets.orphans:sweep_after_lost_import",
}
"""What to tidy when a job of this type ended without reporting its end (its process was killed
or crashed, or its worker was lost): ``func(workspace, project_id)``, called by the worker right
after it appended the job's ``JobFailed``. Torch-free: it runs in the worker."""


def handled_commands() -> frozenset[str]:
    """The command types a worker runs as jobs."""
    return frozenset(HANDLERS)


def resolve_handler(command_type: str) -> JobHandler:
    """The handler function for ``command_type``; KeyError when there is none."""
    handler: JobHandler = _load(HANDLERS[command_type])
    return handler


def resolve_after_death(command_type: str) -> AfterDeath | None:
    """The tidy-up for a dead job of ``command_type``; None when it needs none."""
    target = AFTER_DEATH.get(command_type)
    if target is None:
        return None
    after: AfterDeath = _load(target)
    return after


def _load(target: str) -> Any:
    """The function named ``module:function``, imported on first use (torch stays out of the
    worker until a job needs it)."""
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)
