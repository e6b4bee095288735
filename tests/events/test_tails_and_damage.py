"""Torn tails are ignored and cut; damage anywhere else stops readers at its line (DESIGN §3, 5)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from events import EventLog, LogCorruptedError, verify_log
from tests.events._support import build_log, dicts, line_ends, new_progress, progress

BASE_UNITS = [1, 1, 3, 1]  # lines 1, 2, a batch on lines 3-5, line 6
BASE_EVENTS = 6


@pytest.fixture
def base(tmp_path: Path) -> tuple[Path, bytes, list[bytes]]:
    """A log of 6 events, its bytes, and the next lines a writer would have appended.

    The next lines are a single event (seq 7) in ``next[0]`` and, in ``next[1:]``, the three
    lines of a batch (seqs 7-9) appended instead.
    """
    path = tmp_path / "events.jsonl"
    build_log(path, BASE_UNITS)
    raw = path.read_bytes()
    single, batch = tmp_path / "single.jsonl", tmp_path / "batch.jsonl"
    single.write_bytes(raw)
    batch.write_bytes(raw)
    EventLog(single).append("JobProgress", progress(7), actor="job")
    EventLog(batch).append_many([new_progress(k) for k in (7, 8, 9)])
    following = [single.read_bytes()[len(raw) :]]
    following += batch.read_bytes()[len(raw) :].splitlines(keepends=True)
    return path, raw, following


TAILS: dict[str, Callable[[list[bytes]], bytes]] = {
    "garbage bytes": lambda nxt: b"\x00\x17\xffgarbage",
    "garbage line": lambda nxt: b"not json at all\n",
    "zeros of a lost block": lambda nxt: b"\0" * 300,
    "several garbage lines": lambda nxt: b"x\n\ny\n\xff\xfe\n",
    "torn line without newline": lambda nxt: nxt[0][: len(nxt[0]) // 2],
    "complete line but its newline": lambda nxt: nxt[0][:-1],
    "unparseable last line": lambda nxt: b'{"seq": 7, "id": "evt-\n',
    "JSON that is no event": lambda nxt: b'{"hello": "world"}\n',
    "incomplete batch": lambda nxt: nxt[1] + nxt[2],
    "incomplete batch and a torn line": lambda nxt: nxt[1] + nxt[2] + nxt[3][:10],
    "batch with a lost middle line": lambda nxt: (
        nxt[1] + b"\0" * (len(nxt[2]) - 1) + b"\n" + nxt[3]
    ),
    "batch with its first line lost": lambda nxt: b"\0" * 40 + b"\n" + nxt[2] + nxt[3],
}


@pytest.mark.parametrize("make_tail", TAILS.values(), ids=TAILS.keys())
def test_a_torn_tail_is_ignored_by_readers_reported_and_cut_by_the_next_writer(
    base: tuple[Path, bytes, list[bytes]], make_tail: Callable[[list[bytes]], bytes]
) -> None:
    path, raw, following = base
    committed = EventLog(path).read_all().events
    tail = make_tail(following)
    path.write_bytes(raw + tail)

    log = EventLog(path)
    chunk = log.read_all()
    assert dicts(chunk.events) == dicts(committed)
    assert (chunk.end_offset, chunk.tail_bytes) == (len(raw), len(tail))
    assert log.last_seq() == BASE_EVENTS
    assert dicts(log.tail().poll()) == dicts(committed)
    for line in following:  # an event of an interrupted append is not committed
        event_id = line[line.find(b'"id":"') + 6 :][:20].decode()
        assert log.get(event_id) is None
    report = verify_log(path)
    assert report.ok
    assert report.torn_tail_bytes == len(tail)
    assert [p.severity for p in report.problems] == ["warning"]
    assert "torn tail" in report.problems[0].message

    new = EventLog(path).append("JobProgress", progress(70), actor="script")
    assert new.seq == BASE_EVENTS + 1
    assert path.read_bytes() == raw + new.to_line()
    assert verify_log(path).problems == []


def _lines(raw: bytes) -> list[bytes]:
    return raw.splitlines(keepends=True)


def _drop(index: int) -> Callable[[list[bytes], list[bytes]], list[bytes]]:
    return lambda lines, nxt: lines[:index] + lines[index + 1 :]


def _put(index: int, line: bytes) -> Callable[[list[bytes], list[bytes]], list[bytes]]:
    return lambda lines, nxt: [*lines[:index], line, *lines[index + 1 :]]


def _insert(
    index: int, make: Callable[[list[bytes]], bytes]
) -> Callable[[list[bytes], list[bytes]], list[bytes]]:
    return lambda lines, nxt: [*lines[:index], make(lines), *lines[index:]]


# name: (edit of the base lines, 1-based number of the damaged line, does the writer see it?)
DAMAGE: dict[str, tuple[Callable[[list[bytes], list[bytes]], list[bytes]], int, bool]] = {
    "bad JSON mid-file": (_put(2, b'{"seq":3,"id":\n'), 3, False),
    "JSON that is no event mid-file": (_put(1, b'{"hello":"world"}\n'), 2, False),
    "empty line mid-file": (_insert(2, lambda lines: b"\n"), 3, False),
    "seq gap mid-file": (_drop(1), 2, False),
    "seq repeat mid-file": (_insert(2, lambda lines: lines[1]), 3, False),
    "bad line inside a complete batch": (_put(3, b"\0" * 20 + b"\n"), 4, False),
    "batch line missing mid-file": (_drop(3), 4, False),
    "version 0": (
        lambda lines, nxt: [lines[0], lines[1].replace(b'"v":1', b'"v":0'), *lines[2:]],
        2,
        False,
    ),
    "single event inside a batch": (
        lambda lines, nxt: [*lines[:3], lines[3].replace(b',"txn":[3,5]', b""), *lines[4:]],
        4,
        False,
    ),
    "seq repeat at the end": (lambda lines, nxt: [*lines, lines[1]], 7, True),
    "batch line repeated at the end": (lambda lines, nxt: [*lines, lines[2]], 7, True),
    "seq gap at the end": (
        lambda lines, nxt: [*lines, nxt[0].replace(b'"seq":7', b'"seq":8')],
        7,
        True,
    ),
    "garbage then a complete event": (lambda lines, nxt: [*lines, b"garbage\n", nxt[0]], 7, True),
    "complete event after a torn batch": (lambda lines, nxt: [*lines, nxt[1], nxt[0]], 8, True),
}


@pytest.mark.parametrize(("edit", "line_no", "writer_sees"), DAMAGE.values(), ids=DAMAGE.keys())
def test_damage_stops_readers_at_its_line_and_verify_reports_it(
    base: tuple[Path, bytes, list[bytes]],
    edit: Callable[[list[bytes], list[bytes]], list[bytes]],
    line_no: int,
    writer_sees: bool,
) -> None:
    path, raw, following = base
    damaged = b"".join(edit(_lines(raw), following))
    path.write_bytes(damaged)
    log = EventLog(path)

    for read in (log.read_all, lambda: list(log.read()), lambda: log.tail().poll()):
        with pytest.raises(LogCorruptedError, match=f"line {line_no} ") as caught:
            read()
        assert caught.value.line_no == line_no
        assert caught.value.offset == ([0, *line_ends(damaged)])[line_no - 1]
    report = verify_log(path)
    assert not report.ok
    assert [(p.severity, p.line) for p in report.problems] == [("error", line_no)]

    if writer_sees:
        # Damage within the last append is seen by writers too: they refuse to append past it.
        with pytest.raises(LogCorruptedError, match=f"line {line_no} "):
            EventLog(path).append("JobProgress", progress(1), actor="script")
        with pytest.raises(LogCorruptedError, match=f"line {line_no} "):
            EventLog(path).last_seq()
        assert path.read_bytes() == damaged


def test_damage_after_what_a_writer_knows_names_the_right_line(
    base: tuple[Path, bytes, list[bytes]],
) -> None:
    path, _, following = base
    log = EventLog(path)
    log.append("JobProgress", progress(7), actor="job")  # this instance now knows the end
    tail = log.tail()
    assert len(tail.poll()) == 7
    with path.open("ab") as file:
        file.write(following[2])  # seq 8 of a batch 7-9: a seq repeat, on line 8
        file.write(following[0])
    with pytest.raises(LogCorruptedError, match="line 8 ") as caught:
        log.append("JobProgress", progress(9), actor="job")
    assert caught.value.line_no == 8
    with pytest.raises(LogCorruptedError, match="line 8 "):
        tail.poll()


def test_verify_reports_envelope_and_schema_errors_that_readers_let_through(
    base: tuple[Path, bytes, list[bytes]],
) -> None:
    path, raw, _ = base
    lines = _lines(raw)
    lines[1] = lines[1].replace(b'"actor":"job"', b'"actor":"robot"')
    lines[2] = lines[2].replace(b'"done":', b'"done":-')  # a batch line, invalid data
    first_id, sixth_id = (orjson.loads(lines[k])["id"].encode() for k in (0, 5))
    lines[5] = lines[5].replace(sixth_id, first_id)  # line 6 repeats line 1's id
    path.write_bytes(b"".join(lines))
    assert len(list(EventLog(path).read())) == BASE_EVENTS
    report = verify_log(path)
    assert not report.ok
    found = {(p.severity, p.line, p.message.split()[0]) for p in report.problems}
    assert found == {
        ("error", 2, "unknown"),
        ("error", 3, "seq"),
        ("error", 6, "event"),
    }, report.problems
    (schema,) = (p for p in report.problems if p.line == 3)
    assert schema.message.startswith("seq 3: JobProgress: done") and schema.seq == 3
