"""Figures and tables of a detection evaluation: PR curves, the F1 curve, the confusion matrix,
the per-class table and its CSV.

Everything comes from the report of the evaluation job (``report.json``, read through
:func:`aistudio.commands.load_evaluation`): ``pr_curves`` (COCO's 101 recall points at IoU 0.5,
precision None where undefined) and ``pr_curve_mean``; ``f1_curve`` (micro precision, recall and
F1 at each candidate confidence threshold); ``confusion`` (classes plus ``background``, rows true,
columns predicted); ``per_class``. Curves are coloured like the boxes drawn over the images (a
class's colour is its place in the class list).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import Patch, html
from dash.development.base_component import Component

from ui.components.annotation_overlay import class_color
from ui.components.evaluation_charts import (
    F1_COLOR,
    FIGURE_HEIGHT,
    PRECISION_COLOR,
    RECALL_COLOR,
    confusion_heatmap,
    finish_figure,
    message_figure,
)

MEAN_COLOR = "#6f42c1"
SHOWN_COLOR = "#d63384"
"""The threshold the slider shows, on the F1 curve."""
EVALUATED_COLOR = "#6c757d"
"""The threshold the evaluation counted at, on the F1 curve."""
PER_CLASS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("class", "Class"),
    ("ap", "AP"),
    ("ap50", "AP50"),
    ("ap75", "AP75"),
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
THRESHOLD_SOURCES: dict[str, str] = {
    "given": "the threshold chosen for the experiment",
    "f1_optimal_this_subset": "F1-optimal on these images",
    "f1_optimal_val": "F1-optimal on the validation images",
}
"""Where the evaluation's threshold came from (``report.threshold.source``)."""


def report_classes(report: Mapping[str, Any]) -> list[str]:
    """The evaluation's classes, in order."""
    return [str(c) for c in report.get("classes", [])]


def evaluated_threshold(report: Mapping[str, Any]) -> float | None:
    """The threshold the evaluation counted at (None when the report does not say)."""
    value = (report.get("threshold") or {}).get("value")
    return float(value) if value is not None else None


def threshold_source(report: Mapping[str, Any] | None) -> str | None:
    """Where the evaluation's threshold came from, in words (None when the report does not say)."""
    source = ((report or {}).get("threshold") or {}).get("source")
    if source is None:
        return None
    return THRESHOLD_SOURCES.get(str(source), str(source).replace("_", " "))


# ---------------------------------------------------------------------- PR curves
def pr_figure(report: Mapping[str, Any], theme: str | None) -> go.Figure:
    """Precision against recall at IoU 0.5 for each class with objects, and their mean."""
    curves = report.get("pr_curves") or []
    mean = report.get("pr_curve_mean") or {}
    if not curves:
        return message_figure("No precision-recall curve (no object in these images)", theme)
    classes = report_classes(report)
    fig = go.Figure()
    for curve in curves:
        name = str(curve.get("class"))
        ap = curve.get("ap50")
        fig.add_scatter(
            x=curve.get("recall", []),
            y=curve.get("precision", []),
            name=f"{name} (AP50 {ap:.3f})" if ap is not None else name,
            mode="lines",
            connectgaps=False,
            line={"color": class_color(name, classes), "width": 1.5},
            hovertemplate=f"{name}<br>recall %{{x:.2f}}<br>precision %{{y:.3f}}<extra></extra>",
        )
    if mean.get("precision"):
        map50 = mean.get("map50")
        fig.add_scatter(
            x=mean.get("recall", []),
            y=mean.get("precision", []),
            name=f"mean (mAP50 {map50:.3f})" if map50 is not None else "mean",
            mode="lines",
            connectgaps=False,
            line={"color": MEAN_COLOR, "width": 3.5, "dash": "dash"},
            hovertemplate="mean<br>recall %{x:.2f}<br>precision %{y:.3f}<extra></extra>",
        )
    finish_figure(fig, theme, "Precision-recall at IoU 0.5, per class and their mean")
    fig.update_xaxes(title_text="recall", range=[0, 1.02])
    fig.update_yaxes(title_text="precision", range=[0, 1.05])
    return fig


# ---------------------------------------------------------------------- F1 curve
def threshold_marks(
    report: Mapping[str, Any], shown: float | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The F1 curve's vertical lines and their labels: the threshold ``shown`` (the slider's)
    first, then the one the evaluation counted at."""
    shapes: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    evaluated = evaluated_threshold(report)
    for value, text, color, dash, anchor in (
        (shown, "shown", SHOWN_COLOR, "solid", "left"),
        (evaluated, "evaluated at", EVALUATED_COLOR, "dot", "right"),
    ):
        if value is None:
            continue
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": value,
                "x1": value,
                "y0": 0,
                "y1": 1,
                "line": {"color": color, "width": 2, "dash": dash},
            }
        )
        labels.append(
            {
                "x": value,
                "y": 1.0,
                "xref": "x",
                "yref": "paper",
                "yanchor": "bottom",
                "xanchor": anchor,
                "text": f"{text} {value:.2f}",
                "showarrow": False,
                "font": {"size": 11, "color": color},
            }
        )
    return shapes, labels


def f1_figure(report: Mapping[str, Any], theme: str | None, shown: float | None) -> go.Figure:
    """Micro precision, recall and F1 at IoU 0.5 against the confidence threshold, with the
    threshold ``shown`` and the evaluation's marked."""
    curve = report.get("f1_curve") or {}
    thresholds = list(curve.get("thresholds") or [])
    if not thresholds:
        return message_figure("No F1 curve in this evaluation", theme)
    fig = go.Figure()
    for key, title, color, width in (
        ("precision", "precision", PRECISION_COLOR, 2),
        ("recall", "recall", RECALL_COLOR, 2),
        ("f1", "F1", F1_COLOR, 3),
    ):
        fig.add_scatter(
            x=thresholds,
            y=curve.get(key) or [],
            name=title,
            mode="lines",
            connectgaps=False,
            line={"color": color, "width": width},
            hovertemplate=f"confidence ≥ %{{x:.2f}}<br>{title} %{{y:.3f}}<extra></extra>",
        )
    finish_figure(fig, theme, "Precision, recall and F1 against the confidence threshold")
    shapes, labels = threshold_marks(report, shown)
    fig.update_layout(shapes=shapes, annotations=labels, hovermode="x unified")
    fig.update_layout(margin={"t": 56})
    fig.update_xaxes(title_text="confidence threshold", range=[0, 1])
    fig.update_yaxes(title_text="score", range=[0, 1.05])
    return fig


def marks_patch(report: Mapping[str, Any], shown: float) -> Patch:
    """A :class:`dash.Patch` of the F1 figure that moves its "shown" line to ``shown``."""
    shapes, labels = threshold_marks(report, shown)
    patch = Patch()
    patch["layout"]["shapes"] = shapes
    patch["layout"]["annotations"] = labels
    return patch


# ---------------------------------------------------------------------- confusion matrix
def confusion_figure(report: Mapping[str, Any], theme: str | None) -> go.Figure:
    """The detection confusion matrix: true class by row, predicted class by column, the
    background last on both (a missed object is in the background column, a false detection in
    the background row); each cell shows its count, its colour the share of its row."""
    confusion = report.get("confusion") or {}
    labels = [str(c) for c in confusion.get("labels", [])]
    matrix = [list(map(int, row)) for row in confusion.get("matrix", [])]
    if not labels or not matrix:
        return message_figure("No confusion matrix in this evaluation", theme)
    fig = confusion_heatmap(
        labels,
        matrix,
        "share<br>of row",
        "true %{y}<br>predicted %{x}<br>%{customdata} box(es) (%{z:.0%} of the row)<extra></extra>",
    )
    iou = confusion.get("iou")
    threshold = confusion.get("threshold")
    title = "Confusion matrix"
    if iou is not None and threshold is not None:
        title += f" (IoU ≥ {float(iou):g}, confidence ≥ {float(threshold):.2f})"
    side = max(FIGURE_HEIGHT, min(900, 140 + 28 * len(labels)))
    finish_figure(fig, theme, title, side)
    fig.update_xaxes(
        title_text="predicted class (background: a missed object)", type="category", side="bottom"
    )
    fig.update_yaxes(
        # Two lines: one would be longer than a small matrix is tall and be cut off.
        title_text="true class<br>(background: a false detection)",
        type="category",
        autorange="reversed",
    )
    return fig


# ---------------------------------------------------------------------- per class
def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def per_class_table(
    report: Mapping[str, Any], columns: Sequence[tuple[str, str]] = PER_CLASS_COLUMNS
) -> Component:
    """The per-class figures: AP (COCO's, averaged over IoU .50:.95), AP50, AP75, and at the
    threshold precision, recall, F1, objects, detections kept, TP, FP, FN (``columns``: report
    key and title of each, the class first)."""
    rows = report.get("per_class") or []
    if not rows:
        return html.P("No per-class figures in this evaluation.", className="small")
    classes = report_classes(report)
    head = html.Thead(
        html.Tr(
            [
                html.Th(title, className="text-end" if key != "class" else "")
                for key, title in columns
            ]
        )
    )
    body = []
    for row in rows:
        name = str(row.get("class"))
        cells: list[Component] = [
            html.Td(
                html.Span(
                    name,
                    className="overlay-swatch",
                    style={"borderColor": class_color(name, classes)},
                )
            )
        ]
        cells += [
            html.Td(_cell(row.get(key)), className="text-end font-monospace")
            for key, _ in columns[1:]
        ]
        body.append(html.Tr(cells))
    return dbc.Table(
        [head, html.Tbody(body)],
        size="sm",
        hover=True,
        responsive=True,
        className="small mb-2 eval-class-table",
        id="eval-class-table",
    )


def per_class_csv(
    report: Mapping[str, Any], columns: Sequence[tuple[str, str]] = PER_CLASS_COLUMNS
) -> str:
    """The per-class table as CSV: a header of report keys, a line per class (empty where a
    figure is undefined), values as the report has them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([key for key, _ in columns])
    for row in report.get("per_class") or []:
        values = [row.get(key) for key, _ in columns]
        writer.writerow(["" if value is None else value for value in values])
    return out.getvalue()


def per_class_section(report: Mapping[str, Any]) -> html.Div:
    """The per-class table under its title, with the Download CSV button."""
    return html.Div(
        [
            html.Div(
                [
                    html.Span("Per class", className="fw-semibold"),
                    html.Span(
                        f" at IoU {float(report.get('iou') or 0.5):g} and the evaluation's "
                        "threshold",
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
            per_class_table(report),
        ],
        className="mb-3",
        id="eval-class-section",
    )


def notes_box(notes: Sequence[str]) -> list[Component]:
    """The report's notes (undefined figures and why), as a quiet box; none without notes."""
    if not notes:
        return []
    return [
        html.Div(
            [
                html.I(className="bi bi-info-circle me-2"),
                html.Span(" ".join(str(n) for n in notes)),
            ],
            className="small border rounded px-3 py-2 mb-3 bg-info-subtle text-info-emphasis "
            "border-info-subtle",
            id="eval-notes",
        )
    ]
