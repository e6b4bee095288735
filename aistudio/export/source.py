"""What an export is made of: the project, the experiment and its checkpoint, checked and loaded.

Everything is read from the log as it was when the export was requested (folded up to the
command's seq), so the same command always exports the same weights: a checkpoint file that no
longer has the sha256 ``CheckpointSaved`` recorded (training went on, the file was damaged) is
refused rather than exported under the wrong name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aistudio.export.metadata import ExportSource
from aistudio.tasks.base import TargetInfo, Task, TaskOptions
from aistudio.worker.context import JobContext, JobInputError
from events.schemas.export import ExportRequested
from projections.dataset import DatasetView
from projections.dataset import rebuild as rebuild_dataset
from projections.experiments import rebuild as rebuild_experiments
from projections.project import rebuild as rebuild_project

if TYPE_CHECKING:
    from torch import nn

logger = logging.getLogger(__name__)


@dataclass
class LoadedSource:
    """A checked checkpoint, its network and everything the metadata and validation need.

    Attributes:
        command: the ``ExportRequested`` data.
        task: the project's task.
        info: the target information the network was trained with.
        model: the network (eval mode, CPU).
        meta: the checkpoint's AI Studio metadata.
        image_size: side of the square input.
        mean: per-channel normalisation mean (0…1 scale).
        std: per-channel normalisation standard deviation (0…1 scale).
        source: where the export comes from (``aistudio.source``).
        dataset: the dataset view as of the command.
        split: the split the experiment trained on.
        threshold: the confidence threshold a person chose (``ThresholdSet``) as of the
            command, None when none was.
    """

    command: ExportRequested
    task: Task
    info: TargetInfo
    model: nn.Module
    meta: dict[str, Any]
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: ExportSource
    dataset: DatasetView
    split: str
    threshold: float | None = None

    @property
    def options(self) -> TaskOptions:
        """The task options the checkpoint was trained with."""
        config = self.meta.get("config") or {}
        return self.task.validate_options(config.get("task_options") or {})


def _task(name: str) -> Task:
    from aistudio.tasks.registry import get_task

    try:
        return get_task(name)
    except (KeyError, ValueError) as exc:
        raise JobInputError(f"this version of AI Studio cannot export {name!r} models") from exc


def _normalisation(meta: dict[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The mean and std the checkpoint's model was fed with; they must be the pipeline's."""
    from aistudio.training.data import IMAGENET_MEAN, IMAGENET_STD

    normalize = meta.get("normalize") or {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    mean = tuple(float(v) for v in normalize.get("mean", ()))
    std = tuple(float(v) for v in normalize.get("std", ()))
    if mean != tuple(IMAGENET_MEAN) or std != tuple(IMAGENET_STD):
        raise JobInputError(
            f"the checkpoint was trained with a normalisation (mean {list(mean)}, std "
            f"{list(std)}) this version of AI Studio does not apply: it cannot be exported"
        )
    return mean, std


def load_source(ctx: JobContext, command: ExportRequested) -> LoadedSource:
    """Check the command against the log and the checkpoint file, then load the network.

    Raises:
        JobInputError: the export id is taken, the experiment or its checkpoint does not exist,
            the checkpoint file is missing, changed since it was saved, or unreadable.
    """
    from aistudio.training.checkpoints import (
        CheckpointError,
        load_model,
        sha256_of,
        target_info_of,
    )

    events = list(ctx.log.read(until_seq=ctx.command.seq))
    for event in events:
        if (
            event.type == "ExportRequested"
            and event.id != ctx.command.id
            and event.data.get("export_id") == command.export_id
        ):
            raise JobInputError(
                f"export id {command.export_id} is already used by job {event.id}: "
                "request the export again"
            )
    project = rebuild_project(events)
    dataset = rebuild_dataset(events)
    experiments = rebuild_experiments(events)
    del events
    task = _task(project.task)
    exp = command.experiment_id
    entry = experiments.get(exp)
    if entry is None:
        raise JobInputError(f"there is no experiment {exp} in this project")
    which = command.checkpoint
    saved = entry.checkpoints.get(which)
    if saved is None:
        raise JobInputError(
            f"experiment {entry.name!r} ({exp}) has no {which} checkpoint: train it for at "
            "least one epoch first"
        )
    path = ctx.workspace.checkpoint_path(ctx.project_id, exp, which)
    if not path.is_file():
        raise JobInputError(
            f"the {which} checkpoint of experiment {entry.name!r} ({exp}) is missing from "
            "the workspace"
        )
    if sha256_of(path) != saved.sha256:
        raise JobInputError(
            f"the {which} checkpoint of experiment {entry.name!r} ({exp}) has changed since it "
            "was saved (its sha256 differs from the one CheckpointSaved recorded): it cannot be "
            "exported as that checkpoint"
        )
    try:
        model, meta = load_model(path, task)
    except CheckpointError as exc:
        raise JobInputError(f"cannot export experiment {entry.name!r}: {exc}") from None
    except (KeyError, ValueError, RuntimeError) as exc:  # a state dict that does not fit
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise JobInputError(
            f"the {which} checkpoint of experiment {entry.name!r} cannot be loaded: {first}"
        ) from None
    mean, std = _normalisation(meta)
    source = ExportSource(
        project_id=ctx.project_id,
        project_name=project.name,
        experiment_id=exp,
        experiment_name=entry.name,
        model=str(meta["model"]),
        checkpoint=which,
        checkpoint_epoch=saved.epoch,
        checkpoint_sha256=saved.sha256,
        export_id=command.export_id,
        seq=ctx.command.seq,
    )
    logger.info("exporting %s (%s, %s checkpoint, epoch %d)", exp, source.model, which, saved.epoch)
    return LoadedSource(
        command=command,
        task=task,
        info=target_info_of(meta),
        model=model,
        meta=meta,
        image_size=int(meta["image_size"]),
        mean=(mean[0], mean[1], mean[2]),
        std=(std[0], std[1], std[2]),
        source=source,
        dataset=dataset,
        split=entry.split,
        threshold=entry.threshold,
    )
