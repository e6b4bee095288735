"""``EventLog.first``: the first committed event, from the first line alone when it can be."""

from __future__ import annotations

from pathlib import Path

import pytest

from events import EventLog, NewEvent
from events.errors import LogCorruptedError
from tests.events._support import progress


def test_missing_and_empty_logs_have_no_first_event(tmp_path: Path) -> None:
    assert EventLog(tmp_path / "missing.jsonl").first() is None
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert EventLog(empty).first() is None


def test_the_first_event_alone_and_as_part_of_a_batch(tmp_path: Path) -> None:
    alone = EventLog(tmp_path / "alone.jsonl")
    first = alone.append("JobProgress", progress(0), actor="job")
    for i in range(1, 5):
        alone.append("JobProgress", progress(i), actor="job")
    assert alone.first() == first == next(iter(alone.read()))

    batch = EventLog(tmp_path / "batch.jsonl")
    batch.append_many([NewEvent("JobProgress", progress(i), actor="job") for i in range(3)])
    found = batch.first()
    assert found is not None and found == next(iter(batch.read()))
    assert found.seq == 1 and found.data["done"] == 0


def test_a_torn_first_append_is_no_event_and_damage_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.append("JobProgress", progress(0), actor="job")
    whole = path.read_bytes()
    path.write_bytes(whole[:-5])  # the only append, torn (a crash while appending it)
    assert EventLog(path).first() is None
    path.write_bytes(b"not json\n" + whole)  # garbage before committed lines: damage
    with pytest.raises(LogCorruptedError):
        EventLog(path).first()
