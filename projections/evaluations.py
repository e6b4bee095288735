"""The evaluations view: at most one evaluation per experiment, with its figures and files.

``EvaluationRequested`` opens an evaluation (its event id is the job id); ``EvaluationCompleted``
(caused by that job) fills in the figures and names the files that hold the per-image results
and the report; ``JobFailed`` / ``JobCancelled`` of the job end it without figures;
``EvaluationReset`` removes it, so the experiment can be evaluated again. While an evaluation
is pending or completed, another request for the same experiment is ignored here (the commands
refuse it, and its job fails); after a failure or cancel, a new request replaces it.

The job's claim, start and progress are the jobs view's business (``projections.jobs``): this
view only says whether the evaluation is ``pending``, ``completed``, ``failed`` or
``cancelled``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from events import Event
from projections.base import Projection, SkippedEvent

PENDING = "pending"
STATUSES: tuple[str, ...] = (PENDING, "completed", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A file a job wrote (from a ``FileRef``): its name in the experiment folder, sha256, size."""

    name: str
    sha256: str
    size_bytes: int

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> FileInfo | None:
        """The file of a ``FileRef`` payload (None when absent)."""
        if not data:
            return None
        return cls(str(data["name"]), str(data["sha256"]), int(data["size_bytes"]))


@dataclass(frozen=True, slots=True)
class EvaluationEntry:
    """The evaluation of one experiment (immutable: a change replaces it).

    Attributes:
        experiment_id: the experiment evaluated.
        job_id: the id of the ``EvaluationRequested`` (the job).
        checkpoint: ``best`` or ``last``.
        subsets: the pooled subsets of the experiment's split.
        requested_seq: seq of the request.
        requested_ts: its time.
        actor: who asked.
        status: ``pending`` (queued or running: see the jobs view), ``completed``, ``failed``
            or ``cancelled``.
        error: why it failed.
        split: the split (once completed).
        checkpoint_epoch: the epoch of the checkpoint's weights.
        checkpoint_sha256: the checkpoint file evaluated.
        images: images evaluated.
        skipped: images of the subsets that could not be scored.
        trained_seq: the seq whose labels the model was trained with.
        primary_metric: the task's primary metric.
        metrics: the scalar figures, by name.
        results: the per-image results file (JSON lines).
        report: the report file (per-class figures, confusion matrix, curves; JSON).
        duration_s: how long the job took.
        images_per_s: inference throughput.
        completed_seq: seq of ``EvaluationCompleted``.
        completed_ts: its time.
    """

    experiment_id: str
    job_id: str
    checkpoint: str
    subsets: tuple[str, ...]
    requested_seq: int
    requested_ts: str
    actor: str
    status: str = PENDING
    error: str | None = None
    split: str | None = None
    checkpoint_epoch: int | None = None
    checkpoint_sha256: str | None = None
    images: int = 0
    skipped: int = 0
    trained_seq: int = 0
    primary_metric: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    results: FileInfo | None = None
    report: FileInfo | None = None
    duration_s: float = 0.0
    images_per_s: float = 0.0
    completed_seq: int | None = None
    completed_ts: str | None = None

    @property
    def is_pending(self) -> bool:
        """Whether the job has not ended yet."""
        return self.status == PENDING


@dataclass(slots=True, eq=True)
class EvaluationsView:
    """The evaluation of every experiment, as of event ``seq``.

    Attributes:
        seq: the seq of the last event folded.
        evaluations: experiment id -> its evaluation (in request order).
        jobs: job id -> experiment id, for every request folded (also replaced ones).
    """

    seq: int = 0
    evaluations: dict[str, EvaluationEntry] = field(default_factory=dict)
    jobs: dict[str, str] = field(default_factory=dict)
    skipped: tuple[SkippedEvent, ...] = ()
    """The events this view could not read (kept in the log, skipped): see ``SkippedEvent``."""

    def copy(self) -> EvaluationsView:
        """A copy whose containers are independent (entries are immutable and shared)."""
        return EvaluationsView(self.seq, dict(self.evaluations), dict(self.jobs), self.skipped)

    def get(self, experiment_id: str) -> EvaluationEntry | None:
        """The evaluation of ``experiment_id``, or None."""
        return self.evaluations.get(experiment_id)

    def for_job(self, job_id: str) -> EvaluationEntry | None:
        """The evaluation whose job is ``job_id`` (None when it was replaced or reset)."""
        entry = self.evaluations.get(self.jobs.get(job_id, ""))
        return entry if entry is not None and entry.job_id == job_id else None

    def completed(self) -> list[EvaluationEntry]:
        """The completed evaluations, in request order."""
        return [e for e in self.evaluations.values() if e.status == "completed"]


projection: Projection[EvaluationsView] = Projection("evaluation", EvaluationsView)


@projection.on("EvaluationRequested")
def _requested(view: EvaluationsView, event: Event) -> EvaluationsView:
    data = event.data
    experiment_id = data["experiment_id"]
    current = view.evaluations.get(experiment_id)
    if event.id in view.jobs or (current is not None and current.status in (PENDING, "completed")):
        return view  # a repeat, or a second evaluation the commands would have refused
    view.jobs[event.id] = experiment_id
    view.evaluations[experiment_id] = EvaluationEntry(
        experiment_id=experiment_id,
        job_id=event.id,
        checkpoint=str(data.get("checkpoint", "best")),
        subsets=tuple(data.get("subsets", ("test",))),
        requested_seq=event.seq,
        requested_ts=event.ts,
        actor=event.actor,
    )
    return view


@projection.on("EvaluationCompleted")
def _completed(view: EvaluationsView, event: Event) -> EvaluationsView:
    data = event.data
    entry = view.evaluations.get(data["experiment_id"])
    if entry is None or not entry.is_pending:
        return view
    if event.causation is not None and event.causation != entry.job_id:
        return view  # from a job whose evaluation was replaced or reset
    view.evaluations[entry.experiment_id] = replace(
        entry,
        status="completed",
        split=data["split"],
        checkpoint_epoch=int(data["checkpoint_epoch"]),
        checkpoint_sha256=data["checkpoint_sha256"],
        subsets=tuple(data["subsets"]),
        images=int(data["images"]),
        skipped=int(data.get("skipped", 0)),
        trained_seq=int(data["trained_seq"]),
        primary_metric=data["primary_metric"],
        metrics=dict(data["metrics"]),
        results=FileInfo.of(data["results"]),
        report=FileInfo.of(data["report"]),
        duration_s=float(data["duration_s"]),
        images_per_s=float(data.get("images_per_s", 0.0)),
        completed_seq=event.seq,
        completed_ts=event.ts,
    )
    return view


@projection.on("JobFailed")
def _failed(view: EvaluationsView, event: Event) -> EvaluationsView:
    entry = view.for_job(event.data.get("job_id", ""))
    if entry is not None and entry.is_pending:
        error = event.data.get("error")
        view.evaluations[entry.experiment_id] = replace(entry, status="failed", error=error)
    return view


@projection.on("JobCancelled")
def _cancelled(view: EvaluationsView, event: Event) -> EvaluationsView:
    entry = view.for_job(event.data.get("job_id", ""))
    if entry is not None and entry.is_pending:
        view.evaluations[entry.experiment_id] = replace(entry, status="cancelled")
    return view


@projection.on("EvaluationReset")
def _reset(view: EvaluationsView, event: Event) -> EvaluationsView:
    view.evaluations.pop(event.data["experiment_id"], None)
    return view


def rebuild(events: Iterable[Event], until_seq: int | None = None) -> EvaluationsView:
    """The evaluations view folded from ``events`` (only ``seq <= until_seq`` when given)."""
    return projection.rebuild(events, until_seq)
