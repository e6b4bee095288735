"""The Export page: export a trained experiment as ONNX or TorchScript, check it, download it.

* Left: the experiments that have a checkpoint (best and/or last), selectable.
* Right: the form (checkpoint, format, and under "Advanced" the opset and how the export is
  validated against PyTorch), the progress of running exports with Cancel, and the exports of
  the selected experiment, newest first: status, validation figures (images compared, largest
  difference against the tolerance, prediction agreement), file size, a Download button for
  the ones that passed, a "Use it" snippet for ONNX and the metadata stored in the file.

Everything shown comes from the experiments, exports and jobs views (the log), so a reload shows
the same; the shell's ``tick`` refreshes it about once a second and the page re-renders only what
changed. Writes go through :mod:`aistudio.commands` with ``actor="ui"``; downloads through the
``/download/<project>/export/<export>`` route. ``?at=SEQ`` shows the exports as they were right
after that event, read-only; ``?experiment=exp-…`` selects one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from aistudio import commands
from aistudio.commands import CommandError
from projections.experiments import ExperimentsView
from projections.exports import ExportsView
from projections.jobs import JobsView
from ui.components.empty_state import project_not_found
from ui.components.experiment_pages import (
    action_outcome,
    chosen_experiment,
    clicked_value,
    list_card,
    live_signature_callback,
    no_such_event,
    page_header,
    past_banner,
    status_alert,
)
from ui.components.export_experiments import (
    ITEM_TYPE,
    default_selection,
    experiment_list,
    exportable,
    form_note,
    page_signature,
)
from ui.components.export_form import (
    FORMAT_HELP,
    FORMAT_LABELS,
    checkpoint_options,
    chosen_checkpoint,
    form_card,
    read_options,
)
from ui.components.export_results import CANCEL_TYPE, exports_list, running_panel
from ui.components.job_link import job_events_link
from ui.components.time_travel import parse_at
from ui.state import get_state

logger = logging.getLogger(__name__)

dash.register_page(
    __name__,
    path_template="/project/<project_id>/export",
    title="Export · AI Studio",
    name="Export",
)

_HIDDEN: dict[str, str] = {"display": "none"}
_SHOWN: dict[str, str] = {}


# ---------------------------------------------------------------------- reading the state
def views(project_id: str, at: int | None = None) -> tuple[ExperimentsView, ExportsView, JobsView]:
    """The experiments, exports and jobs views, now or right after event ``at``."""
    state = get_state()
    return (
        state.view(project_id, "experiments", at=at),
        state.view(project_id, "exports", at=at),
        state.view(project_id, "jobs", at=at),
    )


# ---------------------------------------------------------------------- actions
def start_export(
    project_id: str,
    experiment_id: str | None,
    checkpoint: str | None,
    fmt: str | None,
    opset: Any,
    validation_images: Any,
    tolerance: Any,
) -> tuple[int | None, str | None]:
    """Ask for an export from the form; ``(the command's seq, None)`` or ``(None, why not)``."""
    state = get_state()
    if state.live_project(project_id) is None:
        return None, "This project no longer exists."
    if not experiment_id:
        return None, "Choose an experiment to export."
    if not checkpoint:
        return None, "Choose the checkpoint to export."
    options, error = read_options(opset, validation_images, tolerance)
    if options is None:
        return None, error
    try:
        event = commands.request_export(
            state.workspace,
            project_id,
            experiment_id,
            checkpoint=checkpoint,
            fmt=fmt or "onnx",
            options=options,
            actor="ui",
            views=state.model_views(project_id),
        )
    except CommandError as exc:
        return None, str(exc)[:1].upper() + str(exc)[1:]
    logger.info("export requested: %s (%s)", event.data["export_id"], experiment_id)
    return event.seq, None


def cancel_export(project_id: str, job_id: str) -> str | None:
    """Ask the export job ``job_id`` to stop; the reason it was refused, or None."""
    state = get_state()
    _, exports, _ = views(project_id)
    if exports.for_job(job_id) is None:
        return "This export does not exist."
    try:
        commands.request_cancel(state.workspace, project_id, job_id, actor="ui")
    except CommandError as exc:
        return str(exc)[:1].upper() + str(exc)[1:]
    return None


# ---------------------------------------------------------------------- rendering
def page_parts(
    project_id: str, at: int | None, selected: str | None, checkpoint: str | None
) -> dict[str, Any]:
    """Every live output of the page for the selected experiment, by name.

    ``shown`` is the experiment actually shown: the selected one while it has a checkpoint, else
    the newest that has one (a checkpoint saved after the page was opened selects itself).
    """
    experiments, exports, jobs = views(project_id, at)
    read_only = at is not None
    now = datetime.now(timezone.utc)
    shown = default_selection(experiments, selected)
    entry = experiments.get(shown) if shown else None
    note, blocked = form_note(entry)
    entries = exports.of_experiment(shown) if shown else []
    name = entry.name if entry is not None else ""
    return {
        "list": experiment_list(experiments, exports, shown, project_id, now, past=read_only),
        "about": _SHOWN if entry is None else _HIDDEN,
        "form": _SHOWN if entry is not None and not read_only else _HIDDEN,
        "title": name,
        "checkpoints": checkpoint_options(entry),
        "checkpoint": chosen_checkpoint(entry, checkpoint),
        "note": note,
        "disabled": blocked or read_only,
        "running": running_panel(entries, jobs, read_only),
        "exports_card": _SHOWN if entry is not None else _HIDDEN,
        "exports_title": name,
        "exports": exports_list(entries, jobs, name, project_id, read_only, now),
        "shown": shown,
    }


def _about_card() -> dbc.Card:
    """What the page does, shown while there is nothing to export."""
    points = [
        (
            "box-arrow-up-right",
            "ONNX or TorchScript",
            "A trained checkpoint (best or last) becomes one file that runs without AI Studio.",
        ),
        (
            "check2-circle",
            "Checked before download",
            "The export and PyTorch run the same real images of the dataset; only an export "
            "whose outputs agree within the tolerance can be downloaded.",
        ),
        (
            "code-slash",
            "Ready to use",
            "ONNX exports come with a short Python snippet and the metadata the file carries "
            "(classes, input size, normalisation).",
        ),
    ]
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [
                        html.I(className=f"bi bi-{icon} fs-4 text-primary me-3"),
                        html.Div(
                            [html.Div(title, className="fw-semibold"), html.Div(text)],
                            className="small",
                        ),
                    ],
                    className="d-flex align-items-start mb-3",
                )
                for icon, title, text in points
            ]
        ),
        className="shadow-sm mb-4 export-about",
        id="export-about",
        style=_HIDDEN,
    )


def _exports_card() -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(
                html.Div(
                    [
                        html.I(className="bi bi-box-seam me-2"),
                        html.Span("Exports of", className="fw-semibold me-1"),
                        html.Span(id="export-list-title", className="fw-semibold text-truncate"),
                    ],
                    className="d-flex align-items-center min-w-0",
                ),
                className="bg-transparent",
            ),
            dbc.CardBody(html.Div(id="export-exports")),
        ],
        className="shadow-sm mb-4",
        id="export-list-card",
        style=_HIDDEN,
    )


def _header(subtitle: str) -> html.Div:
    return page_header("Export", subtitle, "export")


def _stores(project_id: str, at: int | None, selected: str | None) -> list[Any]:
    return [
        dcc.Store(id="export-project", data=project_id),
        dcc.Store(id="export-at", data=at),
        dcc.Store(id="export-sig"),
        dcc.Store(id="export-selected", data=selected),
        dcc.Store(id="export-shown", data=selected),
        dcc.Store(id="export-version", data=0),
    ]


def _body(read_only: bool) -> dbc.Row:
    return dbc.Row(
        [
            dbc.Col(list_card("export", "Trained experiments"), lg=5, xl=4),
            dbc.Col([_about_card(), form_card(read_only), _exports_card()], lg=7, xl=8),
        ]
    )


def layout(project_id: str | None = None, **query: str) -> html.Div:
    """The page for ``project_id``; ``?at=SEQ`` shows it as of that event, read-only."""
    state = get_state()
    project = state.live_project(project_id) if project_id else None
    if not project_id or project is None:
        return project_not_found(project_id)
    at = parse_at(query.get("at"))
    if at is not None:
        return _time_travel_layout(project_id, at, query.get("experiment"))
    experiments, _, _ = views(project_id)
    return html.Div(
        [
            *_stores(project_id, None, default_selection(experiments, query.get("experiment"))),
            _header(
                "Turn a trained checkpoint into a file that runs anywhere, checked against "
                "PyTorch on real images before you download it."
            ),
            html.Div(id="export-status"),
            _body(read_only=False),
        ],
        className="export-page",
    )


def _time_travel_layout(project_id: str, at: int, wanted: str | None) -> html.Div:
    """The exports as they were right after event ``at``: read-only, no form."""
    banner = past_banner(project_id, at, "export")
    if banner is None:
        return no_such_event(project_id, at, "export")
    experiments, exports, _ = views(project_id, at)
    n = len(exports.exports)
    return html.Div(
        [
            *_stores(project_id, at, default_selection(experiments, wanted)),
            banner,
            _header(
                f"As it was right after event #{at}: {n} export{'s' if n != 1 else ''} of "
                f"{len(exportable(experiments))} trained experiment"
                f"{'s' if len(exportable(experiments)) != 1 else ''}. Read-only."
            ),
            html.Div(id="export-status"),
            _body(read_only=True),
        ],
        className="export-page",
    )


# ---------------------------------------------------------------------- callbacks: live
refresh = live_signature_callback(
    "export", lambda project_id, at: page_signature(*views(project_id, at))
)


@callback(
    Output("export-experiments", "children"),
    Output("export-about", "style"),
    Output("export-form-card", "style"),
    Output("export-form-title", "children"),
    Output("export-checkpoint", "options"),
    Output("export-checkpoint", "value"),
    Output("export-form-note", "children"),
    Output("export-start", "disabled"),
    Output("export-running", "children"),
    Output("export-list-card", "style"),
    Output("export-list-title", "children"),
    Output("export-exports", "children"),
    Output("export-shown", "data"),
    Input("export-sig", "data"),
    Input("export-selected", "data"),
    State("export-project", "data"),
    State("export-at", "data"),
    State("export-checkpoint", "value"),
)
def render(
    signature: dict[str, Any] | None,
    selected: str | None,
    project_id: str | None,
    at: int | None,
    checkpoint: str | None,
) -> tuple[Any, ...]:
    """The list, the form's choices, the running exports and the selected experiment's exports."""
    if not signature or not project_id:
        raise PreventUpdate
    parts = page_parts(project_id, at, selected, checkpoint)
    return (
        parts["list"],
        parts["about"],
        parts["form"],
        parts["title"],
        parts["checkpoints"],
        parts["checkpoint"],
        parts["note"],
        parts["disabled"],
        parts["running"],
        parts["exports_card"],
        parts["exports_title"],
        parts["exports"],
        parts["shown"],
    )


@callback(
    Output("export-selected", "data"),
    Input({"type": ITEM_TYPE, "index": ALL}, "n_clicks"),
    State("export-shown", "data"),
    prevent_initial_call=True,
)
def select_experiment(clicks: list[int | None], current: str | None) -> str:
    """Select the experiment whose list item was clicked."""
    return chosen_experiment(ctx.triggered_id, clicked_value(), current)


@callback(
    Output("export-format-help", "children"),
    Output("export-opset", "disabled"),
    Input("export-format", "value"),
)
def format_help(fmt: str | None) -> tuple[str, bool]:
    """What the chosen format is for; the opset applies to ONNX only."""
    fmt = fmt or "onnx"
    return FORMAT_HELP.get(fmt, ""), fmt != "onnx"


# ---------------------------------------------------------------------- callbacks: actions
_STATUS_ALERT = "export-status-alert"


def _alert(ok: bool, message: Any) -> dbc.Alert:
    return status_alert(ok, message, _STATUS_ALERT)


@callback(
    Output("export-status", "children", allow_duplicate=True),
    Output("export-version", "data", allow_duplicate=True),
    Input("export-start", "n_clicks"),
    State("export-shown", "data"),
    State("export-checkpoint", "value"),
    State("export-format", "value"),
    State("export-opset", "value"),
    State("export-images", "value"),
    State("export-tolerance", "value"),
    State("export-project", "data"),
    State("export-at", "data"),
    State("export-version", "data"),
    prevent_initial_call=True,
)
def on_export(
    clicks: int | None,
    experiment_id: str | None,
    checkpoint: str | None,
    fmt: str | None,
    opset: Any,
    validation_images: Any,
    tolerance: Any,
    project_id: str | None,
    at: int | None,
    version: int | None,
) -> tuple[Any, ...]:
    """Ask for the export the form describes (never in a view of the past)."""
    if not clicks or not project_id or at is not None:
        raise PreventUpdate
    command_seq, error = start_export(
        project_id, experiment_id, checkpoint, fmt, opset, validation_images, tolerance
    )
    if command_seq is None:
        return _alert(False, error), dash.no_update
    label = FORMAT_LABELS.get(fmt or "onnx", fmt or "onnx")
    message = [
        f"{label} export of the {checkpoint} checkpoint queued: it appears below, and can be "
        "downloaded once it has passed validation. ",
        job_events_link(project_id, command_seq),
    ]
    return _alert(True, message), (version or 0) + 1


@callback(
    Output("export-status", "children", allow_duplicate=True),
    Output("export-version", "data", allow_duplicate=True),
    Input({"type": CANCEL_TYPE, "index": ALL}, "n_clicks"),
    State("export-project", "data"),
    State("export-at", "data"),
    State("export-version", "data"),
    prevent_initial_call=True,
)
def on_cancel(
    clicks: list[int | None], project_id: str | None, at: int | None, version: int | None
) -> tuple[Any, ...]:
    """Ask the export whose Cancel was clicked to stop."""
    return cancel_clicked(ctx.triggered_id, clicked_value(), project_id, at, version)


def cancel_clicked(
    trigger: Any, clicked: Any, project_id: str | None, at: int | None, version: int | None
) -> tuple[Any, ...]:
    """What a click on a Cancel button does: ``(status alert, version)``."""
    if not isinstance(trigger, dict) or not clicked or not project_id or at is not None:
        raise PreventUpdate  # the buttons were re-rendered, nothing clicked
    error = cancel_export(project_id, str(trigger.get("index")))
    message = "Cancel requested: the export stops after its current step."
    return action_outcome(error, message, _STATUS_ALERT, version)
