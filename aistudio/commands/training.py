"""Training: check a configuration against the task and the split, and append."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aistudio.commands.base import (
    CommandError,
    append_event,
    events_of,
    log_of,
    project_task,
    task_of,
)
from aistudio.commands.jobs import request_cancel
from aistudio.tasks.base import ModelSpec, TargetInfo, TaskInputError
from aistudio.workspace import Workspace, new_id
from events import (
    ConcurrencyError,
    Event,
)
from projections.dataset import DatasetView, ImageEntry
from projections.dataset import rebuild as rebuild_dataset
from projections.experiments import ExperimentsView
from projections.experiments import rebuild as rebuild_experiments

if TYPE_CHECKING:
    from aistudio.tasks.base import Task
    from aistudio.training.resources import ResourceCheck

logger = logging.getLogger(__name__)


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
        label_kind: the annotation kind it learns from (``label``, ``value``, ``boxes``…).
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
        resources: the run's estimated memory and time on this machine, judged against its
            memory (None when the task has no figures for the model).
        parameters: each model of the task with its parameter count for this project's head
            (what the run will report), for the models with measured figures.
    """

    experiment_id: str | None
    name: str
    split: str
    config: dict[str, Any]
    resume: bool
    train_images: int
    val_images: int
    notes: tuple[str, ...] = ()
    resources: ResourceCheck | None = None
    parameters: dict[str, int] = field(default_factory=dict)

    @property
    def refusal(self) -> str | None:
        """Why the run cannot be started on this machine (it cannot fit in its memory)."""
        return None if self.resources is None else self.resources.refusal

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the person starting it should know about its memory and time."""
        return () if self.resources is None else tuple(self.resources.warnings)


def trainable_tasks() -> list[str]:
    """The tasks this version can train (the task registry's), in DESIGN's order."""
    from aistudio.tasks.registry import available_tasks  # task modules are torch-free

    return available_tasks()


def training_info(task: str) -> TaskTrainingInfo:
    """What ``task`` offers to train (CommandError when it has no training yet)."""
    spec = task_of(task)
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

    The task's ``default_config`` overrides the general defaults (detection trains at 128 px
    for 30 epochs); the image size is raised to the default model's smallest when below.
    """
    from events.schemas.training import Augmentations, TrainingConfig

    spec = task_of(task)
    model = spec.model_spec(spec.default_model)
    base = TrainingConfig.model_validate({**spec.default_config, "model": model.name})
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
    return rebuild_experiments(log_of(workspace, project_id).read())


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


def check_config_for_task(task: Task, config: dict[str, Any]) -> dict[str, Any]:
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
    dataset: DatasetView, split: str, task: Task
) -> tuple[int, int, list[ImageEntry]]:
    """Images of the split's train and validation subsets that ``task`` can learn from, and the
    train ones (:meth:`~aistudio.tasks.base.Task.accepts`).

    Returns:
        ``(train images, val images, train entries)``.
    """
    members = dataset.splits[split]
    images = dataset.images
    counts = {"train": 0, "val": 0}
    train: list[ImageEntry] = []
    for image_id, subset in members.items():
        if subset not in counts:
            continue
        entry = images.get(image_id)
        if entry is None or not task.accepts(entry):
            continue
        counts[subset] += 1
        if subset == "train":
            train.append(entry)
    return counts["train"], counts["val"], train


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

    Either way the plan carries the run's estimated memory and time on this machine
    (``resources``): a run that cannot fit in the machine's memory has a ``refusal``, which
    :func:`request_training` raises; one that may not fit in the memory free now, or would take
    hours, has ``warnings``.

    Raises:
        TrainingConfigError: the configuration is refused (``field`` names the setting).
        CommandError: anything else is (no such split, experiment, …), with a one-line reason.
    """
    task = task_of(project_task(workspace, project_id))
    if dataset is None or experiments is None:
        events = events_of(workspace, project_id)
        dataset = dataset if dataset is not None else rebuild_dataset(events)
        experiments = experiments if experiments is not None else rebuild_experiments(events)
    if resume_experiment is not None:
        return _check_resume(
            workspace, project_id, task, resume_experiment, config, dataset, experiments
        )
    chosen = check_config_for_task(task, config)
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
    train, val, notes, info = _check_split(task, dataset, split_name)
    plan = TrainingPlan(None, clean_name, split_name, chosen, False, train, val, notes)
    return _with_resources(plan, task, info)


def _validate_name(name: str) -> None:
    if len(name) > 80:
        raise CommandError("at most 80 characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise CommandError("must not contain control characters")


def _check_split(
    task: Task, dataset: DatasetView, split: str
) -> tuple[int, int, tuple[str, ...], TargetInfo]:
    if not split:
        raise TrainingConfigError("choose the split to train on", "split")
    if split not in dataset.splits:
        known = ", ".join(dataset.splits) or "none yet: create one with `aistudio split`"
        raise TrainingConfigError(f"no split named {split!r} (splits: {known})", "split")
    train, val, entries = _split_counts(dataset, split, task)
    if train < MIN_TRAIN_IMAGES:
        what = f"train image with {task.target_noun}"
        found = f"has no {what}" if train == 0 else f"has {train} {what}"
        raise TrainingConfigError(
            f"the split {split!r} {found}: training needs at least {MIN_TRAIN_IMAGES}", "split"
        )
    try:
        info = task.fit_state(entries)  # what the task needs of its targets (torch-free)
    except TaskInputError as exc:
        raise TrainingConfigError(f"split {split!r}: {exc}", "split") from None
    notes = (TRAINING_NOTE_NO_VAL,) if val == 0 else ()
    return train, val, notes, info


def _with_resources(plan: TrainingPlan, task: Task, info: TargetInfo) -> TrainingPlan:
    """``plan`` with its memory and time on this machine, and every model's parameters."""
    from dataclasses import replace

    from aistudio.training.resources import check_run, machine_facts

    machine = machine_facts(str(plan.config.get("accelerator", "auto")))
    resources = check_run(task, plan.config, plan.train_images, plan.val_images, info, machine)
    counts = {m.name: task.parameter_count(m.name, info) for m in task.models}
    parameters = {name: n for name, n in counts.items() if n is not None}
    return replace(
        plan,
        resources=resources if resources.estimate.peak_bytes is not None else None,
        parameters=parameters,
    )


def resource_check(
    workspace: Workspace, project_id: str, command: Event | dict[str, Any]
) -> ResourceCheck | None:
    """The memory and time on this machine of a ``TrainingRequested`` (its event or data), as
    the form shows them before it is started (None: no figures for its model, or its split is
    gone)."""
    from aistudio.training.resources import check_run, machine_facts

    data = command.data if isinstance(command, Event) else command
    task = task_of(project_task(workspace, project_id))
    dataset = rebuild_dataset(events_of(workspace, project_id))
    split = str(data.get("split", ""))
    if split not in dataset.splits:
        return None
    train, val, entries = _split_counts(dataset, split, task)
    try:
        info = task.fit_state(entries)
    except TaskInputError:
        return None
    config = data.get("config") or {}
    machine = machine_facts(str(config.get("accelerator", "auto")))
    check = check_run(task, config, train, val, info, machine)
    return check if check.estimate.peak_bytes is not None else None


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
    chosen = check_config_for_task(task, {**entry.config, "epochs": epochs})
    train, val, notes, info = _check_split(task, dataset, entry.split)
    plan = TrainingPlan(experiment_id, entry.name, entry.split, chosen, True, train, val, notes)
    return _with_resources(plan, task, info)


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

    A run whose estimated memory exceeds what this machine can give it is refused
    (:class:`TrainingConfigError` saying what to change); the warnings of its plan (memory that
    is not free now, hours of training) are logged.

    A new experiment gets a fresh ``exp-`` id; a resume names the experiment it continues. The
    append insists on the log's seq the checks saw (``expected_seq``), so that two clicks on
    Resume start one run; ``dataset`` and ``experiments``, the caller's current views, are used
    first and rebuilt from the log when the log has moved on.

    Returns:
        The ``TrainingRequested`` event (its id is the run's job id).
    """
    log = log_of(workspace, project_id)
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
        if plan.refusal is not None:
            raise TrainingConfigError(plan.refusal, "image_size")  # or the batch size
        for note in (*plan.notes, *plan.warnings):
            logger.warning("%s: %s", plan.name, note)
        try:
            return append_event(
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
