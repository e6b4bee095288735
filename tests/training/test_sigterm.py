"""SIGTERM to the worker mid-training (what Ctrl-C of ``aistudio serve`` sends it).

The run has data loader worker processes (``num_workers > 0``): stopping the worker must end the
job with the documented ``JobFailed(worker_lost)``, never with the loader's own "DataLoader worker
… killed by signal" error.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from aistudio import commands
from aistudio.workspace import Workspace
from tests.helpers import terminal_events, wait_until
from tests.training.support import (
    TINY,
    digits_project,
    kill_group,
    of_experiment,
    of_job,
    worker_process,
)

LOADER_RUN = {**TINY, "epochs": 40, "num_workers": 2}
"""A long run with two persistent data loader workers (the default augmentations give the
workers something to do, so :meth:`TrainingDataModule.workers_for` keeps them)."""


def _children(pid: int) -> list[int]:
    """The pids of ``pid``'s child processes (Linux: from ``/proc``)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@dataclass
class LoaderRun:
    """A training job running under a real worker, its loader workers started."""

    project_id: str
    job_id: str
    worker: subprocess.Popen[bytes]
    job_pid: int


@contextmanager
def loader_run(workspace: Workspace, tmp_path: Path, name: str) -> Iterator[LoaderRun]:
    """Start :data:`LOADER_RUN` under a worker process and wait for its first epoch and its two
    loader workers; on the way out, nothing of it is left running."""
    project_id = digits_project(workspace, tmp_path)
    command = commands.request_training(workspace, project_id, name, "default", LOADER_RUN)
    exp = command.data["experiment_id"]
    worker = worker_process(workspace)
    job_pid: int | None = None
    try:
        wait_until(
            lambda: bool(of_experiment(workspace, project_id, exp, "EpochCompleted")),
            timeout_s=90,
            what="the first epoch",
        )
        (started,) = of_job(workspace, project_id, command.id, "JobStarted")
        job_pid = int(started.data["pid"])
        wait_until(lambda: len(_children(job_pid)) >= 2, timeout_s=30, what="the loader workers")
        yield LoaderRun(project_id, command.id, worker, job_pid)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                kill_group(worker.pid)
                worker.wait(timeout=30)
        if job_pid is not None:
            kill_group(job_pid)


def _ended_as_interrupted(workspace: Workspace, run: LoaderRun) -> None:
    (end,) = terminal_events(workspace, run.project_id, run.job_id)
    assert end.type == "JobFailed", end.data
    assert end.data["reason"] == "worker_lost", end.data
    assert end.data["error"].startswith("interrupted"), end.data


@pytest.mark.slow
def test_sigterm_to_the_worker_ends_a_run_with_loader_workers_as_worker_lost(
    workspace: Workspace, tmp_path: Path
) -> None:
    with loader_run(workspace, tmp_path, "loaders") as run:
        run.worker.send_signal(signal.SIGTERM)
        assert run.worker.wait(timeout=60) == 0
    _ended_as_interrupted(workspace, run)


@pytest.mark.slow
def test_sigterm_to_the_jobs_whole_process_group_still_ends_it_as_worker_lost(
    workspace: Workspace, tmp_path: Path
) -> None:
    # What systemd stopping a unit, or `kill -- -PGID`, does: every process of the job's group,
    # its loader workers too, gets the signal at once.
    with loader_run(workspace, tmp_path, "group") as run:
        os.killpg(run.job_pid, signal.SIGTERM)
        wait_until(
            lambda: bool(terminal_events(workspace, run.project_id, run.job_id)),
            timeout_s=60,
            what="the end of the interrupted job",
        )
    _ended_as_interrupted(workspace, run)
