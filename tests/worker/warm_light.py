"""The preload module of the tests' warm runners: light (no torch), plus a job that waits.

Imported only by a warm runner's server process (never by pytest: not a test module). It makes
``ImportRequested`` run :func:`import_or_hold` in the jobs forked from that server: a source
folder holding a ``HOLD`` file makes the job write what it sees of its own process to
``started.json`` and wait for a ``RELEASE`` file (cancel and SIGTERM interrupt it, as any job);
any other source is imported for real.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

from aistudio.datasets.importer import run_import
from aistudio.worker import handlers
from aistudio.worker.context import JobContext, JobResult
from aistudio.worker.warm_child import preload

handlers.HANDLERS["ImportRequested"] = "tests.worker.warm_light:import_or_hold"
preload(("aistudio.worker.runner", "aistudio.datasets.importer"))


def _fd_target(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def process_facts() -> dict[str, Any]:
    """What the job sees of its own process."""
    previous_wakeup = signal.set_wakeup_fd(-1)
    fds = sorted(int(name) for name in os.listdir("/proc/self/fd"))
    return {
        "pid": os.getpid(),
        "pgid": os.getpgid(0),
        "sid": os.getsid(0),
        "sigterm": getattr(signal.getsignal(signal.SIGTERM), "__qualname__", ""),
        "sigint": getattr(signal.getsignal(signal.SIGINT), "__qualname__", ""),
        "sigchld": str(signal.getsignal(signal.SIGCHLD)),
        "wakeup_fd": previous_wakeup,
        "stdin": _fd_target(0),
        "stdout": _fd_target(1),
        "stderr": _fd_target(2),
        "fd_targets": [_fd_target(fd) for fd in fds],
        "environ_mark": os.environ.get("AISTUDIO_TEST_MARK"),
        "cwd": str(Path.cwd()),
        "start_method": multiprocessing.get_start_method(),
        "main": getattr(__import__("__main__"), "__file__", None),
    }


def import_or_hold(ctx: JobContext) -> JobResult:
    """The tests' ``ImportRequested`` handler (see the module's docstring)."""
    source = Path(str(ctx.command.data["source"]))
    if not (source / "HOLD").exists():
        return run_import(ctx)
    facts = process_facts()
    partial = source / "started.json.part"
    partial.write_text(json.dumps(facts))
    partial.rename(source / "started.json")
    while not (source / "RELEASE").exists():
        ctx.check_cancelled()
        time.sleep(0.02)
    return JobResult(summary={"held": True})
