"""Validate a command or user action and append it: the only way the UI, the CLI and scripts write.

Every function checks its input against the project's current state and raises
:class:`CommandError` with a one-line reason, appending nothing, when it cannot be done.
This module is torch-free: the web process imports it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from aistudio.workspace import Workspace, WorkspaceError, new_id
from events import (
    ConcurrencyError,
    Event,
    EventLog,
    EventLogError,
    InvalidEventError,
    LogCorruptedError,
    UnknownEventTypeError,
    registry,
)
from events.schemas.common import TASKS
from projections import project as project_projection
from projections.dataset import DatasetView
from projections.dataset import rebuild as rebuild_dataset
from projections.project import ProjectView

logger = logging.getLogger(__name__)

IMPORT_FORMATS: tuple[str, ...] = ("auto", "imagefolder", "csv")

# Events only jobs and workers append; scripts may not submit them.
_JOB_ONLY_TYPES = frozenset(
    {
        "ProjectCreated",
        "JobClaimed",
        "JobStarted",
        "JobProgress",
        "JobSucceeded",
        "JobFailed",
        "JobCancelled",
        "ImagesAdded",
        "ClassesDefined",
        "ImportSkipped",
        "ImportCompleted",
    }
)


class CommandError(ValueError):
    """The command is refused; the message is one line for the user."""


# ---------------------------------------------------------------------- projects
def project_views(workspace: Workspace) -> dict[str, ProjectView]:
    """Every readable project's view (deleted ones included), by id.

    A project whose log is damaged is left out (with a warning), so that it cannot stop work
    on the others; ``aistudio verify`` names the damage.
    """
    views: dict[str, ProjectView] = {}
    for project_id in workspace.project_ids():
        try:
            views[project_id] = project_projection.rebuild(_log(workspace, project_id).read())
        except LogCorruptedError as exc:
            logger.warning("skipping project %s: %s", project_id, exc)
    return views


def resolve_project(workspace: Workspace, ref: str) -> str:
    """The id of the live project ``ref`` names (an id or a unique name)."""
    if ref in workspace.project_ids():
        try:
            deleted = project_projection.rebuild(_log(workspace, ref).read()).deleted
        except LogCorruptedError:
            return ref  # damaged: let the caller (verify, events) report it
        if not deleted:
            return ref
        raise CommandError(f"project {ref} was deleted")
    views = {pid: v for pid, v in project_views(workspace).items() if not v.deleted}
    matches = [pid for pid, view in views.items() if view.name == ref]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise CommandError(f"several projects are named {ref!r}: use an id ({', '.join(matches)})")
    raise CommandError(f"no project {ref!r}: see `aistudio project list`")


def create_project(
    workspace: Workspace, name: str, task: str, description: str = "", actor: str = "cli"
) -> Event:
    """Create a project: a new folder whose log starts with ``ProjectCreated``."""
    if task not in TASKS:
        raise CommandError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    clean = name.strip()
    live = [v for v in project_views(workspace).values() if not v.deleted]
    if any(v.name.casefold() == clean.casefold() for v in live):
        raise CommandError(f"a project named {clean!r} already exists")
    project_id = new_id("proj", taken=lambda pid: workspace.project_dir(pid).exists())
    data = {"project_id": project_id, "name": name, "task": task, "description": description}
    _validate("ProjectCreated", data)
    workspace.project_dir(project_id).mkdir(parents=True)
    return _append(workspace, project_id, "ProjectCreated", data, actor, expected_seq=0)


def rename_project(workspace: Workspace, project_id: str, name: str, actor: str = "cli") -> Event:
    """Give a project a new (unique) name."""
    clean = name.strip()
    others = [
        v for pid, v in project_views(workspace).items() if not v.deleted and pid != project_id
    ]
    if any(v.name.casefold() == clean.casefold() for v in others):
        raise CommandError(f"a project named {clean!r} already exists")
    return _append(workspace, project_id, "ProjectRenamed", {"name": name}, actor)


def delete_project(workspace: Workspace, project_id: str, actor: str = "cli") -> Event:
    """Delete a project: it leaves the project list; its log and files are kept."""
    return _append(workspace, project_id, "ProjectDeleted", {}, actor)


def project_task(workspace: Workspace, project_id: str) -> str:
    """The task of a project, from its ``ProjectCreated``."""
    log = _log(workspace, project_id)
    for event in log.read(until_seq=1):
        if event.type == "ProjectCreated":
            return str(event.data["task"])
    raise CommandError(f"project {project_id} has no ProjectCreated event")


# ---------------------------------------------------------------------- dataset
def request_import(
    workspace: Workspace,
    project_id: str,
    source: str | os.PathLike[str],
    fmt: str = "auto",
    options: dict[str, Any] | None = None,
    actor: str = "cli",
) -> Event:
    """Append ``ImportRequested`` after checking that the source exists on this machine."""
    if fmt not in IMPORT_FORMATS:
        raise CommandError(f"unknown format {fmt!r}: choose one of {', '.join(IMPORT_FORMATS)}")
    path = Path(source).expanduser()
    try:
        resolved = path.resolve(strict=True)
    except (FileNotFoundError, RuntimeError, OSError):
        raise CommandError(f"source {str(source)!r} does not exist") from None
    if not os.access(resolved, os.R_OK):
        raise CommandError(f"source {str(resolved)!r} is not readable")
    data = {"source": str(resolved), "format": fmt, "options": options or {}}
    return _append(workspace, project_id, "ImportRequested", data, actor)


def change_label(
    workspace: Workspace,
    project_id: str,
    image_id: str,
    label: str | None = None,
    value: float | None = None,
    actor: str = "cli",
    dataset: DatasetView | None = None,
) -> Event:
    """Change one image's label (classification) or value (regression).

    ``dataset`` is the current dataset view when the caller has one (the web app's projector);
    otherwise it is rebuilt from the log.
    """
    view = dataset if dataset is not None else dataset_view(workspace, project_id)
    if image_id not in view.images:
        raise CommandError(f"no image {image_id!r} in this project")
    data: dict[str, Any] = {"image_id": image_id, "label": label, "value": value}
    return _append(workspace, project_id, "LabelChanged", data, actor)


def remove_image(
    workspace: Workspace,
    project_id: str,
    image_id: str,
    actor: str = "cli",
    dataset: DatasetView | None = None,
) -> Event:
    """Remove one image from the dataset (``dataset``: the current view, if the caller has it)."""
    view = dataset if dataset is not None else dataset_view(workspace, project_id)
    if image_id not in view.images:
        raise CommandError(f"no image {image_id!r} in this project")
    return _append(workspace, project_id, "ImageRemoved", {"image_id": image_id}, actor)


def dataset_view(workspace: Workspace, project_id: str) -> DatasetView:
    """The project's dataset view, rebuilt from its log."""
    return rebuild_dataset(_log(workspace, project_id).read())


def events_of(workspace: Workspace, project_id: str) -> list[Event]:
    """Every committed event of a project's log."""
    return list(_log(workspace, project_id).read())


# ---------------------------------------------------------------------- splits
def create_split(
    workspace: Workspace,
    project_id: str,
    name: str = "default",
    train: float = 0.7,
    val: float = 0.15,
    test: float = 0.15,
    seed: int = 0,
    stratify: bool = True,
    actor: str = "cli",
    dataset: DatasetView | None = None,
) -> Event:
    """Assign every image to a subset and append ``SplitCreated``.

    The assignment is computed from the dataset as it is at the log's last seq, and the append
    insists on that seq (``expected_seq``), so the split always matches a known dataset state.
    ``dataset`` may be given as the caller's current view (used first; rebuilt on a conflict).
    """
    from aistudio.datasets.splits import SplitError, assign_subsets  # scikit-learn: lazy

    log = _log(workspace, project_id)
    for attempt in range(5):
        view = dataset if (dataset is not None and attempt == 0) else rebuild_dataset(log.read())
        if name.strip() in view.splits:
            raise CommandError(f"a split named {name.strip()!r} already exists: delete it first")
        try:
            assignments = assign_subsets(view, train, val, test, seed, stratify)
        except SplitError as exc:
            raise CommandError(str(exc)) from None
        data = {
            "name": name,
            "ratios": {"train": train, "val": val, "test": test},
            "seed": seed,
            "stratify": stratify,
            "dataset_seq": view.seq,
            "assignments": assignments,
        }
        try:
            return _append(
                workspace, project_id, "SplitCreated", data, actor, expected_seq=view.seq
            )
        except ConcurrencyError:
            continue
    raise CommandError("the dataset kept changing while the split was computed; try again")


def preview_split(
    dataset: DatasetView,
    train: float,
    val: float,
    test: float,
    seed: int = 0,
    stratify: bool = True,
) -> dict[str, dict[str, int]]:
    """What a split would look like, appending nothing: ``{subset: {class: images}}``.

    Images without a label are counted under ``"(unlabeled)"``.
    """
    from aistudio.datasets.splits import SplitError, assign_subsets  # scikit-learn: lazy

    try:
        assignments = assign_subsets(dataset, train, val, test, seed, stratify)
    except SplitError as exc:
        raise CommandError(str(exc)) from None
    counts: dict[str, dict[str, int]] = {}
    for subset, ids in assignments.items():
        per_class: dict[str, int] = dict.fromkeys(dataset.classes, 0)
        for image_id in ids:
            label = dataset.images[image_id].label or "(unlabeled)"
            per_class[label] = per_class.get(label, 0) + 1
        counts[subset] = per_class
    return counts


def delete_split(
    workspace: Workspace,
    project_id: str,
    name: str,
    actor: str = "cli",
    dataset: DatasetView | None = None,
) -> Event:
    """Delete a named split (``dataset``: the current view, if the caller has it)."""
    view = dataset if dataset is not None else dataset_view(workspace, project_id)
    if name not in view.splits:
        raise CommandError(f"no split named {name!r}")
    return _append(workspace, project_id, "SplitDeleted", {"name": name}, actor)


# ---------------------------------------------------------------------- jobs
def request_cancel(workspace: Workspace, project_id: str, job_id: str, actor: str = "cli") -> Event:
    """Ask the job ``job_id`` to stop."""
    from projections.jobs import rebuild as rebuild_jobs

    jobs = rebuild_jobs(_log(workspace, project_id).read())
    job = jobs.get(job_id)
    if job is None:
        raise CommandError(f"no job {job_id!r} in this project")
    if job.status in ("succeeded", "failed", "cancelled"):
        raise CommandError(f"job {job_id} has already ended ({job.status})")
    return _append(workspace, project_id, "CancelRequested", {"job_id": job_id}, actor)


def submit(
    workspace: Workspace, project_id: str, event_type: str, data: Any, actor: str = "script"
) -> Event:
    """Append any command or user action, validated like the dedicated functions."""
    if event_type not in registry:
        raise CommandError(f"unknown event type {event_type!r}")
    if event_type in _JOB_ONLY_TYPES:
        raise CommandError(f"{event_type} is appended by jobs and workers, not submitted")
    if not isinstance(data, dict):
        raise CommandError("data must be a JSON object")
    if event_type == "ImportRequested":
        return request_import(
            workspace,
            project_id,
            str(data.get("source", "")),
            str(data.get("format", "auto")),
            data.get("options") if isinstance(data.get("options"), dict) else None,
            actor,
        )
    if event_type == "CancelRequested":
        return request_cancel(workspace, project_id, str(data.get("job_id", "")), actor)
    if event_type == "SplitCreated":
        raise CommandError("create splits with `aistudio split` (it computes the assignment)")
    return _append(workspace, project_id, event_type, data, actor)


# ---------------------------------------------------------------------- helpers
def _log(workspace: Workspace, project_id: str) -> EventLog:
    try:
        path = workspace.events_path(project_id)
    except WorkspaceError as exc:
        raise CommandError(str(exc)) from None
    return EventLog(path)


def _validate(event_type: str, data: dict[str, Any]) -> None:
    try:
        registry.validate(event_type, data)
    except (InvalidEventError, UnknownEventTypeError) as exc:
        raise CommandError(str(exc)) from None


def _append(
    workspace: Workspace,
    project_id: str,
    event_type: str,
    data: dict[str, Any],
    actor: str,
    expected_seq: int | None = None,
) -> Event:
    log = _log(workspace, project_id)
    if expected_seq != 0 and not log.path.exists():
        raise CommandError(f"no project {project_id!r}")
    try:
        return log.append(event_type, data, actor=actor, expected_seq=expected_seq)
    except ConcurrencyError:
        raise
    except (InvalidEventError, UnknownEventTypeError) as exc:
        raise CommandError(str(exc)) from None
    except EventLogError as exc:
        raise CommandError(f"could not append to the log: {exc}") from None
