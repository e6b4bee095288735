"""Regression in the pages: one number per image.

Dataset page: the histogram bins the values; the class filter only finds images without a
value; the editor changes the value. Evaluation page: MAE, RMSE, R² and friends as cards;
predicted against true values and the residual histogram; per-image results filtered by absolute
error, largest error first. A prediction is "good" (green) when its error is within a tenth of
the range of true values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import plotly.graph_objects as go

from projections.dataset import DatasetView, ImageEntry
from ui.components.dataset_grid import UNLABELED_OPTION, format_value
from ui.components.evaluation_charts import residual_figure, scatter_figure
from ui.components.evaluation_results import by_name
from ui.tasks.base import LabelInput, TargetUi

TOLERANCE_SHARE = 0.1
"""A prediction is drawn green when its error is within this share of the range of the true
values, red otherwise."""
VALUE_REL_TOL = 1e-5
VALUE_ABS_TOL = 1e-6


def abs_error(row: Mapping[str, Any]) -> float:
    """A row's absolute error."""
    value = row.get("abs_error")
    if value is None:
        value = abs(float(row.get("prediction", 0.0)) - float(row.get("target", 0.0)))
    return float(value)


def signed_error(row: Mapping[str, Any]) -> float:
    """A row's error, prediction minus target."""
    error = row.get("error")
    if error is None:
        error = float(row.get("prediction", 0.0)) - float(row.get("target", 0.0))
    return float(error)


def tolerance(report: Mapping[str, Any]) -> float | None:
    """The absolute error under which a prediction counts as good (None: unknown)."""
    span = report.get("target_range")
    if not isinstance(span, (list, tuple)) or len(span) != 2:
        return None
    width = float(span[1]) - float(span[0])
    return width * TOLERANCE_SHARE if width > 0 else None


def same_value(a: float, b: float) -> bool:
    """Whether two values are the same up to float32 rounding (a model's targets come back
    de-normalised in single precision: 0.99999984 for 1.0)."""
    return math.isclose(a, b, rel_tol=VALUE_REL_TOL, abs_tol=VALUE_ABS_TOL)


class RegressionUi(TargetUi):
    """The UI side of regression."""

    class_filter_placeholder: ClassVar[str] = "All values"
    histogram: ClassVar[Literal["classes", "values"]] = "values"
    label_editor: ClassVar[Literal["label", "value"] | None] = "value"
    headlines: ClassVar[tuple[str, ...]] = (
        "mae",
        "rmse",
        "r2",
        "median_absolute_error",
        "max_error",
    )
    metric_help: ClassVar[Mapping[str, str]] = {
        "mae": "mean absolute error, in the values' unit",
        "rmse": "root mean squared error, in the values' unit (punishes large errors)",
        "r2": "coefficient of determination: 1 is perfect, 0 is as good as predicting the mean",
        "median_absolute_error": "half of the images are off by less than this",
        "max_error": "the largest absolute error",
    }
    sorts: ClassVar[tuple[tuple[str, str], ...]] = (
        ("error_desc", "Largest error first"),
        ("error_asc", "Smallest error first"),
        ("name", "File name"),
    )
    default_sort: ClassVar[str] = "error_desc"
    range_label: ClassVar[str | None] = "Absolute error"
    legend: ClassVar[str] = (
        "green: right, red: wrong (error over a tenth of the range of true values)"
    )

    # ------------------------------------------------------------------ the dataset
    def class_options(
        self, dataset: DatasetView, project_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Values have no classes: the only option is the images without a value."""
        return [{"label": f"Without a value ({dataset.unlabeled:,})", "value": UNLABELED_OPTION}]

    def parse_label(
        self, choice: str | None, new_name: str | None, value: float | str | None
    ) -> LabelInput | str:
        """The number typed, or why it is not one."""
        if value is None or value == "":
            return "Enter a number."
        try:
            number = float(value)
        except (TypeError, ValueError):
            return f"{value!r} is not a number."
        if not math.isfinite(number):
            return "The value must be a finite number."
        return LabelInput(value=number)

    # ------------------------------------------------------------------ one row
    def has_target(self, entry: ImageEntry) -> bool:
        """An image with a value can be scored."""
        return entry.value is not None

    def current_target(self, entry: ImageEntry | None) -> Any:
        """The image's value."""
        return entry.value if entry is not None else None

    def target_differs(self, row: Mapping[str, Any], entry: ImageEntry) -> bool:
        """A value that changed beyond float32 rounding (or appeared, or went)."""
        now = self.current_target(entry)
        target = row.get("target")
        return now is None or target is None or not same_value(float(now), float(target))

    def score(self, row: Mapping[str, Any]) -> float:
        """The absolute error."""
        return abs_error(row)

    def tolerance(self, report: Mapping[str, Any]) -> float | None:
        """A tenth of the range of true values."""
        return tolerance(report)

    def is_good(self, row: Mapping[str, Any], tol: float | None) -> bool:
        """An error within ``tol`` (exact when ``tol`` is None)."""
        return abs_error(row) <= (tol if tol is not None else 1e-9)

    def value_text(self, value: Any, tol: float | None = None) -> str:
        """The value, short.

        Values are first rounded to a millionth of the range of true values (``tol`` is a tenth
        of it): a model's float32 targets show as ``1`` and ``0``, not ``0.99999984`` and
        ``1.4e-07``.
        """
        if value is None:
            return "—"
        number = float(value)
        if math.isfinite(number):
            step = tol if tol is not None and tol > 0 else 1.0
            number = round(number, 5 - math.floor(math.log10(step))) + 0.0  # no "-0"
        return format_value(number)

    def measure_text(self, row: Mapping[str, Any]) -> str:
        """``err +1.25``."""
        return f"err {signed_error(row):+.3g}"

    def detail_rows(self, row: Mapping[str, Any], good: bool) -> list[tuple[str, Any]]:
        """The signed and absolute error."""
        return [("Error", f"{signed_error(row):+.4g} (absolute {abs_error(row):.4g})")]

    # ------------------------------------------------------------------ filters and order
    def sort_rows(
        self,
        rows: Sequence[dict[str, Any]],
        key: str,
        names: Mapping[str, str],
        threshold: float | None = None,
    ) -> list[dict[str, Any]]:
        """By absolute error (largest or smallest first) or by name; ties by name."""
        ordered = by_name(rows, names)
        if key == "name":
            return ordered
        if key == "error_desc":
            return sorted(ordered, key=lambda r: -abs_error(r))
        return sorted(ordered, key=abs_error)

    def range_bounds(self, rows: Sequence[dict[str, Any]]) -> tuple[float, float, float]:
        """Absolute error from 0 to the largest (rounded up to two significant digits)."""
        largest = max((abs_error(r) for r in rows), default=0.0)
        if largest <= 0:
            return 0.0, 1.0, 0.01
        magnitude = 10 ** math.floor(math.log10(largest))
        top = math.ceil(largest / magnitude * 10) / 10 * magnitude
        top = float(f"{top:.6g}")
        return 0.0, top, float(f"{top / 100:.6g}")

    # ------------------------------------------------------------------ figures
    def figures(
        self, rows: Sequence[dict[str, Any]], report: dict[str, Any], theme: str | None
    ) -> list[tuple[str, go.Figure]]:
        """Predicted against true values, and the residuals."""
        return [
            ("eval-fig-scatter", scatter_figure(rows, report, theme)),
            ("eval-fig-residuals", residual_figure(report, theme)),
        ]


TASK = RegressionUi("regression")
