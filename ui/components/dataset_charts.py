"""The Dataset page's class histogram (Plotly), themed like the rest of the app.

Classification: one horizontal bar per class (and one for unlabeled images); with a split
chosen, the bars are stacked by subset. Regression: a histogram of the values, binned here so
that the browser receives a few dozen bars, not 100,000 numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from projections.dataset import SUBSETS, DatasetView
from ui.components.annotation_overlay import class_color
from ui.components.dataset_grid import SUBSET_LABELS
from ui.components.theme import themed
from ui.tasks import ui_task

MAX_BARS = 40
"""Classes shown at most (the largest ones); the title says how many are left out."""
VALUE_BINS = 30
SUBSET_COLORS: dict[str, str] = {"train": "#0d6efd", "val": "#fd7e14", "test": "#20c997"}
UNLABELED_COLOR = "#adb5bd"


def histogram_figure(
    dataset: DatasetView,
    task: str,
    theme: str | None,
    split: str | None = None,
    project_id: str | None = None,
) -> go.Figure:
    """The histogram of ``dataset``'s labels (or values, when the task learns numbers; or the
    classes in the annotations' files, read for ``project_id``: semantic masks)."""
    spec = ui_task(task)
    if not dataset.images:
        figure = _empty("No images yet")
    elif spec.histogram == "values":
        figure = _value_histogram(dataset)
    elif not dataset.classes:
        figure = _empty(f"{len(dataset.images):,} images, no class labels")
    elif spec.classes_in_files:
        figure = _file_class_bars(dataset, spec.image_classes(dataset, project_id), split)
    elif split and split in dataset.splits:
        figure = _stacked_by_subset(dataset, split)
    else:
        figure = _class_bars(dataset)
    themed(figure, theme)
    two_lines = "<br>" in str(figure.layout.title.text or "")
    figure.update_layout(margin={"l": 8, "r": 16, "t": 56 if two_lines else 36, "b": 32})
    return figure


def placeholder_figure(dataset: DatasetView, task: str) -> dict[str, Any]:
    """What the histogram's graph holds until its callback draws it in the browser's theme: no
    bars, no template, the height the histogram will have (so nothing moves when it comes).

    The layout cannot know the theme (the browser keeps it), so a histogram drawn there was
    drawn again at once by the callback: twice the work on the server and in the browser.
    """
    if dataset.images and ui_task(task).histogram == "values":
        height = 300
    elif dataset.images and dataset.classes:
        height = _height(len(_shown_classes(dataset)[0]))
    else:
        height = 260
    hidden = {"visible": False}
    return {
        "data": [],
        "layout": {
            "height": height,
            "xaxis": hidden,
            "yaxis": hidden,
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "margin": {"l": 8, "r": 16, "t": 36, "b": 32},
        },
    }


def _count(dataset: DatasetView, name: str) -> int:
    """Images labelled ``name`` plus objects of class ``name`` (one of the two is zero)."""
    return dataset.label_counts.get(name, 0) + dataset.object_counts.get(name, 0)


def _counts_objects(dataset: DatasetView) -> bool:
    return any(dataset.object_counts.values())


def _shown_classes(dataset: DatasetView) -> tuple[list[str], int]:
    classes = list(dataset.classes)
    if len(classes) <= MAX_BARS:
        return classes, 0
    top = sorted(classes, key=lambda c: -_count(dataset, c))[:MAX_BARS]
    keep = set(top)
    return [c for c in classes if c in keep], len(classes) - MAX_BARS


def _height(bars: int) -> int:
    return max(260, min(1200, 60 + 24 * bars))


def _class_bars(dataset: DatasetView) -> go.Figure:
    classes, hidden = _shown_classes(dataset)
    counts = [_count(dataset, c) for c in classes]
    objects = _counts_objects(dataset)
    # Objects take their class's colour, as drawn over the images.
    colors = (
        [class_color(c, dataset.classes) for c in classes]
        if objects
        else ["#0d6efd"] * len(classes)
    )
    what = "objects" if objects else "images"
    if dataset.unlabeled:
        classes.append("(not annotated)" if objects else "(unlabeled)")
        counts.append(dataset.unlabeled)
        colors.append(UNLABELED_COLOR)
    figure = go.Figure(
        go.Bar(
            x=counts,
            y=classes,
            orientation="h",
            marker_color=colors,
            text=[f"{n:,}" for n in counts],
            textposition="auto",
            hovertemplate=f"%{{y}}: %{{x:,}} {what}<extra></extra>",
        )
    )
    title = f"{what.capitalize()} per class" + (
        f" (largest {MAX_BARS}; {hidden} more)" if hidden else ""
    )
    _bar_layout(figure, title, len(classes))
    return figure


def _file_class_bars(
    dataset: DatasetView, present: Mapping[str, frozenset[str]] | None, split: str | None
) -> go.Figure:
    """Images whose annotation's files hold each class (stacked by subset with a split)."""
    if present is None:
        return _empty(f"{len(dataset.images):,} images: too many<br>to read their masks here")
    classes = list(dataset.classes)
    members = dataset.splits.get(split or "") if split else None
    figure = go.Figure()
    if members is None:
        counts = dict.fromkeys(classes, 0)
        for names in present.values():
            for name in names:
                counts[name] = counts.get(name, 0) + 1
        values = [counts[c] for c in classes]
        labels = list(classes)
        colors = [class_color(c, dataset.classes) for c in classes]
        if dataset.unlabeled:
            labels.append("(not annotated)")
            values.append(dataset.unlabeled)
            colors.append(UNLABELED_COLOR)
        figure.add_bar(
            x=values,
            y=labels,
            orientation="h",
            marker_color=colors,
            text=[f"{n:,}" for n in values],
            textposition="auto",
            hovertemplate="%{y}: %{x:,} images<extra></extra>",
        )
        _bar_layout(figure, "Images whose mask holds each class", len(labels))
        return figure
    for subset in SUBSETS:
        counts = dict.fromkeys(classes, 0)
        for image_id, member_subset in members.items():
            if member_subset == subset:
                for name in present.get(image_id, ()):
                    counts[name] = counts.get(name, 0) + 1
        figure.add_bar(
            x=[counts[c] for c in classes],
            y=classes,
            orientation="h",
            name=SUBSET_LABELS[subset],
            marker_color=SUBSET_COLORS[subset],
            hovertemplate=f"%{{y}} · {SUBSET_LABELS[subset]}: %{{x:,}} images<extra></extra>",
        )
    _bar_layout(
        figure, f"Images whose mask holds each class<br><sup>split “{split}”</sup>", len(classes)
    )
    figure.update_layout(
        barmode="stack", showlegend=True, legend={"orientation": "h", "y": -0.12, "x": 0}
    )
    return figure


def _stacked_by_subset(dataset: DatasetView, split: str) -> go.Figure:
    by_subset = dataset.class_counts_by_subset(split)
    classes, hidden = _shown_classes(dataset)
    figure = go.Figure()
    for subset in SUBSETS:
        counts = by_subset.get(subset, {})
        figure.add_bar(
            x=[counts.get(c, 0) for c in classes],
            y=classes,
            orientation="h",
            name=SUBSET_LABELS[subset],
            marker_color=SUBSET_COLORS[subset],
            hovertemplate=f"%{{y}} · {SUBSET_LABELS[subset]}: %{{x:,}}<extra></extra>",
        )
    what = "Objects" if _counts_objects(dataset) else "Images"
    # Two lines: on one, a long split name was cut ("Images per class and subset (def").
    title = f"{what} per class and subset<br><sup>split “{split}”</sup>"
    if hidden:
        title += f" (largest {MAX_BARS}; {hidden} more)"
    _bar_layout(figure, title, len(classes))
    figure.update_layout(
        barmode="stack",
        showlegend=True,
        legend={"orientation": "h", "y": -0.12, "x": 0},
    )
    return figure


def _bar_layout(figure: go.Figure, title: str, bars: int) -> None:
    figure.update_layout(
        title={"text": title, "font": {"size": 14}, "x": 0},
        height=_height(bars),
        showlegend=False,
        bargap=0.25,
    )
    figure.update_yaxes(autorange="reversed", automargin=True, type="category")
    # Counts are whole numbers: never let Plotly place ticks between them ("0 1 1 2 2").
    figure.update_xaxes(rangemode="tozero", tickformat=",d")
    largest = max((max(t.x or (0,)) for t in figure.data if t.x is not None), default=0)
    if largest <= 8:
        figure.update_xaxes(tickmode="linear", tick0=0, dtick=1)


def value_bins(values: list[float], bins: int = VALUE_BINS) -> tuple[list[float], list[int], float]:
    """Equal-width bins of ``values``: ``(bin centres, counts, bin width)``."""
    low, high = min(values), max(values)
    if high == low:
        return [low], [len(values)], 1.0
    width = (high - low) / bins
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, int((value - low) / width))] += 1
    centres = [low + width * (i + 0.5) for i in range(bins)]
    return centres, counts, width


def _value_histogram(dataset: DatasetView) -> go.Figure:
    values = [
        e.value for e in dataset.images.values() if e.value is not None and math.isfinite(e.value)
    ]
    if not values:
        return _empty(f"{len(dataset.images):,} images, no values")
    centres, counts, width = value_bins(values)
    figure = go.Figure(
        go.Bar(
            x=centres,
            y=counts,
            width=[width * 0.95] * len(centres),
            marker_color="#6f42c1",
            hovertemplate="around %{x:.4g}: %{y:,} images<extra></extra>",
        )
    )
    title = "Distribution of values"
    if dataset.unlabeled:
        title += f" ({dataset.unlabeled:,} images without a value)"
    figure.update_layout(
        title={"text": title, "font": {"size": 14}, "x": 0}, height=300, showlegend=False
    )
    figure.update_xaxes(title_text="value")
    figure.update_yaxes(title_text="images", rangemode="tozero")
    return figure


def _empty(message: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(
        text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 14}
    )
    figure.update_layout(height=260)
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return figure
