"""The Export page's left column: the experiments that have a checkpoint to export.

Plain functions of the experiments and exports views (and the clock, for "3 min ago"), so that
the page's callbacks stay thin and the tests call these directly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import html
from dash.development.base_component import Component

from projections.experiments import ExperimentEntry, ExperimentsView
from projections.exports import ExportsView
from projections.jobs import JobsView
from ui.components.empty_state import empty_state
from ui.components.experiment_pages import experiment_list_item
from ui.components.sidebar import project_page_path
from ui.components.time_travel import when_text
from ui.components.training_runs import best_text, status_badge

ITEM_TYPE = "export-exp-item"
"""Pattern-matching id type of a list item: ``{"type": ITEM_TYPE, "index": experiment_id}``."""


def exportable(view: ExperimentsView) -> list[ExperimentEntry]:
    """The experiments with at least one checkpoint, newest first."""
    return [e for e in reversed(view.experiments.values()) if e.checkpoints]


def default_selection(view: ExperimentsView, wanted: str | None = None) -> str | None:
    """``wanted`` when it has a checkpoint, else the newest experiment that has one."""
    entries = exportable(view)
    if wanted and any(e.experiment_id == wanted for e in entries):
        return wanted
    return entries[0].experiment_id if entries else None


def page_signature(
    experiments: ExperimentsView, exports: ExportsView, jobs: JobsView
) -> dict[str, Any]:
    """What the page's live parts depend on (they re-render only when it changes).

    The experiments' checkpoints and statuses, every export's status, and the progress of the
    jobs of pending exports (not every training step: those do not change this page).
    """
    running: list[list[Any]] = []
    for entry in exports.exports.values():
        if entry.status != "pending":
            continue
        job = jobs.get(entry.job_id)
        if job is not None:
            running.append(
                [
                    job.job_id,
                    job.status,
                    job.progress_done,
                    job.progress_total,
                    job.progress_message,
                    job.cancel_requested,
                ]
            )
    return {
        "experiments": [
            [
                e.experiment_id,
                e.name,
                e.status,
                e.cancel_requested,
                {k: c.seq for k, c in e.checkpoints.items()},
            ]
            for e in exportable(experiments)
        ],
        "exports": [[x.export_id, x.status, x.completed_seq] for x in exports.exports.values()],
        "running": running,
    }


def experiment_item(
    entry: ExperimentEntry, selected: bool, n_exports: int, now: datetime, past: bool = False
) -> dbc.ListGroupItem:
    """One experiment of the list: name, training status, model, best figure, exports, age."""
    facts = [str(entry.config.get("model", "?"))]
    best = best_text(entry)
    if best:
        facts.append(best)
    elif "last" in entry.checkpoints:
        facts.append(f"last epoch {entry.checkpoints['last'].epoch}")
    facts.append(f"{n_exports} export{'s' if n_exports != 1 else ''}" if n_exports else "no export")
    return experiment_list_item(
        entry,
        item_type=ITEM_TYPE,
        css="export",
        badge=status_badge(entry),
        details=[
            html.Span(" · ".join(facts)),
            html.Span(when_text(entry.created_ts, now, past), className="ms-auto text-nowrap"),
        ],
        selected=selected,
    )


def experiment_list(
    experiments: ExperimentsView,
    exports: ExportsView,
    selected: str | None,
    project_id: str,
    now: datetime,
    past: bool = False,
) -> Component:
    """The exportable experiments, newest first, the selected one highlighted; or how to get one."""
    entries = exportable(experiments)
    if not entries:
        trained_none = not experiments.experiments
        text = (
            "Train a model first: once an epoch has saved a checkpoint, it can be exported here "
            "as ONNX or TorchScript."
            if trained_none
            else "None of this project's experiments has saved a checkpoint yet: they can be "
            "exported once an epoch has finished."
        )
        return empty_state(
            "cpu",
            "No trained model yet",
            text,
            dbc.Button(
                [html.I(className="bi bi-cpu me-1"), "Go to Train"],
                href=project_page_path(project_id, "train"),
                color="primary",
                id="export-to-train",
            ),
            id="export-no-experiments",
        )
    counts: dict[str, int] = {}
    for entry in exports.exports.values():
        counts[entry.experiment_id] = counts.get(entry.experiment_id, 0) + 1
    return dbc.ListGroup(
        [
            experiment_item(
                e, e.experiment_id == selected, counts.get(e.experiment_id, 0), now, past
            )
            for e in entries
        ],
        className="export-list",
    )


def form_note(entry: ExperimentEntry | None) -> tuple[str, bool]:
    """A sentence under the form and whether Export is disabled for ``entry``.

    An experiment still training cannot be exported yet (the command would refuse it).
    """
    if entry is None:
        return "", True
    if entry.is_active:
        return (
            f"“{entry.name}” is still {entry.status}: export it once its training has ended.",
            True,
        )
    return (
        "The export is checked against PyTorch on real images of the dataset before it can be "
        "downloaded.",
        False,
    )
