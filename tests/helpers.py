"""Helpers shared by the tests of the commands, the worker and the CLI."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from aistudio import commands
from aistudio.datasets.demo import write_digits_imagefolder
from aistudio.workspace import Workspace
from events import Event, EventLog


def make_project(workspace: Workspace, name: str = "Digits", task: str = "classification") -> str:
    """Create a project and return its id."""
    return str(commands.create_project(workspace, name, task).data["project_id"])


def digits_folder(root: Path, n_per_class: int = 3) -> Path:
    """An imagefolder of real handwritten digits (10 classes, 32 px PNGs)."""
    folder = root / "digits"
    write_digits_imagefolder(folder, n_per_class=n_per_class)
    return folder


def events_of(workspace: Workspace, project_id: str) -> list[Event]:
    """Every committed event of a project."""
    return list(EventLog(workspace.events_path(project_id)).read())


def wait_until(predicate: Callable[[], bool], timeout_s: float = 60.0, what: str = "") -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what or predicate}")


def job_events(workspace: Workspace, project_id: str, job_id: str) -> list[Event]:
    """The events a job caused (claim, start, progress, results, end)."""
    return [e for e in events_of(workspace, project_id) if e.causation == job_id]


def terminal_events(workspace: Workspace, project_id: str, job_id: str) -> list[Event]:
    """The end events of a job (there must be exactly one once it ended)."""
    ends = {"JobSucceeded", "JobFailed", "JobCancelled"}
    return [e for e in job_events(workspace, project_id, job_id) if e.type in ends]
