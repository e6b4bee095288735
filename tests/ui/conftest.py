"""Fixtures of the web-app tests: one Dash app per pytest process, a fresh workspace per test.

Dash keeps page callbacks in module globals, so the app is built once per session; each test
points the app's state at its own workspace.
"""

from __future__ import annotations

import dash
import pytest

from aistudio.workspace import Workspace
from ui.app import create_app
from ui.state import AppState, init_state


@pytest.fixture(scope="session")
def dash_app(tmp_path_factory: pytest.TempPathFactory) -> dash.Dash:
    """The app, built once for the whole test session."""
    workspace = Workspace(tmp_path_factory.mktemp("ui-session") / "workspace")
    workspace.ensure()
    return create_app(workspace)


@pytest.fixture
def ui_state(workspace: Workspace, dash_app: dash.Dash) -> AppState:
    """The app's state, pointed at this test's fresh workspace."""
    return init_state(workspace)


@pytest.fixture
def ui_workspace(ui_state: AppState) -> Workspace:
    """This test's workspace, with the app's state pointed at it."""
    return ui_state.workspace
