"""Instance segmentation in the pages: detection's objects, each with its shape.

Everything of :mod:`ui.tasks.detection` holds (the rows are detection's, matched by mask IoU):
the threshold slider, the counts at it, the filters, worst first, Set threshold, the PR and F1
curves and the confusion matrix. What this module adds is the shapes:

* Dataset page: each object's outline or mask filled in its class's colour under its box (the
  shared :func:`~ui.components.annotation_overlay.annotated`, which every task's images use).
* Evaluation tiles: the predicted masks kept at the threshold filled in their class's colour,
  crowd regions hatched, under detection's boxes coloured by how they matched.
* Evaluation detail: the ground truth and the predictions side by side, each filled by class.
* Cards: mask and box mAP (COCO's, ``segm`` and ``bbox``) and the figures at the threshold; the
  per-class table has both.

A truth object of a row carries its shape as the annotation did (``polygons`` in image pixels,
or ``mask``: a file of the content store, fetched by the mask route); a prediction carries
``polygons``, its mask's outline. How opaque the shapes are is one CSS variable
(:func:`~ui.components.annotation_overlay.opacity_style`), set by the opacity slider
(:meth:`InstanceSegmentationUi.result_controls`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from dash import dcc, html
from dash.development.base_component import Component

from projections.dataset import ImageEntry
from ui.components.annotation_overlay import (
    DEFAULT_MASK_OPACITY,
    MATCH_COLORS,
    MATCH_TITLES,
    Fit,
    annotated,
    class_color,
    has_shape,
    shape_element,
)
from ui.components.dataset_grid import image_url
from ui.components.detection_charts import per_class_csv, per_class_table
from ui.components.evaluation_results import ResultsContext
from ui.tasks.base import MASK_OPACITY_ID
from ui.tasks.detection import DetectionUi, image_size

PER_CLASS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("class", "Class"),
    ("mask_ap", "Mask AP"),
    ("mask_ap50", "Mask AP50"),
    ("box_ap", "Box AP"),
    ("box_ap50", "Box AP50"),
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("f1", "F1"),
    ("objects", "Objects"),
    ("detections", "Detections"),
    ("tp", "TP"),
    ("fp", "FP"),
    ("fn", "FN"),
)
"""The per-class table's columns (report key, title), as in the CSV."""


# ---------------------------------------------------------------------- a row's shapes
def truth_annotation(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row's ground truth as an ``instances`` annotation (an ignored object is a crowd),
    to draw with the Dataset page's component."""
    objects = []
    for truth in row.get("truth") or ():
        obj: dict[str, Any] = {"class": str(truth.get("class")), "box": truth.get("box")}
        for key in ("polygons", "mask"):
            if truth.get(key):
                obj[key] = truth[key]
        if truth.get("ignore"):
            obj["crowd"] = True
        objects.append(obj)
    return {"kind": "instances", "objects": objects}


def shapes_at(
    row: Mapping[str, Any],
    threshold: float,
    classes: Sequence[str],
    fit: Fit,
    project_id: str | None,
) -> list[Component]:
    """What is filled under the boxes of a row at ``threshold``, bottom to top: the ignored
    ground truth (crowd regions, hatched), then the predicted masks kept (score at least
    ``threshold``), lowest score first, each in its class's colour."""
    width, height = int(row.get("width") or 0), int(row.get("height") or 0)
    out: list[Component] = []
    for truth in row.get("truth") or ():
        if truth.get("ignore") and has_shape(truth):
            name = str(truth.get("class"))
            element = shape_element(
                truth,
                width,
                height,
                MATCH_COLORS["ignored"],
                fit,
                project_id,
                css="overlay-crowd",
                title=f"{name} (ignored)",
            )
            if element is not None:
                out.append(element)
    kept = [p for p in row.get("predictions") or () if p["score"] >= threshold and has_shape(p)]
    kept.sort(key=lambda p: p["score"])
    for prediction in kept:
        name = str(prediction.get("class"))
        element = shape_element(
            prediction,
            width,
            height,
            class_color(name, classes),
            fit,
            project_id,
            css="overlay-prediction",
            title=f"{name} {prediction['score']:.2f}",
        )
        if element is not None:
            out.append(element)
    return out


def _frame_of(tree: Component) -> html.Div | None:
    """The first annotated frame (:func:`~ui.components.annotation_overlay.framed`) in a tree."""
    if "annotated" in str(getattr(tree, "className", "") or "").split():
        return tree  # type: ignore[return-value]
    children = getattr(tree, "children", None)
    if isinstance(children, Component):
        children = [children]
    for child in children if isinstance(children, list) else ():
        if isinstance(child, Component):
            found = _frame_of(child)
            if found is not None:
                return found
    return None


def add_shapes(tree: Component, shapes: Sequence[Component]) -> Component:
    """``tree`` with ``shapes`` put into its frame, over the image and under the boxes."""
    frame = _frame_of(tree)
    if frame is None:
        raise ValueError("no annotated frame to draw the shapes in")
    image, *boxes = frame.children
    frame.children = [image, *shapes, *boxes]
    return tree


# ---------------------------------------------------------------------- the controls
def opacity_control(value: float = DEFAULT_MASK_OPACITY) -> html.Div:
    """The mask opacity slider (0 to 1), labelled."""
    return html.Div(
        [
            html.Div("Mask opacity", className="small text-body-secondary mb-1"),
            dcc.Slider(
                id=MASK_OPACITY_ID,
                min=0,
                max=1,
                step=0.05,
                value=value,
                marks={0: "0", 0.5: "0.5", 1: "1"},
                tooltip={"placement": "bottom", "always_visible": False},
            ),
        ],
        className="mask-opacity-control",
        id=f"{MASK_OPACITY_ID}-row",
    )


# ---------------------------------------------------------------------- the task
class InstanceSegmentationUi(DetectionUi):
    """The UI side of instance segmentation: detection's, with every object's shape."""

    headlines: ClassVar[tuple[str, ...]] = (
        "mask_map",
        "mask_map50",
        "box_map",
        "box_map50",
        "f1",
        "precision",
        "recall",
        "confidence_threshold",
    )
    metric_titles: ClassVar[Mapping[str, str]] = {
        **DetectionUi.metric_titles,
        "mask_map": "Mask mAP@[.50:.95]",
        "mask_map50": "Mask mAP50",
        "mask_map75": "Mask mAP75",
        "mask_mar100": "Mask AR@100",
        "box_map": "Box mAP@[.50:.95]",
        "box_map50": "Box mAP50",
        "box_map75": "Box mAP75",
    }
    metric_help: ClassVar[Mapping[str, str]] = {
        **DetectionUi.metric_help,
        "mask_map": "COCO's mean average precision of the masks, averaged over mask IoU 0.50 "
        "to 0.95 (primary figure)",
        "mask_map50": "mean average precision of the masks at mask IoU 0.5",
        "box_map": "COCO's mean average precision of the boxes, averaged over IoU 0.50 to 0.95",
        "box_map50": "mean average precision of the boxes at IoU 0.5",
        "f1": "harmonic mean of precision and recall, mask IoU 0.5, predictions at the threshold",
        "precision": "share of the masks kept at the threshold that found an object",
        "recall": "share of the objects found by a mask kept at the threshold",
    }
    legend: ClassVar[str] = (
        "filled: the predicted masks kept at the threshold, in their class's colour (the "
        "detail shows the ground truth beside them) · hatched: crowd regions (ignored) · boxes: "
        "green found (TP), red false (FP), orange dashed missed (FN), matched by mask IoU · red "
        "border: an error at the threshold"
    )

    # ------------------------------------------------------------------ one row
    def has_target(self, entry: ImageEntry) -> bool:
        """An image annotated with instances (none is a negative) can be scored."""
        return (entry.structured or {}).get("kind") == "instances"

    # ------------------------------------------------------------------ tile and detail
    def tile(self, ctx: ResultsContext, row: Mapping[str, Any]) -> Component:
        """Detection's tile with the predicted masks kept at the threshold filled under its
        boxes."""
        t = self.threshold_of(ctx.threshold)
        shapes = shapes_at(row, t, ctx.classes, "square", ctx.project_id)
        return add_shapes(super().tile(ctx, row), shapes)

    def detail(self, ctx: ResultsContext, row: Mapping[str, Any]) -> list[Component]:
        """The ground truth and the predictions at the threshold side by side, each filled by
        class (the predictions under detection's match boxes), then detection's counts, flags
        and list of every object and prediction (IoU: the masks')."""
        image_id = str(row.get("image_id"))
        entry = ctx.dataset.images.get(image_id)
        t = self.threshold_of(ctx.threshold)
        frame, _legend, *rest = super().detail(ctx, row)
        add_shapes(frame, shapes_at(row, t, ctx.classes, "image", ctx.project_id))
        width, height = image_size(row, entry)
        truth = annotated(
            html.Img(
                src=image_url(ctx.project_id, image_id, ctx.seq_of(image_id)),
                alt=ctx.name_of(image_id),
                className="eval-detail-boxes-image",
            ),
            truth_annotation(row),
            width,
            height,
            ctx.classes,
            fit="image",
            project_id=ctx.project_id,
        )
        pair = html.Div(
            [
                html.Div(
                    [
                        html.Div("Ground truth", className="eval-instances-caption"),
                        html.Div(
                            truth,
                            className="eval-detail-frame",
                            style=frame.style,
                            id="eval-detail-truth",
                        ),
                    ]
                ),
                html.Div(
                    [
                        html.Div(f"Predictions at {t:.2f}", className="eval-instances-caption"),
                        frame,
                    ]
                ),
            ],
            className="eval-instances-pair mb-3",
        )
        frame.className = "eval-detail-frame"
        return [pair, mask_legend(), *rest]

    # ------------------------------------------------------------------ figures
    def metrics_body(
        self, rows: Sequence[dict[str, Any]], report: dict[str, Any], theme: str | None
    ) -> list[Component]:
        """Detection's notes and plots, then the per-class table of mask and box AP."""
        *body, section = super().metrics_body(rows, report, theme)
        head, _boxes_table = section.children
        section.children = [head, per_class_table(report, PER_CLASS_COLUMNS)]
        return [*body, section]

    def table_csv(self, report: Mapping[str, Any]) -> tuple[str, str] | None:
        """The per-class table (None without per-class figures)."""
        if not report.get("per_class"):
            return None
        return "per-class", per_class_csv(report, PER_CLASS_COLUMNS)

    # ------------------------------------------------------------------ the controls
    def result_controls(self) -> list[Component]:
        """What the results section shows above the grid beside the threshold: the mask
        opacity slider."""
        return [opacity_control()]


def mask_legend() -> html.Div:
    """What the shapes' fills and the boxes' colours mean."""
    items: list[Component] = [
        html.Span(
            [html.Span(className="eval-legend-mask"), "mask, in its class's colour"],
            className="me-3 text-nowrap",
        ),
        html.Span(
            [html.Span(className="eval-legend-crowd"), "crowd region (ignored)"],
            className="me-3 text-nowrap",
        ),
    ]
    for status in ("tp", "fp", "fn", "truth"):
        items.append(
            html.Span(
                [
                    html.Span(
                        className=f"eval-legend-swatch eval-legend-{status}",
                        style={"borderColor": MATCH_COLORS[status]},
                    ),
                    MATCH_TITLES[status],
                ],
                className="me-3 text-nowrap",
            )
        )
    return html.Div(items, className="small text-body-secondary mb-2 eval-legend")


TASK = InstanceSegmentationUi("instance_segmentation")
