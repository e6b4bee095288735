"""The History page's data and components: the filtered log, the inspector, time-travel links.

Kept apart from the page module (``ui/pages/history.py`` only registers the page and wires its
callbacks), so that tests can import it: Dash imports page modules under names of its own.

The page reads the log through a compact index refreshed incrementally
(:mod:`ui.components.history_log`), so a log of 200,000 events stays fast: only the rows of the
page shown are decoded. Selecting an event shows its full JSON envelope, the event that caused
it and the events it caused (a command and its job are linked both ways), and links to the
Dataset and Split pages as they were right after it (``?at=SEQ``).
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from events import Event, LogCorruptedError
from projections.base import SkippedEvent
from ui.components.empty_state import damaged_log, project_not_found
from ui.components.history_log import EventIndex, EventRow, Query, event_index
from ui.components.history_summary import (
    ACTOR_ICONS,
    CATEGORIES,
    PROGRESS_TYPES,
    category,
    describe,
)
from ui.components.sidebar import project_page_path
from ui.components.time_travel import parse_at
from ui.components.timefmt import full_time
from ui.state import get_state

PAGE_SIZE = 50
MAX_EFFECT_LINKS = 12
MAX_JSON_CHARS = 200_000
JOB_STATUS_COLORS: dict[str, str] = {
    "pending": "secondary",
    "claimed": "info",
    "running": "primary",
    "succeeded": "success",
    "failed": "danger",
    "cancelled": "warning",
}

# Triggers of the table callback.
TICK = "tick"
SELECTED = "history-selected"
HIDE_PROGRESS = "history-hide-progress"
FILTER_IDS = (
    "history-filter-type",
    "history-filter-actor",
    "history-filter-from",
    "history-filter-to",
    HIDE_PROGRESS,
)


# ---------------------------------------------------------------------- data
@dataclass(frozen=True, slots=True)
class HistoryTable:
    """One page of the filtered log, newest first, and what the filters can offer."""

    rows: list[EventRow]
    matching: int
    page: int
    pages: int
    last_seq: int
    type_counts: dict[str, int]
    actor_counts: dict[str, int]
    hidden_selection: int | None = None
    """The selected event's seq when the filters hide it (else None)."""
    hidden_progress: int = 0
    """How many events the other filters keep that are hidden as progress events."""

    @property
    def first_shown(self) -> int:
        """1-based position of the first row shown among the matching events (0 when none)."""
        return (self.page - 1) * PAGE_SIZE + 1 if self.rows else 0


@dataclass(frozen=True, slots=True)
class EventLink:
    """A link to another event of the log."""

    seq: int
    type: str

    @property
    def label(self) -> str:
        """How the link reads: ``ImportRequested #12``."""
        return describe(self.type, self.seq)


@dataclass(frozen=True, slots=True)
class Inspection:
    """Everything the inspector shows about one event."""

    project_id: str
    event: Event
    json_text: str
    cause: EventLink | None
    cause_missing: bool
    effects: list[EventLink]
    effects_total: int
    effect_types: dict[str, int] = field(default_factory=dict)
    job_status: str | None = None
    job_error: str | None = None

    def page_href(self, page: str) -> str:
        """The project's page ``page`` (a key of :data:`TRAVEL_PAGES`) as it was right after
        this event."""
        return f"{project_page_path(self.project_id, page)}?at={self.event.seq}"

    @property
    def dataset_href(self) -> str:
        """The Dataset page as it was right after this event."""
        return self.page_href("dataset")

    @property
    def split_href(self) -> str:
        """The Split page as it was right after this event."""
        return self.page_href("split")


def project_index(project_id: str | None) -> EventIndex | None:
    """The refreshed event index of a live project, or None when there is no such project."""
    if not project_id:
        return None
    state = get_state()
    if state.live_project(project_id) is None:
        return None
    return event_index(state.workspace.events_path(project_id))


def parse_seq(raw: Any) -> int | None:
    """A seq typed by the user (or from the URL), or None when absent or not a positive integer."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return int(raw) if raw >= 1 and float(raw).is_integer() else None
    return parse_at(str(raw).strip()) if raw is not None else None


def build_query(
    types: Sequence[str] | None,
    actors: Sequence[str] | None,
    seq_from: Any = None,
    seq_to: Any = None,
    hide_progress: bool | None = False,
) -> Query:
    """The log filter of the page's inputs (empty inputs keep every event).

    With ``hide_progress``, progress events (``JobProgress``) are left out, unless the type
    filter names them.
    """
    return Query(
        types=frozenset(types or ()),
        actors=frozenset(actors or ()),
        seq_from=parse_seq(seq_from),
        seq_to=parse_seq(seq_to),
        hidden_types=PROGRESS_TYPES if hide_progress else frozenset(),
    )


def history_table(
    project_id: str | None,
    query: Query | None = None,
    page: int | None = 1,
    selected: int | None = None,
    jump: bool = False,
) -> HistoryTable | None:
    """One page of the project's filtered log, newest first; None for an unknown project.

    Args:
        project_id: the project.
        query: the filters (None: every event).
        page: the 1-based page wanted (clamped to the pages there are).
        selected: the selected event's seq.
        jump: show the page holding ``selected`` instead of ``page``, when the filters keep it.
    """
    index = project_index(project_id)
    if index is None:
        return None
    seqs = index.query(query or Query())
    pages = max(1, math.ceil(len(seqs) / PAGE_SIZE))
    wanted = page or 1
    position = page_position(seqs, selected) if selected is not None else None
    if jump and position is not None:
        wanted = position // PAGE_SIZE + 1
    wanted = min(max(wanted, 1), pages)
    start = (wanted - 1) * PAGE_SIZE
    hidden = 0
    if query is not None and query.hidden:
        hidden = len(index.query(replace(query, hidden_types=frozenset()))) - len(seqs)
    return HistoryTable(
        rows=index.rows(seqs[start : start + PAGE_SIZE]),
        matching=len(seqs),
        page=wanted,
        pages=pages,
        last_seq=index.last_seq,
        type_counts=index.type_counts(),
        actor_counts=index.actor_counts(),
        hidden_selection=selected if selected is not None and position is None else None,
        hidden_progress=hidden,
    )


def page_position(seqs: Sequence[int], seq: int) -> int | None:
    """The 0-based position of ``seq`` in ``seqs`` (sorted newest first), or None."""
    position = bisect.bisect_left(seqs, -seq, key=lambda s: -s)
    if position < len(seqs) and seqs[position] == seq:
        return position
    return None


def inspect_event(project_id: str | None, seq: int | None) -> Inspection | None:
    """What the inspector shows of event ``seq``; None when there is no such event or project."""
    if seq is None:
        return None
    index = project_index(project_id)
    if index is None or project_id is None:
        return None
    event = index.event(seq)
    if event is None:
        return None
    cause: EventLink | None = None
    cause_missing = False
    if event.causation is not None:
        cause_seq = index.seq_of(event.causation)
        cause_type = index.type_of(cause_seq) if cause_seq is not None else None
        if cause_seq is not None and cause_type is not None:
            cause = EventLink(cause_seq, cause_type)
        else:
            cause_missing = True
    effect_seqs = index.effects(event.id)
    effects = [EventLink(s, index.type_of(s) or "?") for s in effect_seqs[:MAX_EFFECT_LINKS]]
    job_id = job_of(index, event.id, event.type, event.causation)
    job = get_state().view(project_id, "jobs").get(job_id) if job_id else None
    return Inspection(
        project_id=project_id,
        event=event,
        json_text=event_json(event),
        cause=cause,
        cause_missing=cause_missing,
        effects=effects,
        effects_total=len(effect_seqs),
        effect_types=index.count_types(effect_seqs),
        job_status=job.status if job is not None else None,
        job_error=job.error if job is not None else None,
    )


def job_of(index: EventIndex, event_id: str, event_type: str, causation: str | None) -> str | None:
    """The job an event belongs to: its own (a command) or its command's; None for neither."""
    if event_type.endswith("Requested"):
        return event_id
    if causation is not None:
        cause_seq = index.seq_of(causation)
        cause_type = index.type_of(cause_seq) if cause_seq is not None else None
        if cause_type is not None and cause_type.endswith("Requested"):
            return causation
    return None


def inspection_key(project_id: str | None, seq: int | None) -> list[Any]:
    """What the inspector shows that can change after the event: its effects and its job's status.

    Cheap (no event is decoded but the selected one's row, cached): compared on every tick.
    """
    index = project_index(project_id) if seq is not None else None
    row = index.row(seq) if index is not None and seq is not None else None
    if index is None or row is None or project_id is None:
        return [seq]
    job_id = job_of(index, row.id, row.type, row.causation)
    job = get_state().view(project_id, "jobs").get(job_id) if job_id else None
    return [seq, len(index.effects(row.id)), job.status if job is not None else None]


def event_json(event: Event) -> str:
    """The event's full envelope, pretty-printed (cut, with a note, past ``MAX_JSON_CHARS``)."""
    text = json.dumps(event.to_dict(), indent=2, ensure_ascii=False)
    if len(text) > MAX_JSON_CHARS:
        cut = len(text) - MAX_JSON_CHARS
        text = (
            text[:MAX_JSON_CHARS]
            + f"\n… {cut:,} more characters not shown (see `aistudio events` with --json)"
        )
    return text


def clicked_seq(triggered: Sequence[dict[str, Any]]) -> int | None:
    """The seq of the row or link really clicked, from ``dash.ctx.triggered``.

    Rows re-rendered by a refresh also trigger the selection callback, with no clicks: those
    are ignored (None).
    """
    for item in triggered:
        if not item.get("value"):
            continue
        prop_id = str(item.get("prop_id", ""))
        try:
            component_id = json.loads(prop_id.rsplit(".", 1)[0])
        except ValueError:
            continue
        if isinstance(component_id, dict) and isinstance(component_id.get("seq"), int):
            return int(component_id["seq"])
    return None


# ---------------------------------------------------------------------- components
def type_badge(event_type: str) -> html.Span:
    """The type of an event in its category's colour."""
    key = category(event_type)
    label, icon = CATEGORIES[key]
    return html.Span(
        [html.I(className=f"bi bi-{icon} me-1"), event_type],
        className=f"badge history-badge history-badge-{key}",
        title=f"{label} event",
    )


def actor_chip(actor: str) -> html.Span:
    """Who appended an event, with an icon."""
    icon = ACTOR_ICONS.get(actor, "question-circle")
    return html.Span(
        [html.I(className=f"bi bi-{icon} me-1"), actor], className="history-actor text-nowrap"
    )


def table_rows(table: HistoryTable, selected: int | None) -> list[html.Tr]:
    """The table body: one clickable row per event, or an empty state when none matches."""
    if not table.rows:
        return [
            html.Tr(
                html.Td(
                    [
                        html.I(className="bi bi-funnel me-2"),
                        "No event matches these filters. ",
                        html.Span("Clear them to see the whole log.", className="fw-semibold"),
                    ],
                    colSpan=5,
                    className="text-center text-body-secondary py-5",
                ),
                className="history-empty",
            )
        ]
    rows = []
    for row in table.rows:
        failed = row.type == "JobFailed"
        rows.append(
            html.Tr(
                [
                    html.Td(f"#{row.seq}", className="history-seq font-monospace"),
                    html.Td(full_time(row.ts), className="history-time", title=row.ts),
                    html.Td(type_badge(row.type)),
                    html.Td(actor_chip(row.actor), className="small"),
                    html.Td(
                        row.summary,
                        className="history-summary" + (" text-danger" if failed else ""),
                        title=row.summary,
                    ),
                ],
                id={"type": "history-row", "seq": row.seq},
                className="history-row"
                + (" table-active history-selected" if row.seq == selected else ""),
            )
        )
    return rows


def count_text(table: HistoryTable) -> str:
    """``Showing 1-50 of 1,234 events`` (with an en dash)."""
    if not table.matching:
        text = f"No matching events · {table.last_seq:,} in the log"
    else:
        last = table.first_shown + len(table.rows) - 1
        word = "event" if table.matching == 1 else "events"
        text = f"Showing {table.first_shown:,}\u2013{last:,} of {table.matching:,} {word}"
    if table.hidden_progress:
        word = "event" if table.hidden_progress == 1 else "events"
        text += f" · {table.hidden_progress:,} progress {word} hidden"
    if table.hidden_selection is not None and table.hidden_selection <= table.last_seq:
        text += f" · the selected #{table.hidden_selection} is hidden by the filters"
    return text


def type_options(counts: dict[str, int]) -> list[dict[str, str]]:
    """Dropdown options for the types present, with their counts."""
    return [{"label": f"{name} ({count:,})", "value": name} for name, count in counts.items()]


def actor_options(counts: dict[str, int]) -> list[dict[str, str]]:
    """Dropdown options for the actors present, with their counts."""
    return [{"label": f"{name} ({count:,})", "value": name} for name, count in counts.items()]


def event_link(link: EventLink, outline: bool = True) -> dbc.Button:
    """A button selecting another event."""
    return dbc.Button(
        [html.I(className=f"bi bi-{CATEGORIES[category(link.type)][1]} me-1"), link.label],
        id={"type": "history-goto", "seq": link.seq},
        color="secondary",
        outline=outline,
        size="sm",
        className="history-link me-1 mb-1",
    )


def inspector_body(inspection: Inspection | None, seq: int | None) -> list[Component]:
    """The inspector's summary: the event, its job, its cause and its effects."""
    if inspection is None:
        if seq is not None:
            return [
                dbc.Alert(
                    [html.I(className="bi bi-exclamation-triangle me-2"), f"No event #{seq} here."],
                    color="warning",
                    className="mb-0",
                )
            ]
        return [
            html.Div(
                [
                    html.I(className="bi bi-cursor display-6 text-body-secondary"),
                    html.H6("Select an event", className="mt-3"),
                    html.P(
                        "Click a row to see its full JSON, what caused it and what it caused, "
                        "and to view any page of the project as it was right after it.",
                        className="text-body-secondary small mb-0",
                    ),
                ],
                className="text-center py-4 empty-state",
            )
        ]
    event = inspection.event
    meta = html.Div(
        [
            type_badge(event.type),
            html.Span(f"#{event.seq}", className="ms-2 fw-semibold font-monospace"),
            html.Div(
                [
                    html.I(className="bi bi-clock me-1"),
                    full_time(event.ts) + " UTC",
                    html.Span(" · ", className="mx-1"),
                    actor_chip(event.actor),
                ],
                className="small text-body-secondary mt-2",
            ),
        ],
        className="mb-3",
    )
    parts: list[Component] = [meta]
    if inspection.job_status is not None:
        job_line: list[Component] = [
            html.Span("Job ", className="text-body-secondary me-1"),
            dbc.Badge(
                inspection.job_status,
                color=JOB_STATUS_COLORS.get(inspection.job_status, "secondary"),
                id="history-job-status",
            ),
        ]
        if inspection.job_error:
            job_line.append(
                html.Div(inspection.job_error, className="small text-danger mt-1 history-error")
            )
        parts.append(html.Div(job_line, className="mb-3"))
    if inspection.cause is not None:
        parts.append(
            html.Div(
                [
                    html.Div("Caused by", className="history-section-title"),
                    event_link(inspection.cause, outline=False),
                ],
                className="mb-3",
                id="history-cause",
            )
        )
    elif inspection.cause_missing:
        parts.append(
            html.Div(
                [
                    html.Div("Caused by", className="history-section-title"),
                    html.Span(
                        f"{event.causation} (not in this log)", className="small font-monospace"
                    ),
                ],
                className="mb-3",
                id="history-cause",
            )
        )
    if inspection.effects_total:
        kinds = " · ".join(
            f"{name} \u00d7{count:,}" if count > 1 else name
            for name, count in inspection.effect_types.items()
        )
        more = inspection.effects_total - len(inspection.effects)
        parts.append(
            html.Div(
                [
                    html.Div(
                        f"Caused {inspection.effects_total:,} "
                        + ("event" if inspection.effects_total == 1 else "events"),
                        className="history-section-title",
                    ),
                    html.Div(kinds, className="small text-body-secondary mb-2"),
                    html.Div(
                        [event_link(link) for link in inspection.effects]
                        + (
                            [html.Span(f"and {more:,} more", className="small ms-1")]
                            if more
                            else []
                        )
                    ),
                ],
                className="mb-3",
                id="history-effects",
            )
        )
    return parts


TRAVEL_PAGES: tuple[tuple[str, str, str], ...] = (
    ("dataset", "dataset", "images"),
    ("split", "split", "diagram-3"),
    ("train", "training", "cpu"),
    ("evaluate", "evaluation", "clipboard-data"),
    ("export", "exports", "box-arrow-up-right"),
)
"""(page key, what the link shows, icon) of each page the inspector can show as of an event."""


def travel_buttons() -> html.Div:
    """The time-travel links of the selected event (filled by a callback)."""
    return html.Div(
        [
            html.Div("Time travel", className="history-section-title"),
            html.Div(
                [
                    dbc.Button(
                        travel_label(page, None),
                        id=f"history-travel-{page}",
                        color="primary",
                        outline=True,
                        size="sm",
                        disabled=True,
                        className="me-2 mb-1",
                    )
                    for page, _what, _icon in TRAVEL_PAGES
                ]
            ),
            html.Small(
                "Read-only views of the project as it was right after this event.",
                className="text-body-secondary",
            ),
        ],
        className="mb-3",
    )


def filters(project_id: str, index: EventIndex) -> dbc.Row:
    """The filter bar: types, actors and a seq range, kept per project for the session."""
    persist = {"persistence": project_id, "persistence_type": "session"}
    return dbc.Row(
        [
            dbc.Col(
                dcc.Dropdown(
                    id="history-filter-type",
                    options=type_options(index.type_counts()),
                    multi=True,
                    placeholder="All types",
                    maxHeight=360,
                    className="history-dropdown",
                    **persist,
                ),
                md=3,
            ),
            dbc.Col(
                dcc.Dropdown(
                    id="history-filter-actor",
                    options=actor_options(index.actor_counts()),
                    multi=True,
                    placeholder="All actors",
                    maxHeight=360,
                    className="history-dropdown",
                    **persist,
                ),
                md=3,
            ),
            dbc.Col(
                dbc.InputGroup(
                    [
                        dbc.InputGroupText("#"),
                        dbc.Input(
                            id="history-filter-from",
                            type="number",
                            min=1,
                            step=1,
                            placeholder="from",
                            debounce=True,
                            **persist,
                        ),
                        dbc.Input(
                            id="history-filter-to",
                            type="number",
                            min=1,
                            step=1,
                            placeholder="to",
                            debounce=True,
                            **persist,
                        ),
                    ],
                    size="sm",
                ),
                md=3,
            ),
            dbc.Col(
                [
                    html.Div(
                        dbc.Switch(
                            id=HIDE_PROGRESS,
                            label="Hide progress",
                            value=True,
                            className="mb-0 small text-nowrap",
                            **persist,
                        ),
                        title="Leave out JobProgress events (a running job appends one every "
                        "few seconds); picking that type in the type filter shows them anyway",
                    ),
                    dbc.Button(
                        html.I(className="bi bi-x-circle"),
                        id="history-filter-clear",
                        color="link",
                        size="sm",
                        title="Clear filters",
                        className="text-body-secondary ms-auto",
                    ),
                ],
                md=3,
                className="d-flex align-items-center",
            ),
        ],
        className="g-2 align-items-center",
    )


def skipped_notice(skipped: Sequence[SkippedEvent]) -> html.Div:
    """The events the views did not read (kept in the log): one line each, with a link that
    selects the event; an empty block when there are none."""
    if not skipped:
        return html.Div(id="history-skipped")
    items = [
        html.Li(
            [
                event_link(EventLink(s.seq, s.type)),
                html.Span(f"not read by this version: seq {s.seq}, {s.reason}"),
            ],
            className="mb-1",
        )
        for s in skipped
    ]
    count = f"{len(skipped):,} event{'s' if len(skipped) != 1 else ''}"
    return html.Div(
        dbc.Alert(
            [
                html.Div(
                    [
                        html.I(className="bi bi-exclamation-triangle me-2"),
                        f"{count} of this log not read by this version",
                    ],
                    className="fw-semibold mb-1",
                ),
                html.P(
                    "They are kept in the log and skipped by every view that cannot read them "
                    "(written by a newer version of AI Studio, or not valid for their type); "
                    "anything that depends on them is not shown.",
                    className="mb-2 small",
                ),
                html.Ul(items, className="mb-0 ps-3 small history-skipped-list"),
            ],
            color="warning",
            className="mb-4",
        ),
        id="history-skipped",
    )


def history_layout(project_id: str | None, seq: Any = None) -> html.Div:
    """The History page of ``project_id`` (``seq``: the event to preselect, from ``?seq=N``)."""
    try:
        index = project_index(project_id)
    except LogCorruptedError as exc:
        return damaged_log(project_id, str(exc))
    if index is None or project_id is None:
        return project_not_found(project_id)
    selected = parse_seq(seq)
    header = html.Div(
        [
            html.Div(
                [
                    html.H3(
                        [html.I(className="bi bi-clock-history me-2"), "History"], className="mb-1"
                    ),
                    html.P(
                        "Every change to this project, as recorded in its event log. Select an "
                        "event to inspect it, follow its causes and effects, or see the project "
                        "as it was right after it.",
                        className="text-body-secondary mb-0",
                    ),
                ]
            ),
            dbc.Badge(
                f"{index.last_seq:,} events",
                id="history-total",
                color="secondary",
                pill=True,
                className="ms-auto align-self-start history-total",
            ),
        ],
        className="d-flex gap-3 mb-4",
    )
    table_card = dbc.Card(
        [
            dbc.CardHeader(filters(project_id, index), className="history-filters"),
            html.Div(
                dbc.Table(
                    [
                        html.Thead(
                            html.Tr(
                                [
                                    html.Th("#", className="history-seq"),
                                    # Wide enough for the whole timestamp, milliseconds too.
                                    html.Th("Time (UTC)", style={"width": "13rem"}),
                                    html.Th("Type"),
                                    html.Th("Actor"),
                                    html.Th("Summary"),
                                ]
                            )
                        ),
                        html.Tbody(id="history-tbody"),
                    ],
                    id="history-table",
                    hover=True,
                    size="sm",
                    className="mb-0 history-table align-middle",
                ),
                className="table-responsive",
            ),
            dbc.CardFooter(
                [
                    html.Small(id="history-count", className="text-body-secondary"),
                    html.Div(
                        dbc.Pagination(
                            id="history-pagination",
                            max_value=1,
                            active_page=1,
                            fully_expanded=False,
                            first_last=True,
                            previous_next=True,
                            size="sm",
                            className="mb-0",
                        ),
                        id="history-pager",
                    ),
                ],
                className="d-flex justify-content-between align-items-center flex-wrap gap-2",
            ),
        ],
        className="shadow-sm",
    )
    inspector_card = dbc.Card(
        [
            dbc.CardHeader(
                [
                    html.Span(
                        [html.I(className="bi bi-braces me-2"), "Inspector"],
                        className="fw-semibold",
                    ),
                    html.Div(
                        [
                            dcc.Clipboard(
                                target_id="history-inspector",
                                title="Copy the event's JSON",
                                className="btn btn-sm btn-link text-body-secondary p-0 me-2",
                            ),
                            dbc.Button(
                                html.I(className="bi bi-x-lg"),
                                id="history-inspector-close",
                                color="link",
                                size="sm",
                                title="Clear the selection",
                                className="text-body-secondary p-0",
                            ),
                        ],
                        className="ms-auto d-flex align-items-center",
                    ),
                ],
                className="d-flex align-items-center",
            ),
            dbc.CardBody(
                [
                    html.Div(id="history-inspector-body"),
                    html.Div(travel_buttons(), id="history-travel", style={"display": "none"}),
                    html.Pre(id="history-inspector", className="history-json mb-0", hidden=True),
                ]
            ),
        ],
        className="shadow-sm history-inspector-card",
    )
    return html.Div(
        [
            dcc.Store(id="history-project", data=project_id),
            dcc.Store(id="history-selected", data=selected),
            dcc.Store(id="history-seen"),
            dcc.Store(id="history-inspector-seen"),
            header,
            skipped_notice(get_state().skipped(project_id)),
            dbc.Row(
                [
                    dbc.Col(table_card, xl=7, xxl=8, className="mb-4"),
                    dbc.Col(inspector_card, xl=5, xxl=4),
                ]
            ),
        ],
        className="history-page",
    )


# ---------------------------------------------------------------------- callback logic
def table_update(
    project_id: str | None,
    trigger: str | None,
    query: Query,
    active_page: int | None,
    selected: int | None,
    seen: Any,
) -> tuple[Any, ...]:
    """The outputs of the table callback (see :func:`update_table`).

    ``seen`` is what the table shows (:func:`shown_key` of its last answer). A tick skips only
    when nothing differs from it, not merely when no event came: Dash drops the answer of a
    request still in flight when the same callback is asked again, so a filter change that a
    tick overtook would otherwise never be shown (seen in Chromium: the progress switch turned
    off, the table unchanged).

    Raises:
        PreventUpdate: a tick found nothing new, or the project is gone.
    """
    if trigger == TICK:
        index = project_index(project_id)
        if index is None or seen == shown_key(index.last_seq, query, active_page, selected):
            raise PreventUpdate
    page = 1 if trigger in FILTER_IDS else active_page
    jump = trigger in (None, SELECTED)
    table = history_table(project_id, query, page, selected, jump=jump)
    if table is None:
        raise PreventUpdate
    return (
        table_rows(table, selected),
        table.pages,
        table.page,
        {"display": "none"} if table.pages <= 1 else {},
        count_text(table),
        type_options(table.type_counts),
        actor_options(table.actor_counts),
        f"{table.last_seq:,} events",
        shown_key(table.last_seq, query, table.page, selected),
    )


def shown_key(last_seq: int, query: Query, page: int | None, selected: int | None) -> list[Any]:
    """What a rendered table page depends on, as it comes back from the browser (JSON)."""
    return [
        last_seq,
        sorted(query.types),
        sorted(query.actors),
        query.seq_from,
        query.seq_to,
        sorted(query.hidden),
        page or 1,
        selected,
    ]


def selection_update(
    trigger: Any, triggered: Sequence[dict[str, Any]], close_clicks: int | None
) -> int | None:
    """The new selection after a click on a row, an event link or the inspector's close button.

    Raises:
        PreventUpdate: nothing was really clicked (rows re-rendered by a refresh).
    """
    if trigger == "history-inspector-close":
        if not close_clicks:
            raise PreventUpdate
        return None
    seq = clicked_seq(triggered)
    if seq is None:
        raise PreventUpdate
    return seq


def inspector_update(
    project_id: str | None, selected: int | None, trigger: str | None, seen: Any
) -> tuple[Any, ...]:
    """The outputs of the inspector callback (see :func:`update_inspector`).

    Raises:
        PreventUpdate: a tick changed nothing the inspector shows.
    """
    key = inspection_key(project_id, selected)
    if trigger == TICK and key == seen:
        raise PreventUpdate
    inspection = inspect_event(project_id, selected)
    body = inspector_body(inspection, selected)
    pages = [page for page, _what, _icon in TRAVEL_PAGES]
    if inspection is None:
        links = [value for _page in pages for value in (None, True)]
        labels = [travel_label(page, None) for page in pages]
        return (body, "", True, {"display": "none"}, *links, *labels, key)
    seq = inspection.event.seq
    links = [value for page in pages for value in (inspection.page_href(page), False)]
    labels = [travel_label(page, seq) for page in pages]
    return (body, inspection.json_text, False, {}, *links, *labels, key)


def travel_label(page: str, seq: int | None) -> list[Component]:
    """The label of a time-travel link to ``page`` (a key of :data:`TRAVEL_PAGES`)."""
    what, icon = next((w, i) for p, w, i in TRAVEL_PAGES if p == page)
    return [html.I(className=f"bi bi-{icon} me-1"), f"View {what} as of #{seq or '…'}"]
