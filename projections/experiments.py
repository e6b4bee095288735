"""The experiments view: every training experiment, its runs, status, curves and checkpoints.

An experiment is a named training configuration on a split. ``TrainingRequested`` creates it
(its event id is the first run's job id); a ``TrainingRequested`` with ``resume`` adds a run to
it. What follows links back in two ways:

* training events (``TrainingStarted``, ``EpochCompleted``, ``CheckpointSaved``,
  ``TrainingCompleted``) by ``data.experiment_id``;
* job lifecycle events (``JobClaimed``, ``JobStarted``, ``JobProgress``, ``JobSucceeded``,
  ``JobFailed``, ``JobCancelled``, ``CancelRequested``) by ``data.job_id``, the id of the
  ``TrainingRequested`` of one run.

Only the latest run of an experiment decides its status. A training event whose ``causation``
names an earlier run of the experiment, or the latest run after it ended (a process left behind
by a lost worker), is ignored, so a late straggler cannot rewrite the curves. Events without a
causation (appended by a script) are taken as they come.

Status: ``queued`` (requested) → ``running`` (claimed or started) → ``completed``
(``TrainingCompleted`` or ``JobSucceeded``), ``failed`` (``JobFailed``), ``interrupted``
(``JobFailed`` with reason ``worker_lost``) or ``cancelled`` (``JobCancelled``). An ended
experiment with a ``last`` checkpoint can be resumed (see :attr:`ExperimentEntry.resumable`).

The history holds one record per epoch, ordered by epoch: a resumed run continues it, and an
epoch trained again after a resume (the run had gone past its last checkpoint) replaces the
record of that epoch and drops the later ones, which no checkpoint kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from events import Event
from projections.base import Projection, SkippedEvent

STATUSES: tuple[str, ...] = (
    "queued",
    "running",
    "completed",
    "failed",
    "interrupted",
    "cancelled",
)
ACTIVE: frozenset[str] = frozenset({"queued", "running"})
ENDED: frozenset[str] = frozenset({"completed", "failed", "interrupted", "cancelled"})
TRACEBACK_TAIL_LINES = 30
"""How many lines of a failed run's traceback the view keeps (the end, where the error is)."""
TRACEBACK_TAIL_CHARS = 4000


@dataclass(frozen=True, slots=True)
class EpochRecord:
    """The figures of one epoch (from ``EpochCompleted``).

    Attributes:
        epoch: the epoch number, from 1.
        train_loss: mean training loss of the epoch.
        val_loss: validation loss (None without a validation subset).
        metrics: the task's metrics on the validation subset, by name.
        lr: the learning rate at the end of the epoch.
        duration_s: wall time of the epoch (training and validation).
        images_per_s: training throughput.
        seq: the seq of the ``EpochCompleted`` event.
    """

    epoch: int
    train_loss: float
    val_loss: float | None
    metrics: dict[str, float]
    lr: float
    duration_s: float
    images_per_s: float
    seq: int


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    """One checkpoint file of an experiment (from ``CheckpointSaved``).

    Attributes:
        epoch: the epoch the weights are from.
        sha256: the file's sha256.
        size_bytes: the file's size.
        metric: the metric that chose it (``best``), when there is one.
        value: that metric's value at ``epoch``.
        seq: the seq of the ``CheckpointSaved`` event.
    """

    epoch: int
    sha256: str
    size_bytes: int
    metric: str | None
    value: float | None
    seq: int


@dataclass(frozen=True, slots=True)
class BestEpoch:
    """The best epoch so far by the task's primary metric."""

    epoch: int
    metric: str | None
    value: float | None


@dataclass(frozen=True, slots=True)
class RunProgress:
    """The last ``JobProgress`` of the current run: ``done`` of ``total`` units, and a message."""

    done: int
    total: int | None
    message: str


@dataclass(frozen=True, slots=True)
class ExperimentEntry:
    """One experiment, as its events made it (immutable: a change replaces the entry).

    Attributes:
        experiment_id: ``exp-`` id.
        name: the experiment's name.
        split: the split it trains on.
        config: the training configuration of its latest run (a resume changes ``epochs``).
        created_seq: seq of the first ``TrainingRequested`` (the seq that started it).
        created_ts: its time.
        runs: the job ids of its runs, oldest first (a resume adds one).
        status: ``queued``, ``running``, ``completed``, ``failed``, ``interrupted`` or
            ``cancelled``, from the latest run.
        actor: who requested the first run.
        error: the error of a failed or interrupted run.
        failure_reason: ``error``, ``worker_lost``, ``process_died``, ``invalid_command`` or the
            reason a run was cancelled.
        traceback_tail: the last lines of the failed run's traceback.
        cancel_requested: a cancel was requested for the current run and it has not ended yet.
        weights: the sentence of the latest ``TrainingStarted`` on the weights it starts from.
        parameters: the network's number of parameters.
        device: where it trains (``cpu``, ``cuda:0``, …).
        train_images: images in the train subset when the latest run started.
        val_images: images in the validation subset when the latest run started.
        start_epoch: epochs already done when the latest run started (0 for a fresh run).
        epochs: the number of epochs to reach.
        history: one record per epoch, ordered by epoch.
        progress: the last progress report of the current run (None before any).
        best: the best epoch so far.
        checkpoints: ``best`` / ``last`` -> the checkpoint.
        stopped_early: the last run was ended by early stopping.
        duration_s: training time of the ended runs, in seconds.
        started_ts: when the latest run started (``JobStarted``).
        ended_ts: when the latest run ended.
        updated_seq: seq of the last event that changed this entry.
        threshold: the confidence threshold a person set (``ThresholdSet``), None before.
    """

    experiment_id: str
    name: str
    split: str
    config: dict[str, Any]
    created_seq: int
    created_ts: str
    runs: tuple[str, ...]
    status: str = "queued"
    actor: str = ""
    error: str | None = None
    failure_reason: str | None = None
    traceback_tail: str | None = None
    cancel_requested: bool = False
    weights: str | None = None
    parameters: int | None = None
    device: str | None = None
    train_images: int | None = None
    val_images: int | None = None
    start_epoch: int = 0
    epochs: int = 0
    history: tuple[EpochRecord, ...] = ()
    progress: RunProgress | None = None
    best: BestEpoch | None = None
    checkpoints: dict[str, CheckpointInfo] = field(default_factory=dict)
    stopped_early: bool = False
    duration_s: float = 0.0
    started_ts: str | None = None
    ended_ts: str | None = None
    updated_seq: int = 0
    threshold: float | None = None

    @property
    def job_id(self) -> str:
        """The job id of the latest run."""
        return self.runs[-1]

    @property
    def is_active(self) -> bool:
        """Whether the latest run is queued or running."""
        return self.status in ACTIVE

    @property
    def epochs_done(self) -> int:
        """The last epoch with figures (0 before the first)."""
        return self.history[-1].epoch if self.history else 0

    @property
    def resumable(self) -> bool:
        """Whether training can go on from the ``last`` checkpoint (the run ended and kept one)."""
        return self.status in ENDED and "last" in self.checkpoints


@dataclass(slots=True, eq=True)
class ExperimentsView:
    """Every experiment of the project as of event ``seq``, in creation order.

    Attributes:
        seq: the seq of the last event folded.
        experiments: experiment id -> entry.
        jobs: job id (a ``TrainingRequested`` event id) -> experiment id.
    """

    seq: int = 0
    experiments: dict[str, ExperimentEntry] = field(default_factory=dict)
    jobs: dict[str, str] = field(default_factory=dict)
    skipped: tuple[SkippedEvent, ...] = ()
    """The events this view could not read (kept in the log, skipped): see ``SkippedEvent``."""

    def copy(self) -> ExperimentsView:
        """A copy whose containers are independent (entries are immutable and shared)."""
        return ExperimentsView(self.seq, dict(self.experiments), dict(self.jobs), self.skipped)

    def get(self, experiment_id: str) -> ExperimentEntry | None:
        """The experiment ``experiment_id``, or None."""
        return self.experiments.get(experiment_id)

    def for_job(self, job_id: str) -> ExperimentEntry | None:
        """The experiment one of whose runs is the job ``job_id``, or None."""
        experiment_id = self.jobs.get(job_id)
        return None if experiment_id is None else self.experiments.get(experiment_id)

    def named(self, name: str) -> list[ExperimentEntry]:
        """The experiments called ``name`` (names are unique when made by the commands)."""
        return [e for e in self.experiments.values() if e.name == name]

    def active(self) -> list[ExperimentEntry]:
        """The queued or running experiments, oldest first."""
        return [e for e in self.experiments.values() if e.status in ACTIVE]


projection: Projection[ExperimentsView] = Projection("experiments", ExperimentsView)


# ---------------------------------------------------------------------- helpers
def _seconds_between(start: str | None, end: str | None) -> float:
    """Seconds from ``start`` to ``end`` (ISO times of events), 0 when either is missing."""
    if not start or not end:
        return 0.0
    try:
        a = datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max((b - a).total_seconds(), 0.0)


def _traceback_tail(text: str | None) -> str | None:
    if not text:
        return None
    lines = text.rstrip().splitlines()[-TRACEBACK_TAIL_LINES:]
    return "\n".join(lines)[-TRACEBACK_TAIL_CHARS:]


def _latest_run(view: ExperimentsView, event: Event) -> ExperimentEntry | None:
    """The experiment whose latest run is the job ``event`` names, unless that run ended."""
    entry = view.for_job(event.data.get("job_id", ""))
    if entry is None or entry.job_id != event.data.get("job_id") or entry.status in ENDED:
        return None
    return entry


def _training_target(view: ExperimentsView, event: Event) -> ExperimentEntry | None:
    """The experiment a training event is about, unless the event comes from a stale run."""
    entry = view.experiments.get(event.data.get("experiment_id", ""))
    if entry is None:
        return None
    cause = event.causation
    ours = cause is not None and view.jobs.get(cause) == entry.experiment_id
    if ours and (cause != entry.job_id or entry.status in ENDED):
        return None  # an earlier run, or the latest after it ended: a straggler
    return entry


def _put(view: ExperimentsView, entry: ExperimentEntry, event: Event, **changes: Any) -> None:
    view.experiments[entry.experiment_id] = replace(entry, updated_seq=event.seq, **changes)


def _end_run(
    view: ExperimentsView, entry: ExperimentEntry, event: Event, status: str, **changes: Any
) -> None:
    """End the latest run with ``status`` (its duration added unless TrainingCompleted did)."""
    duration = entry.duration_s
    if entry.status != "completed":  # TrainingCompleted already added this run's time
        duration += _seconds_between(entry.started_ts, event.ts)
    _put(
        view,
        entry,
        event,
        status=status,
        ended_ts=event.ts,
        duration_s=duration,
        cancel_requested=False,
        **changes,
    )


# ---------------------------------------------------------------------- the command
@projection.on("TrainingRequested")
def _requested(view: ExperimentsView, event: Event) -> ExperimentsView:
    data = event.data
    experiment_id = data["experiment_id"]
    if event.id in view.jobs:
        return view  # the same command twice: stored once
    entry = view.experiments.get(experiment_id)
    config = dict(data.get("config", {}))
    epochs = int(config.get("epochs", 0) or 0)
    if entry is None:
        view.experiments[experiment_id] = ExperimentEntry(
            experiment_id=experiment_id,
            name=data["name"],
            split=data["split"],
            config=config,
            created_seq=event.seq,
            created_ts=event.ts,
            runs=(event.id,),
            actor=event.actor,
            epochs=epochs,
            updated_seq=event.seq,
        )
        view.jobs[event.id] = experiment_id
        return view
    if not data.get("resume", False) or entry.status in ACTIVE:
        # A second experiment with a taken id, or a resume while a run is on: its job is
        # refused by the worker, and its events must not touch this experiment.
        return view
    view.jobs[event.id] = experiment_id
    _put(
        view,
        entry,
        event,
        config=config,
        runs=(*entry.runs, event.id),
        status="queued",
        epochs=epochs,
        error=None,
        failure_reason=None,
        traceback_tail=None,
        cancel_requested=False,
        progress=None,
        stopped_early=False,
        started_ts=None,
        ended_ts=None,
    )
    return view


# ---------------------------------------------------------------------- the job's lifecycle
@projection.on("JobClaimed")
def _claimed(view: ExperimentsView, event: Event) -> ExperimentsView:
    entry = _latest_run(view, event)
    if entry is not None and entry.status == "queued":
        _put(view, entry, event, status="running")
    return view


@projection.on("JobStarted")
def _started(view: ExperimentsView, event: Event) -> ExperimentsView:
    entry = _latest_run(view, event)
    if entry is not None:
        _put(view, entry, event, status="running", started_ts=event.ts)
    return view


@projection.on("JobProgress")
def _progress(view: ExperimentsView, event: Event) -> ExperimentsView:
    entry = _latest_run(view, event)
    if entry is not None:
        data = event.data
        progress = RunProgress(
            done=int(data.get("done", 0)),
            total=data.get("total"),
            message=str(data.get("message", "")),
        )
        _put(view, entry, event, progress=progress)
    return view


@projection.on("CancelRequested")
def _cancel_requested(view: ExperimentsView, event: Event) -> ExperimentsView:
    entry = _latest_run(view, event)
    if entry is not None and not entry.cancel_requested:
        _put(view, entry, event, cancel_requested=True)
    return view


@projection.on("JobSucceeded")
def _succeeded(view: ExperimentsView, event: Event) -> ExperimentsView:
    entry = _latest_run(view, event)
    if entry is not None:
        _end_run(view, entry, event, "completed")
    return view


@projection.on("JobFailed")
def _failed(view: ExperimentsView, event: Event) -> ExperimentsView:
    entry = _latest_run(view, event)
    if entry is not None:
        data = event.data
        reason = data.get("reason", "error")
        _end_run(
            view,
            entry,
            event,
            "interrupted" if reason == "worker_lost" else "failed",
            error=data.get("error"),
            failure_reason=reason,
            traceback_tail=_traceback_tail(data.get("traceback")),
        )
    return view


@projection.on("JobCancelled")
def _cancelled(view: ExperimentsView, event: Event) -> ExperimentsView:
    entry = _latest_run(view, event)
    if entry is not None:
        reason = event.data.get("reason", "cancelled on request")
        _end_run(view, entry, event, "cancelled", failure_reason=reason)
    return view


# ---------------------------------------------------------------------- what a run reports
@projection.on("TrainingStarted")
def _training_started(view: ExperimentsView, event: Event) -> ExperimentsView:
    entry = _training_target(view, event)
    if entry is not None:
        data = event.data
        start = int(data["start_epoch"])
        history = tuple(r for r in entry.history if r.epoch <= start)
        _put(
            view,
            entry,
            event,
            status="running" if entry.status == "queued" else entry.status,
            start_epoch=start,
            epochs=int(data["epochs"]),
            train_images=data["train_images"],
            val_images=data["val_images"],
            parameters=data["parameters"],
            device=data["device"],
            weights=data["weights"],
            history=history,
        )
    return view


@projection.on("EpochCompleted")
def _epoch(view: ExperimentsView, event: Event) -> ExperimentsView:
    entry = _training_target(view, event)
    if entry is not None:
        data = event.data
        record = EpochRecord(
            epoch=int(data["epoch"]),
            train_loss=float(data["train_loss"]),
            val_loss=None if data.get("val_loss") is None else float(data["val_loss"]),
            metrics=dict(data.get("metrics", {})),
            lr=float(data["lr"]),
            duration_s=float(data["duration_s"]),
            images_per_s=float(data.get("images_per_s", 0.0)),
            seq=event.seq,
        )
        # Epochs at or after this one belong to a timeline no checkpoint kept: replaced.
        history = (*(r for r in entry.history if r.epoch < record.epoch), record)
        _put(view, entry, event, history=history, epochs=int(data["epochs"]))
    return view


@projection.on("CheckpointSaved")
def _checkpoint(view: ExperimentsView, event: Event) -> ExperimentsView:
    entry = _training_target(view, event)
    if entry is not None:
        data = event.data
        info = CheckpointInfo(
            epoch=int(data["epoch"]),
            sha256=data["sha256"],
            size_bytes=int(data["size_bytes"]),
            metric=data.get("metric"),
            value=data.get("value"),
            seq=event.seq,
        )
        which = data["which"]
        changes: dict[str, Any] = {"checkpoints": {**entry.checkpoints, which: info}}
        if which == "best":
            changes["best"] = BestEpoch(info.epoch, info.metric, info.value)
        _put(view, entry, event, **changes)
    return view


@projection.on("TrainingCompleted")
def _training_completed(view: ExperimentsView, event: Event) -> ExperimentsView:
    entry = _training_target(view, event)
    if entry is not None:
        data = event.data
        best = entry.best
        if data.get("best_epoch") is not None:
            best = BestEpoch(int(data["best_epoch"]), data.get("metric"), data.get("best_value"))
        _put(
            view,
            entry,
            event,
            status="completed",
            best=best,
            stopped_early=bool(data.get("stopped_early", False)),
            duration_s=entry.duration_s + float(data.get("duration_s", 0.0)),
            progress=None,
            cancel_requested=False,
            ended_ts=event.ts,
        )
    return view


@projection.on("ThresholdSet")
def _threshold_set(view: ExperimentsView, event: Event) -> ExperimentsView:
    entry = view.experiments.get(event.data["experiment_id"])
    if entry is not None:
        _put(view, entry, event, threshold=float(event.data["threshold"]))
    return view


def rebuild(events: Iterable[Event], until_seq: int | None = None) -> ExperimentsView:
    """The experiments view folded from ``events`` (only ``seq <= until_seq`` when given)."""
    return projection.rebuild(events, until_seq)
