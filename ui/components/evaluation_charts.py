"""Figures of the Evaluation page: headline cards, and the plots of a report.

Classification: confusion matrix (true class by row, predicted class by column, counts written
in the cells), per-class precision / recall / F1, one-vs-rest precision-recall curves with their
average precision, and the confidence threshold sweep. Regression: the residual histogram and
predicted against true values with the ``y = x`` line (detection's are in
:mod:`ui.components.detection_charts`). Which figures a task shows, and its headline cards, are
the task's (:mod:`ui.tasks`). Every figure is built from the report
(and the per-image rows) that :func:`aistudio.commands.load_evaluation` returns, themed for the
light or dark colour mode like the Training page's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html
from dash.development.base_component import Component

from projections.evaluations import EvaluationEntry
from ui.components.evaluation_runs import format_metric, load_error, note
from ui.components.theme import themed
from ui.components.training_charts import COMPARE_COLORS
from ui.tasks import ui_task

PRECISION_COLOR = "#0d6efd"
RECALL_COLOR = "#fd7e14"
F1_COLOR = "#20c997"
COVERAGE_COLOR = "#6f42c1"
ACCURACY_COLOR = "#20c997"
ERROR_COLOR = "#dc3545"
ERROR_SCALE: list[list[Any]] = [[0.0, "#20c997"], [0.5, "#ffc107"], [1.0, "#dc3545"]]
"""Small errors teal, large ones red: readable on light and dark backgrounds."""
FIGURE_HEIGHT = 360
ANNOTATED_CELLS = 625
"""Largest confusion matrix whose cells carry their count (25 classes)."""
SCATTER_GL_POINTS = 5000
"""From this many points on, the scatter plot is drawn with WebGL."""
_LEGEND = {"orientation": "h", "yanchor": "top", "y": -0.22, "x": 0}
_MARGIN = {"l": 56, "r": 16, "t": 40, "b": 80}


# ---------------------------------------------------------------------- cards
def metric_cards(
    evaluation: EvaluationEntry, task: str, report: Mapping[str, Any] | None = None
) -> Component:
    """One card per headline figure of the task (every figure when it names none), the primary
    metric first and highlighted; ``report`` gives the task's notes under a value (where the
    detection threshold comes from)."""
    spec = ui_task(task)
    names = [n for n in spec.headlines if n in evaluation.metrics]
    names += [n for n in evaluation.metrics if n not in names and not spec.headlines]
    primary = evaluation.primary_metric
    if primary in names:
        names.remove(primary)
        names.insert(0, primary)
    cards = []
    for name in names:
        is_primary = name == primary
        value: list[Component] = [
            html.Div(
                spec.metric_title(name),
                className="small text-body-secondary text-truncate",
            ),
            html.Div(
                format_metric(evaluation.metrics[name]),
                className="fs-4 fw-semibold eval-card-value",
            ),
        ]
        extra = spec.card_note(name, report)
        if extra:
            value.append(html.Div(extra, className="small text-body-secondary eval-card-note"))
        cards.append(
            dbc.Col(
                dbc.Card(
                    dbc.CardBody(
                        html.Div(value, title=spec.metric_help.get(name, name)),
                        className="py-2 px-3",
                    ),
                    className="eval-card h-100"
                    + (" border-primary eval-card-primary" if is_primary else ""),
                    id={"type": "eval-card", "index": name},
                ),
                xs=6,
                md=4,
                xl=3,
            )
        )
    images = evaluation.images
    cards.append(
        dbc.Col(
            dbc.Card(
                dbc.CardBody(
                    [
                        html.Div("Images", className="small text-body-secondary"),
                        html.Div(f"{images:,}", className="fs-4 fw-semibold eval-card-value"),
                    ],
                    className="py-2 px-3",
                ),
                className="eval-card h-100",
            ),
            xs=6,
            md=4,
            xl=3,
        )
    )
    return dbc.Row(cards, className="g-2 mb-3", id="eval-cards")


def graph(graph_id: str, figure: go.Figure) -> dcc.Graph:
    """A figure of the metrics section."""
    return dcc.Graph(
        id=graph_id,
        figure=figure,
        config={"displayModeBar": False, "responsive": True},
        className="mb-3",
    )


# ---------------------------------------------------------------------- helpers
def message_figure(message: str, theme: str | None, height: int = FIGURE_HEIGHT) -> go.Figure:
    """An empty figure that says ``message``."""
    fig = go.Figure()
    fig.add_annotation(
        text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 14}
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    themed(fig, theme)
    fig.update_layout(height=height)
    return fig


def finish_figure(
    fig: go.Figure, theme: str | None, title: str, height: int = FIGURE_HEIGHT
) -> None:
    """Theme ``fig`` and give it the section's title, height, margins and legend."""
    themed(fig, theme)
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 14}},
        height=height,
        margin=_MARGIN,
        legend=_LEGEND,
    )


# ---------------------------------------------------------------------- classification
def confusion_heatmap(
    labels: list[str], matrix: list[list[int]], colorbar: str, hover: str
) -> go.Figure:
    """A confusion matrix as a heatmap: counts in the cells (when few enough), colours the share
    of each row, the rows top to bottom."""
    totals = [sum(row) or 1 for row in matrix]
    shares = [[count / totals[i] for count in row] for i, row in enumerate(matrix)]
    annotate = len(labels) ** 2 <= ANNOTATED_CELLS
    return go.Figure(
        go.Heatmap(
            z=shares,
            x=labels,
            y=labels,
            customdata=matrix,
            text=matrix,
            texttemplate="%{text}" if annotate else None,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            xgap=1,
            ygap=1,
            colorbar={"title": {"text": colorbar}, "tickformat": ".0%"},
            hovertemplate=hover,
        )
    )


def confusion_figure(report: dict[str, Any], theme: str | None) -> go.Figure:
    """The confusion matrix: true classes by row (top to bottom), predicted by column; each
    cell shows its count, its colour the share of the true class's images."""
    classes = [str(c) for c in report.get("classes", [])]
    matrix = [list(map(int, row)) for row in report.get("confusion_matrix", [])]
    if not classes or not matrix:
        return message_figure("No confusion matrix in this evaluation", theme)
    fig = confusion_heatmap(
        classes,
        matrix,
        "share of<br>true class",
        "true %{y}<br>predicted %{x}<br>%{customdata} image(s) (%{z:.0%} of %{y})<extra></extra>",
    )
    side = max(FIGURE_HEIGHT, min(900, 120 + 28 * len(classes)))
    finish_figure(fig, theme, "Confusion matrix", side)
    fig.update_xaxes(title_text="predicted class", type="category", side="bottom")
    fig.update_yaxes(title_text="true class", type="category", autorange="reversed")
    return fig


def per_class_figure(report: dict[str, Any], theme: str | None) -> go.Figure:
    """Precision, recall and F1 of each class, side by side (support in the hover)."""
    rows = report.get("per_class") or []
    if not rows:
        return message_figure("No per-class figures in this evaluation", theme)
    classes = [str(r["class"]) for r in rows]
    support = [int(r.get("support", 0)) for r in rows]
    fig = go.Figure()
    for key, title, color in (
        ("precision", "precision", PRECISION_COLOR),
        ("recall", "recall", RECALL_COLOR),
        ("f1", "F1", F1_COLOR),
    ):
        fig.add_bar(
            x=classes,
            y=[r.get(key) for r in rows],
            name=title,
            marker_color=color,
            customdata=support,
            hovertemplate=(
                f"%{{x}}<br>{title} %{{y:.3f}}<br>%{{customdata}} true image(s)<extra></extra>"
            ),
        )
    finish_figure(fig, theme, "Per class")
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[0, 1.05], title_text="score")
    return fig


def pr_figure(report: dict[str, Any], theme: str | None) -> go.Figure:
    """One-vs-rest precision-recall curve of each class, its average precision in the legend."""
    curves = report.get("pr_curves") or []
    if not curves:
        return message_figure("No precision-recall curve (no class has a true image)", theme)
    fig = go.Figure()
    for i, curve in enumerate(curves):
        ap = curve.get("average_precision")
        name = f"{curve['class']} (AP {ap:.3f})" if ap is not None else str(curve["class"])
        fig.add_scatter(
            x=curve.get("recall", []),
            y=curve.get("precision", []),
            name=name,
            mode="lines",
            line={"color": COMPARE_COLORS[i % len(COMPARE_COLORS)], "width": 2, "shape": "hv"},
            hovertemplate=(
                f"{curve['class']}<br>recall %{{x:.3f}}<br>precision %{{y:.3f}}<extra></extra>"
            ),
        )
    finish_figure(fig, theme, "Precision-recall (one class against the rest)")
    fig.update_xaxes(title_text="recall", range=[0, 1.02])
    fig.update_yaxes(title_text="precision", range=[0, 1.05])
    return fig


def threshold_figure(report: dict[str, Any], theme: str | None) -> go.Figure:
    """Coverage and accuracy of the images kept when only confident predictions are kept."""
    sweep = report.get("threshold_sweep") or []
    if not sweep:
        return message_figure("No threshold sweep in this evaluation", theme)
    thresholds = [p["threshold"] for p in sweep]
    images = [p.get("images", 0) for p in sweep]
    fig = go.Figure()
    fig.add_scatter(
        x=thresholds,
        y=[p.get("coverage") for p in sweep],
        name="coverage (images kept)",
        mode="lines+markers",
        line={"color": COVERAGE_COLOR, "width": 2},
        marker={"size": 5},
        customdata=images,
        hovertemplate=(
            "confidence ≥ %{x:.2f}<br>keeps %{y:.1%} (%{customdata} images)<extra></extra>"
        ),
    )
    fig.add_scatter(
        x=thresholds,
        y=[p.get("accuracy") for p in sweep],
        name="accuracy of the kept images",
        mode="lines+markers",
        line={"color": ACCURACY_COLOR, "width": 2},
        marker={"size": 5},
        connectgaps=False,
        hovertemplate="confidence ≥ %{x:.2f}<br>accuracy %{y:.1%}<extra></extra>",
    )
    finish_figure(fig, theme, "Confidence threshold")
    fig.update_xaxes(title_text="confidence threshold", range=[0, 1])
    fig.update_yaxes(title_text="share", range=[0, 1.05], tickformat=".0%")
    fig.update_layout(hovermode="x unified")
    return fig


# ---------------------------------------------------------------------- regression
def residual_figure(report: dict[str, Any], theme: str | None) -> go.Figure:
    """The histogram of residuals (prediction - true value), with a line at zero."""
    histogram = report.get("residual_histogram") or {}
    edges = list(histogram.get("edges") or [])
    counts = list(histogram.get("counts") or [])
    if len(edges) != len(counts) + 1 or not counts:
        return message_figure("No residual histogram in this evaluation", theme)
    centers = [(a + b) / 2 for a, b in pairwise(edges)]
    widths = [b - a for a, b in pairwise(edges)]
    fig = go.Figure(
        go.Bar(
            x=centers,
            y=counts,
            width=widths,
            marker_color=PRECISION_COLOR,
            marker_line_width=0,
            customdata=list(pairwise(edges)),
            hovertemplate=(
                "residual %{customdata[0]:.4g} to %{customdata[1]:.4g}<br>%{y} image(s)"
                "<extra></extra>"
            ),
            name="images",
        )
    )
    fig.add_vline(x=0, line={"color": ERROR_COLOR, "width": 1.5, "dash": "dash"})
    finish_figure(fig, theme, "Residuals (prediction - true value)")
    fig.update_layout(bargap=0.02, showlegend=False)
    fig.update_xaxes(title_text="residual")
    fig.update_yaxes(title_text="images")
    return fig


def scatter_figure(
    rows: Sequence[dict[str, Any]], report: dict[str, Any], theme: str | None
) -> go.Figure:
    """Predicted against true value, one point per image (coloured by its absolute error), and
    the ``y = x`` line where a perfect model's points would lie."""
    points = [r for r in rows if r.get("target") is not None and r.get("prediction") is not None]
    if not points:
        return message_figure("No per-image results to plot", theme)
    truth = [float(r["target"]) for r in points]
    predicted = [float(r["prediction"]) for r in points]
    errors = [abs(p - t) for p, t in zip(predicted, truth, strict=True)]
    low = min(min(truth), min(predicted))
    high = max(max(truth), max(predicted))
    target_range = report.get("target_range")
    if isinstance(target_range, list) and len(target_range) == 2:
        low, high = min(low, float(target_range[0])), max(high, float(target_range[1]))
    pad = (high - low) * 0.04 or 1.0
    scatter = go.Scattergl if len(points) >= SCATTER_GL_POINTS else go.Scatter
    fig = go.Figure()
    fig.add_scatter(
        x=[low - pad, high + pad],
        y=[low - pad, high + pad],
        mode="lines",
        name="perfect (y = x)",
        line={"color": "#6c757d", "width": 1.5, "dash": "dash"},
        hoverinfo="skip",
    )
    fig.add_trace(
        scatter(
            x=truth,
            y=predicted,
            mode="markers",
            name="images",
            customdata=[[r.get("image_id", ""), e] for r, e in zip(points, errors, strict=True)],
            marker={
                "size": 8,
                "color": errors,
                "colorscale": ERROR_SCALE,
                "cmin": 0,
                "showscale": True,
                "colorbar": {"title": {"text": "abs.<br>error"}},
                "opacity": 0.85,
                "line": {"width": 0},
            },
            hovertemplate=(
                "%{customdata[0]}<br>true %{x:.4g}<br>predicted %{y:.4g}"
                "<br>error %{customdata[1]:.4g}<extra></extra>"
            ),
        )
    )
    finish_figure(fig, theme, "Predicted against true value")
    fig.update_xaxes(title_text="true value", range=[low - pad, high + pad])
    fig.update_yaxes(title_text="predicted value", range=[low - pad, high + pad])
    return fig


def figures_for(
    task: str, rows: Sequence[dict[str, Any]], report: dict[str, Any], theme: str | None
) -> list[tuple[str, go.Figure]]:
    """The plots of an evaluation, as ``(graph id, figure)`` in display order."""
    return ui_task(task).figures(rows, report, theme)


def metrics_section(
    evaluation: EvaluationEntry | None,
    task: str,
    theme: str | None,
    selected: str | None,
    loaded: tuple[Sequence[dict[str, Any]], dict[str, Any], str] | None,
) -> list[Component]:
    """The metrics section: what to do, or the cards and the plots of a completed evaluation.

    Args:
        evaluation: the selected experiment's evaluation (None: not evaluated).
        task: the project's task (``classification``, ``regression``, ``detection``).
        theme: ``light`` or ``dark``.
        selected: the selected experiment (None: nothing selected).
        loaded: a completed evaluation's ``(rows, report, error)``; the figures need them, the
            cards do not (they come from the log).
    """
    if selected is None:
        return [note("hand-index", "Select an experiment to see its figures.")]
    if evaluation is None:
        return [
            note(
                "clipboard-data",
                "Not evaluated yet: choose a checkpoint and subsets above, then run.",
            )
        ]
    if evaluation.is_pending:
        return [
            html.Div(
                [
                    dbc.Spinner(size="sm", spinner_class_name="me-2"),
                    "Evaluating: the figures appear here when it finishes.",
                ],
                className="text-body-secondary small py-3",
                id="eval-metrics-pending",
            )
        ]
    if evaluation.status != "completed":
        return [note("slash-circle", f"No figures: the evaluation {evaluation.status}.")]
    rows, report, error = loaded if loaded is not None else ([], {}, "")
    children: list[Component] = [metric_cards(evaluation, task, report)]
    if error:
        children.append(load_error(error, "eval-metrics-error"))
        return children
    children.extend(ui_task(task).metrics_body(rows, report, theme))
    return children
