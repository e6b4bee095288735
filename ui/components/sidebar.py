"""The left column: the lifecycle steps of the open project."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from projections.project import ProjectView

# (page key, label, icon, available in this version)
STEPS: tuple[tuple[str, str, str, bool], ...] = (
    ("dataset", "Dataset", "images", True),
    ("split", "Split", "diagram-3", True),
    ("train", "Train", "cpu", True),
    ("evaluate", "Evaluate", "clipboard-data", True),
    ("export", "Export", "box-arrow-up-right", True),
    ("history", "History", "clock-history", True),
)


def project_page_path(project_id: str, page: str) -> str:
    """The URL path of one of a project's pages."""
    return f"/project/{project_id}/{page}"


def sidebar(project: ProjectView | None, active: str | None) -> html.Div:
    """The lifecycle steps of ``project`` (or a hint when no project is open)."""
    if project is None:
        return html.Div(
            [
                html.Div("No project open", className="fw-semibold mb-1"),
                html.Small(
                    "Create or open a project to import, split, train and export.",
                    className="text-body-secondary",
                ),
            ],
            className="p-3",
        )
    links = []
    for key, label, icon, available in STEPS:
        links.append(
            dbc.NavLink(
                [html.I(className=f"bi bi-{icon} me-2"), label]
                + ([] if available else [html.Small(" soon", className="text-body-secondary")]),
                href=project_page_path(project.project_id, key) if available else None,
                active=key == active,
                disabled=not available,
                id=f"step-{key}",
            )
        )
    return html.Div(
        [
            html.Div(project.name, className="fw-semibold text-truncate", title=project.name),
            html.Small(project.task.replace("_", " "), className="text-body-secondary"),
            html.Hr(className="my-2"),
            dbc.Nav(links, vertical=True, pills=True),
        ],
        className="p-3",
    )
