"""Runs one claimed job to its end, in its own process: ``python -m aistudio.worker.runner``
(a cold start), or a process forked for it by the warm runner (:mod:`aistudio.worker.warm`).

Whatever happens, the job's end is an event: ``JobSucceeded`` (appended in one all-or-nothing
append with the job's domain events), ``JobFailed`` with the error and traceback, or
``JobCancelled``. If even that append fails, the process exits non-zero and its supervisor
appends ``JobFailed`` for it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import traceback
from types import FrameType

from aistudio.commands import recheck
from aistudio.diagnostics import enable_stack_dumps
from aistudio.worker.context import JobCancelledError, JobContext, JobInputError, JobResult
from aistudio.worker.handlers import resolve_handler
from aistudio.workspace import Workspace
from events import ConcurrencyError, Event, EventLog, EventLogError, NewEvent, registry

logger = logging.getLogger(__name__)

_MAX_ERROR = 2000
_MAX_TRACEBACK = 20000
_MAX_REBASES = 20


class JobInterruptedError(BaseException):
    """The job process was asked to stop (SIGTERM) by its supervisor."""


class _Ending:
    """Whether this process is writing its job's end; a SIGTERM then no longer interrupts it.

    Raised between the write and the return of the append that commits ``JobSucceeded`` (or
    ``JobFailed``), ``JobInterruptedError`` would add a second end to a job that already has one.
    ``interrupted`` records that a stop signal arrived: an error raised while the job unwinds
    from it (a data loader or DDP process that died of the same signal, a teardown that failed
    half-way) is a consequence of the interruption, and the job still ends as interrupted.
    """

    writing = False
    interrupted = False


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    """SIGTERM or SIGINT: interrupt the job (unless its end is being written)."""
    if not _Ending.writing:
        _Ending.interrupted = True
        raise JobInterruptedError


_INTERRUPTED = "interrupted: the worker was stopped while this job ran; run it again"


def _storable(text: str) -> str:
    """``text`` as the UTF-8 log can store it: an error quoting a file name of bytes that are not
    UTF-8 (surrogate-escaped by Python) shows them as ``\\udce9`` escapes instead of making the
    job's end impossible to append."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def command_problem(command: Event) -> str | None:
    """Why ``command`` cannot be run as a job, or None when it can."""
    if command.type not in registry:
        return f"unknown command type {command.type!r} (written by a newer version of AI Studio?)"
    try:
        resolve_handler(command.type)
    except KeyError:
        return f"no job handles {command.type} in this version of AI Studio"
    if command.v > registry.get(command.type).version:
        return f"{command.type} v{command.v} is newer than this version of AI Studio understands"
    try:
        registry.validate(command.type, command.data)
    except EventLogError as exc:
        return f"invalid command: {exc}"
    # The same rules every writer's command went through (a raw append skipped them).
    broken = recheck(command)
    return None if broken is None else f"invalid command: {broken}"


def run_job(workspace: Workspace, project_id: str, job_id: str) -> str:
    """Run the claimed job ``job_id`` and append its end; returns the final status."""
    log = EventLog(workspace.events_path(project_id))
    command = log.get(job_id)
    if command is None:
        raise SystemExit(f"no command {job_id} in project {project_id}")

    def end(event_type: str, data: dict[str, object], extra: list[NewEvent] | None = None) -> None:
        _Ending.writing = True
        text = {k: _storable(v) if isinstance(v, str) else v for k, v in data.items()}
        final = NewEvent(event_type, {"job_id": job_id, **text}, actor="job", causation=job_id)
        log.append_many([*(extra or []), final])

    _Ending.writing = False
    _Ending.interrupted = False
    log.append("JobStarted", {"job_id": job_id, "pid": os.getpid()}, actor="job", causation=job_id)
    try:
        problem = command_problem(command)
        if problem is not None:
            end("JobFailed", {"error": problem[:_MAX_ERROR], "reason": "invalid_command"})
            return "failed"
        ctx = JobContext(workspace, project_id, command)
        result = resolve_handler(command.type)(ctx)
        try:
            _commit(log, job_id, result)
        finally:
            result.release()
        return "succeeded"
    except JobCancelledError:
        end("JobCancelled", {"reason": "cancelled on request"})
        return "cancelled"
    except JobInputError as exc:
        end("JobFailed", {"error": str(exc)[:_MAX_ERROR], "reason": exc.reason}, exc.events)
        return "failed"
    except JobInterruptedError:
        end("JobFailed", {"error": _INTERRUPTED, "reason": "worker_lost"})
        return "failed"
    except Exception as exc:
        if _Ending.interrupted:
            # Raised while unwinding from a stop signal: the interruption is the cause.
            logger.warning("job %s: %s while it was being interrupted", job_id, type(exc).__name__)
            end(
                "JobFailed",
                {
                    "error": f"{_INTERRUPTED} (while stopping: {type(exc).__name__}: {exc})"[
                        :_MAX_ERROR
                    ],
                    "reason": "worker_lost",
                    "traceback": traceback.format_exc()[-_MAX_TRACEBACK:],
                },
            )
            return "failed"
        logger.exception("job %s failed", job_id)
        end(
            "JobFailed",
            {
                "error": f"{type(exc).__name__}: {exc}"[:_MAX_ERROR],
                "reason": "error",
                "traceback": traceback.format_exc()[-_MAX_TRACEBACK:],
            },
        )
        return "failed"


def _commit(log: EventLog, job_id: str, result: JobResult) -> None:
    """Append the job's events and ``JobSucceeded`` at once, rebased on the log if asked."""
    _Ending.writing = True  # from here a SIGTERM waits for the commit (the supervisor kills later)
    for _attempt in range(_MAX_REBASES):
        expected: int | None = None
        final = result
        if result.rebase is not None:
            expected = log.last_seq()
            final = result.rebase(expected)
        succeeded = NewEvent(
            "JobSucceeded",
            {"job_id": job_id, "summary": final.summary},
            actor="job",
            causation=job_id,
        )
        try:
            log.append_many([*final.events, succeeded], expected_seq=expected)
            return
        except ConcurrencyError:
            logger.info("job %s: the log moved while committing; rebasing", job_id)
    raise EventLogError(f"could not commit the results of {job_id}: the log kept changing")


def install_signal_handlers() -> None:
    """Make SIGTERM and SIGINT interrupt the job (see :func:`_on_sigterm`).

    SIGINT too: the job runs in its own session, so a terminal's Ctrl-C does not reach it, but a
    SIGINT sent to it directly must interrupt it like a SIGTERM (Lightning's own
    KeyboardInterrupt handling would exit the process without the job's end).
    """
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, _on_sigterm)


def configure_logging() -> None:
    """The job process's log format (its stderr is the job's log file)."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )


def serve_job(workspace_root: str, project_id: str, job_id: str) -> int:
    """Run one job in this process, which exists for it alone; the process's exit code.

    What both ways of starting a job process end in: ``python -m aistudio.worker.runner`` (a
    cold start) and a process forked by the warm runner (:mod:`aistudio.worker.warm`).
    """
    configure_logging()
    install_signal_handlers()
    enable_stack_dumps()
    status = run_job(Workspace(workspace_root), project_id, job_id)
    logger.info("job %s ended: %s", job_id, status)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of a job process started by a worker (or by ``aistudio … --wait``)."""
    parser = argparse.ArgumentParser(prog="aistudio-job")
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--job", required=True)
    args = parser.parse_args(argv)
    return serve_job(args.workspace, args.project, args.job)


if __name__ == "__main__":
    sys.exit(main())
