"""The Dash app factory: layout shell, shared callbacks, media routes.

Pages live in ``ui/pages`` (one module each, ``dash.register_page``). They read projections
through :mod:`ui.state` and write only through :mod:`aistudio.commands`. This module never imports
torch, directly or indirectly: the web process starts in about a second.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, dcc, html

from aistudio import commands
from aistudio.workspace import Workspace
from ui.components.navbar import navbar
from ui.components.sidebar import project_page_path, sidebar
from ui.components.theme import DARK, LIGHT, load_templates, themed
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

WARM_UP_TIMEOUT_S = 30.0

WorkerStatus = Callable[[], str | None]
"""Says why no job can run right now (no worker alive), or None when a worker is alive."""
_worker_status: WorkerStatus | None = None


def set_worker_status(provider: WorkerStatus | None) -> None:
    """Where the banner learns whether a worker is alive (None: it says nothing about workers).

    ``aistudio serve`` passes its worker supervisor's status (see :mod:`aistudio.serve`).
    """
    global _worker_status
    _worker_status = provider


def warm_up() -> None:
    """Do once, now, what the first requests of a new web process would otherwise wait for.

    Measured (``python -m bench pages``, first visit of each page in a fresh process): the
    first ``_dash-layout`` answer imported numpy (orjson does, for plotly's encoder, the first
    time it meets an object it cannot encode itself, such as a nested component: 0.1-0.2 s);
    the first figure of each kind loaded plotly's validators for its traces and the themes'
    templates (0.1-0.2 s on the Evaluation page's first visit); the Split page's first preview
    imported scikit-learn for the split algorithm (0.8-1.7 s, over the first visit's 1 s goal).
    A component tree holding figures of the kinds the pages draw, in both themes, is built and
    encoded here, and a split of a tiny made-up dataset previewed; both are dropped.
    """
    _encode_figures()  # first: more pages wait for it, and it is quicker
    _preview_a_split()


def _preview_a_split() -> None:
    """Preview a split of twelve made-up images (nothing is read or appended)."""
    from events import Event
    from events.registry import registry
    from projections.dataset import rebuild

    ts = "2000-01-01T00:00:00.000Z"
    records = [
        {"image_id": f"img-{n:08x}", "sha256": f"{n + 1:064x}", "ext": "png",
         "filename": f"{n}.png", "width": 8, "height": 8, "size_bytes": 1, "label": "ab"[n % 2]}
        for n in range(12)
    ]  # fmt: skip
    made_up = [
        Event(seq, f"evt-{seq:016x}", ts, kind, registry.current_versions[kind], "job", None, data)
        for seq, (kind, data) in enumerate(
            [("ClassesDefined", {"classes": ["a", "b"]}), ("ImagesAdded", {"images": records})],
            start=1,
        )
    ]
    commands.preview_split(rebuild(made_up), 0.5, 0.25, 0.25, task="classification")


def _encode_figures() -> None:
    """Build and encode, as a page answer would, a figure of each kind in both themes."""
    import plotly.graph_objects as go
    from plotly.io.json import to_json_plotly

    graphs = []
    for theme in (LIGHT, DARK):
        figure = go.Figure(
            [go.Bar(x=[0], y=["a"], orientation="h"), go.Heatmap(z=[[0]]), go.Scatter(x=[0])]
        )
        figure.add_annotation(text="")
        graphs.append(dcc.Graph(figure=themed(figure, theme)))
    to_json_plotly(html.Div([html.Div(graphs)]))


_warm_up_thread: threading.Thread | None = None
_warm_up_lock = threading.Lock()


def start_warm_up() -> threading.Thread:
    """Run :func:`warm_up` once per process in a background thread (started by ``create_app``,
    so serve answers at once); returns that thread."""
    global _warm_up_thread
    with _warm_up_lock:
        if _warm_up_thread is None:
            # numpy is imported here, not in the thread: plotly takes numpy from sys.modules
            # when it is there, and a request building a figure while the thread was still
            # importing it got a half-initialised module ("partially initialized module").
            import numpy  # noqa: F401

            _warm_up_thread = threading.Thread(target=warm_up, name="ui-warm-up", daemon=True)
            _warm_up_thread.start()
        return _warm_up_thread


def wait_for_warm_up(timeout_s: float = WARM_UP_TIMEOUT_S) -> bool:
    """Wait until the warm-up thread has ended (True), or ``timeout_s`` passed (False)."""
    thread = _warm_up_thread
    if thread is None:
        return True
    thread.join(timeout_s)
    return not thread.is_alive()


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
    start_warm_up()
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
