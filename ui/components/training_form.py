"""The Training page's form: its controls, the config they make, and the checks on it.

The form is built from what the project's task offers (:func:`aistudio.commands.training_info`):
its models with their sizes, its default configuration, and its own options (rendered from
their JSON schema, so a new task needs no change here). Values are turned into a training
config by :func:`config_from_form` (type errors per field), then checked by
:func:`aistudio.commands.check_training` against the task and the project (one error at a time,
naming its field), which is exactly what Start will append.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import dash_bootstrap_components as dbc
from dash import html
from dash.development.base_component import Component

from aistudio import commands
from aistudio.commands import (
    CommandError,
    ModelSpec,
    TaskTrainingInfo,
    TrainingConfigError,
    TrainingPlan,
)
from projections.dataset import DatasetView
from projections.experiments import ExperimentsView

# config key -> the control's id. Order matters: it is the order of the callbacks' States.
CONTROLS: tuple[tuple[str, str], ...] = (
    ("name", "train-name"),
    ("split", "train-split"),
    ("model", "train-model"),
    ("image_size", "train-image-size"),
    ("epochs", "train-epochs"),
    ("batch_size", "train-batch-size"),
    ("lr", "train-lr"),
    ("optimizer", "train-optimizer"),
    ("weight_decay", "train-weight-decay"),
    ("momentum", "train-momentum"),
    ("scheduler", "train-scheduler"),
    ("warmup_epochs", "train-warmup"),
    ("step_size", "train-step-size"),
    ("gamma", "train-gamma"),
    ("early_stopping_patience", "train-patience"),
    ("precision", "train-precision"),
    ("accelerator", "train-accelerator"),
    ("seed", "train-seed"),
    ("pretrained", "train-pretrained"),
    ("augmentations.random_resized_crop", "train-aug-crop"),
    ("augmentations.horizontal_flip", "train-aug-hflip"),
    ("augmentations.vertical_flip", "train-aug-vflip"),
    ("augmentations.rotation_degrees", "train-aug-rotation"),
    ("augmentations.color_jitter", "train-aug-jitter"),
)
CONTROL_KEYS: tuple[str, ...] = tuple(key for key, _ in CONTROLS)
CONTROL_IDS: dict[str, str] = dict(CONTROLS)
SWITCHES: frozenset[str] = frozenset(
    {
        "pretrained",
        "augmentations.random_resized_crop",
        "augmentations.horizontal_flip",
        "augmentations.vertical_flip",
    }
)
CHECKED: tuple[str, ...] = tuple(key for key in CONTROL_KEYS if key not in SWITCHES)
"""The controls that show a validation message (inputs and selects)."""
INTEGERS: frozenset[str] = frozenset(
    {"image_size", "epochs", "batch_size", "warmup_epochs", "step_size", "seed"}
)
FLOATS: frozenset[str] = frozenset(
    {
        "lr",
        "weight_decay",
        "momentum",
        "gamma",
        "augmentations.rotation_degrees",
        "augmentations.color_jitter",
    }
)
OPTIONAL_INTEGERS: frozenset[str] = frozenset({"early_stopping_patience"})
OPTION_TYPE = "train-option"
"""Pattern-matching id type of the task's own options: ``{"type": OPTION_TYPE, "name": key}``."""

OPTIMIZERS: tuple[tuple[str, str], ...] = (
    ("adamw", "AdamW"),
    ("adam", "Adam"),
    ("sgd", "SGD with momentum"),
)
SCHEDULERS: tuple[tuple[str, str], ...] = (
    ("cosine", "Cosine decay"),
    ("step", "Step decay"),
    ("plateau", "Reduce on plateau"),
    ("none", "Constant"),
)
PRECISIONS: tuple[tuple[str, str], ...] = (
    ("32", "32-bit"),
    ("16-mixed", "16-bit mixed"),
    ("bf16-mixed", "bf16 mixed"),
)
ACCELERATORS: tuple[tuple[str, str], ...] = (
    ("auto", "Auto: a GPU when present"),
    ("cpu", "CPU"),
    ("gpu", "GPU"),
)
LABELS: dict[str, str] = {
    "name": "name",
    "split": "split",
    "model": "model",
    "image_size": "image size",
    "epochs": "epochs",
    "batch_size": "batch size",
    "lr": "learning rate",
    "optimizer": "optimizer",
    "weight_decay": "weight decay",
    "momentum": "momentum",
    "scheduler": "scheduler",
    "warmup_epochs": "warm-up epochs",
    "step_size": "step size",
    "gamma": "step factor",
    "early_stopping_patience": "early stopping patience",
    "precision": "precision",
    "accelerator": "device",
    "seed": "seed",
    "augmentations.rotation_degrees": "rotation",
    "augmentations.color_jitter": "colour jitter",
    "task_options": "task options",
}


class FormCheck:
    """What the form's values amount to.

    Attributes:
        config: the training config the values make (partial when some are invalid).
        name: the experiment's name as typed.
        split: the chosen split.
        errors: control key -> message (the key ``""`` for errors not tied to one control).
        plan: the checked plan (None while something is wrong).
    """

    # A plain class: Dash runs page modules before they are in sys.modules, and components
    # are imported by them, so no dataclass with postponed annotations here either.
    def __init__(self, config: dict[str, Any], name: str, split: str) -> None:
        self.config = config
        self.name = name
        self.split = split
        self.errors: dict[str, str] = {}
        self.plan: TrainingPlan | None = None

    @property
    def ok(self) -> bool:
        """Whether Start may append this request (a run that cannot fit in the machine's
        memory may not: the command refuses it)."""
        return not self.errors and self.plan is not None and self.plan.refusal is None


# ---------------------------------------------------------------------- values <-> config
def form_values(config: dict[str, Any], name: str, split: str | None) -> dict[str, Any]:
    """The controls' values for ``config`` (a full training config), by control key."""
    augmentations = config.get("augmentations") or {}
    values: dict[str, Any] = {"name": name, "split": split}
    for key in CONTROL_KEYS:
        if key in ("name", "split"):
            continue
        if key.startswith("augmentations."):
            values[key] = augmentations.get(key.split(".", 1)[1])
        else:
            values[key] = config.get(key)
    for key in SWITCHES:
        values[key] = bool(values.get(key))
    return values


@functools.cache
def _schema_limits() -> dict[str, tuple[str, str]]:
    """Each numeric control's lower and upper limit in words, from the config's schema
    (``("from 1", "to 10000")``, ``("above 0", "below 1")``; empty when none)."""
    from events.schemas.training import Augmentations, TrainingConfig

    out: dict[str, tuple[str, str]] = {}
    for prefix, model in (("", TrainingConfig), ("augmentations.", Augmentations)):
        for name, prop in (model.model_json_schema().get("properties") or {}).items():
            low = ""
            if "minimum" in prop:
                low = f"from {prop['minimum']:g}"
            elif "exclusiveMinimum" in prop:
                low = f"above {prop['exclusiveMinimum']:g}"
            high = ""
            if "maximum" in prop:
                high = (
                    f"to {prop['maximum']:g}"
                    if low.startswith("from")
                    else (f"at most {prop['maximum']:g}")
                )
            elif "exclusiveMaximum" in prop:
                high = f"below {prop['exclusiveMaximum']:g}"
            out[prefix + name] = (low, high)
    return out


def number_rule(key: str, whole: bool) -> str:
    """What a number control takes, in words: ``Enter a whole number from 1 to 10000.``"""
    kind = "a whole number" if whole else "a number"
    low, high = _schema_limits().get(key, ("", ""))
    if low.startswith("from") and not high.startswith("to"):
        low = f"of at least {low.removeprefix('from ')}"
    if not low and high.startswith("to"):
        high = f"of at most {high.removeprefix('to ')}"
    limits = ", ".join(part for part in (low, high) if part)
    if low.startswith("from") and high.startswith("to"):
        limits = f"{low} {high}"
    return f"Enter {kind} {limits}." if limits else f"Enter {kind}."


def _number(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def config_from_form(
    values: dict[str, Any], options: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The training config the controls' ``values`` make, and the type errors found.

    Args:
        values: control key -> value (as Dash gives them: numbers, strings, booleans, None).
        options: the task's options, by name, as their controls give them.

    Returns:
        ``(config, errors)``: the config holds every valid value (``name`` and ``split`` are not
        part of it); ``errors`` maps a control key to what is wrong with it.
    """
    config: dict[str, Any] = {}
    augmentations: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key in CONTROL_KEYS:
        if key in ("name", "split"):
            continue
        raw = values.get(key)
        value: Any = raw
        if key in INTEGERS or key in OPTIONAL_INTEGERS:
            number = _number(raw)
            if number is None and key in OPTIONAL_INTEGERS and raw in (None, ""):
                value = None
            elif number is None or not number.is_integer():
                # The browser gives no value for a number outside the input's limits: say them.
                errors[key] = number_rule(key, whole=True)
                continue
            else:
                value = int(number)
        elif key in FLOATS:
            number = _number(raw)
            if number is None:
                errors[key] = number_rule(key, whole=False)
                continue
            value = number
        elif key in SWITCHES:
            value = bool(raw)
        elif raw in (None, ""):
            errors[key] = f"Choose the {LABELS.get(key, key)}."
            continue
        if key.startswith("augmentations."):
            augmentations[key.split(".", 1)[1]] = value
        else:
            config[key] = value
    config["augmentations"] = augmentations
    if options:
        config["task_options"] = {k: v for k, v in options.items() if v is not None and v != ""}
    return config, errors


def _control_of(error: TrainingConfigError) -> str:
    """The control key an error of :func:`aistudio.commands.check_training` is about."""
    field = error.field or ""
    message = str(error)
    if field == "augmentations":
        for key in CONTROL_KEYS:
            if key.startswith("augmentations.") and key in message:
                return key
        return ""
    if field == "warmup_epochs" and "smaller than epochs" in message:
        return "warmup_epochs"
    return field if field in CONTROL_IDS else ""


def check_form(
    workspace: Any,
    project_id: str,
    values: dict[str, Any],
    options: dict[str, Any] | None,
    dataset: DatasetView,
    experiments: ExperimentsView,
) -> FormCheck:
    """Check the form's values like Start would, against the project's current views."""
    config, errors = config_from_form(values, options)
    name = str(values.get("name") or "").strip()
    split = str(values.get("split") or "")
    check = FormCheck(config, name, split)
    if not name:
        errors["name"] = "Give the experiment a name."
    check.errors = errors
    if errors:
        return check
    try:
        check.plan = commands.check_training(
            workspace, project_id, name, split, config, dataset=dataset, experiments=experiments
        )
    except TrainingConfigError as exc:
        key = _control_of(exc)
        message = str(exc).removeprefix("invalid training config: ")
        if key and message.startswith(f"{key}: "):  # shown under its field: no need to name it
            message = message[len(key) + 2 :]
        check.errors[key] = _sentence(message)
    except CommandError as exc:
        check.errors[""] = _sentence(str(exc))
    return check


def _sentence(text: str) -> str:
    text = text.removeprefix("invalid training config: ")
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."


def plan_summary(plan: TrainingPlan) -> str:
    """``Trains on 120 images, validates on 30 · 4 steps per epoch``."""
    batch = int(plan.config.get("batch_size", 1)) or 1
    steps = max(math.ceil(plan.train_images / batch), 1)
    val = f", validates on {plan.val_images:,}" if plan.val_images else ", no validation"
    return (
        f"Trains on {plan.train_images:,} image{'s' if plan.train_images != 1 else ''}{val}"
        f" · {steps:,} step{'s' if steps != 1 else ''} per epoch"
    )


def resource_parts(plan: TrainingPlan | None) -> list[Component]:
    """The run's estimate under the settings (``about 1.4 GB, about 3 min per epoch on this
    machine (cpu, 2 threads)``), and an alert when it cannot fit in the machine's memory (Start
    is then disabled: the command refuses it), may not fit in the memory free now, or would
    take hours (a warning: it can still be started)."""
    resources = plan.resources if plan is not None else None
    if plan is None or resources is None:
        return []
    parts: list[Component] = [
        html.Div(
            [
                html.I(className="bi bi-speedometer me-1"),
                _sentence(resources.estimate.summary),
            ],
            className="train-estimate-line text-body-secondary",
            title="Estimated from measured figures of this model: "
            + ", ".join(f"{name} {_gb(size)}" for name, size in resources.estimate.parts),
        )
    ]
    if plan.refusal is not None:
        parts.append(
            dbc.Alert(
                [html.I(className="bi bi-x-octagon me-2"), _sentence(plan.refusal)],
                color="danger",
                className="small py-2 px-3 mt-2 mb-0 train-estimate-alert",
            )
        )
    elif plan.warnings:
        parts.append(
            dbc.Alert(
                [html.I(className="bi bi-exclamation-triangle me-2")]
                + [html.Div(_sentence(w)) for w in plan.warnings],
                color="warning",
                className="small py-2 px-3 mt-2 mb-0 train-estimate-alert",
            )
        )
    return parts


def _gb(size_bytes: int) -> str:
    """``1.4 GB`` or, under a tenth of one, ``27 MB`` (2**30 and 2**20 bytes, as the estimate)."""
    if size_bytes < (1 << 30) // 10:
        return f"{max(1, round(size_bytes / (1 << 20)))} MB"
    return f"{size_bytes / (1 << 30):.1f} GB"


# ---------------------------------------------------------------------- models
def parameters_text(count: int) -> str:
    """``11.18 M``: a parameter count as the form and the run's facts both show it."""
    return f"{count / 1e6:.2f} M"


def model_label(spec: ModelSpec, parameters: int | None = None) -> str:
    """``ResNet-18 · 11.18 M`` for the model menu: the parameters with this project's head when
    known (``parameters``, as the run will count them), else torchvision's published count."""
    count = parameters_text(parameters) if parameters else f"{spec.parameters_m:g} M"
    return f"{spec.title} · {count}"


def model_options(models: Any, parameters: dict[str, int] | None = None) -> list[dict[str, str]]:
    """The model menu's options (``parameters``: counts with this project's head, by model)."""
    counts = parameters or {}
    return [{"label": model_label(m, counts.get(m.name)), "value": m.name} for m in models]


def model_help(spec: ModelSpec | None, parameters: int | None = None) -> list[Component]:
    """The line under the model menu: size, smallest image size, and the model's note.

    ``parameters``: the count with this project's head (what the run reports); without it, the
    count torchvision publishes for the model with its ImageNet head.
    """
    if spec is None:
        return []
    size = (
        f"{parameters_text(parameters)} parameters"
        if parameters
        else f"{spec.parameters_m:g} M parameters (with an ImageNet head)"
    )
    parts: list[Component] = [
        html.Span(
            [html.I(className="bi bi-cpu me-1"), size],
            className="me-2 text-nowrap",
        ),
        html.Span(
            [html.I(className="bi bi-aspect-ratio me-1"), f"from {spec.min_image_size} px"],
            className="me-2 text-nowrap",
        ),
    ]
    if spec.note:
        parts.append(html.Div(spec.note, className="mt-1"))
    return parts


def find_model(info: TaskTrainingInfo, name: str | None) -> ModelSpec | None:
    """The spec of model ``name`` among the task's, or None."""
    return next((m for m in info.models if m.name == name), None)


# ---------------------------------------------------------------------- task options
def _schema_kind(prop: dict[str, Any]) -> tuple[str, list[Any] | None, bool]:
    """``(kind, choices, optional)`` of one JSON-schema property (kind: bool/int/float/enum)."""
    optional = False
    variants = prop.get("anyOf")
    if variants:
        optional = any(v.get("type") == "null" for v in variants)
        concrete = [v for v in variants if v.get("type") != "null"]
        prop = {**prop, **(concrete[0] if len(concrete) == 1 else {})}
    if "enum" in prop:
        return "enum", list(prop["enum"]), optional
    if "const" in prop:
        return "enum", [prop["const"]], optional
    kind = {"boolean": "bool", "integer": "int", "number": "float"}.get(prop.get("type", ""), "")
    return kind, None, optional


def option_controls(schema: dict[str, Any], values: dict[str, Any]) -> list[Component]:
    """One control per simple option of the task (switch, menu or number), from its schema.

    Options of other kinds (lists, objects) keep their defaults and are not shown.
    """
    controls: list[Component] = []
    for key, prop in (schema.get("properties") or {}).items():
        kind, choices, optional = _schema_kind(prop)
        if not kind:
            continue
        title = str(prop.get("title") or key.replace("_", " "))
        title = title[:1].upper() + title[1:].lower()
        help_text = prop.get("description")
        value = values.get(key, prop.get("default"))
        control_id = {"type": OPTION_TYPE, "name": key}
        if kind == "bool":
            control: Component = dbc.Switch(id=control_id, label=title, value=bool(value))
            children = [control]
        else:
            if kind == "enum":
                options = [{"label": str(c), "value": c} for c in choices or []]
                if optional:
                    options.insert(0, {"label": "none", "value": ""})
                control = dbc.Select(
                    id=control_id, options=options, value=value if value is not None else ""
                )
            else:
                control = dbc.Input(
                    id=control_id,
                    type="number",
                    value=value,
                    min=prop.get("minimum", prop.get("exclusiveMinimum")),
                    max=prop.get("maximum", prop.get("exclusiveMaximum")),
                    step=1 if kind == "int" else "any",
                    placeholder="off" if optional else None,
                )
            children = [dbc.Label(title, className="small mb-1"), control]
        if help_text:
            children.append(dbc.FormText(help_text))
        controls.append(html.Div(children, className="mb-2"))
    return controls


def options_from_controls(
    ids: list[dict[str, str]] | None, values: list[Any] | None
) -> dict[str, Any]:
    """The task's options from their controls' ids and values (pattern-matching ALL)."""
    return {i["name"]: v for i, v in zip(ids or [], values or [], strict=False)}
