"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from aistudio.workspace import Workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """A fresh workspace created from the template in a temporary folder."""
    ws = Workspace(tmp_path / "workspace")
    ws.ensure()
    return ws
