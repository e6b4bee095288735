"""Time travel: a page shown as it was right after one event, read-only, with a way back."""

from __future__ import annotations

from datetime import datetime

import dash_bootstrap_components as dbc
from dash import html

from ui.components.timefmt import ago, parse_ts


def parse_at(raw: str | None) -> int | None:
    """The ``?at=SEQ`` query value as a seq, or None (absent or not a positive integer)."""
    if raw is None or raw == "":
        return None
    try:
        seq = int(raw)
    except (TypeError, ValueError):
        return None
    return seq if seq >= 1 else None


def time_travel_banner(page_path: str, seq: int, event_type: str, ts: str) -> dbc.Alert:
    """The banner of a page shown as of ``seq``: what it shows and a link back to now."""
    return dbc.Alert(
        [
            html.I(className="bi bi-clock-history me-2"),
            html.Span(
                [
                    "Time travel: read-only view as it was right after event ",
                    html.B(f"#{seq}"),
                    f" ({event_type}, {ts[:19].replace('T', ' ')}).",
                ]
            ),
            dbc.Button(
                "Back to now",
                href=page_path,
                color="warning",
                size="sm",
                className="ms-3",
                id="time-travel-back",
            ),
        ],
        color="warning",
        className="d-flex align-items-center time-travel-banner",
        id="time-travel-banner",
    )


def when_text(ts: str | None, now: datetime, past: bool) -> str:
    """``3 min ago``; in a view of the past (``past``) the whole time instead,
    ``2 Dec 2026 04:31`` (this machine's time zone): "3 min ago" would count from today, not
    from the event the page shows."""
    if not past:
        return ago(ts, now)
    moment = parse_ts(ts)
    if moment is None:
        return ""
    local = moment.astimezone()
    return f"{local.day} {local:%b %Y %H:%M}"
