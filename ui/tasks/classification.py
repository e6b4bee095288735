"""Classification in the pages: one class label per image.

Dataset page: the class filter and histogram count images per class; the editor changes the
label (or types a new class). Evaluation page: accuracy and macro figures as cards; confusion
matrix, per-class bars, one-vs-rest PR curves and the confidence sweep; per-image results
filtered by mistakes, true and predicted class and confidence, worst first (confident mistakes,
then unsure correct ones); the detail shows the probability of every class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import plotly.graph_objects as go
from dash import dcc, html
from dash.development.base_component import Component

from projections.dataset import ImageEntry
from ui.components.evaluation_charts import (
    confusion_figure,
    per_class_figure,
    pr_figure,
    threshold_figure,
)
from ui.components.evaluation_results import ResultsContext, ResultsQuery, by_name, class_options
from ui.components.theme import themed
from ui.tasks.base import TargetUi

TRUE_COLOR = "#198754"
WRONG_COLOR = "#dc3545"
OTHER_COLOR = "#6c757d"


def is_correct(row: Mapping[str, Any]) -> bool:
    """Whether a row's prediction is its target."""
    correct = row.get("correct")
    if correct is None:
        return row.get("target") == row.get("prediction")
    return bool(correct)


def confidence(row: Mapping[str, Any]) -> float:
    """The probability the model gave its prediction (0 when unknown)."""
    return float(row.get("confidence") or 0.0)


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
            colors.append(TRUE_COLOR)
        elif i == best:
            colors.append(WRONG_COLOR)
        else:
            colors.append(OTHER_COLOR)
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


class ClassificationUi(TargetUi):
    """The UI side of classification."""

    always_counts_classes: ClassVar[bool] = True
    label_editor: ClassVar[Literal["label", "value"] | None] = "label"
    headlines: ClassVar[tuple[str, ...]] = (
        "accuracy",
        "f1_macro",
        "precision_macro",
        "recall_macro",
        "average_precision_macro",
        "top3_accuracy",
        "top5_accuracy",
    )
    metric_help: ClassVar[Mapping[str, str]] = {
        "accuracy": "share of images whose predicted class is the true one",
        "f1_macro": "mean F1 over the classes (each class counts the same)",
        "precision_macro": "mean precision over the classes",
        "recall_macro": "mean recall over the classes",
        "average_precision_macro": "mean one-vs-rest average precision (area under the PR curve)",
        "top3_accuracy": "share of images whose true class is among the 3 most likely",
        "top5_accuracy": "share of images whose true class is among the 5 most likely",
    }
    sorts: ClassVar[tuple[tuple[str, str], ...]] = (
        ("mistakes", "Worst first: confident mistakes, then unsure correct ones"),
        ("confidence_desc", "Confidence: high to low"),
        ("confidence_asc", "Confidence: low to high"),
        ("name", "File name"),
    )
    default_sort: ClassVar[str] = "mistakes"
    class_filters: ClassVar[bool] = True
    range_label: ClassVar[str | None] = "Confidence"

    # ------------------------------------------------------------------ one row
    def has_target(self, entry: ImageEntry) -> bool:
        """An image with a class label can be scored."""
        return entry.label is not None

    def current_target(self, entry: ImageEntry | None) -> Any:
        """The image's label."""
        return entry.label if entry is not None else None

    def score(self, row: Mapping[str, Any]) -> float:
        """The confidence."""
        return confidence(row)

    def is_good(self, row: Mapping[str, Any], tol: float | None) -> bool:
        """The right class."""
        return is_correct(row)

    def measure_text(self, row: Mapping[str, Any]) -> str:
        """``87%``: the confidence."""
        return f"{100 * confidence(row):.0f}%"

    def detail_rows(self, row: Mapping[str, Any], good: bool) -> list[tuple[str, Any]]:
        """Confidence and result."""
        return [
            ("Confidence", f"{100 * confidence(row):.1f}%"),
            ("Result", "correct" if good else "wrong"),
        ]

    def detail_extras(self, ctx: ResultsContext, row: Mapping[str, Any]) -> list[Component]:
        """The probability of every class."""
        scores = row.get("scores")
        classes = ctx.classes
        if not (isinstance(scores, list) and scores and classes):
            return []
        return [
            html.Div("Scores per class", className="small fw-semibold mt-2"),
            dcc.Graph(
                id="eval-detail-scores",
                figure=scores_figure(scores, classes, row.get("target"), ctx.theme),
                config={"displayModeBar": False, "responsive": True},
            ),
        ]

    # ------------------------------------------------------------------ filters and order
    def filter_rows(
        self, rows: Sequence[dict[str, Any]], query: ResultsQuery
    ) -> list[dict[str, Any]]:
        """Mistakes only, true class, predicted class, then the confidence range."""
        out = list(rows)
        if query.wrong_only:
            out = [r for r in out if not is_correct(r)]
        if query.true_class is not None:
            out = [r for r in out if r.get("target") == query.true_class]
        if query.predicted_class is not None:
            out = [r for r in out if r.get("prediction") == query.predicted_class]
        return super().filter_rows(out, query)

    def sort_rows(
        self,
        rows: Sequence[dict[str, Any]],
        key: str,
        names: Mapping[str, str],
        threshold: float | None = None,
    ) -> list[dict[str, Any]]:
        """``mistakes``: misclassified images first, most confident first, then the correct
        ones, least confident first; or by confidence; ties by name."""
        ordered = by_name(rows, names)
        if key == "name":
            return ordered
        if key == "mistakes":
            return sorted(
                ordered,
                key=lambda r: (0, -confidence(r)) if not is_correct(r) else (1, confidence(r)),
            )
        if key == "confidence_desc":
            return sorted(ordered, key=lambda r: -confidence(r))
        return sorted(ordered, key=confidence)

    def class_filter_options(
        self, rows: Sequence[dict[str, Any]], report: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The classes with their true and predicted images."""
        classes = [str(c) for c in report.get("classes", [])]
        return class_options(rows, classes, "target"), class_options(rows, classes, "prediction")

    # ------------------------------------------------------------------ figures
    def figures(
        self, rows: Sequence[dict[str, Any]], report: dict[str, Any], theme: str | None
    ) -> list[tuple[str, go.Figure]]:
        """Confusion matrix, per-class bars, PR curves, confidence sweep."""
        return [
            ("eval-fig-confusion", confusion_figure(report, theme)),
            ("eval-fig-per-class", per_class_figure(report, theme)),
            ("eval-fig-pr", pr_figure(report, theme)),
            ("eval-fig-threshold", threshold_figure(report, theme)),
        ]


TASK = ClassificationUi("classification")
