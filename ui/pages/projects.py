"""The Projects page: every project at a glance; create, rename and delete projects.

The list is rebuilt from the workspace's incremental projector; it refreshes from the shell's
``tick`` interval (so another tab's changes appear) and right after this page's own actions.
Writes go through :mod:`aistudio.commands` (``actor="ui"``); their one-line refusals are shown
next to the field they are about.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from typing import Any, NamedTuple

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from aistudio import commands
from aistudio.commands import CommandError
from events.schemas.common import TASKS
from projections.project import ProjectView
from ui.components.confirm import DeleteStep, delete_dialog_callback, delete_modal, delete_step
from ui.components.empty_state import empty_state
from ui.components.sidebar import project_page_path
from ui.components.timefmt import ago, format_date, parse_ts
from ui.state import get_state

logger = logging.getLogger(__name__)

dash.register_page(__name__, path="/", title="Projects · AI Studio", name="Projects")


class TaskInfo(NamedTuple):
    """How a task is shown: its label, icon, Bootstrap colour and a one-line explanation."""

    label: str
    icon: str
    color: str
    help: str


TASK_INFO: dict[str, TaskInfo] = {
    "classification": TaskInfo(
        "Classification", "tags", "primary", "One label per image: which class is it?"
    ),
    "detection": TaskInfo(
        "Object detection", "bounding-box", "danger", "Boxes around objects, with a class each."
    ),
    "segmentation": TaskInfo(
        "Semantic segmentation", "palette", "success", "A class for every pixel of the image."
    ),
    "instance_segmentation": TaskInfo(
        "Instance segmentation",
        "bounding-box-circles",
        "info",
        "A mask and a class for every object.",
    ),
    "anomaly_detection": TaskInfo(
        "Anomaly detection",
        "exclamation-diamond",
        "warning",
        "Learn what normal looks like from good images; flag what is not.",
    ),
    "regression": TaskInfo(
        "Regression", "graph-up", "secondary", "A number per image: a measurement, a score."
    ),
    "obb": TaskInfo(
        "Oriented boxes (OBB)",
        "diamond",
        "danger",
        "Rotated boxes around objects (aerial images, documents, parts).",
    ),
}

SORTS: dict[str, str] = {"activity": "Recent activity", "created": "Newest", "name": "Name"}


NOT_TRAINABLE_YET = " (import and annotate; training not available yet)"
"""What the New project form adds to a task this version cannot train yet."""


def task_info(task: str) -> TaskInfo:
    """How ``task`` is shown (a neutral look for a task this version does not know)."""
    return TASK_INFO.get(
        task, TaskInfo(task.replace("_", " ").capitalize(), "box", "secondary", "")
    )


# ---------------------------------------------------------------------- time
def time_ago(ts: str | None, now: datetime | None = None) -> str:
    """How long ago ``ts`` was (``never`` when unknown; the date itself after 30 days).

    Args:
        ts: an event's ISO time.
        now: the time to compare with (the current time by default).
    """
    moment = parse_ts(ts)
    if moment is None:
        return "never"
    if ((now or datetime.now(timezone.utc)) - moment).days >= 30:
        return format_date(ts)
    return ago(ts, now)


# ---------------------------------------------------------------------- errors
_EVENT_PREFIX = re.compile(r"^[A-Z][A-Za-z]+: ")
_FRIENDLY: tuple[tuple[str, str], ...] = (
    ("name: must not be empty", "Enter a name."),
    ("name: must have at most 80 characters", "The name is too long: 80 characters at most."),
    ("name: must not contain control characters", "The name has invalid characters."),
    (
        "description: must have at most 2000 characters",
        "The description is too long: 2,000 characters at most.",
    ),
)


def friendly_error(message: str) -> str:
    """A :class:`CommandError`'s message in words for the page (schema jargon replaced)."""
    text = _EVENT_PREFIX.sub("", message.strip())
    for fragment, replacement in _FRIENDLY:
        if fragment in text:
            return replacement
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def error_field(message: str) -> str:
    """Which field of the create form a refusal is about: ``name`` or ``description``."""
    return "description" if "description" in message else "name"


# ---------------------------------------------------------------------- actions
class CreateResult(NamedTuple):
    """The outcome of the create form: the new project, or why it was refused."""

    project_id: str | None = None
    name: str = ""
    error: str | None = None
    field: str = "name"


def create_project(name: str | None, task: str | None, description: str | None) -> CreateResult:
    """Create a project from the form's values (``actor="ui"``)."""
    clean = (name or "").strip()
    try:
        event = commands.create_project(
            get_state().workspace,
            clean,
            task or "",
            (description or "").strip(),
            actor="ui",
        )
    except CommandError as exc:
        return CreateResult(error=friendly_error(str(exc)), field=error_field(str(exc)))
    logger.info("created project %s (%s)", event.data["project_id"], clean)
    return CreateResult(project_id=str(event.data["project_id"]), name=clean)


def rename_project(project_id: str, name: str | None) -> str | None:
    """Rename a project; the reason it was refused, or None when done."""
    state = get_state()
    if state.live_project(project_id) is None:
        return "This project no longer exists."
    try:
        commands.rename_project(state.workspace, project_id, (name or "").strip(), actor="ui")
    except CommandError as exc:
        return friendly_error(str(exc))
    return None


def delete_project(project_id: str) -> str | None:
    """Delete a project; the reason it was refused, or None when done."""
    state = get_state()
    if state.live_project(project_id) is None:
        return "This project no longer exists."
    try:
        commands.delete_project(state.workspace, project_id, actor="ui")
    except CommandError as exc:
        return friendly_error(str(exc))
    logger.info("deleted project %s", project_id)
    return None


# ---------------------------------------------------------------------- the list
def sorted_projects(
    projects: list[ProjectView], sort: str | None = "activity", search: str | None = None
) -> list[ProjectView]:
    """The projects to show: those whose name contains ``search``, in the chosen order."""
    needle = (search or "").strip().casefold()
    shown = [p for p in projects if needle in p.name.casefold()] if needle else list(projects)
    if sort == "name":
        shown.sort(key=lambda p: (p.name.casefold(), p.project_id))
    elif sort == "created":
        shown.sort(key=lambda p: (p.created_ts or "", p.project_id), reverse=True)
    else:
        shown.sort(key=lambda p: (p.last_activity_ts or "", p.project_id), reverse=True)
    return shown


def list_signature(
    projects: list[ProjectView],
    sort: str | None,
    search: str | None,
    now: datetime,
    damaged: dict[str, str] | None = None,
) -> list[Any]:
    """What the rendered list depends on: when it is unchanged, nothing is re-rendered."""
    return [
        sort,
        search,
        [[p.project_id, p.seq, time_ago(p.last_activity_ts, now)] for p in projects],
        sorted((damaged or {}).items()),
    ]


def task_badge(task: str) -> html.Span:
    """A pill with the task's icon and label, readable in light and dark mode."""
    info = task_info(task)
    return html.Span(
        [html.I(className=f"bi bi-{info.icon} me-1"), info.label],
        className=(
            f"badge rounded-pill bg-{info.color}-subtle text-{info.color}-emphasis "
            f"border border-{info.color}-subtle projects-task-badge"
        ),
    )


def _stat(icon: str, text: str | Component, title: str) -> html.Span:
    return html.Span(
        [html.I(className=f"bi bi-{icon} me-1"), text],
        className="me-3 text-nowrap",
        title=title,
    )


def project_card(project: ProjectView, now: datetime) -> dbc.Col:
    """One project's card: name (a link to its dataset), task, figures, actions."""
    info = task_info(project.task)
    href = project_page_path(project.project_id, "dataset")
    images = project.image_count
    description = project.description.strip()
    header = html.Div(
        [
            html.Div(
                html.I(className=f"bi bi-{info.icon}"),
                className=f"projects-task-icon bg-{info.color}-subtle text-{info.color}-emphasis",
            ),
            html.Div(
                [
                    dcc.Link(
                        project.name,
                        href=href,
                        className="projects-name fw-semibold text-body text-decoration-none",
                        title=project.name,
                    ),
                    html.Div(task_badge(project.task), className="mt-1"),
                ],
                className="flex-grow-1 min-w-0 ms-3",
            ),
        ],
        className="d-flex align-items-start",
    )
    stats = html.Div(
        [
            _stat(
                "images", f"{images:,} image{'s' if images != 1 else ''}", "Images in the dataset"
            ),
            _stat(
                "calendar3",
                f"created {format_date(project.created_ts)}",
                project.created_ts or "",
            ),
            _stat(
                "activity",
                f"active {time_ago(project.last_activity_ts, now)}",
                f"Last activity: {project.last_activity_ts or 'none'}",
            ),
        ],
        className="small text-body-secondary d-flex flex-wrap row-gap-1 mt-3",
    )
    body = dbc.CardBody(
        [
            header,
            html.P(
                description or "No description.",
                className="projects-description small mt-3 mb-0 "
                + ("text-body" if description else "text-body-secondary fst-italic"),
                title=description or None,
            ),
            stats,
        ]
    )
    footer = dbc.CardFooter(
        html.Div(
            [
                dcc.Link(
                    ["Open ", html.I(className="bi bi-arrow-right")],
                    href=href,
                    className="btn btn-sm btn-outline-primary",
                ),
                dbc.Button(
                    [html.I(className="bi bi-pencil me-1"), "Rename"],
                    id={"type": "projects-rename-open", "index": project.project_id},
                    color="link",
                    size="sm",
                    className="text-body-secondary text-decoration-none ms-auto",
                    title=f"Rename {project.name}",
                    n_clicks=0,
                ),
                dbc.Button(
                    [html.I(className="bi bi-trash3 me-1"), "Delete"],
                    id={"type": "projects-delete-open", "index": project.project_id},
                    color="link",
                    size="sm",
                    className="text-danger text-decoration-none",
                    title=f"Delete {project.name}",
                    n_clicks=0,
                ),
            ],
            className="d-flex align-items-center gap-1",
        ),
        className="bg-transparent",
    )
    return dbc.Col(
        dbc.Card([body, footer], className="h-100 shadow-sm projects-card"),
        className="mb-4",
        id={"type": "projects-card", "index": project.project_id},
    )


def damaged_projects(damaged: dict[str, str]) -> Component | None:
    """An alert naming the projects whose log cannot be read (None when there are none)."""
    if not damaged:
        return None
    items = [
        html.Li([html.Code(project_id), f": {reason}"], className="small")
        for project_id, reason in sorted(damaged.items())
    ]
    count = len(damaged)
    return dbc.Alert(
        [
            html.Div(
                [
                    html.I(className="bi bi-exclamation-octagon-fill me-2"),
                    f"{count} project{'s' if count != 1 else ''} cannot be read: "
                    "nothing was changed; run `aistudio verify PROJECT` to see the damage",
                ],
                className="fw-semibold mb-1",
            ),
            html.Ul(items, className="mb-0"),
        ],
        color="danger",
        id="projects-damaged",
        className="mb-3",
    )


def render_list(
    projects: list[ProjectView],
    shown: list[ProjectView],
    now: datetime,
    damaged: dict[str, str] | None = None,
) -> Component:
    """The cards of ``shown`` (or the right empty state), after the projects that cannot be
    read."""
    notice = damaged_projects(damaged or {})
    if notice is not None:
        return html.Div([notice, render_list(projects, shown, now)])
    if not projects:
        return empty_state(
            "folder-plus",
            "Create your first project",
            "A project holds one dataset and everything trained on it: pick a name and a task "
            "in the New project form to get started.",
            id="projects-empty",
        )
    if not shown:
        return empty_state(
            "search", "No project matches", "Try another part of the name.", id="projects-empty"
        )
    return dbc.Row(
        [project_card(p, now) for p in shown],
        className="row-cols-1 row-cols-md-2",
    )


def summary_text(projects: list[ProjectView]) -> str:
    """``3 projects · 1,240 images``."""
    images = sum(p.image_count for p in projects)
    return (
        f"{len(projects)} project{'s' if len(projects) != 1 else ''} · "
        f"{images:,} image{'s' if images != 1 else ''}"
    )


# ---------------------------------------------------------------------- layout
def _create_card() -> dbc.Card:
    trainable = set(commands.trainable_tasks())
    options = [
        {
            "label": TASK_INFO[t].label + ("" if t in trainable else NOT_TRAINABLE_YET),
            "value": t,
        }
        for t in TASKS
    ]
    return dbc.Card(
        [
            dbc.CardHeader(
                [html.I(className="bi bi-plus-circle me-2"), "New project"],
                className="fw-semibold bg-transparent",
            ),
            dbc.CardBody(
                [
                    html.Div(
                        [
                            dbc.Label("Name", html_for="projects-new-name"),
                            dbc.Input(
                                id="projects-new-name",
                                placeholder="e.g. Screw defects",
                                maxLength=200,
                                autoComplete="off",
                                n_submit=0,
                            ),
                            dbc.FormFeedback(id="projects-new-name-feedback", type="invalid"),
                        ],
                        className="mb-3",
                    ),
                    html.Div(
                        [
                            dbc.Label("Task", html_for="projects-new-task"),
                            dbc.Select(id="projects-new-task", options=options, value=TASKS[0]),
                            dbc.FormText(TASK_INFO[TASKS[0]].help, id="projects-new-task-help"),
                        ],
                        className="mb-3",
                    ),
                    html.Div(
                        [
                            dbc.Label(
                                [
                                    "Description ",
                                    html.Small("(optional)", className="text-body-secondary"),
                                ],
                                html_for="projects-new-description",
                            ),
                            dbc.Textarea(
                                id="projects-new-description",
                                placeholder="What is this model for?",
                                rows=3,
                            ),
                            dbc.FormFeedback(
                                id="projects-new-description-feedback", type="invalid"
                            ),
                        ],
                        className="mb-3",
                    ),
                    dbc.Button(
                        [html.I(className="bi bi-plus-lg me-1"), "Create project"],
                        id="projects-create",
                        color="primary",
                        className="w-100",
                        n_clicks=0,
                    ),
                    html.Div(id="projects-create-status", className="mt-3"),
                ]
            ),
        ],
        className="shadow-sm projects-create-card",
    )


def _modals() -> list[Component]:
    rename = dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Rename project")),
            dbc.ModalBody(
                [
                    dbc.Label("New name", html_for="projects-rename-name"),
                    dbc.Input(id="projects-rename-name", autoComplete="off", n_submit=0),
                    dbc.FormFeedback(id="projects-rename-feedback", type="invalid"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button(
                        "Cancel",
                        id="projects-rename-cancel",
                        color="secondary",
                        outline=True,
                        n_clicks=0,
                    ),
                    dbc.Button("Rename", id="projects-rename-save", color="primary", n_clicks=0),
                ]
            ),
        ],
        id="projects-rename-modal",
        is_open=False,
        centered=True,
    )
    delete = delete_modal("projects", "Delete project?", "Delete project")
    return [rename, delete]


def layout(**_query: str) -> html.Div:
    """The page: header, the project list with its toolbar, the New project card, dialogs."""
    now = datetime.now(timezone.utc)
    projects = get_state().project_list()
    damaged = get_state().damaged()
    sort, search = "activity", ""
    shown = sorted_projects(projects, sort, search)
    toolbar = html.Div(
        [
            dbc.InputGroup(
                [
                    dbc.InputGroupText(html.I(className="bi bi-search")),
                    dbc.Input(
                        id="projects-search",
                        placeholder="Find a project",
                        value=search,
                        debounce=200,
                        type="search",
                    ),
                ],
                size="sm",
                className="projects-search",
            ),
            dbc.Select(
                id="projects-sort",
                options=[{"label": label, "value": key} for key, label in SORTS.items()],
                value=sort,
                size="sm",
                className="projects-sort",
                style={"width": "11rem"},
            ),
        ],
        className="d-flex gap-2 mb-3",
    )
    return html.Div(
        [
            dcc.Store(id="projects-sig", data=list_signature(shown, sort, search, now, damaged)),
            dcc.Store(id="projects-version", data=0),
            dcc.Store(id="projects-rename-target"),
            dcc.Store(id="projects-delete-target"),
            html.Div(
                [
                    html.Div(
                        [
                            html.H2("Projects", className="mb-1"),
                            html.Div(
                                "One project per model: its task, its dataset, its splits, "
                                "its experiments and its exports.",
                                className="text-body-secondary",
                            ),
                        ]
                    ),
                    html.Span(
                        summary_text(projects),
                        id="projects-summary",
                        className="badge rounded-pill bg-body-tertiary text-body border ms-auto "
                        "projects-summary",
                    ),
                ],
                className="d-flex align-items-end mb-4 gap-3",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            toolbar,
                            html.Div(
                                render_list(projects, shown, now, damaged), id="projects-list"
                            ),
                        ],
                        lg=8,
                        xl=9,
                    ),
                    dbc.Col(_create_card(), lg=4, xl=3, className="mb-4"),
                ]
            ),
            *_modals(),
        ],
        className="projects-page",
    )


# ---------------------------------------------------------------------- callbacks
@callback(
    Output("projects-list", "children"),
    Output("projects-sig", "data"),
    Output("projects-summary", "children"),
    Input("tick", "n_intervals"),
    Input("projects-version", "data"),
    Input("projects-sort", "value"),
    Input("projects-search", "value"),
    State("projects-sig", "data"),
)
def refresh_list(
    _tick: int | None,
    _version: int | None,
    sort: str | None,
    search: str | None,
    signature: list[Any] | None,
) -> tuple[Component, list[Any], str]:
    """Re-render the list when a project changed (here or elsewhere) or the view options did."""
    now = datetime.now(timezone.utc)
    state = get_state()
    projects = state.project_list()
    damaged = state.damaged()
    shown = sorted_projects(projects, sort, search)
    fresh = list_signature(shown, sort, search, now, damaged)
    if fresh == signature:
        raise PreventUpdate
    return render_list(projects, shown, now, damaged), fresh, summary_text(projects)


@callback(Output("projects-new-task-help", "children"), Input("projects-new-task", "value"))
def task_help(task: str | None) -> str:
    """The chosen task in one line (and whether it can be trained yet)."""
    help_text = task_info(task or "").help
    if task and task not in commands.trainable_tasks():
        help_text += " Training this task is not available yet: import and annotate for now."
    return help_text


@callback(
    output={
        "name_invalid": Output("projects-new-name", "invalid"),
        "name_feedback": Output("projects-new-name-feedback", "children"),
        "description_invalid": Output("projects-new-description", "invalid"),
        "description_feedback": Output("projects-new-description-feedback", "children"),
        "status": Output("projects-create-status", "children"),
        "name": Output("projects-new-name", "value"),
        "description": Output("projects-new-description", "value"),
        "version": Output("projects-version", "data", allow_duplicate=True),
        "go_to": Output("url", "pathname", allow_duplicate=True),
    },
    inputs={
        "clicks": Input("projects-create", "n_clicks"),
        "submits": Input("projects-new-name", "n_submit"),
    },
    state={
        "name": State("projects-new-name", "value"),
        "task": State("projects-new-task", "value"),
        "description": State("projects-new-description", "value"),
        "version": State("projects-version", "data"),
    },
    prevent_initial_call=True,
)
def on_create(
    clicks: int | None,
    submits: int | None,
    name: str | None,
    task: str | None,
    description: str | None,
    version: int | None,
) -> dict[str, Any]:
    """Create the project and go into it (its Dataset page, to import), or show why not next to
    the field concerned."""
    if not clicks and not submits:
        raise PreventUpdate
    result = create_project(name, task, description)
    if result.error is not None:
        on_name = result.field == "name"
        return {
            "name_invalid": on_name,
            "name_feedback": result.error if on_name else "",
            "description_invalid": not on_name,
            "description_feedback": "" if on_name else result.error,
            "status": None,
            "name": dash.no_update,
            "description": dash.no_update,
            "version": dash.no_update,
            "go_to": dash.no_update,
        }
    assert result.project_id is not None
    dataset_page = project_page_path(result.project_id, "dataset")
    created = dbc.Alert(
        [
            html.I(className="bi bi-check-circle me-2"),
            "Project ",
            html.B(result.name),
            " created. ",
            dcc.Link(
                ["Import images ", html.I(className="bi bi-arrow-right")],
                href=dataset_page,
                className="alert-link",
            ),
        ],
        color="success",
        dismissable=True,
        className="small mb-0",
        id="projects-created-alert",
    )
    return {
        "name_invalid": False,
        "name_feedback": "",
        "description_invalid": False,
        "description_feedback": "",
        "status": created,
        "name": "",
        "description": "",
        "version": (version or 0) + 1,
        "go_to": dataset_page,
    }


def _triggered_value() -> Any:
    """The new value of the input that fired the running callback (None if none)."""
    triggered = ctx.triggered
    return triggered[0].get("value") if triggered else None


def rename_dialog(
    trigger: Any, clicked: Any, target: str | None, name: str | None
) -> tuple[bool, Any, Any, bool, str, bool]:
    """What the rename dialog does for one trigger.

    Args:
        trigger: the id of what fired: a card's ``{"type": "projects-rename-open", ...}``,
            ``projects-rename-save``, ``projects-rename-name`` (Enter) or
            ``projects-rename-cancel``.
        clicked: that input's new value (0 or None when a card was merely re-rendered).
        target: the project being renamed.
        name: the name typed.

    Returns:
        ``(open, input value, target, invalid, feedback, renamed)``.
    """
    no = dash.no_update
    if isinstance(trigger, dict) and trigger.get("type") == "projects-rename-open":
        if not clicked:
            raise PreventUpdate
        project = get_state().live_project(str(trigger.get("index")))
        if project is None:
            raise PreventUpdate
        return True, project.name, project.project_id, False, "", False
    if trigger == "projects-rename-cancel":
        return False, no, None, False, "", False
    if trigger in ("projects-rename-save", "projects-rename-name") and clicked and target:
        error = rename_project(target, name)
        if error is not None:
            return True, no, no, True, error, False
        return False, no, None, False, "", True
    raise PreventUpdate


@callback(
    Output("projects-rename-modal", "is_open"),
    Output("projects-rename-name", "value"),
    Output("projects-rename-target", "data"),
    Output("projects-rename-name", "invalid"),
    Output("projects-rename-feedback", "children"),
    Output("projects-version", "data", allow_duplicate=True),
    Input({"type": "projects-rename-open", "index": ALL}, "n_clicks"),
    Input("projects-rename-save", "n_clicks"),
    Input("projects-rename-name", "n_submit"),
    Input("projects-rename-cancel", "n_clicks"),
    State("projects-rename-target", "data"),
    State("projects-rename-name", "value"),
    State("projects-version", "data"),
    prevent_initial_call=True,
)
def on_rename(
    _opens: list[int | None],
    _save: int | None,
    _submit: int | None,
    _cancel: int | None,
    target: str | None,
    name: str | None,
    version: int | None,
) -> tuple[Any, ...]:
    """Open the rename dialog, rename, or close it."""
    is_open, value, new_target, invalid, feedback, renamed = rename_dialog(
        ctx.triggered_id, _triggered_value(), target, name
    )
    bumped = (version or 0) + 1 if renamed else dash.no_update
    return is_open, value, new_target, invalid, feedback, bumped


def _delete_body(project_id: str) -> list[Component] | None:
    """The dialog's question naming the project (None when it is gone)."""
    project = get_state().live_project(project_id)
    if project is None:
        return None
    images = project.image_count
    return [
        html.P(
            ["Delete the project ", html.B(f"“{project.name}”"), "?"],
            className="mb-2",
        ),
        html.P(
            f"It leaves the project list with its {images:,} image"
            f"{'s' if images != 1 else ''}. Nothing is erased from disk: its event log and "
            "files stay in the workspace.",
            className="small text-body-secondary mb-0",
        ),
    ]


def delete_dialog(trigger: Any, clicked: Any, target: str | None) -> DeleteStep:
    """What the delete dialog does for one trigger (see :func:`delete_step`).

    Returns:
        ``(open, body, target, error, deleted)``.
    """
    return delete_step("projects", trigger, clicked, target, _delete_body, delete_project)


on_delete = delete_dialog_callback("projects", "projects-version", delete_dialog)
