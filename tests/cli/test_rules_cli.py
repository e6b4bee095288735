"""The CLI's side of the command rules: relative sources, JSON size and nesting limits."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from aistudio import commands
from aistudio.workspace import Workspace
from events import EventLog
from tests.helpers import make_project


def test_cli_import_resolves_against_the_shell_directory(
    workspace: Workspace, run: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_project(workspace, "P")
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path)
    run("import", "P", "", code=2)
    job_id = run("import", "P", "here").strip()
    project_id = commands.resolve_project(workspace, "P")
    command = EventLog(workspace.events_path(project_id)).get(job_id)
    assert command is not None and command.data["source"] == str((tmp_path / "here").resolve())


def test_cli_submit_limits_nesting_and_size(
    workspace: Workspace, run: Callable[..., str], tmp_path: Path
) -> None:
    make_project(workspace, "P")
    bomb = tmp_path / "bomb.json"
    bomb.write_text("[" * 100_000)
    out = run("submit", "P", "ImportRequested", "--file", str(bomb), code=2)
    assert "nests deeper than" in out and "Traceback" not in out and len(out.splitlines()) == 1
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"source": "/tmp", "options": {"x": "y" * (2 << 20)}}))
    out = run("submit", "P", "ImportRequested", "--file", str(big), code=2)
    assert "at most" in out and len(out.splitlines()) == 1
    config = tmp_path / "config.json"
    config.write_text('{"a":' * 50 + "1" + "}" * 50)
    out = run("train", "P", "--config", str(config), code=2)
    assert "nests deeper than" in out and len(out.splitlines()) == 1


def test_project_list_and_names_say_which_logs_cannot_be_read(
    workspace: Workspace, run: Callable[..., str]
) -> None:
    make_project(workspace, "Good")
    broken = make_project(workspace, "Broken")
    path = workspace.events_path(broken)
    path.write_bytes(b"not json\n" + path.read_bytes())
    listing = run("project", "list")
    assert "Good" in listing and f"{broken}  (its log cannot be read" in listing
    out = run("verify", "Broken", code=2)
    assert f"cannot be read, so its name is unknown: {broken}; name it by id" in out
    assert "line 1" in run("verify", broken, code=1)
