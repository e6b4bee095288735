"""Pure folds from events to views, and the incremental projectors that keep them current.

One module per view (``project``, ``dataset``, ``splits``, ``jobs``, ``experiments``), each
with its ``projection`` (a :class:`Projection`), its view dataclass and
``rebuild(events, until_seq)``.
This package imports only :mod:`events` (never ``aistudio``, ``ui`` or torch).
"""

from __future__ import annotations

from projections import dataset, evaluations, experiments, exports, jobs, project, splits
from projections.base import Projection, SharedContainers, View
from projections.catalog import ALL_PROJECTIONS
from projections.dataset import UNLABELED, DatasetView, ImageEntry, ImportSummary
from projections.dataset import projection as dataset_projection
from projections.dataset import rebuild as rebuild_dataset
from projections.evaluations import EvaluationEntry, EvaluationsView, FileInfo
from projections.evaluations import rebuild as rebuild_evaluations
from projections.experiments import (
    CheckpointInfo,
    EpochRecord,
    ExperimentEntry,
    ExperimentsView,
)
from projections.experiments import projection as experiments_projection
from projections.experiments import rebuild as rebuild_experiments
from projections.exports import ExportEntry, ExportsView, ValidationInfo
from projections.exports import rebuild as rebuild_exports
from projections.jobs import JobEntry, JobsView
from projections.jobs import projection as jobs_projection
from projections.jobs import rebuild as rebuild_jobs
from projections.project import ProjectView
from projections.project import projection as project_projection
from projections.project import rebuild as rebuild_project
from projections.project_list import project_list
from projections.projector import ProjectProjector, WorkspaceProjector
from projections.serialize import to_jsonable
from projections.splits import SplitEntry, SplitsView
from projections.splits import projection as splits_projection
from projections.splits import rebuild as rebuild_splits

__all__ = [
    "ALL_PROJECTIONS",
    "UNLABELED",
    "CheckpointInfo",
    "DatasetView",
    "EpochRecord",
    "EvaluationEntry",
    "EvaluationsView",
    "ExperimentEntry",
    "ExperimentsView",
    "ExportEntry",
    "ExportsView",
    "FileInfo",
    "ImageEntry",
    "ImportSummary",
    "JobEntry",
    "JobsView",
    "ProjectProjector",
    "ProjectView",
    "Projection",
    "SharedContainers",
    "SplitEntry",
    "SplitsView",
    "ValidationInfo",
    "View",
    "WorkspaceProjector",
    "dataset",
    "dataset_projection",
    "evaluations",
    "experiments",
    "experiments_projection",
    "exports",
    "jobs",
    "jobs_projection",
    "project",
    "project_list",
    "project_projection",
    "rebuild_dataset",
    "rebuild_evaluations",
    "rebuild_experiments",
    "rebuild_exports",
    "rebuild_jobs",
    "rebuild_project",
    "rebuild_splits",
    "splits",
    "splits_projection",
    "to_jsonable",
]
