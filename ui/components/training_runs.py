"""The Training page's experiments: list items with status badges, the selected experiment's
details (weights, progress with ETA, failure), and the comparison table of configs.

Plain functions of the experiments view (and the clock, for ETAs and "3 min ago"), so that the
page's callbacks stay thin and the tests call these directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import html
from dash.development.base_component import Component

from projections.experiments import ExperimentEntry, ExperimentsView
from ui.components.experiment_pages import experiment_list_item, item_progress
from ui.components.sidebar import project_page_path
from ui.components.time_travel import when_text
from ui.components.timefmt import parse_ts
from ui.components.training_charts import COMPARE_COLORS, checkpoint_figure
from ui.components.training_form import PRECISIONS, parameters_text

PRECISION_WORDS: dict[str, str] = {value: f"{label} precision" for value, label in PRECISIONS}
"""``32`` → ``32-bit precision``: a run's precision as the form's precision menu names it."""
# status -> (label, Bootstrap colour, icon)
STATUS_STYLES: dict[str, tuple[str, str, str]] = {
    "queued": ("Queued", "secondary", "hourglass-split"),
    "running": ("Running", "primary", "play-circle"),
    "completed": ("Completed", "success", "check-circle"),
    "failed": ("Failed", "danger", "x-octagon"),
    "interrupted": ("Interrupted", "warning", "exclamation-triangle"),
    "cancelled": ("Cancelled", "secondary", "slash-circle"),
}
ITEM_TYPE = "train-exp-item"
"""Pattern-matching id type of a list item: ``{"type": ITEM_TYPE, "index": experiment_id}``."""
CONFIG_ORDER: tuple[str, ...] = (
    "split",
    "model",
    "pretrained",
    "image_size",
    "epochs",
    "batch_size",
    "optimizer",
    "lr",
    "weight_decay",
    "momentum",
    "scheduler",
    "warmup_epochs",
    "step_size",
    "gamma",
    "early_stopping_patience",
    "precision",
    "accelerator",
    "devices",
    "seed",
    "num_workers",
)


# ---------------------------------------------------------------------- time
def format_duration(seconds: float | None) -> str:
    """``45 s``, ``3 min 20 s``, ``1 h 05 min`` (``—`` when unknown)."""
    if seconds is None or seconds < 0:
        return "—"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s" if minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


# ---------------------------------------------------------------------- status and progress
def status_badge(entry: ExperimentEntry, id: str | None = None) -> html.Span:
    """The experiment's status as a coloured badge (``Cancelling…`` once a cancel is asked)."""
    label, color, icon = STATUS_STYLES.get(entry.status, (entry.status, "secondary", "circle"))
    if entry.cancel_requested and entry.is_active:
        label, color, icon = "Cancelling…", "warning", "stop-circle"
    text_class = " text-dark" if color == "warning" else ""
    props: dict[str, Any] = {"id": id} if id else {}
    return html.Span(
        [html.I(className=f"bi bi-{icon} me-1"), label],
        className=f"badge rounded-pill bg-{color}{text_class} train-status train-status-"
        f"{entry.status}",
        **props,
    )


class RunProgressInfo:
    """Where a run stands: percent done, a label, the time left.

    Attributes:
        percent: 0 to 100.
        label: ``Epoch 3 of 10 · step 12/40`` or what the run is waiting for.
        eta_s: seconds left (None when unknown).
        animated: whether the bar moves (queued or running).
        color: the bar's Bootstrap colour.
    """

    def __init__(
        self,
        percent: float,
        label: str,
        eta_s: float | None = None,
        animated: bool = False,
        color: str = "primary",
    ) -> None:
        self.percent = percent
        self.label = label
        self.eta_s = eta_s
        self.animated = animated
        self.color = color

    @property
    def eta_text(self) -> str:
        """``about 2 min 10 s left``, ``estimating time left…`` or empty (queued, ended)."""
        if not self.animated or self.color == "secondary":
            return ""
        if self.eta_s is None:
            return "estimating time left…"
        if self.eta_s < 5:
            return "almost done"
        return f"about {format_duration(self.eta_s)} left"


def run_progress(entry: ExperimentEntry, now: datetime) -> RunProgressInfo:
    """The progress and ETA of the experiment's current run.

    Progress comes from the run's last ``JobProgress`` (steps of the whole run), else from the
    epochs done. The time left is the mean duration of this run's epochs times the epochs
    left; before the first epoch it is extrapolated from the steps done since the run started.
    """
    epochs = max(entry.epochs, 1)
    done_epochs = entry.epochs_done
    if entry.status == "queued":
        return RunProgressInfo(
            100 * min(done_epochs / epochs, 1.0),
            "Waiting for a worker to pick it up…",
            animated=True,
            color="secondary",
        )
    if entry.status != "running":
        color = {"completed": "success", "failed": "danger", "interrupted": "warning"}.get(
            entry.status, "secondary"
        )
        percent = 100.0 if entry.status == "completed" else 100 * min(done_epochs / epochs, 1.0)
        return RunProgressInfo(percent, f"{done_epochs} of {entry.epochs} epochs", color=color)
    progress = entry.progress
    label = f"Epoch {min(done_epochs + 1, epochs)} of {entry.epochs}"
    if progress is not None and progress.total:
        percent = 100 * min(progress.done / progress.total, 1.0)
        if progress.message:
            label = progress.message[:1].upper() + progress.message[1:]
    else:
        percent = 100 * min(done_epochs / epochs, 1.0)
        if entry.weights is None:
            label = "Starting: loading images and building the model…"
    return RunProgressInfo(percent, label, _eta(entry, now), animated=True)


def _eta(entry: ExperimentEntry, now: datetime) -> float | None:
    epochs = max(entry.epochs, 1)
    progress = entry.progress
    this_run = [r for r in entry.history if r.epoch > entry.start_epoch]
    if progress is not None and progress.total:
        steps_per_epoch = progress.total / epochs
        left_steps = max(progress.total - progress.done, 0)
        if this_run:
            mean = sum(r.duration_s for r in this_run) / len(this_run)
            return left_steps / steps_per_epoch * mean
        started = parse_ts(entry.started_ts)
        done_here = progress.done - entry.start_epoch * steps_per_epoch
        if started is None or done_here <= 0:
            return None
        elapsed = (now - started).total_seconds()
        return elapsed / done_here * left_steps if elapsed > 0 else None
    if this_run:
        mean = sum(r.duration_s for r in this_run) / len(this_run)
        return mean * max(epochs - entry.epochs_done, 0)
    return None


def progress_bar(info: RunProgressInfo) -> Component:
    """The bar and its two captions (what it does, the time left)."""
    return html.Div(
        [
            html.Div(
                [
                    html.Span(info.label, className="train-progress-label"),
                    html.Span(info.eta_text, className="ms-auto text-body-secondary"),
                ],
                className="d-flex small mb-1 gap-2",
            ),
            dbc.Progress(
                value=info.percent,
                striped=info.animated,
                animated=info.animated,
                color=info.color,
                className="train-progress-bar",
                label=f"{info.percent:.0f}%" if info.percent >= 8 else "",
            ),
        ]
    )


# ---------------------------------------------------------------------- the list
def best_text(entry: ExperimentEntry) -> str:
    """``val Accuracy 0.934 (epoch 8)`` (the subset it was measured on first), or empty before
    a best epoch."""
    best = entry.best
    if best is None or best.value is None or not best.metric:
        return ""
    return f"{checkpoint_figure(best.metric, best.value)} (epoch {best.epoch})"


def experiment_item(
    entry: ExperimentEntry, selected: bool, now: datetime, past: bool = False
) -> dbc.ListGroupItem:
    """One experiment of the list: name, badge, model, epochs, best figure, age (its whole date
    in a view of the ``past``)."""
    facts = [
        str(entry.config.get("model", "?")),
        entry.split,
        f"{entry.epochs_done}/{entry.epochs} epochs",
    ]
    best = best_text(entry)
    if best:
        facts.append(best)
    extra: list[Component] = []
    if entry.is_active:
        info = run_progress(entry, now)
        extra.append(item_progress(info.percent, info.color, "train"))
    return experiment_list_item(
        entry,
        item_type=ITEM_TYPE,
        css="train",
        badge=status_badge(entry),
        details=[
            html.Span(" · ".join(facts)),
            html.Span(when_text(entry.created_ts, now, past), className="ms-auto"),
        ],
        selected=selected,
        extra=extra,
    )


def experiment_list(
    view: ExperimentsView, selected: str | None, now: datetime, past: bool = False
) -> Component:
    """Every experiment, newest first, the selected one highlighted (or the empty state)."""
    entries = list(reversed(view.experiments.values()))
    if not entries:
        return html.Div(
            [
                html.I(className="bi bi-graph-up-arrow display-6 text-body-secondary"),
                html.Div("No experiment yet", className="fw-semibold mt-2"),
                html.Div(
                    "Choose a model and settings, then press Start training: its curves "
                    "appear here live.",
                    className="small text-body-secondary",
                ),
            ],
            className="text-center py-4 empty-state",
            id="train-no-experiments",
        )
    return dbc.ListGroup(
        [experiment_item(e, e.experiment_id == selected, now, past) for e in entries],
        className="train-list",
    )


def default_selection(view: ExperimentsView, wanted: str | None = None) -> str | None:
    """``wanted`` when it exists, else the newest running experiment, else the newest one."""
    if wanted and wanted in view.experiments:
        return wanted
    active = view.active()
    if active:
        return active[-1].experiment_id
    return next(reversed(view.experiments), None) if view.experiments else None


# ---------------------------------------------------------------------- the selected one
def weights_callout(entry: ExperimentEntry) -> Component | None:
    """The sentence on the weights the run started from, shown clearly (None before it ran)."""
    if not entry.weights:
        return None
    text = entry.weights.strip()
    scratch = "scratch" in text.casefold()
    if scratch:
        icon, title, color = "exclamation-diamond", "From scratch", "warning"
    else:
        icon, title, color = "stars", "Pretrained weights", "success"
    lowered = text.casefold()
    if lowered.startswith("from scratch"):  # "from scratch: why" -> title + why
        text = text[len("from scratch") :].lstrip(" :,-—")
    text = text[:1].upper() + text[1:] if text else ""
    return html.Div(
        [
            html.I(className=f"bi bi-{icon} me-2"),
            html.Span(f"{title}{'. ' if text else ''}", className="fw-semibold"),
            html.Span(text),
        ],
        className=f"train-weights small border rounded px-3 py-2 mb-3 "
        f"bg-{color}-subtle text-{color}-emphasis border-{color}-subtle",
        id="train-weights",
    )


def next_step(entry: ExperimentEntry, project_id: str) -> Component | None:
    """What to do after a completed run: evaluate it (a button to the Evaluation page with the
    experiment selected); None for a run that is not completed."""
    if entry.status != "completed" or not entry.checkpoints:
        return None
    href = f"{project_page_path(project_id, 'evaluate')}?experiment={entry.experiment_id}"
    return html.Div(
        [
            html.I(className="bi bi-check-circle-fill text-success me-2"),
            html.Span("Training finished. ", className="fw-semibold"),
            html.Span("Next: score it on the images it did not learn from."),
            dbc.Button(
                ["Evaluate ", html.I(className="bi bi-arrow-right")],
                href=href,
                color="primary",
                size="sm",
                className="ms-auto",
                id="train-next-evaluate",
            ),
        ],
        className="train-next small border rounded px-3 py-2 mb-3 d-flex align-items-center "
        "flex-wrap gap-2 bg-success-subtle border-success-subtle",
    )


def failure_alert(entry: ExperimentEntry) -> Component | None:
    """Why the run stopped (failure with the traceback's tail, lost worker, cancel)."""
    last = entry.checkpoints.get("last")
    resume_hint = (
        f" Resume it to continue from its last checkpoint (epoch {last.epoch})."
        if last is not None
        else " No checkpoint was saved: re-run it to start again."
    )
    if entry.status == "failed":
        body: list[Component] = [
            html.Div(
                [
                    html.I(className="bi bi-x-octagon me-2"),
                    html.B("Training failed: "),
                    entry.error or "no reason was given.",
                ],
            ),
        ]
        if entry.traceback_tail:
            body.append(
                html.Details(
                    [
                        html.Summary("Traceback (last lines)", className="small"),
                        html.Pre(entry.traceback_tail, className="train-traceback mt-2 mb-0"),
                    ],
                    open=True,
                    className="mt-2",
                )
            )
        body.append(html.Div(resume_hint.strip(), className="small mt-2"))
        return dbc.Alert(body, color="danger", className="mb-3", id="train-error")
    if entry.status == "interrupted":
        return dbc.Alert(
            [
                html.I(className="bi bi-exclamation-triangle me-2"),
                html.B("Interrupted: "),
                (entry.error or "the worker running it stopped") + ".",
                resume_hint,
            ],
            color="warning",
            className="mb-3",
            id="train-error",
        )
    if entry.status == "cancelled":
        return dbc.Alert(
            [html.I(className="bi bi-slash-circle me-2"), "Cancelled.", resume_hint],
            color="secondary",
            className="mb-3",
            id="train-error",
        )
    return None


def _fact(icon: str, text: str, title: str | None = None) -> html.Span:
    props = {"title": title} if title else {}
    return html.Span(
        [html.I(className=f"bi bi-{icon} me-1"), text], className="train-fact text-nowrap", **props
    )


def device_text(device: str) -> str:
    """A run's device in words: ``cpu (2 threads), 32-bit precision``. Runs recorded before the
    job wrote the precision in words (``cpu (2 threads), 32``) read the same."""
    head, sep, precision = device.rpartition(", ")
    words = PRECISION_WORDS.get(precision.strip())
    return f"{head}{sep}{words}" if sep and words else device


def facts_row(entry: ExperimentEntry) -> Component:
    """Model, size, device, images, and the main settings, in one line of small facts."""
    config = entry.config
    facts = [
        _fact("cpu", f"{config.get('model', '?')}", "model"),
        _fact("diagram-3", entry.split, "split"),
        _fact("aspect-ratio", f"{config.get('image_size', '?')} px", "image size"),
        _fact("stack", f"batch {config.get('batch_size', '?')}", "batch size"),
        _fact("speedometer2", f"{config.get('optimizer', '?')} lr {config.get('lr', '?')}"),
    ]
    if entry.parameters:
        facts.append(_fact("boxes", f"{parameters_text(entry.parameters)} parameters"))
    if entry.device:
        facts.append(_fact("motherboard", device_text(entry.device), "device"))
    if entry.train_images is not None:
        val = f", {entry.val_images} val" if entry.val_images else ", no validation"
        facts.append(_fact("images", f"{entry.train_images} train{val}"))
    return html.Div(facts, className="d-flex flex-wrap gap-3 small text-body-secondary")


def summary_line(entry: ExperimentEntry) -> str:
    """``3 epochs · 1 min 02 s · best accuracy 0.93 (epoch 3) · 120 images/s``."""
    parts = [f"{entry.epochs_done} of {entry.epochs} epochs"]
    if entry.duration_s >= 1:
        parts.append(format_duration(entry.duration_s))
    best = best_text(entry)
    if best:
        parts.append(f"best {best}")
    if entry.history and entry.history[-1].images_per_s:
        parts.append(f"{entry.history[-1].images_per_s:,.0f} images/s")
    if entry.stopped_early:
        parts.append("stopped early")
    return " · ".join(parts)


# ---------------------------------------------------------------------- comparison
def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _order(key: str) -> tuple[int, str]:
    head = key.split(".", 1)[0]
    return (CONFIG_ORDER.index(head) if head in CONFIG_ORDER else len(CONFIG_ORDER), key)


def config_differences(entries: Sequence[ExperimentEntry]) -> list[tuple[str, list[Any]]]:
    """The settings (split included) whose values differ between ``entries``.

    Returns:
        ``[(setting, [value of each entry])]``: nested settings as ``augmentations.vertical_flip``;
        a setting one config lacks shows None for it.
    """
    flats = [{"split": e.split, **_flatten(e.config)} for e in entries]
    keys = sorted({k for flat in flats for k in flat}, key=_order)
    rows: list[tuple[str, list[Any]]] = []
    for key in keys:
        values = [flat.get(key) for flat in flats]
        if any(repr(v) != repr(values[0]) for v in values[1:]):
            rows.append((key, values))
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def compare_table(entries: Sequence[ExperimentEntry]) -> Component:
    """The settings that differ, then the results, one column per experiment."""
    if len(entries) < 2:
        return html.Div(
            "Choose two experiments or more to see how their settings differ.",
            className="small text-body-secondary",
        )
    head = html.Thead(
        html.Tr(
            [html.Th("")]
            + [
                html.Th(
                    [
                        html.Span(
                            className="train-dot",
                            style={"background": COMPARE_COLORS[i % len(COMPARE_COLORS)]},
                        ),
                        e.name,
                    ],
                    className="text-nowrap",
                )
                for i, e in enumerate(entries)
            ]
        )
    )
    rows: list[Component] = []
    differences = config_differences(entries)
    rows.append(html.Tr(html.Th("Settings that differ", colSpan=len(entries) + 1)))
    if differences:
        for key, values in differences:
            rows.append(
                html.Tr(
                    [html.Td(key.replace("_", " "), className="text-body-secondary")]
                    + [html.Td(_cell(v), className="fw-semibold") for v in values],
                    className="train-diff-row",
                )
            )
    else:
        rows.append(
            html.Tr(
                html.Td(
                    "None: the same settings on the same split.",
                    colSpan=len(entries) + 1,
                    className="text-body-secondary",
                )
            )
        )
    rows.append(html.Tr(html.Th("Results", colSpan=len(entries) + 1)))
    results: list[tuple[str, list[str]]] = [
        ("status", [STATUS_STYLES.get(e.status, (e.status,))[0] for e in entries]),
        ("epochs done", [f"{e.epochs_done}/{e.epochs}" for e in entries]),
        ("best", [best_text(e) or "—" for e in entries]),
        (
            "last val loss",
            [_cell(e.history[-1].val_loss) if e.history else "—" for e in entries],
        ),
        (
            "training time",
            [format_duration(e.duration_s) if e.duration_s >= 1 else "—" for e in entries],
        ),
        (
            "weights",
            [
                (
                    "from scratch"
                    if e.weights and "scratch" in e.weights.casefold()
                    else ("pretrained" if e.weights else "—")
                )
                for e in entries
            ],
        ),
    ]
    for label, values in results:
        rows.append(
            html.Tr(
                [html.Td(label, className="text-body-secondary")] + [html.Td(v) for v in values]
            )
        )
    return dbc.Table(
        [head, html.Tbody(rows)],
        size="sm",
        hover=True,
        responsive=True,
        className="small mb-0 train-compare-table",
        id="train-compare-diff",
    )
