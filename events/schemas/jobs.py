"""Events of the job lifecycle, shared by every command."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from events.registry import EventData, registry
from events.schemas.common import EventId, NonNegativeInt

FailureReason = Literal["error", "bad_input", "invalid_command", "worker_lost", "process_died"]
"""Why a job failed: ``error`` an internal error (with a traceback); ``bad_input`` the job's input
cannot be used (``JobInputError``: nothing importable, a malformed file…); ``invalid_command``
the command itself cannot run; ``worker_lost``/``process_died`` its process was stopped or died.
The CLI exits 2 for ``bad_input`` and ``invalid_command`` (bad input, DESIGN §6), else 1."""


@registry.register("JobClaimed")
class JobClaimed(EventData):
    """A worker (or a CLI running a job inline) took a command; exactly one claim wins."""

    job_id: EventId
    command_type: str
    worker_id: str = Field(min_length=1, max_length=100)
    host: str = Field(max_length=255)
    pid: int


@registry.register("JobStarted")
class JobStarted(EventData):
    """The job's process started working."""

    job_id: EventId
    pid: int


@registry.register("JobProgress")
class JobProgress(EventData):
    """Throttled progress of a running job."""

    job_id: EventId
    done: NonNegativeInt
    total: NonNegativeInt | None = None
    message: str = Field(default="", max_length=500)


@registry.register("JobSucceeded")
class JobSucceeded(EventData):
    """The job ended well."""

    job_id: EventId
    summary: dict[str, Any] = Field(default_factory=dict)


@registry.register("JobFailed")
class JobFailed(EventData):
    """The job ended with an error."""

    job_id: EventId
    error: str = Field(min_length=1, max_length=2000)
    reason: FailureReason = "error"
    traceback: str | None = Field(default=None, max_length=20000)


@registry.register("CancelRequested")
class CancelRequested(EventData):
    """Command: stop the job ``job_id``."""

    job_id: EventId


@registry.register("JobCancelled")
class JobCancelled(EventData):
    """The job was stopped on request."""

    job_id: EventId
    reason: str = Field(default="cancelled on request", max_length=500)
