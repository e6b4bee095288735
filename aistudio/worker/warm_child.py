"""What runs inside the warm runner: its server process, and each job process forked from it.

The server is multiprocessing's ``forkserver``, started by
:class:`aistudio.worker.warm.WarmRunner`. Its one preload module,
:mod:`aistudio.worker.warm_preload`, calls :func:`preload`: it imports torch, Lightning and
everything the job handlers import when they run, and nothing more (no tensor is made, so torch
starts no thread pool and CUDA stays uninitialised: both are unsafe to fork). Each job is then a
fork of that server: :func:`run_forked_job` turns it into what a cold
``python -m aistudio.worker.runner`` would be (its own session, the job's log file as stdout and
stderr, the worker's environment, the runner's signal handlers) and runs the job in it.

Torch-free at import: the worker imports this module (for :class:`JobRequest`), the server
imports the heavy modules only in :func:`preload`.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import logging
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass
from multiprocessing import reduction
from pathlib import Path
from typing import Any

from aistudio.worker.handlers import HANDLERS

logger = logging.getLogger(__name__)

LIBRARIES: tuple[str, ...] = ("torch", "torchvision", "pytorch_lightning")
"""The heavy libraries every torch job imports (seconds of a cold start)."""

RUNTIME_MODULES: tuple[str, ...] = (
    "aistudio.worker.runner",
    "aistudio.tasks.registry",
    "aistudio.training.checkpoints",
    "aistudio.training.data",
    "aistudio.evaluation.inference",
    "aistudio.evaluation.results",
    "aistudio.evaluation.classification_figures",
    "aistudio.evaluation.regression_figures",
    "aistudio.evaluation.detection_figures",
    "aistudio.evaluation.instance_figures",
    "aistudio.export.source",
    "aistudio.export.samples",
    "aistudio.export.adapters",
    "aistudio.export.validate",
    "aistudio.export.onnx_export",
    "aistudio.export.torchscript_export",
)
"""Modules the job handlers import only when they run (so that the worker stays torch-free)."""


def default_preload() -> tuple[str, ...]:
    """What the server imports before it forks any job: the libraries, the handlers' modules
    (:data:`aistudio.worker.handlers.HANDLERS`) and :data:`RUNTIME_MODULES`."""
    handlers = tuple(dict.fromkeys(target.split(":")[0] for target in HANDLERS.values()))
    return tuple(dict.fromkeys((*LIBRARIES, *handlers, *RUNTIME_MODULES)))


class _Preloaded:
    """What :func:`preload` did in this (server) process."""

    modules: tuple[str, ...] = ()
    failed: dict[str, str] = {}
    seconds = 0.0


def preload(modules: tuple[str, ...] | None = None) -> None:
    """Import ``modules`` (default: :func:`default_preload`) into the server process.

    A module that fails to import is logged (to the worker's stderr) and skipped: its jobs then
    import it themselves, as a cold job would, and meet the same error there.
    """
    # The server shares the worker's process group: a Ctrl-C in the worker's terminal must not
    # kill it half-way through its imports (multiprocessing ignores SIGINT only after them).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Blocked since the worker spawned this server (warm._spawn_deaf_to_ctrl_c): now that it is
    # ignored, a Ctrl-C pending from the start is dropped.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    worker = os.getppid()
    _no_main_rerun()
    started = time.monotonic()
    wanted = default_preload() if modules is None else modules
    failed: dict[str, str] = {}
    for name in wanted:
        if os.getppid() != worker:
            os._exit(0)  # the worker died (killed) while this server was importing: no use
        try:
            importlib.import_module(name)
        # Reported; a job needing the module meets the same error, in its own log.
        except Exception as exc:  # noqa: BLE001
            failed[name] = f"{type(exc).__name__}: {exc}"
            logger.warning("warm runner: cannot preload %s (%s)", name, failed[name])
    _Preloaded.modules = tuple(wanted)
    _Preloaded.failed = failed
    _Preloaded.seconds = time.monotonic() - started
    # Every object imported so far goes to the permanent generation: the collector of a forked
    # job never walks them, so it does not write to (and copy) the pages it shares with this
    # server, hundreds of MB (the prefork servers' ``gc.freeze`` recipe).
    gc.collect()
    gc.freeze()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        # A preloaded module touched CUDA: every forked job would fail to use the GPU.
        logger.error("warm runner: CUDA was initialised while preloading; jobs may not use it")


def _no_main_rerun() -> None:
    """Jobs forked from here never re-run the worker's ``__main__``.

    multiprocessing makes a child it starts re-import its parent's main module (``__mp_main__``)
    so that functions defined there unpickle. A job needs none of that (its target is
    :func:`run_forked_job`), and it would run whatever script started the worker in every job (a
    script without an ``if __name__ == "__main__"`` guard would start a worker in it), or re-run
    ``aistudio.cli`` for every job. This process only serves jobs, so it is switched off here.
    """
    from multiprocessing import spawn

    def keep_main(_name_or_path: str) -> None:
        return None

    spawn._fixup_main_from_name = keep_main  # type: ignore[attr-defined]
    spawn._fixup_main_from_path = keep_main  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- descriptors
class PassedFd:
    """An open file descriptor of the worker handed to the forked process.

    Pickled while the process is started, it travels to the server over its Unix socket
    (``SCM_RIGHTS``): the child gets a descriptor of the *same open file description*, so a
    ``flock`` held through it (the job's lock) is the same lock, held without a gap.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        return (_received, (reduction.DupFd(self.fd),))


def _received(dup: Any) -> int:
    """The descriptor a :class:`PassedFd` became in the child (called while it unpickles)."""
    fd: int = dup.detach()
    return fd


# ---------------------------------------------------------------------- the probe
def probe(report: int) -> None:
    """Run in a fork of a server that has finished preloading: write what the worker wants to
    know (the server's pid, what it preloaded, its threads, a forked job's torch threads) as
    JSON to ``report``."""
    server = os.getppid()
    try:
        threads = sum(1 for _ in Path(f"/proc/{server}/task").iterdir())
    except OSError:
        threads = -1
    torch = sys.modules.get("torch")
    facts = {
        "server_pid": server,
        "preloaded": list(_Preloaded.modules),
        "failed": _Preloaded.failed,
        "preload_s": round(_Preloaded.seconds, 3),
        "threads": threads,
        # What a job forked from the server gets (asked here, in the fork: never in the server).
        "torch_threads": None if torch is None else torch.get_num_threads(),
    }
    with os.fdopen(report, "w") as out:
        json.dump(facts, out)


# ---------------------------------------------------------------------- a job
@dataclass(frozen=True)
class JobRequest:
    """Everything a forked job process needs (pickled to the server with its descriptors).

    Attributes:
        workspace: the workspace root.
        project_id: the job's project.
        job_id: the job (its command's id).
        lock: the job's lock, held (a :class:`PassedFd` in the worker, an int in the child).
        log: the job's log file, opened for appending.
        ready: the write end of a pipe: one byte once the process is set up.
        environ: the worker's environment when it started the job.
        cwd: the worker's working directory.
    """

    workspace: str
    project_id: str
    job_id: str
    lock: Any
    log: Any
    ready: Any
    environ: dict[str, str]
    cwd: str


def run_forked_job(request: JobRequest) -> None:
    """The forked job process: set it up as a cold job process is, say so, run the job.

    Exits (``SystemExit``) with the runner's exit code.
    """
    os.setsid()  # its own session and process group: the supervisor signals the whole group
    _redirect(request.log)
    _reset_signals()
    from aistudio.worker import runner

    runner.install_signal_handlers()
    os.write(request.ready, b"1")
    os.close(request.ready)
    os.set_inheritable(request.lock, True)  # as pass_fds leaves it: its children hold it too
    _adopt(request.environ, request.cwd)
    sys.argv = [
        str(Path(runner.__file__)),
        "--project",
        request.project_id,
        "--job",
        request.job_id,
    ]
    code = runner.serve_job(request.workspace, request.project_id, request.job_id)
    logging.shutdown()
    raise SystemExit(code)


def _redirect(log: int) -> None:
    """stdin from /dev/null, stdout and stderr to the job's log (as ``subprocess`` sets them)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()  # nothing the server printed may land in the job's log
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)


def _reset_signals() -> None:
    """Nothing of the server's signal set-up stays: no wake-up fd, default SIGCHLD."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def _adopt(environ: dict[str, str], cwd: str) -> None:
    """Take the worker's environment, working directory, start method and thread count."""
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    # multiprocessing made this process's default start method its own (forkserver); a fresh
    # process has the platform's default, which the job's data loader workers rely on.
    multiprocessing.set_start_method(None, force=True)  # type: ignore[arg-type]
    threads = environ.get("OMP_NUM_THREADS", "")
    torch = sys.modules.get("torch")
    if torch is not None and threads.isdigit() and int(threads) > 0:
        # Read by OpenMP when torch was loaded, i.e. from the server's environment.
        torch.set_num_threads(int(threads))
