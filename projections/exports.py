"""The exports view: every export of every experiment, with its validation figures and file.

``ExportRequested`` opens an export (its event id is the job id, ``export_id`` its name);
``ExportCompleted`` records the file and what validating it against PyTorch showed: an export
whose figures are over tolerance is ``failed`` (its ``JobFailed`` follows in the same append),
with the figures kept. ``JobFailed`` / ``JobCancelled`` end a pending export without a file.
Claim, start and progress are in the jobs view.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from events import Event
from projections.base import Projection, SkippedEvent
from projections.evaluations import PENDING, FileInfo

STATUSES: tuple[str, ...] = (PENDING, "completed", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class ValidationInfo:
    """How the export compared with PyTorch on real images of the dataset."""

    images: int
    max_abs_diff: float
    agreement: float
    tolerance: float
    passed: bool
    mask_iou_min: float | None = None
    """Instance segmentation: the smallest mask IoU of the matched detections."""
    pixel_agreement: float | None = None
    """Semantic segmentation: the share of pixels given the same class."""


@dataclass(frozen=True, slots=True)
class ExportEntry:
    """One export (immutable: a change replaces it).

    Attributes:
        export_id: ``xpt-`` id.
        experiment_id: the experiment exported.
        job_id: the id of the ``ExportRequested``.
        checkpoint: ``best`` or ``last``.
        format: ``onnx`` or ``torchscript``.
        options: the export options asked for.
        requested_seq: seq of the request.
        requested_ts: its time.
        actor: who asked.
        status: ``pending``, ``completed``, ``failed`` (also: over tolerance) or ``cancelled``.
        error: why it failed.
        checkpoint_epoch: the epoch of the exported weights.
        checkpoint_sha256: the checkpoint file exported.
        file: the exported file (also kept for an export that failed validation).
        validation: the validation figures.
        metadata: the metadata stored in the file (JSON values).
        duration_s: how long the job took.
        completed_seq: seq of ``ExportCompleted``.
        completed_ts: its time.
    """

    export_id: str
    experiment_id: str
    job_id: str
    checkpoint: str
    format: str
    options: dict[str, Any]
    requested_seq: int
    requested_ts: str
    actor: str
    status: str = PENDING
    error: str | None = None
    checkpoint_epoch: int | None = None
    checkpoint_sha256: str | None = None
    file: FileInfo | None = None
    validation: ValidationInfo | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0
    completed_seq: int | None = None
    completed_ts: str | None = None

    @property
    def downloadable(self) -> bool:
        """Whether the file can be handed out: written and validated within tolerance."""
        return self.status == "completed" and self.file is not None


@dataclass(slots=True, eq=True)
class ExportsView:
    """Every export of the project as of event ``seq``, in request order.

    Attributes:
        seq: the seq of the last event folded.
        exports: export id -> entry.
        jobs: job id -> export id.
    """

    seq: int = 0
    exports: dict[str, ExportEntry] = field(default_factory=dict)
    jobs: dict[str, str] = field(default_factory=dict)
    skipped: tuple[SkippedEvent, ...] = ()
    """The events this view could not read (kept in the log, skipped): see ``SkippedEvent``."""

    def copy(self) -> ExportsView:
        """A copy whose containers are independent (entries are immutable and shared)."""
        return ExportsView(self.seq, dict(self.exports), dict(self.jobs), self.skipped)

    def get(self, export_id: str) -> ExportEntry | None:
        """The export ``export_id``, or None."""
        return self.exports.get(export_id)

    def for_job(self, job_id: str) -> ExportEntry | None:
        """The export whose job is ``job_id``, or None."""
        return self.exports.get(self.jobs.get(job_id, ""))

    def of_experiment(self, experiment_id: str) -> list[ExportEntry]:
        """The exports of ``experiment_id``, newest first."""
        found = [e for e in self.exports.values() if e.experiment_id == experiment_id]
        return found[::-1]

    def newest_first(self) -> list[ExportEntry]:
        """Every export, newest first."""
        return list(self.exports.values())[::-1]


projection: Projection[ExportsView] = Projection("exports", ExportsView)


@projection.on("ExportRequested")
def _requested(view: ExportsView, event: Event) -> ExportsView:
    data = event.data
    export_id = data["export_id"]
    if event.id in view.jobs or export_id in view.exports:
        return view  # a repeat, or an id already taken (its job is refused)
    view.jobs[event.id] = export_id
    view.exports[export_id] = ExportEntry(
        export_id=export_id,
        experiment_id=data["experiment_id"],
        job_id=event.id,
        checkpoint=str(data.get("checkpoint", "best")),
        format=str(data.get("format", "onnx")),
        options=dict(data.get("options") or {}),
        requested_seq=event.seq,
        requested_ts=event.ts,
        actor=event.actor,
    )
    return view


@projection.on("ExportCompleted")
def _completed(view: ExportsView, event: Event) -> ExportsView:
    data = event.data
    entry = view.exports.get(data["export_id"])
    if entry is None or entry.status != PENDING:
        return view
    if event.causation is not None and event.causation != entry.job_id:
        return view
    check = data["validation"]
    validation = ValidationInfo(
        images=int(check["images"]),
        max_abs_diff=float(check["max_abs_diff"]),
        agreement=float(check["agreement"]),
        tolerance=float(check["tolerance"]),
        passed=bool(check["passed"]),
        mask_iou_min=_optional(check.get("mask_iou_min")),
        pixel_agreement=_optional(check.get("pixel_agreement")),
    )
    view.exports[entry.export_id] = replace(
        entry,
        status="completed" if validation.passed else "failed",
        checkpoint_epoch=int(data["checkpoint_epoch"]),
        checkpoint_sha256=data["checkpoint_sha256"],
        file=FileInfo.of(data["file"]),
        validation=validation,
        metadata=dict(data.get("metadata", {})),
        duration_s=float(data["duration_s"]),
        completed_seq=event.seq,
        completed_ts=event.ts,
    )
    return view


@projection.on("JobFailed")
def _failed(view: ExportsView, event: Event) -> ExportsView:
    entry = view.for_job(event.data.get("job_id", ""))
    if entry is not None and (
        entry.status == PENDING or (entry.status == "failed" and not entry.error)
    ):
        view.exports[entry.export_id] = replace(
            entry, status="failed", error=event.data.get("error")
        )
    return view


@projection.on("JobCancelled")
def _cancelled(view: ExportsView, event: Event) -> ExportsView:
    entry = view.for_job(event.data.get("job_id", ""))
    if entry is not None and entry.status == PENDING:
        view.exports[entry.export_id] = replace(entry, status="cancelled")
    return view


def rebuild(events: Iterable[Event], until_seq: int | None = None) -> ExportsView:
    """The exports view folded from ``events`` (only ``seq <= until_seq`` when given)."""
    return projection.rebuild(events, until_seq)


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)
