"""Every valid JSON line reads as its compact form: lookup by id, duplicate ids (DESIGN §3.4).

A script may write a line with ``json.dumps`` defaults (``", "`` and ``": "``), extra spaces,
its keys in another order, or escapes inside the id string: each is one valid event line, and
``get()``, the duplicate-id check of ``append``, the readers and ``verify`` must see it exactly
as they see the line ``EventLog`` itself writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from events import EventLog, verify_log
from events.index import iter_envelopes
from tests.events._support import JOB_ID, progress

RAW_ID = "evt-00000000000000f7"
FIRST_ID = "evt-00000000000000a1"
LAST_ID = "evt-00000000000000a3"


def _envelope(seq: int, event_id: str, *, causation: str | None = None) -> dict[str, Any]:
    return {
        "seq": seq,
        "id": event_id,
        "ts": "2026-01-01T00:00:00.000Z",
        "type": "JobProgress",
        "v": 1,
        "actor": "script",
        "causation": causation,
        "data": progress(seq),
    }


def _escaped_id(obj: dict[str, Any]) -> str:
    """The compact line with the id's hex digits written as ``\\u00XX`` escapes."""
    escaped = "".join(f"\\u{ord(c):04x}" if c in "0f" else c for c in obj["id"])
    return json.dumps(obj, separators=(",", ":")).replace(obj["id"], escaped, 1)


FORMATS: dict[str, Callable[[dict[str, Any]], str]] = {
    "json.dumps defaults": json.dumps,
    "extra spaces": lambda obj: json.dumps(obj, separators=("  ,  ", "  :  ")),
    "tabs around the line": lambda obj: "\t " + json.dumps(obj) + " \t",
    "keys in another order": lambda obj: json.dumps(dict(reversed(list(obj.items())))),
    "sorted keys, indent-free": lambda obj: json.dumps(obj, sort_keys=True),
    "escapes inside the id": _escaped_id,
}


def _log_with_raw_line(path: Path, fmt: Callable[[dict[str, Any]], str]) -> EventLog:
    """Seq 1 appended normally, seq 2 (``RAW_ID``) written raw in ``fmt``, seq 3 normally.

    Seq 3 mentions ``RAW_ID`` in its causation, so the id's text appears on another line too.
    """
    log = EventLog(path)
    log.append("JobProgress", progress(1), actor="job", causation=JOB_ID, id=FIRST_ID)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(fmt(_envelope(2, RAW_ID)) + "\n")
    EventLog(path).append("JobProgress", progress(3), actor="job", causation=RAW_ID, id=LAST_ID)
    return EventLog(path)


@pytest.fixture(params=list(FORMATS), ids=list(FORMATS))
def fmt(request: pytest.FixtureRequest) -> Callable[[dict[str, Any]], str]:
    return FORMATS[request.param]


def test_a_line_in_any_formatting_is_found_by_id(
    tmp_path: Path, fmt: Callable[[dict[str, Any]], str]
) -> None:
    log = _log_with_raw_line(tmp_path / "events.jsonl", fmt)
    found = log.get(RAW_ID)
    assert found is not None
    assert (found.seq, found.id, found.data) == (2, RAW_ID, progress(2))
    assert [e.seq for e in log.read()] == [1, 2, 3]


def test_an_append_with_the_id_of_such_a_line_stores_it_once(
    tmp_path: Path, fmt: Callable[[dict[str, Any]], str]
) -> None:
    path = tmp_path / "events.jsonl"
    log = _log_with_raw_line(path, fmt)
    before = path.read_bytes()
    again = log.append("JobProgress", progress(99), actor="job", id=RAW_ID)
    assert (again.seq, again.data) == (2, progress(2)), "the stored event, not a new one"
    assert path.read_bytes() == before, "nothing appended"
    # A fresh instance (no cached end) decides the same.
    assert EventLog(path).append("JobProgress", progress(99), actor="job", id=RAW_ID).seq == 2
    assert path.read_bytes() == before
    report = verify_log(path)
    assert report.ok, report.problems
    assert [p for p in report.problems if p.severity == "error"] == []


def test_a_batch_naming_such_an_id_among_new_ones_is_refused(
    tmp_path: Path, fmt: Callable[[dict[str, Any]], str]
) -> None:
    from events import InvalidEventError, NewEvent

    path = tmp_path / "events.jsonl"
    log = _log_with_raw_line(path, fmt)
    before = path.read_bytes()
    batch = [
        NewEvent("JobProgress", progress(7), actor="job", id=RAW_ID),
        NewEvent("JobProgress", progress(8), actor="job", id="evt-00000000000000a8"),
    ]
    with pytest.raises(InvalidEventError, match=RAW_ID):
        log.append_many(batch)
    assert path.read_bytes() == before


def test_such_a_line_reads_as_its_compact_form(
    tmp_path: Path, fmt: Callable[[dict[str, Any]], str]
) -> None:
    raw = _log_with_raw_line(tmp_path / "raw" / "events.jsonl", fmt)
    compact = _log_with_raw_line(tmp_path / "compact" / "events.jsonl", json.dumps)
    compact_path = compact.path
    lines = compact_path.read_bytes().splitlines(keepends=True)
    lines[1] = (json.dumps(_envelope(2, RAW_ID), separators=(",", ":")) + "\n").encode()
    compact_path.write_bytes(b"".join(lines))

    def summary(log: EventLog) -> list[tuple[Any, ...]]:
        return [(e.seq, e.id, e.type, e.v, e.actor, e.causation, e.data) for e in log.read()]

    assert summary(raw) == summary(EventLog(compact_path))
    raw_envelopes = [(b.ids, b.types, b.causations) for b in iter_envelopes(raw.path.read_bytes())]
    compact_envelopes = [
        (b.ids, b.types, b.causations) for b in iter_envelopes(compact_path.read_bytes())
    ]
    assert [tuple(map(list, x)) for x in raw_envelopes] == [
        tuple(map(list, x)) for x in compact_envelopes
    ]
    assert raw.last_seq() == 3
    assert [e.seq for e in raw.tail().poll()] == [1, 2, 3]


def test_an_id_inside_data_or_a_string_is_no_match(tmp_path: Path) -> None:
    """The id's text on other lines (a causation, a message, a key) never stands for the event."""
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.append("JobProgress", {**progress(1), "message": f'"id": "{RAW_ID}"'}, actor="job")
    log.append("JobProgress", progress(2), actor="job", causation=RAW_ID)
    assert log.get(RAW_ID) is None
    stored = log.append("JobProgress", progress(3), actor="job", id=RAW_ID)
    assert stored.seq == 3
    assert log.get(RAW_ID).seq == 3
    assert verify_log(path).ok
