"""The ``TrainingRequested`` job: train one experiment on one split, or resume it.

Flow: read the project's task and dataset from the log; check the config against the task and
this machine; estimate the run's memory and time and refuse, before anything is allocated, a
run that cannot fit in the memory free now (:mod:`aistudio.training.resources`); build the
targets of the split's train and val images (the target information of a resumed run comes from
its checkpoint); then, under a :class:`~aistudio.training.resources.RunGuard` (cancel and
memory, inside steps too), decode the images into memory when they fit; seed; build the model,
the trainer and the event callback; fit (from ``last.ckpt`` when resuming).
Progress, epochs and checkpoints are appended while it runs (facts, see
:mod:`aistudio.training.callbacks`); the returned result carries ``TrainingCompleted``, which the
runner appends with ``JobSucceeded``. A cancelled run raises :class:`JobCancelledError`; bad
input, and a run the guard stopped because memory was running out, raise
:class:`JobInputError` with a one-line reason (``JobFailed(bad_input)``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aistudio.tasks.base import TargetInfo, Task, TaskInputError, TaskOptions
from aistudio.training.config import ConfigError, augmentations_of, check_config
from aistudio.training.resources import (
    GuardFacts,
    MemoryLimitError,
    ResourceCheck,
    RunGuard,
    check_run,
    machine_facts,
)
from aistudio.worker.context import JobCancelledError, JobContext, JobInputError, JobResult
from events.schemas.training import TrainingRequested
from projections.dataset import DatasetView
from projections.dataset import rebuild as rebuild_dataset
from projections.project import rebuild as rebuild_project

if TYPE_CHECKING:  # torch-side modules: imported when the job runs, not with this module
    from aistudio.training.data import SubsetData
    from aistudio.training.trainer import DevicePlan

logger = logging.getLogger(__name__)

MIN_TRAIN_IMAGES = 2


def _task(name: str) -> Task:
    from aistudio.tasks.registry import get_task

    try:
        return get_task(name)
    except (KeyError, ValueError) as exc:
        raise JobInputError(f"this version of AI Studio cannot train {name!r} projects") from exc


def _clean_temp_files(folder: Path) -> None:
    """Remove half-written checkpoints a killed run left behind."""
    if folder.is_dir():
        for leftover in folder.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)


@dataclass
class _Run:
    """Everything a run needs, checked and built before torch trains anything."""

    command: TrainingRequested
    task: Task
    options: TaskOptions
    devices: DevicePlan
    info: TargetInfo
    train: SubsetData
    val: SubsetData
    class_counts: list[int]
    ckpt_path: Path | None = None
    start_epoch: int = 0
    best: dict[str, Any] | None = None
    """``CheckpointSaved`` data of the experiment's best checkpoint so far (a resumed run)."""
    resources: ResourceCheck | None = None
    """The run's estimated memory and time, checked against the machine before anything was
    allocated."""


def run_training(ctx: JobContext) -> JobResult:
    """Job handler of ``TrainingRequested`` (see the module's docstring).

    Raises:
        JobInputError: the command cannot be trained (config, split, data, weights), or the
            loss diverged; the message says why.
        JobCancelledError: the run was cancelled (its last checkpoint is kept).
    """
    started = time.monotonic()
    try:
        run = _prepare(ctx)
        with _guard(ctx, run) as guard:
            return _fit(ctx, run, started, guard)
    except (TaskInputError, ConfigError, MemoryLimitError) as exc:
        raise JobInputError(str(exc)) from None


def _guard(ctx: JobContext, run: _Run) -> RunGuard:
    """The guard of this run: cancel and memory, inside steps too when it is one process (the
    processes of a DDP run must stop at the same batch: they stop cooperatively)."""
    single = run.devices.devices == 1
    config = run.command.config
    return RunGuard(
        ctx.job_id,
        ctx.log,
        GuardFacts(image_size=config.image_size, batch_size=config.batch_size),
        hooks=single,
        interrupt=single,
    )


def _check_resources(
    ctx: JobContext,
    task: Task,
    command: TrainingRequested,
    devices: DevicePlan,
    counts: tuple[int, int],
    info: TargetInfo,
) -> ResourceCheck:
    """The run's estimate against the memory free now; refused (before anything is allocated)
    when it cannot fit."""
    machine = machine_facts(devices.accelerator, devices.threads or None)
    check = check_run(task, command.config, counts[0], counts[1], info, machine)
    problem = check.refusal_now
    if problem is not None:
        raise JobInputError(problem)
    if check.estimate.peak_bytes is not None:
        logger.info("estimate: %s", check.estimate.summary)
        ctx.progress(0, None, f"preparing: estimated {check.estimate.summary}", force=True)
    return check


def _prepare(ctx: JobContext) -> _Run:
    ctx.progress(0, None, "preparing: reading the dataset", force=True)
    from aistudio.training.data import labelled_entries, subset_data  # torch: seconds
    from aistudio.training.trainer import plan_devices

    command = TrainingRequested.model_validate(ctx.command.data)
    config = command.config
    exp = command.experiment_id
    events = list(ctx.log.read())
    project = rebuild_project(events)
    dataset: DatasetView = rebuild_dataset(events)
    saved = [
        e.data for e in events if e.type == "CheckpointSaved" and e.data.get("experiment_id") == exp
    ]
    del events
    task = _task(project.task)
    options = check_config(task, config)
    devices = plan_devices(config)
    if command.split not in dataset.splits:
        raise JobInputError(f"no split named {command.split!r}: create it first")
    entries = labelled_entries(dataset, command.split, task)
    ctx.check_cancelled()
    _clean_temp_files(ctx.workspace.checkpoint_path(ctx.project_id, exp, "last").parent)
    ckpt_path, info, start_epoch = _resume_point(ctx, command, task)
    if info is None:
        if len(entries["train"]) < MIN_TRAIN_IMAGES:
            raise JobInputError(
                f"split {command.split!r} has {len(entries['train'])} train images with "
                f"{task.target_noun}: "
                f"training needs at least {MIN_TRAIN_IMAGES}"
            )
        info = task.fit_state(entries["train"])
    counts = (len(entries["train"]), len(entries["val"]))
    resources = _check_resources(ctx, task, command, devices, counts, info)

    def image_path(sha: str, ext: str) -> Path:
        return ctx.workspace.image_path(ctx.project_id, sha, ext)

    size = config.image_size
    train, _ = subset_data(entries["train"], task, info, image_path, size)
    val, _ = subset_data(entries["val"], task, info, image_path, size)
    if len(train) < MIN_TRAIN_IMAGES:
        raise JobInputError(
            f"only {len(train)} train images of split {command.split!r} can be used: "
            f"training needs at least {MIN_TRAIN_IMAGES}"
        )
    bests = [d for d in saved if d["which"] == "best"] if ckpt_path is not None else []
    return _Run(
        command=command,
        task=task,
        options=options,
        devices=devices,
        info=info,
        train=train,
        val=val,
        class_counts=task.class_counts(train.entries, info, train.targets),
        ckpt_path=ckpt_path,
        start_epoch=start_epoch,
        best=bests[-1] if bests else None,
        resources=resources,
    )


def _resume_point(
    ctx: JobContext, command: TrainingRequested, task: Task
) -> tuple[Path | None, TargetInfo | None, int]:
    """The checkpoint to resume from, its target information and epochs (None, None, 0: afresh).

    The checkpoint file, not the log, says where to resume: a run killed between writing its
    checkpoint and appending ``CheckpointSaved`` left a file one epoch ahead of the log, and
    its ``EpochCompleted`` is in the log already.
    """
    from aistudio.training.checkpoints import (
        CheckpointError,
        checkpoint_meta,
        read_checkpoint,
        target_info_of,
    )

    exp = command.experiment_id
    last = ctx.workspace.checkpoint_path(ctx.project_id, exp, "last")
    if not command.resume:
        if last.exists():
            raise JobInputError(
                f"experiment {exp} already has checkpoints: resume it, or start a new experiment"
            )
        return None, None, 0
    if not last.exists():
        logger.warning("experiment %s has no last checkpoint: training from the start", exp)
        return None, None, 0
    try:
        meta = checkpoint_meta(read_checkpoint(last))
    except CheckpointError as exc:
        raise JobInputError(f"cannot resume {exp}: {exc}") from None
    if meta.get("task") != task.name or meta.get("model") != command.config.model:
        raise JobInputError(
            f"cannot resume {exp}: its checkpoint is a {meta.get('task')} {meta.get('model')}, "
            f"the config asks for a {task.name} {command.config.model}"
        )
    done = int(meta.get("epochs_completed", 0))
    if command.config.epochs <= done:
        raise JobInputError(
            f"experiment {exp} has already trained {done} epochs: resume it to more than {done}"
        )
    if int(meta.get("image_size", command.config.image_size)) != command.config.image_size:
        raise JobInputError(f"cannot resume {exp} with another image size")
    return last, target_info_of(meta), done


def _fit(ctx: JobContext, run: _Run, started: float, guard: RunGuard) -> JobResult:
    from aistudio.training.callbacks import EventCallback, RunInfo
    from aistudio.training.data import TrainingDataModule
    from aistudio.training.module import TrainingModule
    from aistudio.training.trainer import build_trainer, seed_everything

    config = run.command.config
    exp = run.command.experiment_id
    datamodule = TrainingDataModule(
        run.train,
        run.val,
        config.image_size,
        config.batch_size,
        config.num_workers,
        augmentations_of(run.task, config),
        pin_memory=run.devices.accelerator == "gpu",
        task=run.task,
    )
    total = len(run.train) + len(run.val)

    def decoding(done: int, _total: int) -> None:
        guard.check()
        ctx.check_cancelled()
        with guard.deferred():
            ctx.progress(0, None, f"preparing: decoding images {done}/{total}")

    datamodule.decode(on_progress=decoding)
    guard.check()
    ctx.check_cancelled()
    seed_everything(config.seed)
    has_val = len(run.val) > 0
    module = TrainingModule(
        run.task,
        config,
        run.info,
        run.options,
        run.class_counts,
        has_val=has_val,
        pretrained=config.pretrained and run.ckpt_path is None,
        experiment_id=exp,
    )
    info = RunInfo(
        experiment_id=exp,
        epochs=config.epochs,
        train_images=len(run.train),
        val_images=len(run.val),
        parameters=module.parameters_count,
        device=run.devices.description,
        weights=module.weights,
        last_path=ctx.workspace.checkpoint_path(ctx.project_id, exp, "last"),
        best_path=ctx.workspace.checkpoint_path(ctx.project_id, exp, "best"),
        patience=config.early_stopping_patience,
        estimate=run.resources.estimate if run.resources is not None else None,
    )
    root = ctx.workspace.experiment_dir(ctx.project_id, exp)
    callback = EventCallback(ctx, info, guard)
    trainer = build_trainer(config, run.devices, [callback], root, has_val)
    fit_from = ctx.log.last_seq()
    logger.info(
        "training %s: %s on %d/%d images, %s, images %s",
        exp,
        config.model,
        len(run.train),
        len(run.val),
        run.devices.description,
        "cached in memory" if datamodule.cached else "decoded every epoch",
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=run.ckpt_path, weights_only=True)
    guard.check()  # a stop the processes of a DDP run agreed on
    return _outcome(ctx, run, module.monitor_name, fit_from, started)


def _outcome(ctx: JobContext, run: _Run, metric: str, fit_from: int, started: float) -> JobResult:
    """The run's end, from the events it appended (a DDP run appends from another process)."""
    exp = run.command.experiment_id
    epochs = run.command.config.epochs
    completed = run.start_epoch
    best = run.best
    cancelled = False
    for event in ctx.log.read(after_seq=fit_from):
        if event.type == "CheckpointSaved" and event.data["experiment_id"] == exp:
            if event.data["which"] == "best":
                best = event.data
            else:
                completed = event.data["epoch"]
        elif event.type == "CancelRequested" and event.data.get("job_id") == ctx.job_id:
            cancelled = True
    if cancelled and completed < epochs:
        raise JobCancelledError(f"training of {exp} was cancelled after {completed} epochs")
    data = {
        "experiment_id": exp,
        "epochs_completed": completed,
        "best_epoch": best["epoch"] if best else None,
        "metric": metric if best else None,
        "best_value": best["value"] if best else None,
        "stopped_early": completed < epochs,
        "duration_s": round(time.monotonic() - started, 3),
    }
    summary = {k: data[k] for k in ("experiment_id", "epochs_completed", "metric", "best_value")}
    return JobResult(events=[ctx.new_event("TrainingCompleted", data)], summary=summary)
