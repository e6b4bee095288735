"""Which job handler runs which command. A new command is one line here."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from aistudio.worker.context import JobContext, JobResult

JobHandler = Callable[[JobContext], JobResult]

HANDLERS: dict[str, str] = {
    "ImportRequested": "aistudio.datasets.importer:run_import",
    "TrainingRequested": "aistudio.training.job:run_training",
    "EvaluationRequested": "aistudio.evaluation.job:run_evaluation",
    "ExportRequested": "aistudio.export.job:run_export",
}


def handled_commands() -> frozenset[str]:
    """The command types a worker runs as jobs."""
    return frozenset(HANDLERS)


def resolve_handler(command_type: str) -> JobHandler:
    """The handler function for ``command_type``; KeyError when there is none."""
    module_name, func_name = HANDLERS[command_type].split(":")
    handler: JobHandler = getattr(importlib.import_module(module_name), func_name)
    return handler
