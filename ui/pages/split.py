"""The Split page: divide a project's images into train, validation and test subsets.

A form (name, ratios, seed, stratification) with a live preview of the counts per subset and
class, computed by :func:`aistudio.commands.preview_split` before anything is written; the list
of the project's splits with their counts, each deletable. With ``?at=SEQ`` the page shows the
splits as they were right after that event, read-only (time travel).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter, OrderedDict
from datetime import datetime, timezone
from typing import Any, NamedTuple

import dash
import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import Input, Output, State, callback, dcc, html
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from aistudio import commands
from aistudio.commands import CommandError
from events.schemas.split import MAX_SEED
from projections.dataset import DatasetView
from projections.splits import SplitEntry, SplitsView
from ui.components.confirm import DeleteStep, delete_dialog_callback, delete_modal, delete_step
from ui.components.empty_state import empty_state, project_not_found
from ui.components.sidebar import project_page_path
from ui.components.theme import themed
from ui.components.time_travel import parse_at, time_travel_banner
from ui.components.timefmt import ago, parse_ts
from ui.state import get_state

logger = logging.getLogger(__name__)

dash.register_page(
    __name__,
    path_template="/project/<project_id>/split",
    title="Split · AI Studio",
    name="Split",
)

SUBSETS: tuple[str, ...] = ("train", "val", "test")
SUBSET_LABELS: dict[str, str] = {"train": "Train", "val": "Validation", "test": "Test"}
SUBSET_COLORS: dict[str, str] = {"train": "#0d6efd", "val": "#fd7e14", "test": "#20c997"}
DEFAULT_RATIOS: dict[str, float] = {"train": 0.7, "val": 0.15, "test": 0.15}
UNLABELED = "(unlabeled)"
ALL_IMAGES = "all images"
MAX_NAME = 80
_HIDDEN: dict[str, str] = {"display": "none"}
_SHOWN: dict[str, str] = {}


# ---------------------------------------------------------------------- time
def created_text(ts: str | None, now: datetime | None = None) -> str:
    """``28 Nov 2026 14:02 · 3 min ago`` (local time), or ``—``."""
    moment = parse_ts(ts)
    if moment is None:
        return "—"
    local = moment.astimezone()
    return f"{local.day} {local:%b %Y %H:%M} · {ago(ts, now)}"


# ---------------------------------------------------------------------- the form
class FormCheck:
    """What is wrong with the form's values (nothing, when every error is None).

    Attributes:
        ratios: the three ratios as numbers (None where not a number).
        ratio_error: why the ratios are not valid.
        invalid: subset -> whether its ratio input is marked invalid.
        fix_test: the test ratio that would make the sum 1, when that is a valid ratio.
        name_error: why the name is not valid.
        seed: the seed as an integer (None when not valid).
        seed_error: why the seed is not valid.
    """

    # A plain class: Dash runs page modules before they are in sys.modules, which dataclasses
    # with postponed annotations do not support.
    def __init__(self) -> None:
        self.ratios: dict[str, float | None] = {}
        self.ratio_error: str | None = None
        self.invalid: dict[str, bool] = {}
        self.fix_test: float | None = None
        self.name_error: str | None = None
        self.seed: int | None = None
        self.seed_error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether a split can be created from these values."""
        return self.ratio_error is None and self.name_error is None and self.seed_error is None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def check_ratios(train: Any, val: Any, test: Any) -> FormCheck:
    """Check the three ratios: numbers in [0, 1], train above 0, summing to 1."""
    check = FormCheck()
    values = {"train": _number(train), "val": _number(val), "test": _number(test)}
    check.ratios = values
    missing = [s for s, v in values.items() if v is None or not 0 <= v <= 1]
    if missing:
        check.invalid = {s: s in missing for s in SUBSETS}
        names = ", ".join(SUBSET_LABELS[s] for s in missing)
        check.ratio_error = f"{names}: enter a number from 0 to 1 (a share of the images)."
        return check
    check.invalid = dict.fromkeys(SUBSETS, False)
    tr, va, te = (float(values[s] or 0.0) for s in SUBSETS)
    if tr <= 0:
        check.invalid["train"] = True
        check.ratio_error = "Train must be above 0: the model needs images to learn from."
        return check
    total = tr + va + te
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        check.invalid = dict.fromkeys(SUBSETS, True)
        check.ratio_error = f"The ratios add up to {total:.2f}: they must sum to 1."
        rest = round(1.0 - tr - va, 6)
        if 0 <= rest <= 1:
            check.fix_test = rest
    return check


def check_form(
    existing: list[str] | tuple[str, ...],
    name: str | None,
    train: Any,
    val: Any,
    test: Any,
    seed: Any,
) -> FormCheck:
    """Check every field of the form against the project's ``existing`` split names."""
    check = check_ratios(train, val, test)
    clean = (name or "").strip()
    if not clean:
        check.name_error = "Give the split a name."
    elif len(clean) > MAX_NAME:
        check.name_error = f"The name is too long: {MAX_NAME} characters at most."
    elif any(ord(c) < 32 or ord(c) == 127 for c in clean):
        check.name_error = "The name has invalid characters."
    elif clean in existing:
        check.name_error = (
            f"A split named “{clean}” already exists: pick another name or delete it below."
        )
    number = _number(seed)
    if number is None or not 0 <= number <= MAX_SEED or not number.is_integer():
        check.seed_error = f"Seed: enter a whole number from 0 to {MAX_SEED}."
    else:
        check.seed = int(number)
    return check


def next_split_name(existing: list[str] | tuple[str, ...]) -> str:
    """``default`` when it is free, else the first free ``split-N``."""
    if "default" not in existing:
        return "default"
    n = 2
    while f"split-{n}" in existing:
        n += 1
    return f"split-{n}"


# ---------------------------------------------------------------------- preview
def dataset_fingerprint(dataset: DatasetView) -> list[Any]:
    """What a split of ``dataset`` depends on, in a form cheap to compare and to store.

    The seq is left out on purpose: job progress and other events do not change the images.
    """
    last = next(reversed(dataset.images), None) if dataset.images else None
    counts = [[name, count] for name, count in dataset.label_counts.items()]  # as JSON gives back
    return [len(dataset.images), dataset.unlabeled, counts, last]


_PREVIEW_CACHE: OrderedDict[tuple[Any, ...], dict[str, dict[str, int]]] = OrderedDict()
_PREVIEW_LOCK = threading.Lock()
_PREVIEW_CACHE_SIZE = 32


def preview_counts(
    project_id: str,
    dataset: DatasetView,
    ratios: dict[str, float],
    seed: int,
    stratify: bool,
    task: str | None = None,
) -> dict[str, dict[str, int]]:
    """``{subset: {class: images}}`` of the split these values would create (cached).

    Raises:
        CommandError: the split cannot be made (say, no image yet).
    """
    key = (
        project_id,
        repr(dataset_fingerprint(dataset)),
        ratios["train"],
        ratios["val"],
        ratios["test"],
        seed,
        bool(stratify),
        task,
    )
    with _PREVIEW_LOCK:
        cached = _PREVIEW_CACHE.get(key)
        if cached is not None:
            _PREVIEW_CACHE.move_to_end(key)
            return cached
    counts = commands.preview_split(
        dataset, ratios["train"], ratios["val"], ratios["test"], seed, bool(stratify), task
    )
    with _PREVIEW_LOCK:
        _PREVIEW_CACHE[key] = counts
        while len(_PREVIEW_CACHE) > _PREVIEW_CACHE_SIZE:
            _PREVIEW_CACHE.popitem(last=False)
    return counts


def subset_totals(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    """Images per subset from ``{subset: {class: images}}``."""
    return {s: sum(counts.get(s, {}).values()) for s in SUBSETS}


def counts_text(totals: dict[str, int]) -> str:
    """``train 140 · val 30 · test 30``."""
    return " · ".join(f"{s} {totals.get(s, 0):,}" for s in SUBSETS)


def preview_figure(
    counts: dict[str, dict[str, int]] | None,
    classes: list[str],
    theme: str | None,
    message: str | None = None,
) -> go.Figure:
    """Grouped bars of images per class, one colour per subset (or ``message`` when no counts).

    Args:
        counts: ``{subset: {class: images}}`` as :func:`preview_counts` gives it.
        classes: the dataset's classes, in their order (empty for unlabeled data, regression).
        theme: ``light`` or ``dark``.
        message: shown instead of bars when there are no counts.
    """
    fig = go.Figure()
    if counts is None:
        fig.add_annotation(
            text=message or "No preview",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
            font={"size": 14},
        )
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    else:
        labelled = [c for c in classes if any(counts.get(s, {}).get(c, 0) for s in SUBSETS)]
        others = sorted(  # the task's own groups ("(no object)"), then the unlabeled images
            {g for s in SUBSETS for g, n in counts.get(s, {}).items() if n}
            - set(classes)
            - {UNLABELED}
        )
        unlabeled = any(counts.get(s, {}).get(UNLABELED, 0) for s in SUBSETS)
        labelled += others
        x = (labelled + ([UNLABELED] if unlabeled else [])) if labelled else [ALL_IMAGES]
        totals = subset_totals(counts)
        for subset in SUBSETS:
            per_class = counts.get(subset, {})
            y = [per_class.get(c, 0) for c in x] if labelled else [totals[subset]]
            fig.add_bar(
                name=f"{subset} · {totals[subset]:,}",
                x=[str(c) for c in x],
                y=y,
                marker_color=SUBSET_COLORS[subset],
                hovertemplate=f"{subset}<br>%{{x}}: %{{y:,}} images<extra></extra>",
            )
        fig.update_layout(
            barmode="group",
            bargap=0.25,
            bargroupgap=0.05,
            legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
            xaxis={"title": "class" if labelled else None, "type": "category"},
            yaxis={"title": "images", "rangemode": "tozero"},
        )
    themed(fig, theme)
    fig.update_layout(height=340, margin={"l": 48, "r": 16, "t": 40, "b": 48})
    return fig


# ---------------------------------------------------------------------- the list
def membership_counts(entry: SplitEntry, dataset: DatasetView) -> dict[str, int]:
    """Images per subset of a split now (images removed since are not counted)."""
    members = dataset.splits.get(entry.name)
    if members is None:
        return {s: entry.counts.get(s, 0) for s in SUBSETS}
    tally = Counter(members.values())
    return {s: tally.get(s, 0) for s in SUBSETS}


def _ratio_text(ratios: dict[str, float]) -> str:
    return " / ".join(f"{round(ratios.get(s, 0.0) * 100):g}%" for s in SUBSETS)


def _subset_bar(totals: dict[str, int], ratios: dict[str, float] | None = None) -> dbc.Progress:
    """A thin stacked bar of the subsets (their counts, or their ratios when no image)."""
    total = sum(totals.values())
    shares = (
        {s: 100 * totals[s] / total for s in SUBSETS}
        if total
        else {s: 100 * (ratios or {}).get(s, 0.0) for s in SUBSETS}
    )
    return dbc.Progress(
        [
            dbc.Progress(
                value=shares[s],
                bar=True,
                color=SUBSET_COLORS[s],
            )
            for s in SUBSETS
        ],
        className="split-bar",
    )


def _class_table(dataset: DatasetView, name: str) -> Component | None:
    if name not in dataset.splits or not dataset.classes:
        return None
    per_subset = dataset.class_counts_by_subset(name)
    rows = [
        html.Tr(
            [html.Td(cls, className="text-truncate")]
            + [
                html.Td(f"{per_subset.get(s, {}).get(cls, 0):,}", className="text-end")
                for s in SUBSETS
            ]
        )
        for cls in dataset.classes
        if any(per_subset.get(s, {}).get(cls, 0) for s in SUBSETS)
    ]
    if not rows:
        return None
    head = html.Thead(
        html.Tr([html.Th("class")] + [html.Th(s, className="text-end") for s in SUBSETS])
    )
    return html.Details(
        [
            html.Summary(
                # class_counts_by_subset counts objects when the images hold objects
                "Objects per class" if any(dataset.object_counts.values()) else "Images per class",
                className="small text-body-secondary",
            ),
            dbc.Table(
                [head, html.Tbody(rows)],
                size="sm",
                className="mt-2 mb-0 small split-class-table",
                borderless=True,
                striped=True,
            ),
        ],
        className="mt-2",
    )


def split_card(
    entry: SplitEntry, dataset: DatasetView, now: datetime, read_only: bool = False
) -> dbc.Card:
    """One split: name, settings, counts per subset (with a bar), per-class table, delete."""
    totals = membership_counts(entry, dataset)
    in_split = sum(totals.values())
    added_since = max(len(dataset.images) - in_split, 0)
    removed_since = max(sum(entry.counts.values()) - in_split, 0)
    notes: list[Component] = []
    if added_since:
        notes.append(
            html.Div(
                [
                    html.I(className="bi bi-exclamation-triangle me-1"),
                    f"{added_since:,} image{'s' if added_since != 1 else ''} imported after this "
                    "split belong to no subset: create a new split to include them.",
                ],
                className="small text-warning-emphasis mt-2",
            )
        )
    if removed_since:
        notes.append(
            html.Div(
                [
                    html.I(className="bi bi-info-circle me-1"),
                    f"{removed_since:,} image{'s' if removed_since != 1 else ''} removed since.",
                ],
                className="small text-body-secondary mt-1",
            )
        )
    badges = [
        html.Span(
            [html.I(className="bi bi-diagram-3 me-1"), "stratified"]
            if entry.stratify
            else [html.I(className="bi bi-shuffle me-1"), "random"],
            className="badge rounded-pill bg-secondary-subtle text-secondary-emphasis",
        ),
        " ",
        html.Span(
            f"seed {entry.seed}",
            className="badge rounded-pill bg-secondary-subtle text-secondary-emphasis",
        ),
        " ",
        html.Span(
            _ratio_text(entry.ratios),
            className="badge rounded-pill bg-secondary-subtle text-secondary-emphasis",
            title="train / val / test ratios",
        ),
    ]
    actions: list[Component] = []
    if not read_only:
        actions.append(
            dbc.Button(
                html.I(className="bi bi-trash3"),
                id={"type": "split-delete-open", "index": entry.name},
                color="link",
                size="sm",
                className="text-danger px-2",
                title=f"Delete the split {entry.name}",
                n_clicks=0,
            )
        )
    legend: list[Component] = []
    for i, s in enumerate(SUBSETS):
        if i:
            legend.append(html.Span(" · ", className="mx-1 text-body-secondary"))
        legend.append(
            html.Span(
                [
                    html.Span(className="split-dot", style={"background": SUBSET_COLORS[s]}),
                    f"{s} {totals[s]:,}",
                ],
                className="text-nowrap",
            )
        )
    body = [
        html.Div(
            [
                html.Div(
                    [
                        html.Div(entry.name, className="fw-semibold split-name text-truncate"),
                        html.Div(badges, className="mt-1"),
                    ],
                    className="min-w-0 flex-grow-1",
                ),
                html.Small(
                    [html.I(className="bi bi-calendar3 me-1"), created_text(entry.created_ts, now)],
                    className="text-body-secondary text-nowrap ms-3",
                    title=f"Created by event #{entry.created_seq} ({entry.created_ts})",
                ),
                *actions,
            ],
            className="d-flex align-items-start gap-1",
        ),
        html.Div(_subset_bar(totals, entry.ratios), className="mt-3"),
        html.Div(legend, className="small mt-2 split-counts", title="images per subset"),
        *notes,
    ]
    table = _class_table(dataset, entry.name)
    if table is not None:
        body.append(table)
    return dbc.Card(
        dbc.CardBody(body),
        className="mb-3 shadow-sm split-card",
        id={"type": "split-card", "index": entry.name},
    )


def render_splits(splits: SplitsView, dataset: DatasetView, read_only: bool = False) -> Component:
    """The splits, newest first, or the empty state."""
    if not splits.splits:
        if read_only:
            text = "The project had no split at this point of its history."
        elif dataset.images:
            text = "Choose the ratios above and press Create split: every image goes to train, "
            text += "validation or test, and training uses them."
        else:
            text = "Once images are imported, create a split here to train and evaluate on them."
        return empty_state("diagram-3", "No split yet", text, id="split-empty")
    now = datetime.now(timezone.utc)
    return html.Div(
        [
            split_card(entry, dataset, now, read_only)
            for entry in reversed(list(splits.splits.values()))
        ]
    )


def list_signature(splits: SplitsView, dataset: DatasetView) -> list[Any]:
    """What the rendered list depends on (re-rendered only when it changes)."""
    now = datetime.now(timezone.utc)
    return [
        dataset_fingerprint(dataset),
        [[e.name, e.created_seq, created_text(e.created_ts, now)] for e in splits.splits.values()],
    ]


def form_data(splits: SplitsView, dataset: DatasetView) -> dict[str, Any]:
    """What the form's checks and preview depend on."""
    return {"dataset": dataset_fingerprint(dataset), "names": list(splits.splits)}


# ---------------------------------------------------------------------- actions
def create_split(
    project_id: str,
    name: str | None,
    train: Any,
    val: Any,
    test: Any,
    seed: Any,
    stratify: bool | None,
) -> tuple[dict[str, int] | None, str | None]:
    """Create the split; ``(counts per subset, None)`` or ``(None, the reason it was refused)``."""
    state = get_state()
    if state.live_project(project_id) is None:
        return None, "This project no longer exists."
    dataset: DatasetView = state.view(project_id, "dataset")
    check = check_form(list(dataset.splits), name, train, val, test, seed)
    error = check.name_error or check.ratio_error or check.seed_error
    if error is not None:
        return None, error
    ratios = {s: float(check.ratios[s] or 0.0) for s in SUBSETS}
    try:
        event = commands.create_split(
            state.workspace,
            project_id,
            (name or "").strip(),
            ratios["train"],
            ratios["val"],
            ratios["test"],
            check.seed or 0,
            bool(stratify),
            actor="ui",
            dataset=dataset,
        )
    except CommandError as exc:
        return None, str(exc)
    assignments = event.data["assignments"]
    logger.info("created split %s of %s", event.data["name"], project_id)
    return {s: len(assignments.get(s, [])) for s in SUBSETS}, None


def delete_split(project_id: str, name: str) -> str | None:
    """Delete a split; the reason it was refused, or None when done."""
    state = get_state()
    if state.live_project(project_id) is None:
        return "This project no longer exists."
    try:
        commands.delete_split(
            state.workspace, project_id, name, actor="ui", dataset=state.view(project_id, "dataset")
        )
    except CommandError as exc:
        return str(exc)
    logger.info("deleted split %s of %s", name, project_id)
    return None


# ---------------------------------------------------------------------- layout
def _ratio_input(subset: str, value: float) -> dbc.Col:
    return dbc.Col(
        [
            dbc.Label(
                [
                    html.Span(className="split-dot", style={"background": SUBSET_COLORS[subset]}),
                    SUBSET_LABELS[subset],
                ],
                html_for=f"split-{subset}",
                className="small mb-1",
            ),
            dbc.Input(
                id=f"split-{subset}",
                type="number",
                min=0,
                max=1,
                step=0.01,
                value=value,
                inputMode="decimal",
            ),
        ],
        xs=4,
    )


def _form_card(name: str) -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(
                [html.I(className="bi bi-plus-circle me-2"), "New split"],
                className="fw-semibold bg-transparent",
            ),
            dbc.CardBody(
                [
                    html.Div(
                        [
                            dbc.Label("Name", html_for="split-name"),
                            dbc.Input(id="split-name", value=name, autoComplete="off"),
                            dbc.FormFeedback(id="split-name-feedback", type="invalid"),
                        ],
                        className="mb-3",
                    ),
                    dbc.Label("Ratios", className="mb-1"),
                    dbc.Row([_ratio_input(s, DEFAULT_RATIOS[s]) for s in SUBSETS], className="g-2"),
                    html.Div(id="split-ratio-bar", className="mt-2"),
                    html.Div(
                        [
                            html.Span(id="split-ratio-feedback"),
                            dbc.Button(
                                "",
                                id="split-fix",
                                color="link",
                                size="sm",
                                className="p-0 ms-2 align-baseline",
                                n_clicks=0,
                                style=_HIDDEN,
                            ),
                        ],
                        className="small mt-1 split-ratio-feedback",
                    ),
                    dbc.Row(
                        [
                            dbc.Col(
                                [
                                    dbc.Label(
                                        "Seed", html_for="split-seed", className="small mb-1"
                                    ),
                                    dbc.Input(
                                        id="split-seed",
                                        type="number",
                                        min=0,
                                        step=1,
                                        value=0,
                                    ),
                                    dbc.FormFeedback(id="split-seed-feedback", type="invalid"),
                                ],
                                xs=4,
                            ),
                            dbc.Col(
                                [
                                    dbc.Switch(
                                        id="split-stratify",
                                        label="Stratify",
                                        value=True,
                                        className="mb-0",
                                    ),
                                    dbc.FormText(
                                        "Keep the class proportions equal in every subset."
                                    ),
                                ],
                                xs=8,
                                className="d-flex flex-column justify-content-end",
                            ),
                        ],
                        className="g-2 mt-3 mb-3",
                    ),
                    dbc.Button(
                        [html.I(className="bi bi-check2-circle me-1"), "Create split"],
                        id="split-create",
                        color="primary",
                        className="w-100",
                        n_clicks=0,
                    ),
                ]
            ),
        ],
        className="shadow-sm h-100",
    )


def _preview_card() -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(
                html.Div(
                    [
                        html.Span(
                            [html.I(className="bi bi-bar-chart-line me-2"), "Preview"],
                            className="fw-semibold",
                        ),
                        html.Small(
                            id="split-preview-summary", className="text-body-secondary ms-auto"
                        ),
                    ],
                    className="d-flex align-items-center",
                ),
                className="bg-transparent",
            ),
            dbc.CardBody(
                dcc.Loading(
                    dcc.Graph(
                        id="split-preview",
                        config={"displayModeBar": False, "responsive": True},
                        style={"height": "340px"},
                    ),
                    delay_show=400,
                    type="dot",
                ),
                className="py-2",
            ),
        ],
        className="shadow-sm h-100",
    )


def _delete_modal() -> dbc.Modal:
    return delete_modal("split", "Delete split?", "Delete split")


def _header(subtitle: str) -> html.Div:
    return html.Div(
        [
            html.H2("Split", className="mb-1"),
            html.Div(subtitle, className="text-body-secondary split-subtitle"),
        ],
        className="mb-4",
    )


def _stores(project_id: str, at: int | None, splits: SplitsView, dataset: DatasetView) -> list[Any]:
    return [
        dcc.Store(id="split-project", data=project_id),
        dcc.Store(id="split-at", data=at),
        dcc.Store(id="split-sig", data=list_signature(splits, dataset)),
        dcc.Store(id="split-data", data=form_data(splits, dataset)),
        dcc.Store(id="split-version", data=0),
        dcc.Store(id="split-delete-target"),
    ]


def _no_images(project_id: str) -> html.Div:
    return empty_state(
        "images",
        "No images to split yet",
        "A split assigns every image of the dataset to train, validation or test. "
        "Import a dataset first, then come back here.",
        dbc.Button(
            [html.I(className="bi bi-images me-1"), "Go to the dataset"],
            href=project_page_path(project_id, "dataset"),
            color="primary",
        ),
        id="split-no-images",
    )


def _time_travel_layout(project_id: str, at: int) -> html.Div:
    state = get_state()
    event = state.event_at(project_id, at)
    here = project_page_path(project_id, "split")
    if event is None:
        return html.Div(
            [
                empty_state(
                    "clock-history",
                    f"No event #{at}",
                    "This project's history has no such event.",
                    dbc.Button("Back to now", href=here, color="primary"),
                )
            ]
        )
    splits: SplitsView = state.view(project_id, "splits", at=at)
    dataset: DatasetView = state.view(project_id, "dataset", at=at)
    n_images = len(dataset.images)
    return html.Div(
        [
            *_stores(project_id, at, splits, dataset),
            time_travel_banner(here, at, event.type, event.ts),
            _header(
                f"As it was right after event #{at}: {n_images:,} image"
                f"{'s' if n_images != 1 else ''}, {len(dataset.classes)} class"
                f"{'es' if len(dataset.classes) != 1 else ''}, "
                f"{len(splits.splits)} split{'s' if len(splits.splits) != 1 else ''}. "
                "Read-only.",
            ),
            html.H5("Splits", className="mb-3"),
            html.Div(render_splits(splits, dataset, read_only=True), id="split-list"),
            # The live refresh's other outputs: absent from a view of the past, but Dash wants them.
            html.Div(id="split-form-row", style=_HIDDEN),
            html.Div(id="split-no-images-area", style=_HIDDEN),
        ],
        className="split-page",
    )


def layout(project_id: str | None = None, **query: str) -> html.Div:
    """The page for ``project_id``; ``?at=SEQ`` shows it as of that event, read-only."""
    state = get_state()
    if not project_id or state.live_project(project_id) is None:
        return project_not_found(project_id)
    at = parse_at(query.get("at"))
    if at is not None:
        return _time_travel_layout(project_id, at)
    splits: SplitsView = state.view(project_id, "splits")
    dataset: DatasetView = state.view(project_id, "dataset")
    has_images = bool(dataset.images)
    return html.Div(
        [
            *_stores(project_id, None, splits, dataset),
            _header(
                "Divide the dataset into train, validation and test subsets. Training learns "
                "from train, picks its best epoch on validation; test is kept for the final "
                "evaluation.",
            ),
            html.Div(id="split-create-status"),
            html.Div(
                _no_images(project_id),
                id="split-no-images-area",
                style=_HIDDEN if has_images else _SHOWN,
            ),
            dbc.Row(
                [
                    dbc.Col(
                        _form_card(next_split_name(list(splits.splits))),
                        lg=5,
                        xl=4,
                        className="mb-4",
                    ),
                    dbc.Col(_preview_card(), lg=7, xl=8, className="mb-4"),
                ],
                id="split-form-row",
                style=_SHOWN if has_images else _HIDDEN,
            ),
            html.H5("Splits", className="mb-3"),
            html.Div(render_splits(splits, dataset), id="split-list"),
            _delete_modal(),
        ],
        className="split-page",
    )


# ---------------------------------------------------------------------- callbacks
@callback(
    Output("split-list", "children"),
    Output("split-sig", "data"),
    Output("split-data", "data"),
    Output("split-form-row", "style"),
    Output("split-no-images-area", "style"),
    Input("tick", "n_intervals"),
    Input("split-version", "data"),
    State("split-project", "data"),
    State("split-at", "data"),
    State("split-sig", "data"),
    State("split-data", "data"),
)
def refresh_page(
    _tick: int | None,
    _version: int | None,
    project_id: str | None,
    at: int | None,
    signature: list[Any] | None,
    data: dict[str, Any] | None,
) -> tuple[Any, ...]:
    """Follow the project live: new or deleted splits, images imported meanwhile."""
    if at is not None or not project_id:
        raise PreventUpdate  # a view of the past does not change
    state = get_state()
    if state.live_project(project_id) is None:
        raise PreventUpdate
    splits: SplitsView = state.view(project_id, "splits")
    dataset: DatasetView = state.view(project_id, "dataset")
    fresh_sig = list_signature(splits, dataset)
    fresh_data = form_data(splits, dataset)
    if fresh_sig == signature and fresh_data == data:
        raise PreventUpdate
    no = dash.no_update
    has_images = bool(dataset.images)
    return (
        render_splits(splits, dataset) if fresh_sig != signature else no,
        fresh_sig,
        fresh_data if fresh_data != data else no,
        _SHOWN if has_images else _HIDDEN,
        _HIDDEN if has_images else _SHOWN,
    )


def ratio_bar(check: FormCheck) -> dbc.Progress:
    """The ratios as a stacked bar (grey when they are not valid)."""
    ratios = {s: max(check.ratios.get(s) or 0.0, 0.0) for s in SUBSETS}
    total = sum(ratios.values()) or 1.0
    scale = max(total, 1.0)
    return dbc.Progress(
        [
            dbc.Progress(
                value=100 * ratios[s] / scale,
                bar=True,
                color=SUBSET_COLORS[s] if check.ratio_error is None else "var(--bs-secondary-bg)",
                label=f"{round(ratios[s] * 100):g}%" if ratios[s] >= 0.08 else "",
            )
            for s in SUBSETS
        ],
        className="split-ratio-bar",
    )


class PreviewResult(NamedTuple):
    """Everything the form shows for one set of values."""

    check: FormCheck
    figure: go.Figure
    summary: str
    error: str | None = None


def build_preview(
    project_id: str,
    name: str | None,
    train: Any,
    val: Any,
    test: Any,
    seed: Any,
    stratify: bool | None,
    theme: str | None,
) -> PreviewResult | None:
    """Check the form and compute its preview (None when the project is gone)."""
    state = get_state()
    project = state.live_project(project_id)
    if project is None:
        return None
    dataset: DatasetView = state.view(project_id, "dataset")
    check = check_form(list(dataset.splits), name, train, val, test, seed)
    if check.ratio_error or check.seed_error:
        message = "Fix the ratios to see the preview" if check.ratio_error else "Fix the seed"
        return PreviewResult(check, preview_figure(None, dataset.classes, theme, message), "")
    if not dataset.images:
        figure = preview_figure(None, dataset.classes, theme, "No images yet")
        return PreviewResult(check, figure, "")
    ratios = {s: float(check.ratios[s] or 0.0) for s in SUBSETS}
    try:
        counts = preview_counts(
            project_id, dataset, ratios, check.seed or 0, bool(stratify), project.task
        )
    except CommandError as exc:
        figure = preview_figure(None, dataset.classes, theme, str(exc))
        return PreviewResult(check, figure, "", error=str(exc))
    figure = preview_figure(counts, dataset.classes, theme)
    return PreviewResult(check, figure, counts_text(subset_totals(counts)))


@callback(
    Output("split-preview", "figure"),
    Output("split-preview-summary", "children"),
    Output("split-ratio-bar", "children"),
    Output("split-ratio-feedback", "children"),
    Output("split-ratio-feedback", "className"),
    Output("split-fix", "children"),
    Output("split-fix", "style"),
    Output("split-train", "invalid"),
    Output("split-val", "invalid"),
    Output("split-test", "invalid"),
    Output("split-name", "invalid"),
    Output("split-name-feedback", "children"),
    Output("split-seed", "invalid"),
    Output("split-seed-feedback", "children"),
    Output("split-create", "disabled"),
    Input("split-name", "value"),
    Input("split-train", "value"),
    Input("split-val", "value"),
    Input("split-test", "value"),
    Input("split-seed", "value"),
    Input("split-stratify", "value"),
    Input("split-data", "data"),
    Input("theme", "data"),
    State("split-project", "data"),
)
def update_preview(
    name: str | None,
    train: Any,
    val: Any,
    test: Any,
    seed: Any,
    stratify: bool | None,
    _data: dict[str, Any] | None,
    theme: str | None,
    project_id: str | None,
) -> tuple[Any, ...]:
    """Validate the form as it changes and redraw the preview of the split it would create."""
    if not project_id:
        raise PreventUpdate
    result = build_preview(project_id, name, train, val, test, seed, stratify, theme)
    if result is None:
        raise PreventUpdate
    check = result.check
    if check.ratio_error:
        feedback, feedback_class = check.ratio_error, "text-danger"
    else:
        feedback, feedback_class = "The ratios add up to 1.", "text-success"
    fix_label = f"Set test to {check.fix_test:.2f}" if check.fix_test is not None else ""
    return (
        result.figure,
        result.summary,
        ratio_bar(check),
        feedback,
        feedback_class,
        fix_label,
        _SHOWN if check.fix_test is not None else _HIDDEN,
        check.invalid.get("train", False),
        check.invalid.get("val", False),
        check.invalid.get("test", False),
        check.name_error is not None,
        check.name_error or "",
        check.seed_error is not None,
        check.seed_error or "",
        not check.ok or result.error is not None,
    )


@callback(
    Output("split-test", "value"),
    Input("split-fix", "n_clicks"),
    State("split-train", "value"),
    State("split-val", "value"),
    State("split-test", "value"),
    prevent_initial_call=True,
)
def fix_test_ratio(clicks: int | None, train: Any, val: Any, test: Any) -> float:
    """Set the test ratio to what makes the three sum to 1."""
    fix = check_ratios(train, val, test).fix_test
    if not clicks or fix is None:
        raise PreventUpdate
    return fix


@callback(
    Output("split-create-status", "children"),
    Output("split-version", "data", allow_duplicate=True),
    Output("split-name", "value"),
    Input("split-create", "n_clicks"),
    State("split-project", "data"),
    State("split-name", "value"),
    State("split-train", "value"),
    State("split-val", "value"),
    State("split-test", "value"),
    State("split-seed", "value"),
    State("split-stratify", "value"),
    State("split-version", "data"),
    prevent_initial_call=True,
)
def on_create(
    clicks: int | None,
    project_id: str | None,
    name: str | None,
    train: Any,
    val: Any,
    test: Any,
    seed: Any,
    stratify: bool | None,
    version: int | None,
) -> tuple[Any, ...]:
    """Create the split; say what it holds, or why it was refused."""
    if not clicks or not project_id:
        raise PreventUpdate
    totals, error = create_split(project_id, name, train, val, test, seed, stratify)
    if error is not None or totals is None:
        alert = dbc.Alert(
            [html.I(className="bi bi-x-circle me-2"), error or "The split was not created."],
            color="danger",
            dismissable=True,
            id="split-create-alert",
        )
        return alert, dash.no_update, dash.no_update
    clean = (name or "").strip()
    alert = dbc.Alert(
        [
            html.I(className="bi bi-check-circle me-2"),
            "Split ",
            html.B(clean),
            f" created: {counts_text(totals)}.",
        ],
        color="success",
        dismissable=True,
        duration=8000,
        id="split-create-alert",
    )
    existing = list(get_state().view(project_id, "splits").splits)
    return alert, (version or 0) + 1, next_split_name(existing)


def _delete_body(name: str) -> list[Component]:
    """The dialog's question naming the split."""
    return [
        html.P(["Delete the split ", html.B(f"“{name}”"), "?"], className="mb-2"),
        html.P(
            "Its images stay in the dataset; only their assignment to train, validation and "
            "test is forgotten. The split stays visible in the project's history.",
            className="small text-body-secondary mb-0",
        ),
    ]


def delete_dialog(
    trigger: Any, clicked: Any, project_id: str | None, target: str | None
) -> DeleteStep:
    """What the delete dialog does for one trigger (see :func:`delete_step`).

    Returns:
        ``(open, body, target, error, deleted)``.
    """
    if not project_id and trigger != "split-delete-cancel":
        raise PreventUpdate  # no project: nothing to ask about or delete
    project = project_id or ""
    return delete_step(
        "split",
        trigger,
        clicked,
        target,
        ask=_delete_body,
        delete=lambda name: delete_split(project, name),
    )


on_delete = delete_dialog_callback(
    "split", "split-version", delete_dialog, [State("split-project", "data")]
)
