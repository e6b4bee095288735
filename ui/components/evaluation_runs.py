"""The Evaluation page's experiments: the list of experiments that can be evaluated (they have a
checkpoint), each with the state of its evaluation, and the selected one's job progress, failure
and facts.

Plain functions of the experiments, evaluation and jobs views (and the clock, for ETAs), so the
page's callbacks stay thin and the tests call these directly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import html
from dash.development.base_component import Component

from projections.evaluations import EvaluationEntry, EvaluationsView
from projections.experiments import ExperimentEntry, ExperimentsView
from projections.jobs import JobEntry, JobsView
from ui.components.experiment_pages import experiment_list_item, item_progress
from ui.components.time_travel import when_text
from ui.components.timefmt import parse_ts
from ui.components.training_charts import metric_title
from ui.components.training_runs import RunProgressInfo, format_duration

ITEM_TYPE = "eval-exp-item"
"""Pattern-matching id type of a list item: ``{"type": ITEM_TYPE, "index": experiment_id}``."""
NOT_EVALUATED = "none"
# evaluation state -> (label, Bootstrap colour, icon)
STATUS_STYLES: dict[str, tuple[str, str, str]] = {
    NOT_EVALUATED: ("Not evaluated", "secondary", "circle"),
    "queued": ("Queued", "secondary", "hourglass-split"),
    "running": ("Evaluating", "primary", "play-circle"),
    "cancelling": ("Cancelling…", "warning", "stop-circle"),
    "completed": ("Evaluated", "success", "check-circle"),
    "failed": ("Failed", "danger", "x-octagon"),
    "cancelled": ("Cancelled", "secondary", "slash-circle"),
}
SUBSET_TITLES: dict[str, str] = {"train": "Train", "val": "Validation", "test": "Test"}


# ---------------------------------------------------------------------- state
def evaluable(experiments: ExperimentsView) -> list[ExperimentEntry]:
    """The experiments that have a checkpoint (``best`` or ``last``), newest first."""
    return [e for e in reversed(experiments.experiments.values()) if e.checkpoints]


def evaluation_job(evaluation: EvaluationEntry | None, jobs: JobsView) -> JobEntry | None:
    """The job of a pending evaluation (None when there is none, or it has ended)."""
    if evaluation is None or not evaluation.is_pending:
        return None
    return jobs.get(evaluation.job_id)


def evaluation_state(evaluation: EvaluationEntry | None, job: JobEntry | None) -> str:
    """A key of :data:`STATUS_STYLES`: ``none``, ``queued``, ``running``, ``cancelling``,
    ``completed``, ``failed`` or ``cancelled``."""
    if evaluation is None:
        return NOT_EVALUATED
    if not evaluation.is_pending:
        return evaluation.status
    if job is not None and job.cancel_requested:
        return "cancelling"
    if job is not None and job.status in ("claimed", "running"):
        return "running"
    return "queued"


def status_badge(state: str, id: str | None = None) -> html.Span:
    """The evaluation state as a coloured badge."""
    label, color, icon = STATUS_STYLES.get(state, (state, "secondary", "circle"))
    text_class = " text-dark" if color == "warning" else ""
    props: dict[str, Any] = {"id": id} if id else {}
    if state == NOT_EVALUATED:
        classes = "bg-secondary-subtle text-secondary-emphasis border border-secondary-subtle"
    else:
        classes = f"bg-{color}{text_class}"
    return html.Span(
        [html.I(className=f"bi bi-{icon} me-1"), label],
        className=f"badge rounded-pill {classes} eval-status eval-status-{state}",
        **props,
    )


def format_metric(value: float | None) -> str:
    """A metric's value for people: 4 significant digits (``—`` when unknown)."""
    if value is None:
        return "—"
    return f"{value:.4g}"


def primary_text(evaluation: EvaluationEntry | None) -> str:
    """``Accuracy 0.934`` of a completed evaluation, or empty."""
    if evaluation is None or evaluation.status != "completed" or not evaluation.primary_metric:
        return ""
    value = evaluation.metrics.get(evaluation.primary_metric)
    if value is None:
        return ""
    return f"{metric_title(evaluation.primary_metric)} {format_metric(value)}"


def default_selection(
    experiments: ExperimentsView, evaluations: EvaluationsView, wanted: str | None = None
) -> str | None:
    """``wanted`` when it can be evaluated, else the newest experiment being evaluated, else the
    newest one that can be evaluated."""
    candidates = evaluable(experiments)
    ids = [e.experiment_id for e in candidates]
    if wanted and wanted in ids:
        return wanted
    pending = [i for i in ids if (ev := evaluations.get(i)) is not None and ev.is_pending]
    if pending:
        return pending[0]
    return ids[0] if ids else None


# ---------------------------------------------------------------------- progress
def job_progress(
    evaluation: EvaluationEntry | None, job: JobEntry | None, now: datetime
) -> RunProgressInfo | None:
    """Where a pending evaluation's job stands (None when no evaluation is pending).

    Progress comes from the job's last ``JobProgress`` (``done`` of ``total`` images); the time
    left is extrapolated from the time since the job started.
    """
    if evaluation is None or not evaluation.is_pending:
        return None
    if job is None or job.status == "pending":
        return RunProgressInfo(
            0.0, "Waiting for a worker to pick it up…", animated=True, color="secondary"
        )
    total = job.progress_total or 0
    done = min(job.progress_done, total) if total else job.progress_done
    if not total:
        label = (job.progress_message or "Starting: loading the model and the images…").strip()
        return RunProgressInfo(0.0, label[:1].upper() + label[1:], animated=True)
    percent = 100 * done / total
    message = job.progress_message or f"{done:,} of {total:,} images"
    eta: float | None = None
    started = parse_ts(job.started_ts)
    if started is not None and done > 0:
        elapsed = (now - started).total_seconds()
        eta = elapsed / done * (total - done) if elapsed > 0 else None
    return RunProgressInfo(percent, message[:1].upper() + message[1:], eta, animated=True)


# ---------------------------------------------------------------------- the list
def experiment_item(
    entry: ExperimentEntry,
    evaluation: EvaluationEntry | None,
    job: JobEntry | None,
    selected: bool,
    now: datetime,
    past: bool = False,
) -> dbc.ListGroupItem:
    """One experiment of the list: name, evaluation badge, model, checkpoints, primary figure,
    when (its whole date in a view of the ``past``)."""
    state = evaluation_state(evaluation, job)
    checkpoints = ", ".join(
        f"{which} ep. {entry.checkpoints[which].epoch}"
        for which in ("best", "last")
        if which in entry.checkpoints
    )
    facts = [str(entry.config.get("model", "?")), checkpoints]
    if entry.is_active:
        facts.append(f"training {entry.status}")
    metric = primary_text(evaluation)
    when = evaluation.completed_ts if evaluation and evaluation.completed_ts else entry.created_ts
    extra: list[Component] = []
    if metric:
        extra.append(
            html.Div(
                [html.I(className="bi bi-bullseye me-1"), metric],
                className="small fw-semibold mt-1 eval-item-metric",
            )
        )
    info = job_progress(evaluation, job, now)
    if info is not None:
        extra.append(item_progress(info.percent, info.color, "eval"))
    return experiment_list_item(
        entry,
        item_type=ITEM_TYPE,
        css="eval",
        badge=status_badge(state),
        details=[
            html.Span(" · ".join(facts), className="text-truncate"),
            html.Span(when_text(when, now, past), className="ms-auto text-nowrap"),
        ],
        selected=selected,
        extra=extra,
    )


def experiment_list(
    experiments: ExperimentsView,
    evaluations: EvaluationsView,
    jobs: JobsView,
    selected: str | None,
    now: datetime,
    past: bool = False,
) -> Component:
    """Every experiment with a checkpoint, newest first, the selected one highlighted."""
    entries = evaluable(experiments)
    if not entries:
        return html.Div(
            [
                html.I(className="bi bi-clipboard-data display-6 text-body-secondary"),
                html.Div("No trained model yet", className="fw-semibold mt-2"),
                html.Div(
                    "An experiment appears here once it has saved a checkpoint.",
                    className="small text-body-secondary",
                ),
            ],
            className="text-center py-4 empty-state",
            id="eval-no-experiments",
        )
    items = []
    for entry in entries:
        evaluation = evaluations.get(entry.experiment_id)
        job = evaluation_job(evaluation, jobs)
        items.append(
            experiment_item(entry, evaluation, job, entry.experiment_id == selected, now, past)
        )
    return dbc.ListGroup(items, className="eval-list")


# ---------------------------------------------------------------------- the selected one
def detail_head(entry: ExperimentEntry, state: str) -> Component:
    """The selected experiment's name, evaluation badge and id."""
    return html.Div(
        [
            html.Span(entry.name, className="fw-semibold fs-5 text-truncate me-2"),
            status_badge(state, id="eval-status-badge"),
            html.Small(
                entry.experiment_id,
                className="text-body-secondary ms-2 font-monospace",
                title=f"Trained on split {entry.split!r}",
            ),
        ],
        className="d-flex align-items-center flex-wrap",
    )


def evaluation_alert(
    evaluation: EvaluationEntry | None, job: JobEntry | None = None
) -> Component | None:
    """Why an evaluation ended without figures (failure with its error, cancel)."""
    if evaluation is None:
        return None
    if evaluation.status == "failed":
        body: list[Component] = [
            html.Div(
                [
                    html.I(className="bi bi-x-octagon me-2"),
                    html.B("Evaluation failed: "),
                    evaluation.error or "no reason was given.",
                ]
            ),
            html.Div(
                "Fix the cause, then run it again (the experiment keeps its checkpoints).",
                className="small mt-2",
            ),
        ]
        return dbc.Alert(body, color="danger", className="mb-3", id="eval-error")
    if evaluation.status == "cancelled":
        return dbc.Alert(
            [
                html.I(className="bi bi-slash-circle me-2"),
                "Cancelled before it finished: no figures were kept. Run it again when you want.",
            ],
            color="secondary",
            className="mb-3",
            id="eval-error",
        )
    return None


def _fact(icon: str, text: str, title: str | None = None) -> html.Span:
    props = {"title": title} if title else {}
    return html.Span(
        [html.I(className=f"bi bi-{icon} me-1"), text], className="eval-fact text-nowrap", **props
    )


def facts_row(entry: ExperimentEntry, evaluation: EvaluationEntry | None) -> Component:
    """The evaluation's checkpoint, subsets, images, speed and time, in one line of small facts."""
    facts: list[Component] = [_fact("cpu", str(entry.config.get("model", "?")), "model")]
    if evaluation is None:
        facts.append(_fact("diagram-3", entry.split, "split"))
        return html.Div(facts, className="d-flex flex-wrap gap-3 small text-body-secondary")
    epoch = evaluation.checkpoint_epoch
    checkpoint = evaluation.checkpoint + (f" (epoch {epoch})" if epoch else "")
    facts.append(_fact("floppy", checkpoint, "checkpoint"))
    subsets = " + ".join(SUBSET_TITLES.get(s, s) for s in evaluation.subsets)
    facts.append(_fact("diagram-3", f"{evaluation.split or entry.split}: {subsets}", "subsets"))
    if evaluation.status == "completed":
        images = f"{evaluation.images:,} image{'s' if evaluation.images != 1 else ''}"
        facts.append(_fact("images", images))
        if evaluation.skipped:
            facts.append(
                _fact(
                    "exclamation-circle",
                    f"{evaluation.skipped:,} skipped",
                    "images of the subsets that could not be scored (no label, or a class the "
                    "model does not know)",
                )
            )
        if evaluation.duration_s >= 0.5:
            facts.append(_fact("stopwatch", format_duration(evaluation.duration_s)))
        if evaluation.images_per_s:
            facts.append(_fact("speedometer2", f"{evaluation.images_per_s:,.0f} images/s"))
        if evaluation.completed_seq is not None:
            facts.append(
                _fact(
                    "clock-history",
                    f"event #{evaluation.completed_seq}",
                    f"completed {(evaluation.completed_ts or '')[:19].replace('T', ' ')}",
                )
            )
    return html.Div(facts, className="d-flex flex-wrap gap-3 small text-body-secondary")


# ---------------------------------------------------------------------- notes
def note(icon: str, text: str) -> html.Div:
    """A quiet line saying what a section shows, or what to do to fill it."""
    return html.Div(
        [html.I(className=f"bi bi-{icon} me-2"), text],
        className="text-body-secondary small py-3",
    )


def load_error(message: str, id: str) -> dbc.Alert:
    """Why the evaluation's files cannot be read (the command's reason)."""
    return dbc.Alert(
        [
            html.I(className="bi bi-exclamation-triangle me-2"),
            html.B("The evaluation's files cannot be read: "),
            message,
        ],
        color="warning",
        className="small mb-3",
        id=id,
    )
