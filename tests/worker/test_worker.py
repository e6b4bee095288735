"""The worker: claims, runs, cancels and recovers jobs, and never crashes on a bad command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from aistudio import commands
from aistudio.worker.locks import is_held, try_lock
from aistudio.worker.service import Worker, any_worker_alive
from aistudio.workspace import Workspace
from events import Event, EventLog
from tests.helpers import (
    digits_folder,
    events_of,
    job_events,
    make_project,
    terminal_events,
    wait_until,
)


def _worker_process(workspace: Workspace, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aistudio.cli",
            "worker",
            "--workspace",
            str(workspace.root),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_once_runs_pending_import(workspace: Workspace, tmp_path: Path) -> None:
    project_id = make_project(workspace)
    command = commands.request_import(workspace, project_id, digits_folder(tmp_path), "imagefolder")
    Worker(workspace).run(once=True)
    types = [e.type for e in job_events(workspace, project_id, command.id)]
    assert types[:2] == ["JobClaimed", "JobStarted"]
    assert types[-1] == "JobSucceeded"
    assert "ImagesAdded" in types and "ImportCompleted" in types
    assert not any_worker_alive(workspace)  # the lock file went with the worker


def test_invalid_and_unknown_commands_fail_cleanly(workspace: Workspace, tmp_path: Path) -> None:
    project_id = make_project(workspace)
    log = EventLog(workspace.events_path(project_id))
    last = log.last_seq()
    # Lines a newer version or a careless script could have written, bypassing validation.
    bad_import = Event(
        last + 1,
        "evt-00000000000000a1",
        "2026-11-28T00:00:00.000Z",
        "ImportRequested",
        1,
        "script",
        None,
        {"source": 42, "bogus": True},
    )
    unknown = Event(
        last + 2,
        "evt-00000000000000a2",
        "2026-11-28T00:00:00.000Z",
        "TeleportRequested",
        1,
        "script",
        None,
        {"where": "moon"},
    )
    newer = Event(
        last + 3,
        "evt-00000000000000a3",
        "2026-11-28T00:00:00.000Z",
        "ImportRequested",
        99,
        "script",
        None,
        {"source": str(tmp_path)},
    )
    with log.path.open("ab") as handle:
        handle.write(bad_import.to_line() + unknown.to_line() + newer.to_line())
    Worker(workspace).run(once=True)
    for job_id, needle in [
        (bad_import.id, "invalid command"),
        (unknown.id, "unknown command type"),
        (newer.id, "newer"),
    ]:
        ends = terminal_events(workspace, project_id, job_id)
        assert [e.type for e in ends] == ["JobFailed"], job_id
        assert ends[0].data["reason"] == "invalid_command"
        assert needle in ends[0].data["error"]


def test_failed_import_reports_error_and_adds_nothing(workspace: Workspace, tmp_path: Path) -> None:
    project_id = make_project(workspace)
    empty = tmp_path / "empty"
    empty.mkdir()
    command = commands.request_import(workspace, project_id, empty, "imagefolder")
    Worker(workspace).run(once=True)
    ends = terminal_events(workspace, project_id, command.id)
    assert [e.type for e in ends] == ["JobFailed"]
    assert "no importable image" in ends[0].data["error"]
    assert not [e for e in events_of(workspace, project_id) if e.type == "ImagesAdded"]


def test_cancel_of_pending_job(workspace: Workspace, tmp_path: Path) -> None:
    project_id = make_project(workspace)
    command = commands.request_import(workspace, project_id, digits_folder(tmp_path), "imagefolder")
    commands.request_cancel(workspace, project_id, command.id)
    Worker(workspace).run(once=True)
    types = [e.type for e in job_events(workspace, project_id, command.id)]
    assert types == ["JobCancelled"]


def test_orphaned_job_is_failed_by_next_worker(workspace: Workspace, tmp_path: Path) -> None:
    project_id = make_project(workspace)
    command = commands.request_import(workspace, project_id, digits_folder(tmp_path), "imagefolder")
    log = EventLog(workspace.events_path(project_id))
    # A worker claimed it, then died: nobody holds the job's lock.
    log.append(
        "JobClaimed",
        {
            "job_id": command.id,
            "command_type": "ImportRequested",
            "worker_id": "dead",
            "host": "h",
            "pid": 1,
        },
        actor="worker",
        causation=command.id,
    )
    Worker(workspace).run(once=True)
    ends = terminal_events(workspace, project_id, command.id)
    assert [e.type for e in ends] == ["JobFailed"]
    assert ends[0].data["reason"] == "worker_lost"


def test_job_whose_lock_is_held_is_left_alone(workspace: Workspace, tmp_path: Path) -> None:
    project_id = make_project(workspace)
    command = commands.request_import(workspace, project_id, digits_folder(tmp_path), "imagefolder")
    lock = try_lock(workspace.job_lock_path(project_id, command.id))
    assert lock is not None
    try:
        EventLog(workspace.events_path(project_id)).append(
            "JobClaimed",
            {
                "job_id": command.id,
                "command_type": "ImportRequested",
                "worker_id": "alive",
                "host": "h",
                "pid": os.getpid(),
            },
            actor="worker",
            causation=command.id,
        )
        worker = Worker(workspace)
        worker.step()
        assert terminal_events(workspace, project_id, command.id) == []
    finally:
        lock.release()


def test_two_workers_claim_each_command_once(workspace: Workspace, tmp_path: Path) -> None:
    project_id = make_project(workspace)
    folder = digits_folder(tmp_path, n_per_class=1)
    workers = [_worker_process(workspace), _worker_process(workspace)]
    try:
        wait_until(lambda: len(workspace.worker_lock_paths()) == 2, what="two workers")
        job_ids = [
            commands.request_import(workspace, project_id, folder, "imagefolder").id
            for _ in range(6)
        ]
        wait_until(
            lambda: all(terminal_events(workspace, project_id, j) for j in job_ids),
            timeout_s=120,
            what="all jobs to end",
        )
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGINT)
        for proc in workers:
            proc.wait(timeout=30)
    all_events = events_of(workspace, project_id)
    for job_id in job_ids:
        claims = [e for e in all_events if e.type == "JobClaimed" and e.data["job_id"] == job_id]
        ends = terminal_events(workspace, project_id, job_id)
        assert len(claims) == 1 and len(ends) == 1
    # The same folder six times: added once, then only duplicates.
    added = sum(len(e.data["images"]) for e in all_events if e.type == "ImagesAdded")
    assert added == 10
    assert all(proc.returncode == 0 for proc in workers)


@pytest.mark.slow
def test_worker_killed_mid_job_then_recovered(workspace: Workspace, tmp_path: Path) -> None:
    project_id = make_project(workspace)
    folder = digits_folder(tmp_path, n_per_class=100)
    worker = _worker_process(workspace)
    try:
        command = commands.request_import(workspace, project_id, folder, "imagefolder")
        wait_until(
            lambda: any(
                e.type == "JobStarted" for e in job_events(workspace, project_id, command.id)
            ),
            what="the job to start",
        )
        started = next(
            e for e in job_events(workspace, project_id, command.id) if e.type == "JobStarted"
        )
        # kill -9 the worker and its job process: nobody is left to end the job.
        os.kill(worker.pid, signal.SIGKILL)
        os.killpg(started.data["pid"], signal.SIGKILL)
        worker.wait(timeout=10)
        wait_until(
            lambda: not is_held(workspace.job_lock_path(project_id, command.id)),
            what="the job lock to be released",
        )
    finally:
        if worker.poll() is None:
            worker.kill()
    assert terminal_events(workspace, project_id, command.id) == []
    Worker(workspace).run(once=True)
    ends = terminal_events(workspace, project_id, command.id)
    assert [e.type for e in ends] == ["JobFailed"]
    assert ends[0].data["reason"] == "worker_lost"
    assert not [e for e in events_of(workspace, project_id) if e.type == "ImagesAdded"]
    # The command can simply be given again and then succeeds.
    again = commands.request_import(workspace, project_id, folder, "imagefolder")
    Worker(workspace).run(once=True)
    assert [e.type for e in terminal_events(workspace, project_id, again.id)] == ["JobSucceeded"]


@pytest.mark.slow
def test_job_outlives_its_killed_worker_and_ends_once(workspace: Workspace, tmp_path: Path) -> None:
    project_id = make_project(workspace)
    folder = digits_folder(tmp_path, n_per_class=100)
    worker = _worker_process(workspace)
    try:
        command = commands.request_import(workspace, project_id, folder, "imagefolder")
        wait_until(
            lambda: any(
                e.type == "JobStarted" for e in job_events(workspace, project_id, command.id)
            ),
            what="the job to start",
        )
        os.kill(worker.pid, signal.SIGKILL)  # the job process lives on and holds the job lock
        worker.wait(timeout=10)
        # A new worker must not declare the still-running job lost.
        Worker(workspace).step()
        wait_until(
            lambda: bool(terminal_events(workspace, project_id, command.id)),
            timeout_s=120,
            what="the job to end",
        )
    finally:
        if worker.poll() is None:
            worker.kill()
    ends = terminal_events(workspace, project_id, command.id)
    assert [e.type for e in ends] == ["JobSucceeded"]
