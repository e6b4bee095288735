"""Tests of the web app in a real headless Chromium, and helpers that run ``aistudio serve``.

The helpers start the real command (``<venv>/bin/aistudio --workspace W serve --port P``) in its
own process group, as a terminal would, so a test can press "Ctrl-C" by sending SIGINT to the
whole group. They are shared by the browser tests and by ``tests/ui/test_serve.py``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aistudio.workspace import Workspace
from events import Event, EventLog

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, ConsoleMessage, Page

logger = logging.getLogger(__name__)

SERVE_START_TIMEOUT_S = 30.0
SERVE_STOP_TIMEOUT_S = 60.0


def aistudio_executable() -> Path:
    """The ``aistudio`` console script of the virtual environment running the tests."""
    script = Path(sys.executable).with_name("aistudio")
    if not script.is_file():
        raise AssertionError(
            f"{script} is missing: install the project in its virtual environment (`make setup`)"
        )
    return script


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _sigint_not_ignored() -> Iterator[None]:
    """Let children start with SIGINT's default action even if this process ignores it.

    A process started in the background of a non-interactive shell ignores SIGINT, and its
    children inherit that; a user's terminal never does. A Python handler (unlike SIG_IGN) is
    reset to the default action in the child at exec.
    """
    ignored = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    )
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def _ignore_sigint() -> None:
    """In the child before exec: ignore SIGINT, as a shell does for a background job."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass
class ServeProcess:
    """A running ``aistudio serve`` and where to reach it."""

    process: subprocess.Popen[bytes]
    url: str
    workspace: Path
    output_path: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        """The process id of ``aistudio serve`` (also its process group's id)."""
        return self.process.pid

    def output(self) -> str:
        """What serve and its worker printed so far (stdout and stderr together)."""
        try:
            return self.output_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_until_serving(self, timeout_s: float = SERVE_START_TIMEOUT_S) -> float:
        """Wait until ``GET /`` answers 200; returns the seconds since the process started.

        Raises:
            AssertionError: the process exited, or did not answer within ``timeout_s``, with
                its output in the message.
        """
        deadline = self.started + timeout_s
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"`aistudio serve` exited with code {self.process.returncode} before "
                    f"serving:\n{self.output()}"
                )
            try:
                with urllib.request.urlopen(self.url, timeout=1.0) as response:
                    if response.status == 200:
                        return time.monotonic() - self.started
                    last_error = f"HTTP {response.status}"
            except (urllib.error.URLError, OSError) as exc:
                last_error = str(exc)
            time.sleep(0.05)
        raise AssertionError(
            f"`aistudio serve` did not answer {self.url} within {timeout_s:.0f} s "
            f"({last_error}):\n{self.output()}"
        )

    def interrupt(self) -> None:
        """Press Ctrl-C: SIGINT to serve's whole process group (serve and its worker)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)

    def stop(self, timeout_s: float = SERVE_STOP_TIMEOUT_S) -> int:
        """Press Ctrl-C and wait for serve to exit; returns its exit code.

        Raises:
            AssertionError: it did not exit within ``timeout_s`` (it is then killed).
        """
        if self.process.poll() is None:
            self.interrupt()
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.dump_stacks()
            self.kill()
            raise AssertionError(
                f"`aistudio serve` did not exit within {timeout_s:.0f} s of Ctrl-C:\n"
                f"{self.output()}"
            ) from None

    def dump_stacks(self, *other_pids: int) -> None:
        """Have serve, its worker and ``other_pids`` (job processes: their own sessions) print
        every thread's stack into the output (``aistudio.diagnostics``), for a failure message.
        """
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGUSR1)
        for pid in other_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGUSR1)
        time.sleep(1.0)

    def kill(self) -> None:
        """Kill serve's process group at once (cleanup after a failure)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


def start_serve(
    workspace: Path, output_path: Path, *extra_args: str, sigint_ignored: bool = False
) -> ServeProcess:
    """Start ``aistudio --workspace WORKSPACE serve --port FREE [EXTRA_ARGS]`` in its own group.

    Args:
        workspace: the workspace folder (created by serve when missing).
        output_path: file that receives serve's (and its worker's) stdout and stderr.
        extra_args: more options of ``serve``, e.g. ``--no-worker``.
        sigint_ignored: start serve with SIGINT ignored, as a shell starts a background job
            (otherwise serve gets SIGINT's default action, as from a terminal).

    Returns:
        The started process; call :meth:`ServeProcess.wait_until_serving` before using it.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "AISTUDIO_WORKSPACE"}
    env["PYTHONUNBUFFERED"] = "1"
    cmd = [
        str(aistudio_executable()),
        "--workspace",
        str(workspace),
        "serve",
        "--port",
        str(port),
        *extra_args,
    ]
    with output_path.open("ab") as out, _sigint_not_ignored():
        started = time.monotonic()
        process = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_ignore_sigint if sigint_ignored else None,
        )
    return ServeProcess(process, f"http://127.0.0.1:{port}/", workspace, output_path, started)


def project_events(workspace: Path, project_id: str) -> list[Event]:
    """Every event of a project's log, read from the workspace's files."""
    return list(EventLog(Workspace(workspace).events_path(project_id)).read())


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@dataclass
class BrowserSession:
    """One browser context (its tabs share storage) and the errors its pages reported."""

    context: BrowserContext
    errors: list[str] = field(default_factory=list)

    def new_page(self) -> Page:
        """Open a new tab in this context."""
        return self.context.new_page()

    def on_console(self, message: ConsoleMessage) -> None:
        """Record console errors (failed callbacks and failed requests show up there)."""
        if message.type == "error":
            where = message.page.url if message.page is not None else "?"
            location = message.location or {}
            self.errors.append(
                f"console error on {where}: {message.text} "
                f"({location.get('url', '')}:{location.get('lineNumber', '')})"
            )

    def on_web_error(self, error: Any) -> None:
        """Record uncaught exceptions thrown in a page."""
        where = error.page.url if error.page is not None else "?"
        self.errors.append(f"uncaught error on {where}: {error.error}")

    def save_artifacts(self, folder: Path) -> list[Path]:
        """Screenshot every open tab and write the errors seen; returns the files written."""
        written: list[Path] = []
        for index, page in enumerate(self.context.pages):
            target = folder / f"browser-tab{index}.png"
            try:
                page.screenshot(path=str(target), full_page=True, timeout=5_000)
                written.append(target)
            except Exception as exc:  # noqa: BLE001 - a failed screenshot must not hide the failure
                logger.warning("could not screenshot tab %d (%s): %s", index, page.url, exc)
        errors_file = folder / "browser-console-errors.txt"
        errors_file.write_text("\n".join(self.errors) + "\n" if self.errors else "(none)\n")
        written.append(errors_file)
        return written
