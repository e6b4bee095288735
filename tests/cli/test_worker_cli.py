"""`aistudio worker --jobs N` (DESIGN §6): how many jobs one worker runs at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aistudio import commands
from aistudio.workspace import Workspace
from tests.helpers import digits_folder, make_project, terminal_events


def test_worker_once_with_two_job_slots_runs_every_pending_job(
    workspace: Workspace, run: Callable[..., str], tmp_path: Path
) -> None:
    folder = digits_folder(tmp_path, 1)
    jobs = []
    for name in ("A", "B"):
        project_id = make_project(workspace, name)
        jobs.append((project_id, commands.request_import(workspace, project_id, folder).id))
    run("worker", "--once", "--jobs", "2")
    for project_id, job_id in jobs:
        assert [e.type for e in terminal_events(workspace, project_id, job_id)] == ["JobSucceeded"]


def test_worker_refuses_a_job_count_below_one(run: Callable[..., str]) -> None:
    assert "--jobs" in run("worker", "--jobs", "0", code=2)
