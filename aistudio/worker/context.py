"""What a job handler receives and returns: the contract between the runner and the jobs.

A job handler is ``def run(ctx: JobContext) -> JobResult``. It reads the command from
``ctx.command``, reports progress with ``ctx.progress``, calls ``ctx.check_cancelled()`` at safe
points, and returns the domain events to append. The runner appends those events together with
``JobSucceeded`` in one all-or-nothing append, so a job that dies halfway leaves nothing half done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aistudio.settings import Settings
from aistudio.workspace import Workspace
from events import Event, EventLog, LogTail, NewEvent

logger = logging.getLogger(__name__)


class JobInputError(Exception):
    """The command cannot be carried out because of its input; the message is for the user.

    ``events``: facts the job established before failing (say, an export's validation figures),
    appended together with ``JobFailed`` in one all-or-nothing append.
    """

    reason = "bad_input"
    """The ``JobFailed`` reason it ends the job with (the CLI exits 2 for bad input)."""

    def __init__(self, message: str, events: list[NewEvent] | None = None) -> None:
        super().__init__(message)
        self.events: list[NewEvent] = list(events or [])


class JobCheckFailedError(JobInputError):
    """The job did its work, but its result failed a check (an export that differs from
    PyTorch): ``JobFailed(error)``, with the facts it established (CLI exit 1, not 2)."""

    reason = "error"


class JobCancelledError(Exception):
    """Raised by :meth:`JobContext.check_cancelled` when a cancel was requested."""


@dataclass
class JobResult:
    """What a finished job leaves: domain events and a short summary for ``JobSucceeded``.

    ``rebase``, when given, makes the result valid against the log as it is when the runner
    appends it: the runner calls ``rebase(seq)`` with the log's last seq and appends the returned
    result with ``expected_seq=seq``, retrying when another writer got in between. An import uses
    it to re-check duplicates against images that a concurrent import added meanwhile.
    """

    events: list[NewEvent] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    rebase: Callable[[int], JobResult] | None = None

    def release(self) -> None:
        """Free what the result holds until it is committed or abandoned (nothing here; an
        import holds its project's images lock). The runner calls it after the commit."""


class JobContext:
    """The running job's view of the world."""

    def __init__(
        self,
        workspace: Workspace,
        project_id: str,
        command: Event,
        settings: Settings | None = None,
    ) -> None:
        self.workspace = workspace
        self.project_id = project_id
        self.command = command
        self.job_id = command.id
        self.settings = settings or Settings.load(workspace.settings_path)
        self.log = EventLog(workspace.events_path(project_id))
        self._last_progress = 0.0
        self._cancel_tail: LogTail | None = None
        self._last_cancel_check = 0.0
        self._cancelled = False

    def new_event(self, type: str, data: dict[str, Any]) -> NewEvent:
        """A domain event of this job (actor ``job``, caused by the command)."""
        return NewEvent(type=type, data=data, actor="job", causation=self.job_id)

    def append(self, type: str, data: dict[str, Any]) -> Event:
        """Append one event of this job at once (for progress-like facts)."""
        return self.log.append(type, data, actor="job", causation=self.job_id)

    def progress(
        self, done: int, total: int | None = None, message: str = "", *, force: bool = False
    ) -> None:
        """Report progress; appended at most once every ``progress_interval_s`` unless forced."""
        now = time.monotonic()
        if not force and now - self._last_progress < self.settings.progress_interval_s:
            return
        self._last_progress = now
        self.append(
            "JobProgress",
            {"job_id": self.job_id, "done": done, "total": total, "message": message[:500]},
        )

    def cancel_requested(self) -> bool:
        """Whether a ``CancelRequested`` names this job (the log is read at most every 0.5 s)."""
        if self._cancelled:
            return True
        now = time.monotonic()
        if now - self._last_cancel_check < 0.5:
            return False
        self._last_cancel_check = now
        if self._cancel_tail is None:
            self._cancel_tail = self.log.tail()
        for event in self._cancel_tail.poll():
            if event.type == "CancelRequested" and event.data.get("job_id") == self.job_id:
                self._cancelled = True
        return self._cancelled

    def check_cancelled(self) -> None:
        """Raise :class:`JobCancelledError` when a cancel was requested."""
        if self.cancel_requested():
            raise JobCancelledError(f"job {self.job_id} was cancelled")
