"""Claiming jobs, starting their processes and ending the ones nobody will end.

Used by the worker and by ``aistudio … --wait`` when no worker is alive. Every transition is
decided under the job's lock and re-checked against a fresh view of the log, so two supervisors
never claim, fail or cancel the same job twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from aistudio.worker.handlers import resolve_after_death
from aistudio.worker.locks import HeldLock, is_held, try_lock
from aistudio.worker.runner import command_problem
from aistudio.worker.warm import JobProcess, WarmRunner, WarmStartError
from aistudio.workspace import Workspace
from events import ConcurrencyError, Event, EventLog
from projections.catalog import ALL_PROJECTIONS
from projections.jobs import JobEntry, JobsView
from projections.projector import ProjectProjector

logger = logging.getLogger(__name__)

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
CANCEL_GRACE_S = 10.0


@dataclass
class RunningJob:
    """A job process this supervisor started."""

    project_id: str
    job_id: str
    process: JobProcess
    lock: HeldLock
    log_path: Path
    started: float = field(default_factory=time.monotonic)
    cancel_seen_at: float | None = None


def jobs_projector(workspace: Workspace, project_id: str) -> ProjectProjector:
    """An incremental projector of one project's jobs view only (all a supervisor reads)."""
    return ProjectProjector(workspace.events_path(project_id), {"jobs": ALL_PROJECTIONS["jobs"]})


def jobs_view(projector: ProjectProjector) -> JobsView:
    """The projector's jobs view, refreshed."""
    projector.update()
    view: JobsView = projector.view("jobs")
    return view


def claim(
    workspace: Workspace,
    projector: ProjectProjector,
    project_id: str,
    job_id: str,
    worker_id: str,
    actor: str = "worker",
) -> HeldLock | None:
    """Claim the pending job ``job_id``: take its lock, then append ``JobClaimed``.

    Returns the held job lock (the claim won), or None (someone else has it, or it is no longer
    pending). The append insists on the seq of the view it decided on, so of two claimers exactly
    one wins even without the lock.
    """
    lock = try_lock(workspace.job_lock_path(project_id, job_id))
    if lock is None:
        return None
    log = EventLog(workspace.events_path(project_id))
    for _attempt in range(50):
        view = jobs_view(projector)
        job = view.get(job_id)
        if job is None or job.status != "pending" or job.cancel_requested:
            lock.release()
            return None
        data = {
            "job_id": job_id,
            "command_type": job.command_type,
            "worker_id": worker_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        try:
            log.append("JobClaimed", data, actor=actor, causation=job_id, expected_seq=view.seq)
            return lock
        except ConcurrencyError:
            continue
    lock.release()
    logger.warning("could not claim %s: the log kept changing", job_id)
    return None


def start(
    workspace: Workspace,
    project_id: str,
    job_id: str,
    lock: HeldLock,
    warm: WarmRunner | None = None,
) -> RunningJob:
    """Start the job process; it inherits the job lock, so the lock lives as long as it does.

    Forked from ``warm`` when it is ready (milliseconds), else a new Python process (seconds:
    it imports torch and Lightning itself). Either way it is a process of its own, in its own
    session, writing to the job's log file.
    """
    log_path = workspace.job_log_path(project_id, job_id)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if warm is not None and warm.ready:
        try:
            process = warm.launch(workspace.root, project_id, job_id, lock.fd, log_path)
        except WarmStartError as exc:
            logger.warning(
                "job %s: the warm runner could not start it (%s): cold start", job_id, exc
            )
        else:
            logger.info("started job %s (pid %d, warm)", job_id, process.pid)
            return RunningJob(project_id, job_id, process, lock, log_path)
    return RunningJob(
        project_id,
        job_id,
        _cold_start(workspace, project_id, job_id, lock, log_path),
        lock,
        log_path,
    )


def _cold_start(
    workspace: Workspace, project_id: str, job_id: str, lock: HeldLock, log_path: Path
) -> subprocess.Popen[bytes]:
    """``python -m aistudio.worker.runner`` for the job, holding ``lock`` (``pass_fds``)."""
    cmd = [
        sys.executable,
        "-m",
        "aistudio.worker.runner",
        "--workspace",
        str(workspace.root),
        "--project",
        project_id,
        "--job",
        job_id,
    ]
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=(lock.fd,),
            start_new_session=True,
        )
    logger.info("started job %s (pid %d, cold)", job_id, process.pid)
    return process


def end_if_open(
    workspace: Workspace,
    projector: ProjectProjector,
    project_id: str,
    job_id: str,
    event_type: str,
    data: dict[str, object],
    lock: HeldLock | None = None,
    actor: str = "worker",
) -> bool:
    """Append the end of ``job_id`` unless it already has one; True when appended.

    Without ``lock``, the job's lock is taken first (and the job left alone if someone holds it).
    """
    own = lock
    if own is None:
        own = try_lock(workspace.job_lock_path(project_id, job_id))
        if own is None:
            return False
    try:
        job = jobs_view(projector).get(job_id)
        if job is None or job.status in TERMINAL:
            return False
        EventLog(workspace.events_path(project_id)).append(
            event_type, {"job_id": job_id, **data}, actor=actor, causation=job_id
        )
        return True
    finally:
        if lock is None:
            own.release()


def fail_invalid(
    workspace: Workspace,
    projector: ProjectProjector,
    project_id: str,
    job: JobEntry,
    worker_id: str,
    actor: str = "worker",
) -> bool:
    """Claim and fail at once a command that cannot be run (unknown or invalid); True if done."""
    log = EventLog(workspace.events_path(project_id))
    command = log.get(job.job_id)
    problem = "the command event is missing" if command is None else _checked(command)
    if problem is None:
        return False
    lock = claim(workspace, projector, project_id, job.job_id, worker_id, actor)
    if lock is None:
        return True
    try:
        end_if_open(
            workspace,
            projector,
            project_id,
            job.job_id,
            "JobFailed",
            {"error": problem[:2000], "reason": "invalid_command"},
            lock=lock,
            actor=actor,
        )
    finally:
        lock.release()
    return True


def _checked(command: Event) -> str | None:
    """``command_problem``, with a defect of a check failing only that command, never the scan."""
    try:
        return command_problem(command)
    except Exception as exc:
        logger.exception("checking command %s failed", command.id)
        return f"the command could not be checked: {type(exc).__name__}: {exc}"


def reap(workspace: Workspace, projector: ProjectProjector, running: RunningJob) -> None:
    """After the process ended: append ``JobFailed`` if it ended without saying so."""
    code = running.process.returncode
    _kill_leftovers(running)
    try:
        tail = _log_tail(running.log_path)
        reason_type = "JobCancelled" if running.cancel_seen_at is not None else "JobFailed"
        data: dict[str, object]
        if reason_type == "JobCancelled":
            data = {"reason": "cancelled: the job did not stop in time and was killed"}
        else:
            data = {
                "error": f"the job process ended (exit code {code}) without reporting its end",
                "reason": "process_died",
                "traceback": tail or None,
            }
        ended = end_if_open(
            workspace,
            projector,
            running.project_id,
            running.job_id,
            reason_type,
            data,
            running.lock,
        )
    finally:
        running.lock.release()
    if ended:
        tidy_after_death(workspace, projector, running.project_id, running.job_id)


def tidy_after_death(
    workspace: Workspace, projector: ProjectProjector, project_id: str, job_id: str
) -> None:
    """Run the tidy-up of a job that died without its end (``handlers.AFTER_DEATH``); its
    errors are logged, never raised (the job's end is already in the log)."""
    job = jobs_view(projector).get(job_id)
    after = resolve_after_death(job.command_type) if job is not None else None
    if after is None:
        return
    try:
        after(workspace, project_id)
    except Exception:
        logger.exception("tidying up after job %s failed", job_id)


def recover_orphans(
    workspace: Workspace, projector: ProjectProjector, project_id: str, mine: set[str]
) -> list[str]:
    """End the claimed or running jobs whose runner died (nobody holds their lock)."""
    ended: list[str] = []
    for job in jobs_view(projector).active():
        if job.job_id in mine or is_held(workspace.job_lock_path(project_id, job.job_id)):
            continue
        if end_if_open(
            workspace,
            projector,
            project_id,
            job.job_id,
            "JobFailed",
            {
                "error": "the worker running this job stopped (killed or crashed) before it "
                "ended; run it again",
                "reason": "worker_lost",
            },
        ):
            logger.warning("job %s was orphaned: marked failed (worker lost)", job.job_id)
            ended.append(job.job_id)
            tidy_after_death(workspace, projector, project_id, job.job_id)
    return ended


def cancel_pending(workspace: Workspace, projector: ProjectProjector, project_id: str) -> list[str]:
    """Append ``JobCancelled`` for pending jobs whose cancel was requested."""
    ended = []
    for job in jobs_view(projector).pending():
        if job.cancel_requested and end_if_open(
            workspace,
            projector,
            project_id,
            job.job_id,
            "JobCancelled",
            {"reason": "cancelled before it started"},
        ):
            ended.append(job.job_id)
    return ended


def enforce_cancel(running: RunningJob, job: JobEntry | None) -> None:
    """Kill a running job that was asked to stop and did not within the grace period."""
    if job is None or not job.cancel_requested or running.process.poll() is not None:
        return
    now = time.monotonic()
    if running.cancel_seen_at is None:
        running.cancel_seen_at = now
    elif now - running.cancel_seen_at > CANCEL_GRACE_S:
        logger.warning("job %s did not stop after cancel: killing it", running.job_id)
        _kill(running.process, signal.SIGKILL)


def stop(running: RunningJob, grace_s: float = 10.0) -> None:
    """Ask a job process to stop, then kill its whole process group after ``grace_s``.

    SIGTERM goes to the job process alone, never to its group: the job interrupts itself and
    shuts down its own helpers (data loader workers, DDP processes). Sent to the group, the
    signal killed the loader workers first, and torch's SIGCHLD handler turned the job's
    interruption (``JobFailed(worker_lost)``) into an unexplained ``RuntimeError: DataLoader
    worker … killed by signal: Terminated``. Whatever is left of the group once the job process
    has ended is killed.
    """
    if running.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            running.process.send_signal(signal.SIGTERM)
        try:
            running.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            logger.warning("job %s did not stop in %.0f s: killing it", running.job_id, grace_s)
            _kill(running.process, signal.SIGKILL)
            running.process.wait()
    _kill_leftovers(running)


def _kill(process: JobProcess, sig: signal.Signals) -> None:
    """Send ``sig`` to the job's process group (its session: the job started it)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _kill_leftovers(running: RunningJob) -> None:
    """SIGKILL what is left of an ended job's process group (loader workers, DDP processes).

    They inherited the job's lock: alive, they would keep the job looking alive, so an orphan
    would not be recovered. Called right after the job process was reaped: a group id stays
    taken while any member is left, and a new group gets a reaped pid only once pids wrap.
    """
    if running.process.returncode is not None:
        _kill(running.process, signal.SIGKILL)


def _log_tail(path: Path, max_chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-max_chars:]
    except OSError:
        return ""


def new_worker_id(prefix: str = "worker") -> str:
    """A unique id for a worker (or an inline CLI runner)."""
    host = "".join(c if c.isalnum() or c in "-_." else "-" for c in socket.gethostname())[:40]
    return f"{prefix}-{host}-{os.getpid()}-{os.urandom(3).hex()}"
