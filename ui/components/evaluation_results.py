"""The Evaluation page's per-image results: filters, sorting, paging, tiles and the detail.

Rows come from :func:`aistudio.commands.load_evaluation`, one per image: ``image_id``,
``subset``, ``label_changed`` and what the task writes (``target``, ``prediction``,
``confidence``, ``correct``, ``scores`` for classification; ``error``, ``abs_error`` for
regression; ``truth``, ``predictions``, ``tp``, ``fp``, ``fn`` for detection). Filtering and
sorting a few thousand rows is a pass over them; only the page shown becomes components.
Thumbnails and originals come from the media routes (``/media/<project>/thumb/<image>``), as of
the shown seq in time travel, and as of the evaluation for images removed since.

What differs by task (which filters apply, the orders, a tile's content, the detail) is the
task's own (:func:`ui.tasks.ui_task`); the functions here take the task's name and hold what the
tasks share: the query, paging, the tile's frame, the relabel flags, the detail's table.

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
from dash import html
from dash.development.base_component import Component

from projections.dataset import DatasetView
from ui.components.evaluation_runs import SUBSET_TITLES
from ui.tasks import ui_task

PAGE_SIZE = 48
TILE_TYPE = "eval-tile"
"""Pattern-matching id type of a result tile: ``{"type": TILE_TYPE, "index": image_id}``."""
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
        wrong_only: only images the model got wrong (a misclassification; an error at the
            threshold for detection).
        true_class: only images of this true class (holding an object of it, for detection).
        predicted_class: only images predicted as this class (with a detection of it kept at
            the threshold, for detection).
        low: smallest confidence (classification) or absolute error (regression); None: open.
        high: largest confidence or absolute error; None: open.
        subset: only images of this subset (``train``, ``val``, ``test``).
        sort: one of the task's orders (None: the task's default).
        page: the page, from 1.
        threshold: the confidence threshold detections are kept at (tasks with a threshold).
    """

    wrong_only: bool = False
    true_class: str | None = None
    predicted_class: str | None = None
    low: float | None = None
    high: float | None = None
    subset: str | None = None
    sort: str | None = None
    page: int = 1
    threshold: float | None = None


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


@dataclass(frozen=True, slots=True)
class ResultsContext:
    """What a tile or the detail needs besides its row.

    Attributes:
        project_id: the project.
        dataset: the dataset view shown (now, or as of ``at``).
        at: the seq shown in time travel (None: now).
        evaluated_seq: the seq of the evaluation's ``EvaluationCompleted``.
        report: the evaluation's report.
        threshold: the confidence threshold shown (tasks with a threshold).
        theme: ``light`` or ``dark`` (the detail's figures).
    """

    project_id: str
    dataset: DatasetView
    at: int | None
    evaluated_seq: int | None
    report: Mapping[str, Any]
    threshold: float | None = None
    theme: str | None = None

    @property
    def classes(self) -> list[str]:
        """The evaluation's classes, in order."""
        return [str(c) for c in self.report.get("classes", [])]

    def name_of(self, image_id: str) -> str:
        """The image's file name (its id when it is no longer in the dataset)."""
        entry = self.dataset.images.get(image_id)
        return entry.filename if entry is not None else image_id

    def seq_of(self, image_id: str) -> int | None:
        """The seq an image's address asks for (see :func:`shown_seq`)."""
        return shown_seq(image_id, self.dataset, self.at, self.evaluated_seq)


# ---------------------------------------------------------------------- one row
def relabel_flags(row: Mapping[str, Any], dataset: DatasetView, task: str) -> list[str]:
    """Keys of :data:`FLAGS` for a row: ``trained``, ``evaluated``, ``removed``."""
    return ui_task(task).relabel_flags(row, dataset)


# ---------------------------------------------------------------------- filters and order
def filter_rows(
    rows: Sequence[dict[str, Any]], task: str, query: ResultsQuery
) -> list[dict[str, Any]]:
    """The rows that match every filter of ``query``, in their order."""
    out: list[dict[str, Any]] = list(rows)
    if query.subset:
        out = [r for r in out if r.get("subset") == query.subset]
    return ui_task(task).filter_rows(out, query)


def file_names(dataset: DatasetView, rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """image id -> file name (the id for images no longer in ``dataset``)."""
    images = dataset.images
    names: dict[str, str] = {}
    for row in rows:
        image_id = str(row.get("image_id"))
        entry = images.get(image_id)
        names[image_id] = entry.filename if entry is not None else image_id
    return names


def by_name(
    rows: Sequence[dict[str, Any]], names: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """``rows`` by file name (case-insensitive), then id: the order ties keep."""
    names = names or {}

    def key(row: Mapping[str, Any]) -> tuple[str, str]:
        image_id = str(row.get("image_id"))
        return names.get(image_id, image_id).casefold(), image_id

    return sorted(rows, key=key)


def sort_rows(
    rows: Sequence[dict[str, Any]],
    task: str,
    sort: str | None,
    names: Mapping[str, str] | None = None,
    threshold: float | None = None,
) -> list[dict[str, Any]]:
    """``rows`` in the order ``sort`` names (the task's default when unknown); ties by name.

    Classification's ``mistakes``: misclassified images first, most confident first (the worst
    mistakes), then the correct ones, least confident first. Regression's ``error_desc``:
    largest absolute error first. Detection's ``worst``: most errors at ``threshold`` first.
    """
    spec = ui_task(task)
    known = {key for key, _ in spec.sorts}
    key = sort if sort in known else spec.default_sort
    return spec.sort_rows(rows, key, names or {}, threshold)


def results_page(
    rows: Sequence[dict[str, Any]],
    task: str,
    query: ResultsQuery,
    dataset: DatasetView,
    page_size: int = PAGE_SIZE,
) -> ResultsPage:
    """The page of filtered, sorted rows that ``query`` asks for (the last when past it)."""
    matching = filter_rows(rows, task, query)
    ordered = sort_rows(matching, task, query.sort, file_names(dataset, matching), query.threshold)
    total = len(ordered)
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, int(query.page or 1)), pages)
    start = (page - 1) * page_size
    return ResultsPage(ordered[start : start + page_size], total, page, pages)


# ---------------------------------------------------------------------- filter controls
def range_bounds(rows: Sequence[dict[str, Any]], task: str) -> tuple[float, float, float]:
    """``(min, max, step)`` of the range slider: confidence 0 to 1, or absolute error 0 to the
    largest (rounded up to two significant digits)."""
    return ui_task(task).range_bounds(rows)


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


def count_options(counts: Mapping[str, int], classes: Sequence[str]) -> list[dict[str, Any]]:
    """Dropdown options of the classes (those of the report first) with their counts."""
    names = list(classes) + sorted(c for c in counts if c not in classes)
    return [{"label": f"{c} ({counts.get(c, 0):,})", "value": c} for c in names]


def class_options(
    rows: Sequence[dict[str, Any]], classes: Sequence[str], key: str
) -> list[dict[str, Any]]:
    """The classes with how many rows have each as ``key`` (``target`` or ``prediction``)."""
    counts: dict[str, int] = {}
    for row in rows:
        value = row.get(key)
        if value is not None:
            counts[str(value)] = counts.get(str(value), 0) + 1
    return count_options(counts, classes)


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
    return [{"label": label, "value": key} for key, label in ui_task(task).sorts]


# ---------------------------------------------------------------------- tiles
def shown_seq(
    image_id: str, dataset: DatasetView, at: int | None, evaluated_seq: int | None
) -> int | None:
    """The seq an image's address asks for: ``at`` in time travel, the evaluation's seq for an
    image removed since, else None (now)."""
    if image_id not in dataset.images and evaluated_seq is not None:
        return evaluated_seq
    return at


def flag_badges(flags: Sequence[str], small: bool = True) -> list[Component]:
    """A badge per relabel flag."""
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


def result_tile(
    image_id: str,
    picture: Component,
    good: bool,
    measure: str,
    flags: Sequence[str],
    label: list[Component],
    title: str,
    css: str = "",
) -> html.Div:
    """One clickable result: ``picture`` with the ``measure`` badge (green when ``good``, red
    otherwise) and the flags over it, ``label`` under it; a green or red border."""
    children: list[Component] = [
        html.Div(
            [
                picture,
                html.Span(
                    measure,
                    className="eval-tile-measure badge " + ("bg-success" if good else "bg-danger"),
                ),
                html.Div(flag_badges(flags), className="eval-tile-flags"),
            ],
            className="eval-tile-image",
        ),
        html.Div(label, className="thumb-label eval-tile-label"),
    ]
    return html.Div(
        children,
        id={"type": TILE_TYPE, "index": image_id},
        className="thumb eval-tile "
        + ("eval-tile-ok" if good else "eval-tile-wrong")
        + (f" {css}" if css else ""),
        n_clicks=0,
        title=title,
        role="button",
        tabIndex="0",
    )


def tiles(ctx: ResultsContext, rows: Sequence[Mapping[str, Any]], task: str) -> list[Component]:
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
    spec = ui_task(task)
    return [spec.tile(ctx, r) for r in rows]


def count_text(total: int, of: int) -> str:
    """``12 images match (of 240)``."""
    noun = "image matches" if total == 1 else "images match"
    text = f"{total:,} {noun}"
    if total != of:
        text += f" (of {of:,})"
    return text


# ---------------------------------------------------------------------- the detail
def detail_table(pairs: Sequence[tuple[str, Any]]) -> dbc.Table:
    """The detail's two-column table of facts."""
    return dbc.Table(
        html.Tbody(
            [
                html.Tr([html.Th(k, className="text-body-secondary fw-normal"), html.Td(v)])
                for k, v in pairs
            ]
        ),
        size="sm",
        className="small mb-2 eval-detail-table",
        id="eval-detail-table",
    )


def flag_notes(flags: Sequence[str]) -> list[Component]:
    """A line per relabel flag, saying what it means."""
    notes: list[Component] = []
    for flag in flags:
        text, color, why = FLAGS[flag]
        notes.append(
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
    return notes


def detail(ctx: ResultsContext, row: Mapping[str, Any], task: str) -> list[Component]:
    """The modal's body for one result: the full image and what the task says of it (target,
    prediction, confidence or error, the boxes), label changes, per-class scores."""
    return ui_task(task).detail(ctx, row)


# ---------------------------------------------------------------------- the page's controls
def filter_controls(
    rows: Sequence[dict[str, Any]], report: Mapping[str, Any], task: str
) -> dict[str, Any]:
    """The filter controls for an evaluation's rows: the class and subset options, the range
    slider's ``min``, ``max``, ``step``, ``marks``, its full ``range`` and its ``bounds``."""
    spec = ui_task(task)
    true, pred = spec.class_filter_options(rows, report)
    low, high, step = spec.range_bounds(rows)
    return {
        "true": true,
        "pred": pred,
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
    threshold: float | None = None,
) -> ResultsQuery:
    """The query the filter controls describe (``threshold``: the confidence slider's value)."""
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
        threshold=float(threshold) if threshold is not None else None,
    )
