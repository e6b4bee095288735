"""Finding an event by id (``EventLog.get``, the duplicate-id check), next to a bare search.

``python -m bench lookup`` builds a log of :data:`EVENTS` progress events (about 20 MB), then
times, each beside a baseline from the same run:

- ``get()`` of the last event, of the first, and of an id the log does not hold, versus
  ``mmap.find`` of the same id's bytes over the same file (the least any lookup must do);
- the same log where some lines were written by a script with ``json.dumps`` spacing (found
  since issue 9: a lookup used to search only the compact ``"id":"…"`` text).

The ratio is ours / baseline.
"""

from __future__ import annotations

import json
import mmap
import tempfile
from pathlib import Path

from bench.common import Row, print_table, timed

EVENTS = 100_000
BATCH = 100
JOB_ID = "evt-0123456789abcdef"
MISSING = "evt-ffffffffffffffff"


def _build(path: Path) -> tuple[str, str]:
    from events import EventLog, NewEvent

    log = EventLog(path)
    for start in range(0, EVENTS, BATCH):
        log.append_many(
            [
                NewEvent(
                    "JobProgress",
                    {"job_id": JOB_ID, "done": i, "total": EVENTS, "message": f"step {i}"},
                    actor="job",
                    causation=JOB_ID,
                )
                for i in range(start, start + BATCH)
            ]
        )
    events = list(log.read())
    return events[0].id, events[-1].id


def _respaced(path: Path, every: int = 1000) -> None:
    """Rewrite every ``every``-th line and the last with ``json.dumps`` default spacing (as a
    script appending by hand writes them)."""
    lines = path.read_bytes().splitlines(keepends=True)
    last = len(lines) - 1
    out = [
        (json.dumps(json.loads(line)) + "\n").encode() if i % every == 0 or i == last else line
        for i, line in enumerate(lines)
    ]
    path.write_bytes(b"".join(out))


def _bare_find(path: Path, event_id: str) -> int:
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        return mm.find(f'"{event_id}"'.encode())


def _rows(path: Path, first: str, last: str, label: str) -> list[Row]:
    from events import EventLog

    log = EventLog(path)
    rows = []
    for what, event_id in (("last event", last), ("first event", first), ("missing id", MISSING)):
        ours = timed(lambda e=event_id: log.get(e), repeat=5) * 1e3
        base = timed(lambda e=event_id: _bare_find(path, e), repeat=5) * 1e3
        goal = "< 1 ms" if what == "first event" else "<= 3x"  # a near-zero baseline
        rows.append(Row(f"get() of the {what}{label}", ours, "ms", "mmap.find", base, goal))
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        first, last = _build(path)
        rows = _rows(path, first, last, "")
        _respaced(path)
        rows += _rows(path, first, last, " (script-spaced lines)")
    print_table(f"Event lookup by id ({EVENTS:,} events, {path.name})", rows)
