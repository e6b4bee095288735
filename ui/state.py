"""The web process's state: the workspace and the incremental projectors of its projects.

Dash pages are modules, so they reach the state through :func:`get_state`, set once by
:func:`ui.app.create_app`. Reading a view costs only the events appended since the last read.
"""

from __future__ import annotations

import threading
from typing import Any

from aistudio.commands import ModelViews
from aistudio.workspace import Workspace, WorkspaceError, check_id
from events import Event, EventLog
from projections.project import ProjectView
from projections.projector import ProjectProjector, WorkspaceProjector


class AppState:
    """What every page reads from: one workspace, kept current incrementally."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.projects = WorkspaceProjector(workspace.projects_dir)
        self._lock = threading.Lock()

    def project_list(self) -> list[ProjectView]:
        """Live projects, oldest first, refreshed."""
        with self._lock:
            self.projects.update()
            return self.projects.project_list()

    def projector(self, project_id: str) -> ProjectProjector | None:
        """The refreshed projector of a project, or None when there is no such project."""
        try:
            check_id("proj", project_id)
        except WorkspaceError:
            return None
        with self._lock:
            if project_id not in self.projects.project_ids():
                self.projects.update()
                if project_id not in self.projects.project_ids():
                    return None
            projector = self.projects.projector(project_id)
        projector.update()
        return projector

    def view(self, project_id: str, name: str, at: int | None = None) -> Any:
        """A project's view ``name`` now, or right after seq ``at``; None if no such project."""
        projector = self.projector(project_id)
        if projector is None:
            return None
        if at is not None:
            return projector.at(name, at)
        return projector.view(name)

    def model_views(self, project_id: str) -> ModelViews | None:
        """The views the evaluation and export commands check, from one refresh (so they agree
        on one seq); None if no such project."""
        projector = self.projector(project_id)
        if projector is None:
            return None
        views = projector.views()
        return ModelViews(
            views["dataset"], views["experiments"], views["evaluation"], views["exports"]
        )

    def event_at(self, project_id: str, seq: int) -> Event | None:
        """The event with this seq in a project's log (for time-travel banners and inspectors)."""
        if self.projector(project_id) is None:
            return None
        log = EventLog(self.workspace.events_path(project_id))
        return next(iter(log.read(after_seq=seq - 1, until_seq=seq)), None)

    def live_project(self, project_id: str | None) -> ProjectView | None:
        """The project's view when it exists and is not deleted."""
        if not project_id:
            return None
        view = self.view(project_id, "project")
        if view is None or view.deleted:
            return None
        return view


_state: AppState | None = None


def init_state(workspace: Workspace) -> AppState:
    """Set the process-wide state (done by ``create_app``)."""
    global _state
    _state = AppState(workspace)
    return _state


def get_state() -> AppState:
    """The process-wide state; ``create_app`` must have run."""
    if _state is None:
        raise RuntimeError("the web app's state is not initialised: call ui.app.create_app first")
    return _state
