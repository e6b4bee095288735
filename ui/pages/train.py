"""The Training page: configure and start experiments, watch them live, cancel, resume, compare.

* A form built from the project's task (:func:`aistudio.commands.training_info`): the model
  (with its size and what it needs), image size, epochs, batch size, learning rate, and under
  "Advanced" the optimizer, weight decay, schedule with warm-up, early stopping, augmentations,
  precision, device, seed and the task's own options. Every change is checked like Start would
  (:func:`aistudio.commands.check_training`): the field at fault is marked with the reason.
* The project's experiments with status badges; the selected one's weights sentence, progress
  bar with ETA, loss and metric curves, failure with the traceback's tail, and its actions
  (cancel, resume to N epochs, re-run, copy its settings into the form).
* A comparison of chosen experiments: overlaid curves and the settings that differ.

Everything shown comes from the experiments view (the log), so a reload shows the same; the
shell's ``tick`` refreshes it about once a second and the page re-renders only what changed.
Writes go through :mod:`aistudio.commands` with ``actor="ui"``. ``?at=SEQ`` shows the
experiments as they were right after that event, read-only; ``?experiment=exp-…`` selects one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from aistudio import commands
from aistudio.commands import CommandError, TaskTrainingInfo
from events.schemas.training import TrainingConfig
from projections.dataset import DatasetView
from projections.experiments import ExperimentEntry, ExperimentsView
from ui.components.confirm import dialog_error
from ui.components.empty_state import empty_state, project_not_found
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
from ui.components.training_charts import compare_figure, curves_figure
from ui.components.training_form import (
    ACCELERATORS,
    CHECKED,
    CONTROL_IDS,
    CONTROL_KEYS,
    OPTIMIZERS,
    OPTION_TYPE,
    PRECISIONS,
    SCHEDULERS,
    check_form,
    find_model,
    form_values,
    model_help,
    model_options,
    option_controls,
    options_from_controls,
    plan_summary,
    resource_parts,
)
from ui.components.training_runs import (
    ITEM_TYPE,
    compare_table,
    default_selection,
    experiment_list,
    facts_row,
    failure_alert,
    next_step,
    progress_bar,
    run_progress,
    status_badge,
    summary_line,
    weights_callout,
)
from ui.state import get_state

logger = logging.getLogger(__name__)

dash.register_page(
    __name__,
    path_template="/project/<project_id>/train",
    title="Train · AI Studio",
    name="Train",
)

_HIDDEN: dict[str, str] = {"display": "none"}
_SHOWN: dict[str, str] = {}


# ---------------------------------------------------------------------- reading the state
def task_info(project_id: str) -> TaskTrainingInfo | None:
    """What the project's task offers to train (None when it has no training yet)."""
    project = get_state().live_project(project_id)
    if project is None:
        return None
    try:
        return commands.training_info(project.task)
    except CommandError:
        return None


def views(project_id: str, at: int | None = None) -> tuple[ExperimentsView, DatasetView]:
    """The experiments and dataset views, now or right after event ``at``."""
    state = get_state()
    return state.view(project_id, "experiments", at=at), state.view(project_id, "dataset", at=at)


def page_signature(experiments: ExperimentsView, dataset: DatasetView) -> dict[str, Any]:
    """What the page's live parts depend on (re-rendered only when it changes)."""
    return {
        "experiments": [[e.experiment_id, e.updated_seq] for e in experiments.experiments.values()],
        "splits": list(dataset.splits),
        "images": len(dataset.images),
    }


def curve_signature(entry: ExperimentEntry | None, theme: str | None) -> list[Any]:
    """What one experiment's curves depend on."""
    if entry is None:
        return [None, theme]
    best = entry.best.epoch if entry.best else None
    last = entry.history[-1].seq if entry.history else None
    return [entry.experiment_id, len(entry.history), last, best, entry.epochs, theme]


# ---------------------------------------------------------------------- actions
def start_training(
    project_id: str, values: dict[str, Any], options: dict[str, Any]
) -> tuple[str | None, str | None]:
    """Start an experiment from the form; ``(experiment id, None)`` or ``(None, why not)``."""
    state = get_state()
    if state.live_project(project_id) is None:
        return None, "This project no longer exists."
    experiments, dataset = views(project_id)
    check = check_form(state.workspace, project_id, values, options, dataset, experiments)
    if check.errors:
        return None, next(iter(check.errors.values()))
    try:
        event = commands.request_training(
            state.workspace,
            project_id,
            check.name,
            check.split,
            check.config,
            actor="ui",
            dataset=dataset,
            experiments=experiments,
        )
    except CommandError as exc:
        return None, str(exc)
    logger.info("training requested: %s (%s)", event.data["name"], event.data["experiment_id"])
    return str(event.data["experiment_id"]), None


def cancel_experiment(project_id: str, experiment_id: str) -> str | None:
    """Ask the experiment's run to stop; the reason it was refused, or None."""
    state = get_state()
    experiments, _ = views(project_id)
    entry = experiments.get(experiment_id)
    if entry is None:
        return "This experiment does not exist."
    if not entry.is_active:
        return f"“{entry.name}” is not running ({entry.status})."
    try:
        commands.request_cancel(state.workspace, project_id, entry.job_id, actor="ui")
    except CommandError as exc:
        return str(exc)
    return None


def resume_experiment(project_id: str, experiment_id: str, epochs: Any) -> str | None:
    """Resume the experiment up to ``epochs``; the reason it was refused, or None."""
    state = get_state()
    experiments, dataset = views(project_id)
    if isinstance(epochs, float) and epochs.is_integer():
        epochs = int(epochs)
    if isinstance(epochs, bool) or not isinstance(epochs, int):
        entry = experiments.get(experiment_id)
        last = entry.checkpoints.get("last") if entry is not None else None
        done = last.epoch if last is not None else 0
        limit = TrainingConfig.model_json_schema()["properties"]["epochs"]["maximum"]
        return f"Enter the epoch to train up to: a whole number from {done + 1} to {limit}."
    try:
        commands.request_training(
            state.workspace,
            project_id,
            None,
            None,
            {"epochs": epochs},
            actor="ui",
            resume_experiment=experiment_id,
            dataset=dataset,
            experiments=experiments,
        )
    except CommandError as exc:
        return str(exc)[:1].upper() + str(exc)[1:]
    return None


def rerun(project_id: str, experiment_id: str) -> tuple[str | None, str | None]:
    """Start the experiment again as a new one; ``(new id, None)`` or ``(None, why not)``."""
    state = get_state()
    experiments, dataset = views(project_id)
    try:
        event = commands.rerun_experiment(
            state.workspace,
            project_id,
            experiment_id,
            actor="ui",
            dataset=dataset,
            experiments=experiments,
        )
    except CommandError as exc:
        return None, str(exc)
    return str(event.data["experiment_id"]), None


def resume_default_epochs(entry: ExperimentEntry) -> int:
    """What the resume dialog proposes: the planned epochs, or twice as many once reached."""
    done = entry.checkpoints["last"].epoch if "last" in entry.checkpoints else entry.epochs_done
    return entry.epochs if entry.epochs > done else max(done * 2, done + 1)


# ---------------------------------------------------------------------- rendering
def detail_parts(
    entry: ExperimentEntry | None, read_only: bool, now: datetime, project_id: str = ""
) -> dict[str, Any]:
    """The selected experiment's parts, by output (head, alerts, facts, progress, buttons); a
    completed run offers its next step, Evaluate (not in a view of the past)."""
    if entry is None:
        hidden = {"display": "none"}
        return {
            "head": html.Span("No experiment selected", className="text-body-secondary"),
            "alerts": [],
            "facts": [],
            "progress": [],
            "summary": "",
            "cancel": hidden,
            "resume": hidden,
            "rerun": hidden,
            "use": hidden,
            "card": hidden,
        }
    head = html.Div(
        [
            html.Span(entry.name, className="fw-semibold fs-5 text-truncate me-2"),
            status_badge(entry, id="train-status-badge"),
            html.Small(
                entry.experiment_id,
                className="text-body-secondary ms-2 font-monospace",
                title=f"Requested by event #{entry.created_seq}; {len(entry.runs)} run(s)",
            ),
        ],
        className="d-flex align-items-center flex-wrap",
    )
    follow = None if read_only or not project_id else next_step(entry, project_id)
    alerts = [a for a in (follow, failure_alert(entry), weights_callout(entry)) if a is not None]
    show = _SHOWN if not read_only else _HIDDEN
    progress = run_progress(entry, now)
    if read_only:  # the past: no moving bar, no time left
        progress.animated = False
    return {
        "head": head,
        "alerts": alerts,
        "facts": facts_row(entry),
        "progress": progress_bar(progress),
        "summary": summary_line(entry),
        "cancel": show if entry.is_active and not entry.cancel_requested else _HIDDEN,
        "resume": show if entry.resumable else _HIDDEN,
        "rerun": show,
        "use": show,
        "card": _SHOWN,
    }


def _select(id: str, options: tuple[tuple[str, str], ...], value: Any) -> dbc.Select:
    return dbc.Select(
        id=id, options=[{"label": label, "value": v} for v, label in options], value=value
    )


def _field(
    key: str,
    label: str,
    control: Component,
    help_text: str | None = None,
    width: int = 6,
) -> dbc.Col:
    children: list[Component] = [
        dbc.Label(label, html_for=CONTROL_IDS[key], className="small mb-1"),
        control,
    ]
    if key in CHECKED:
        children.append(dbc.FormFeedback(id=f"{CONTROL_IDS[key]}-feedback", type="invalid"))
    if help_text:
        children.append(dbc.FormText(help_text))
    return dbc.Col(children, xs=width, className="mb-2")


def _number(key: str, value: Any, step: Any = 1, minimum: Any = None, **props: Any) -> dbc.Input:
    return dbc.Input(
        id=CONTROL_IDS[key], type="number", value=value, step=step, min=minimum, **props
    )


def form_card(
    info: TaskTrainingInfo, values: dict[str, Any], splits: list[str], visible: bool
) -> dbc.Card:
    """The New experiment form, filled with ``values``."""
    model = find_model(info, values.get("model"))
    models = model_options(info.models)
    essentials = dbc.Row(
        [
            _field("name", "Name", dbc.Input(id="train-name", value=values["name"]), width=12),
            _field(
                "split",
                "Split",
                dbc.Select(
                    id="train-split",
                    options=[{"label": s, "value": s} for s in splits],
                    value=values.get("split"),
                ),
                width=12,
            ),
            dbc.Col(
                [
                    dbc.Label("Model", html_for="train-model", className="small mb-1"),
                    dbc.Select(id="train-model", options=models, value=values.get("model")),
                    dbc.FormFeedback(id="train-model-feedback", type="invalid"),
                    html.Div(
                        model_help(model),
                        id="train-model-help",
                        className="form-text train-model-help",
                    ),
                ],
                xs=12,
                className="mb-2",
            ),
            _field("image_size", "Image size (px)", _number("image_size", values["image_size"])),
            _field("epochs", "Epochs", _number("epochs", values["epochs"], minimum=1)),
            _field(
                "batch_size", "Batch size", _number("batch_size", values["batch_size"], minimum=1)
            ),
            _field("lr", "Learning rate", _number("lr", values["lr"], step="any", minimum=0)),
        ],
        className="g-2",
    )
    advanced = dbc.Row(
        [
            _field(
                "optimizer",
                "Optimizer",
                _select("train-optimizer", OPTIMIZERS, values["optimizer"]),
            ),
            _field(
                "weight_decay",
                "Weight decay",
                _number("weight_decay", values["weight_decay"], step="any", minimum=0),
            ),
            _field(
                "momentum",
                "Momentum",
                _number("momentum", values["momentum"], step="any", minimum=0),
                "SGD only",
            ),
            _field("seed", "Seed", _number("seed", values["seed"])),
            _field(
                "scheduler", "Schedule", _select("train-scheduler", SCHEDULERS, values["scheduler"])
            ),
            _field(
                "warmup_epochs",
                "Warm-up epochs",
                _number("warmup_epochs", values["warmup_epochs"], minimum=0),
                "Learning rate ramp",
            ),
            dbc.Col(
                dbc.Row(
                    [
                        _field(
                            "step_size",
                            "Step every (epochs)",
                            _number("step_size", values["step_size"], minimum=1),
                        ),
                        _field(
                            "gamma", "Step factor", _number("gamma", values["gamma"], step="any")
                        ),
                    ],
                    className="g-2",
                ),
                xs=12,
                id="train-step-row",
                style=_SHOWN if values.get("scheduler") == "step" else _HIDDEN,
            ),
            _field(
                "early_stopping_patience",
                "Early stopping",
                _number(
                    "early_stopping_patience",
                    values["early_stopping_patience"],
                    minimum=1,
                    placeholder="off",
                ),
                "Epochs without progress",
            ),
            _field(
                "precision",
                "Precision",
                _select("train-precision", PRECISIONS, values["precision"]),
            ),
            _field(
                "accelerator",
                "Device",
                _select("train-accelerator", ACCELERATORS, values["accelerator"]),
                width=12,
            ),
            dbc.Col(
                dbc.Switch(
                    id="train-pretrained",
                    label="Start from ImageNet weights when they are on this machine",
                    value=bool(values["pretrained"]),
                ),
                xs=12,
                className="mb-2",
            ),
            dbc.Col(
                html.Div(
                    "Augmentations (training images only)", className="small fw-semibold mt-1"
                ),
                xs=12,
            ),
            dbc.Col(
                [
                    dbc.Switch(
                        id="train-aug-crop",
                        label="Random resized crop",
                        value=bool(values["augmentations.random_resized_crop"]),
                    ),
                    dbc.Switch(
                        id="train-aug-hflip",
                        label="Horizontal flip",
                        value=bool(values["augmentations.horizontal_flip"]),
                    ),
                    dbc.Switch(
                        id="train-aug-vflip",
                        label="Vertical flip",
                        value=bool(values["augmentations.vertical_flip"]),
                    ),
                ],
                xs=12,
                className="mb-1",
            ),
            _field(
                "augmentations.rotation_degrees",
                "Rotation (±°)",
                _number(
                    "augmentations.rotation_degrees",
                    values["augmentations.rotation_degrees"],
                    step="any",
                    minimum=0,
                    max=180,
                ),
            ),
            _field(
                "augmentations.color_jitter",
                "Colour jitter",
                _number(
                    "augmentations.color_jitter",
                    values["augmentations.color_jitter"],
                    step=0.05,
                    minimum=0,
                    max=1,
                ),
            ),
            dbc.Col(
                [
                    html.Div(f"{info.title} options", className="small fw-semibold mt-1 mb-1"),
                    html.Div(
                        option_controls(info.options_schema, info.defaults.get("task_options", {})),
                        id="train-options",
                    ),
                ],
                xs=12,
            ),
        ],
        className="g-2",
    )
    return dbc.Card(
        [
            dbc.CardHeader(
                html.Div(
                    [
                        html.Span(
                            [html.I(className="bi bi-plus-circle me-2"), "New experiment"],
                            className="fw-semibold",
                        ),
                        dbc.Button(
                            [html.I(className="bi bi-arrow-counterclockwise me-1"), "Defaults"],
                            id="train-defaults",
                            color="link",
                            size="sm",
                            className="ms-auto p-0",
                            n_clicks=0,
                            title=f"The defaults of {info.title.lower()}",
                        ),
                    ],
                    className="d-flex align-items-center",
                ),
                className="bg-transparent",
            ),
            dbc.CardBody(
                [
                    essentials,
                    html.Details(
                        [
                            html.Summary("Advanced settings", className="small fw-semibold mb-2"),
                            advanced,
                        ],
                        className="train-advanced mt-1",
                        id="train-advanced",
                    ),
                    html.Div(id="train-form-error", className="small text-danger mt-2"),
                    html.Div(id="train-plan", className="small text-body-secondary mt-2"),
                    html.Div(id="train-estimate", className="small mt-1 train-estimate"),
                    dbc.Button(
                        [html.I(className="bi bi-play-fill me-1"), "Start training"],
                        id="train-start",
                        color="primary",
                        className="w-100 mt-3",
                        n_clicks=0,
                    ),
                ]
            ),
        ],
        className="shadow-sm mb-4",
        id="train-form-card",
        style=_SHOWN if visible else _HIDDEN,
    )


def _no_split(project_id: str, has_images: bool, visible: bool) -> html.Div:
    if has_images:
        text = (
            "Training learns from the train subset of a split and picks its best epoch on the "
            "validation subset. Create a split first, then come back here."
        )
        action = dbc.Button(
            [html.I(className="bi bi-diagram-3 me-1"), "Create a split"],
            href=project_page_path(project_id, "split"),
            color="primary",
        )
    else:
        text = "Import images, split them into train, validation and test, then train here."
        action = dbc.Button(
            [html.I(className="bi bi-images me-1"), "Import images"],
            href=project_page_path(project_id, "dataset"),
            color="primary",
        )
    return html.Div(
        dbc.Card(
            dbc.CardBody(empty_state("diagram-3", "No split yet", text, action)),
            className="shadow-sm mb-4",
        ),
        id="train-no-split",
        style=_SHOWN if visible else _HIDDEN,
    )


def _detail_card() -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(
                html.Div(
                    [
                        html.Div(id="train-detail-head", className="min-w-0 flex-grow-1"),
                        html.Div(
                            [
                                action_button("train-cancel", "stop-circle", "Cancel", "danger"),
                                action_button(
                                    "train-resume", "play-circle", "Resume…", "primary", False
                                ),
                                action_button("train-rerun", "arrow-repeat", "Re-run", "secondary"),
                                action_button(
                                    "train-use-config",
                                    "box-arrow-in-left",
                                    "Use settings",
                                    "secondary",
                                ),
                            ],
                            className="d-flex gap-2 flex-wrap",
                        ),
                    ],
                    className="d-flex align-items-center gap-2 flex-wrap",
                ),
                className="bg-transparent",
            ),
            dbc.CardBody(
                [
                    html.Div(id="train-alerts"),
                    html.Div(id="train-facts", className="mb-3"),
                    html.Div(id="train-progress", className="mb-2"),
                    dcc.Graph(
                        id="train-curves",
                        config={"displayModeBar": False, "responsive": True},
                        style={"height": "340px"},
                    ),
                    html.Div(id="train-summary", className="small text-body-secondary mt-1"),
                ]
            ),
        ],
        className="shadow-sm mb-4",
        id="train-detail",
        style=_HIDDEN,
    )


def _compare_card(options: list[dict[str, str]]) -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(
                [html.I(className="bi bi-layers me-2"), "Compare experiments"],
                className="fw-semibold bg-transparent",
            ),
            dbc.CardBody(
                [
                    dcc.Dropdown(
                        id="train-compare",
                        options=options,
                        value=[],
                        multi=True,
                        placeholder="Choose the experiments to overlay…",
                        className="train-compare-dropdown mb-3",
                    ),
                    html.Div(
                        dcc.Graph(
                            id="train-compare-graph",
                            config={"displayModeBar": False, "responsive": True},
                            style={"height": "360px"},
                        ),
                        id="train-compare-area",
                        style=_HIDDEN,
                    ),
                    html.Div(id="train-compare-table", className="mt-3"),
                ]
            ),
        ],
        className="shadow-sm mb-4",
    )


def _resume_modal() -> dbc.Modal:
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Resume training")),
            dbc.ModalBody(
                [
                    html.Div(id="train-resume-body", className="mb-3"),
                    dbc.Label("Train up to epoch", html_for="train-resume-epochs"),
                    dbc.Input(id="train-resume-epochs", type="number", min=1, step=1),
                    dbc.FormText(
                        "It continues from its last checkpoint with the same settings; only the "
                        "number of epochs may grow."
                    ),
                    html.Div(id="train-resume-error", className="mt-2"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button(
                        "Cancel",
                        id="train-resume-close",
                        color="secondary",
                        outline=True,
                        n_clicks=0,
                    ),
                    dbc.Button(
                        [html.I(className="bi bi-play-fill me-1"), "Resume"],
                        id="train-resume-confirm",
                        color="primary",
                        n_clicks=0,
                    ),
                ]
            ),
        ],
        id="train-resume-modal",
        is_open=False,
        centered=True,
    )


def _compare_options(experiments: ExperimentsView) -> list[dict[str, str]]:
    return [
        {"label": e.name, "value": e.experiment_id}
        for e in reversed(experiments.experiments.values())
    ]


def _header(subtitle: str) -> html.Div:
    return page_header("Train", subtitle, "train")


def _stores(
    project_id: str, at: int | None, selected: str | None, info: TaskTrainingInfo
) -> list[Any]:
    return [
        dcc.Store(id="train-project", data=project_id),
        dcc.Store(id="train-at", data=at),
        dcc.Store(id="train-sig"),
        dcc.Store(id="train-curve-sig"),
        dcc.Store(id="train-compare-sig"),
        dcc.Store(id="train-selected", data=selected),
        dcc.Store(id="train-version", data=0),
        dcc.Store(
            id="train-task",
            data={"primary": info.primary_metric, "mode": info.metric_mode},
        ),
    ]


def layout(project_id: str | None = None, **query: str) -> html.Div:
    """The page for ``project_id``; ``?at=SEQ`` shows it as of that event, read-only."""
    state = get_state()
    project = state.live_project(project_id) if project_id else None
    if not project_id or project is None:
        return project_not_found(project_id)
    info = task_info(project_id)
    if info is None:
        return html.Div(
            [
                _header("Train a model on the project's split."),
                unsupported_task(
                    project_id,
                    f"Training {project.task.replace('_', ' ')} models is coming",
                    "This version trains classification and regression models. Your dataset and "
                    "splits are ready for when this task arrives.",
                    id="train-unsupported",
                ),
            ]
        )
    at = parse_at(query.get("at"))
    if at is not None:
        return _time_travel_layout(project_id, at, info, query.get("experiment"))
    experiments, dataset = views(project_id)
    selected = default_selection(experiments, query.get("experiment"))
    values = form_values(
        info.defaults,
        commands.suggest_experiment_name(experiments, info.default_model),
        next(reversed(dataset.splits), None) if dataset.splits else None,
    )
    has_split = bool(dataset.splits)
    return html.Div(
        [
            *_stores(project_id, None, selected, info),
            _header(
                "Pick a model and settings, start training, and watch its curves live. Runs "
                "survive a reload and can be cancelled, resumed and compared."
            ),
            html.Div(id="train-status"),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            _no_split(project_id, bool(dataset.images), not has_split),
                            form_card(info, values, list(dataset.splits), has_split),
                        ],
                        lg=5,
                        xl=4,
                    ),
                    dbc.Col([list_card("train", "Experiments"), _detail_card()], lg=7, xl=8),
                ]
            ),
            _compare_card(_compare_options(experiments)),
            _resume_modal(),
        ],
        className="train-page",
    )


def _time_travel_layout(
    project_id: str, at: int, info: TaskTrainingInfo, wanted: str | None
) -> html.Div:
    """The experiments as they were right after event ``at``: read-only, no form."""
    banner = past_banner(project_id, at, "train")
    if banner is None:
        return no_such_event(project_id, at, "train")
    experiments, _ = views(project_id, at)
    n = len(experiments.experiments)
    return html.Div(
        [
            *_stores(project_id, at, default_selection(experiments, wanted), info),
            banner,
            _header(
                f"As it was right after event #{at}: {n} experiment{'s' if n != 1 else ''}. "
                "Read-only."
            ),
            html.Div(id="train-status"),
            dbc.Row(
                [
                    dbc.Col(list_card("train", "Experiments"), lg=5, xl=4),
                    dbc.Col(_detail_card(), lg=7, xl=8),
                ]
            ),
            _compare_card(_compare_options(experiments)),
            _resume_modal(),
        ],
        className="train-page",
    )


# ---------------------------------------------------------------------- callbacks: live
refresh = live_signature_callback(
    "train", lambda project_id, at: page_signature(*views(project_id, at))
)


@callback(
    Output("train-split", "options"),
    Output("train-split", "value"),
    Output("train-form-card", "style"),
    Output("train-no-split", "style"),
    Input("train-sig", "data"),
    State("train-split", "value"),
    State("train-project", "data"),
)
def update_splits(
    signature: dict[str, Any] | None, current: str | None, project_id: str | None
) -> tuple[Any, ...]:
    """The split menu follows the project's splits; the form shows once there is one."""
    if not signature or not project_id:
        raise PreventUpdate
    splits = list(signature.get("splits", []))
    value = current if current in splits else (splits[-1] if splits else None)
    options = [{"label": s, "value": s} for s in splits]
    return options, value, _SHOWN if splits else _HIDDEN, _HIDDEN if splits else _SHOWN


@callback(
    Output("train-experiments", "children"),
    Output("train-detail-head", "children"),
    Output("train-alerts", "children"),
    Output("train-facts", "children"),
    Output("train-progress", "children"),
    Output("train-summary", "children"),
    Output("train-cancel", "style"),
    Output("train-resume", "style"),
    Output("train-rerun", "style"),
    Output("train-use-config", "style"),
    Output("train-compare", "options"),
    Output("train-detail", "style"),
    Input("train-sig", "data"),
    Input("train-selected", "data"),
    State("train-project", "data"),
    State("train-at", "data"),
)
def render_runs(
    signature: dict[str, Any] | None,
    selected: str | None,
    project_id: str | None,
    at: int | None,
) -> tuple[Any, ...]:
    """The list and the selected experiment's details (not its curves: see render_curves)."""
    if not signature or not project_id:
        raise PreventUpdate
    experiments, _ = views(project_id, at)
    now = datetime.now(timezone.utc)
    entry = experiments.get(selected) if selected else None
    parts = detail_parts(entry, at is not None, now, project_id)
    return (
        experiment_list(experiments, selected, now, past=at is not None),
        parts["head"],
        parts["alerts"],
        parts["facts"],
        parts["progress"],
        parts["summary"],
        parts["cancel"],
        parts["resume"],
        parts["rerun"],
        parts["use"],
        _compare_options(experiments),
        parts["card"],
    )


@callback(
    Output("train-curves", "figure"),
    Output("train-curve-sig", "data"),
    Input("train-sig", "data"),
    Input("train-selected", "data"),
    Input("theme", "data"),
    State("train-project", "data"),
    State("train-at", "data"),
    State("train-task", "data"),
    State("train-curve-sig", "data"),
)
def render_curves(
    signature: dict[str, Any] | None,
    selected: str | None,
    theme: str | None,
    project_id: str | None,
    at: int | None,
    task: dict[str, str] | None,
    curve_sig: list[Any] | None,
) -> tuple[Any, ...]:
    """The selected experiment's curves, redrawn only when an epoch or its best changed."""
    if not signature or not project_id:
        raise PreventUpdate
    experiments, _ = views(project_id, at)
    entry = experiments.get(selected) if selected else None
    fresh = curve_signature(entry, theme)
    if fresh == curve_sig:
        raise PreventUpdate
    task = task or {}
    waiting = (
        "Waiting for the first epoch…"
        if entry is not None and entry.is_active
        else "No epoch finished"
    )
    figure = curves_figure(entry, task.get("primary", ""), task.get("mode", "max"), theme, waiting)
    return figure, fresh


@callback(
    Output("train-compare-graph", "figure"),
    Output("train-compare-table", "children"),
    Output("train-compare-area", "style"),
    Output("train-compare-sig", "data"),
    Input("train-compare", "value"),
    Input("train-sig", "data"),
    Input("theme", "data"),
    State("train-project", "data"),
    State("train-at", "data"),
    State("train-task", "data"),
    State("train-compare-sig", "data"),
)
def render_compare(
    chosen: list[str] | None,
    signature: dict[str, Any] | None,
    theme: str | None,
    project_id: str | None,
    at: int | None,
    task: dict[str, str] | None,
    compare_sig: list[Any] | None,
) -> tuple[Any, ...]:
    """The chosen experiments' curves overlaid, and the settings that differ between them."""
    if not project_id or not signature:
        raise PreventUpdate
    experiments, _ = views(project_id, at)
    entries = [experiments.experiments[i] for i in chosen or [] if i in experiments.experiments]
    fresh = [[e.experiment_id, e.updated_seq] for e in entries] + [theme]
    if fresh == compare_sig:
        raise PreventUpdate
    task = task or {}
    figure = compare_figure(entries, task.get("primary", ""), task.get("mode", "max"), theme)
    return figure, compare_table(entries), _SHOWN if entries else _HIDDEN, fresh


@callback(
    Output("train-selected", "data"),
    Input({"type": ITEM_TYPE, "index": ALL}, "n_clicks"),
    State("train-selected", "data"),
    prevent_initial_call=True,
)
def select_experiment(clicks: list[int | None], current: str | None) -> str:
    """Select the experiment whose list item was clicked."""
    return chosen_experiment(ctx.triggered_id, clicked_value(), current)


# ---------------------------------------------------------------------- callbacks: the form
@callback(
    output={
        "invalid": {key: Output(CONTROL_IDS[key], "invalid") for key in CHECKED},
        "messages": {key: Output(f"{CONTROL_IDS[key]}-feedback", "children") for key in CHECKED},
        "help": Output("train-model-help", "children"),
        "models": Output("train-model", "options"),
        "general": Output("train-form-error", "children"),
        "plan": Output("train-plan", "children"),
        "estimate": Output("train-estimate", "children"),
        "disabled": Output("train-start", "disabled"),
        "step_style": Output("train-step-row", "style"),
    },
    inputs={
        "values": {key: Input(CONTROL_IDS[key], "value") for key in CONTROL_KEYS},
        "option_values": Input({"type": OPTION_TYPE, "name": ALL}, "value"),
        "signature": Input("train-sig", "data"),
    },
    state={
        "option_ids": State({"type": OPTION_TYPE, "name": ALL}, "id"),
        "project_id": State("train-project", "data"),
    },
)
def validate_form(
    values: dict[str, Any],
    option_values: list[Any] | None,
    signature: Any,
    option_ids: list[dict[str, str]] | None,
    project_id: str | None,
) -> dict[str, Any]:
    """Check the form as it changes, like Start would; mark the field at fault and say why,
    and show the run's estimated memory and time on this machine."""
    if not project_id:
        raise PreventUpdate
    return form_feedback(project_id, values, options_from_controls(option_ids, option_values))


def form_feedback(project_id: str, raw: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The validation outputs of the form for these values, by name (see :func:`validate_form`):
    ``invalid`` and ``messages`` by control key, the model's ``help`` and menu ``models`` (the
    parameters with this project's head, as the run will count them), the ``general`` error,
    the ``plan``, the ``estimate`` (memory and time, with an alert when it cannot fit or would
    take hours), whether Start is ``disabled``, and the step row's ``step_style``."""
    state = get_state()
    info = task_info(project_id)
    if info is None:
        raise PreventUpdate
    experiments, dataset = views(project_id)
    check = check_form(state.workspace, project_id, raw, options, dataset, experiments)
    errors = check.errors
    general = errors.get("", "")
    plan: list[Component] = []
    if check.plan is not None:
        plan.append(
            html.Div([html.I(className="bi bi-info-circle me-1"), plan_summary(check.plan)])
        )
        for note in check.plan.notes:
            plan.append(
                html.Div(
                    [
                        html.I(className="bi bi-exclamation-circle me-1"),
                        note[:1].upper() + note[1:] + ".",
                    ],
                    className="text-warning-emphasis mt-1",
                )
            )
    hidden_errors = [
        f"{key.split('.')[-1].replace('_', ' ')}: {message}"
        for key, message in errors.items()
        if key and key not in ("name", "split", "model", "image_size", "epochs", "batch_size", "lr")
    ]
    if hidden_errors and not general:
        general = "Advanced settings: " + " ".join(hidden_errors)
    counts = check.plan.parameters if check.plan is not None else {}
    model = raw.get("model")
    return {
        "invalid": {key: key in errors for key in CHECKED},
        "messages": {key: errors.get(key, "") for key in CHECKED},
        "help": model_help(find_model(info, model), counts.get(str(model))),
        "models": model_options(info.models, counts) if counts else dash.no_update,
        "general": general,
        "plan": plan,
        "estimate": resource_parts(check.plan),
        "disabled": not check.ok,
        "step_style": _SHOWN if raw.get("scheduler") == "step" else _HIDDEN,
    }


@callback(
    [
        Output(CONTROL_IDS[key], "value", allow_duplicate=True)
        for key in CONTROL_KEYS
        if key not in ("name", "split")
    ]
    + [
        Output("train-options", "children"),
        Output("train-status", "children", allow_duplicate=True),
    ],
    Input("train-defaults", "n_clicks"),
    Input("train-use-config", "n_clicks"),
    State("train-selected", "data"),
    State("train-project", "data"),
    prevent_initial_call=True,
)
def fill_form(
    _defaults: int | None, _use: int | None, selected: str | None, project_id: str | None
) -> list[Any]:
    """Fill the form with the task's defaults, or with the selected experiment's settings."""
    return form_fill(ctx.triggered_id, clicked_value(), selected, project_id)


def form_fill(
    trigger: Any, clicked: Any, selected: str | None, project_id: str | None
) -> list[Any]:
    """The form's values (in :data:`CONTROL_KEYS` order, without name and split), its task
    options and a status message, for Defaults or Use settings (``trigger``)."""
    if not project_id or not clicked:
        raise PreventUpdate
    info = task_info(project_id)
    if info is None:
        raise PreventUpdate
    config = info.defaults
    status: Any = dash.no_update
    if trigger == "train-use-config":
        experiments, _ = views(project_id)
        entry = experiments.get(selected) if selected else None
        if entry is None:
            raise PreventUpdate
        config = {**info.defaults, **entry.config}
        status = dbc.Alert(
            [
                html.I(className="bi bi-box-arrow-in-left me-2"),
                f"The form now holds the settings of “{entry.name}”: change what you want "
                "to try, then start.",
            ],
            color="info",
            dismissable=True,
            duration=6000,
        )
    values = form_values(config, "", None)
    return [values[key] for key in CONTROL_KEYS if key not in ("name", "split")] + [
        option_controls(info.options_schema, config.get("task_options", {})),
        status,
    ]


# ---------------------------------------------------------------------- callbacks: actions
_STATUS_ALERT = "train-status-alert"


def _alert(ok: bool, message: Any) -> dbc.Alert:
    return status_alert(ok, message, _STATUS_ALERT)


@callback(
    Output("train-status", "children", allow_duplicate=True),
    Output("train-version", "data", allow_duplicate=True),
    Output("train-selected", "data", allow_duplicate=True),
    Output("train-name", "value"),
    Input("train-start", "n_clicks"),
    [State(CONTROL_IDS[key], "value") for key in CONTROL_KEYS]
    + [
        State({"type": OPTION_TYPE, "name": ALL}, "value"),
        State({"type": OPTION_TYPE, "name": ALL}, "id"),
        State("train-project", "data"),
        State("train-version", "data"),
    ],
    prevent_initial_call=True,
)
def on_start(clicks: int | None, *args: Any) -> tuple[Any, ...]:
    """Start the experiment the form describes."""
    n = len(CONTROL_KEYS)
    raw = dict(zip(CONTROL_KEYS, args[:n], strict=True))
    option_values, option_ids, project_id, version = args[n:]
    if not clicks or not project_id:
        raise PreventUpdate
    experiment_id, error = start_training(
        project_id, raw, options_from_controls(option_ids, option_values)
    )
    if experiment_id is None:
        return _alert(False, error), dash.no_update, dash.no_update, dash.no_update
    experiments, _ = views(project_id)
    model = raw.get("model") or ""
    return (
        _alert(
            True,
            [
                "Training ",
                html.B(str(raw.get("name") or "").strip()),
                " queued: its curves appear below as soon as a worker starts it.",
            ],
        ),
        (version or 0) + 1,
        experiment_id,
        commands.suggest_experiment_name(experiments, str(model)),
    )


@callback(
    Output("train-status", "children", allow_duplicate=True),
    Output("train-version", "data", allow_duplicate=True),
    Input("train-cancel", "n_clicks"),
    State("train-selected", "data"),
    State("train-project", "data"),
    State("train-version", "data"),
    prevent_initial_call=True,
)
def on_cancel(
    clicks: int | None, selected: str | None, project_id: str | None, version: int | None
) -> tuple[Any, ...]:
    """Ask the selected experiment's run to stop (it keeps its last checkpoint)."""
    if not clicks or not project_id or not selected:
        raise PreventUpdate
    message = (
        "Cancel requested: the run stops after its current step and keeps its last checkpoint."
    )
    return action_outcome(cancel_experiment(project_id, selected), message, _STATUS_ALERT, version)


@callback(
    Output("train-resume-modal", "is_open"),
    Output("train-resume-body", "children"),
    Output("train-resume-epochs", "value"),
    Output("train-resume-error", "children"),
    Output("train-version", "data", allow_duplicate=True),
    Output("train-status", "children", allow_duplicate=True),
    Input("train-resume", "n_clicks"),
    Input("train-resume-confirm", "n_clicks"),
    Input("train-resume-close", "n_clicks"),
    State("train-resume-epochs", "value"),
    State("train-selected", "data"),
    State("train-project", "data"),
    State("train-version", "data"),
    prevent_initial_call=True,
)
def on_resume(
    _open: int | None,
    _confirm: int | None,
    _close: int | None,
    epochs: Any,
    selected: str | None,
    project_id: str | None,
    version: int | None,
) -> tuple[Any, ...]:
    """Open the resume dialog (asking for the epochs), resume, or close it."""
    return resume_dialog(ctx.triggered_id, clicked_value(), epochs, selected, project_id, version)


def resume_dialog(
    trigger: Any,
    clicked: Any,
    epochs: Any,
    selected: str | None,
    project_id: str | None,
    version: int | None,
) -> tuple[Any, ...]:
    """What the resume dialog does for one trigger.

    Returns:
        ``(open, body, epochs, error, version, status)``.
    """
    no = dash.no_update
    if not clicked or not project_id or not selected:
        raise PreventUpdate
    if trigger == "train-resume-close":
        return False, no, no, None, no, no
    experiments, _ = views(project_id)
    entry = experiments.get(selected)
    if entry is None:
        raise PreventUpdate
    if trigger == "train-resume":
        last = entry.checkpoints.get("last")
        body = html.P(
            [
                "Continue ",
                html.B(f"“{entry.name}”"),
                f" from its last checkpoint (epoch {last.epoch if last else '?'}, {entry.status}).",
            ],
            className="mb-0",
        )
        return True, body, resume_default_epochs(entry), None, no, no
    error = resume_experiment(project_id, selected, epochs)
    if error is not None:
        return True, no, no, dialog_error(error), no, no
    message = ["Resuming ", html.B(entry.name), f" up to epoch {epochs}."]
    return False, no, no, None, (version or 0) + 1, _alert(True, message)


@callback(
    Output("train-status", "children", allow_duplicate=True),
    Output("train-version", "data", allow_duplicate=True),
    Output("train-selected", "data", allow_duplicate=True),
    Input("train-rerun", "n_clicks"),
    State("train-selected", "data"),
    State("train-project", "data"),
    State("train-version", "data"),
    prevent_initial_call=True,
)
def on_rerun(
    clicks: int | None, selected: str | None, project_id: str | None, version: int | None
) -> tuple[Any, ...]:
    """Start the selected experiment again, as a new experiment with the exact same settings."""
    if not clicks or not project_id or not selected:
        raise PreventUpdate
    new_id, error = rerun(project_id, selected)
    if new_id is None:
        return _alert(False, error), dash.no_update, dash.no_update
    name = views(project_id)[0].experiments[new_id].name
    return _alert(True, ["Re-run queued as ", html.B(name), "."]), (version or 0) + 1, new_id
