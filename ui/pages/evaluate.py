"""The Evaluation page: evaluate a trained experiment, read its figures, find its worst mistakes.

* On top, side by side: the experiments that have a checkpoint, each with the state of its
  evaluation and, once evaluated, its primary figure (a click selects one); and the
  configuration (checkpoint, subsets) with Run, Cancel and Reset (after a confirmation) and the
  job's progress.
* Under them, the full width, in two collapsible sections: the headline figures and plots
  (confusion matrix, per-class bars, precision-recall curves, threshold sweep; residuals and
  predicted against true values; detection's PR curves, F1 curve, confusion matrix with its
  background and per-class table with its CSV); the per-image results as a grid of thumbnails
  with filters and sorting (worst first by default), each opening a detail dialog. A task with a
  confidence threshold (detection) has a slider that redraws the boxes over the thumbnails and
  the counts at any threshold, and a button that chooses it for the experiment
  (``ThresholdSet``).

What differs by task is the task's (:func:`ui.tasks.ui_task`): the page never asks which one
it shows.

Everything shown comes from the experiments, evaluation, jobs and dataset views and from the
evaluation's files read through :func:`aistudio.commands.load_evaluation`; the shell's ``tick``
refreshes it about once a second and the page re-renders only what changed. Writes go through
:mod:`aistudio.commands` with ``actor="ui"``. ``?at=SEQ`` shows the page as it was right after
that event, read-only; ``?experiment=exp-…`` selects one.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from aistudio import commands
from aistudio.commands import CommandError
from projections.dataset import DatasetView, ImageEntry
from projections.evaluations import EvaluationEntry, EvaluationsView
from projections.experiments import ExperimentsView
from projections.jobs import JobsView
from ui.components.annotation_overlay import opacity_style
from ui.components.confirm import delete_modal, dialog_error
from ui.components.empty_state import empty_state, project_not_found
from ui.components.evaluation_charts import metrics_section
from ui.components.evaluation_form import (
    cancel_evaluation,
    choose_threshold,
    form_state,
    reset_evaluation,
    run_evaluation,
)
from ui.components.evaluation_results import (
    PAGE_SIZE,
    TILE_TYPE,
    ResultsContext,
    ResultsQuery,
    count_text,
    detail,
    filter_controls,
    flag_summary,
    query_from_controls,
    range_marks,
    results_page,
    sort_options,
    tiles,
)
from ui.components.evaluation_runs import (
    ITEM_TYPE,
    default_selection,
    detail_head,
    evaluable,
    evaluation_alert,
    evaluation_job,
    evaluation_state,
    experiment_list,
    facts_row,
    job_progress,
    load_error,
    note,
)
from ui.components.experiment_pages import (
    action_button,
    action_outcome,
    chosen_experiment,
    clicked_value,
    list_card,
    live_signature_callback,
    no_such_event,
    page_header,
    past_banner,
    status_alert,
    unsupported_task,
)
from ui.components.sidebar import project_page_path
from ui.components.time_travel import parse_at
from ui.components.training_runs import progress_bar
from ui.state import get_state
from ui.tasks import evaluated_tasks, ui_task
from ui.tasks.base import ERROR_VIEW_ID, MASK_OPACITY_ID

logger = logging.getLogger(__name__)

dash.register_page(
    __name__,
    path_template="/project/<project_id>/evaluate",
    title="Evaluate · AI Studio",
    name="Evaluate",
)

_HIDDEN: dict[str, str] = {"display": "none"}
SECTIONS_CLASS = "eval-sections shadow-sm mb-4"
ERROR_VIEW_CLASS = "show-errors"
"""On the results: the tiles show the wrong pixels instead of the prediction (CSS)."""
_SHOWN: dict[str, str] = {}
_FINGERPRINT_MASK = (1 << 52) - 1


def _labels(entry: ImageEntry) -> tuple[Any, ...]:
    # What the rows say changed since training: the label, the value, or another annotation
    # (a change replaces the entry and its annotation, so a new annotation is a new object).
    return entry.label, entry.value, id(entry.structured)


# ---------------------------------------------------------------------- reading the state
def views(
    project_id: str, at: int | None = None
) -> tuple[ExperimentsView, EvaluationsView, JobsView, DatasetView]:
    """The experiments, evaluation, jobs and dataset views, now or right after event ``at``."""
    state = get_state()
    return (
        state.view(project_id, "experiments", at=at),
        state.view(project_id, "evaluation", at=at),
        state.view(project_id, "jobs", at=at),
        state.view(project_id, "dataset", at=at),
    )


def project_task(project_id: str) -> str | None:
    """The live project's task (None when there is no such project)."""
    project = get_state().live_project(project_id)
    return project.task if project is not None else None


def labels_fingerprint(dataset: DatasetView) -> int:
    """A number that changes when any image's label, value or annotation changes (one pass over
    the images, as fast as the label and value alone were): the results' "relabelled after
    evaluation" flags depend on it.

    It fits in 52 bits, so it comes back unchanged from the browser (JavaScript numbers hold
    integers exactly up to 2**53 only).
    """
    return hash(tuple(map(_labels, dataset.images.values()))) & _FINGERPRINT_MASK


def page_signature(
    experiments: ExperimentsView,
    evaluations: EvaluationsView,
    jobs: JobsView,
    dataset: DatasetView,
) -> dict[str, Any]:
    """What the page's live parts depend on (re-rendered only when it changes)."""
    entries = evaluable(experiments)
    evaluated = [evaluations.get(e.experiment_id) for e in entries]
    running = [
        job for ev in evaluated if ev is not None and (job := evaluation_job(ev, jobs)) is not None
    ]
    return {
        "experiments": [[e.experiment_id, e.updated_seq] for e in entries],
        "evaluations": [
            [ev.experiment_id, ev.job_id, ev.status, ev.completed_seq]
            for ev in evaluated
            if ev is not None
        ],
        "jobs": [
            [
                j.job_id,
                j.status,
                j.progress_done,
                j.progress_total,
                j.progress_message,
                j.cancel_requested,
            ]
            for j in running
        ],
        "splits": {name: len(members) for name, members in dataset.splits.items()},
        "labels": labels_fingerprint(dataset) if entries else 0,
    }


def load(
    project_id: str, evaluation: EvaluationEntry
) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """The evaluation's rows and report, or empty ones and the reason they cannot be read."""
    try:
        rows, report = commands.load_evaluation(get_state().workspace, project_id, evaluation)
    except CommandError as exc:
        return [], {}, str(exc)  # shown after "cannot be read:", as the command says it
    return rows, report, ""


# ---------------------------------------------------------------------- rendering
def _section_title(icon: str, text: str) -> html.Span:
    return html.Span([html.I(className=f"bi bi-{icon} me-2"), text], className="fw-semibold")


def _config_body() -> list[Component]:
    return [
        html.Div(id="eval-detail-head", className="mb-2"),
        html.Div(id="eval-alerts"),
        html.Div(id="eval-facts", className="mb-3"),
        html.Div(id="eval-progress", className="mb-3"),
        dbc.Row(
            [
                dbc.Col(
                    [
                        dbc.Label("Checkpoint", className="small fw-semibold mb-1"),
                        dbc.RadioItems(id="eval-checkpoint", options=[], value=None),
                    ],
                    md=6,
                    className="mb-2",
                ),
                dbc.Col(
                    [
                        dbc.Label("Subsets (pooled)", className="small fw-semibold mb-1"),
                        dbc.Checklist(id="eval-subsets", options=[], value=[]),
                    ],
                    md=6,
                    className="mb-2",
                ),
            ],
            className="g-2",
        ),
        html.Div(id="eval-hint", className="small text-body-secondary mb-2"),
        html.Div(
            [
                dbc.Button(
                    [html.I(className="bi bi-play-fill me-1"), "Run evaluation"],
                    id="eval-run",
                    color="primary",
                    n_clicks=0,
                    disabled=True,
                    style=_HIDDEN,
                ),
                action_button("eval-cancel", "stop-circle", "Cancel", "danger"),
                action_button("eval-reset", "arrow-counterclockwise", "Reset…", "secondary"),
            ],
            className="d-flex gap-2 flex-wrap align-items-center",
        ),
    ]


def _dropdown(id: str, placeholder: str) -> dcc.Dropdown:
    return dcc.Dropdown(
        id=id, options=[], value=None, placeholder=placeholder, clearable=True, className="eval-dd"
    )


def _threshold_controls(task: str) -> html.Div:
    """The confidence slider, the counts at its threshold and Set threshold (shown for tasks
    with a threshold; always laid out, so its callbacks find it)."""
    spec = ui_task(task)
    low, high, step = spec.threshold_range
    marks = {v: f"{v:g}" for v in (low, 0.25, 0.5, 0.75, high) if low <= v <= high}
    return html.Div(
        [
            dbc.Row(
                [
                    dbc.Col(
                        [
                            html.Div(
                                spec.threshold_label, className="small text-body-secondary mb-1"
                            ),
                            dcc.Slider(
                                id="eval-threshold",
                                min=low,
                                max=high,
                                step=step,
                                value=0.5,
                                marks=marks,
                                updatemode="mouseup",
                                tooltip={"placement": "bottom", "always_visible": False},
                            ),
                        ],
                        md=8,
                    ),
                    dbc.Col(
                        [
                            dbc.Button(
                                [html.I(className="bi bi-pin-angle me-1"), "Set threshold"],
                                id="eval-set-threshold",
                                color="primary",
                                outline=True,
                                size="sm",
                                n_clicks=0,
                                disabled=True,
                                className="mb-1",
                                title="Choose this threshold for the experiment: later "
                                "evaluations count at it and exports write it into their "
                                "metadata",
                            ),
                            html.Div(id="eval-threshold-chosen", className="small"),
                        ],
                        md=4,
                    ),
                ],
                className="g-2 align-items-start",
            ),
            html.Div(id="eval-threshold-summary", className="small mt-1"),
        ],
        id="eval-threshold-row",
        className="eval-threshold border rounded px-3 py-2 mb-3",
        style=_SHOWN if spec.uses_threshold else _HIDDEN,
    )


def _results_body(task: str) -> list[Component]:
    spec = ui_task(task)
    class_style = _SHOWN if spec.class_filters else _HIDDEN
    filters = dbc.Row(
        [
            dbc.Col(
                html.Div(  # d-flex inside: its !important would beat the column's display: none
                    dbc.Switch(id="eval-f-wrong", label=spec.wrong_filter_label, value=False),
                    className="d-flex align-items-center h-100",
                ),
                xs=12,
                md=4,
                id="eval-f-wrong-col",
                style=class_style,
            ),
            dbc.Col(
                _dropdown("eval-f-true", spec.true_class_placeholder),
                xs=6,
                md=4,
                id="eval-f-true-col",
                style=class_style,
            ),
            dbc.Col(
                _dropdown("eval-f-pred", spec.predicted_class_placeholder),
                xs=6,
                md=4,
                id="eval-f-pred-col",
                style=class_style,
            ),
            dbc.Col(_dropdown("eval-f-subset", "Any subset"), xs=6, md=4),
            dbc.Col(
                dcc.Dropdown(
                    id="eval-f-sort",
                    options=sort_options(task),
                    value=spec.default_sort,
                    clearable=False,
                    className="eval-dd",
                ),
                xs=6,
                md=8,
            ),
            dbc.Col(
                [
                    html.Div(
                        spec.range_label or "",
                        id="eval-f-range-label",
                        className="small text-body-secondary mb-1",
                    ),
                    dcc.RangeSlider(
                        id="eval-f-range",
                        min=0,
                        max=1,
                        step=0.01,
                        value=[0, 1],
                        marks=range_marks(0, 1),
                        allowCross=False,
                        updatemode="mouseup",
                        tooltip={"placement": "bottom", "always_visible": False},
                    ),
                ],
                xs=12,
                id="eval-f-range-col",
                style=_SHOWN if spec.range_label else _HIDDEN,
            ),
        ],
        className="g-2 mb-3",
    )
    return [
        _threshold_controls(task),
        *spec.result_controls(),
        filters,
        html.Div(
            [
                html.Span(id="eval-count", className="fw-semibold"),
                html.Span(id="eval-flag-summary", className="small ms-3"),
                dbc.Button(
                    [html.I(className="bi bi-x-lg me-1"), "Clear filters"],
                    id="eval-f-clear",
                    color="link",
                    size="sm",
                    className="ms-auto p-0",
                    n_clicks=0,
                ),
            ],
            className="d-flex align-items-center flex-wrap mb-3",
        ),
        html.Div(id="eval-results-message"),
        dcc.Loading(
            html.Div(id="eval-grid", className=f"thumb-grid eval-grid eval-grid-{task}"),
            type="dot",
            delay_show=400,
            overlay_style={"visibility": "visible", "opacity": 0.6},
        ),
        html.Div(  # d-flex on the inner block: its !important would beat display: none
            html.Div(
                dbc.Pagination(
                    id="eval-page",
                    max_value=1,
                    active_page=1,
                    first_last=True,
                    previous_next=True,
                    fully_expanded=False,
                    size="sm",
                    className="mb-0",
                ),
                className="mt-3 d-flex justify-content-center",
            ),
            id="eval-pager",
            style=_HIDDEN,
        ),
        html.Small(
            " · ".join(
                part
                for part in (f"{PAGE_SIZE} images per page", spec.legend, "click one for details")
                if part
            ),
            className="text-body-secondary d-block text-center mt-2",
            id="eval-legend",
        ),
    ]


def _config_section() -> dbc.Accordion:
    return dbc.Accordion(
        dbc.AccordionItem(
            _config_body(),
            title=_section_title("sliders", "Configuration and actions"),
            item_id="config",
        ),
        id="eval-config-section",
        always_open=True,
        active_item=["config"],
        className="eval-sections shadow-sm mb-4",
    )


def _sections(task: str) -> dbc.Accordion:
    return dbc.Accordion(
        [
            dbc.AccordionItem(
                html.Div(id="eval-metrics"),
                title=_section_title("bar-chart-line", "Metrics and plots"),
                item_id="metrics",
            ),
            dbc.AccordionItem(
                _results_body(task),
                title=_section_title("grid-3x3-gap", "Per-image results"),
                item_id="results",
            ),
        ],
        id="eval-sections",
        always_open=True,
        active_item=["metrics", "results"],
        className=SECTIONS_CLASS,
    )


def _no_model(project_id: str, visible: bool) -> html.Div:
    return html.Div(
        dbc.Card(
            dbc.CardBody(
                empty_state(
                    "clipboard-data",
                    "No trained model yet",
                    "Evaluation scores a trained experiment's checkpoint on the images of its "
                    "split. Train a model first: once it has saved a checkpoint, it appears here.",
                    dbc.Button(
                        [html.I(className="bi bi-cpu me-1"), "Train a model"],
                        href=project_page_path(project_id, "train"),
                        color="primary",
                        id="eval-train-link",
                    ),
                )
            ),
            className="shadow-sm mb-4",
        ),
        id="eval-empty",
        style=_SHOWN if visible else _HIDDEN,
    )


def _image_modal() -> dbc.Modal:
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(id="eval-detail-title")),
            dbc.ModalBody(id="eval-detail-body"),
        ],
        id="eval-detail-modal",
        is_open=False,
        centered=True,
        size="lg",
        scrollable=True,
    )


def _header(subtitle: str) -> html.Div:
    return page_header("Evaluate", subtitle, "eval")


def _stores(
    project_id: str,
    at: int | None,
    selected: str | None,
    task: str,
    signature: dict[str, Any] | None = None,
) -> list[Any]:
    return [
        dcc.Store(id="eval-project", data=project_id),
        dcc.Store(id="eval-at", data=at),
        dcc.Store(id="eval-task", data=task),
        # The signature the layout was made from: the live parts render from it at once,
        # instead of a round trip later, after the tick callback's first answer.
        dcc.Store(id="eval-sig", data=signature),
        dcc.Store(id="eval-form-sig"),
        dcc.Store(id="eval-metrics-sig"),
        dcc.Store(id="eval-filters-sig"),
        dcc.Store(id="eval-results-sig"),
        dcc.Store(id="eval-threshold-sig"),
        dcc.Store(id="eval-range-bounds", data=[0, 1]),
        dcc.Store(id="eval-selected", data=selected),
        dcc.Store(id="eval-version", data=0),
        dcc.Download(id="eval-class-download"),
    ]


def _page(
    project_id: str,
    at: int | None,
    task: str,
    selected: str | None,
    has_models: bool,
    top: list[Any],
    signature: dict[str, Any] | None = None,
) -> html.Div:
    return html.Div(
        [
            *_stores(project_id, at, selected, task, signature),
            *top,
            html.Div(id="eval-status"),
            _no_model(project_id, not has_models),
            html.Div(
                [
                    # The list and the configuration side by side; the figures and the results
                    # below them get the page's full width.
                    dbc.Row(
                        [
                            dbc.Col(list_card("eval", "Trained experiments"), lg=5, xl=4),
                            dbc.Col(_config_section(), lg=7, xl=8, className="min-w-0"),
                        ],
                        className="eval-top",
                    ),
                    _sections(task),
                ],
                id="eval-main",
                style=_SHOWN if has_models else _HIDDEN,
            ),
            delete_modal("eval", "Reset the evaluation?", "Reset evaluation"),
            _image_modal(),
        ],
        className="eval-page",
    )


def layout(project_id: str | None = None, **query: str) -> html.Div:
    """The page for ``project_id``; ``?at=SEQ`` shows it as of that event, read-only."""
    state = get_state()
    project = state.live_project(project_id) if project_id else None
    if not project_id or project is None:
        return project_not_found(project_id)
    task = project.task
    if not ui_task(task).evaluates:
        names = [name.replace("_", " ") for name in evaluated_tasks()]
        listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
        return html.Div(
            [
                _header("Score a trained model on the images of its split."),
                unsupported_task(
                    project_id,
                    f"Evaluating {task.replace('_', ' ')} models is coming",
                    f"This version evaluates {listed} models.",
                    id="eval-unsupported",
                ),
            ]
        )
    at = parse_at(query.get("at"))
    top: list[Any] = []
    if at is not None:
        banner = past_banner(project_id, at, "evaluate")
        if banner is None:
            return no_such_event(project_id, at, "evaluate")
        top.append(banner)
    experiments, evaluations, jobs, dataset = views(project_id, at)
    signature = page_signature(experiments, evaluations, jobs, dataset)
    selected = default_selection(experiments, evaluations, query.get("experiment"))
    n = len(evaluable(experiments))
    if at is None:
        subtitle = (
            "Score a trained experiment on the images of its split, read its figures, and find "
            "its worst mistakes in a few clicks."
        )
    else:
        subtitle = (
            f"As it was right after event #{at}: {n} trained experiment{'s' if n != 1 else ''}. "
            "Read-only."
        )
    top.append(_header(subtitle))
    return _page(project_id, at, task, selected, n > 0, top, signature)


# ---------------------------------------------------------------------- callbacks: live
refresh = live_signature_callback(
    "eval",
    lambda project_id, at: page_signature(*views(project_id, at)),
    signature_in_layout=True,
)


@callback(
    Output("eval-selected", "data", allow_duplicate=True),
    Input("eval-sig", "data"),
    State("eval-selected", "data"),
    State("eval-project", "data"),
    State("eval-at", "data"),
    prevent_initial_call=True,
)
def follow_selection(
    signature: dict[str, Any] | None, selected: str | None, project_id: str | None, at: int | None
) -> str | None:
    """Select an experiment when none is (the first one trained while the page is open)."""
    if not signature or not project_id:
        raise PreventUpdate
    ids = [pair[0] for pair in signature.get("experiments", [])]
    if selected in ids or (selected is None and not ids):
        raise PreventUpdate
    experiments, evaluations, _, _ = views(project_id, at)
    return default_selection(experiments, evaluations)


@callback(
    Output("eval-experiments", "children"),
    Output("eval-detail-head", "children"),
    Output("eval-alerts", "children"),
    Output("eval-facts", "children"),
    Output("eval-progress", "children"),
    Output("eval-cancel", "style"),
    Output("eval-reset", "style"),
    Output("eval-empty", "style"),
    Output("eval-main", "style"),
    Input("eval-sig", "data"),
    Input("eval-selected", "data"),
    State("eval-project", "data"),
    State("eval-at", "data"),
)
def render_runs(
    signature: dict[str, Any] | None,
    selected: str | None,
    project_id: str | None,
    at: int | None,
) -> tuple[Any, ...]:
    """The list, the selected experiment's head, alerts, facts, progress and action buttons."""
    if not signature or not project_id:
        raise PreventUpdate
    experiments, evaluations, jobs, _ = views(project_id, at)
    now = datetime.now(timezone.utc)
    has_models = bool(signature.get("experiments"))
    listing = experiment_list(experiments, evaluations, jobs, selected, now, past=at is not None)
    entry = experiments.get(selected) if selected else None
    if entry is None or not entry.checkpoints:
        head = html.Span("Select an experiment", className="text-body-secondary")
        return (
            listing,
            head,
            [],
            [],
            [],
            _HIDDEN,
            _HIDDEN,
            _HIDDEN if has_models else _SHOWN,
            _SHOWN if has_models else _HIDDEN,
        )
    evaluation = evaluations.get(entry.experiment_id)
    job = evaluation_job(evaluation, jobs)
    state = evaluation_state(evaluation, job)
    alert = evaluation_alert(evaluation, job)
    info = job_progress(evaluation, job, now)
    progress: Any = []
    if info is not None:
        if at is not None:  # the past: no moving bar, no time left
            info.animated = False
        progress = progress_bar(info)
    live = at is None
    cancel = _SHOWN if live and state in ("queued", "running") else _HIDDEN
    reset = _SHOWN if live and evaluation is not None and not evaluation.is_pending else _HIDDEN
    return (
        listing,
        detail_head(entry, state),
        [alert] if alert is not None else [],
        facts_row(entry, evaluation),
        progress,
        cancel,
        reset,
        _HIDDEN,
        _SHOWN,
    )


@callback(
    Output("eval-checkpoint", "options"),
    Output("eval-checkpoint", "value"),
    Output("eval-subsets", "options"),
    Output("eval-subsets", "value"),
    Output("eval-run", "disabled"),
    Output("eval-run", "style"),
    Output("eval-hint", "children"),
    Output("eval-form-sig", "data"),
    Input("eval-sig", "data"),
    Input("eval-selected", "data"),
    State("eval-project", "data"),
    State("eval-at", "data"),
    State("eval-task", "data"),
    State("eval-form-sig", "data"),
)
def render_form(
    signature: dict[str, Any] | None,
    selected: str | None,
    project_id: str | None,
    at: int | None,
    task: str | None,
    form_sig: list[Any] | None,
) -> tuple[Any, ...]:
    """The configuration controls, filled again only when the selection or its evaluation
    changed (so that a refresh never undoes the user's choices)."""
    if not signature or not project_id:
        raise PreventUpdate
    experiments, evaluations, _, dataset = views(project_id, at)
    entry = experiments.get(selected) if selected else None
    evaluation = evaluations.get(selected) if selected else None
    form = form_state(entry, evaluation, dataset, task or "classification", at is not None)
    if form.signature == form_sig:
        raise PreventUpdate
    show_run = entry is not None and at is None
    return (
        form.checkpoint_options,
        form.checkpoint,
        form.subset_options,
        form.subsets,
        form.run_disabled,
        _SHOWN if show_run else _HIDDEN,
        form.hint,
        form.signature,
    )


def metrics_signature(
    evaluation: EvaluationEntry | None, selected: str | None, theme: str | None, at: int | None
) -> list[Any]:
    """What the metrics section depends on."""
    if evaluation is None:
        return [selected, None, theme, at]
    return [selected, evaluation.job_id, evaluation.status, evaluation.completed_seq, theme, at]


@callback(
    Output("eval-metrics", "children"),
    Output("eval-metrics-sig", "data"),
    Input("eval-sig", "data"),
    Input("eval-selected", "data"),
    Input("theme", "data"),
    State("eval-project", "data"),
    State("eval-at", "data"),
    State("eval-task", "data"),
    State("eval-metrics-sig", "data"),
)
def render_metrics(
    signature: dict[str, Any] | None,
    selected: str | None,
    theme: str | None,
    project_id: str | None,
    at: int | None,
    task: str | None,
    metrics_sig: list[Any] | None,
) -> tuple[Any, ...]:
    """The headline cards and plots, rebuilt only when the evaluation or the theme changed."""
    if not signature or not project_id:
        raise PreventUpdate
    _, evaluations, _, _ = views(project_id, at)
    evaluation = evaluations.get(selected) if selected else None
    fresh = metrics_signature(evaluation, selected, theme, at)
    if fresh == metrics_sig:
        raise PreventUpdate
    loaded = None
    if evaluation is not None and evaluation.status == "completed":
        loaded = load(project_id, evaluation)
    children = metrics_section(evaluation, task or "classification", theme, selected, loaded)
    return children, fresh


# ---------------------------------------------------------------------- callbacks: results
def completed(project_id: str, selected: str | None, at: int | None) -> EvaluationEntry | None:
    """The selected experiment's completed evaluation (None otherwise)."""
    if not selected:
        return None
    evaluation = views(project_id, at)[1].get(selected)
    return evaluation if evaluation is not None and evaluation.status == "completed" else None


def filters_setup(
    project_id: str, selected: str | None, at: int | None, task: str
) -> dict[str, Any]:
    """The filter controls for the selected evaluation's rows (see
    :func:`ui.components.evaluation_results.filter_controls`) and the signature they were made
    for."""
    evaluation = completed(project_id, selected, at)
    rows: list[dict[str, Any]] = []
    report: dict[str, Any] = {}
    if evaluation is not None:
        rows, report, _error = load(project_id, evaluation)
    setup = filter_controls(rows, report, task)
    setup["signature"] = [
        selected,
        evaluation.job_id if evaluation else None,
        evaluation.completed_seq if evaluation else None,
        at,
        len(rows),
    ]
    return setup


@callback(
    Output("eval-f-true", "options"),
    Output("eval-f-pred", "options"),
    Output("eval-f-subset", "options"),
    Output("eval-f-range", "min"),
    Output("eval-f-range", "max"),
    Output("eval-f-range", "step"),
    Output("eval-f-range", "marks"),
    Output("eval-f-range", "value"),
    Output("eval-range-bounds", "data"),
    Output("eval-f-wrong", "value"),
    Output("eval-f-true", "value"),
    Output("eval-f-pred", "value"),
    Output("eval-f-subset", "value"),
    Output("eval-filters-sig", "data"),
    Input("eval-sig", "data"),
    Input("eval-selected", "data"),
    State("eval-project", "data"),
    State("eval-at", "data"),
    State("eval-task", "data"),
    State("eval-filters-sig", "data"),
)
def render_filters(
    signature: dict[str, Any] | None,
    selected: str | None,
    project_id: str | None,
    at: int | None,
    task: str | None,
    filters_sig: list[Any] | None,
) -> tuple[Any, ...]:
    """The filters' options and ranges, set again (and cleared) when another evaluation shows."""
    if not signature or not project_id:
        raise PreventUpdate
    setup = filters_setup(project_id, selected, at, task or "classification")
    if setup["signature"] == filters_sig:
        raise PreventUpdate
    return (
        setup["true"],
        setup["pred"],
        setup["subset"],
        setup["min"],
        setup["max"],
        setup["step"],
        setup["marks"],
        setup["range"],
        setup["bounds"],
        False,
        None,
        None,
        None,
        setup["signature"],
    )


@callback(
    Output("eval-f-wrong", "value", allow_duplicate=True),
    Output("eval-f-true", "value", allow_duplicate=True),
    Output("eval-f-pred", "value", allow_duplicate=True),
    Output("eval-f-subset", "value", allow_duplicate=True),
    Output("eval-f-range", "value", allow_duplicate=True),
    Output("eval-f-sort", "value"),
    Input("eval-f-clear", "n_clicks"),
    State("eval-range-bounds", "data"),
    State("eval-task", "data"),
    prevent_initial_call=True,
)
def clear_filters(
    clicks: int | None, bounds: list[float] | None, task: str | None
) -> tuple[Any, ...]:
    """Every filter back to "any", the order back to the task's default."""
    if not clicks:
        raise PreventUpdate
    default = ui_task(task or "classification").default_sort
    return False, None, None, None, list(bounds or [0, 1]), default


_FILTER_IDS = ("eval-f-wrong", "eval-f-true", "eval-f-pred", "eval-f-subset", "eval-f-sort")


def results_update(
    project_id: str,
    selected: str | None,
    at: int | None,
    task: str,
    query: ResultsQuery,
    labels: Any,
    results_sig: list[Any] | None,
) -> tuple[Any, ...]:
    """The grid for ``query``.

    Returns:
        ``(tiles, count, flag summary, message, pages, page, pager style, signature)``;
        PreventUpdate when the signature is unchanged.
    """
    evaluation = completed(project_id, selected, at)
    fresh = [
        selected,
        evaluation.job_id if evaluation else None,
        evaluation.completed_seq if evaluation else None,
        at,
        labels,
        [query.wrong_only, query.true_class, query.predicted_class, query.subset],
        [query.low, query.high, query.sort, query.page, query.threshold],
    ]
    if fresh == results_sig:
        raise PreventUpdate
    if evaluation is None:
        message = note("grid-3x3-gap", "The images appear here once the evaluation completed.")
        return [], "", [], message, 1, 1, _HIDDEN, fresh
    rows, report, error = load(project_id, evaluation)
    if error:
        return [], "", [], load_error(error, "eval-results-error"), 1, 1, _HIDDEN, fresh
    dataset = views(project_id, at)[3]
    page = results_page(rows, task, query, dataset)
    context = ResultsContext(
        project_id, dataset, at, evaluation.completed_seq, report, query.threshold
    )
    grid = tiles(context, page.rows, task)
    return (
        grid,
        count_text(page.total, len(rows)),
        flag_summary(rows, dataset, task),
        [],
        page.pages,
        page.page,
        _SHOWN if page.pages > 1 else _HIDDEN,
        fresh,
    )


@callback(
    Output("eval-grid", "children"),
    Output("eval-count", "children"),
    Output("eval-flag-summary", "children"),
    Output("eval-results-message", "children"),
    Output("eval-page", "max_value"),
    Output("eval-page", "active_page"),
    Output("eval-pager", "style"),
    Output("eval-results-sig", "data"),
    Input("eval-sig", "data"),
    Input("eval-selected", "data"),
    Input("eval-f-wrong", "value"),
    Input("eval-f-true", "value"),
    Input("eval-f-pred", "value"),
    Input("eval-f-subset", "value"),
    Input("eval-f-sort", "value"),
    Input("eval-f-range", "value"),
    Input("eval-page", "active_page"),
    Input("eval-threshold", "value"),
    State("eval-range-bounds", "data"),
    State("eval-project", "data"),
    State("eval-at", "data"),
    State("eval-task", "data"),
    State("eval-results-sig", "data"),
)
def render_results(
    signature: dict[str, Any] | None,
    selected: str | None,
    wrong: Any,
    true_class: str | None,
    predicted: str | None,
    subset: str | None,
    sort: str | None,
    value: list[float] | None,
    page: int | None,
    threshold: float | None,
    bounds: list[float] | None,
    project_id: str | None,
    at: int | None,
    task: str | None,
    results_sig: list[Any] | None,
) -> tuple[Any, ...]:
    """The page of per-image results the filters ask for (back to page 1 when a filter or the
    threshold moved: the order depends on it)."""
    if not signature or not project_id:
        raise PreventUpdate
    shown = threshold if ui_task(task or "classification").uses_threshold else None
    query = query_from_controls(
        wrong, true_class, predicted, subset, sort, value, bounds, page, shown
    )
    if ctx.triggered_id in (*_FILTER_IDS, "eval-f-range", "eval-selected", "eval-threshold"):
        query = replace(query, page=1)
    return results_update(
        project_id,
        selected,
        at,
        task or "classification",
        query,
        signature.get("labels"),
        results_sig,
    )


@callback(
    Output("eval-detail-modal", "is_open"),
    Output("eval-detail-title", "children"),
    Output("eval-detail-body", "children"),
    Input({"type": TILE_TYPE, "index": ALL}, "n_clicks"),
    State("eval-selected", "data"),
    State("eval-project", "data"),
    State("eval-at", "data"),
    State("eval-task", "data"),
    State("theme", "data"),
    State("eval-threshold", "value"),
    prevent_initial_call=True,
)
def open_detail(
    _clicks: list[int | None],
    selected: str | None,
    project_id: str | None,
    at: int | None,
    task: str | None,
    theme: str | None,
    threshold: float | None,
) -> tuple[Any, ...]:
    """Open the detail dialog of the tile clicked (its boxes at the slider's threshold)."""
    if not project_id:
        raise PreventUpdate
    return detail_dialog(
        project_id,
        selected,
        at,
        task or "classification",
        ctx.triggered_id,
        clicked_value(),
        theme,
        threshold,
    )


def detail_dialog(
    project_id: str,
    selected: str | None,
    at: int | None,
    task: str,
    trigger: Any,
    clicked: Any,
    theme: str | None,
    threshold: float | None = None,
) -> tuple[Any, ...]:
    """``(open, title, body)`` of the detail dialog for the tile ``trigger`` names
    (PreventUpdate when the grid was re-rendered and nothing was clicked); ``threshold``: the
    confidence slider's (tasks with a threshold)."""
    if not isinstance(trigger, dict) or not clicked:
        raise PreventUpdate
    evaluation = completed(project_id, selected, at)
    if evaluation is None:
        raise PreventUpdate
    rows, report, error = load(project_id, evaluation)
    if error:
        return True, "Image", [load_error(error, "eval-detail-error")]
    image_id = str(trigger.get("index"))
    row = next((r for r in rows if str(r.get("image_id")) == image_id), None)
    if row is None:
        raise PreventUpdate
    dataset = views(project_id, at)[3]
    entry = dataset.images.get(image_id)
    title = entry.filename if entry is not None else image_id
    shown = threshold if ui_task(task).uses_threshold else None
    context = ResultsContext(
        project_id, dataset, at, evaluation.completed_seq, report, shown, theme
    )
    return True, title, detail(context, row, task)


# ---------------------------------------------------------------------- callbacks: threshold
def chosen_threshold(project_id: str, selected: str | None, at: int | None) -> float | None:
    """The threshold chosen for the selected experiment (``ThresholdSet``), now or as of ``at``."""
    entry = views(project_id, at)[0].get(selected) if selected else None
    return entry.threshold if entry is not None else None


def threshold_setup(
    project_id: str, selected: str | None, at: int | None, task: str, known: list[Any] | None
) -> tuple[float, list[Any]]:
    """Where the confidence slider starts for the selected evaluation (the chosen threshold,
    else the evaluation's), and the signature it was set for: set again only when another
    evaluation shows, so a refresh never moves it.

    Raises:
        PreventUpdate: a task without a threshold, or the same evaluation as before.
    """
    spec = ui_task(task)
    if not spec.uses_threshold:
        raise PreventUpdate
    evaluation = completed(project_id, selected, at)
    fresh = [
        selected,
        evaluation.job_id if evaluation else None,
        evaluation.completed_seq if evaluation else None,
        at,
    ]
    if fresh == known:
        raise PreventUpdate
    report = load(project_id, evaluation)[1] if evaluation is not None else {}
    value = spec.initial_threshold(report, chosen_threshold(project_id, selected, at))
    if value is None:
        raise PreventUpdate
    return value, fresh


@callback(
    Output("eval-threshold", "value"),
    Output("eval-threshold-sig", "data"),
    Input("eval-sig", "data"),
    Input("eval-selected", "data"),
    State("eval-project", "data"),
    State("eval-at", "data"),
    State("eval-task", "data"),
    State("eval-threshold-sig", "data"),
)
def init_threshold(
    signature: dict[str, Any] | None,
    selected: str | None,
    project_id: str | None,
    at: int | None,
    task: str | None,
    threshold_sig: list[Any] | None,
) -> tuple[float, list[Any]]:
    """Put the confidence slider where the selected evaluation's threshold is."""
    if not signature or not project_id:
        raise PreventUpdate
    return threshold_setup(project_id, selected, at, task or "classification", threshold_sig)


def threshold_view(
    project_id: str, selected: str | None, at: int | None, task: str, value: float | None
) -> dict[str, Any]:
    """The counts at the slider's threshold, the chosen threshold, and whether Set threshold
    can be pressed (see :func:`render_threshold`)."""
    spec = ui_task(task)
    evaluation = completed(project_id, selected, at) if spec.uses_threshold else None
    if evaluation is None or value is None:
        return {"summary": [], "chosen": [], "disabled": True}
    rows, report, error = load(project_id, evaluation)
    if error:
        return {"summary": [], "chosen": [], "disabled": True}
    chosen = chosen_threshold(project_id, selected, at)
    same = chosen is not None and abs(chosen - float(value)) < 5e-5
    return {
        "summary": spec.threshold_summary(rows, float(value)),
        "chosen": spec.chosen_threshold_text(chosen, report),
        "disabled": at is not None or same,
    }


@callback(
    output={
        "summary": Output("eval-threshold-summary", "children"),
        "chosen": Output("eval-threshold-chosen", "children"),
        "disabled": Output("eval-set-threshold", "disabled"),
    },
    inputs={
        "signature": Input("eval-sig", "data"),
        "selected": Input("eval-selected", "data"),
        "value": Input("eval-threshold", "value"),
    },
    state={
        "project_id": State("eval-project", "data"),
        "at": State("eval-at", "data"),
        "task": State("eval-task", "data"),
    },
)
def render_threshold(
    signature: dict[str, Any] | None,
    selected: str | None,
    value: float | None,
    project_id: str | None,
    at: int | None,
    task: str | None,
) -> dict[str, Any]:
    """What the predictions kept at the slider's threshold add up to, the experiment's chosen
    threshold, and Set threshold (disabled in the past and when the slider is at the chosen
    one)."""
    if not signature or not project_id:
        raise PreventUpdate
    return threshold_view(project_id, selected, at, task or "classification", value)


@callback(
    Output("eval-fig-f1", "figure"),
    Input("eval-threshold", "value"),
    State("eval-selected", "data"),
    State("eval-project", "data"),
    State("eval-at", "data"),
    State("eval-task", "data"),
)
def mark_threshold(
    value: float | None,
    selected: str | None,
    project_id: str | None,
    at: int | None,
    task: str | None,
) -> Any:
    """Move the F1 curve's "shown" line to the slider's threshold (a patch, not a new figure)."""
    if value is None or not project_id:
        raise PreventUpdate
    spec = ui_task(task or "classification")
    evaluation = completed(project_id, selected, at) if spec.uses_threshold else None
    if evaluation is None:
        raise PreventUpdate
    _rows, report, error = load(project_id, evaluation)
    patch = None if error else spec.threshold_patch(report, float(value))
    if patch is None:
        raise PreventUpdate
    return patch


@callback(
    output={
        "status": Output("eval-status", "children", allow_duplicate=True),
        "version": Output("eval-version", "data", allow_duplicate=True),
    },
    inputs={"clicks": Input("eval-set-threshold", "n_clicks")},
    state={
        "value": State("eval-threshold", "value"),
        "selected": State("eval-selected", "data"),
        "project_id": State("eval-project", "data"),
        "at": State("eval-at", "data"),
        "version": State("eval-version", "data"),
    },
    prevent_initial_call=True,
)
def on_set_threshold(
    clicks: int | None,
    value: float | None,
    selected: str | None,
    project_id: str | None,
    at: int | None,
    version: int | None,
) -> dict[str, Any]:
    """Append ``ThresholdSet``: the slider's threshold becomes the experiment's."""
    if not clicks or not project_id:
        raise PreventUpdate
    if at is not None:
        return {"status": _read_only_alert(), "version": dash.no_update}
    error = choose_threshold(get_state().workspace, project_id, selected, value)
    if error is not None:
        return {"status": _alert(False, error), "version": dash.no_update}
    name = views(project_id)[0].experiments[str(selected)].name
    message = [
        "The threshold of ",
        html.B(name),
        f" is now {float(value or 0):.2f}: later evaluations count at it and exports write it "
        "into their metadata.",
    ]
    return {"status": _alert(True, message), "version": (version or 0) + 1}


@callback(
    Output("eval-class-download", "data"),
    Input("eval-class-csv", "n_clicks"),
    State("eval-selected", "data"),
    State("eval-project", "data"),
    State("eval-at", "data"),
    State("eval-task", "data"),
    prevent_initial_call=True,
)
def download_table(
    clicks: int | None,
    selected: str | None,
    project_id: str | None,
    at: int | None,
    task: str | None,
) -> dict[str, Any]:
    """The metrics section's table as a CSV download."""
    if not clicks or not project_id or not selected:
        raise PreventUpdate
    return table_download(project_id, selected, at, task or "classification")


def table_download(project_id: str, selected: str, at: int | None, task: str) -> dict[str, Any]:
    """``dcc.Download`` data of the selected evaluation's table (PreventUpdate: none)."""
    evaluation = completed(project_id, selected, at)
    if evaluation is None:
        raise PreventUpdate
    _rows, report, error = load(project_id, evaluation)
    table = None if error else ui_task(task).table_csv(report)
    if table is None:
        raise PreventUpdate
    suffix, text = table
    return dcc.send_string(text, f"{selected}-{suffix}.csv", type="text/csv")


# ---------------------------------------------------------------------- callbacks: selection
@callback(
    Output("eval-selected", "data"),
    Input({"type": ITEM_TYPE, "index": ALL}, "n_clicks"),
    State("eval-selected", "data"),
    prevent_initial_call=True,
)
def select_experiment(clicks: list[int | None], current: str | None) -> str:
    """Select the experiment whose list item was clicked."""
    return chosen_experiment(ctx.triggered_id, clicked_value(), current)


# ---------------------------------------------------------------------- callbacks: actions
_STATUS_ALERT = "eval-status-alert"


def _alert(ok: bool, message: Any) -> dbc.Alert:
    return status_alert(ok, message, _STATUS_ALERT)


def _read_only_alert() -> dbc.Alert:
    return _alert(False, "This is a view of the past: go back to now to change anything.")


@callback(
    Output("eval-status", "children", allow_duplicate=True),
    Output("eval-version", "data", allow_duplicate=True),
    Input("eval-run", "n_clicks"),
    State("eval-selected", "data"),
    State("eval-checkpoint", "value"),
    State("eval-subsets", "value"),
    State("eval-project", "data"),
    State("eval-at", "data"),
    State("eval-version", "data"),
    prevent_initial_call=True,
)
def on_run(
    clicks: int | None,
    selected: str | None,
    checkpoint: str | None,
    subsets: list[str] | None,
    project_id: str | None,
    at: int | None,
    version: int | None,
) -> tuple[Any, ...]:
    """Append ``EvaluationRequested`` for the selected experiment and the chosen settings."""
    if not clicks or not project_id:
        raise PreventUpdate
    if at is not None:
        return _read_only_alert(), dash.no_update
    state = get_state()
    error = run_evaluation(
        state.workspace,
        project_id,
        selected,
        checkpoint,
        subsets,
        views=state.model_views(project_id),
    )
    if error is not None:
        return _alert(False, error), dash.no_update
    name = views(project_id)[0].experiments[str(selected)].name
    message = ["Evaluation of ", html.B(name), " queued: its progress shows above."]
    return _alert(True, message), (version or 0) + 1


@callback(
    Output("eval-status", "children", allow_duplicate=True),
    Output("eval-version", "data", allow_duplicate=True),
    Input("eval-cancel", "n_clicks"),
    State("eval-selected", "data"),
    State("eval-project", "data"),
    State("eval-at", "data"),
    State("eval-version", "data"),
    prevent_initial_call=True,
)
def on_cancel(
    clicks: int | None,
    selected: str | None,
    project_id: str | None,
    at: int | None,
    version: int | None,
) -> tuple[Any, ...]:
    """Ask the selected experiment's running evaluation to stop."""
    if not clicks or not project_id or not selected:
        raise PreventUpdate
    if at is not None:
        return _read_only_alert(), dash.no_update
    _, evaluations, jobs, _ = views(project_id)
    evaluation = evaluations.get(selected)
    error = cancel_evaluation(
        get_state().workspace, project_id, evaluation, evaluation_job(evaluation, jobs)
    )
    message = "Cancel requested: the evaluation stops after its current batch."
    return action_outcome(error, message, _STATUS_ALERT, version)


@callback(
    Output("eval-delete-modal", "is_open"),
    Output("eval-delete-body", "children"),
    Output("eval-delete-error", "children"),
    Output("eval-version", "data", allow_duplicate=True),
    Output("eval-status", "children", allow_duplicate=True),
    Input("eval-reset", "n_clicks"),
    Input("eval-delete-confirm", "n_clicks"),
    Input("eval-delete-cancel", "n_clicks"),
    State("eval-selected", "data"),
    State("eval-project", "data"),
    State("eval-at", "data"),
    State("eval-version", "data"),
    prevent_initial_call=True,
)
def on_reset(
    _open: int | None,
    _confirm: int | None,
    _cancel: int | None,
    selected: str | None,
    project_id: str | None,
    at: int | None,
    version: int | None,
) -> tuple[Any, ...]:
    """Open the confirmation, reset the evaluation, or close it."""
    return reset_dialog(ctx.triggered_id, clicked_value(), selected, project_id, at, version)


def reset_dialog(
    trigger: Any,
    clicked: Any,
    selected: str | None,
    project_id: str | None,
    at: int | None,
    version: int | None,
) -> tuple[Any, ...]:
    """What the reset dialog does for one trigger.

    Returns:
        ``(open, body, error, version, status)``.
    """
    no = dash.no_update
    if not clicked or not project_id or not selected or at is not None:
        raise PreventUpdate
    if trigger == "eval-delete-cancel":
        return False, no, None, no, no
    experiments, evaluations, _, _ = views(project_id)
    entry = experiments.get(selected)
    if entry is None:
        raise PreventUpdate
    if trigger == "eval-reset":
        evaluation = evaluations.get(selected)
        what = f" ({evaluation.status})" if evaluation is not None else ""
        body = [
            html.P(
                ["Reset the evaluation of ", html.B(f"“{entry.name}”"), f"{what}?"],
                className="mb-2",
            ),
            html.P(
                "Its figures and per-image results are deleted, so it can be evaluated again. "
                "The experiment and its checkpoints stay; the evaluation stays visible in the "
                "project's history.",
                className="small text-body-secondary mb-0",
            ),
        ]
        return True, body, None, no, no
    if trigger != "eval-delete-confirm":
        raise PreventUpdate
    state = get_state()
    error = reset_evaluation(
        state.workspace, project_id, selected, views=state.model_views(project_id)
    )
    if error is not None:
        return True, no, dialog_error(error), no, no
    message = ["The evaluation of ", html.B(entry.name), " was reset."]
    return False, no, None, (version or 0) + 1, _alert(True, message)


@callback(
    output={
        "sections": Output("eval-sections", "style"),
        "detail": Output("eval-detail-modal", "style"),
    },
    inputs={"value": Input(MASK_OPACITY_ID, "value")},
    prevent_initial_call=True,
)
def mask_opacity(value: float | None) -> dict[str, Any]:
    """The opacity of the drawn masks, on the results and in the detail (a CSS variable)."""
    style = opacity_style(value)
    return {"sections": style, "detail": style}


@callback(
    output={"sections": Output("eval-sections", "className")},
    inputs={"errors": Input(ERROR_VIEW_ID, "value")},
    prevent_initial_call=True,
)
def error_view(errors: bool | None) -> dict[str, Any]:
    """The error view switch: a class on the results (the tiles hold both pictures)."""
    return {"sections": SECTIONS_CLASS + (f" {ERROR_VIEW_CLASS}" if errors else "")}
