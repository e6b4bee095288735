"""The integrity check behind ``aistudio verify``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from events.envelope import ACTORS, EVENT_ID_PATTERN
from events.errors import EventLogError, InvalidEventError, LogCorruptedError
from events.reader import parse_committed
from events.registry import SchemaRegistry
from events.registry import registry as default_registry


@dataclass
class Problem:
    """One finding: ``error`` breaks the log's promises, ``warning`` does not.

    ``seq`` is the event's seq when the finding is about one committed event (whose line number
    it is too); events that this version cannot read (``unreadable``: a newer version, data
    invalid for its schema) are kept in the log and skipped by the views.
    """

    severity: str
    line: int
    message: str
    seq: int | None = None
    unreadable: bool = False


@dataclass
class VerifyReport:
    """What :func:`verify_log` found."""

    path: str
    events: int = 0
    last_seq: int = 0
    bytes_committed: int = 0
    torn_tail_bytes: int = 0
    types: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no error was found (warnings allowed)."""
        return not any(p.severity == "error" for p in self.problems)

    def to_dict(self) -> dict[str, object]:
        """The report as plain JSON-able data."""
        return {
            "path": self.path,
            "ok": self.ok,
            "events": self.events,
            "last_seq": self.last_seq,
            "bytes_committed": self.bytes_committed,
            "torn_tail_bytes": self.torn_tail_bytes,
            "types": self.types,
            "problems": [p.__dict__ for p in self.problems],
        }


def verify_log(path: str | Path, registry: SchemaRegistry | None = None) -> VerifyReport:
    """Check a whole log: framing, seqs, ids, actors, causations and every event's schema."""
    registry = registry if registry is not None else default_registry
    path = Path(path)
    report = VerifyReport(path=str(path))
    try:
        buf = path.read_bytes()
    except FileNotFoundError:
        report.problems.append(Problem("error", 0, "the log does not exist"))
        return report
    try:
        chunk = parse_committed(buf, path=path)
    except LogCorruptedError as exc:
        report.problems.append(Problem("error", exc.line_no, str(exc)))
        return report
    report.events = len(chunk.events)
    report.last_seq = chunk.last_seq
    report.bytes_committed = chunk.end_offset
    report.torn_tail_bytes = chunk.tail_bytes
    if chunk.tail_bytes:
        report.problems.append(
            Problem(
                "warning",
                chunk.lines + 1,
                f"torn tail of {chunk.tail_bytes} bytes (an interrupted append); "
                "readers ignore it and the next append cuts it",
            )
        )
    seen_ids: set[str] = set()
    types: Counter[str] = Counter()
    for line_no, event in enumerate(chunk.events, start=1):
        types[event.type] += 1
        if not EVENT_ID_PATTERN.match(event.id):
            report.problems.append(Problem("error", line_no, f"malformed event id {event.id!r}"))
        if event.id in seen_ids:
            report.problems.append(Problem("error", line_no, f"event id {event.id} repeats"))
        seen_ids.add(event.id)
        if event.actor not in ACTORS:
            report.problems.append(Problem("error", line_no, f"unknown actor {event.actor!r}"))
        if event.causation is not None and event.causation not in seen_ids:
            report.problems.append(
                Problem("warning", line_no, f"causation {event.causation} is not an earlier event")
            )
        if event.type not in registry:
            report.problems.append(
                Problem(
                    "warning",
                    line_no,
                    f"seq {event.seq}: unknown event type {event.type!r} (kept, skipped)",
                    event.seq,
                )
            )
            continue
        if event.v > registry.get(event.type).version:
            problem = str(registry.version_problem(event.type, event.v))
            report.problems.append(_unreadable("warning", line_no, event.seq, problem))
            continue
        try:
            _, data = registry.upcast(event.type, event.v, event.data)
            registry.validate(event.type, data)
        except (InvalidEventError, EventLogError) as exc:
            report.problems.append(_unreadable("error", line_no, event.seq, str(exc)))
    report.types = dict(sorted(types.items()))
    return report


def _unreadable(severity: str, line_no: int, seq: int, reason: str) -> Problem:
    """The finding of an event the views cannot read: kept in the log, skipped by them."""
    message = f"seq {seq}: {reason} (kept in the log, skipped by the views)"
    return Problem(severity, line_no, message, seq, unreadable=True)
