"""Validate a command or user action and append it: the only way the UI, the CLI and scripts write.

Every function checks its input against the project's current state and raises
:class:`CommandError` with a one-line reason, appending nothing, when it cannot be done.
This module is torch-free: the web process imports it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import ValidationError

from aistudio.tasks.base import ModelSpec, TaskInputError
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
from events.schemas.export import EXPORT_FORMATS, ExportOptions
from events.validation import error_place, error_words
from projections import project as project_projection
from projections.dataset import DatasetView
from projections.dataset import rebuild as rebuild_dataset
from projections.evaluations import EvaluationEntry, EvaluationsView, FileInfo
from projections.evaluations import rebuild as rebuild_evaluations
from projections.experiments import ExperimentEntry, ExperimentsView
from projections.experiments import rebuild as rebuild_experiments
from projections.exports import ExportsView
from projections.exports import rebuild as rebuild_exports
from projections.project import ProjectView

if TYPE_CHECKING:
    from aistudio.tasks.base import Task

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
        "EvaluationCompleted",
        "ExportCompleted",
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
    first = _log(workspace, project_id).first()
    if first is not None and first.type == "ProjectCreated":
        return str(first.data["task"])
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
    if event_type == "TrainingRequested":
        # Through the same checks as the Training page and `aistudio train`: the task validates
        # the config, the split must exist, a resume must be possible.
        config = data.get("config")
        if not isinstance(config, dict):
            raise CommandError("TrainingRequested: config must be a JSON object")
        resume = data.get("resume") is True
        return request_training(
            workspace,
            project_id,
            data.get("name") if isinstance(data.get("name"), str) else None,
            data.get("split") if isinstance(data.get("split"), str) else None,
            config,
            actor,
            resume_experiment=str(data.get("experiment_id")) if resume else None,
        )
    if event_type == "EvaluationRequested":
        raw_subsets = data.get("subsets", ["test"])
        return request_evaluation(
            workspace,
            project_id,
            str(data.get("experiment_id", "")),
            str(data.get("checkpoint", "best")),
            [str(s) for s in raw_subsets] if isinstance(raw_subsets, list) else [""],
            actor,
            data.get("batch_size") if isinstance(data.get("batch_size"), int) else None,
        )
    if event_type == "EvaluationReset":
        return reset_evaluation(workspace, project_id, str(data.get("experiment_id", "")), actor)
    if event_type == "ExportRequested":
        _validate(event_type, data)  # shape first (ids, formats, options), then the checks
        return request_export(
            workspace,
            project_id,
            data["experiment_id"],
            data.get("checkpoint", "best"),
            data.get("format", "onnx"),
            data.get("options"),
            actor,
            export_id=data["export_id"],
        )
    if event_type == "SplitCreated":
        raise CommandError("create splits with `aistudio split` (it computes the assignment)")
    return _append(workspace, project_id, event_type, data, actor)


# ---------------------------------------------------------------------- training
MIN_TRAIN_IMAGES = 2
"""Annotated train images a run needs (batch normalisation cannot learn from one image)."""
TRAINING_NOTE_NO_VAL = (
    "the split has no validation image: training runs without validation metrics, and the "
    "best checkpoint is picked by the training loss"
)


class TrainingConfigError(CommandError):
    """A training configuration is refused; ``field`` names the setting at fault, when one is.

    ``field`` is a key of the config (``model``, ``image_size``, ``epochs``, …), ``name``,
    ``split``, ``task_options`` or None.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TaskTrainingInfo:
    """What a task offers to train, for forms and scripts (torch-free).

    Attributes:
        task: the task's name.
        title: its title for people.
        label_kind: ``label`` (a class per image) or ``value`` (a number per image).
        models: the models it offers, with their sizes and smallest image size.
        default_model: the model a new experiment starts with.
        primary_metric: the metric that picks the best epoch.
        metric_mode: ``max`` or ``min``: which way the primary metric is better.
        defaults: the full default training configuration (:func:`default_training_config`).
        options_schema: the JSON schema of the task's own options (``task_options``).
    """

    task: str
    title: str
    label_kind: str
    models: tuple[ModelSpec, ...]
    default_model: str
    primary_metric: str
    metric_mode: str
    defaults: dict[str, Any]
    options_schema: dict[str, Any]


@dataclass(frozen=True)
class TrainingPlan:
    """A training command that passed every check, ready to append.

    Attributes:
        experiment_id: the experiment to resume (None: a new experiment, its id not yet drawn).
        name: the experiment's name.
        split: the split it trains on.
        config: the full, validated configuration (defaults filled in).
        resume: whether it continues an experiment from its last checkpoint.
        train_images: labelled images in the split's train subset.
        val_images: labelled images in its validation subset.
        notes: things the user should know that do not stop the run (no validation images, …).
    """

    experiment_id: str | None
    name: str
    split: str
    config: dict[str, Any]
    resume: bool
    train_images: int
    val_images: int
    notes: tuple[str, ...] = ()


def _task(task_name: str) -> Task:
    """The registry's task ``task_name``, or a CommandError saying it cannot train yet."""
    from aistudio.tasks.registry import get_task  # task modules are torch-free

    try:
        return get_task(task_name)
    except (KeyError, LookupError, ValueError, NotImplementedError):
        raise CommandError(
            f"training is not available for {task_name.replace('_', ' ')} projects yet"
        ) from None


def training_info(task: str) -> TaskTrainingInfo:
    """What ``task`` offers to train (CommandError when it has no training yet)."""
    spec = _task(task)
    return TaskTrainingInfo(
        task=spec.name,
        title=getattr(spec, "title", spec.name),
        label_kind=spec.label_kind,
        models=tuple(spec.models),
        default_model=spec.default_model,
        primary_metric=spec.primary_metric,
        metric_mode=spec.metric_mode,
        defaults=default_training_config(task),
        options_schema=spec.options_model.model_json_schema(),
    )


def default_training_config(task: str) -> dict[str, Any]:
    """The full default training configuration of ``task``: its default model, its default
    augmentations and options, and :class:`TrainingConfig`'s defaults for the rest.

    The image size is raised to the default model's smallest when the general default is below.
    """
    from events.schemas.training import Augmentations, TrainingConfig

    spec = _task(task)
    model = spec.model_spec(spec.default_model)
    base = TrainingConfig(model=model.name)
    config = base.model_copy(
        update={
            "image_size": max(base.image_size, model.min_image_size),
            "augmentations": Augmentations.model_validate(dict(spec.default_augmentations)),
            "task_options": spec.options_model().model_dump(mode="json"),
        }
    )
    return config.model_dump(mode="json")


def experiments_view(workspace: Workspace, project_id: str) -> ExperimentsView:
    """The project's experiments view, rebuilt from its log."""
    return rebuild_experiments(_log(workspace, project_id).read())


def resolve_experiment(
    workspace: Workspace,
    project_id: str,
    ref: str,
    experiments: ExperimentsView | None = None,
) -> str:
    """The id of the experiment ``ref`` names (an id or a unique name)."""
    view = experiments if experiments is not None else experiments_view(workspace, project_id)
    if ref in view.experiments:
        return ref
    matches = [e.experiment_id for e in view.experiments.values() if e.name == ref.strip()]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise CommandError(
            f"several experiments are named {ref!r}: use an id ({', '.join(matches)})"
        )
    raise CommandError(f"no experiment {ref!r} in this project")


def suggest_experiment_name(experiments: ExperimentsView, model: str) -> str:
    """A free name for a new experiment of ``model``: ``resnet18 #1``, ``resnet18 #2``, …"""
    taken = {e.name.casefold() for e in experiments.experiments.values()}
    n = 1 + sum(1 for e in experiments.experiments.values() if e.config.get("model") == model)
    while f"{model} #{n}".casefold() in taken:
        n += 1
    return f"{model} #{n}"


def _checked_config(task: Task, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` over the task's defaults, validated by the schema and the task; all filled in.

    ``augmentations`` and ``task_options`` given in part keep the task's defaults for the rest.
    """
    from aistudio.training.config import ConfigError, check_config, parse_config

    if not isinstance(config, dict):
        raise TrainingConfigError("the training config must be a JSON object")
    defaults = default_training_config(task.name)
    merged = {**defaults, **config}
    for key in ("augmentations", "task_options"):  # given in part: the rest from the defaults
        if merged.get(key) is None:  # None means "the task's defaults": made explicit
            merged[key] = defaults[key]
        elif isinstance(merged[key], dict):
            merged[key] = {**defaults[key], **merged[key]}
    try:
        parsed = parse_config(merged)
        options = check_config(task, parsed)
    except ConfigError as exc:
        raise TrainingConfigError(str(exc), _field_of(str(exc), merged)) from None
    out = parsed.model_dump(mode="json")
    out["task_options"] = options.model_dump(mode="json")
    return out


def _field_of(message: str, config: dict[str, Any]) -> str | None:
    """The config key a one-line config error is about (the first one it names)."""
    text = message.removeprefix("invalid training config: ")
    head = text.split(":", 1)[0].split(".", 1)[0].strip()
    if head in config:
        return head
    if "task_options" in text or "options for" in text:
        return "task_options"
    if "image" in text and "px" in text:
        return "image_size"
    if "unknown model" in text:
        return "model"
    if "warmup_epochs" in text:
        return "warmup_epochs"
    return None


def _split_counts(
    dataset: DatasetView, split: str, label_kind: str
) -> tuple[int, int, list[str | None], list[float | None]]:
    """Annotated images of the split's train and validation subsets, and the train targets.

    Returns:
        ``(train images, val images, train labels, train values)``, annotated images only.
    """
    members = dataset.splits[split]
    images = dataset.images
    counts = {"train": 0, "val": 0}
    labels: list[str | None] = []
    values: list[float | None] = []
    by_label = label_kind == "label"
    for image_id, subset in members.items():
        if subset not in counts:
            continue
        entry = images.get(image_id)
        if entry is None or (entry.label is None if by_label else entry.value is None):
            continue
        counts[subset] += 1
        if subset == "train":
            labels.append(entry.label)
            values.append(entry.value)
    return counts["train"], counts["val"], labels, values


def check_training(
    workspace: Workspace,
    project_id: str,
    name: str | None,
    split: str | None,
    config: dict[str, Any],
    resume_experiment: str | None = None,
    dataset: DatasetView | None = None,
    experiments: ExperimentsView | None = None,
) -> TrainingPlan:
    """Check a training request against the project as it is; appends nothing.

    A new experiment: ``config`` (partial: the task's defaults fill the rest) must suit the
    task (known model, an image size it works at, valid task options), ``split`` must exist with
    at least :data:`MIN_TRAIN_IMAGES` annotated train images (no validation image is allowed:
    the plan's notes say so), and ``name`` (empty: one is suggested) must be free.

    A resume (``resume_experiment``: an id or a name): the experiment must have ended with a
    ``last`` checkpoint; it keeps its name, split and config, and only ``config["epochs"]`` (its
    previous target when absent) is taken, which must be more than the epochs it has done.

    Raises:
        TrainingConfigError: the configuration is refused (``field`` names the setting).
        CommandError: anything else is (no such split, experiment, …), with a one-line reason.
    """
    task = _task(project_task(workspace, project_id))
    if dataset is None or experiments is None:
        events = events_of(workspace, project_id)
        dataset = dataset if dataset is not None else rebuild_dataset(events)
        experiments = experiments if experiments is not None else rebuild_experiments(events)
    if resume_experiment is not None:
        return _check_resume(
            workspace, project_id, task, resume_experiment, config, dataset, experiments
        )
    chosen = _checked_config(task, config)
    clean_name = (name or "").strip() or suggest_experiment_name(experiments, chosen["model"])
    try:
        _validate_name(clean_name)
    except CommandError as exc:
        raise TrainingConfigError(f"experiment name: {exc}", "name") from None
    if any(e.name.casefold() == clean_name.casefold() for e in experiments.experiments.values()):
        raise TrainingConfigError(
            f"an experiment named {clean_name!r} already exists: choose another name", "name"
        )
    split_name = (split or "").strip()
    train, val, notes = _check_split(task, dataset, split_name)
    return TrainingPlan(None, clean_name, split_name, chosen, False, train, val, notes)


def _validate_name(name: str) -> None:
    if len(name) > 80:
        raise CommandError("at most 80 characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise CommandError("must not contain control characters")


def _check_split(task: Task, dataset: DatasetView, split: str) -> tuple[int, int, tuple[str, ...]]:
    if not split:
        raise TrainingConfigError("choose the split to train on", "split")
    if split not in dataset.splits:
        known = ", ".join(dataset.splits) or "none yet: create one with `aistudio split`"
        raise TrainingConfigError(f"no split named {split!r} (splits: {known})", "split")
    train, val, labels, values = _split_counts(dataset, split, task.label_kind)
    if train < MIN_TRAIN_IMAGES:
        what = "labelled" if task.label_kind == "label" else "annotated (with a value)"
        found = f"has no {what} train image" if train == 0 else f"has {train} {what} train image"
        raise TrainingConfigError(
            f"the split {split!r} {found}: training needs at least {MIN_TRAIN_IMAGES}", "split"
        )
    try:
        task.target_info(labels, values)  # what the task needs of its targets (torch-free)
    except TaskInputError as exc:
        raise TrainingConfigError(f"split {split!r}: {exc}", "split") from None
    notes = (TRAINING_NOTE_NO_VAL,) if val == 0 else ()
    return train, val, notes


def _check_resume(
    workspace: Workspace,
    project_id: str,
    task: Task,
    ref: str,
    config: dict[str, Any],
    dataset: DatasetView,
    experiments: ExperimentsView,
) -> TrainingPlan:
    experiment_id = resolve_experiment(workspace, project_id, ref, experiments)
    entry = experiments.experiments[experiment_id]
    if entry.is_active:
        raise CommandError(
            f"experiment {entry.name!r} is still {entry.status}: wait for it or cancel it first"
        )
    last = entry.checkpoints.get("last")
    if last is None:
        raise CommandError(
            f"experiment {entry.name!r} ended ({entry.status}) before saving any checkpoint: "
            "it cannot be resumed; re-run it instead"
        )
    raw_epochs = config.get("epochs") if isinstance(config, dict) else None
    epochs = entry.epochs if raw_epochs is None else raw_epochs
    if isinstance(epochs, bool) or not isinstance(epochs, int):
        raise TrainingConfigError("epochs: must be a whole number", "epochs")
    if epochs <= last.epoch:
        raise TrainingConfigError(
            f"experiment {entry.name!r} has done {last.epoch} epoch"
            f"{'s' if last.epoch != 1 else ''} (its last checkpoint): resume it to more than "
            f"{last.epoch} epochs",
            "epochs",
        )
    chosen = _checked_config(task, {**entry.config, "epochs": epochs})
    train, val, notes = _check_split(task, dataset, entry.split)
    return TrainingPlan(experiment_id, entry.name, entry.split, chosen, True, train, val, notes)


def request_training(
    workspace: Workspace,
    project_id: str,
    name: str | None,
    split: str | None,
    config: dict[str, Any],
    actor: str = "cli",
    resume_experiment: str | None = None,
    dataset: DatasetView | None = None,
    experiments: ExperimentsView | None = None,
) -> Event:
    """Check a training request (see :func:`check_training`) and append ``TrainingRequested``.

    A new experiment gets a fresh ``exp-`` id; a resume names the experiment it continues. The
    append insists on the log's seq the checks saw (``expected_seq``), so that two clicks on
    Resume start one run; ``dataset`` and ``experiments``, the caller's current views, are used
    first and rebuilt from the log when the log has moved on.

    Returns:
        The ``TrainingRequested`` event (its id is the run's job id).
    """
    log = _log(workspace, project_id)
    for attempt in range(5):
        fresh = attempt > 0 or dataset is None or experiments is None
        if not fresh and dataset is not None and experiments is not None:
            fresh = dataset.seq != experiments.seq
        if fresh:
            events = list(log.read())
            dataset_now = rebuild_dataset(events)
            experiments_now = rebuild_experiments(events)
        else:
            assert dataset is not None and experiments is not None
            dataset_now, experiments_now = dataset, experiments
        plan = check_training(
            workspace,
            project_id,
            name,
            split,
            config,
            resume_experiment,
            dataset_now,
            experiments_now,
        )
        experiment_id = plan.experiment_id or new_id(
            "exp",
            taken=lambda eid, view=experiments_now: (
                eid in view.experiments or workspace.experiment_dir(project_id, eid).exists()
            ),
        )
        data = {
            "experiment_id": experiment_id,
            "name": plan.name,
            "split": plan.split,
            "config": plan.config,
            "resume": plan.resume,
        }
        for note in plan.notes:
            logger.warning("%s: %s", plan.name, note)
        try:
            return _append(
                workspace,
                project_id,
                "TrainingRequested",
                data,
                actor,
                expected_seq=experiments_now.seq,
            )
        except ConcurrencyError:
            continue
    raise CommandError("the project kept changing while the training was checked; try again")


def rerun_experiment(
    workspace: Workspace,
    project_id: str,
    experiment: str,
    actor: str = "cli",
    name: str | None = None,
    dataset: DatasetView | None = None,
    experiments: ExperimentsView | None = None,
) -> Event:
    """Start a new experiment with the exact config and split of ``experiment`` (id or name).

    Its name is ``name``, else ``"<name> (re-run)"`` (numbered when taken).
    """
    view = experiments if experiments is not None else experiments_view(workspace, project_id)
    entry = view.experiments[resolve_experiment(workspace, project_id, experiment, view)]
    if not name:
        taken = {e.name.casefold() for e in view.experiments.values()}
        n = 1
        while True:
            suffix = " (re-run)" if n == 1 else f" (re-run {n})"
            name = entry.name[: 80 - len(suffix)].rstrip() + suffix
            if name.casefold() not in taken:
                break
            n += 1
    return request_training(
        workspace,
        project_id,
        name,
        entry.split,
        dict(entry.config),
        actor=actor,
        dataset=dataset,
        experiments=experiments,
    )


def cancel_training(
    workspace: Workspace, project_id: str, experiment: str, actor: str = "cli"
) -> Event:
    """Ask the current run of ``experiment`` (id or name) to stop (``CancelRequested``)."""
    view = experiments_view(workspace, project_id)
    entry = view.experiments[resolve_experiment(workspace, project_id, experiment, view)]
    if not entry.is_active:
        raise CommandError(f"experiment {entry.name!r} is not running ({entry.status})")
    return request_cancel(workspace, project_id, entry.job_id, actor)


# ---------------------------------------------------------------------- evaluation and export
EVALUATION_SUBSETS: tuple[str, ...] = ("train", "val", "test")
CHECKPOINTS: tuple[str, ...] = ("best", "last")


def evaluations_view(workspace: Workspace, project_id: str) -> EvaluationsView:
    """The project's evaluations view, rebuilt from its log."""
    return rebuild_evaluations(_log(workspace, project_id).read())


def exports_view(workspace: Workspace, project_id: str) -> ExportsView:
    """The project's exports view, rebuilt from its log."""
    return rebuild_exports(_log(workspace, project_id).read())


class ModelViews(NamedTuple):
    """The views the evaluation and export commands check, all as of the same event.

    The web app passes its incremental views (a click costs no replay of the log); the commands
    append with ``expected_seq`` equal to their seq, and replay the log only when it moved on.
    """

    dataset: DatasetView
    experiments: ExperimentsView
    evaluations: EvaluationsView
    exports: ExportsView

    @property
    def seq(self) -> int:
        """The seq the views were folded to (-1 when they disagree)."""
        seqs = {self.dataset.seq, self.experiments.seq, self.evaluations.seq, self.exports.seq}
        return seqs.pop() if len(seqs) == 1 else -1


def _model_views(
    workspace: Workspace, project_id: str, given: ModelViews | None = None
) -> tuple[int, DatasetView, ExperimentsView, EvaluationsView, ExportsView]:
    """The last seq and the views a model command checks: ``given`` when they agree on one
    seq, else from one read of the log."""
    if given is not None and given.seq >= 0:
        return (given.seq, *given)
    events = events_of(workspace, project_id)
    seq = events[-1].seq if events else 0
    return (
        seq,
        rebuild_dataset(events),
        rebuild_experiments(events),
        rebuild_evaluations(events),
        rebuild_exports(events),
    )


def _checkpoint_of(
    workspace: Workspace, project_id: str, entry: ExperimentEntry, checkpoint: str
) -> None:
    """Refuse a checkpoint the experiment does not have (in its log, or on disk)."""
    if checkpoint not in CHECKPOINTS:
        raise CommandError(f"checkpoint must be best or last, not {checkpoint!r}")
    if entry.is_active:
        raise CommandError(
            f"experiment {entry.name!r} is still {entry.status}: wait for it to end or cancel it"
        )
    if checkpoint not in entry.checkpoints:
        have = ", ".join(entry.checkpoints) or "none"
        raise CommandError(
            f"experiment {entry.name!r} has no {checkpoint} checkpoint (it has: {have})"
        )
    if not workspace.checkpoint_path(project_id, entry.experiment_id, checkpoint).is_file():
        raise CommandError(
            f"the {checkpoint} checkpoint file of {entry.name!r} is missing from the workspace"
        )


def _labelled_in(dataset: DatasetView, split: str, subsets: set[str], label_kind: str) -> int:
    """How many images of ``split``'s ``subsets`` carry a label (or a value)."""
    members = dataset.splits.get(split, {})
    images = dataset.images
    by_label = label_kind == "label"
    count = 0
    for image_id, subset in members.items():
        if subset in subsets:
            entry = images.get(image_id)
            if entry is not None and (entry.label if by_label else entry.value) is not None:
                count += 1
    return count


def request_evaluation(
    workspace: Workspace,
    project_id: str,
    experiment: str,
    checkpoint: str = "best",
    subsets: Sequence[str] = ("test",),
    actor: str = "cli",
    batch_size: int | None = None,
    views: ModelViews | None = None,
) -> Event:
    """Check and append ``EvaluationRequested``: ``experiment`` (id or name)'s ``checkpoint``
    on the pooled ``subsets`` of its split.

    Refused when the experiment is training, lacks the checkpoint, has an evaluation already
    (reset it first) or one running, or when the subsets hold no annotated image. ``views``:
    the caller's current views (see :class:`ModelViews`).

    Returns:
        The command event (its id is the job id).
    """
    chosen = [s.strip() for s in subsets if s and s.strip()]
    unknown = [s for s in chosen if s not in EVALUATION_SUBSETS]
    if unknown:
        raise CommandError(
            f"unknown subset {unknown[0]!r}: choose among {', '.join(EVALUATION_SUBSETS)}"
        )
    if not chosen:
        raise CommandError("choose at least one subset to evaluate on (train, val or test)")
    task = _task(project_task(workspace, project_id))
    for attempt in range(5):
        seq, dataset, experiments, evaluations, _exports = _model_views(
            workspace, project_id, views if attempt == 0 else None
        )
        experiment_id = resolve_experiment(workspace, project_id, experiment, experiments)
        entry = experiments.experiments[experiment_id]
        _checkpoint_of(workspace, project_id, entry, checkpoint)
        current = evaluations.get(experiment_id)
        if current is not None and current.is_pending:
            raise CommandError(
                f"experiment {entry.name!r} is being evaluated: wait for it or cancel it"
            )
        if current is not None and current.status == "completed":
            raise CommandError(
                f"experiment {entry.name!r} already has an evaluation: reset it first"
            )
        if entry.split not in dataset.splits:
            raise CommandError(f"the split {entry.split!r} of {entry.name!r} no longer exists")
        if _labelled_in(dataset, entry.split, set(chosen), task.label_kind) == 0:
            what = "labelled" if task.label_kind == "label" else "annotated"
            raise CommandError(
                f"the {', '.join(chosen)} subset{'s' if len(chosen) > 1 else ''} of split "
                f"{entry.split!r} {'have' if len(chosen) > 1 else 'has'} no {what} image"
            )
        data: dict[str, Any] = {
            "experiment_id": experiment_id,
            "checkpoint": checkpoint,
            "subsets": chosen,
        }
        if batch_size is not None:
            data["batch_size"] = batch_size
        try:
            return _append(
                workspace, project_id, "EvaluationRequested", data, actor, expected_seq=seq
            )
        except ConcurrencyError:
            continue
    raise CommandError("the project kept changing while the evaluation was checked; try again")


def reset_evaluation(
    workspace: Workspace,
    project_id: str,
    experiment: str,
    actor: str = "cli",
    views: ModelViews | None = None,
) -> Event:
    """Remove the evaluation of ``experiment`` (id or name): ``EvaluationReset``, then its files.

    The event is appended first: a crash before the files are deleted leaves files no view
    names (the next evaluation overwrites them), never a view naming missing files. Only the
    files the evaluation recorded, unchanged, are deleted.
    """
    for attempt in range(5):
        seq, _dataset, experiments, evaluations, _exports = _model_views(
            workspace, project_id, views if attempt == 0 else None
        )
        experiment_id = resolve_experiment(workspace, project_id, experiment, experiments)
        current = evaluations.get(experiment_id)
        name = experiments.experiments[experiment_id].name
        if current is None:
            raise CommandError(f"experiment {name!r} has no evaluation to reset")
        if current.is_pending:
            raise CommandError(
                f"the evaluation of {name!r} is still running: cancel it before resetting"
            )
        try:
            event = _append(
                workspace,
                project_id,
                "EvaluationReset",
                {"experiment_id": experiment_id},
                actor,
                expected_seq=seq,
            )
        except ConcurrencyError:
            continue
        for ref in (current.results, current.report):
            if ref is not None:
                _remove_recorded_file(workspace, project_id, experiment_id, ref)
        return event
    raise CommandError("the project kept changing while the reset was checked; try again")


def _remove_recorded_file(
    workspace: Workspace, project_id: str, experiment_id: str, ref: FileInfo
) -> None:
    try:
        path = workspace.experiment_file(project_id, experiment_id, ref.name)
    except WorkspaceError as exc:
        logger.warning("not removing %s: %s", ref.name, exc)
        return
    try:
        if path.is_file() and file_sha256(path) == ref.sha256:
            path.unlink()
    except OSError as exc:
        logger.warning("could not remove %s: %s", path, exc)


@functools.lru_cache(maxsize=4)
def _parsed_evaluation(path: Path, sha256: str, report_path: Path, report_sha: str) -> Any:
    import orjson

    rows_bytes = _verified_bytes(path, sha256)
    report_bytes = _verified_bytes(report_path, report_sha)
    try:
        rows = [orjson.loads(line) for line in rows_bytes.splitlines() if line.strip()]
        report = orjson.loads(report_bytes)
    except orjson.JSONDecodeError as exc:
        raise CommandError(f"the evaluation files are not valid JSON: {exc}") from None
    return rows, report


def _verified_bytes(path: Path, sha256: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CommandError(f"{path.name} of this evaluation no longer exists") from None
    except OSError as exc:
        raise CommandError(f"cannot read {path.name}: {exc}") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise CommandError(f"{path.name} has changed since the evaluation wrote it")
    return data


def load_evaluation(
    workspace: Workspace, project_id: str, entry: EvaluationEntry
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The per-image rows and the report of a completed evaluation, checked by sha256.

    The parsed files of the last few evaluations are cached (by path and sha256; the files'
    presence and sizes are checked on every call), so pages re-rendering every second do not
    read them again. The rows and report returned are shared: do not change them.

    Raises:
        CommandError: the evaluation is not completed, or its files are missing or changed.
    """
    if entry.status != "completed" or entry.results is None or entry.report is None:
        raise CommandError(f"the evaluation of {entry.experiment_id} has no results")
    try:
        results = workspace.experiment_file(project_id, entry.experiment_id, entry.results.name)
        report = workspace.experiment_file(project_id, entry.experiment_id, entry.report.name)
    except WorkspaceError as exc:
        raise CommandError(str(exc)) from None
    for path, ref in ((results, entry.results), (report, entry.report)):
        try:
            size = path.stat().st_size
        except OSError:
            raise CommandError(f"{ref.name} of this evaluation no longer exists") from None
        if size != ref.size_bytes:
            raise CommandError(f"{ref.name} has changed since the evaluation wrote it")
    rows, parsed = _parsed_evaluation(results, entry.results.sha256, report, entry.report.sha256)
    return rows, parsed


def request_export(
    workspace: Workspace,
    project_id: str,
    experiment: str,
    checkpoint: str = "best",
    fmt: str = "onnx",
    options: dict[str, Any] | None = None,
    actor: str = "cli",
    export_id: str | None = None,
    views: ModelViews | None = None,
) -> Event:
    """Check and append ``ExportRequested`` for ``experiment`` (id or name)'s ``checkpoint``.

    Returns:
        The command event; ``event.data["export_id"]`` names the export.
    """
    if fmt not in EXPORT_FORMATS:
        raise CommandError(
            f"unknown export format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}"
        )
    try:
        checked = ExportOptions.model_validate(options or {})
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise CommandError(
            f"export option {error_place(problem)}: {error_words(problem)}"
        ) from None
    for attempt in range(5):
        seq, _dataset, experiments, _evaluations, exports = _model_views(
            workspace, project_id, views if attempt == 0 else None
        )
        experiment_id = resolve_experiment(workspace, project_id, experiment, experiments)
        entry = experiments.experiments[experiment_id]
        _checkpoint_of(workspace, project_id, entry, checkpoint)
        chosen_id = export_id or new_id(
            "xpt",
            taken=lambda xid, view=exports, exp=experiment_id: (
                xid in view.exports or workspace.export_dir(project_id, exp, xid).exists()
            ),
        )
        if chosen_id in exports.exports:
            raise CommandError(f"an export {chosen_id} exists already")
        data = {
            "experiment_id": experiment_id,
            "export_id": chosen_id,
            "checkpoint": checkpoint,
            "format": fmt,
            "options": checked.model_dump(mode="json"),
        }
        try:
            return _append(workspace, project_id, "ExportRequested", data, actor, expected_seq=seq)
        except ConcurrencyError:
            continue
    raise CommandError("the project kept changing while the export was checked; try again")


def export_file(workspace: Workspace, project_id: str, export_id: str) -> tuple[Path, str]:
    """The file of a completed, validated export and the name to download it as.

    Raises:
        CommandError: no such export, not completed (pending, failed, cancelled), or its file
            is missing or no longer the one the export recorded (sha256).
    """
    events = events_of(workspace, project_id)
    exports = rebuild_exports(events)
    entry = exports.get(export_id)
    if entry is None:
        raise CommandError(f"no export {export_id!r} in this project")
    if not entry.downloadable or entry.file is None:
        raise CommandError(f"export {export_id} is {entry.status}: there is no file to download")
    try:
        path = workspace.experiment_file(project_id, entry.experiment_id, entry.file.name)
    except WorkspaceError as exc:
        raise CommandError(str(exc)) from None
    if not path.is_file():
        raise CommandError(f"the file of export {export_id} is missing from the workspace")
    if path.stat().st_size != entry.file.size_bytes or file_sha256(path) != entry.file.sha256:
        raise CommandError(f"the file of export {export_id} has changed since it was exported")
    experiment = rebuild_experiments(events).get(entry.experiment_id)
    name = experiment.name if experiment is not None else entry.experiment_id
    return path, export_download_name(name, export_id, entry.format)


EXPORT_SUFFIXES: dict[str, str] = {"onnx": ".onnx", "torchscript": ".pt"}


def export_download_name(experiment_name: str, export_id: str, fmt: str) -> str:
    """The file name an export is downloaded as: ``<experiment name>-<export id>.<suffix>``.

    The experiment's name is made portable (letters, digits, ``-``, ``_``, ``.``; at most 60).
    """
    stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in experiment_name).strip("-.")
    return f"{(stem or 'model')[:60]}-{export_id}{EXPORT_SUFFIXES.get(fmt, '')}"


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """The sha256 of a file, in hex (read in chunks)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


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
