"""What the pages ask of a task, with the answers of a task they know nothing particular about.

:class:`UiTask` is the interface of :func:`ui.tasks.ui_task`. Its defaults describe a task
whose images are browsed, filtered by class and drawn with their annotation on the Dataset page,
and that the Evaluation page does not evaluate yet (anomaly detection, oriented boxes).
:class:`TargetUi` adds the Evaluation page of a task with one target per image and one
prediction of it (classification, regression): a tile reads ``target → prediction``.

Torch-free: plain data, Dash components and Plotly figures of the rows and report that
:func:`aistudio.commands.load_evaluation` returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import plotly.graph_objects as go
from dash import Patch, html
from dash.development.base_component import Component

from events.schemas.annotation import TASK_ANNOTATION_KINDS
from projections.dataset import DatasetView, ImageEntry
from ui.components.dataset_grid import UNLABELED_OPTION, image_url, thumb_url
from ui.components.evaluation_charts import graph
from ui.components.evaluation_results import (
    ResultsContext,
    ResultsQuery,
    by_name,
    detail_table,
    flag_notes,
    result_tile,
)
from ui.components.evaluation_runs import SUBSET_TITLES
from ui.components.training_charts import metric_title

OBJECT_KINDS: tuple[str, ...] = ("boxes", "instances", "rboxes")
"""Annotation kinds made of objects that are drawn over the image."""


@dataclass(frozen=True, slots=True)
class LabelInput:
    """What the Dataset page's label editor asks to store: a class (or none), or a value."""

    label: str | None = None
    value: float | None = None


MASK_OPACITY_ID = "eval-mask-opacity"
"""The Evaluation page's mask opacity slider (the page listens to it; a task draws it)."""
ERROR_VIEW_ID = "eval-error-view"
"""The Evaluation page's error view switch (semantic segmentation draws it: the tiles show the
wrong pixels instead of the prediction; the page sets a class on the results, no re-render)."""


class UiTask:
    """The UI side of one task (see the module's docstring for what the defaults describe).

    Attributes:
        name: the task's name (``events.schemas.common.TASKS``).
        class_filter_placeholder: the Dataset page's class filter when empty.
        always_counts_classes: the Dataset page counts the classes even when there are none yet.
        histogram: what the Dataset page's histogram shows: the classes, or the values.
        label_editor: what the Dataset page's editor changes: the ``label``, the ``value``, or
            nothing (None; objects have their own editor).
        classes_in_files: an image's classes are in its annotation's files (semantic masks),
            not in the dataset view: the class filter and histogram read them
            (:meth:`image_classes`).
        evaluates: the Evaluation page evaluates this task's models.
        uses_threshold: its predictions are kept at a confidence threshold a person chooses.
        headlines: the metrics shown as cards, in order (empty: every metric).
        metric_help: a metric's explanation (the card's tooltip).
        metric_titles: a metric's title where :func:`metric_title` would not say it well.
        sorts: the orders of the per-image results, ``(key, label)``.
        default_sort: the order shown first (worst first).
        class_filters: the results are filtered by wrong / true class / predicted class.
        wrong_filter_label: the "wrong only" switch's label.
        true_class_placeholder: the true class filter when empty.
        predicted_class_placeholder: the predicted class filter when empty.
        range_label: the range slider's title (None: no range filter).
        legend: what the tiles' colours mean (under the grid).
        threshold_range: the confidence slider's ``(min, max, step)`` (tasks with a threshold).
        threshold_label: the confidence slider's title.
    """

    class_filter_placeholder: ClassVar[str] = "All classes"
    always_counts_classes: ClassVar[bool] = False
    histogram: ClassVar[Literal["classes", "values"]] = "classes"
    label_editor: ClassVar[Literal["label", "value"] | None] = None
    classes_in_files: ClassVar[bool] = False

    evaluates: ClassVar[bool] = False
    uses_threshold: ClassVar[bool] = False
    headlines: ClassVar[tuple[str, ...]] = ()
    metric_help: ClassVar[Mapping[str, str]] = {}
    metric_titles: ClassVar[Mapping[str, str]] = {}
    sorts: ClassVar[tuple[tuple[str, str], ...]] = (("name", "File name"),)
    default_sort: ClassVar[str] = "name"
    class_filters: ClassVar[bool] = False
    wrong_filter_label: ClassVar[str] = "Mistakes only"
    true_class_placeholder: ClassVar[str] = "Any true class"
    predicted_class_placeholder: ClassVar[str] = "Any predicted class"
    range_label: ClassVar[str | None] = None
    legend: ClassVar[str] = ""
    threshold_range: ClassVar[tuple[float, float, float]] = (0.05, 0.95, 0.01)
    threshold_label: ClassVar[str] = "Confidence threshold"

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    # ------------------------------------------------------------------ the dataset
    @property
    def annotation_kind(self) -> str | None:
        """The kind of annotation the task learns from (DESIGN §3b), None for an unknown task."""
        return TASK_ANNOTATION_KINDS.get(self.name)

    @property
    def draws_objects(self) -> bool:
        """Whether the task's images carry objects to draw (boxes, instances, rotated boxes)."""
        return self.annotation_kind in OBJECT_KINDS

    @property
    def overlay_switch(self) -> str | None:
        """The label of the Dataset page's switch that hides what is drawn over the images
        (None: nothing is drawn, no switch)."""
        return "Show boxes" if self.draws_objects else None

    def class_options(
        self, dataset: DatasetView, project_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The Dataset page's class filter: every class with its count, then the images without
        an annotation. When the images hold objects, the count is of the images the filter
        finds (those holding an object of the class) and of the objects in them.
        ``project_id``: where the annotations' files are (tasks that read them)."""
        objects = any(dataset.object_counts.values())
        images = _images_per_class(dataset) if objects else {}
        options: list[dict[str, Any]] = [
            {
                "label": (
                    f"{name} ({images.get(name, 0):,} images, "
                    f"{dataset.object_counts.get(name, 0):,} objects)"
                    if objects
                    else f"{name} ({dataset.label_counts.get(name, 0):,})"
                ),
                "value": name,
            }
            for name in dataset.classes
        ]
        unlabeled = "Not annotated" if objects else "Unlabeled"
        options.append({"label": f"{unlabeled} ({dataset.unlabeled:,})", "value": UNLABELED_OPTION})
        return options

    def images_with_class(
        self, dataset: DatasetView, ids: Sequence[str], name: str, project_id: str | None
    ) -> list[str] | None:
        """The images of ``ids`` the Dataset page's class filter finds for class ``name``, for
        a task whose classes are in its annotations' files (None: the view's own
        :meth:`~projections.dataset.DatasetView.filter` finds them, by label or object)."""
        return None

    def image_classes(
        self, dataset: DatasetView, project_id: str | None
    ) -> Mapping[str, frozenset[str]] | None:
        """image id -> the classes in its annotation's files, for the histogram of a task whose
        classes are there (None: the view's label and object counts are the histogram)."""
        return None

    def dataset_legend(self, dataset: DatasetView) -> Component | None:
        """What the Dataset page shows beside its figures to read the overlays (None: nothing)."""
        return None

    def parse_label(
        self, choice: str | None, new_name: str | None, value: float | str | None
    ) -> LabelInput | str:
        """What the label editor asks to store, or why it cannot: a typed new class wins over
        the dropdown's ``choice`` (:data:`UNLABELED_OPTION`: no label)."""
        typed = (new_name or "").strip()
        if typed:
            return LabelInput(label=typed)
        if choice and choice != UNLABELED_OPTION:
            return LabelInput(label=choice)
        if choice is None:
            return "Choose a class or type a new one."
        return LabelInput()

    # ------------------------------------------------------------------ evaluation: images
    def has_target(self, entry: ImageEntry) -> bool:
        """Whether an image can be scored (it has what the task learns from)."""
        return entry.annotated

    def target_differs(self, row: Mapping[str, Any], entry: ImageEntry) -> bool:
        """Whether the image's annotation now differs from the one the evaluation scored."""
        return False

    def relabel_flags(self, row: Mapping[str, Any], dataset: DatasetView) -> list[str]:
        """Keys of :data:`~ui.components.evaluation_results.FLAGS` for a row: ``trained``
        (the row's ``label_changed``), ``removed`` (the image is not in ``dataset``),
        ``evaluated`` (its annotation differs from the one the evaluation scored)."""
        flags: list[str] = []
        if row.get("label_changed"):
            flags.append("trained")
        entry = dataset.images.get(str(row.get("image_id")))
        if entry is None:
            flags.append("removed")
            return flags
        if self.target_differs(row, entry):
            flags.append("evaluated")
        return flags

    def filter_rows(
        self, rows: Sequence[dict[str, Any]], query: ResultsQuery
    ) -> list[dict[str, Any]]:
        """The rows that match the task's filters of ``query`` (the subset is filtered already)."""
        return list(rows)

    def sort_rows(
        self,
        rows: Sequence[dict[str, Any]],
        key: str,
        names: Mapping[str, str],
        threshold: float | None = None,
    ) -> list[dict[str, Any]]:
        """``rows`` in the order ``key`` (one of :attr:`sorts`); ties by file name."""
        return by_name(rows, names)

    def range_bounds(self, rows: Sequence[dict[str, Any]]) -> tuple[float, float, float]:
        """``(min, max, step)`` of the range slider."""
        return 0.0, 1.0, 0.01

    def class_filter_options(
        self, rows: Sequence[dict[str, Any]], report: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The true and predicted class filters' options (empty without class filters)."""
        return [], []

    def tile(self, ctx: ResultsContext, row: Mapping[str, Any]) -> Component:
        """One clickable result of the grid: the thumbnail and its file name."""
        image_id = str(row.get("image_id"))
        name = ctx.name_of(image_id)
        picture = html.Img(src=thumb_url(ctx.project_id, image_id, ctx.seq_of(image_id)), alt=name)
        flags = self.relabel_flags(row, ctx.dataset)
        return result_tile(image_id, picture, True, "", flags, [html.Span(name)], name)

    def result_controls(self) -> list[Component]:
        """Controls the results section shows beside the threshold (none by default; instance
        segmentation's mask opacity slider, :data:`MASK_OPACITY_ID`)."""
        return []

    def detail(self, ctx: ResultsContext, row: Mapping[str, Any]) -> list[Component]:
        """The detail dialog's body: the full image, its file and subset, its flags."""
        image_id = str(row.get("image_id"))
        flags = self.relabel_flags(row, ctx.dataset)
        return [
            detail_image(ctx, image_id),
            detail_table([("File", ctx.name_of(image_id)), ("Subset", subset_title(row))]),
            *flag_notes(flags),
        ]

    # ------------------------------------------------------------------ evaluation: figures
    def metric_title(self, name: str) -> str:
        """A metric's title on its card."""
        return self.metric_titles.get(name) or metric_title(name)

    def card_note(self, name: str, report: Mapping[str, Any] | None) -> str | None:
        """A line under a card's value (None: none)."""
        return None

    def figures(
        self, rows: Sequence[dict[str, Any]], report: dict[str, Any], theme: str | None
    ) -> list[tuple[str, go.Figure]]:
        """The plots of an evaluation, as ``(graph id, figure)`` in display order."""
        return []

    def metrics_body(
        self, rows: Sequence[dict[str, Any]], report: dict[str, Any], theme: str | None
    ) -> list[Component]:
        """What the metrics section shows under the cards: the plots (and any table)."""
        return [graph(graph_id, figure) for graph_id, figure in self.figures(rows, report, theme)]

    # ------------------------------------------------------------------ the threshold
    def initial_threshold(self, report: Mapping[str, Any], chosen: float | None) -> float | None:
        """Where the confidence slider starts: the chosen threshold, else the evaluation's
        (None for a task without a threshold)."""
        return None

    def threshold_summary(
        self, rows: Sequence[Mapping[str, Any]], threshold: float
    ) -> list[Component]:
        """What the predictions kept at ``threshold`` add up to, over every image."""
        return []

    def chosen_threshold_text(
        self, chosen: float | None, report: Mapping[str, Any]
    ) -> list[Component]:
        """Which threshold is chosen for the experiment (``ThresholdSet``), and what applies
        when none is."""
        return []

    def threshold_patch(self, report: Mapping[str, Any], threshold: float) -> Patch | None:
        """A :class:`dash.Patch` of the plot that marks the threshold shown (None: no plot
        marks it)."""
        return None

    # ------------------------------------------------------------------ downloads
    def table_csv(self, report: Mapping[str, Any]) -> tuple[str, str] | None:
        """The metrics section's table as CSV: ``(file name suffix, text)`` (None: no table)."""
        return None


class TargetUi(UiTask):
    """A task with one target per image and one prediction of it; the rows carry ``target``
    and ``prediction``."""

    evaluates: ClassVar[bool] = True
    legend: ClassVar[str] = "green: right, red: wrong"

    # ------------------------------------------------------------------ one row
    def current_target(self, entry: ImageEntry | None) -> Any:
        """An image's target in the dataset view given (None: none)."""
        return None

    def target_differs(self, row: Mapping[str, Any], entry: ImageEntry) -> bool:
        """Whether the image's target now differs from the row's."""
        return self.current_target(entry) != row.get("target")

    def score(self, row: Mapping[str, Any]) -> float:
        """What the range filter reads."""
        return 0.0

    def tolerance(self, report: Mapping[str, Any]) -> float | None:
        """The error under which a prediction counts as good (None: exact)."""
        return None

    def is_good(self, row: Mapping[str, Any], tol: float | None) -> bool:
        """Green or red."""
        return row.get("target") == row.get("prediction")

    def value_text(self, value: Any, tol: float | None = None) -> str:
        """A target or prediction as shown."""
        return "—" if value is None else str(value)

    def measure_text(self, row: Mapping[str, Any]) -> str:
        """The tile's badge."""
        return ""

    def detail_rows(self, row: Mapping[str, Any], good: bool) -> list[tuple[str, Any]]:
        """The detail table's rows after true and predicted."""
        return []

    def detail_extras(self, ctx: ResultsContext, row: Mapping[str, Any]) -> list[Component]:
        """What the detail shows under its table and flags."""
        return []

    # ------------------------------------------------------------------ filters
    def filter_rows(
        self, rows: Sequence[dict[str, Any]], query: ResultsQuery
    ) -> list[dict[str, Any]]:
        """The range filter on :meth:`score`."""
        out = list(rows)
        if query.low is not None:
            out = [r for r in out if self.score(r) >= query.low]
        if query.high is not None:
            out = [r for r in out if self.score(r) <= query.high]
        return out

    # ------------------------------------------------------------------ tile and detail
    def tile(self, ctx: ResultsContext, row: Mapping[str, Any]) -> Component:
        """The thumbnail, target → prediction, confidence or error, flags; a green border when
        right (or close), red when wrong."""
        image_id = str(row.get("image_id"))
        name = ctx.name_of(image_id)
        tol = self.tolerance(ctx.report)
        good = self.is_good(row, tol)
        target = self.value_text(row.get("target"), tol)
        prediction = self.value_text(row.get("prediction"), tol)
        measure = self.measure_text(row)
        picture = html.Img(src=thumb_url(ctx.project_id, image_id, ctx.seq_of(image_id)), alt=name)
        label: list[Component] = [
            html.Span(target, className="eval-tile-target"),
            html.I(className="bi bi-arrow-right mx-1"),
            html.Span(prediction, className="eval-tile-prediction fw-semibold"),
        ]
        return result_tile(
            image_id,
            picture,
            good,
            measure,
            self.relabel_flags(row, ctx.dataset),
            label,
            f"{name} · true {target} · predicted {prediction} · {measure}",
        )

    def detail(self, ctx: ResultsContext, row: Mapping[str, Any]) -> list[Component]:
        """The full image, target, prediction, the task's figures of it, label changes and
        the task's extras."""
        image_id = str(row.get("image_id"))
        entry = ctx.dataset.images.get(image_id)
        tol = self.tolerance(ctx.report)
        good = self.is_good(row, tol)
        flags = self.relabel_flags(row, ctx.dataset)
        table: list[tuple[str, Any]] = [
            ("File", ctx.name_of(image_id)),
            ("Subset", subset_title(row)),
            ("True", html.B(self.value_text(row.get("target"), tol))),
            (
                "Predicted",
                html.B(
                    self.value_text(row.get("prediction"), tol),
                    className="text-success" if good else "text-danger",
                ),
            ),
            *self.detail_rows(row, good),
        ]
        if "evaluated" in flags and entry is not None:
            table.append(("Label now", html.B(self.value_text(self.current_target(entry), tol))))
        return [
            detail_image(ctx, image_id),
            detail_table(table),
            *flag_notes(flags),
            *self.detail_extras(ctx, row),
        ]


# ---------------------------------------------------------------------- shared pieces
def subset_title(row: Mapping[str, Any]) -> str:
    """The row's subset as shown (``Validation``)."""
    subset = str(row.get("subset"))
    return SUBSET_TITLES.get(subset, subset)


def detail_image(ctx: ResultsContext, image_id: str) -> html.Div:
    """The detail's full image (as of the shown seq)."""
    return html.Div(
        html.Img(
            src=image_url(ctx.project_id, image_id, ctx.seq_of(image_id)),
            alt=ctx.name_of(image_id),
            className="eval-detail-image",
        ),
        className="text-center mb-3",
    )


def _images_per_class(dataset: DatasetView) -> dict[str, int]:
    """How many images hold at least one object of each class."""
    counts: dict[str, int] = {}
    for entry in dataset.images.values():
        objects = (entry.structured or {}).get("objects") or ()
        for name in {str(o.get("class")) for o in objects}:
            counts[name] = counts.get(name, 0) + 1
    return counts
