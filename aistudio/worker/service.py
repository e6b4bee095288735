"""The worker: watches every project's log and runs the commands in it as jobs.

Watchdog wakes it when a log changes; it also rescans every ``worker_rescan_s`` seconds, since
file-system notifications can be coalesced, dropped or absent. Each scan refreshes the
incremental jobs view of every project and then: reaps finished job processes, enforces cancels,
ends orphaned jobs, fails invalid commands and claims pending ones (one job process per job).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from aistudio.diagnostics import enable_stack_dumps
from aistudio.settings import Settings
from aistudio.worker import supervisor
from aistudio.worker.locks import HeldLock, is_held, try_lock
from aistudio.worker.wakeup import Wakeup
from aistudio.workspace import Workspace
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
    """Runs the commands of every project of one workspace as jobs."""

    def __init__(self, workspace: Workspace, max_jobs: int = 1, worker_id: str | None = None):
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
            observer.join(timeout=5)
            self._observer = None
            self._watched.clear()
            restore()
            self._lock.release()
            lock_path.unlink(missing_ok=True)
            logger.info("worker %s stopped", self.worker_id)

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
            self._reap(running)
        self.running.clear()

    # ------------------------------------------------------------------ one scan
    def step(self) -> bool:
        """One scan of every project; True while anything is pending or running here."""
        busy = False
        for project_id in self.workspace.project_ids():
            projector = self._projectors.get(project_id)
            if projector is None:
                projector = supervisor.jobs_projector(self.workspace, project_id)
                self._projectors[project_id] = projector
            self._watch(project_id)
            busy |= self._scan(project_id, projector)
        return busy or bool(self.running)

    def _watch(self, project_id: str) -> None:
        """Have watchdog report writes to this project's folder (its log), once."""
        if self._observer is None or project_id in self._watched:
            return
        folder = str(self.workspace.project_dir(project_id))
        self._observer.schedule(self._handler, folder, recursive=False)
        self._watched.add(project_id)

    def _scan(self, project_id: str, projector: ProjectProjector) -> bool:
        projector.update()
        jobs: JobsView = projector.view("jobs")
        for job_id, running in list(self.running.items()):
            if running.project_id != project_id:
                continue
            if running.process.poll() is not None:
                self._reap(running)
                del self.running[job_id]
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
            lock = supervisor.claim(
                self.workspace, projector, project_id, job.job_id, self.worker_id
            )
            if lock is None:
                continue
            self.running[job.job_id] = supervisor.start(
                self.workspace, project_id, job.job_id, lock
            )
        return bool(pending) or any(r.project_id == project_id for r in self.running.values())

    def _reap(self, running: supervisor.RunningJob) -> None:
        projector = self._projectors[running.project_id]
        supervisor.reap(self.workspace, projector, running)
        logger.info("job %s process exited (%s)", running.job_id, running.process.returncode)


def run_worker(workspace: Workspace, once: bool = False) -> None:
    """Run a worker in this process until stopped (Ctrl-C) or, with ``once``, until idle."""
    Worker(workspace).run(once=once)
