"""``aistudio serve``: the web app, and a worker it keeps alive.

Serve starts ``aistudio worker`` as a child process and a supervisor thread that waits for it:
when the worker exits, the thread reaps it, logs its exit code and starts a new one after a
growing pause (1, 2, 4 … 60 s; back to 1 s once a worker has stayed up for a minute). Ctrl-C or
SIGTERM stops the web server, then the worker (SIGTERM: it ends its running jobs' events before
exiting; killed after 60 s), and no restart follows.

While no worker is alive (serve's own, or any other ``aistudio worker`` of the workspace) every
page shows why, through the status callable serve hands to :func:`ui.app.create_app`.

Who may connect is :mod:`ui.security`'s business: serve decides the rules from the address it
binds, ``--token`` and the workspace's ``serve_token`` setting, and prints the address to open.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aistudio.settings import Settings
from aistudio.workspace import Workspace

if TYPE_CHECKING:
    from ui.security import Security

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 60.0
NO_WORKER = "no worker is running: start `aistudio worker`"
WORKER_STARTING = "jobs are not running yet: the worker is starting"
LOCK_GRACE_S = 0.5
"""A worker lock file younger than this counts as a worker starting: a worker creates the file,
then locks it at once, and a check in between must not take the lock from under it."""


class ServeError(ValueError):
    """Serve cannot start as asked (one line for the user)."""


# ---------------------------------------------------------------------- worker liveness
def worker_lock_held(workspace: Workspace, grace_s: float = LOCK_GRACE_S) -> bool:
    """Whether any worker of ``workspace`` is alive (it holds its ``flock``), quietly.

    Unlike :func:`aistudio.worker.service.any_worker_alive` (which the web process must not
    import: it loads watchdog and the job machinery) this removes nothing and never takes a
    lock a starting worker could be about to take: a lock file younger than ``grace_s`` counts as
    alive, an older one is tested with a shared lock on a read-only descriptor.
    """
    now = time.time()
    for path in workspace.worker_lock_paths():
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue  # gone since it was listed
        try:
            if now - os.fstat(fd).st_mtime < grace_s:
                return True
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
        finally:
            os.close(fd)  # drops the shared lock, if taken
    return False


def describe_exit(code: int | None, error: str | None = None) -> str:
    """How a worker ended, in words ("the worker exited (code 1)", "… was killed by SIGKILL")."""
    if code is None:
        return f"the worker could not be started ({error or 'unknown error'})"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the worker was killed by {name}"
    return f"the worker exited (code {code})"


# ---------------------------------------------------------------------- supervisor
@dataclass(frozen=True)
class Backoff:
    """How long to wait before starting a worker again.

    Attributes:
        first_s: the pause after a first death.
        factor: each further death in a row multiplies it by this.
        max_s: the longest pause.
        stable_s: a worker that lived this long resets the series to ``first_s``.
    """

    first_s: float = 1.0
    factor: float = 2.0
    max_s: float = 60.0
    stable_s: float = 60.0

    def delay(self, deaths: int) -> float:
        """The pause after the ``deaths``-th death in a row (1 for the first)."""
        exponent = max(0, deaths - 1)
        if exponent > 64:  # no float overflow: the cap was reached long before
            return self.max_s
        return min(self.max_s, self.first_s * self.factor**exponent)


@dataclass(frozen=True)
class WorkerExit:
    """The last end of the supervised worker.

    Attributes:
        code: its exit status (negative: the signal that killed it); None: it did not start.
        at: when it ended (local wall-clock time).
        restart_at: when the next one starts (``time.monotonic`` scale).
        error: why it could not be started (``code`` None).
    """

    code: int | None
    at: datetime
    restart_at: float
    error: str | None = None


class WorkerSupervisor:
    """Runs one worker process, restarting it with a backoff whenever it exits.

    A single thread waits for the process (so it is always reaped), records the exit, sleeps
    the backoff and starts the next one; :meth:`stop` ends it all, with no restart after.
    """

    def __init__(
        self,
        command: Sequence[str],
        backoff: Backoff | None = None,
        *,
        grace_s: float = 0.3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare (nothing starts before :meth:`start`).

        Args:
            command: the worker's command line.
            backoff: the pauses between restarts.
            grace_s: how long after an exit to wait for a stop before calling it a death (Ctrl-C
                reaches the worker and serve at once: its exit is no death then).
            clock: the monotonic clock (tests pass their own).
        """
        self.command = list(command)
        self.backoff = backoff or Backoff()
        self.grace_s = grace_s
        self._clock = clock
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._running = False
        self._started_at = 0.0
        self._start_error: str | None = None
        self._last_exit: WorkerExit | None = None
        self._deaths = 0
        self._thread: threading.Thread | None = None
        self.starts = 0

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        """Whether a worker process is alive (started and not yet exited)."""
        with self._lock:
            return self._running

    @property
    def pid(self) -> int | None:
        """The process id of the live worker (None when none is alive)."""
        with self._lock:
            return self._process.pid if self._running and self._process is not None else None

    @property
    def last_exit(self) -> WorkerExit | None:
        """How the last worker ended (None before any ended)."""
        with self._lock:
            return self._last_exit

    def down_message(self) -> str | None:
        """Why no job runs, for the banner ("jobs are not running: … restarting in 4 s").

        None while the worker is alive.
        """
        with self._lock:
            if self._running:
                return None
            last = self._last_exit
        if last is None:
            return WORKER_STARTING
        remaining = math.ceil(last.restart_at - self._clock())
        when = f"restarting in {remaining} s" if remaining > 0 else "restarting now"
        return (
            f"jobs are not running: {describe_exit(last.code, last.error)} "
            f"at {last.at:%H:%M:%S}, {when}"
        )

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the worker and the thread that watches it."""
        with self._lock:
            self._spawn_locked()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop the worker (SIGTERM, then SIGKILL after ``timeout_s``) and restart no other."""
        self._stopping.set()
        with self._lock:
            process = self._process if self._running else None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        thread = self._thread
        if thread is None:
            if process is not None:
                _wait_or_kill(process, timeout_s)
            return
        thread.join(timeout=timeout_s)
        if thread.is_alive() and process is not None:
            logger.warning("the worker did not stop within %.0f s: killing it", timeout_s)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            thread.join(timeout=10)

    def _spawn_locked(self) -> None:
        """Start a worker process (the lock held); a failure is recorded, not raised."""
        try:
            self._process = subprocess.Popen(self.command)
        except OSError as exc:
            self._process = None
            self._running = False
            self._start_error = f"{type(exc).__name__}: {exc}"
            logger.error("could not start the worker: %s", self._start_error)
            return
        self._running = True
        self._start_error = None
        self._started_at = self._clock()
        self.starts += 1
        if self.starts > 1:
            logger.warning("started a new worker (pid %d)", self._process.pid)

    def _watch(self) -> None:
        """The thread: wait, record, pause, restart, until :meth:`stop`."""
        while not self._stopping.is_set():
            with self._lock:
                process = self._process if self._running else None
                error = self._start_error
            code: int | None = None
            pause = 0.0
            if process is not None:
                code = process.wait()  # reaps it: never a defunct child
                if self._clock() - self._started_at >= self.backoff.stable_s:
                    self._deaths = 0
                pause = self.grace_s
            self._deaths += 1
            delay = self.backoff.delay(self._deaths)
            ended = WorkerExit(code, datetime.now(), self._clock() + delay, error)
            with self._lock:  # the exit is known at once: the banner never says "starting"
                self._running = False
                self._last_exit = ended
            if pause and self._stopping.wait(pause):
                return  # serve is stopping: this exit was asked for
            logger.warning(
                "%s; restarting it in %.0f s", describe_exit(ended.code, ended.error), delay
            )
            if self._stopping.wait(max(delay - pause, 0.0)):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self._spawn_locked()


def _wait_or_kill(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        logger.warning("the worker did not stop within %.0f s: killing it", timeout_s)
        process.kill()
        process.wait()


class WorkerStatus:
    """What the banner says about workers: None while one is alive, else why none is.

    Any live worker of the workspace counts (serve's own or an ``aistudio worker`` elsewhere).
    """

    def __init__(self, workspace: Workspace, supervisor: WorkerSupervisor | None) -> None:
        self.workspace = workspace
        self.supervisor = supervisor

    def __call__(self) -> str | None:
        """The banner's sentence about workers, or None."""
        supervisor = self.supervisor
        if supervisor is not None and supervisor.running:
            return None
        if worker_lock_held(self.workspace):
            return None
        if supervisor is None:
            return NO_WORKER
        return supervisor.down_message()


def worker_command(workspace: Workspace) -> list[str]:
    """The command line of the worker serve runs."""
    return [sys.executable, "-m", "aistudio.cli", "--workspace", str(workspace.root), "worker"]


# ---------------------------------------------------------------------- serve
def resolve_security(
    workspace: Workspace, host: str, port: int, token: str | None = None
) -> Security:
    """The access rules for binding ``host:port``: ``token``, else the workspace's ``serve_token``
    setting, else a generated token when ``host`` is not loopback.

    Raises:
        ServeError: the chosen token is not usable.
        SettingsError: settings.json is invalid.
    """
    from ui.security import Security, TokenError

    chosen = token if token is not None else Settings.load(workspace.settings_path).serve_token
    try:
        return Security.for_bind(host, port, chosen)
    except TokenError as exc:
        raise ServeError(f"--token: {exc}") from None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def start_lines(host: str, port: int, security: Security, workspace: Workspace) -> list[str]:
    """What serve prints at start: where to open the app (with its token) and how to stop it."""
    query = f"?token={security.token}" if security.token else ""
    lines = [f"AI Studio: http://{_url_host(host)}:{port}/{query}  (workspace {workspace.root})"]
    if host in ("0.0.0.0", "::", ""):
        lines.append(f"       or: http://127.0.0.1:{port}/{query}")
    if security.token:
        lines.append(
            "every request needs this token: open the address above once (or enter the token "
            f"at http://{_url_host(host)}:{port}/login); scripts send the X-AIStudio-Token header"
        )
    lines.append("Ctrl-C stops the web app and its worker")
    return lines


def raise_keyboard_interrupt(_signum: int, _frame: object) -> None:
    """A SIGTERM handler: stop like Ctrl-C (the ``finally`` of :func:`run_serve` cleans up)."""
    raise KeyboardInterrupt


def prepare_before_serving(app: Any) -> None:
    """Run Dash's first-request setup now, in this thread, before any request arrives.

    Dash runs it in a ``before_request`` hook of the first request; the threaded server can run
    a second request at the same time, and a first visit then failed with "dictionary changed
    size during iteration" (an HTML 500; seen once in a clean CI run). Done here, the hook
    finds it done. A Dash without this private method is left to do it itself.
    """
    setup = getattr(app, "_setup_server", None)
    if setup is None:
        return
    with app.server.test_request_context("/"):
        setup()


def run_serve(
    workspace: Workspace,
    host: str,
    port: int,
    *,
    worker: bool = True,
    token: str | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve the web app on ``host:port`` with a supervised worker, until Ctrl-C or SIGTERM.

    Args:
        workspace: the workspace to serve (a demo project is created in an empty one).
        host: the address to bind.
        port: the port to bind.
        worker: start and supervise a worker (``--no-worker``: False).
        token: the token to require (``--token``).
        announce: prints serve's start lines (the CLI passes ``click.echo``).

    Raises:
        ServeError: the chosen token is not usable.
    """
    from aistudio.demo_project import ensure_demo_project
    from aistudio.diagnostics import enable_stack_dumps

    security = resolve_security(workspace, host, port, token)
    if not workspace.project_ids():
        ensure_demo_project(workspace)  # a new workspace opens on something real
    # A plain `kill` (SIGTERM, as service managers send) stops serve like Ctrl-C: the `finally`
    # below then stops the worker, which ends its jobs' events. SIGINT gets the same handler
    # explicitly: serve started in the background by a script inherits an ignored SIGINT (shells
    # ignore it for background jobs), and Python then installs no Ctrl-C handler of its own; the
    # worker, started after this, gets SIGINT's default action back (a handler, unlike SIG_IGN,
    # is not inherited across exec).
    signal.signal(signal.SIGTERM, raise_keyboard_interrupt)
    signal.signal(signal.SIGINT, raise_keyboard_interrupt)
    enable_stack_dumps()
    supervisor = WorkerSupervisor(worker_command(workspace)) if worker else None
    if supervisor is not None:
        supervisor.start()
    try:
        from ui.app import create_app

        app = create_app(
            workspace, security=security, worker_status=WorkerStatus(workspace, supervisor)
        )
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        prepare_before_serving(app)
        for line in start_lines(host, port, security, workspace):
            announce(line)
        app.run(host=host, port=port, debug=False)
    finally:
        if supervisor is not None:
            supervisor.stop()
