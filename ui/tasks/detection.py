"""Object detection in the pages: boxes with a class each, kept at a confidence threshold.

Dataset page: the images' boxes drawn over them, the class filter and histogram count objects.
Evaluation page: COCO's mAP@[.50:.95], mAP50, mAP75, AR@100 and the figures at the threshold
(F1, precision, recall, the threshold and where it comes from) as cards; PR curves per class and
their mean, precision / recall / F1 against the threshold, the confusion matrix with its
background row and column, the per-class table (and its CSV); per-image results with every box
drawn by how it matched at the threshold the confidence slider shows, worst first.

The rows (one per image) hold every detection of at least ``display_floor`` with its match
(``tp``, ``fp``, ``ignored``), which does not depend on the threshold, and every ground-truth box
with the score of the detection that found it (``matched_score``). So a threshold ``t`` keeps the
detections scoring at least ``t`` with their match, and a box is found at ``t`` iff its
``matched_score`` is at least ``t``: :func:`counts_at` and :func:`boxes_at` redraw any threshold
from the row alone (the same rule as ``aistudio.evaluation.detection_matching.counts_at``, which
the web process does not import).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import Patch, html
from dash.development.base_component import Component

from projections.dataset import ImageEntry
from ui.components.annotation_overlay import (
    MATCH_COLORS,
    MATCH_TITLES,
    framed,
    match_boxes,
    object_summary,
)
from ui.components.dataset_grid import image_url, thumb_url
from ui.components.detection_charts import (
    confusion_figure,
    evaluated_threshold,
    f1_figure,
    marks_patch,
    notes_box,
    per_class_csv,
    per_class_section,
    pr_figure,
    threshold_source,
)
from ui.components.evaluation_charts import graph
from ui.components.evaluation_results import (
    ResultsContext,
    ResultsQuery,
    by_name,
    count_options,
    detail_table,
    flag_notes,
    result_tile,
)
from ui.tasks.base import UiTask, subset_title

SLIDER_MIN = 0.05
"""The confidence slider's lowest threshold (the rows list detections from 0.05 up)."""
SLIDER_MAX = 0.95
SLIDER_STEP = 0.01
DEFAULT_THRESHOLD = 0.5
"""The slider's threshold when neither the experiment nor the evaluation names one."""
BOX_TOLERANCE_PX = 0.051
"""Box corners closer than this are the same (rows keep them at 0.1 px)."""
IGNORE_FLAGS: tuple[str, ...] = ("difficult", "crowd")
"""Object flags that make a ground-truth box ignored (neither found nor missed)."""


# ---------------------------------------------------------------------- a row at a threshold
def counts_at(row: Mapping[str, Any], threshold: float) -> tuple[int, int, int]:
    """TP, FP and FN of an image at ``threshold``, from its row alone (exact from the row's
    ``display_floor`` up).

    The listed detections with ``score >= threshold`` are kept with their match; a box that is
    not ignored is found iff its ``matched_score`` is at least ``threshold``.
    """
    tp = fp = 0
    for prediction in row.get("predictions") or ():
        if prediction["score"] >= threshold:
            if prediction["match"] == "tp":
                tp += 1
            elif prediction["match"] == "fp":
                fp += 1
    fn = sum(
        1
        for box in row.get("truth") or ()
        if not box.get("ignore")
        and (box.get("matched_score") is None or box["matched_score"] < threshold)
    )
    return tp, fp, fn


def totals_at(rows: Sequence[Mapping[str, Any]], threshold: float) -> tuple[int, int, int]:
    """TP, FP and FN of ``rows`` together at ``threshold``."""
    tp = fp = fn = 0
    for row in rows:
        a, b, c = counts_at(row, threshold)
        tp, fp, fn = tp + a, fp + b, fn + c
    return tp, fp, fn


def prf(tp: int, fp: int, fn: int) -> tuple[float | None, float | None, float | None]:
    """Precision, recall and F1 (None where undefined), as the evaluation defines them."""
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else None
    return precision, recall, f1


def boxes_at(row: Mapping[str, Any], threshold: float) -> list[dict[str, Any]]:
    """What to draw of an image at ``threshold``, bottom to top (``box``, ``status``, ``tag``):

    * the ground truth: a found box as ``truth`` (its detection carries the tag), a missed one
      as ``fn``, an ignored one (difficult, crowd) as ``ignored``;
    * the detections kept (score at least ``threshold``), lowest score first so the most
      confident is on top: ``tp``, ``fp`` or ``ignored`` (a detection on an ignored box).
    """
    truth: list[dict[str, Any]] = []
    missed: list[dict[str, Any]] = []
    for box in row.get("truth") or ():
        name = str(box.get("class"))
        score = box.get("matched_score")
        if box.get("ignore"):
            truth.append({"box": box["box"], "status": "ignored", "tag": f"{name} (ignored)"})
        elif score is not None and score >= threshold:
            truth.append({"box": box["box"], "status": "truth", "tag": name})
        else:
            missed.append({"box": box["box"], "status": "fn", "tag": name})
    kept = [p for p in row.get("predictions") or () if p["score"] >= threshold]
    kept.sort(key=lambda p: p["score"])
    detections = [
        {
            "box": p["box"],
            "status": p["match"] if p["match"] in MATCH_COLORS else "fp",
            "tag": f"{p['class']} {p['score']:.2f}",
        }
        for p in kept
    ]
    return [*truth, *missed, *detections]


def image_size(row: Mapping[str, Any], entry: ImageEntry | None) -> tuple[int, int]:
    """The upright size the row's boxes are in (the dataset's when the row lacks it)."""
    width, height = row.get("width"), row.get("height")
    if width and height:
        return int(width), int(height)
    if entry is not None:
        return entry.upright_size
    return 0, 0


def clamp_threshold(value: float) -> float:
    """A threshold the slider can show (within its ends, at 4 decimals)."""
    return round(min(SLIDER_MAX, max(SLIDER_MIN, float(value))), 4)


def _objects_key(
    objects: Sequence[Mapping[str, Any]], ignored: Any
) -> list[tuple[str, bool, tuple[float, ...]]]:
    return sorted(
        (str(o.get("class")), bool(ignored(o)), tuple(float(v) for v in o.get("box") or ()))
        for o in objects
    )


def same_objects(truth: Sequence[Mapping[str, Any]], objects: Sequence[Mapping[str, Any]]) -> bool:
    """Whether an evaluation row's ground truth is the annotation's objects: the same classes,
    ignore flags and boxes (to the row's 0.1 px), in any order."""
    if len(truth) != len(objects):
        return False
    rows = _objects_key(truth, lambda o: o.get("ignore"))
    now = _objects_key(objects, lambda o: any(o.get(f) for f in IGNORE_FLAGS))
    for (c1, i1, b1), (c2, i2, b2) in zip(rows, now, strict=True):
        if c1 != c2 or i1 != i2 or len(b1) != len(b2):
            return False
        if any(abs(a - b) > BOX_TOLERANCE_PX for a, b in zip(b1, b2, strict=True)):
            return False
    return True


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


# ---------------------------------------------------------------------- the task
class DetectionUi(UiTask):
    """The UI side of object detection."""

    evaluates: ClassVar[bool] = True
    uses_threshold: ClassVar[bool] = True
    headlines: ClassVar[tuple[str, ...]] = (
        "map",
        "map50",
        "map75",
        "mar100",
        "f1",
        "precision",
        "recall",
        "confidence_threshold",
    )
    metric_titles: ClassVar[Mapping[str, str]] = {
        "f1": "F1 at the threshold",
        "precision": "Precision at the threshold",
        "recall": "Recall at the threshold",
    }
    metric_help: ClassVar[Mapping[str, str]] = {
        "map": "COCO's mean average precision, averaged over IoU 0.50 to 0.95 (primary figure)",
        "map50": "mean average precision at IoU 0.5 (Pascal VOC's)",
        "map75": "mean average precision at IoU 0.75 (a strict localisation)",
        "mar100": "mean recall with at most 100 detections per image, IoU 0.50 to 0.95",
        "f1": "harmonic mean of precision and recall, IoU 0.5, detections at the threshold",
        "precision": "share of the detections kept at the threshold that found an object",
        "recall": "share of the objects found by a detection kept at the threshold",
        "confidence_threshold": "detections scoring at least this are kept",
    }
    sorts: ClassVar[tuple[tuple[str, str], ...]] = (
        ("worst", "Worst first: most errors at the threshold, then the least confident"),
        ("missed", "Most missed objects (FN) first"),
        ("false", "Most false detections (FP) first"),
        ("objects", "Most objects first"),
        ("name", "File name"),
    )
    default_sort: ClassVar[str] = "worst"
    class_filters: ClassVar[bool] = True
    wrong_filter_label: ClassVar[str] = "With errors only"
    true_class_placeholder: ClassVar[str] = "Any class in the truth"
    predicted_class_placeholder: ClassVar[str] = "Any class detected"
    threshold_range: ClassVar[tuple[float, float, float]] = (SLIDER_MIN, SLIDER_MAX, SLIDER_STEP)
    threshold_label: ClassVar[str] = (
        "Confidence threshold: detections scoring at least this are kept"
    )
    legend: ClassVar[str] = (
        "boxes: green found (TP), red false detection (FP), orange dashed missed (FN), grey "
        "ignored, dotted the ground truth of a found object · red border: an error at the "
        "threshold"
    )

    # ------------------------------------------------------------------ one row
    def has_target(self, entry: ImageEntry) -> bool:
        """An image annotated with boxes (none is a negative) can be scored."""
        return (entry.structured or {}).get("kind") == "boxes"

    def target_differs(self, row: Mapping[str, Any], entry: ImageEntry) -> bool:
        """Objects added, removed, moved or of another class since the evaluation."""
        if not self.has_target(entry):
            return True
        objects = (entry.structured or {}).get("objects") or []
        return not same_objects(row.get("truth") or [], objects)

    def threshold_of(self, threshold: float | None) -> float:
        """The threshold shown (the default when none is given)."""
        return DEFAULT_THRESHOLD if threshold is None else float(threshold)

    # ------------------------------------------------------------------ filters and order
    def filter_rows(
        self, rows: Sequence[dict[str, Any]], query: ResultsQuery
    ) -> list[dict[str, Any]]:
        """With errors at the threshold, holding an object of the true class, with a kept
        detection of the predicted class."""
        t = self.threshold_of(query.threshold)
        out = list(rows)
        if query.wrong_only:
            out = [r for r in out if sum(counts_at(r, t)[1:]) > 0]
        if query.true_class is not None:
            wanted = query.true_class
            out = [r for r in out if any(b.get("class") == wanted for b in r.get("truth") or ())]
        if query.predicted_class is not None:
            wanted = query.predicted_class
            out = [
                r
                for r in out
                if any(
                    p.get("class") == wanted and p["score"] >= t for p in r.get("predictions") or ()
                )
            ]
        return out

    def sort_rows(
        self,
        rows: Sequence[dict[str, Any]],
        key: str,
        names: Mapping[str, str],
        threshold: float | None = None,
    ) -> list[dict[str, Any]]:
        """``worst``: most errors (FP + FN) at the threshold first, then the lowest highest
        score (an unsure image before a confident one); or most missed, most false, most
        objects; ties by name."""
        ordered = by_name(rows, names)
        if key == "name":
            return ordered
        if key == "objects":
            return sorted(ordered, key=lambda r: -int(r.get("objects") or 0))
        t = self.threshold_of(threshold)
        counts = {id(r): counts_at(r, t) for r in ordered}
        if key == "missed":
            return sorted(ordered, key=lambda r: -counts[id(r)][2])
        if key == "false":
            return sorted(ordered, key=lambda r: -counts[id(r)][1])
        return sorted(
            ordered,
            key=lambda r: (-(counts[id(r)][1] + counts[id(r)][2]), r.get("max_score") or 0.0),
        )

    def class_filter_options(
        self, rows: Sequence[dict[str, Any]], report: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The classes with the images holding an object of each, and those with a detection
        of each."""
        classes = [str(c) for c in report.get("classes", [])]
        truth: dict[str, int] = {}
        predicted: dict[str, int] = {}
        for row in rows:
            for name in {str(b.get("class")) for b in row.get("truth") or ()}:
                truth[name] = truth.get(name, 0) + 1
            for name in {str(p.get("class")) for p in row.get("predictions") or ()}:
                predicted[name] = predicted.get(name, 0) + 1
        return count_options(truth, classes), count_options(predicted, classes)

    # ------------------------------------------------------------------ tile and detail
    def tile(self, ctx: ResultsContext, row: Mapping[str, Any]) -> Component:
        """The thumbnail with every box drawn by its match at the threshold, the errors as the
        badge, TP · FP · FN under it; a red border when there is any error."""
        image_id = str(row.get("image_id"))
        name = ctx.name_of(image_id)
        t = self.threshold_of(ctx.threshold)
        tp, fp, fn = counts_at(row, t)
        errors = fp + fn
        width, height = image_size(row, ctx.dataset.images.get(image_id))
        picture = framed(
            html.Img(src=thumb_url(ctx.project_id, image_id, ctx.seq_of(image_id)), alt=name),
            match_boxes(boxes_at(row, t), width, height, "square"),
            width,
            height,
            "square",
        )
        label: list[Component] = [
            html.Span(f"{tp} TP", className="eval-count-tp"),
            html.Span(" · "),
            html.Span(f"{fp} FP", className="eval-count-fp"),
            html.Span(" · "),
            html.Span(f"{fn} FN", className="eval-count-fn"),
        ]
        objects = int(row.get("objects") or 0)
        return result_tile(
            image_id,
            picture,
            errors == 0,
            "no error" if errors == 0 else _plural(errors, "error"),
            self.relabel_flags(row, ctx.dataset),
            label,
            f"{name} · {_plural(objects, 'object')} · at {t:.2f}: {tp} found, {fp} false, "
            f"{fn} missed",
            css="eval-tile-boxes",
        )

    def detail(self, ctx: ResultsContext, row: Mapping[str, Any]) -> list[Component]:
        """The image large with the same boxes, its counts at the threshold, label changes,
        and every box listed with its match, class, score and IoU."""
        image_id = str(row.get("image_id"))
        entry = ctx.dataset.images.get(image_id)
        t = self.threshold_of(ctx.threshold)
        tp, fp, fn = counts_at(row, t)
        width, height = image_size(row, entry)
        flags = self.relabel_flags(row, ctx.dataset)
        ignored = sum(1 for b in row.get("truth") or () if b.get("ignore"))
        objects = _plural(int(row.get("objects") or 0), "object")
        if ignored:
            objects += f" (and {ignored:,} ignored)"
        top = row.get("max_score")
        table: list[tuple[str, Any]] = [
            ("File", ctx.name_of(image_id)),
            ("Subset", subset_title(row)),
            ("Objects", objects),
            (
                f"At {t:.2f}",
                html.B(
                    f"{tp} found (TP) · {fp} false (FP) · {fn} missed (FN)",
                    className="text-success" if fp + fn == 0 else "text-danger",
                ),
            ),
            ("Highest score", "no detection" if top is None else f"{float(top):.3f}"),
        ]
        if "evaluated" in flags and entry is not None:
            table.append(("Annotation now", html.B(object_summary(entry.structured))))
        frame = framed(
            html.Img(
                src=image_url(ctx.project_id, image_id, ctx.seq_of(image_id)),
                alt=ctx.name_of(image_id),
                className="eval-detail-boxes-image",
            ),
            match_boxes(boxes_at(row, t), width, height, "image"),
            width,
            height,
            "image",
        )
        ratio = width / height if width and height else 1.0
        return [
            html.Div(
                frame,
                className="eval-detail-frame mb-3",
                style={"maxWidth": f"min(100%, calc(60vh * {ratio:.4f}))"},
                id="eval-detail-boxes",
            ),
            match_legend(),
            detail_table(table),
            *flag_notes(flags),
            boxes_table(row, t),
        ]

    # ------------------------------------------------------------------ figures
    def card_note(self, name: str, report: Mapping[str, Any] | None) -> str | None:
        """Where the threshold comes from, under its card."""
        if name == "confidence_threshold":
            return threshold_source(report)
        return None

    def figures(
        self, rows: Sequence[dict[str, Any]], report: dict[str, Any], theme: str | None
    ) -> list[tuple[str, go.Figure]]:
        """PR curves, the F1 curve (marked at the evaluation's threshold), the confusion matrix."""
        return [
            ("eval-fig-pr", pr_figure(report, theme)),
            ("eval-fig-f1", f1_figure(report, theme, evaluated_threshold(report))),
            ("eval-fig-confusion", confusion_figure(report, theme)),
        ]

    def metrics_body(
        self, rows: Sequence[dict[str, Any]], report: dict[str, Any], theme: str | None
    ) -> list[Component]:
        """The report's notes, the plots, then the per-class table with its CSV."""
        return [
            *notes_box(report.get("notes") or []),
            *(graph(graph_id, figure) for graph_id, figure in self.figures(rows, report, theme)),
            per_class_section(report),
        ]

    # ------------------------------------------------------------------ the threshold
    def initial_threshold(self, report: Mapping[str, Any], chosen: float | None) -> float | None:
        """The chosen threshold, else the evaluation's, else 0.5 (within the slider's ends)."""
        value = chosen if chosen is not None else evaluated_threshold(report)
        return clamp_threshold(DEFAULT_THRESHOLD if value is None else value)

    def threshold_summary(
        self, rows: Sequence[Mapping[str, Any]], threshold: float
    ) -> list[Component]:
        """``At 0.40, over 40 images: 35 found (TP) · 6 false (FP) · 9 missed (FN) · precision
        0.854 · recall 0.795 · F1 0.824``."""
        tp, fp, fn = totals_at(rows, threshold)
        precision, recall, f1 = prf(tp, fp, fn)
        return [
            html.Span(f"At {threshold:.2f}, over {_plural(len(rows), 'image')}: "),
            html.B(f"{tp:,} found (TP)", className="eval-count-tp"),
            " · ",
            html.B(f"{fp:,} false (FP)", className="eval-count-fp"),
            " · ",
            html.B(f"{fn:,} missed (FN)", className="eval-count-fn"),
            html.Span(
                f" · precision {_figure(precision)} · recall {_figure(recall)} · F1 {_figure(f1)}"
            ),
        ]

    def chosen_threshold_text(
        self, chosen: float | None, report: Mapping[str, Any]
    ) -> list[Component]:
        """The experiment's chosen threshold, or the evaluation's when none is chosen."""
        if chosen is not None:
            return [
                html.I(className="bi bi-check2-circle me-1"),
                "Chosen threshold: ",
                html.B(f"{chosen:.2f}", id="eval-threshold-chosen-value"),
                html.Span(
                    " · later evaluations count at it and exports write it into their metadata",
                    className="text-body-secondary",
                ),
            ]
        evaluated = evaluated_threshold(report)
        text = "No threshold chosen yet"
        if evaluated is not None:
            source = threshold_source(report)
            text += f": this evaluation counted at {evaluated:.2f}" + (
                f" ({source})" if source else ""
            )
        return [html.Span(text + ".", className="text-body-secondary")]

    def threshold_patch(self, report: Mapping[str, Any], threshold: float) -> Patch | None:
        """Moves the F1 curve's "shown" line to ``threshold`` (None without an F1 curve)."""
        if not (report.get("f1_curve") or {}).get("thresholds"):
            return None
        return marks_patch(report, threshold)

    def table_csv(self, report: Mapping[str, Any]) -> tuple[str, str] | None:
        """The per-class table (None without per-class figures)."""
        if not report.get("per_class"):
            return None
        return "per-class", per_class_csv(report)


def match_legend() -> html.Div:
    """What the boxes' colours mean."""
    items = []
    for status in ("tp", "fp", "fn", "ignored", "truth"):
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


def boxes_table(row: Mapping[str, Any], threshold: float) -> Component:
    """Every ground-truth box and every detection kept at ``threshold``, with its match."""
    lines: list[Component] = []

    def status_cell(status: str) -> html.Td:
        return html.Td(
            html.Span(
                MATCH_TITLES[status],
                className="badge eval-match-badge",
                style={"background": MATCH_COLORS[status]},
            )
        )

    def box_text(box: Sequence[float]) -> str:
        return ", ".join(f"{v:g}" for v in box)

    for box in row.get("truth") or ():
        score = box.get("matched_score")
        if box.get("ignore"):
            status = "ignored"
        elif score is not None and score >= threshold:
            status = "truth"
        else:
            status = "fn"
        lines.append(
            html.Tr(
                [
                    html.Td("truth"),
                    status_cell(status),
                    html.Td(str(box.get("class"))),
                    html.Td("—" if score is None else f"{score:.3f}", className="text-end"),
                    html.Td("—"),
                    html.Td(box_text(box.get("box") or ()), className="font-monospace"),
                ]
            )
        )
    kept = [p for p in row.get("predictions") or () if p["score"] >= threshold]
    for p in kept:
        status = p["match"] if p["match"] in MATCH_COLORS else "fp"
        iou = p.get("iou")
        lines.append(
            html.Tr(
                [
                    html.Td("detection"),
                    status_cell(status),
                    html.Td(str(p.get("class"))),
                    html.Td(f"{p['score']:.3f}", className="text-end"),
                    html.Td("—" if iou is None else f"{iou:.2f}", className="text-end"),
                    html.Td(box_text(p.get("box") or ()), className="font-monospace"),
                ]
            )
        )
    if not lines:
        return html.P(
            "No object and no detection kept at this threshold.",
            className="small text-body-secondary",
            id="eval-detail-box-list",
        )
    head = html.Thead(
        html.Tr(
            [
                html.Th("Box"),
                html.Th("Match"),
                html.Th("Class"),
                html.Th("Score", className="text-end"),
                html.Th("IoU", className="text-end"),
                html.Th("x1, y1, x2, y2"),
            ]
        )
    )
    return dbc.Table(
        [head, html.Tbody(lines)],
        size="sm",
        responsive=True,
        className="small mb-0 align-middle",
        id="eval-detail-box-list",
    )


TASK = DetectionUi("detection")
