"""The job runner under SIGTERM: interrupted while it works, never once its end is being written."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aistudio.worker import runner
from aistudio.worker.context import JobContext, JobResult
from aistudio.workspace import Workspace
from events import EventLog
from tests.datasets.support import events_of, make_project, request_import, write_png

ENDS = {"JobSucceeded", "JobFailed", "JobCancelled"}


@pytest.fixture
def sigterm_handler() -> Iterator[None]:
    """The job process's SIGTERM handler, installed here as ``runner.main`` installs it."""
    previous = signal.signal(signal.SIGTERM, runner._on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _ends(workspace: Workspace, project_id: str, job_id: str) -> list[tuple[str, Any]]:
    return [
        (e.type, e.data.get("reason"))
        for e in events_of(workspace, project_id)
        if e.type in ENDS and e.causation == job_id
    ]


def test_sigterm_right_after_the_commit_adds_no_second_end(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sigterm_handler: None
) -> None:
    """A SIGTERM landing just after ``JobSucceeded`` was written leaves that as the only end."""
    write_png(tmp_path / "src" / "cat" / "a.png")
    project_id = make_project(workspace)
    job_id = request_import(workspace, project_id, tmp_path / "src").job_id
    real_append_many = EventLog.append_many

    def append_then_sigterm(self: EventLog, *args: Any, **kwargs: Any) -> Any:
        appended = real_append_many(self, *args, **kwargs)
        if any(getattr(e, "type", None) == "JobSucceeded" for e in args[0]):
            signal.raise_signal(signal.SIGTERM)  # its handler runs before this returns
        return appended

    monkeypatch.setattr(EventLog, "append_many", append_then_sigterm)
    assert runner.run_job(workspace, project_id, job_id) == "succeeded"
    assert _ends(workspace, project_id, job_id) == [("JobSucceeded", None)]


def test_sigterm_while_the_job_works_ends_it_as_worker_lost(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sigterm_handler: None
) -> None:
    """While the handler runs, SIGTERM interrupts it: one ``JobFailed(worker_lost)``; also after
    an earlier job of this process ended (the guard of the end is per job)."""
    write_png(tmp_path / "src" / "cat" / "a.png")
    project_id = make_project(workspace)
    first = request_import(workspace, project_id, tmp_path / "src").job_id
    assert runner.run_job(workspace, project_id, first) == "succeeded"

    def interrupted(_ctx: JobContext) -> JobResult:
        signal.raise_signal(signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt the job")

    monkeypatch.setattr(runner, "resolve_handler", lambda _type: interrupted)
    second = request_import(workspace, project_id, tmp_path / "src").job_id
    assert runner.run_job(workspace, project_id, second) == "failed"
    assert _ends(workspace, project_id, second) == [("JobFailed", "worker_lost")]


def test_an_error_quoting_a_name_that_is_not_utf8_still_ends_the_job(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An internal error whose message or traceback quotes ``caf\\xe9.png`` (a surrogate-escaped
    name) could not be stored, so the job had no end; it is stored with the bytes escaped."""
    write_png(tmp_path / "src" / "cat" / "a.png")
    project_id = make_project(workspace)
    job_id = request_import(workspace, project_id, tmp_path / "src").job_id

    def fails(_ctx: JobContext) -> JobResult:
        raise OSError(f"cannot open {tmp_path}/caf\udce9.png")

    monkeypatch.setattr(runner, "resolve_handler", lambda _type: fails)
    assert runner.run_job(workspace, project_id, job_id) == "failed"
    ends = [e for e in events_of(workspace, project_id) if e.type in ENDS]
    assert [e.type for e in ends] == ["JobFailed"]
    assert "caf\\udce9.png" in ends[0].data["error"]
    assert "caf\\udce9.png" in ends[0].data["traceback"]
