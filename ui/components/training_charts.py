"""Figures of the Training page: one experiment's curves, and several overlaid for comparison.

Every figure is built from the experiments view only (the log), so it is the same after a page
reload, and themed for the light or dark colour mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from projections.experiments import EpochRecord, ExperimentEntry
from ui.components.theme import themed

TRAIN_COLOR = "#0d6efd"
VAL_COLOR = "#fd7e14"
METRIC_COLORS: tuple[str, ...] = ("#20c997", "#6f42c1", "#d63384", "#0dcaf0", "#ffc107")
COMPARE_COLORS: tuple[str, ...] = (
    "#0d6efd",
    "#fd7e14",
    "#20c997",
    "#d63384",
    "#6f42c1",
    "#0dcaf0",
    "#198754",
    "#dc3545",
    "#6c757d",
    "#ffc107",
)
CURVES_HEIGHT = 340
COMPARE_HEIGHT = 360
_LEGEND = {"orientation": "h", "yanchor": "top", "y": -0.3, "x": 0}
_MARGIN = {"l": 56, "r": 16, "t": 40, "b": 96}


_TITLES: dict[str, str] = {
    "average_precision_macro": "mAP (macro AP)",
    "top3_accuracy": "Top-3 accuracy",
    "top5_accuracy": "Top-5 accuracy",
    "median_absolute_error": "Median abs. error",
    "map": "mAP@[.50:.95]",
    "map50": "mAP50",
    "map75": "mAP75",
    "map_small": "mAP small",
    "map_medium": "mAP medium",
    "map_large": "mAP large",
    "mar1": "AR@1",
    "mar10": "AR@10",
    "mar100": "AR@100",
    "confidence_threshold": "Threshold",
}


def checkpoint_figure(metric: str, value: float) -> str:
    """A checkpoint's figure with the subset it was measured on: ``val Accuracy 0.934``, or
    ``train loss 0.12`` (a run without validation images keeps its best by the train loss)."""
    if metric.startswith("train_"):
        return f"train {metric.removeprefix('train_').replace('_', ' ')} {value:.4g}"
    return f"val {metric_title(metric)} {value:.4g}"


def metric_title(name: str) -> str:
    """``f1_macro`` -> ``F1 macro``; ``mae`` -> ``MAE``; a few long names shortened."""
    if name in _TITLES:
        return _TITLES[name]
    short = {"mae", "rmse", "mse", "r2", "f1", "auc", "map", "iou", "miou"}
    words = name.replace("-", "_").split("_")
    titled = [w.upper() if w.lower() in short else w for w in words if w]
    text = " ".join(titled) or name
    if text.upper() == "R2":
        return "R²"
    return text[:1].upper() + text[1:]


def primary_key(history: Sequence[EpochRecord], primary: str) -> str | None:
    """The name of the primary metric in ``history``'s metrics (None when it is not there)."""
    names = {name for record in history for name in record.metrics}
    if primary in names:
        return primary
    return next((n for n in sorted(names) if n.endswith(primary)), None)


def _message_figure(message: str, theme: str | None, height: int) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=message,
        showarrow=False,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        font={"size": 14},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    themed(fig, theme)
    fig.update_layout(height=height)
    return fig


def _epoch_axis(fig: go.Figure, last: int, cols: int) -> None:
    upper = max(last, 1)
    for col in range(1, cols + 1):
        fig.update_xaxes(
            title_text="epoch",
            range=[0.6, upper + 0.4],
            tickmode="auto" if upper > 12 else "linear",
            dtick=1 if upper <= 12 else None,
            tickformat="d",
            row=1,
            col=col,
        )


def curves_figure(
    entry: ExperimentEntry | None,
    primary: str,
    metric_mode: str,
    theme: str | None,
    waiting: str = "Waiting for the first epoch…",
) -> go.Figure:
    """Loss (train, validation) and metrics per epoch of one experiment.

    The epoch axis spans the whole run (``entry.epochs``), so the curves grow into it live.
    The primary metric is drawn, the task's other metrics are one click away in the legend,
    and the best epoch is starred.

    Args:
        entry: the experiment (None: nothing selected).
        primary: the task's primary metric (the one that picks the best checkpoint).
        metric_mode: ``max`` or ``min``: which way the metric is better.
        theme: ``light`` or ``dark``.
        waiting: the message shown before the first epoch.
    """
    if entry is None:
        return _message_figure("Select an experiment", theme, CURVES_HEIGHT)
    history = entry.history
    if not history:
        return _message_figure(waiting, theme, CURVES_HEIGHT)
    key = primary_key(history, primary)
    names = sorted({n for r in history for n in r.metrics}, key=lambda n: (n != key, n))
    epochs = [r.epoch for r in history]
    metric_label = metric_title(key) if key else "Metrics"
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Loss", metric_label if names else "Metrics"),
        horizontal_spacing=0.12,
    )
    fig.add_scatter(
        x=epochs,
        y=[r.train_loss for r in history],
        name="train loss",
        mode="lines+markers",
        line={"color": TRAIN_COLOR, "width": 2},
        marker={"size": 6},
        hovertemplate="epoch %{x}<br>train loss %{y:.4g}<extra></extra>",
        row=1,
        col=1,
    )
    val = [(r.epoch, r.val_loss) for r in history if r.val_loss is not None]
    if val:
        fig.add_scatter(
            x=[e for e, _ in val],
            y=[v for _, v in val],
            name="val loss",
            mode="lines+markers",
            line={"color": VAL_COLOR, "width": 2},
            marker={"size": 6},
            hovertemplate="epoch %{x}<br>val loss %{y:.4g}<extra></extra>",
            row=1,
            col=1,
        )
    for i, name in enumerate(names):
        points = [(r.epoch, r.metrics[name]) for r in history if name in r.metrics]
        fig.add_scatter(
            x=[e for e, _ in points],
            y=[v for _, v in points],
            name=f"val {metric_title(name)}",
            mode="lines+markers",
            line={"color": METRIC_COLORS[i % len(METRIC_COLORS)], "width": 2 if i == 0 else 1.5},
            marker={"size": 6 if i == 0 else 4},
            visible=True if name == key or key is None else "legendonly",
            hovertemplate=f"epoch %{{x}}<br>{metric_title(name)} %{{y:.4g}}<extra></extra>",
            row=1,
            col=2,
        )
    best = entry.best
    if best is not None and key is not None and best.value is not None:
        fig.add_scatter(
            x=[best.epoch],
            y=[best.value],
            name=f"best (epoch {best.epoch})",
            mode="markers",
            marker={"symbol": "star", "size": 14, "color": "#ffc107", "line": {"width": 1}},
            hovertemplate=(
                f"best epoch %{{x}}<br>{metric_title(key)} %{{y:.4g}}"
                f" ({'higher' if metric_mode == 'max' else 'lower'} is better)<extra></extra>"
            ),
            row=1,
            col=2,
        )
    if not names:
        fig.add_annotation(
            text="No validation images:<br>no metrics",
            showarrow=False,
            xref="x2 domain",
            yref="y2 domain",
            x=0.5,
            y=0.5,
        )
        fig.update_xaxes(showticklabels=False, row=1, col=2)
        fig.update_yaxes(showticklabels=False, row=1, col=2)
    _epoch_axis(fig, max(entry.epochs, epochs[-1]), 2)
    fig.update_yaxes(title_text="loss", rangemode="tozero", row=1, col=1)
    themed(fig, theme)
    fig.update_layout(
        height=CURVES_HEIGHT,
        margin=_MARGIN,
        legend=_LEGEND,
        hovermode="x unified",
        uirevision=entry.experiment_id,  # keep the user's zoom and legend while it grows
    )
    return fig


def compare_figure(
    entries: Sequence[ExperimentEntry], primary: str, metric_mode: str, theme: str | None
) -> go.Figure:
    """The curves of several experiments overlaid: validation loss (train loss when there is no
    validation) and the primary metric, one colour per experiment."""
    if len(entries) < 1:
        return _message_figure("Choose experiments to compare", theme, COMPARE_HEIGHT)
    if not any(e.history for e in entries):
        return _message_figure("No epoch finished yet", theme, COMPARE_HEIGHT)
    key_title = metric_title(primary)
    better = "higher" if metric_mode == "max" else "lower"
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Validation loss", f"{key_title} ({better} is better)"),
        horizontal_spacing=0.12,
    )
    last = 1
    for i, entry in enumerate(entries):
        color = COMPARE_COLORS[i % len(COMPARE_COLORS)]
        history = entry.history
        if not history:
            continue
        last = max(last, history[-1].epoch)
        has_val = any(r.val_loss is not None for r in history)
        loss = [(r.epoch, r.val_loss if has_val else r.train_loss) for r in history]
        loss = [(e, v) for e, v in loss if v is not None]
        fig.add_scatter(
            x=[e for e, _ in loss],
            y=[v for _, v in loss],
            name=entry.name,
            legendgroup=entry.experiment_id,
            mode="lines+markers",
            line={"color": color, "width": 2, "dash": "solid" if has_val else "dot"},
            marker={"size": 5},
            hovertemplate=(
                f"{entry.name}<br>epoch %{{x}}<br>{'val' if has_val else 'train'} loss "
                "%{y:.4g}<extra></extra>"
            ),
            row=1,
            col=1,
        )
        key = primary_key(history, primary)
        if key is None:
            continue
        points = [(r.epoch, r.metrics[key]) for r in history if key in r.metrics]
        fig.add_scatter(
            x=[e for e, _ in points],
            y=[v for _, v in points],
            name=entry.name,
            legendgroup=entry.experiment_id,
            showlegend=False,
            mode="lines+markers",
            line={"color": color, "width": 2},
            marker={"size": 5},
            hovertemplate=f"{entry.name}<br>epoch %{{x}}<br>{key_title} %{{y:.4g}}<extra></extra>",
            row=1,
            col=2,
        )
    _epoch_axis(fig, last, 2)
    fig.update_yaxes(title_text="loss", rangemode="tozero", row=1, col=1)
    themed(fig, theme)
    fig.update_layout(
        height=COMPARE_HEIGHT,
        margin=_MARGIN,
        legend=_LEGEND,
    )
    return fig
