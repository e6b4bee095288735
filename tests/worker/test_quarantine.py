"""One damaged or unusable project never stops the worker for the others (issue 9, item 1).

The worker sets such a project aside: it logs why once, lists it for other processes
(``read_quarantine``, ``aistudio verify``), keeps serving every other project, and serves the
project again (with a fresh projector) once its log reads.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from aistudio import commands
from aistudio.cli import cli
from aistudio.worker import supervisor
from aistudio.worker.locks import HeldLock, try_lock
from aistudio.worker.quarantine import quarantine_reason, read_quarantine
from aistudio.worker.service import Worker
from aistudio.workspace import Workspace
from events import Event, EventLog, LogTail
from tests.helpers import digits_folder, job_events, make_project, terminal_events

GARBAGE = b"this line is not JSON\n"


def insert_garbage_after_line(path: Path, line_no: int) -> bytes:
    """Put :data:`GARBAGE` after line ``line_no`` of the log, in place; returns the original."""
    original = path.read_bytes()
    lines = original.splitlines(keepends=True)
    damaged = b"".join(lines[:line_no]) + GARBAGE + b"".join(lines[line_no:])
    with path.open("r+b") as handle:
        handle.write(damaged)
    return original


def repair(path: Path) -> None:
    """Remove every :data:`GARBAGE` line, as someone mending the log by hand would."""
    kept = [line for line in path.read_bytes().splitlines(keepends=True) if line != GARBAGE]
    tmp = path.with_name("events.jsonl.repair")
    tmp.write_bytes(b"".join(kept))
    tmp.replace(path)


def raw_import_line(workspace: Workspace, project_id: str, source: Path, event_id: str) -> bytes:
    """An ``ImportRequested`` line as a script writing the file by hand would add it."""
    last = EventLog(workspace.events_path(project_id)).last_seq()
    event = Event(
        last + 1,
        event_id,
        "2026-11-28T00:00:00.000Z",
        "ImportRequested",
        1,
        "script",
        None,
        {"source": str(source), "format": "imagefolder", "options": {}},
    )
    return event.to_line()


@pytest.fixture
def worker(workspace: Workspace) -> Iterator[Worker]:
    """An in-process worker driven by ``step()``, holding its worker lock (so that its
    quarantine list counts as a live worker's); its jobs are stopped at the end."""
    made = Worker(workspace)
    lock: HeldLock | None = try_lock(workspace.worker_lock_path(made.worker_id))
    assert lock is not None
    try:
        yield made
    finally:
        made._shutdown()
        made.quarantine.close()
        lock.release()


def step_until(worker: Worker, done: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Scan as the worker's loop does until ``done()``; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        worker.step()
        if done():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {done}")


def set_aside_records(caplog: pytest.LogCaptureFixture, project_id: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR and f"project {project_id} set aside" in r.getMessage()
    ]


def end_types(workspace: Workspace, project_id: str, job_id: str) -> list[str]:
    return [e.type for e in terminal_events(workspace, project_id, job_id)]


def test_damage_mid_file_sets_one_project_aside_until_repaired(
    workspace: Workspace, worker: Worker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    folder = digits_folder(tmp_path, n_per_class=1)
    damaged = make_project(workspace, "Damaged")
    waiting = commands.request_import(workspace, damaged, folder, "imagefolder")
    path = workspace.events_path(damaged)
    insert_garbage_after_line(path, 1)
    healthy = make_project(workspace, "Healthy")
    job = commands.request_import(workspace, healthy, folder, "imagefolder")

    step_until(worker, lambda: bool(terminal_events(workspace, healthy, job.id)))
    for _ in range(5):  # rescans of an unchanged damaged log: no new read, no new log line
        worker.step()

    assert end_types(workspace, healthy, job.id) == ["JobSucceeded"]
    reason = read_quarantine(workspace)[damaged]
    assert "line 2" in reason and "damaged" in reason
    assert quarantine_reason(workspace, healthy) is None
    assert len(set_aside_records(caplog, damaged)) == 1
    output = CliRunner().invoke(cli, ["--workspace", str(workspace.root), "verify", damaged])
    assert output.exit_code == 1
    assert f"the worker has set this project aside: {reason}" in output.output

    repair(path)
    step_until(worker, lambda: bool(terminal_events(workspace, damaged, waiting.id)))
    assert end_types(workspace, damaged, waiting.id) == ["JobSucceeded"]
    assert read_quarantine(workspace) == {}
    assert not workspace.quarantine_path(worker.worker_id).exists()
    assert any("served again" in r.getMessage() for r in caplog.records)


def test_failing_steps_and_unreadable_logs_set_only_their_project_aside(
    workspace: Workspace,
    worker: Worker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = digits_folder(tmp_path, n_per_class=1)
    buggy = make_project(workspace, "Buggy")
    buggy_job = commands.request_import(workspace, buggy, folder, "imagefolder")
    unreadable = make_project(workspace, "Unreadable")
    unreadable_job = commands.request_import(workspace, unreadable, folder, "imagefolder")
    healthy = make_project(workspace, "Healthy")
    job = commands.request_import(workspace, healthy, folder, "imagefolder")
    unreadable_log = workspace.events_path(unreadable)

    real_recover = supervisor.recover_orphans
    real_read_new = LogTail._read_new

    def recover(ws: Workspace, projector: object, project_id: str, mine: set[str]) -> list[str]:
        if project_id == buggy:
            raise RuntimeError("a defect met in this project only")
        return real_recover(ws, projector, project_id, mine)  # type: ignore[arg-type]

    def read_new(tail: LogTail) -> bytes:
        if tail.path == unreadable_log:
            raise PermissionError(13, "Permission denied", str(tail.path))
        return real_read_new(tail)

    monkeypatch.setattr(supervisor, "recover_orphans", recover)
    monkeypatch.setattr(LogTail, "_read_new", read_new)
    worker.quarantine.retry_s = 0.0  # causes outside the log: look again at every scan
    caplog.set_level(logging.INFO)

    step_until(worker, lambda: bool(terminal_events(workspace, healthy, job.id)))
    for _ in range(3):
        worker.step()
    assert end_types(workspace, healthy, job.id) == ["JobSucceeded"]
    reasons = read_quarantine(workspace)
    assert reasons[buggy] == "unexpected error: RuntimeError: a defect met in this project only"
    assert "Permission denied" in reasons[unreadable]
    assert set(reasons) == {buggy, unreadable}
    (logged,) = [r for r in caplog.records if f"project {buggy} set aside" in r.getMessage()]
    assert logged.exc_info is not None  # the defect's traceback, once
    assert len(set_aside_records(caplog, unreadable)) == 1
    assert job_events(workspace, buggy, buggy_job.id) == []
    assert job_events(workspace, unreadable, unreadable_job.id) == []

    monkeypatch.undo()  # fixed: both are served again at the next look
    step_until(
        worker,
        lambda: (
            bool(terminal_events(workspace, buggy, buggy_job.id))
            and bool(terminal_events(workspace, unreadable, unreadable_job.id))
        ),
    )
    assert end_types(workspace, buggy, buggy_job.id) == ["JobSucceeded"]
    assert end_types(workspace, unreadable, unreadable_job.id) == ["JobSucceeded"]
    assert read_quarantine(workspace) == {}


def test_folders_that_are_not_served_projects_do_not_stop_the_worker(
    workspace: Workspace, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    (workspace.projects_dir / "proj-0000000a").mkdir()  # no log (yet)
    empty = workspace.projects_dir / "proj-0000000b"
    empty.mkdir()
    (empty / "events.jsonl").write_bytes(b"")
    foreign = workspace.projects_dir / "proj-0000000c"
    foreign.mkdir()
    folder = digits_folder(tmp_path, n_per_class=1)
    (foreign / "events.jsonl").write_bytes(
        raw_import_line(workspace, "proj-0000000c", folder, "evt-00000000000000c1")
    )
    healthy = make_project(workspace, "Healthy")
    job = commands.request_import(workspace, healthy, folder, "imagefolder")

    Worker(workspace).run(once=True)  # returns: a project set aside is not work to wait for

    assert end_types(workspace, healthy, job.id) == ["JobSucceeded"]
    assert EventLog(foreign / "events.jsonl").last_seq() == 1  # nothing claimed there
    assert (empty / "events.jsonl").read_bytes() == b""
    messages = [r.getMessage() for r in caplog.records if " set aside " in r.getMessage()]
    assert len(messages) == 1, messages
    assert "proj-0000000c set aside" in messages[0] and "not ProjectCreated" in messages[0]
    assert read_quarantine(workspace) == {}  # the worker is gone: so is its list


def test_a_job_of_a_project_damaged_while_it_runs_is_ended_once_repaired(
    workspace: Workspace, worker: Worker, tmp_path: Path
) -> None:
    folder = digits_folder(tmp_path, n_per_class=1)
    project = make_project(workspace, "Damaged while running")
    job = commands.request_import(workspace, project, folder, "imagefolder")
    worker.step()
    running = worker.running[job.id]
    os.kill(running.process.pid, signal.SIGSTOP)  # nothing writes while the log is damaged
    path = workspace.events_path(project)
    insert_garbage_after_line(path, 1)
    os.killpg(running.process.pid, signal.SIGKILL)  # it dies without its end
    running.process.wait(timeout=30)

    healthy = make_project(workspace, "Healthy")
    other = commands.request_import(workspace, healthy, folder, "imagefolder")
    step_until(worker, lambda: bool(terminal_events(workspace, healthy, other.id)))
    assert job.id not in worker.running  # let go of, without reading the damaged log
    assert project in read_quarantine(workspace)

    repair(path)
    step_until(worker, lambda: bool(terminal_events(workspace, project, job.id)))
    (end,) = terminal_events(workspace, project, job.id)
    assert end.type == "JobFailed" and end.data["reason"] == "worker_lost"
    assert read_quarantine(workspace) == {}


def test_a_command_whose_check_fails_fails_alone(
    workspace: Workspace, worker: Worker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = digits_folder(tmp_path, n_per_class=1)
    project = make_project(workspace, "One bad command")
    bad = commands.request_import(workspace, project, folder, "imagefolder")
    good = commands.request_import(workspace, project, folder, "imagefolder")
    real = supervisor.command_problem

    def problem(command: Event) -> str | None:
        if command.id == bad.id:
            raise KeyError("options")  # a defect of one check, met by one command
        return real(command)

    monkeypatch.setattr(supervisor, "command_problem", problem)
    step_until(worker, lambda: bool(terminal_events(workspace, project, good.id)))
    (end,) = terminal_events(workspace, project, bad.id)
    assert end.type == "JobFailed" and end.data["reason"] == "invalid_command"
    assert end.data["error"] == "the command could not be checked: KeyError: 'options'"
    assert end_types(workspace, project, good.id) == ["JobSucceeded"]
    assert read_quarantine(workspace) == {}


def test_a_project_holding_newer_events_never_stops_the_others(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Issue 9, item 4, seen from the worker: a ``TrainingRequested`` of version 2 lacking
    ``split`` is failed as a command this version cannot run; the other project's import runs,
    and the newer project's views and verify carry on."""
    from events import verify_log

    newer = make_project(workspace, "Newer")
    healthy = make_project(workspace, "Healthy")
    path = workspace.events_path(newer)
    last = EventLog(path).last_seq()
    line = (
        f'{{"seq": {last + 1}, "id": "evt-00000000000000aa", "ts": "2026-11-28T00:00:00.000Z", '
        '"type": "TrainingRequested", "v": 2, "actor": "script", "causation": null, '
        '"data": {"experiment_id": "exp-0000beef", "name": "x", "config": {}}}\n'
    )
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line)
    good = commands.request_import(workspace, healthy, digits_folder(tmp_path, 1))

    Worker(workspace).run(once=True)

    assert [e.type for e in terminal_events(workspace, healthy, good.id)] == ["JobSucceeded"]
    ends = terminal_events(workspace, newer, "evt-00000000000000aa")
    assert [e.type for e in ends] == ["JobFailed"]
    assert ends[0].data["reason"] == "invalid_command" and "newer" in ends[0].data["error"]
    assert read_quarantine(workspace) == {}
    experiments = commands.experiments_view(workspace, newer)
    assert experiments.experiments == {}
    assert [s.seq for s in experiments.skipped] == [last + 1]
    report = verify_log(path)
    assert any(p.seq == last + 1 and p.unreadable for p in report.problems)
