"""The Export page's exports: progress of running ones, and one card per export with its status,
validation figures, file, download button, inference snippet (ONNX) and metadata.

Plain functions of the exports and jobs views (and the clock, for "3 min ago"), so that the
page's callbacks stay thin and the tests call these directly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import dash_bootstrap_components as dbc
from dash import dcc, html
from dash.development.base_component import Component

from aistudio import commands
from projections.exports import ExportEntry, ValidationInfo
from projections.jobs import JobEntry, JobsView
from ui.components.export_form import FORMAT_LABELS
from ui.components.export_snippet import INSTALL_COMMAND, onnx_snippet
from ui.components.time_travel import when_text
from ui.components.training_runs import format_duration
from ui.routes import download_url

CANCEL_TYPE = "export-cancel"
"""Pattern-matching id type of a Cancel button: ``{"type": CANCEL_TYPE, "index": job_id}``."""
IMAGE_FILE = "image.png"
"""The image file the inference snippet reads (the user's own)."""
SNIPPET_FILE = "predict.py"
"""The name the "Use it" section suggests for the snippet."""
# status -> (label, Bootstrap colour, icon)
STATUS_STYLES: dict[str, tuple[str, str, str]] = {
    "queued": ("Pending", "secondary", "hourglass-split"),
    "running": ("Running", "primary", "play-circle"),
    "completed": ("Completed", "success", "check-circle"),
    "failed": ("Failed", "danger", "x-octagon"),
    "cancelled": ("Cancelled", "secondary", "slash-circle"),
}


# ---------------------------------------------------------------------- plain facts
def human_size(size_bytes: int | None) -> str:
    """``812 B``, ``12.4 kB``, ``44.7 MB``, ``1.2 GB`` (decimal units; ``—`` when unknown)."""
    if size_bytes is None or size_bytes < 0:
        return "—"
    if size_bytes < 1000:
        return f"{size_bytes} B"
    units = ("kB", "MB", "GB", "TB")
    value = size_bytes / 1000
    step = 0
    while value >= 1000 and step < len(units) - 1:
        value /= 1000
        step += 1
    return f"{value:.3g} {units[step]}" if value < 100 else f"{value:.0f} {units[step]}"


def download_name(experiment_name: str, export_id: str, fmt: str) -> str:
    """The name the browser saves an export as (the one the download route gives it)."""
    return commands.export_download_name(experiment_name, export_id, fmt)


def export_phase(entry: ExportEntry, job: JobEntry | None) -> str:
    """``queued``, ``running`` (claimed or started), or the export's own end status."""
    if entry.status != "pending":
        return entry.status
    if job is not None and job.status in ("claimed", "running"):
        return "running"
    return "queued"


def status_badge(entry: ExportEntry, job: JobEntry | None) -> html.Span:
    """The export's status as a coloured badge (``Cancelling…`` once a cancel is asked)."""
    phase = export_phase(entry, job)
    label, color, icon = STATUS_STYLES.get(phase, (phase, "secondary", "circle"))
    if phase in ("queued", "running") and job is not None and job.cancel_requested:
        label, color, icon = "Cancelling…", "warning", "stop-circle"
    text_class = " text-dark" if color == "warning" else ""
    return html.Span(
        [html.I(className=f"bi bi-{icon} me-1"), label],
        className=f"badge rounded-pill bg-{color}{text_class} export-status "
        f"export-status-{entry.status}",
    )


def _metric(value: float) -> str:
    """A validation figure in three significant digits (``2.1e-06``, ``0.001``, ``0.25``)."""
    return f"{value:.3g}"


# ---------------------------------------------------------------------- progress
def job_state(entry: ExportEntry, job: JobEntry | None) -> tuple[str, float, str]:
    """A pending export's ``(what it does, percent done, bar colour)`` from its job."""
    phase = export_phase(entry, job)
    if job is not None and job.cancel_requested and not job.is_terminal:
        return "Cancelling: the export stops after its current step…", 100.0, "warning"
    if phase == "queued":
        return "Waiting for a worker to pick it up…", 100.0, "secondary"
    if job is not None and job.progress_total:
        percent = 100 * min(job.progress_done / job.progress_total, 1.0)
        message = job.progress_message or f"{job.progress_done} of {job.progress_total}"
        return message[:1].upper() + message[1:], percent, "primary"
    return "Starting: loading the checkpoint…", 0.0, "primary"


def job_progress(entry: ExportEntry, job: JobEntry | None, read_only: bool) -> Component:
    """Where a pending export's job stands: a bar with its message, and Cancel (when live)."""
    label, percent, color = job_state(entry, job)
    cancellable = not (job is not None and (job.cancel_requested or job.is_terminal))
    head: list[Component] = [
        html.Span(
            [
                html.B(f"{FORMAT_LABELS.get(entry.format, entry.format)} "),
                f"of the {entry.checkpoint} checkpoint",
            ],
            className="text-nowrap",
        ),
        html.Span(label, className="ms-auto text-body-secondary text-truncate export-job-label"),
    ]
    if not read_only and cancellable:
        head.append(
            dbc.Button(
                [html.I(className="bi bi-stop-circle me-1"), "Cancel"],
                id={"type": CANCEL_TYPE, "index": entry.job_id},
                color="danger",
                outline=True,
                size="sm",
                n_clicks=0,
                className="py-0",
            )
        )
    moving = not read_only and color != "warning"
    return html.Div(
        [
            html.Div(head, className="d-flex align-items-center small gap-2 mb-1"),
            dbc.Progress(
                value=percent,
                striped=moving,
                animated=moving,
                color=color,
                className="export-progress",
                label=f"{percent:.0f}%" if color == "primary" and percent >= 8 else "",
            ),
        ],
        className="export-job mb-2",
    )


def running_panel(
    entries: Sequence[ExportEntry], jobs: JobsView, read_only: bool
) -> list[Component]:
    """The progress of the pending exports among ``entries`` (oldest first), or nothing."""
    pending = [e for e in reversed(entries) if e.status == "pending"]
    if not pending:
        return []
    return [
        html.Div("Running exports", className="small fw-semibold mb-2"),
        *[job_progress(e, jobs.get(e.job_id), read_only) for e in pending],
    ]


# ---------------------------------------------------------------------- one export
def _figure(label: str, value: str, tone: str | None = None, title: str | None = None) -> html.Div:
    props = {"title": title} if title else {}
    value_class = "export-figure-value fw-semibold" + (f" text-{tone}-emphasis" if tone else "")
    return html.Div(
        [html.Div(label, className="export-figure-label"), html.Div(value, className=value_class)],
        className="export-figure",
        **props,
    )


def validation_figures(entry: ExportEntry) -> Component | None:
    """Images compared, max abs diff vs tolerance, prediction agreement, file size, time taken."""
    figures: list[Component] = []
    validation: ValidationInfo | None = entry.validation
    if validation is not None:
        within = validation.max_abs_diff <= validation.tolerance
        figures += [
            _figure("Images compared", str(validation.images)),
            _figure(
                "Max abs diff",
                f"{_metric(validation.max_abs_diff)} {'≤' if within else '>'} "
                f"{_metric(validation.tolerance)}",
                "success" if within else "danger",
                "Largest difference of raw outputs between the export and PyTorch, against "
                "the tolerance",
            ),
            _figure(
                "Agreement",
                f"{100 * validation.agreement:.1f} %",
                "success" if validation.agreement >= 1.0 else "warning",
                "Share of images on which both give the same prediction",
            ),
        ]
    if entry.file is not None:
        figures.append(_figure("File size", human_size(entry.file.size_bytes)))
    if entry.completed_ts is not None and entry.duration_s:
        figures.append(_figure("Took", format_duration(entry.duration_s)))
    if not figures:
        return None
    return html.Div(figures, className="export-figures")


def failure_alert(entry: ExportEntry) -> Component | None:
    """Why an export failed (or was cancelled), with what validation showed when it ran."""
    if entry.status == "cancelled":
        return html.Div(
            [html.I(className="bi bi-slash-circle me-2"), "Cancelled before it finished."],
            className="small text-body-secondary mb-2",
        )
    if entry.status != "failed":
        return None
    reason = entry.error
    check = entry.validation
    if not reason and check is not None and not check.passed:
        reason = (
            f"the export's outputs differ from PyTorch's by up to {_metric(check.max_abs_diff)}, "
            f"more than the tolerance of {_metric(check.tolerance)}"
        )
    text = reason or "no reason was given"
    return dbc.Alert(
        [
            html.I(className="bi bi-x-octagon me-2"),
            html.B("Export failed: "),
            text[:1].upper() + text[1:],
            html.Div(
                "Nothing can be downloaded: try the other checkpoint or format, a lower opset or "
                "a larger tolerance.",
                className="small mt-1",
            ),
        ],
        color="danger",
        className="small mb-2 export-error",
        id={"type": "export-error", "index": entry.export_id},
    )


def _pretty(value: str) -> Component | str:
    """A metadata value (JSON text) as people read it: strings plain, objects indented."""
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return value
    if isinstance(parsed, str):
        return parsed
    if isinstance(parsed, (dict, list)):
        return html.Pre(
            json.dumps(parsed, indent=2, ensure_ascii=False), className="export-json mb-0"
        )
    return json.dumps(parsed)


def metadata_table(metadata: dict[str, str]) -> Component | None:
    """The metadata stored in the file: one row per key, JSON values pretty-printed."""
    if not metadata:
        return None
    rows = [
        html.Tr(
            [
                html.Td(key, className="text-body-secondary font-monospace text-nowrap"),
                html.Td(_pretty(value)),
            ]
        )
        for key, value in metadata.items()
    ]
    return html.Details(
        [
            html.Summary(f"Metadata in the file ({len(metadata)})", className="small fw-semibold"),
            dbc.Table(
                html.Tbody(rows),
                size="sm",
                className="small mt-2 mb-0 export-metadata",
            ),
        ],
        className="mt-2",
    )


def use_it(entry: ExportEntry, file_name: str) -> Component | None:
    """How to run a completed ONNX export: a Python snippet naming the downloaded file."""
    if entry.format != "onnx" or not entry.downloadable:
        return None
    snippet = onnx_snippet(model_file=file_name, image_file=IMAGE_FILE)
    return html.Details(
        [
            html.Summary(
                [html.I(className="bi bi-code-slash me-1"), "Use it"],
                className="small fw-semibold",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            html.Span(
                                [
                                    "Save it as ",
                                    html.Code(SNIPPET_FILE),
                                    " next to ",
                                    html.Code(file_name),
                                    ", then run ",
                                    html.Code(f"python {SNIPPET_FILE} {IMAGE_FILE}"),
                                    " (after ",
                                    html.Code(INSTALL_COMMAND),
                                    ").",
                                ],
                                className="small text-body-secondary",
                            ),
                            dcc.Clipboard(
                                content=snippet,
                                title="Copy the code",
                                className="btn btn-sm btn-outline-secondary ms-auto export-copy",
                            ),
                        ],
                        className="d-flex align-items-center gap-2 mb-1",
                    ),
                    dcc.Markdown(
                        f"```python\n{snippet.rstrip()}\n```",
                        className="export-snippet",
                        id={"type": "export-snippet", "index": entry.export_id},
                    ),
                ],
                className="mt-2",
            ),
        ],
        className="mt-2 export-use",
        open=True,
    )


def export_card(
    entry: ExportEntry,
    job: JobEntry | None,
    experiment_name: str,
    project_id: str,
    read_only: bool,
    now: datetime,
) -> Component:
    """One export: what it is, its status and time, figures, error, download, snippet, metadata."""
    when = entry.completed_ts or entry.requested_ts
    verb = "requested"
    if entry.completed_ts is not None:
        verb = "exported" if entry.status == "completed" else "checked"
    epoch = f" · epoch {entry.checkpoint_epoch}" if entry.checkpoint_epoch is not None else ""
    file_name = download_name(experiment_name, entry.export_id, entry.format)
    actions: list[Component] = []
    if entry.downloadable:
        actions.append(
            dbc.Button(
                [html.I(className="bi bi-download me-1"), "Download"],
                href=download_url(project_id, entry.export_id),
                download=file_name,
                external_link=True,
                color="success",
                size="sm",
                id={"type": "export-download", "index": entry.export_id},
                title=f"Download {file_name}",
            )
        )
    head = html.Div(
        [
            html.Span(
                FORMAT_LABELS.get(entry.format, entry.format),
                className="badge text-bg-light border export-format",
            ),
            html.Span(f"{entry.checkpoint} checkpoint{epoch}", className="fw-semibold text-nowrap"),
            status_badge(entry, job),
            html.Small(
                f"{verb} {when_text(when, now, read_only)}",
                className="text-body-secondary text-nowrap",
                title=f"{when[:19].replace('T', ' ')} UTC · event #{entry.requested_seq}",
            ),
            html.Small(entry.export_id, className="text-body-secondary font-monospace"),
            html.Div(actions, className="ms-auto"),
        ],
        className="d-flex align-items-center flex-wrap gap-2",
    )
    body: list[Component] = [head]
    if entry.status == "pending":
        body.append(html.Div(job_state(entry, job)[0], className="small text-body-secondary mt-2"))
    alert = failure_alert(entry)
    if alert is not None:
        body.append(html.Div(alert, className="mt-2"))
    figures = validation_figures(entry)
    if figures is not None:
        body.append(figures)
    snippet = use_it(entry, file_name)
    if snippet is not None:
        body.append(snippet)
    metadata = metadata_table(entry.metadata)
    if metadata is not None:
        body.append(metadata)
    return html.Div(
        body,
        className=f"export-card export-card-{entry.status} border rounded p-3 mb-3",
        id={"type": "export-card", "index": entry.export_id},
    )


def exports_list(
    entries: Sequence[ExportEntry],
    jobs: JobsView,
    experiment_name: str,
    project_id: str,
    read_only: bool,
    now: datetime,
) -> Component:
    """The exports of one experiment, newest first (``entries`` in that order), or a hint."""
    if not entries:
        return html.Div(
            [
                html.I(className="bi bi-box-seam display-6 text-body-secondary"),
                html.Div("No export yet", className="fw-semibold mt-2"),
                html.Div(
                    "Choose a checkpoint and a format above, then press Export: it is checked "
                    "against PyTorch and listed here with its figures and a download button.",
                    className="small text-body-secondary",
                ),
            ],
            className="text-center py-4 empty-state",
            id="export-no-exports",
        )
    return html.Div(
        [
            export_card(e, jobs.get(e.job_id), experiment_name, project_id, read_only, now)
            for e in entries
        ]
    )
