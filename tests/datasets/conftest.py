"""Fixtures shared by the dataset tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from aistudio.workspace import Workspace
from tests.datasets.support import set_settings


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A folder for sources, beside the workspace (which also lives in ``tmp_path``)."""
    folder = tmp_path / "sources"
    folder.mkdir()
    return folder


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    """The test workspace, with 16 px thumbnails (cheap to write)."""
    set_settings(workspace, thumbnail_px=16)
    return workspace
