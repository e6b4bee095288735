"""The Evaluation page's per-image results: filters, sorting, paging, tiles and the detail.

Rows come from :func:`aistudio.commands.load_evaluation` (one per image: ``image_id``,
``subset``, ``target``, ``prediction``, ``label_changed``, and ``confidence``, ``correct``,
``scores`` for classification or ``error``, ``abs_error`` for regression). Filtering and sorting
a few thousand rows is a pass over them; only the page shown becomes components. Thumbnails and
originals come from the media routes (``/media/<project>/thumb/<image>``), as of the shown seq
in time travel, and as of the evaluation for images removed since.

Two kinds of label change are flagged: the row's ``label_changed`` (the label changed after the
model was trained, so it learnt the old one) and a current label that differs from the row's
target (the label changed after the evaluation, so its figures used the old one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html
from dash.development.base_component import Component

from projections.dataset import DatasetView, ImageEntry
from ui.components.dataset_grid import format_value, image_url, thumb_url
from ui.components.evaluation_runs import SUBSET_TITLES
from ui.components.theme import themed

PAGE_SIZE = 48
TILE_TYPE = "eval-tile"
"""Pattern-matching id type of a result tile: ``{"type": TILE_TYPE, "index": image_id}``."""
SORTS: dict[str, tuple[tuple[str, str], ...]] = {
    "classification": (
        ("mistakes", "Worst first: confident mistakes, then unsure correct ones"),
        ("confidence_desc", "Confidence: high to low"),
        ("confidence_asc", "Confidence: low to high"),
        ("name", "File name"),
    ),
    "regression": (
        ("error_desc", "Largest error first"),
        ("error_asc", "Smallest error first"),
        ("name", "File name"),
    ),
}
DEFAULT_SORT: dict[str, str] = {"classification": "mistakes", "regression": "error_desc"}
TOLERANCE_SHARE = 0.1
"""A regression prediction is drawn green when its error is within this share of the range of
the true values, red otherwise."""
VALUE_REL_TOL = 1e-5
VALUE_ABS_TOL = 1e-6
FLAGS: dict[str, tuple[str, str, str]] = {
    "trained": (
        "relabelled after training",
        "warning",
        "The label changed after the model was trained: it learnt the old one.",
    ),
    "evaluated": (
        "relabelled after evaluation",
        "info",
        "The label changed after this evaluation: its figures use the old one.",
    ),
    "removed": (
        "removed since",
        "secondary",
        "The image was removed from the dataset after this evaluation.",
    ),
}
"""flag -> (badge text, Bootstrap colour, explanation)."""


@dataclass(frozen=True, slots=True)
class ResultsQuery:
    """Which rows the grid shows, in which order, and the page (1-based).

    Attributes:
        wrong_only: only misclassified images (classification).
        true_class: only images of this true class.
        predicted_class: only images predicted as this class.
        low: smallest confidence (classification) or absolute error (regression); None: open.
        high: largest confidence or absolute error; None: open.
        subset: only images of this subset (``train``, ``val``, ``test``).
        sort: a key of :data:`SORTS` for the task (None: the task's default).
        page: the page, from 1.
    """

    wrong_only: bool = False
    true_class: str | None = None
    predicted_class: str | None = None
    low: float | None = None
    high: float | None = None
    subset: str | None = None
    sort: str | None = None
    page: int = 1


@dataclass(frozen=True, slots=True)
class ResultsPage:
    """One page of the filtered, sorted rows.

    Attributes:
        rows: the rows on the page.
        total: how many rows match the filters.
        page: the page shown (clamped to the pages there are).
        pages: how many pages there are (at least 1).
    """

    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int


# ---------------------------------------------------------------------- one row
def is_correct(row: Mapping[str, Any]) -> bool:
    """Whether a classification row's prediction is its target."""
    correct = row.get("correct")
    if correct is None:
        return row.get("target") == row.get("prediction")
    return bool(correct)


def abs_error(row: Mapping[str, Any]) -> float:
    """A regression row's absolute error."""
    value = row.get("abs_error")
    if value is None:
        value = abs(float(row.get("prediction", 0.0)) - float(row.get("target", 0.0)))
    return float(value)


def score(row: Mapping[str, Any], task: str) -> float:
    """What the range filter reads: confidence (classification) or absolute error."""
    if task == "regression":
        return abs_error(row)
    return float(row.get("confidence") or 0.0)


def value_text(value: Any, task: str, tol: float | None = None) -> str:
    """A target or prediction as shown: the class, or the value, short.

    Values are first rounded to a millionth of the range of true values (``tol`` is a tenth of
    it): a model's float32 targets show as ``1`` and ``0``, not ``0.99999984`` and ``1.4e-07``.
    """
    if value is None:
        return "—"
    if task == "regression":
        number = float(value)
        if math.isfinite(number):
            step = tol if tol is not None and tol > 0 else 1.0
            number = round(number, 5 - math.floor(math.log10(step))) + 0.0  # no "-0"
        return format_value(number)
    return str(value)


def tolerance(report: Mapping[str, Any]) -> float | None:
    """The absolute error under which a regression prediction counts as good (None: unknown)."""
    span = report.get("target_range")
    if not isinstance(span, (list, tuple)) or len(span) != 2:
        return None
    width = float(span[1]) - float(span[0])
    return width * TOLERANCE_SHARE if width > 0 else None


def is_good(row: Mapping[str, Any], task: str, tol: float | None) -> bool:
    """Green or red: right class, or error within ``tol`` (exact when ``tol`` is None)."""
    if task == "regression":
        return abs_error(row) <= (tol if tol is not None else 1e-9)
    return is_correct(row)


def current_target(entry: ImageEntry | None, task: str) -> Any:
    """An image's label (or value) in the dataset view given."""
    if entry is None:
        return None
    return entry.value if task == "regression" else entry.label


def same_value(a: float, b: float) -> bool:
    """Whether two regression values are the same up to float32 rounding (a model's targets
    come back de-normalised in single precision: 0.99999984 for 1.0)."""
    return math.isclose(a, b, rel_tol=VALUE_REL_TOL, abs_tol=VALUE_ABS_TOL)


def relabel_flags(row: Mapping[str, Any], dataset: DatasetView, task: str) -> list[str]:
    """Keys of :data:`FLAGS` for a row: ``trained``, ``evaluated``, ``removed``."""
    flags: list[str] = []
    if row.get("label_changed"):
        flags.append("trained")
    entry = dataset.images.get(str(row.get("image_id")))
    if entry is None:
        flags.append("removed")
        return flags
    now = current_target(entry, task)
    target = row.get("target")
    if task == "regression":
        differs = now is None or target is None or not same_value(float(now), float(target))
    else:
        differs = now != target
    if differs:
        flags.append("evaluated")
    return flags


# ---------------------------------------------------------------------- filters and order
def filter_rows(
    rows: Sequence[dict[str, Any]], task: str, query: ResultsQuery
) -> list[dict[str, Any]]:
    """The rows that match every filter of ``query``, in their order."""
    out: list[dict[str, Any]] = list(rows)
    if query.subset:
        out = [r for r in out if r.get("subset") == query.subset]
    if task != "regression":
        if query.wrong_only:
            out = [r for r in out if not is_correct(r)]
        if query.true_class is not None:
            out = [r for r in out if r.get("target") == query.true_class]
        if query.predicted_class is not None:
            out = [r for r in out if r.get("prediction") == query.predicted_class]
    if query.low is not None:
        out = [r for r in out if score(r, task) >= query.low]
    if query.high is not None:
        out = [r for r in out if score(r, task) <= query.high]
    return out


def file_names(dataset: DatasetView, rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """image id -> file name (the id for images no longer in ``dataset``)."""
    images = dataset.images
    names: dict[str, str] = {}
    for row in rows:
        image_id = str(row.get("image_id"))
        entry = images.get(image_id)
        names[image_id] = entry.filename if entry is not None else image_id
    return names


def sort_rows(
    rows: Sequence[dict[str, Any]],
    task: str,
    sort: str | None,
    names: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """``rows`` in the order ``sort`` names (the task's default when unknown); ties by name.

    ``mistakes``: misclassified images first, most confident first (the worst mistakes), then
    the correct ones, least confident first. ``error_desc``: largest absolute error first.
    """
    known = {key for key, _ in SORTS.get(task, SORTS["classification"])}
    key = sort if sort in known else DEFAULT_SORT.get(task, "mistakes")
    names = names or {}

    def name(row: Mapping[str, Any]) -> str:
        image_id = str(row.get("image_id"))
        return names.get(image_id, image_id).casefold()

    if key == "name":
        return sorted(rows, key=lambda r: (name(r), str(r.get("image_id"))))
    by_name = sorted(rows, key=lambda r: (name(r), str(r.get("image_id"))))
    if key == "mistakes":
        return sorted(
            by_name,
            key=lambda r: (0, -score(r, task)) if not is_correct(r) else (1, score(r, task)),
        )
    if key in ("confidence_desc", "error_desc"):
        return sorted(by_name, key=lambda r: -score(r, task))
    return sorted(by_name, key=lambda r: score(r, task))


def results_page(
    rows: Sequence[dict[str, Any]],
    task: str,
    query: ResultsQuery,
    dataset: DatasetView,
    page_size: int = PAGE_SIZE,
) -> ResultsPage:
    """The page of filtered, sorted rows that ``query`` asks for (the last when past it)."""
    matching = filter_rows(rows, task, query)
    ordered = sort_rows(matching, task, query.sort, file_names(dataset, matching))
    total = len(ordered)
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, int(query.page or 1)), pages)
    start = (page - 1) * page_size
    return ResultsPage(ordered[start : start + page_size], total, page, pages)


# ---------------------------------------------------------------------- filter controls
def range_bounds(rows: Sequence[dict[str, Any]], task: str) -> tuple[float, float, float]:
    """``(min, max, step)`` of the range slider: confidence 0 to 1, or absolute error 0 to the
    largest (rounded up to two significant digits)."""
    if task != "regression":
        return 0.0, 1.0, 0.01
    largest = max((abs_error(r) for r in rows), default=0.0)
    if largest <= 0:
        return 0.0, 1.0, 0.01
    magnitude = 10 ** math.floor(math.log10(largest))
    top = math.ceil(largest / magnitude * 10) / 10 * magnitude
    top = float(f"{top:.6g}")
    return 0.0, top, float(f"{top / 100:.6g}")


def range_marks(low: float, high: float) -> dict[str, str]:
    """Three marks of the range slider: its ends and its middle."""
    middle = (low + high) / 2
    return {f"{v:g}": f"{v:.3g}" for v in (low, middle, high)}


def query_range(
    value: Sequence[float] | None, bounds: Sequence[float] | None
) -> tuple[float | None, float | None]:
    """The slider's ``[low, high]`` as filter bounds; an end at the slider's end is open."""
    if not value or len(value) != 2:
        return None, None
    low, high = float(value[0]), float(value[1])
    lowest, highest = (float(bounds[0]), float(bounds[1])) if bounds else (None, None)
    return (
        None if lowest is not None and low <= lowest else low,
        None if highest is not None and high >= highest else high,
    )


def class_options(
    rows: Sequence[dict[str, Any]], classes: Sequence[str], key: str
) -> list[dict[str, Any]]:
    """The classes with how many rows have each as ``key`` (``target`` or ``prediction``)."""
    counts: dict[str, int] = {}
    for row in rows:
        value = row.get(key)
        if value is not None:
            counts[str(value)] = counts.get(str(value), 0) + 1
    names = list(classes) + sorted(c for c in counts if c not in classes)
    return [{"label": f"{c} ({counts.get(c, 0):,})", "value": c} for c in names]


def subset_filter_options(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The subsets the rows come from, with their counts."""
    counts: dict[str, int] = {}
    for row in rows:
        subset = str(row.get("subset"))
        counts[subset] = counts.get(subset, 0) + 1
    order = [s for s in SUBSET_TITLES if s in counts] + sorted(
        s for s in counts if s not in SUBSET_TITLES
    )
    return [{"label": f"{SUBSET_TITLES.get(s, s)} ({counts[s]:,})", "value": s} for s in order]


def sort_options(task: str) -> list[dict[str, str]]:
    """The orders the task offers."""
    return [{"label": label, "value": key} for key, label in SORTS.get(task, ())]


# ---------------------------------------------------------------------- tiles
def shown_seq(
    image_id: str, dataset: DatasetView, at: int | None, evaluated_seq: int | None
) -> int | None:
    """The seq an image's address asks for: ``at`` in time travel, the evaluation's seq for an
    image removed since, else None (now)."""
    if image_id not in dataset.images and evaluated_seq is not None:
        return evaluated_seq
    return at


def _flag_badges(flags: Sequence[str], small: bool = True) -> list[Component]:
    return [
        html.Span(
            FLAGS[f][0],
            className=f"badge bg-{FLAGS[f][1]}-subtle text-{FLAGS[f][1]}-emphasis "
            f"border border-{FLAGS[f][1]}-subtle eval-flag eval-flag-{f}"
            + (" eval-flag-sm" if small else ""),
            title=FLAGS[f][2],
        )
        for f in flags
    ]


def measure_text(row: Mapping[str, Any], task: str) -> str:
    """``87%`` confidence, or ``err +1.25`` for regression."""
    if task == "regression":
        error = row.get("error")
        if error is None:
            error = float(row.get("prediction", 0.0)) - float(row.get("target", 0.0))
        return f"err {float(error):+.3g}"
    return f"{100 * float(row.get('confidence') or 0.0):.0f}%"


def tile(
    project_id: str,
    row: Mapping[str, Any],
    task: str,
    dataset: DatasetView,
    at: int | None,
    evaluated_seq: int | None,
    tol: float | None,
) -> html.Div:
    """One clickable result: the thumbnail, target → prediction, confidence or error, flags; a
    green border when right (or close), red when wrong."""
    image_id = str(row.get("image_id"))
    entry = dataset.images.get(image_id)
    name = entry.filename if entry is not None else image_id
    good = is_good(row, task, tol)
    flags = relabel_flags(row, dataset, task)
    target = value_text(row.get("target"), task, tol)
    prediction = value_text(row.get("prediction"), task, tol)
    seq = shown_seq(image_id, dataset, at, evaluated_seq)
    children: list[Component] = [
        html.Div(
            [
                html.Img(src=thumb_url(project_id, image_id, seq), alt=name),
                html.Span(
                    measure_text(row, task),
                    className="eval-tile-measure badge " + ("bg-success" if good else "bg-danger"),
                ),
                html.Div(_flag_badges(flags), className="eval-tile-flags"),
            ],
            className="eval-tile-image",
        ),
        html.Div(
            [
                html.Span(target, className="eval-tile-target"),
                html.I(className="bi bi-arrow-right mx-1"),
                html.Span(prediction, className="eval-tile-prediction fw-semibold"),
            ],
            className="thumb-label eval-tile-label",
        ),
    ]
    return html.Div(
        children,
        id={"type": TILE_TYPE, "index": image_id},
        className="thumb eval-tile " + ("eval-tile-ok" if good else "eval-tile-wrong"),
        n_clicks=0,
        title=f"{name} · true {target} · predicted {prediction} · {measure_text(row, task)}",
        role="button",
        tabIndex="0",
    )


def tiles(
    project_id: str,
    rows: Sequence[Mapping[str, Any]],
    task: str,
    dataset: DatasetView,
    at: int | None,
    evaluated_seq: int | None,
    tol: float | None,
) -> list[Component]:
    """The tiles of a page of rows (or a hint when no row matches)."""
    if not rows:
        return [
            html.Div(
                [
                    html.I(className="bi bi-funnel me-2"),
                    "No image matches these filters.",
                ],
                className="text-body-secondary small py-4 eval-no-results",
                id="eval-no-results",
            )
        ]
    return [tile(project_id, r, task, dataset, at, evaluated_seq, tol) for r in rows]


def count_text(total: int, of: int) -> str:
    """``12 images match (of 240)``."""
    noun = "image matches" if total == 1 else "images match"
    text = f"{total:,} {noun}"
    if total != of:
        text += f" (of {of:,})"
    return text


# ---------------------------------------------------------------------- the detail
def scores_figure(
    scores: Sequence[float], classes: Sequence[str], target: Any, theme: str | None
) -> go.Figure:
    """The probability of each class for one image: the true class green, the predicted one
    (when wrong) red."""
    names = [str(c) for c in classes][: len(scores)]
    values = [float(s) for s in scores[: len(names)]]
    best = max(range(len(values)), key=values.__getitem__) if values else -1
    colors = []
    for i, name in enumerate(names):
        if name == target:
            colors.append("#198754")
        elif i == best:
            colors.append("#dc3545")
        else:
            colors.append("#6c757d")
    fig = go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            marker_color=colors,
            text=[f"{v:.1%}" for v in values],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:.2%}<extra></extra>",
        )
    )
    themed(fig, theme)
    fig.update_layout(
        height=max(140, 40 + 22 * len(names)),
        margin={"l": 8, "r": 24, "t": 8, "b": 24},
        showlegend=False,
    )
    fig.update_xaxes(range=[0, 1.12], tickformat=".0%", tickvals=[0, 0.25, 0.5, 0.75, 1])
    fig.update_yaxes(type="category", autorange="reversed", automargin=True)
    return fig


def detail(
    project_id: str,
    row: Mapping[str, Any],
    task: str,
    classes: Sequence[str],
    dataset: DatasetView,
    at: int | None,
    evaluated_seq: int | None,
    tol: float | None,
    theme: str | None,
) -> list[Component]:
    """The modal's body for one result: the full image, target, prediction, confidence or error,
    label changes, and the per-class scores (classification)."""
    image_id = str(row.get("image_id"))
    entry = dataset.images.get(image_id)
    name = entry.filename if entry is not None else image_id
    seq = shown_seq(image_id, dataset, at, evaluated_seq)
    good = is_good(row, task, tol)
    flags = relabel_flags(row, dataset, task)
    target = value_text(row.get("target"), task, tol)
    prediction = value_text(row.get("prediction"), task, tol)
    table: list[tuple[str, Any]] = [
        ("File", name),
        ("Subset", SUBSET_TITLES.get(str(row.get("subset")), str(row.get("subset")))),
        ("True", html.B(target)),
        (
            "Predicted",
            html.B(prediction, className="text-success" if good else "text-danger"),
        ),
    ]
    if task == "regression":
        error = row.get("error")
        if error is None:
            error = float(row.get("prediction", 0.0)) - float(row.get("target", 0.0))
        table.append(("Error", f"{float(error):+.4g} (absolute {abs_error(row):.4g})"))
    else:
        table.append(("Confidence", f"{100 * float(row.get('confidence') or 0.0):.1f}%"))
        table.append(("Result", "correct" if good else "wrong"))
    if "evaluated" in flags and entry is not None:
        table.append(("Label now", html.B(value_text(current_target(entry, task), task, tol))))
    body: list[Component] = [
        html.Div(
            html.Img(
                src=image_url(project_id, image_id, seq), alt=name, className="eval-detail-image"
            ),
            className="text-center mb-3",
        ),
        dbc.Table(
            html.Tbody(
                [
                    html.Tr([html.Th(k, className="text-body-secondary fw-normal"), html.Td(v)])
                    for k, v in table
                ]
            ),
            size="sm",
            className="small mb-2 eval-detail-table",
            id="eval-detail-table",
        ),
    ]
    for flag in flags:
        text, color, why = FLAGS[flag]
        body.append(
            html.Div(
                [
                    html.I(className="bi bi-tag me-2"),
                    html.B(text[:1].upper() + text[1:] + ": "),
                    why,
                ],
                className=f"small border rounded px-3 py-2 mb-2 bg-{color}-subtle "
                f"text-{color}-emphasis border-{color}-subtle eval-detail-flag",
                id=f"eval-detail-flag-{flag}",
            )
        )
    scores = row.get("scores")
    if task != "regression" and isinstance(scores, list) and scores and classes:
        body.append(html.Div("Scores per class", className="small fw-semibold mt-2"))
        body.append(
            dcc.Graph(
                id="eval-detail-scores",
                figure=scores_figure(scores, classes, row.get("target"), theme),
                config={"displayModeBar": False, "responsive": True},
            )
        )
    return body


# ---------------------------------------------------------------------- the page's controls
def filter_controls(
    rows: Sequence[dict[str, Any]], report: Mapping[str, Any], task: str
) -> dict[str, Any]:
    """The filter controls for an evaluation's rows: the class and subset options, the range
    slider's ``min``, ``max``, ``step``, ``marks``, its full ``range`` and its ``bounds``."""
    classes = [str(c) for c in report.get("classes", [])]
    low, high, step = range_bounds(rows, task)
    by_class = task != "regression"
    return {
        "true": class_options(rows, classes, "target") if by_class else [],
        "pred": class_options(rows, classes, "prediction") if by_class else [],
        "subset": subset_filter_options(rows),
        "min": low,
        "max": high,
        "step": step,
        "marks": range_marks(low, high),
        "range": [low, high],
        "bounds": [low, high],
    }


def flag_summary(rows: list[dict[str, Any]], dataset: DatasetView, task: str) -> list[Component]:
    """Badges counting the images relabelled after training and after the evaluation."""
    counts = {flag: 0 for flag in FLAGS}
    for row in rows:
        for flag in relabel_flags(row, dataset, task):
            counts[flag] += 1
    return [
        html.Span(
            f"{counts[flag]:,} {FLAGS[flag][0]}",
            className=f"badge bg-{FLAGS[flag][1]}-subtle text-{FLAGS[flag][1]}-emphasis "
            f"border border-{FLAGS[flag][1]}-subtle me-2 eval-flag",
            title=FLAGS[flag][2],
            id=f"eval-flag-count-{flag}",
        )
        for flag in FLAGS
        if counts[flag]
    ]


def query_from_controls(
    wrong: Any,
    true_class: str | None,
    predicted: str | None,
    subset: str | None,
    sort: str | None,
    value: list[float] | None,
    bounds: list[float] | None,
    page: int | None,
) -> ResultsQuery:
    """The query the filter controls describe."""
    low, high = query_range(value, bounds)
    return ResultsQuery(
        wrong_only=bool(wrong),
        true_class=true_class or None,
        predicted_class=predicted or None,
        low=low,
        high=high,
        subset=subset or None,
        sort=sort or None,
        page=int(page or 1),
    )
