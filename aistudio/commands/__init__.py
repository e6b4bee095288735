"""Validate a command or user action and append it: the one path of every writer.

The web pages, the CLI, ``aistudio submit`` and scripts all go through these functions; each
checks its input against the project's current state and raises :class:`CommandError` with a
one-line reason, appending nothing, when it cannot be done. One module per area; the rules of
every event type a writer may submit are in :mod:`aistudio.commands.rules`, and the worker
re-checks a command it claims with :func:`recheck`. Torch-free: the web process imports it.
"""

from __future__ import annotations

from aistudio.commands.annotations import change_annotation
from aistudio.commands.base import CommandError, events_of, file_sha256, project_task
from aistudio.commands.datasets import (
    IMPORT_FORMAT_INFO,
    IMPORT_FORMATS,
    change_label,
    dataset_view,
    remove_image,
    request_import,
)
from aistudio.commands.evaluation import (
    EVALUATION_SUBSETS,
    load_evaluation,
    request_evaluation,
    reset_evaluation,
    set_threshold,
)
from aistudio.commands.export import (
    EXPORT_SUFFIXES,
    export_download_name,
    export_file,
    request_export,
)
from aistudio.commands.jobs import request_cancel
from aistudio.commands.model_views import CHECKPOINTS, ModelViews, evaluations_view, exports_view
from aistudio.commands.projects import (
    create_project,
    delete_project,
    project_views,
    rename_project,
    resolve_project,
    scan_projects,
    set_aside_reason,
)
from aistudio.commands.rules import recheck, submit
from aistudio.commands.splits import create_split, delete_split, preview_split
from aistudio.commands.training import (
    MIN_TRAIN_IMAGES,
    TRAINING_NOTE_NO_VAL,
    TaskTrainingInfo,
    TrainingConfigError,
    TrainingPlan,
    cancel_training,
    check_training,
    default_training_config,
    experiments_view,
    request_training,
    rerun_experiment,
    resolve_experiment,
    resource_check,
    suggest_experiment_name,
    trainable_tasks,
    training_info,
)
from aistudio.tasks.base import ModelSpec

__all__ = [
    "CHECKPOINTS",
    "EVALUATION_SUBSETS",
    "EXPORT_SUFFIXES",
    "IMPORT_FORMATS",
    "IMPORT_FORMAT_INFO",
    "MIN_TRAIN_IMAGES",
    "TRAINING_NOTE_NO_VAL",
    "CommandError",
    "ModelSpec",
    "ModelViews",
    "TaskTrainingInfo",
    "TrainingConfigError",
    "TrainingPlan",
    "cancel_training",
    "change_annotation",
    "change_label",
    "check_training",
    "create_project",
    "create_split",
    "dataset_view",
    "default_training_config",
    "delete_project",
    "delete_split",
    "evaluations_view",
    "events_of",
    "experiments_view",
    "export_download_name",
    "export_file",
    "exports_view",
    "file_sha256",
    "load_evaluation",
    "preview_split",
    "project_task",
    "project_views",
    "recheck",
    "remove_image",
    "rename_project",
    "request_cancel",
    "request_evaluation",
    "request_export",
    "request_import",
    "request_training",
    "rerun_experiment",
    "reset_evaluation",
    "resolve_experiment",
    "resolve_project",
    "resource_check",
    "scan_projects",
    "set_aside_reason",
    "set_threshold",
    "submit",
    "suggest_experiment_name",
    "trainable_tasks",
    "training_info",
]
