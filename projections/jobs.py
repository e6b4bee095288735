"""The jobs view: one entry per command, with its lifecycle, progress and outcome.

Every event whose type ends in ``Requested`` (except ``CancelRequested``) creates a pending job
whose id is the command event's id. ``JobClaimed`` -> claimed, ``JobStarted`` -> running,
``JobProgress`` updates the progress, ``JobSucceeded``/``JobFailed``/``JobCancelled`` end it.
A job that ended never changes again; job events naming unknown jobs are ignored.

Every handler here reads only the envelope and fields read with defaults, so this view reads
every version of its events (``any_version``): the worker must see every command, also one of a
newer version, to refuse it with ``JobFailed(invalid_command)`` rather than leave it pending.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from events import Event
from projections.base import Projection, SkippedEvent

STATUSES: tuple[str, ...] = ("pending", "claimed", "running", "succeeded", "failed", "cancelled")
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
ACTIVE: frozenset[str] = frozenset({"claimed", "running"})


@dataclass(frozen=True, slots=True)
class JobEntry:
    """One job: its command and what happened to it since.

    Attributes:
        job_id: the command event's id.
        command_type: the command's event type (``TrainingRequested``, …).
        command_seq: the command's seq.
        requested_ts: the command's time.
        actor: who appended the command.
        data: the command's data (read-only).
        status: ``pending``, ``claimed``, ``running``, ``succeeded``, ``failed`` or
            ``cancelled``.
        worker_id: the worker that claimed it.
        host: the host of that worker.
        pid: the worker's pid at claim, then the job process's pid once started.
        claimed_seq: seq of ``JobClaimed``.
        started_ts: time of ``JobStarted``.
        ended_ts: time of the job's end.
        progress_done: units of work done (last ``JobProgress``).
        progress_total: units of work in all, when known.
        progress_message: the last progress message.
        error: the error of a failed job.
        reason: why it failed (``error``, ``worker_lost``, …) or was cancelled.
        traceback: the traceback of a failed job, when there is one.
        summary: the result summary of a job that succeeded.
        cancel_requested: whether a ``CancelRequested`` named the job before it ended.
    """

    job_id: str
    command_type: str
    command_seq: int
    requested_ts: str
    actor: str
    data: dict[str, Any]
    status: str = "pending"
    worker_id: str | None = None
    host: str | None = None
    pid: int | None = None
    claimed_seq: int | None = None
    started_ts: str | None = None
    ended_ts: str | None = None
    progress_done: int = 0
    progress_total: int | None = None
    progress_message: str = ""
    error: str | None = None
    reason: str | None = None
    traceback: str | None = None
    summary: dict[str, Any] | None = None
    cancel_requested: bool = False

    @property
    def is_terminal(self) -> bool:
        """Whether the job has ended (succeeded, failed or cancelled)."""
        return self.status in TERMINAL


@dataclass(slots=True, eq=True)
class JobsView:
    """Every job of the project as of event ``seq``, in command order."""

    seq: int = 0
    jobs: dict[str, JobEntry] = field(default_factory=dict)
    skipped: tuple[SkippedEvent, ...] = ()
    """The events this view could not read (kept in the log, skipped): see ``SkippedEvent``."""

    def copy(self) -> JobsView:
        """A copy whose container is independent (entries are immutable and shared)."""
        return JobsView(self.seq, dict(self.jobs), self.skipped)

    def get(self, job_id: str) -> JobEntry | None:
        """The job ``job_id``, or None."""
        return self.jobs.get(job_id)

    def pending(self) -> list[JobEntry]:
        """The pending jobs, oldest command first."""
        return [job for job in self.jobs.values() if job.status == "pending"]

    def active(self) -> list[JobEntry]:
        """The claimed or running jobs, oldest command first."""
        return [job for job in self.jobs.values() if job.status in ACTIVE]


projection: Projection[JobsView] = Projection("jobs", JobsView)


def _open_job(view: JobsView, event: Event) -> JobEntry | None:
    """The job ``event`` names, unless unknown or already ended."""
    job = view.jobs.get(event.data.get("job_id", ""))
    if job is None or job.status in TERMINAL:
        return None
    return job


@projection.on("JobClaimed", any_version=True)
def _claimed(view: JobsView, event: Event) -> JobsView:
    job = _open_job(view, event)
    if job is not None and job.status == "pending":  # the first claim wins
        data = event.data
        view.jobs[job.job_id] = replace(
            job,
            status="claimed",
            worker_id=data.get("worker_id"),
            host=data.get("host"),
            pid=data.get("pid"),
            claimed_seq=event.seq,
        )
    return view


@projection.on("JobStarted", any_version=True)
def _started(view: JobsView, event: Event) -> JobsView:
    job = _open_job(view, event)
    if job is not None and job.status != "running":
        view.jobs[job.job_id] = replace(
            job, status="running", pid=event.data.get("pid", job.pid), started_ts=event.ts
        )
    return view


@projection.on("JobProgress", any_version=True)
def _progress(view: JobsView, event: Event) -> JobsView:
    job = _open_job(view, event)
    if job is not None:
        data = event.data
        view.jobs[job.job_id] = replace(
            job,
            progress_done=data.get("done", job.progress_done),
            progress_total=data.get("total"),
            progress_message=data.get("message", ""),
        )
    return view


@projection.on("JobSucceeded", any_version=True)
def _succeeded(view: JobsView, event: Event) -> JobsView:
    job = _open_job(view, event)
    if job is not None:
        view.jobs[job.job_id] = replace(
            job, status="succeeded", ended_ts=event.ts, summary=event.data.get("summary", {})
        )
    return view


@projection.on("JobFailed", any_version=True)
def _failed(view: JobsView, event: Event) -> JobsView:
    job = _open_job(view, event)
    if job is not None:
        data = event.data
        view.jobs[job.job_id] = replace(
            job,
            status="failed",
            ended_ts=event.ts,
            error=data.get("error"),
            reason=data.get("reason", "error"),
            traceback=data.get("traceback"),
        )
    return view


@projection.on("JobCancelled", any_version=True)
def _cancelled(view: JobsView, event: Event) -> JobsView:
    job = _open_job(view, event)
    if job is not None:
        view.jobs[job.job_id] = replace(
            job,
            status="cancelled",
            ended_ts=event.ts,
            reason=event.data.get("reason", "cancelled on request"),
        )
    return view


@projection.on("CancelRequested", any_version=True)
def _cancel_requested(view: JobsView, event: Event) -> JobsView:
    job = _open_job(view, event)
    if job is not None and not job.cancel_requested:
        view.jobs[job.job_id] = replace(job, cancel_requested=True)
    return view


def _is_command(event_type: str) -> bool:
    return event_type.endswith("Requested")


@projection.on_match(_is_command, any_version=True)
def _command(view: JobsView, event: Event) -> JobsView:
    """Any ``…Requested`` event but ``CancelRequested`` (which has its own): a new pending job."""
    if event.id not in view.jobs:
        view.jobs[event.id] = JobEntry(
            job_id=event.id,
            command_type=event.type,
            command_seq=event.seq,
            requested_ts=event.ts,
            actor=event.actor,
            data=event.data,
        )
    return view


def rebuild(events: Iterable[Event], until_seq: int | None = None) -> JobsView:
    """The jobs view folded from ``events`` (only ``seq <= until_seq`` when given)."""
    return projection.rebuild(events, until_seq)
