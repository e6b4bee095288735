"""The Export page's form: checkpoint, format and validation options, and the card holding them.

The defaults and bounds come from the ``ExportOptions`` schema of the log, so the form offers
what the command accepts; :func:`read_options` turns the fields into the command's ``options``
(or a sentence saying which field is empty), and :mod:`aistudio.commands` checks the rest.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from annotated_types import Ge, Gt, Le
from dash import html

from events.schemas.export import EXPORT_FORMATS, ExportOptions
from projections.experiments import ExperimentEntry
from ui.components.training_charts import checkpoint_figure

DEFAULTS: dict[str, Any] = ExportOptions().model_dump(mode="json")
"""The export options' defaults: ``opset``, ``validation_images``, ``tolerance``."""
FORMAT_LABELS: dict[str, str] = {"onnx": "ONNX", "torchscript": "TorchScript"}
FORMAT_HELP: dict[str, str] = {
    "onnx": "Runs anywhere ONNX Runtime does (Python, C++, C#, Java, JavaScript, mobile).",
    "torchscript": "Loads in PyTorch and LibTorch (C++) without this project's code.",
}
CHECKPOINT_ORDER: tuple[str, ...] = ("best", "last")
# option -> (label, input id, what it is for)
OPTION_FIELDS: dict[str, tuple[str, str, str]] = {
    "opset": ("ONNX opset", "export-opset", "ONNX only; 17 suits ONNX Runtime 1.14 or later."),
    "validation_images": (
        "Validation images",
        "export-images",
        "Real images of the dataset run by both PyTorch and the export.",
    ),
    "tolerance": (
        "Tolerance",
        "export-tolerance",
        "Largest difference of raw outputs allowed between the two.",
    ),
}


def option_bounds(name: str) -> tuple[float | None, float | None]:
    """The ``(min, max)`` the schema allows for option ``name`` (None where unbounded)."""
    low: float | None = None
    high: float | None = None
    for rule in ExportOptions.model_fields[name].metadata:
        if isinstance(rule, Ge):
            low = float(rule.ge)  # type: ignore[arg-type]
        elif isinstance(rule, Gt):
            low = float(rule.gt)  # type: ignore[arg-type]
        elif isinstance(rule, Le):
            high = float(rule.le)  # type: ignore[arg-type]
    return low, high


def option_rule(name: str) -> str:
    """What option ``name`` takes, in words: ``enter a whole number from 13 to 21.`` (the
    browser gives no value for a number outside the field's limits, so this is what a person
    reads then)."""
    whole = ExportOptions.model_fields[name].annotation is int
    kind = "a whole number" if whole else "a number"
    low, high = option_bounds(name)
    exclusive_low = any(isinstance(r, Gt) for r in ExportOptions.model_fields[name].metadata)
    parts = []
    if low is not None:
        parts.append(f"greater than {_shown(low)}" if exclusive_low else f"at least {_shown(low)}")
    if high is not None:
        parts.append(f"at most {_shown(high)}")
    return f"enter {kind}{' ' + ', '.join(parts) if parts else ''}."


def _shown(number: float) -> str:
    return str(int(number)) if number.is_integer() else f"{number:g}"


# ---------------------------------------------------------------------- checkpoints
def checkpoint_label(entry: ExperimentEntry, which: str) -> str:
    """``Best (epoch 8 · val Accuracy 0.934)`` or ``Last (epoch 10)``."""
    info = entry.checkpoints[which]
    facts = [f"epoch {info.epoch}"]
    if info.metric and info.value is not None:
        facts.append(checkpoint_figure(info.metric, info.value))
    return f"{which.capitalize()} ({' · '.join(facts)})"


def checkpoint_options(entry: ExperimentEntry | None) -> list[dict[str, str]]:
    """The radio options of the checkpoints ``entry`` has (best first)."""
    if entry is None:
        return []
    return [
        {"label": checkpoint_label(entry, which), "value": which}
        for which in CHECKPOINT_ORDER
        if which in entry.checkpoints
    ]


def chosen_checkpoint(entry: ExperimentEntry | None, current: str | None) -> str | None:
    """``current`` while the experiment has it, else its best checkpoint, else its last."""
    if entry is None:
        return None
    if current in entry.checkpoints:
        return current
    return next((w for w in CHECKPOINT_ORDER if w in entry.checkpoints), None)


# ---------------------------------------------------------------------- reading the form
def _number(value: Any, whole: bool) -> Any:
    """A number field's value as the schema wants it (``17.0`` -> ``17`` for whole numbers)."""
    if whole and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def read_options(
    opset: Any, validation_images: Any, tolerance: Any
) -> tuple[dict[str, Any] | None, str | None]:
    """The command's ``options`` from the form's fields.

    Returns:
        ``(options, None)``, or ``(None, why)`` when a field is empty (the browser gives None
        for an empty or unparseable number). Ranges are the command's to check.
    """
    raw = {"opset": opset, "validation_images": validation_images, "tolerance": tolerance}
    for name, value in raw.items():
        if value is None or value == "":
            return None, f"“{OPTION_FIELDS[name][0]}”: {option_rule(name)}"
    return {
        "opset": _number(opset, True),
        "validation_images": _number(validation_images, True),
        "tolerance": tolerance,
    }, None


# ---------------------------------------------------------------------- the card
def _option_field(name: str, step: Any) -> dbc.Col:
    label, control_id, help_text = OPTION_FIELDS[name]
    low, high = option_bounds(name)
    return dbc.Col(
        [
            dbc.Label(label, html_for=control_id, className="small mb-1"),
            dbc.Input(
                id=control_id,
                type="number",
                value=DEFAULTS[name],
                step=step,
                min=low if name != "tolerance" else None,
                max=high,
            ),
            dbc.FormText(help_text),
        ],
        xs=12,
        sm=4,
        className="mb-2",
    )


def form_card(read_only: bool) -> dbc.Card:
    """The New export form (its checkpoint choices and title are filled by the page)."""
    formats = [{"label": FORMAT_LABELS[f], "value": f} for f in EXPORT_FORMATS]
    advanced = dbc.Row(
        [
            _option_field("opset", 1),
            _option_field("validation_images", 1),
            _option_field("tolerance", "any"),
        ],
        className="g-2",
    )
    return dbc.Card(
        [
            dbc.CardHeader(
                html.Div(
                    [
                        html.I(className="bi bi-box-arrow-up-right me-2"),
                        html.Span("New export of", className="fw-semibold me-1"),
                        html.Span(id="export-form-title", className="fw-semibold text-truncate"),
                    ],
                    className="d-flex align-items-center min-w-0",
                ),
                className="bg-transparent",
            ),
            dbc.CardBody(
                [
                    dbc.Row(
                        [
                            dbc.Col(
                                [
                                    dbc.Label("Checkpoint", className="small mb-1"),
                                    dbc.RadioItems(
                                        id="export-checkpoint",
                                        options=[],
                                        value=None,
                                        className="export-radios",
                                    ),
                                ],
                                xs=12,
                                md=6,
                                className="mb-2",
                            ),
                            dbc.Col(
                                [
                                    dbc.Label("Format", className="small mb-1"),
                                    dbc.RadioItems(
                                        id="export-format",
                                        options=formats,
                                        value=EXPORT_FORMATS[0],
                                        className="export-radios",
                                    ),
                                    dbc.FormText(
                                        FORMAT_HELP[EXPORT_FORMATS[0]], id="export-format-help"
                                    ),
                                ],
                                xs=12,
                                md=6,
                                className="mb-2",
                            ),
                        ],
                        className="g-2",
                    ),
                    html.Details(
                        [
                            html.Summary(
                                "Advanced: validation settings", className="small fw-semibold mb-2"
                            ),
                            advanced,
                        ],
                        className="export-advanced mt-1",
                        id="export-advanced",
                    ),
                    html.Div(id="export-form-note", className="small text-body-secondary mt-2"),
                    dbc.Button(
                        [html.I(className="bi bi-box-arrow-up-right me-1"), "Export"],
                        id="export-start",
                        color="primary",
                        className="w-100 mt-3",
                        n_clicks=0,
                        disabled=read_only,
                    ),
                    html.Div(id="export-running", className="mt-3"),
                ]
            ),
        ],
        className="shadow-sm mb-4",
        id="export-form-card",
        style={"display": "none"},
    )
