"""The web process's state: the workspace and the incremental projectors of its projects.

Dash pages are modules, so they reach the state through :func:`get_state`, set once by
:func:`ui.app.create_app`. Reading a view costs only the events appended since the last read.

One project never breaks another's pages nor the project menu: a project whose log cannot be
read (damaged mid-file) keeps the views it last read, if any (none when it never read), and
:meth:`AppState.damage` says why, naming the line, for a banner. Events a view cannot read (a
newer version, data invalid for its schema) are skipped by the views and listed by
:meth:`AppState.skipped`.
"""

from __future__ import annotations

import threading
from typing import Any

from aistudio.commands import ModelViews
from aistudio.workspace import Workspace, WorkspaceError, check_id
from events import Event
from events.reader import parse_committed
from projections.base import SkippedEvent
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
        """The refreshed projector of a project, or None when there is no such project or its
        log could never be read (see :meth:`damage`). A project damaged since it was last read
        gives its projector with the views it last read."""
        try:
            check_id("proj", project_id)
        except WorkspaceError:
            return None
        with self._lock:
            return self.projects.update_project(project_id)

    def damage(self, project_id: str | None) -> str | None:
        """Why a project's log could not be read at its last refresh (the error, naming the
        damaged line), or None when it read (or there is no such project)."""
        if not project_id:
            return None
        with self._lock:
            return self.projects.damage(project_id)

    def damaged(self) -> dict[str, str]:
        """Project id -> damage, for every project whose log could not be read last time."""
        with self._lock:
            return self.projects.damaged()

    def skipped(self, project_id: str) -> tuple[SkippedEvent, ...]:
        """The events of a project that its views did not read (kept in the log, skipped), by
        seq: ``(seq, id, type, reason)`` each; empty when none or no such project."""
        projector = self.projector(project_id)
        return () if projector is None else projector.skipped()

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
        """The event with this seq in a project's log (for time-travel banners and inspectors).

        Only the part of the log the views have read is looked at, so a log damaged further on
        still gives its earlier events.
        """
        projector = self.projector(project_id)
        if projector is None or not 0 < seq <= projector.last_seq:
            return None
        with self.workspace.events_path(project_id).open("rb") as handle:
            buf = handle.read(projector.offset)
        events = parse_committed(buf, path=projector.path, registry=projector.registry).events
        return events[seq - 1] if seq <= len(events) else None

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
