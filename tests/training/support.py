"""Tiny digit projects, settings and log queries shared by the training tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from aistudio import commands
from aistudio.datasets.demo import write_digits_csv, write_digits_imagefolder
from aistudio.worker.service import Worker
from aistudio.workspace import Workspace
from events import Event
from tests.helpers import events_of, make_project

TINY: dict[str, Any] = {
    "model": "mobilenet_v3_small",
    "image_size": 32,
    "batch_size": 16,
    "num_workers": 0,
    "lr": 0.002,
    "warmup_epochs": 0,
}
"""Settings of a run that takes seconds on a 2-core CPU (a few dozen 32 px digits).

MobileNetV3-Small: a step takes a fifth of ResNet-18's here and a checkpoint 18 MB, not 134.
"""


def digits_project(
    workspace: Workspace,
    root: Path,
    task: str = "classification",
    n_per_class: int = 4,
    name: str | None = None,
) -> str:
    """A project of 32 px digits (labels, or the digit as a value), imported and split."""
    project_id = make_project(workspace, name or f"Digits {task}", task)
    if task == "classification":
        source: Path = root / "digits"
        write_digits_imagefolder(source, n_per_class=n_per_class)
        fmt = "imagefolder"
    else:
        source = write_digits_csv(root / "digits-csv", n_per_class=n_per_class, column="value")
        fmt = "csv"
    commands.request_import(workspace, project_id, source, fmt)
    Worker(workspace).run(once=True)
    commands.create_split(workspace, project_id, "default")
    return project_id


def of_job(workspace: Workspace, project_id: str, job_id: str, type_: str) -> list[Event]:
    """The events of type ``type_`` that job ``job_id`` caused."""
    return [
        e for e in events_of(workspace, project_id) if e.causation == job_id and e.type == type_
    ]


def of_experiment(workspace: Workspace, project_id: str, exp: str, type_: str) -> list[Event]:
    """The events of type ``type_`` about experiment ``exp`` (every run of it)."""
    return [
        e
        for e in events_of(workspace, project_id)
        if e.type == type_ and e.data.get("experiment_id") == exp
    ]


def worker_process(workspace: Workspace) -> subprocess.Popen[bytes]:
    """``aistudio worker`` in a child process (its own process group, so it can be killed)."""
    return subprocess.Popen(
        [sys.executable, "-m", "aistudio.cli", "worker", "--workspace", str(workspace.root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_group(pid: int) -> None:
    """SIGKILL a process group (a worker, or a job process with its data loader workers)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
