"""Fixtures shared by the CLI tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner

from aistudio.cli import cli
from aistudio.workspace import Workspace


@pytest.fixture
def run(workspace: Workspace) -> Callable[..., str]:
    """``run(*args, code=0)``: ``aistudio --workspace W *args`` in-process; checks the exit code
    and returns what it printed."""
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli, ["--workspace", str(workspace.root), *args])
        assert result.exit_code == code, (result.exit_code, result.output)
        return result.output

    return invoke
