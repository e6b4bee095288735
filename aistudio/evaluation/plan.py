"""What the log says to evaluate: the experiment, its checkpoint, its split, and the labels then.

Torch-free: everything here is a fold of the project's events. The job checks these facts before
it loads any model, and each refusal is a :class:`JobInputError` whose message is for the user.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aistudio.worker.context import JobInputError
from events import Event
from events.schemas.evaluation import EvaluationRequested
from projections.base import SkipKey, SkippedEvent, UnreadableEventError
from projections.dataset import DatasetView
from projections.dataset import projection as dataset_projection
from projections.experiments import CheckpointInfo, ExperimentEntry
from projections.experiments import rebuild as rebuild_experiments
from projections.project import rebuild as rebuild_project

if TYPE_CHECKING:
    from aistudio.tasks.base import Task


@dataclass(frozen=True)
class EvaluationPlan:
    """The facts an evaluation starts from, as of the log it was planned on.

    Attributes:
        command: the ``EvaluationRequested`` data.
        task: the project's task name.
        experiment: the experiment to evaluate.
        checkpoint: the checkpoint to evaluate (as its ``CheckpointSaved`` recorded it).
        dataset: the dataset now (labels the images are scored against).
        trained_seq: seq of the ``TrainingStarted`` of the run that saved the checkpoint (the
            latest one of the experiment at or before the ``CheckpointSaved``; 0 if none).
        trained: the dataset as of ``trained_seq`` (the labels the model was trained with).
    """

    command: EvaluationRequested
    task: str
    experiment: ExperimentEntry
    checkpoint: CheckpointInfo
    dataset: DatasetView
    trained_seq: int
    trained: DatasetView

    @property
    def split(self) -> str:
        """The split the experiment was trained on (and is evaluated on)."""
        return self.experiment.split

    def label_changed(self, image_ids: Iterable[str], task: Task) -> set[str]:
        """The images among ``image_ids`` whose annotation, as ``task`` reads it (a label, a
        value, boxes), has changed since the model was trained (images added since are not
        changed)."""
        changed: set[str] = set()
        for image_id in image_ids:
            then = self.trained.images.get(image_id)
            now = self.dataset.images.get(image_id)
            if then is None or now is None:
                continue
            if task.annotation_of(then) != task.annotation_of(now):
                changed.add(image_id)
        return changed


def plan_evaluation(events: Sequence[Event], command: EvaluationRequested) -> EvaluationPlan:
    """Check the command against the log and gather what the evaluation starts from.

    Raises:
        JobInputError: the experiment is unknown, has no such checkpoint, still trains,
            already has an evaluation, or its split is gone.
    """
    exp = command.experiment_id
    experiments = rebuild_experiments(events)
    entry = experiments.get(exp)
    if entry is None:
        raise JobInputError(f"there is no experiment {exp} in this project")
    checkpoint = entry.checkpoints.get(command.checkpoint)
    if checkpoint is None:
        raise JobInputError(f"experiment {exp} has no {command.checkpoint} checkpoint")
    if entry.is_active:
        raise JobInputError(
            f"experiment {exp} is still training: evaluate it once its run has ended"
        )
    if has_evaluation(events, exp):
        raise JobInputError(
            f"experiment {exp} already has an evaluation: reset it before evaluating again"
        )
    trained_seq = training_seq(events, exp, checkpoint.seq)
    trained, dataset = datasets_then_and_now(events, trained_seq)
    if entry.split not in dataset.splits:
        raise JobInputError(f"split {entry.split!r} of experiment {exp} no longer exists")
    return EvaluationPlan(
        command=command,
        task=rebuild_project(events).task,
        experiment=entry,
        checkpoint=checkpoint,
        dataset=dataset,
        trained_seq=trained_seq,
        trained=trained,
    )


def datasets_then_and_now(
    events: Sequence[Event], then_seq: int
) -> tuple[DatasetView, DatasetView]:
    """The dataset view as of ``then_seq`` and as of the last event, from one fold of the log
    (``rebuild(events, until_seq=then_seq)`` and ``rebuild(events)`` replayed the dataset twice:
    the largest view, folded once here, the view of ``then_seq`` kept by a copy-on-write copy).

    ``events`` are in seq order. An event the view cannot read is skipped, as ``rebuild`` does.
    """
    split = bisect.bisect_right(events, then_seq, key=lambda event: event.seq)
    skip: dict[SkipKey, SkippedEvent] = {}
    while True:
        try:
            then = dataset_projection.fold(dataset_projection.initial(), events[:split], skip=skip)
            now = dataset_projection.fold(then.copy(), events[split:], skip=skip)
            return then, now
        except UnreadableEventError as exc:
            if exc.key in skip:
                raise  # cannot happen: skipped events are not handled
            skip[exc.key] = exc.skipped


def training_seq(events: Iterable[Event], experiment_id: str, checkpoint_seq: int) -> int:
    """Seq of the latest ``TrainingStarted`` of ``experiment_id`` at or before
    ``checkpoint_seq`` (0 when there is none)."""
    found = 0
    for event in events:
        if event.seq > checkpoint_seq:
            break
        if event.type == "TrainingStarted" and event.data.get("experiment_id") == experiment_id:
            found = event.seq
    return found


def has_evaluation(events: Iterable[Event], experiment_id: str) -> bool:
    """Whether an ``EvaluationCompleted`` of ``experiment_id`` stands (no reset after it)."""
    standing = False
    for event in events:
        if event.data.get("experiment_id") != experiment_id:
            continue
        if event.type == "EvaluationCompleted":
            standing = True
        elif event.type == "EvaluationReset":
            standing = False
    return standing
