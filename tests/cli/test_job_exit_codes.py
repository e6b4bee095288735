"""Exit codes of ``--wait`` (issue 9, item 9; DESIGN §6): a job that failed on its input exits 2
with a one-line reason, any other failure 1, whatever the job type.

The job records why it failed: ``JobFailed.reason`` is ``bad_input`` when the handler raised
``JobInputError`` (nothing importable, a malformed CSV, a source that does not fit the task…)
and ``invalid_command`` when the command itself cannot run; both are bad input. ``error``
(an internal error, with a traceback), ``process_died`` and ``worker_lost`` exit 1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from aistudio import cli
from aistudio.workspace import Workspace
from tests.helpers import digits_folder, events_of


def _error_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("error:")]


def _job_failed(workspace: Workspace, project_id: str) -> dict[str, object]:
    [end] = [e for e in events_of(workspace, project_id) if e.type == "JobFailed"]
    return end.data


def test_import_with_nothing_importable_exits_2(
    run: Callable[..., str], workspace: Workspace, tmp_path: Path
) -> None:
    project_id = run("project", "create", "P", "--task", "classification").strip()
    bad = tmp_path / "bad"
    (bad / "cat").mkdir(parents=True)
    (bad / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = run("import", "P", str(bad), "--wait", code=2)
    [line] = _error_lines(out)
    assert "failed: no importable image in" in line
    assert "cat/broken.png: not a recognised image file" in line
    assert _job_failed(workspace, project_id)["reason"] == "bad_input"


def test_import_of_a_malformed_csv_exits_2(
    run: Callable[..., str], workspace: Workspace, tmp_path: Path
) -> None:
    project_id = run("project", "create", "P", "--task", "classification").strip()
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("filename,label\na.png,cat,extra\n")
    out = run("import", "P", str(csv_path), "--wait", code=2)
    [line] = _error_lines(out)
    assert "labels.csv, line 2: expected 2 columns" in line
    assert _job_failed(workspace, project_id)["reason"] == "bad_input"


def test_import_that_does_not_fit_the_task_exits_2(
    run: Callable[..., str], workspace: Workspace, tmp_path: Path
) -> None:
    run("project", "create", "R", "--task", "regression")
    out = run("import", "R", str(digits_folder(tmp_path, 1)), "--wait", code=2)
    assert "needs a CSV with the header `filename,value`" in _error_lines(out)[0]


def test_import_failing_inside_exits_1(
    run: Callable[..., str], workspace: Workspace, tmp_path: Path
) -> None:
    """The store cannot be written (its folder is a file): no fault of the input."""
    project_id = run("project", "create", "P", "--task", "classification").strip()
    images = workspace.events_path(project_id).parent / "images"
    images.parent.mkdir(parents=True, exist_ok=True)
    images.write_bytes(b"not a folder")
    out = run("import", "P", str(digits_folder(tmp_path, 1)), "--wait", code=1)
    assert len(_error_lines(out)) == 1
    end = _job_failed(workspace, project_id)
    assert end["reason"] == "error" and end["traceback"]


@pytest.mark.parametrize(
    ("status", "reason", "code"),
    [
        ("failed", "bad_input", 2),
        ("failed", "invalid_command", 2),
        ("failed", "error", 1),
        ("failed", "process_died", 1),
        ("failed", "worker_lost", 1),
        ("cancelled", "cancelled on request", 1),
    ],
)
@pytest.mark.parametrize(
    "command_type", ["ImportRequested", "TrainingRequested", "ExportRequested"]
)
def test_one_rule_for_every_job_type(
    capsys: pytest.CaptureFixture[str], status: str, reason: str, code: int, command_type: str
) -> None:
    job = SimpleNamespace(
        job_id="evt-0123456789abcdef",
        command_type=command_type,
        status=status,
        reason=reason,
        error="first line\n  second line",
    )
    with pytest.raises(SystemExit) as caught:
        cli._report_end(job)
    assert caught.value.code == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: job evt-0123456789abcdef ")


def test_a_job_that_succeeded_does_not_exit() -> None:
    cli._report_end(SimpleNamespace(job_id="evt-0", status="succeeded", reason=None, error=None))
