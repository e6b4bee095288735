"""Times as people read them: event timestamps, dates, "3 min ago", durations."""

from __future__ import annotations

from datetime import datetime, timezone


def parse_ts(ts: str | None) -> datetime | None:
    """An event's ISO time (``2026-11-28T12:00:00.123Z``) as an aware datetime, or None."""
    if not ts:
        return None
    try:
        moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def full_time(ts: str | None) -> str:
    """An event's whole timestamp in UTC, to the millisecond: ``2026-11-28 12:00:00.123``.

    A timestamp that does not parse is shown as written (``—`` when there is none).
    """
    moment = parse_ts(ts)
    if moment is None:
        return ts or "—"
    utc = moment.astimezone(timezone.utc)
    return f"{utc:%Y-%m-%d %H:%M:%S}.{utc.microsecond // 1000:03d}"


def format_date(ts: str | None) -> str:
    """A date in this machine's time zone, ``28 Nov 2026`` (``—`` when unknown)."""
    moment = parse_ts(ts)
    if moment is None:
        return "—"
    local = moment.astimezone()
    return f"{local.day} {local:%b %Y}"


def ago(ts: str | None, now: datetime | None = None) -> str:
    """``just now``, ``3 min ago``, ``2 h ago``, ``yesterday``, ``5 days ago`` (``""`` if unknown).

    Args:
        ts: an event's ISO time.
        now: the time to compare with (the current time by default).
    """
    moment = parse_ts(ts)
    if moment is None:
        return ""
    seconds = ((now or datetime.now(timezone.utc)) - moment).total_seconds()
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{max(round(seconds / 60), 1)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 2 * 86400:
        return "yesterday"
    return f"{int(seconds // 86400)} days ago"
