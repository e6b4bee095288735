"""The warm job runner: a server process with torch and Lightning imported that forks each job.

A cold job process (``python -m aistudio.worker.runner``) spends seconds starting Python and
importing torch and Lightning before it does anything (4 of the 5 s of a 90-image evaluation on
an idle 2-core machine). :class:`WarmRunner` keeps multiprocessing's ``forkserver`` running with
those imports done (:mod:`aistudio.worker.warm_preload`) and starts each job as a fork of it, so
a job starts in milliseconds and is still a process of its own: its own session, its log file,
the job's lock inherited from the worker (:mod:`aistudio.worker.warm_child`).

Lifecycle: the worker starts it in the background (:meth:`WarmRunner.start`: the worker answers
at once; the server's imports begin a few seconds later, or at once for a job that waits for it,
see :data:`START_DELAY_S`), checks it on every scan (:meth:`WarmRunner.tend`: a server that
died is started again) and stops it when it stops (:meth:`WarmRunner.stop`). While it is
starting, a command whose handler imports torch waits for it
(:data:`aistudio.worker.handlers.WAIT_FOR_WARM`: the server's start costs what that job's cold
start would, and it began earlier); any other starts cold. Where it cannot work (no ``fork``, no
``pidfd``, a server that fails), jobs start cold, with a log line saying why.

One per process: the forkserver is multiprocessing's, one per process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing import connection, forkserver
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any, Protocol

from aistudio.worker.handlers import WAIT_FOR_WARM
from aistudio.worker.warm_child import JobRequest, PassedFd, probe, run_forked_job

logger = logging.getLogger(__name__)

PRELOAD_MODULE = "aistudio.worker.warm_preload"
READY_TIMEOUT_S = 180.0
"""A server not ready this long after its start is given up on: jobs start cold."""
SETUP_TIMEOUT_S = 30.0
"""How long a forked job may take to set itself up (milliseconds, normally)."""
STOP_TIMEOUT_S = 10.0
"""How long :meth:`WarmRunner.stop` waits for the server to exit before killing it."""
START_DELAY_S = 3.0
"""How long after the worker's start the server starts importing (unless a job waits for it
first): its seconds of imports at full CPU would otherwise slow what starts with the worker on a
small machine (``aistudio serve``'s web process, whose first pages are answered meanwhile)."""
RETRY_AFTER_S = 60.0
"""A server that could not start is tried again this long after (:data:`RETRIES` times)."""
RETRIES = 3


class JobProcess(Protocol):
    """A job's process as the supervisor handles it (``subprocess.Popen`` is one)."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, sig: int) -> None: ...


class WarmStartError(RuntimeError):
    """The warm runner could not start this job (it is started cold instead)."""


def unsupported_reason() -> str | None:
    """Why the warm runner cannot work here, or None when it can."""
    if sys.platform != "linux":
        return f"the warm job runner needs Linux (this is {sys.platform})"
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "multiprocessing has no forkserver here"
    if not hasattr(os, "pidfd_open") or not hasattr(signal, "pidfd_send_signal"):
        return "this Python has no os.pidfd_open"
    server = forkserver._forkserver  # type: ignore[attr-defined]
    if not all(hasattr(server, name) for name in ("_forkserver_pid", "_stop")):
        return "this Python's forkserver cannot be stopped by the worker"
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError as exc:
        return f"the kernel has no pidfd ({exc})"
    return None


def _context() -> ForkServerContext:
    """multiprocessing's forkserver context (only where :func:`unsupported_reason` is None)."""
    context: ForkServerContext = multiprocessing.get_context("forkserver")  # type: ignore[assignment]
    return context


def _readable(fd: int) -> bool:
    """Whether ``fd`` is readable now (a pidfd: its process has exited)."""
    ready, _, _ = select.select([fd], [], [], 0)
    return bool(ready)


class WarmProcess:
    """A job process forked by the warm runner, with the ``subprocess.Popen`` calls the
    supervisor uses.

    Its exit code comes from the server (the job is the server's child). Whether it still runs
    is told by a pidfd, so a job whose server died is not taken for ended (multiprocessing then
    reports exit code 255 for it, alive or not): it runs on, holding its lock, and its own end
    event says how it ended; its exit code is 255 then.
    """

    def __init__(self, process: multiprocessing.process.BaseProcess) -> None:
        self._process = process
        pid = process.pid
        if pid is None:
            raise WarmStartError("the forked job has no pid")
        self.pid: int = pid
        self.returncode: int | None = None
        self.args = f"warm job process {pid}"
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:
            self._pidfd = None  # already gone: the server has its exit code

    def poll(self) -> int | None:
        """The exit code once the process has ended, else None."""
        if self.returncode is not None:
            return self.returncode
        if self._pidfd is not None and not _readable(self._pidfd):
            return None
        code = self._process.exitcode
        if code is None:
            return None  # ended; the server has not reported its exit code yet
        self.returncode = code
        self._close()
        return code

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to end; ``subprocess.TimeoutExpired`` after ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            code = self.poll()
            if code is not None:
                return code
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            alive = self._pidfd is not None and not _readable(self._pidfd)
            watched = self._pidfd if alive else self._process.sentinel
            connection.wait([watched], timeout=0.1 if left is None else min(left, 0.1))

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the process (nothing once it has ended)."""
        if self.poll() is not None:
            return
        if self._pidfd is not None:
            signal.pidfd_send_signal(self._pidfd, sig)
        else:
            os.kill(self.pid, sig)

    def _close(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        with contextlib.suppress(ValueError):
            self._process.close()


_active_lock = threading.Lock()
_active: WarmRunner | None = None


def _spawn_deaf_to_ctrl_c(spawn: Callable[[], None]) -> None:
    """Run ``spawn`` with SIGINT blocked in this thread, so the process it starts inherits the
    block: the server shares the worker's process group, and a Ctrl-C while its interpreter is
    still starting (before :func:`warm_child.preload` ignores SIGINT) would print a
    KeyboardInterrupt traceback into the worker's output. The server unblocks it once ignored.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        spawn()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class WarmRunner:
    """Starts jobs as forks of a server process that has torch and Lightning imported.

    States: ``idle`` (not started), ``scheduled`` (started; the server starts importing after
    ``start_delay_s``, or at once when a job waits for it), ``warming`` (the server is
    importing), ``ready`` (a server
    that dies is started again: ``warming``), ``failed`` (it could not start: jobs start cold;
    tried again a few times, a minute apart, unless it cannot work here at all), ``stopped``.

    Args:
        preload_module: the module the server imports before its first fork (tests give a
            lighter one).
        ready_timeout_s: a server not ready this long after its start is given up on.
        start_delay_s: see :data:`START_DELAY_S` (0: the server starts with :meth:`start`).
    """

    def __init__(
        self,
        preload_module: str = PRELOAD_MODULE,
        ready_timeout_s: float = READY_TIMEOUT_S,
        start_delay_s: float = START_DELAY_S,
    ) -> None:
        self.preload_module = preload_module
        self.ready_timeout_s = ready_timeout_s
        self.start_delay_s = start_delay_s
        self._start_at = 0.0
        self._lock = threading.Lock()
        self._state = "idle"
        self._warming_since = 0.0
        self._failed_at: float | None = None
        self._retries_left = RETRIES
        self._thread: threading.Thread | None = None
        self._server_pid: int | None = None
        self._server_pidfd: int | None = None
        self._wake: Callable[[], None] = lambda: None
        self.facts: dict[str, Any] = {}
        """What the server said about itself when it became ready (see ``warm_child.probe``)."""
        self.starts = 0
        """How many times a server was started (1 + restarts)."""

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> str:
        """``idle``, ``scheduled``, ``warming``, ``ready``, ``failed`` or ``stopped``."""
        with self._lock:
            return self._state

    @property
    def ready(self) -> bool:
        """Whether a job started now is forked from a warm server."""
        return self.state == "ready"

    @property
    def server_pid(self) -> int | None:
        """The server's pid once it has been ready (None before)."""
        with self._lock:
            return self._server_pid

    def should_wait(self, command_type: str) -> bool:
        """Whether a job of ``command_type`` should wait for the server, which is starting,
        rather than start cold now (see the module's docstring). A server still scheduled
        starts now."""
        if command_type not in WAIT_FOR_WARM:
            return False
        with self._lock:
            scheduled = self._state == "scheduled"
        if scheduled:
            self._begin_warming()
        with self._lock:
            if self._state != "warming":
                return False
            return time.monotonic() - self._warming_since < self.ready_timeout_s

    def wait_ready(self, timeout_s: float) -> bool:
        """Block until the server is ready (True), or it failed or was stopped, or ``timeout_s``
        passed (False); a runner not started yet is waited for too."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.state
            if state == "ready":
                return True
            if state in ("failed", "stopped"):
                return False
            time.sleep(0.02)
        return False

    # ------------------------------------------------------------------ lifecycle
    def start(self, wake: Callable[[], None] | None = None) -> None:
        """Start the server in the background; ``wake`` is called when it is ready or failed.

        A second runner in a process that already has an active one stays off (jobs start
        cold): the forkserver is one per process.
        """
        global _active
        if wake is not None:
            self._wake = wake
        reason = unsupported_reason()
        with _active_lock:
            if reason is None and _active is not None and _active is not self:
                reason = "another warm runner is active in this process"
            if reason is None:
                _active = self
        if reason is not None:
            logger.info("jobs start cold: %s", reason)
            with self._lock:
                self._state = "failed"
            return
        if self.start_delay_s > 0:
            with self._lock:
                self._state = "scheduled"
                self._start_at = time.monotonic() + self.start_delay_s
            return
        self._begin_warming()

    def tend(self) -> None:
        """Start the server again if it died, or try again one that could not start (after
        :data:`RETRY_AFTER_S`, :data:`RETRIES` times). Called on every scan of the worker."""
        with self._lock:
            if self._state == "scheduled":
                if time.monotonic() < self._start_at:
                    return
                message, level = "starting the warm job runner", logging.INFO
            elif self._state == "failed" and self._failed_at is not None:
                if self._retries_left <= 0 or time.monotonic() - self._failed_at < RETRY_AFTER_S:
                    return
                self._retries_left -= 1
                message, level = "trying the warm job runner again", logging.WARNING
            elif self._state == "ready" and self._server_pidfd is not None:
                if not _readable(self._server_pidfd):
                    return
                message = f"the warm job runner (pid {self._server_pid}) died: starting it again"
                level = logging.WARNING
            else:
                return
        logger.log(level, message)
        self._begin_warming()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop the server (after the worker stopped its jobs); idempotent.

        The server exits once every process holding its "alive" pipe has closed it (the worker
        and every job it forked): waited for up to ``timeout_s``, then it is killed. A server
        still importing runs no job: it is killed at once.
        """
        global _active
        with self._lock:
            if self._state in ("idle", "stopped"):
                self._state = "stopped"
                return
            started = self._state != "scheduled"
            warming = self._state == "warming"
            self._state = "stopped"
        with _active_lock:
            if _active is not self:
                return
            _active = None
        if not started:
            return
        server = forkserver._forkserver  # type: ignore[attr-defined]
        pid = server._forkserver_pid
        if pid is not None and warming:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        stopper = threading.Thread(target=server._stop, name="warm-runner-stop", daemon=True)
        stopper.start()
        stopper.join(timeout_s)
        if stopper.is_alive() and pid is not None:
            logger.warning("the warm job runner (pid %d) did not exit: killing it", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            stopper.join(timeout_s)
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._close_server_pidfd()
        logger.info("warm job runner stopped")

    def _begin_warming(self) -> None:
        with self._lock:
            if self._state in ("stopped", "warming"):
                return
            self._state = "warming"
            self._warming_since = time.monotonic()
            self.starts += 1
        self._close_server_pidfd()
        started = time.monotonic()
        try:
            # Spawned from this thread (the worker's, which lives as long as the worker): the
            # server dies with it (warm_child.preload asks for SIGKILL when its parent thread
            # ends), instead of importing on for seconds after its worker was killed.
            _context().set_forkserver_preload([self.preload_module])
            _spawn_deaf_to_ctrl_c(forkserver.ensure_running)
        except OSError as exc:
            self._warmed(started, {}, f"{type(exc).__name__}: {exc}")
            return
        self._thread = threading.Thread(
            target=self._warm_up, args=(started,), name="warm-runner", daemon=True
        )
        self._thread.start()

    def _warm_up(self, started: float) -> None:
        """The background start: a probe is forked from the server once it has imported."""
        try:
            facts = self._probe()
            problem = self._check(facts)
        # Whatever goes wrong here, jobs start cold, and the log says why.
        except Exception as exc:
            logger.debug("warm runner start failed", exc_info=True)
            problem = f"{type(exc).__name__}: {exc}"
            facts = {}
        self._warmed(started, facts, problem)

    def _warmed(self, started: float, facts: dict[str, Any], problem: str | None) -> None:
        """Record how the start ended (ready, or failed with ``problem``) and wake the worker."""
        with self._lock:
            if self._state != "warming":
                return  # stopped meanwhile
            if problem is not None:
                self._state = "failed"
                self._failed_at = time.monotonic()
            else:
                self._state = "ready"
                self._retries_left = RETRIES
                self._server_pid = int(facts["server_pid"])
                self._server_pidfd = os.pidfd_open(self._server_pid)
                self.facts = facts
        if problem is not None:
            logger.error("the warm job runner could not start (%s): jobs start cold", problem)
        else:
            logger.info(
                "warm job runner ready in %.1f s (pid %d, %d modules preloaded in %.1f s, "
                "%d threads)",
                time.monotonic() - started,
                facts["server_pid"],
                len(facts["preloaded"]),
                facts["preload_s"],
                facts["threads"],
            )
        self._wake()

    def _probe(self) -> dict[str, Any]:
        """Fork a probe from the server (which waits for its imports) and read its report."""
        read_fd, write_fd = os.pipe()
        try:
            process = _context().Process(
                target=probe, args=(PassedFd(write_fd),), name="warm-runner-probe"
            )
            process.start()
            os.close(write_fd)
            write_fd = -1
            with os.fdopen(read_fd, "rb") as report:
                read_fd = -1
                text = report.read()
            process.join()
            code = process.exitcode
            process.close()
        finally:
            for fd in (read_fd, write_fd):
                if fd >= 0:
                    os.close(fd)
        if code != 0 or not text:
            raise RuntimeError(f"its probe process exited with code {code}")
        facts: dict[str, Any] = json.loads(text)
        return facts

    @staticmethod
    def _check(facts: dict[str, Any]) -> str | None:
        if not facts.get("preloaded"):
            return "its preload module did not run"
        return None

    def _close_server_pidfd(self) -> None:
        with self._lock:
            fd, self._server_pidfd = self._server_pidfd, None
        if fd is not None:
            os.close(fd)

    # ------------------------------------------------------------------ jobs
    def launch(
        self, workspace_root: Path, project_id: str, job_id: str, lock_fd: int, log_path: Path
    ) -> WarmProcess:
        """Fork the job's process from the server; it holds ``lock_fd``'s lock from its start.

        Returns once the process is in its own session with its log and signal handlers set
        up (a few milliseconds), as ``subprocess.Popen`` returns once its child runs.

        Raises:
            WarmStartError: the server is not ready or died, or the process did not set itself
                up; nothing of the job has run (start it cold).
        """
        with self._lock:
            if self._state != "ready" or self._server_pidfd is None:
                raise WarmStartError(f"the warm runner is {self._state}")
            server_gone = _readable(self._server_pidfd)
        if server_gone:
            self.tend()
            raise WarmStartError("the warm runner's server has died (it is being restarted)")
        ready_r, ready_w = os.pipe()
        try:
            log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                request = JobRequest(
                    workspace=str(workspace_root),
                    project_id=project_id,
                    job_id=job_id,
                    lock=PassedFd(lock_fd),
                    log=PassedFd(log_fd),
                    ready=PassedFd(ready_w),
                    environ=dict(os.environ),
                    cwd=str(Path.cwd()),
                )
                process = _context().Process(
                    target=run_forked_job, args=(request,), name=f"job-{job_id}"
                )
                process.start()
                # Tracked by its WarmProcess alone: multiprocessing polls its children's exit
                # codes whenever another process starts (the probe, from the warm-up thread),
                # and two threads reading one status pipe could split its bytes; nor must the
                # worker's exit wait for a job it chose to leave running (as a cold one would).
                multiprocessing.process._children.discard(process)  # type: ignore[attr-defined]
            finally:
                os.close(log_fd)
                os.close(ready_w)
            return self._set_up(WarmProcess(process), ready_r)
        except WarmStartError:
            raise
        # Whatever stops the fork (a closed socket, a value that does not pickle), the job has
        # not started and is started cold; the supervisor logs the reason.
        except Exception as exc:
            raise WarmStartError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            os.close(ready_r)

    @staticmethod
    def _set_up(process: WarmProcess, ready_r: int) -> WarmProcess:
        """``process`` once it said it is set up; a process that did not is killed."""
        ready, _, _ = select.select([ready_r], [], [], SETUP_TIMEOUT_S)
        if ready and os.read(ready_r, 1) == b"1":
            return process
        # It died, or hangs, before it could run anything of the job.
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGKILL)
        code = process.wait()
        os.set_blocking(ready_r, False)
        with contextlib.suppress(BlockingIOError):
            if os.read(ready_r, 1) == b"1":
                return process  # it got as far as the job after all: reaped as a job
        raise WarmStartError(f"the forked job process ended (code {code}) before it was set up")
