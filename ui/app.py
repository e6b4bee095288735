"""The Dash app factory: layout shell, shared callbacks, media routes.

Pages live in ``ui/pages`` (one module each, ``dash.register_page``). They read projections
through :mod:`ui.state` and write only through :mod:`aistudio.commands`. This module never imports
torch, directly or indirectly: the web process starts in about a second.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, dcc, html

from aistudio import commands
from aistudio.workspace import Workspace
from ui.components.navbar import navbar
from ui.components.sidebar import project_page_path, sidebar
from ui.components.theme import load_templates
from ui.components.worker_banner import (
    damage_sentence,
    quarantine_sentence,
    skipped_sentence,
    worker_banner,
)
from ui.request_limits import install_request_limits
from ui.routes import register_routes
from ui.security import Security, install_security
from ui.state import get_state, init_state
from ui.upload import register_upload_routes

logger = logging.getLogger(__name__)

UI_DIR = Path(__file__).resolve().parent
_PROJECT_PATH = re.compile(r"^/project/(proj-[0-9a-f]{8})(?:/([a-z]+))?")
LIVE_INTERVAL_MS = 1000
VENDOR_STYLESHEETS: list[str] = [
    "/assets/vendor/bootstrap/bootstrap.min.css",
    "/assets/vendor/bootstrap-icons/bootstrap-icons.min.css",
]

WorkerStatus = Callable[[], str | None]
"""Says why no job can run right now (no worker alive), or None when a worker is alive."""
_worker_status: WorkerStatus | None = None


def set_worker_status(provider: WorkerStatus | None) -> None:
    """Where the banner learns whether a worker is alive (None: it says nothing about workers).

    ``aistudio serve`` passes its worker supervisor's status (see :mod:`aistudio.serve`).
    """
    global _worker_status
    _worker_status = provider


def parse_path(pathname: str | None) -> tuple[str | None, str | None]:
    """``(project_id, page)`` of a URL path (None where absent)."""
    match = _PROJECT_PATH.match(pathname or "")
    if not match:
        return None, None
    return match.group(1), match.group(2)


def shell() -> html.Div:
    """The layout around every page."""
    return html.Div(
        [
            dcc.Location(id="url", refresh="callback-nav"),
            dcc.Store(id="theme", storage_type="local"),
            dcc.Interval(id="tick", interval=LIVE_INTERVAL_MS),
            navbar(),
            html.Div(
                [
                    html.Aside(id="sidebar", className="app-sidebar border-end"),
                    html.Main(
                        [html.Div(id="app-banner", role="status"), dash.page_container],
                        className="app-main",
                    ),
                ],
                className="app-body",
            ),
        ],
        className="app-root",
    )


def create_app(
    workspace: Workspace,
    security: Security | None = None,
    worker_status: WorkerStatus | None = None,
) -> dash.Dash:
    """Build the Dash app for ``workspace`` (one per process: Dash keeps pages in globals).

    Args:
        workspace: the workspace the app shows.
        security: what every request must satisfy (:mod:`ui.security`); the default serves
            loopback ``Host`` names only, without a token.
        worker_status: says why no worker runs jobs, for the banner of every page (None: no
            word about workers).
    """
    init_state(workspace)
    set_worker_status(worker_status)
    load_templates()
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder=str(UI_DIR / "pages"),
        assets_folder=str(UI_DIR / "assets"),
        serve_locally=True,
        # Vendored Bootstrap first (as external sheets, served locally), then our assets.
        external_stylesheets=VENDOR_STYLESHEETS,
        assets_path_ignore=["^vendor$"],
        suppress_callback_exceptions=True,
        title="AI Studio",
        update_title=None,
    )
    app.layout = shell
    install_security(app.server, security or Security())
    install_request_limits(app.server)
    register_shell_callbacks(app)
    register_routes(app.server)
    register_upload_routes(app.server)
    return app


def register_shell_callbacks(app: dash.Dash) -> None:
    """The callbacks of the shell: project menu, sidebar, banner, theme."""
    app.clientside_callback(
        ClientsideFunction(namespace="aistudio", function_name="toggleTheme"),
        Output("theme", "data"),
        Input("theme-toggle", "n_clicks"),
        State("theme", "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace="aistudio", function_name="applyTheme"),
        Output("theme-icon", "className"),
        Input("theme", "data"),
    )

    @app.callback(
        Output("project-menu", "children"),
        Output("project-menu", "label"),
        Input("url", "pathname"),
        Input("tick", "n_intervals"),
    )
    def project_menu(pathname: str | None, _tick: int | None) -> tuple[list[object], str]:
        return project_menu_items(pathname)

    @app.callback(
        Output("sidebar", "children"), Input("url", "pathname"), Input("tick", "n_intervals")
    )
    def update_sidebar(pathname: str | None, _tick: int | None) -> html.Div:
        project_id, page = parse_path(pathname)
        return sidebar(get_state().live_project(project_id), page)

    @app.callback(
        Output("app-banner", "children"), Input("url", "pathname"), Input("tick", "n_intervals")
    )
    def update_banner(pathname: str | None, _tick: int | None) -> list[object]:
        return banner_children(pathname)


def project_menu_items(pathname: str | None) -> tuple[list[object], str]:
    """The project switcher's items (same page, other project) and its label."""
    project_id, page = parse_path(pathname)
    projects = get_state().project_list()
    label = "Projects"
    items: list[object] = [
        dbc.DropdownMenuItem([html.I(className="bi bi-grid me-2"), "All projects"], href="/"),
        dbc.DropdownMenuItem(divider=True),
    ]
    for view in projects:
        if view.project_id == project_id:
            label = view.name
        items.append(
            dbc.DropdownMenuItem(
                view.name,
                href=project_page_path(view.project_id, page or "dataset"),
                active=view.project_id == project_id,
            )
        )
    if not projects:
        items.append(dbc.DropdownMenuItem("No projects yet", disabled=True))
    return items, label


def worker_notice() -> str | None:
    """Why no job runs right now, from the provider serve gave (None: a worker is alive)."""
    provider = _worker_status
    return provider() if provider is not None else None


def damage_notice(project_id: str | None) -> str | None:
    """The banner's sentence when ``project_id``'s log could not be read at its last refresh
    (naming the damaged line and why), or None when it reads."""
    damage = get_state().damage(project_id)
    if damage is None:
        return None
    line = re.search(r"\bline (\d+)", damage)
    detail = damage.split(" is damaged: ", 1)[1] if " is damaged: " in damage else damage
    return damage_sentence(int(line.group(1)) if line else None, detail)


def quarantine_notice(project_id: str | None) -> str | None:
    """The banner's sentence when a live worker has set ``project_id`` aside (None otherwise)."""
    if project_id is None:
        return None
    reason = commands.set_aside_reason(get_state().workspace, project_id)
    return quarantine_sentence(reason) if reason else None


def banner_children(pathname: str | None) -> list[object]:
    """The banner above the page at ``pathname``: worker, damaged log (or quarantine), events
    the views skip."""
    project_id, _page = parse_path(pathname)
    damage = damage_notice(project_id)
    skipped = get_state().skipped(project_id) if project_id else ()
    return list(
        worker_banner(
            worker=worker_notice(),
            damage=damage,
            # The worker sets a damaged project aside for that very damage: say it once.
            quarantine=None if damage else quarantine_notice(project_id),
            skipped=skipped_sentence(len(skipped)) if skipped else None,
        )
    )
