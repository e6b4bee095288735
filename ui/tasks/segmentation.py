"""Semantic segmentation in the pages: one index mask per image, a class for every pixel.

Dataset page: each image's mask drawn over it as a colour overlay (the shared
:func:`~ui.components.annotation_overlay.annotated`; background transparent, ignore a faint
grey), a legend of the project's classes in their colours, and a class filter and histogram of
the images whose masks hold each class (read from the masks themselves, cached by file, for
datasets of at most :data:`SCAN_LIMIT` images; larger ones keep the "Not annotated" filter only).

Evaluation page: mIoU, pixel accuracy and macro Dice as cards; per-class IoU bars, the confusion
matrix of pixels (rows truth, columns prediction, each row's shares, counts on hover) and the
per-class table with its CSV; per-image results worst (lowest image mIoU) first, each tile the
ground truth beside the prediction over the image, the opacity slider and an error view switch
(wrong pixels red); the detail shows truth, prediction and errors side by side, large.

A row (one image) holds ``target`` (the annotation scored: ``mask``, ``classes``), ``prediction``
(``png``: base64 L PNG of ``size`` x ``size``, values indices of the report's classes), ``miou``,
``pixel_accuracy``, ``classes_present`` and ``classes_predicted``. Truth and prediction are
stretched over the displayed image (the model saw it stretched to S x S), pixelated; the error
view is computed here at S x S (:mod:`ui.components.semantic_masks`, which caches every picture).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import html
from dash.development.base_component import Component

from aistudio.workspace import WorkspaceError
from projections.dataset import DatasetView, ImageEntry
from ui.components.annotation_overlay import (
    SEMANTIC_KIND,
    Fit,
    class_color,
    color_code,
    framed,
    legend_of,
    semantic_element,
    semantic_url,
)
from ui.components.dataset_grid import UNLABELED_OPTION, image_url, thumb_url
from ui.components.detection_charts import per_class_table
from ui.components.evaluation_charts import (
    ANNOTATED_CELLS,
    FIGURE_HEIGHT,
    finish_figure,
    graph,
    message_figure,
)
from ui.components.evaluation_results import (
    ResultsContext,
    ResultsQuery,
    by_name,
    count_options,
    detail_table,
    flag_notes,
    result_tile,
)
from ui.components.semantic_masks import (
    ERROR_RGBA,
    IGNORE_RGBA,
    MaskError,
    error_uri,
    mask_classes,
    prediction_uri,
    read_mask,
)
from ui.state import get_state
from ui.tasks.base import ERROR_VIEW_ID, UiTask, subset_title
from ui.tasks.instance_segmentation import opacity_control

logger = logging.getLogger(__name__)

SCAN_LIMIT = 20_000
"""Datasets of at most this many images get their masks' classes read for the Dataset page's
class filter and histogram (each mask once, then cached)."""
PER_CLASS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("class", "Class"),
    ("iou", "IoU"),
    ("dice", "Dice"),
    ("accuracy", "Accuracy"),
    ("pixels", "Truth pixels"),
    ("predicted", "Predicted pixels"),
)
"""The per-class table's columns (report key, title), as in the CSV."""
IOU_COLOR = "#0d6efd"
_PRESENT: dict[tuple[str, int, int], dict[str, frozenset[str]]] = {}
"""The classes each image's mask holds, per dataset view (project, seq, images): the class
options, the histogram and the filter of one page render walk the images once, not three times."""
_PRESENT_VIEWS = 8


# ---------------------------------------------------------------------- a row's pieces
def _rgba_css(rgba: tuple[int, int, int, int]) -> str:
    r, g, b, a = rgba
    return f"rgba({r}, {g}, {b}, {a / 255:.2f})"


def mask_path(project_id: str, ref: Mapping[str, Any] | None) -> Path | None:
    """The content-store path of a mask reference (None when there is none or it is malformed)."""
    sha = (ref or {}).get("sha256")
    if not sha:
        return None
    try:
        return get_state().workspace.image_path(project_id, str(sha), "png")
    except WorkspaceError:
        return None


def target_legend(row: Mapping[str, Any], classes: Sequence[str]) -> tuple[str, ...]:
    """What the row's truth values name: its legend, or the project's classes."""
    return legend_of((row.get("target") or {}).get("classes"), classes)


def row_size(
    ctx: ResultsContext, row: Mapping[str, Any], entry: ImageEntry | None
) -> tuple[int, int]:
    """The upright size of the row's image: the dataset's, or its truth mask's (an image removed
    since); ``(0, 0)`` when neither is known."""
    if entry is not None:
        return entry.upright_size
    path = mask_path(ctx.project_id, (row.get("target") or {}).get("mask"))
    if path is not None:
        try:
            height, width = read_mask(path).shape
            return width, height
        except MaskError:
            pass
    return 0, 0


def truth_overlay(
    ctx: ResultsContext, row: Mapping[str, Any], width: int, height: int, fit: Fit
) -> list[Component]:
    """The row's truth mask coloured by class (through the mask route)."""
    sha = ((row.get("target") or {}).get("mask") or {}).get("sha256")
    if not sha:
        return []
    classes = ctx.dataset.classes
    code = color_code(target_legend(row, classes), classes)
    element = semantic_element(
        semantic_url(ctx.project_id, str(sha), code), width, height, fit, "semantic-truth"
    )
    return [] if element is None else [element]


def prediction_overlay(
    ctx: ResultsContext, row: Mapping[str, Any], width: int, height: int, fit: Fit
) -> list[Component]:
    """The row's prediction coloured by class (a ``data:`` picture)."""
    png = (row.get("prediction") or {}).get("png")
    if not png:
        return []
    try:
        src = prediction_uri(str(png), color_code(ctx.classes, ctx.dataset.classes))
    except MaskError as exc:
        logger.warning("prediction of %s not drawn: %s", row.get("image_id"), exc)
        return []
    element = semantic_element(src, width, height, fit, "semantic-prediction")
    return [] if element is None else [element]


def errors_of(ctx: ResultsContext, row: Mapping[str, Any]) -> tuple[str, int, int] | None:
    """The row's error view (``data:`` picture, wrong pixels, scored pixels at S x S), or None
    when the truth file or the prediction cannot be read."""
    png = (row.get("prediction") or {}).get("png")
    path = mask_path(ctx.project_id, (row.get("target") or {}).get("mask"))
    if not png or path is None:
        return None
    legend = target_legend(row, ctx.dataset.classes)
    try:
        return error_uri(path, legend, str(png), tuple(ctx.classes))
    except MaskError as exc:
        logger.warning("error view of %s not drawn: %s", row.get("image_id"), exc)
        return None


def error_overlay(
    ctx: ResultsContext, row: Mapping[str, Any], width: int, height: int, fit: Fit
) -> list[Component]:
    """The row's wrong pixels in red (hidden until the error view is switched on)."""
    errors = errors_of(ctx, row)
    if errors is None:
        return []
    src, wrong, scored = errors
    share = f" ({wrong / scored:.1%})" if scored else ""
    element = semantic_element(
        src, width, height, fit, "semantic-errors", f"{wrong:,} wrong pixels{share}"
    )
    return [] if element is None else [element]


def _figure(value: Any) -> str:
    return "—" if value is None else f"{float(value):.3f}"


def _short(value: Any) -> str:
    return "—" if value is None else f"{float(value):.2f}"


def class_swatches(names: Sequence[str], classes: Sequence[str]) -> list[Component]:
    """Each class name in its colour (a filled swatch)."""
    return [
        html.Span(
            [
                html.Span(
                    className="semantic-swatch", style={"background": class_color(n, classes)}
                ),
                n,
            ],
            className="me-3 text-nowrap semantic-legend-item",
        )
        for n in names
    ]


def semantic_legend(
    names: Sequence[str],
    classes: Sequence[str],
    background: str | None,
    css: str = "",
    **kw: Any,
) -> html.Div:
    """What the overlays' colours mean: each of ``names`` in its colour (by its place in the
    project's ``classes``), the ``background`` (not drawn), ignore."""
    items: list[Component] = []
    if background is not None:
        items.append(
            html.Span(
                [
                    html.Span(className="semantic-swatch semantic-swatch-none"),
                    f"{background}: not drawn",
                ],
                className="me-3 text-nowrap semantic-legend-item",
            )
        )
    items += class_swatches([c for c in names if c != background], classes)
    items.append(
        html.Span(
            [
                html.Span(
                    className="semantic-swatch", style={"background": _rgba_css(IGNORE_RGBA)}
                ),
                "ignored (255)",
            ],
            className="me-3 text-nowrap semantic-legend-item",
        )
    )
    css = "small text-body-secondary semantic-legend" + (f" {css}" if css else "")
    return html.Div(items, className=css, **kw)


# ---------------------------------------------------------------------- figures
def per_class_iou_figure(
    report: Mapping[str, Any], classes: Sequence[str], theme: str | None
) -> go.Figure:
    """Each class's IoU as a bar in its colour (Dice, accuracy and pixel counts on hover)."""
    rows = [r for r in report.get("per_class") or [] if isinstance(r, Mapping)]
    if not rows:
        return message_figure("No per-class figures in this evaluation", theme)
    names = [str(r.get("class")) for r in rows]
    custom = [
        [
            _figure(r.get("dice")),
            _figure(r.get("accuracy")),
            int(r.get("pixels") or 0),
            int(r.get("predicted") or 0),
        ]
        for r in rows
    ]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[r.get("iou") for r in rows],
            marker_color=[class_color(n, classes) for n in names],
            customdata=custom,
            text=[_short(r.get("iou")) for r in rows],
            textposition="auto",
            hovertemplate="%{x}<br>IoU %{y:.3f}<br>Dice %{customdata[0]}<br>accuracy "
            "%{customdata[1]}<br>%{customdata[2]:,} truth pixels<br>%{customdata[3]:,} predicted"
            "<extra></extra>",
        )
    )
    finish_figure(fig, theme, "IoU per class (— : no pixel of the class, none predicted)")
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[0, 1.05], title_text="IoU")
    fig.update_layout(showlegend=False, bargap=0.25)
    return fig


def pixel_confusion_figure(report: Mapping[str, Any], theme: str | None) -> go.Figure:
    """The confusion matrix of pixels: true class by row, predicted by column; the colour (and
    the cell's text, when few classes) the share of the true class's pixels, counts on hover."""
    labels = [str(c) for c in report.get("classes") or []]
    matrix = [[int(v) for v in row] for row in report.get("confusion_matrix") or []]
    if not labels or len(matrix) != len(labels):
        return message_figure("No confusion matrix in this evaluation", theme)
    totals = [sum(row) for row in matrix]
    shares = [
        [count / totals[i] if totals[i] else None for count in row] for i, row in enumerate(matrix)
    ]
    annotate = len(labels) ** 2 <= ANNOTATED_CELLS
    fig = go.Figure(
        go.Heatmap(
            z=shares,
            x=labels,
            y=labels,
            customdata=matrix,
            texttemplate="%{z:.0%}" if annotate else None,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            xgap=1,
            ygap=1,
            colorbar={"title": {"text": "share of<br>true pixels"}, "tickformat": ".0%"},
            hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata:,} pixels "
            "(%{z:.1%} of %{y})<extra></extra>",
        )
    )
    side = max(FIGURE_HEIGHT, min(900, 120 + 28 * len(labels)))
    finish_figure(fig, theme, "Confusion matrix of pixels (ignored pixels left out)", side)
    fig.update_xaxes(title_text="predicted class", type="category", side="bottom")
    fig.update_yaxes(title_text="true class", type="category", autorange="reversed")
    return fig


def per_class_csv(report: Mapping[str, Any]) -> str:
    """The per-class table as CSV: a header of report keys, a line per class (empty where a
    figure is undefined)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([key for key, _ in PER_CLASS_COLUMNS])
    for row in report.get("per_class") or []:
        values = [row.get(key) for key, _ in PER_CLASS_COLUMNS]
        writer.writerow(["" if value is None else value for value in values])
    return out.getvalue()


# ---------------------------------------------------------------------- the task
class SegmentationUi(UiTask):
    """The UI side of semantic segmentation."""

    class_filter_placeholder: ClassVar[str] = "Any image (or: holding a class)"
    classes_in_files: ClassVar[bool] = True
    evaluates: ClassVar[bool] = True
    headlines: ClassVar[tuple[str, ...]] = ("miou", "pixel_accuracy", "dice_macro")
    metric_titles: ClassVar[Mapping[str, str]] = {
        "miou": "mIoU",
        "pixel_accuracy": "Pixel accuracy",
        "dice_macro": "Dice (macro)",
    }
    metric_help: ClassVar[Mapping[str, str]] = {
        "miou": "mean over the classes of the intersection over union of their pixels, counted "
        "over the whole evaluation; ignored pixels (255) left out (primary figure)",
        "pixel_accuracy": "share of the pixels (ignored ones left out) whose class is right",
        "dice_macro": "mean over the classes of the Dice coefficient 2|A∩B| / (|A| + |B|) of "
        "their pixels",
    }
    sorts: ClassVar[tuple[tuple[str, str], ...]] = (
        ("worst", "Worst first: lowest image mIoU"),
        ("accuracy", "Lowest pixel accuracy first"),
        ("best", "Best first: highest image mIoU"),
        ("name", "File name"),
    )
    default_sort: ClassVar[str] = "worst"
    class_filters: ClassVar[bool] = True
    wrong_filter_label: ClassVar[str] = "With wrong pixels only"
    true_class_placeholder: ClassVar[str] = "Any class in the truth"
    predicted_class_placeholder: ClassVar[str] = "Any class predicted"
    range_label: ClassVar[str | None] = "Image mIoU"
    legend: ClassVar[str] = (
        "left: the ground truth, right: the prediction, each class in its colour (background "
        "not drawn, ignored pixels grey) · error view: wrong pixels red · green border: an image "
        "mIoU at least the evaluation's"
    )

    # ------------------------------------------------------------------ the dataset
    @property
    def overlay_switch(self) -> str | None:
        """The Dataset page's switch hides the masks."""
        return "Show masks"

    def dataset_legend(self, dataset: DatasetView) -> Component | None:
        """The classes in their colours (the first, the background, is not drawn)."""
        if not dataset.classes:
            return None
        classes = dataset.classes
        return semantic_legend(classes, classes, classes[0], id="dataset-class-legend")

    def image_classes(
        self, dataset: DatasetView, project_id: str | None
    ) -> dict[str, frozenset[str]] | None:
        """image id -> the classes its mask holds (read from the files, cached), for the
        annotated images; None when the dataset is too large to read here."""
        if project_id is None or len(dataset.images) > SCAN_LIMIT:
            return None
        key = (project_id, dataset.seq, len(dataset.images))
        cached = _PRESENT.get(key)
        if cached is not None:
            return cached
        out: dict[str, frozenset[str]] = {}
        for image_id, entry in dataset.images.items():
            annotation = entry.structured or {}
            if annotation.get("kind") != SEMANTIC_KIND:
                continue
            path = mask_path(project_id, annotation.get("mask"))
            if path is None:
                continue
            out[image_id] = mask_classes(
                path, legend_of(annotation.get("classes"), dataset.classes)
            )
        if len(_PRESENT) >= _PRESENT_VIEWS:
            _PRESENT.pop(next(iter(_PRESENT)), None)
        _PRESENT[key] = out
        return out

    def class_options(
        self, dataset: DatasetView, project_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Every class with the images whose mask holds it (when the masks can be read here),
        then the images not annotated."""
        options: list[dict[str, Any]] = []
        present = self.image_classes(dataset, project_id)
        if present is not None:
            counts: dict[str, int] = {}
            for names in present.values():
                for name in names:
                    counts[name] = counts.get(name, 0) + 1
            options = [
                {"label": f"{name} ({counts.get(name, 0):,} images)", "value": name}
                for name in dataset.classes
            ]
        options.append(
            {"label": f"Not annotated ({dataset.unlabeled:,})", "value": UNLABELED_OPTION}
        )
        return options

    def images_with_class(
        self, dataset: DatasetView, ids: Sequence[str], name: str, project_id: str | None
    ) -> list[str] | None:
        """The images of ``ids`` whose mask holds class ``name`` (None: not read here)."""
        present = self.image_classes(dataset, project_id)
        if present is None:
            return None
        return [i for i in ids if name in present.get(i, ())]

    # ------------------------------------------------------------------ one row
    def has_target(self, entry: ImageEntry) -> bool:
        """An image annotated with a mask can be scored."""
        return (entry.structured or {}).get("kind") == SEMANTIC_KIND

    def target_differs(self, row: Mapping[str, Any], entry: ImageEntry) -> bool:
        """Another mask file, or another legend, than the one the evaluation scored."""
        if not self.has_target(entry):
            return True
        target = row.get("target") or {}
        now = entry.structured or {}
        if (target.get("mask") or {}).get("sha256") != (now.get("mask") or {}).get("sha256"):
            return True
        old, new = target.get("classes"), now.get("classes")
        return bool(old) and bool(new) and list(old) != list(new)

    @staticmethod
    def score(row: Mapping[str, Any]) -> float | None:
        """The image's mIoU (None: no pixel of it was scored)."""
        value = row.get("miou")
        return None if value is None else float(value)

    # ------------------------------------------------------------------ filters and order
    def filter_rows(
        self, rows: Sequence[dict[str, Any]], query: ResultsQuery
    ) -> list[dict[str, Any]]:
        """With a wrong pixel, holding the true class, predicting the predicted class, the
        image mIoU in the range (an image without scored pixels is out of any range)."""
        out = list(rows)
        if query.wrong_only:
            out = [
                r
                for r in out
                if r.get("pixel_accuracy") is not None and float(r["pixel_accuracy"]) < 1.0
            ]
        if query.true_class is not None:
            out = [r for r in out if query.true_class in (r.get("classes_present") or ())]
        if query.predicted_class is not None:
            wanted = query.predicted_class
            out = [r for r in out if wanted in (r.get("classes_predicted") or ())]
        if query.low is not None:
            low = query.low
            out = [r for r in out if (s := self.score(r)) is not None and s >= low]
        if query.high is not None:
            high = query.high
            out = [r for r in out if (s := self.score(r)) is not None and s <= high]
        return out

    def sort_rows(
        self,
        rows: Sequence[dict[str, Any]],
        key: str,
        names: Mapping[str, str],
        threshold: float | None = None,
    ) -> list[dict[str, Any]]:
        """``worst``: lowest image mIoU first (then lowest pixel accuracy), ``accuracy``: lowest
        pixel accuracy first, ``best``: highest mIoU first; images without a figure last; ties
        by name."""
        ordered = by_name(rows, names)
        if key == "name":
            return ordered

        def value(row: Mapping[str, Any], field: str) -> float | None:
            v = row.get(field)
            return None if v is None else float(v)

        def low_first(*fields: str) -> Any:
            def sort_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
                out: list[Any] = []
                for field in fields:
                    v = value(row, field)
                    out += [v is None, v or 0.0]
                return tuple(out)

            return sort_key

        if key == "accuracy":
            return sorted(ordered, key=low_first("pixel_accuracy"))
        if key == "best":
            return sorted(
                ordered,
                key=lambda r: ((m := value(r, "miou")) is None, -(m or 0.0)),
            )
        return sorted(ordered, key=low_first("miou", "pixel_accuracy"))

    def range_bounds(self, rows: Sequence[dict[str, Any]]) -> tuple[float, float, float]:
        """The image mIoU, 0 to 1."""
        return 0.0, 1.0, 0.01

    def class_filter_options(
        self, rows: Sequence[dict[str, Any]], report: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The classes with the images whose truth holds each, and those predicting each."""
        classes = [str(c) for c in report.get("classes", [])]
        truth: dict[str, int] = {}
        predicted: dict[str, int] = {}
        for row in rows:
            for name in set(row.get("classes_present") or ()):
                truth[str(name)] = truth.get(str(name), 0) + 1
            for name in set(row.get("classes_predicted") or ()):
                predicted[str(name)] = predicted.get(str(name), 0) + 1
        return count_options(truth, classes), count_options(predicted, classes)

    # ------------------------------------------------------------------ tile and detail
    def is_good(self, row: Mapping[str, Any], report: Mapping[str, Any]) -> bool:
        """An image mIoU at least the evaluation's (green), else red."""
        miou = self.score(row)
        overall = (report.get("metrics") or {}).get("miou")
        if miou is None:
            return True
        return overall is None or miou >= float(overall) - 1e-9

    def _frame(
        self,
        ctx: ResultsContext,
        image_id: str,
        overlays: list[Component],
        size: tuple[int, int],
        fit: Fit,
    ) -> html.Div:
        name = ctx.name_of(image_id)
        if fit == "square":
            picture = html.Img(
                src=thumb_url(ctx.project_id, image_id, ctx.seq_of(image_id)), alt=name
            )
        else:
            picture = html.Img(
                src=image_url(ctx.project_id, image_id, ctx.seq_of(image_id)),
                alt=name,
                className="eval-detail-boxes-image pixelated-overlay-base",
            )
        width, height = size
        return framed(picture, overlays, width, height, fit)

    def tile(self, ctx: ResultsContext, row: Mapping[str, Any]) -> Component:
        """The ground truth beside the prediction (or, in the error view, the wrong pixels),
        each over the thumbnail; the image mIoU as the badge, pixel accuracy under it."""
        image_id = str(row.get("image_id"))
        name = ctx.name_of(image_id)
        size = row_size(ctx, row, ctx.dataset.images.get(image_id))
        truth = self._frame(ctx, image_id, truth_overlay(ctx, row, *size, "square"), size, "square")
        predicted = self._frame(
            ctx,
            image_id,
            [
                *prediction_overlay(ctx, row, *size, "square"),
                *error_overlay(ctx, row, *size, "square"),
            ],
            size,
            "square",
        )
        picture = html.Div(
            [
                html.Div(truth, className="semantic-half", title="ground truth"),
                html.Div(predicted, className="semantic-half", title="prediction"),
            ],
            className="semantic-pair",
        )
        miou = self.score(row)
        measure = "no pixel scored" if miou is None else f"mIoU {miou:.2f}"
        accuracy = row.get("pixel_accuracy")
        label: list[Component] = [
            html.Span("truth", className="text-body-secondary"),
            html.Span(" · "),
            html.Span(f"accuracy {_short(accuracy)}", className="fw-semibold"),
            html.Span(" · "),
            html.Span("prediction", className="text-body-secondary"),
        ]
        return result_tile(
            image_id,
            picture,
            self.is_good(row, ctx.report),
            measure,
            self.relabel_flags(row, ctx.dataset),
            label,
            f"{name} · {measure} · pixel accuracy {_figure(accuracy)}",
            css="eval-tile-semantic",
        )

    def detail(self, ctx: ResultsContext, row: Mapping[str, Any]) -> list[Component]:
        """Truth, prediction and wrong pixels side by side over the image, the classes' colours,
        the image's figures and classes, and the relabel flags."""
        image_id = str(row.get("image_id"))
        entry = ctx.dataset.images.get(image_id)
        size = row_size(ctx, row, entry)
        width, height = size
        flags = self.relabel_flags(row, ctx.dataset)
        errors = errors_of(ctx, row)
        s = (row.get("prediction") or {}).get("size") or ctx.report.get("image_size")
        panels = [
            ("Ground truth", "eval-detail-truth", truth_overlay(ctx, row, *size, "image")),
            ("Prediction", "eval-detail-prediction", prediction_overlay(ctx, row, *size, "image")),
        ]
        wrong_text = "—"
        if errors is not None:
            src, wrong, scored = errors
            element = semantic_element(src, width, height, "image", "semantic-errors-shown")
            panels.append(
                ("Wrong pixels (red)", "eval-detail-errors", [] if element is None else [element])
            )
            share = f" ({wrong / scored:.1%})" if scored else ""
            wrong_text = f"{wrong:,} of {scored:,}{share}" + (f", at {s}x{s}" if s else "")
        ratio = width / height if width and height else 1.0
        pair = html.Div(
            [
                html.Div(
                    [
                        html.Div(caption, className="eval-instances-caption"),
                        html.Div(
                            self._frame(ctx, image_id, overlays, size, "image"),
                            className="eval-detail-frame",
                            style={"maxWidth": f"min(100%, calc(45vh * {ratio:.4f}))"},
                            id=frame_id,
                        ),
                    ]
                )
                for caption, frame_id, overlays in panels
            ],
            className="eval-instances-pair semantic-detail-pair mb-3",
        )
        present = [str(c) for c in row.get("classes_present") or ()]
        predicted = [str(c) for c in row.get("classes_predicted") or ()]
        shown = [c for c in ctx.classes if c in set(present) | set(predicted)]
        background = ctx.classes[0] if ctx.classes else None
        table: list[tuple[str, Any]] = [
            ("File", ctx.name_of(image_id)),
            ("Subset", subset_title(row)),
            ("Image mIoU", html.B(_figure(row.get("miou")))),
            ("Pixel accuracy", html.B(_figure(row.get("pixel_accuracy")))),
            ("Wrong pixels", wrong_text),
            ("In the truth", ", ".join(present) or "—"),
            ("Predicted", ", ".join(predicted) or "—"),
        ]
        if "evaluated" in flags and entry is not None:
            table.append(("Annotation now", html.B("another mask or legend")))
        return [
            pair,
            semantic_legend(
                shown,
                ctx.dataset.classes,
                background if background in shown else None,
                "mb-2",
                id="eval-detail-legend",
            ),
            detail_table(table),
            *flag_notes(flags),
        ]

    # ------------------------------------------------------------------ figures
    def figures(
        self, rows: Sequence[dict[str, Any]], report: dict[str, Any], theme: str | None
    ) -> list[tuple[str, go.Figure]]:
        """IoU per class, the confusion matrix of pixels."""
        classes = [str(c) for c in report.get("classes") or []]
        return [
            ("eval-fig-iou", per_class_iou_figure(report, classes, theme)),
            ("eval-fig-confusion", pixel_confusion_figure(report, theme)),
        ]

    def metrics_body(
        self, rows: Sequence[dict[str, Any]], report: dict[str, Any], theme: str | None
    ) -> list[Component]:
        """The plots, then the per-class table with its CSV."""
        section = html.Div(
            [
                html.Div(
                    [
                        html.Span("Per class", className="fw-semibold"),
                        html.Span(
                            " pixels of the evaluated images, ignored ones left out",
                            className="small text-body-secondary",
                        ),
                        dbc.Button(
                            [html.I(className="bi bi-download me-1"), "Download CSV"],
                            id="eval-class-csv",
                            color="secondary",
                            outline=True,
                            size="sm",
                            className="ms-auto",
                            n_clicks=0,
                        ),
                    ],
                    className="d-flex align-items-center gap-2 mb-2",
                ),
                per_class_table(report, PER_CLASS_COLUMNS),
            ],
            className="mb-3",
            id="eval-class-section",
        )
        return [
            *(graph(graph_id, figure) for graph_id, figure in self.figures(rows, report, theme)),
            section,
        ]

    def table_csv(self, report: Mapping[str, Any]) -> tuple[str, str] | None:
        """The per-class table (None without per-class figures)."""
        if not report.get("per_class"):
            return None
        return "per-class", per_class_csv(report)

    # ------------------------------------------------------------------ the controls
    def result_controls(self) -> list[Component]:
        """The mask opacity slider and the error view switch."""
        return [
            html.Div(
                [
                    opacity_control(),
                    dbc.Switch(
                        id=ERROR_VIEW_ID,
                        label="Error view: the wrong pixels in red instead of the prediction",
                        value=False,
                        className="mb-0",
                    ),
                    html.Span(
                        [
                            html.Span(
                                className="semantic-swatch",
                                style={"background": _rgba_css(ERROR_RGBA)},
                            ),
                            "wrong (ignored pixels never are)",
                        ],
                        className="small text-body-secondary",
                    ),
                ],
                className="d-flex align-items-end flex-wrap gap-4 mb-3",
                id=f"{ERROR_VIEW_ID}-row",
            )
        ]


TASK = SegmentationUi("segmentation")
