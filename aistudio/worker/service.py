"""The worker: watches every project's log and runs the commands in it as jobs.

Watchdog wakes it when a log changes; it also rescans every ``worker_rescan_s`` seconds, since
file-system notifications can be coalesced, dropped or absent. Each scan refreshes the
incremental jobs view of every project and then: reaps finished job processes, enforces cancels,
ends orphaned jobs, fails invalid commands and claims pending ones (one job process per job).

A project whose scan fails (its log is damaged or unreadable, it is not a project's log, a step
raised) is set aside (:mod:`aistudio.worker.quarantine`): logged once, listed in the worker's
quarantine file, looked at again when its log changes, and served again once a scan succeeds.
The other projects, and the jobs running in them, never notice.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from aistudio.diagnostics import enable_stack_dumps
from aistudio.settings import Settings
from aistudio.worker import supervisor
from aistudio.worker.locks import HeldLock, is_held, try_lock
from aistudio.worker.quarantine import (
    ProjectUnusableError,
    Quarantine,
    log_fingerprint,
)
from aistudio.worker.wakeup import Wakeup
from aistudio.worker.warm import WarmRunner
from aistudio.workspace import Workspace, WorkspaceError
from events import EventLog, EventLogError, LogCorruptedError
from projections.jobs import JobsView
from projections.projector import ProjectProjector

logger = logging.getLogger(__name__)


class _LogChanged(FileSystemEventHandler):
    """Wakes the worker when a project's log was written (not merely opened or read)."""

    _WRITES = frozenset({"created", "modified", "moved", "closed"})

    def __init__(self, wake: Wakeup) -> None:
        self._wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in self._WRITES:
            return
        path = event.src_path if isinstance(event.src_path, str) else event.src_path.decode()
        if path.endswith("events.jsonl") or (event.is_directory and event.event_type == "created"):
            self._wake.set()


def any_worker_alive(workspace: Workspace) -> bool:
    """Whether a worker process holds its lock in this workspace (stale files are removed)."""
    alive = False
    for path in workspace.worker_lock_paths():
        if is_held(path):
            alive = True
        else:
            path.unlink(missing_ok=True)
    return alive


class Worker:
    """Runs the commands of every project of one workspace as jobs.

    Args:
        workspace: the workspace whose projects it serves.
        max_jobs: how many jobs may run at once.
        worker_id: its id (default: a new one).
        warm: how its jobs start (:mod:`aistudio.worker.warm`). None (default): forked from a
            warm runner that :meth:`run` starts, except with ``once`` (its jobs are pending
            already: nothing would wait less); True: a warm runner in any case; False: a new
            Python process per job (a cold start); a :class:`WarmRunner`: that one.
    """

    def __init__(
        self,
        workspace: Workspace,
        max_jobs: int = 1,
        worker_id: str | None = None,
        warm: WarmRunner | bool | None = None,
    ):
        self.workspace = workspace
        self.settings = Settings.load(workspace.settings_path)
        self.max_jobs = max(1, max_jobs)
        self.worker_id = worker_id or supervisor.new_worker_id()
        self.running: dict[str, supervisor.RunningJob] = {}
        self._projectors: dict[str, ProjectProjector] = {}
        # Both are given from signal handlers, so neither may take a lock (see wakeup.py).
        self._wake = Wakeup()
        self._stopping = False
        self._lock: HeldLock | None = None
        self._handler = _LogChanged(self._wake)
        self._observer: BaseObserver | None = None
        self._watched: set[str] = set()
        self.quarantine = Quarantine(workspace, self.worker_id)
        self._first_checked: set[str] = set()
        self._listing_error: str | None = None
        self._warm_choice = warm
        self.warm: WarmRunner | None = None
        """The warm runner while :meth:`run` runs with one."""

    # ------------------------------------------------------------------ lifecycle
    def stop(self) -> None:
        """Ask the loop to stop (safe from a signal handler or another thread)."""
        self._stopping = True
        self._wake.set()

    def run(self, once: bool = False) -> None:
        """Work until stopped; with ``once``, until nothing is pending or running."""
        lock_path = self.workspace.worker_lock_path(self.worker_id)
        self._lock = try_lock(lock_path)
        if self._lock is None:
            raise RuntimeError(f"worker lock {lock_path} is already held")
        # Not recursive: a project's images and thumbnails (thousands of folders and files while
        # importing) are none of the worker's business. The projects folder (for new projects)
        # and each project's own folder (for its events.jsonl) are watched; see _watch.
        observer = Observer()
        self.workspace.projects_dir.mkdir(parents=True, exist_ok=True)
        observer.schedule(self._handler, str(self.workspace.projects_dir), recursive=False)
        observer.start()
        self._observer = observer
        self.quarantine.sweep_stale()
        self.warm = self._warm_runner(once)
        if self.warm is not None:
            self.warm.start(wake=self._wake.set)  # in the background: the loop starts at once
        restore = self._install_signal_handlers()
        enable_stack_dumps()
        logger.info("worker %s watching %s", self.worker_id, self.workspace.projects_dir)
        try:
            while not self._stopping:
                busy = self.step()
                if once and not busy:
                    break
                timeout = 0.2 if self.running else self.settings.worker_rescan_s
                self._wake.wait(timeout=timeout)
        finally:
            observer.stop()
            self._shutdown()
            if self.warm is not None:
                self.warm.stop()  # after the jobs: they hold its "alive" pipe
                self.warm = None
            observer.join(timeout=5)
            self._observer = None
            self._watched.clear()
            restore()
            self.quarantine.close()
            self._lock.release()
            lock_path.unlink(missing_ok=True)
            logger.info("worker %s stopped", self.worker_id)

    def _warm_runner(self, once: bool) -> WarmRunner | None:
        choice = self._warm_choice
        if isinstance(choice, WarmRunner):
            return choice
        if choice is False or (choice is None and once):
            return None
        return WarmRunner()

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handle(_signum: int, _frame: FrameType | None) -> None:
            self.stop()

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _shutdown(self) -> None:
        for running in list(self.running.values()):
            supervisor.stop(running)
            self._reap_or_leave(running)
        self.running.clear()

    # ------------------------------------------------------------------ one scan
    def step(self) -> bool:
        """One scan of every project; True while anything is pending or running here.

        A project whose scan fails is set aside (see :meth:`_serve`); it never stops the scan of
        the others.
        """
        busy = False
        if self.warm is not None:
            self.warm.tend()
        listed = self._project_ids()
        for project_id in listed:
            busy |= self._serve(project_id)
        self._forget_vanished(set(listed))
        return busy or bool(self.running)

    def _project_ids(self) -> list[str]:
        """Every project folder; the projects known so far when the folder cannot be listed."""
        try:
            ids = self.workspace.project_folder_ids()
        except OSError as exc:
            reason = f"cannot list {self.workspace.projects_dir}: {exc}"
            if reason != self._listing_error:
                logger.error("%s (serving only the projects known so far)", reason)
            self._listing_error = reason
            known = set(self._projectors) | set(self.quarantine.reasons())
            return sorted(known | {r.project_id for r in self.running.values()})
        if self._listing_error is not None:
            logger.warning("%s can be listed again", self.workspace.projects_dir)
            self._listing_error = None
        return ids

    def _serve(self, project_id: str) -> bool:
        """Scan one project, or set it aside when that fails; True while it has work here."""
        path = self.workspace.events_path(project_id)
        fingerprint = log_fingerprint(path)
        if project_id in self.quarantine and not self.quarantine.due(project_id, fingerprint):
            self._tend_set_aside(project_id)
            return False
        retry = True
        exc_info: BaseException | None = None
        try:
            self._watch(project_id)  # first: a project set aside is looked at when written
            projector = self._load(project_id)
            if projector is None:
                return False
            busy = self._scan(project_id, projector)
        except (LogCorruptedError, ProjectUnusableError) as exc:
            # Only a write can mend these: look again when the log changes.
            reason, retry = str(exc), False
        except (EventLogError, WorkspaceError) as exc:
            reason = str(exc)
        except OSError as exc:
            reason = f"cannot read or write its files: {exc}"
        # A defect met in one project must not stop the others: its traceback is logged once
        # (Quarantine.set_aside) and the reason listed for the pages and `aistudio verify`.
        except Exception as exc:  # noqa: BLE001
            reason, exc_info = f"unexpected error: {type(exc).__name__}: {exc}", exc
        else:
            self.quarantine.release(project_id)
            return busy
        self._projectors.pop(project_id, None)
        self._first_checked.discard(project_id)
        self.quarantine.set_aside(project_id, reason, fingerprint, retry=retry, exc=exc_info)
        self._tend_set_aside(project_id)
        return False

    def _load(self, project_id: str) -> ProjectProjector | None:
        """The project's jobs projector, refreshed; None for a folder without a log (yet).

        A projector that fails to refresh (the log was replaced, shrank, or is damaged) is
        replaced by a fresh one, which reads the log from its start: only if that fails too is
        the error raised.

        Raises:
            ProjectUnusableError: the log vanished, or does not start with ``ProjectCreated``.
            LogCorruptedError: the log is damaged.
            EventLogError, OSError: the log cannot be read.
        """
        path = self.workspace.events_path(project_id)
        if not path.is_file():
            if project_id in self._projectors or self._has_running(project_id):
                raise ProjectUnusableError(f"its log {path} has disappeared")
            return None  # a folder being created, or not a project's
        self._check_first_event(project_id, path)
        projector = self._projectors.get(project_id)
        if projector is not None:
            try:
                projector.update()
                return projector
            except EventLogError as exc:
                logger.info("project %s: reading its log afresh (%s)", project_id, exc)
                del self._projectors[project_id]
        projector = supervisor.jobs_projector(self.workspace, project_id)
        projector.update()
        self._projectors[project_id] = projector
        return projector

    def _check_first_event(self, project_id: str, path: Path) -> None:
        """Refuse a log whose first event is not ``ProjectCreated`` (once it has one)."""
        if project_id in self._first_checked:
            return
        first = EventLog(path).first()
        if first is None:
            return  # empty: nothing to serve yet
        if first.type != "ProjectCreated":
            raise ProjectUnusableError(
                f"{path} starts with {first.type} (seq {first.seq}), not ProjectCreated: "
                "it is not a project's log"
            )
        self._first_checked.add(project_id)

    def _has_running(self, project_id: str) -> bool:
        return any(r.project_id == project_id for r in self.running.values())

    def _tend_set_aside(self, project_id: str) -> None:
        """Let go of the finished job processes of a project that is set aside or gone.

        Its log cannot be read, so whether such a job reported its end cannot be told: it is
        left to the log. When the job could not append its end, its lock is free once the
        project is served again, and orphan recovery ends it (``JobFailed(worker_lost)``).
        """
        for job_id, running in list(self.running.items()):
            if running.project_id != project_id or running.process.poll() is None:
                continue
            running.lock.release()
            del self.running[job_id]
            logger.warning(
                "job %s of project %s exited (%s) while the project was set aside: its end is "
                "left to the log (or to orphan recovery, once the project is served again)",
                job_id,
                project_id,
                running.process.returncode,
            )

    def _forget_vanished(self, listed: set[str]) -> None:
        """Drop what is kept for project folders that no longer exist."""
        if self._listing_error is not None:
            return
        for project_id in set(self._projectors) - listed:
            del self._projectors[project_id]
        for project_id in set(self.quarantine.reasons()) - listed:
            self.quarantine.forget(project_id)
        self._first_checked &= listed
        for project_id in {r.project_id for r in self.running.values()} - listed:
            self._tend_set_aside(project_id)

    def _watch(self, project_id: str) -> None:
        """Have watchdog report writes to this project's folder (its log), once."""
        if self._observer is None or project_id in self._watched:
            return
        folder = str(self.workspace.project_dir(project_id))
        self._observer.schedule(self._handler, folder, recursive=False)
        self._watched.add(project_id)

    def _scan(self, project_id: str, projector: ProjectProjector) -> bool:
        jobs: JobsView = projector.view("jobs")
        for job_id, running in list(self.running.items()):
            if running.project_id != project_id:
                continue
            if running.process.poll() is not None:
                del self.running[job_id]
                self._reap(running)
            else:
                supervisor.enforce_cancel(running, jobs.get(job_id))
        mine = set(self.running)
        supervisor.recover_orphans(self.workspace, projector, project_id, mine)
        supervisor.cancel_pending(self.workspace, projector, project_id)
        pending = [j for j in supervisor.jobs_view(projector).pending() if not j.cancel_requested]
        for job in pending:
            if supervisor.fail_invalid(self.workspace, projector, project_id, job, self.worker_id):
                continue
            if len(self.running) >= self.max_jobs:
                return True
            if self.warm is not None and self.warm.should_wait(job.command_type):
                return True  # claimed once the warm runner is ready (it wakes the loop)
            lock = supervisor.claim(
                self.workspace, projector, project_id, job.job_id, self.worker_id
            )
            if lock is None:
                continue
            self._start(project_id, projector, job.job_id, lock)
        return bool(pending) or self._has_running(project_id)

    def _start(
        self, project_id: str, projector: ProjectProjector, job_id: str, lock: HeldLock
    ) -> None:
        """Start the process of a job just claimed; a job whose process cannot start fails."""
        try:
            self.running[job_id] = supervisor.start(
                self.workspace, project_id, job_id, lock, warm=self.warm
            )
        except OSError as exc:
            logger.error(
                "job %s of project %s: cannot start its process: %s", job_id, project_id, exc
            )
            try:
                supervisor.end_if_open(
                    self.workspace,
                    projector,
                    project_id,
                    job_id,
                    "JobFailed",
                    {"error": f"could not start the job process: {exc}"[:2000], "reason": "error"},
                    lock=lock,
                )
            finally:
                lock.release()

    def _reap(self, running: supervisor.RunningJob) -> None:
        projector = self._projectors[running.project_id]
        supervisor.reap(self.workspace, projector, running)
        logger.info("job %s process exited (%s)", running.job_id, running.process.returncode)

    def _reap_or_leave(self, running: supervisor.RunningJob) -> None:
        """At shutdown: reap a stopped job, or only let go of it when its log cannot be read."""
        project_id = running.project_id
        projector = self._projectors.get(project_id)
        if projector is None or project_id in self.quarantine:
            running.lock.release()
            logger.warning(
                "job %s of set-aside project %s stopped: its end is left to the log (or to "
                "orphan recovery)",
                running.job_id,
                project_id,
            )
            return
        try:
            self._reap(running)
        except Exception:  # stopping: every other job must still be stopped and reaped
            logger.exception("project %s: reaping job %s failed", project_id, running.job_id)
        finally:
            running.lock.release()


def run_worker(workspace: Workspace, once: bool = False, max_jobs: int = 1) -> None:
    """Run a worker in this process until stopped (Ctrl-C) or, with ``once``, until idle.

    Args:
        workspace: the workspace whose projects it serves.
        once: return when nothing is pending or running (projects set aside do not count).
        max_jobs: how many jobs may run at once.
    """
    Worker(workspace, max_jobs=max_jobs).run(once=once)
