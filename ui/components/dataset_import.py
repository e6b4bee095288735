"""The Dataset page's import panel, the progress of running imports and the last import's summary.

The panel takes a folder on this machine (a path) or a zip uploaded by the browser
(``assets/dataset_upload.js`` posts the file to ``/upload/<project>/zip`` with a progress bar and
puts the unpacked folder's path into the path field). Progress and summaries are rendered from
the jobs view; the skipped files' reasons come from the job's ``ImportSkipped`` events.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html
from dash.development.base_component import Component

from aistudio import commands
from events import EventLog
from projections.jobs import JobEntry, JobsView
from ui.upload import format_size

IMPORT_COMMAND = "ImportRequested"
FORMAT_OPTIONS: list[dict[str, str]] = [
    {"label": "Detect automatically", "value": "auto"},
    *(
        {"label": f"{title} ({layout})", "value": name}
        for name, (title, layout) in commands.IMPORT_FORMAT_INFO.items()
    ),
]
FORMAT_NAMES: dict[str, str] = {
    "auto": "auto",
    **{name: title for name, (title, _layout) in commands.IMPORT_FORMAT_INFO.items()},
}
SKIPPED_SHOWN = 50

SkippedLoader = Callable[[JobEntry], list[tuple[str, str]]]


# ---------------------------------------------------------------------- the panel
def import_panel(project_id: str, upload_url: str, max_upload_bytes: int, is_open: bool) -> Any:
    """The collapsible import card: source folder or zip upload, format, Import button."""
    limit = format_size(max_upload_bytes)
    source_row = dbc.Row(
        [
            dbc.Col(
                [
                    dbc.Label("Folder on this machine", html_for="dataset-source"),
                    dbc.InputGroup(
                        [
                            dbc.InputGroupText(html.I(className="bi bi-folder2-open")),
                            dbc.Input(
                                id="dataset-source",
                                type="text",
                                placeholder="/path/to/images",
                                autocomplete="off",
                                debounce=False,
                            ),
                        ]
                    ),
                ],
                lg=7,
            ),
            dbc.Col(
                [
                    dbc.Label("…or upload a zip", className="d-block"),
                    html.Div(
                        dbc.Button(
                            [html.I(className="bi bi-file-earmark-zip me-2"), "Choose a zip…"],
                            id="dataset-upload-button",
                            color="secondary",
                            outline=True,
                            className="w-100",
                            n_clicks=0,
                        ),
                        id="dataset-upload",
                        className="dataset-upload",
                        **{
                            "data-upload-url": upload_url,
                            "data-max-bytes": str(max_upload_bytes),
                            "data-max-text": limit,
                        },
                    ),
                    dbc.FormText(f"Up to {limit}; it is unpacked on this machine."),
                ],
                lg=5,
            ),
        ],
        className="g-3",
    )
    upload_progress = html.Div(
        dbc.Progress(
            id="dataset-upload-progress",
            value=0,
            label="",
            striped=True,
            animated=True,
            className="mt-3",
            style={"height": "1.25rem"},
        ),
        id="dataset-upload-progress-wrap",
        style={"display": "none"},
    )
    format_row = dbc.Row(
        [
            dbc.Col(
                [
                    dbc.Label("Format", html_for="dataset-format"),
                    dbc.Select(id="dataset-format", options=FORMAT_OPTIONS, value="auto"),
                    dbc.FormText(
                        "Image folder: train/cat/1.jpg → class “cat”. CSV: a file with the "
                        "header filename,label (or filename,value for regression) next to "
                        "the images. Boxes: a COCO .json (the file, or a folder holding it), "
                        "a VOC folder (Annotations/, JPEGImages/) or a YOLO folder (data.yaml)."
                    ),
                ],
                lg=7,
            ),
            dbc.Col(
                dbc.Button(
                    [html.I(className="bi bi-box-arrow-in-down me-2"), "Import"],
                    id="dataset-import",
                    color="primary",
                    className="w-100",
                    n_clicks=0,
                ),
                lg=5,
                className="d-flex align-items-end",
            ),
        ],
        className="g-3 mt-1",
    )
    body = dbc.CardBody(
        [
            html.Div(
                [
                    html.H5(
                        [html.I(className="bi bi-box-arrow-in-down me-2"), "Import images"],
                        className="card-title mb-1",
                    ),
                    html.P(
                        "Images are copied into the project (duplicates are recognised by "
                        "their content), so the source can be moved or deleted afterwards.",
                        className="text-body-secondary small mb-3",
                    ),
                ]
            ),
            source_row,
            upload_progress,
            html.Div(id="dataset-upload-status", className="mt-2"),
            dcc.Store(id="dataset-upload-result"),
            format_row,
            html.Div(id="dataset-import-feedback", className="mt-3"),
        ]
    )
    return dbc.Collapse(
        dbc.Card(body, className="shadow-sm mb-3 dataset-import-card"),
        id="dataset-import-collapse",
        is_open=is_open,
    )


def upload_status(result: dict[str, Any] | None) -> Component | None:
    """What the upload's result (set by the page's script) says: unpacked, or why not."""
    if not result:
        return None
    if result.get("error"):
        return dbc.Alert(
            [html.I(className="bi bi-x-octagon me-2"), str(result["error"])],
            color="danger",
            className="py-2 mb-0",
            id="dataset-upload-error",
        )
    files = int(result.get("files", 0))
    return dbc.Alert(
        [
            html.I(className="bi bi-check-circle me-2"),
            html.B(str(result.get("filename", "The zip"))),
            f" is unpacked: {files:,} file{'s' if files != 1 else ''}, "
            f"{format_size(int(result.get('unpacked_bytes', 0)))}. "
            "Choose the format and click Import.",
        ],
        color="success",
        className="py-2 mb-0",
    )


# ---------------------------------------------------------------------- progress
def import_jobs(jobs: JobsView) -> list[JobEntry]:
    """The project's import jobs, oldest command first."""
    return [j for j in jobs.jobs.values() if j.command_type == IMPORT_COMMAND]


def running_imports(jobs: JobsView) -> list[JobEntry]:
    """The import jobs that have not ended (pending, claimed or running)."""
    return [j for j in import_jobs(jobs) if not j.is_terminal]


def last_finished_import(jobs: JobsView) -> JobEntry | None:
    """The most recently requested import job that has ended."""
    ended = [j for j in import_jobs(jobs) if j.is_terminal]
    return ended[-1] if ended else None


def progress_children(jobs: JobsView | None) -> list[Component]:
    """One progress card per import that has not ended (nothing when there is none)."""
    if jobs is None:
        return []
    return [_progress_card(job) for job in running_imports(jobs)]


def _source_name(job: JobEntry) -> str:
    source = str(job.data.get("source", ""))
    return Path(source).name or source


def _progress_card(job: JobEntry) -> Component:
    total = job.progress_total
    done = job.progress_done
    if job.status == "running" and total:
        percent = min(100.0, 100.0 * done / total)
        bar = dbc.Progress(
            value=percent,
            label=f"{percent:.0f} %",
            striped=True,
            animated=True,
            className="dataset-progress-bar",
        )
        detail = job.progress_message or f"{done:,} / {total:,} files"
    else:
        waiting = job.status == "pending"
        bar = dbc.Progress(
            value=100,
            striped=True,
            animated=True,
            color="secondary" if waiting else "info",
            className="dataset-progress-bar",
        )
        detail = (
            "Waiting for the worker… (it starts with `aistudio serve`, or run `aistudio worker`)"
            if waiting
            else job.progress_message or "Reading the source…"
        )
    cancel: Component
    if job.cancel_requested:
        cancel = dbc.Badge("Cancelling…", color="warning", className="ms-auto")
    else:
        cancel = dbc.Button(
            [html.I(className="bi bi-x-circle me-1"), "Cancel"],
            id={"type": "dataset-cancel", "index": job.job_id},
            color="link",
            size="sm",
            className="ms-auto text-danger p-0",
            n_clicks=0,
        )
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [
                        dbc.Spinner(size="sm", color="primary", spinner_class_name="me-2"),
                        html.Span(["Importing ", html.B(_source_name(job))]),
                        html.Small(
                            f" · {FORMAT_NAMES.get(str(job.data.get('format')), 'auto')}",
                            className="text-body-secondary ms-1",
                        ),
                        cancel,
                    ],
                    className="d-flex align-items-center mb-2",
                ),
                bar,
                html.Small(detail, className="text-body-secondary d-block mt-1"),
            ]
        ),
        className="mb-3 shadow-sm dataset-job",
        id={"type": "dataset-job", "index": job.job_id},
    )


# ---------------------------------------------------------------------- summary
def last_succeeded_import(jobs: JobsView) -> JobEntry | None:
    """The most recently requested import job that succeeded."""
    done = [j for j in import_jobs(jobs) if j.status == "succeeded"]
    return done[-1] if done else None


def summary_children(
    jobs: JobsView | None, load_skipped: SkippedLoader | None = None
) -> list[Component]:
    """The last finished import: what it added, duplicates, skipped files (with reasons), or
    why it failed. A failed or cancelled import is shown above the summary of the last one that
    succeeded, which it does not hide: that is still what the dataset holds."""
    if jobs is None:
        return []
    job = last_finished_import(jobs)
    if job is None:
        return []
    if job.status == "succeeded":
        return [_succeeded_card(job, load_skipped, "Last import")]
    children = [_ended_alert(job)]
    good = last_succeeded_import(jobs)
    if good is not None:
        children.append(_succeeded_card(good, load_skipped, "Last successful import"))
    return children


def _when(job: JobEntry) -> str:
    return (job.ended_ts or "")[:19].replace("T", " ")


def _ended_alert(job: JobEntry) -> Component:
    """Why the import ``job`` (failed or cancelled) added nothing."""
    if job.status == "failed":
        return dbc.Alert(
            [
                html.Div(
                    [html.I(className="bi bi-x-octagon me-2"), html.B("The import failed")],
                    className="mb-1",
                ),
                html.Div(job.error or job.reason or "unknown error", className="text-break"),
                html.Small(
                    f"{job.data.get('source', '')} · {_when(job)}",
                    className="d-block mt-1 opacity-75",
                ),
            ],
            color="danger",
            className="dataset-import-failed",
        )
    return dbc.Alert(
        [
            html.I(className="bi bi-slash-circle me-2"),
            "The import of ",
            html.B(_source_name(job)),
            " was cancelled: nothing was added.",
        ],
        color="warning",
        className="dataset-import-cancelled",
    )


def _succeeded_card(job: JobEntry, load_skipped: SkippedLoader | None, title: str) -> Component:
    """What the succeeded import ``job`` added, its duplicates and skipped files."""
    summary = job.summary or {}
    added = int(summary.get("added", 0))
    duplicates = int(summary.get("duplicates", 0))
    skipped = int(summary.get("skipped", 0))
    detected = FORMAT_NAMES.get(str(summary.get("format", "")), str(summary.get("format", "")))
    figures = html.Div(
        [
            _figure("plus-circle", f"{added:,}", "added", "success"),
            _figure("files", f"{duplicates:,}", "duplicates", "secondary"),
            _figure("exclamation-triangle", f"{skipped:,}", "skipped", "warning"),
        ],
        className="d-flex flex-wrap gap-4 my-2",
    )
    children: list[Component] = [
        html.Div(
            [
                html.I(className="bi bi-check-circle-fill text-success me-2"),
                html.B(title),
                html.Span(
                    f" · {_source_name(job)} · {detected} · {_when(job)}",
                    className="text-body-secondary small",
                    title=str(job.data.get("source", "")),
                ),
            ]
        ),
        figures,
    ]
    if skipped and load_skipped is not None:
        children.append(_skipped_details(load_skipped(job), skipped))
    return dbc.Card(dbc.CardBody(children), className="mb-3 shadow-sm dataset-import-done")


def _figure(icon: str, value: str, label: str, color: str) -> html.Div:
    return html.Div(
        [
            html.I(className=f"bi bi-{icon} text-{color} me-2 fs-5"),
            html.Span(value, className="fs-5 fw-semibold me-1"),
            html.Span(label, className="text-body-secondary"),
        ],
        className=f"d-flex align-items-center dataset-summary-{label}",
    )


def _skipped_details(items: list[tuple[str, str]], skipped: int) -> Component:
    rows = [
        html.Tr([html.Td(path, className="text-break"), html.Td(reason)])
        for path, reason in items[:SKIPPED_SHOWN]
    ]
    more = skipped - min(len(items), SKIPPED_SHOWN)
    return html.Details(
        [
            html.Summary(f"Why {skipped:,} file{'s were' if skipped != 1 else ' was'} skipped"),
            dbc.Table(
                [html.Thead(html.Tr([html.Th("File"), html.Th("Reason")])), html.Tbody(rows)],
                size="sm",
                className="mt-2 mb-0 small",
                borderless=True,
                hover=True,
            ),
            html.Small(f"…and {more:,} more", className="text-body-secondary") if more else None,
        ],
        className="dataset-skipped",
    )


# ---------------------------------------------------------------------- skipped reasons
@dataclass
class SkippedReasons:
    """Reads the ``(path, reason)`` of the files a job skipped, from its ``ImportSkipped``
    events; results are kept (a job that ended never changes)."""

    max_jobs: int = 32

    def __post_init__(self) -> None:
        self._cache: OrderedDict[tuple[str, str], list[tuple[str, str]]] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, events_path: Path, job: JobEntry) -> list[tuple[str, str]]:
        """The skipped files of ``job`` (whose log is ``events_path``), in the job's order."""
        key = (str(events_path), job.job_id)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        items: list[tuple[str, str]] = []
        for event in EventLog(events_path).read(after_seq=job.command_seq):
            if event.type == "ImportSkipped" and event.causation == job.job_id:
                items.extend((str(i["path"]), str(i["reason"])) for i in event.data["items"])
        with self._lock:
            self._cache[key] = items
            while len(self._cache) > self.max_jobs:
                self._cache.popitem(last=False)
        return items
