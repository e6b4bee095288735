"""``verify`` lists each event the views cannot read, by seq and line, with the reason."""

from __future__ import annotations

from pathlib import Path

from events import Event, EventLog, verify_log


def _raw(path: Path, seq: int, event_type: str, v: int, data: dict) -> None:
    event = Event(
        seq, f"evt-{seq:016x}", "2026-01-01T00:00:00.000Z", event_type, v, "script", None, data
    )
    with path.open("ab") as handle:
        handle.write(event.to_line())


def test_unreadable_events_are_listed_with_their_seq_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.append("ProjectRenamed", {"name": "P"}, actor="cli")
    training = {"experiment_id": "exp-0000beef", "name": "x", "config": {}}
    _raw(path, 2, "TrainingRequested", 2, training)  # newer, split missing
    _raw(path, 3, "TrainingRequested", 1, training)  # current, split missing
    log.append("ProjectRenamed", {"name": "Q"}, actor="cli")

    report = verify_log(path)
    problems = [(p.severity, p.line, p.seq, p.unreadable) for p in report.problems]
    assert problems == [("warning", 2, 2, True), ("error", 3, 3, True)]
    newer, invalid = (p.message for p in report.problems)
    assert newer.startswith("seq 2: TrainingRequested v2 is newer than this version knows (v1)")
    assert "split" in invalid and invalid.startswith("seq 3: ")
    assert all("skipped by the views" in p.message for p in report.problems)
    assert report.to_dict()["problems"][0]["seq"] == 2
    # Both are kept: the log reads, and appends go on after them.
    assert [e.seq for e in log.read()] == [1, 2, 3, 4]
