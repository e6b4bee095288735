"""The incremental reader (``LogTail``) never misses nor repeats an event (DESIGN §3, 6).

However appends, partial writes, torn tails and polls interleave, the events a tail has
returned always equal a full read of the log at that moment.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import Event, EventLog, EventLogError, NewEvent
from tests.events._support import build_log, dicts, images, new_progress, progress

_names = itertools.count()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tails")


@pytest.fixture(scope="module")
def reference(folder: Path) -> bytes:
    """The bytes of a log of singles and batches, one batch of them large."""
    path = folder / "reference.jsonl"
    build_log(path, [1, 3, 1, 1, 2, 5, 1])
    big = NewEvent("ImagesAdded", images(0, 20), actor="job")
    EventLog(path).append_many([new_progress(0), *[new_progress(k) for k in range(3)], big])
    build_log(path, [1])
    return path.read_bytes()


def _full_read(path: Path) -> list[Event]:
    return EventLog(path).read_all().events


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_polls_between_partial_writes_equal_a_full_read(
    folder: Path, reference: bytes, data: st.DataObject
) -> None:
    path = folder / f"partial-{next(_names)}.jsonl"
    cuts = sorted(
        data.draw(st.sets(st.integers(0, len(reference)), max_size=25), label="write boundaries")
    )
    tail = EventLog(path).tail()
    assert tail.poll() == []  # no file yet
    seen: list[Event] = []
    written = 0
    for cut in [*cuts, len(reference)]:
        with path.open("ab") as file:
            file.write(reference[written:cut])
        written = cut
        for _ in range(data.draw(st.integers(0, 2), label="polls")):
            seen.extend(tail.poll())
            assert dicts(seen) == dicts(_full_read(path))
    seen.extend(tail.poll())
    assert dicts(seen) == dicts(EventLog(path).read_all().events)
    assert [e.seq for e in seen] == list(range(1, reference.count(b"\n") + 1))


def _torn_batch(last_seq: int, size: int) -> bytes:
    """The lines a batch appended after ``last_seq`` would have, to write only part of them."""
    first = last_seq + 1
    lines = []
    for offset in range(size):
        event = Event(
            first + offset,
            f"evt-{first + offset:016x}",
            "2026-11-28T12:00:00.000Z",
            "JobProgress",
            1,
            "job",
            None,
            progress(offset),
            (first, first + size - 1),
        )
        lines.append(event.to_line())
    return b"".join(lines)


OPS = st.one_of(
    st.tuples(st.just("append"), st.integers(1, 4)),
    st.tuples(st.just("torn"), st.integers(2, 4), st.floats(0.0, 0.999)),
    st.tuples(st.just("poll"), st.integers(1, 2)),
)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=st.lists(OPS, max_size=30))
def test_polls_between_appends_and_torn_tails_equal_a_full_read(
    folder: Path, ops: list[tuple]
) -> None:
    path = folder / f"appends-{next(_names)}.jsonl"
    writer = EventLog(path)
    tail = writer.tail()
    seen: list[Event] = []
    torn = False
    for op in ops:
        if op[0] == "append":
            if op[1] == 1:
                writer.append("JobProgress", progress(0), actor="job")
            else:
                writer.append_many([new_progress(k) for k in range(op[1])])
            torn = False  # the writer cut it
        elif op[0] == "torn" and not torn:
            # A writer was killed in the middle of a batch: part of its bytes are there.
            lines = _torn_batch(writer.last_seq(), op[1])
            last_line_start = lines.rstrip(b"\n").rfind(b"\n") + 1
            with path.open("ab") as file:
                file.write(lines[: int(last_line_start * op[2]) or 1])
            torn = True
        elif op[0] == "poll":
            for _ in range(op[1]):
                seen.extend(tail.poll())
                assert dicts(seen) == dicts(_full_read(path) if path.exists() else [])
    seen.extend(tail.poll())
    expected = _full_read(path) if path.exists() else []
    assert dicts(seen) == dicts(expected)
    assert [e.seq for e in seen] == list(range(1, len(seen) + 1))


def test_a_tail_follows_another_writer_and_sees_each_event_once(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    tail = EventLog(path).tail()
    writer = EventLog(path)
    writer.append("JobProgress", progress(1), actor="job")
    assert [e.seq for e in tail.poll()] == [1]
    assert tail.poll() == []
    writer.append_many([new_progress(2), new_progress(3)])
    writer.append("JobProgress", progress(4), actor="job")
    assert [e.seq for e in tail.poll()] == [2, 3, 4]
    assert tail.poll() == []
    assert (tail.last_seq, tail.offset) == (4, path.stat().st_size)


def test_a_replaced_log_is_an_error_not_a_silent_restart(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    build_log(path, [1, 1])
    tail = EventLog(path).tail()
    assert len(tail.poll()) == 2
    other = tmp_path / "other.jsonl"
    build_log(other, [1, 1, 1])
    other.replace(path)
    with pytest.raises(EventLogError, match="replaced"):
        tail.poll()
