"""Decoding in batches (``iter_committed``, ``LogTail.batches``) equals decoding line by line.

The batched reader checks whole batches of lines in C loops and falls back to the line-by-line
rule for batches that are not plain runs of single events. Whatever the batch size, it must
find the same committed prefix, the same torn tail and the same damaged line as that rule,
written out plainly here as the reference.
"""

from __future__ import annotations

import gc
import itertools
import weakref
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import Event, EventData, EventLog, LogCorruptedError, SchemaRegistry
from events.envelope import decode_line, decode_lines
from events.reader import PROMOTE_AFTER, gc_paused, iter_committed, parse_committed, tail_is_torn
from tests.events._support import build_log, dicts, progress

BATCH_SIZES = [1, 2, 90, 333, 1000, 1 << 18]
_names = itertools.count()


def _reference(buf: bytes, last_seq: int = 0) -> tuple[list[dict[str, Any]], int, int] | int:
    """``(events, end, last_seq)`` of the committed prefix, or the offset of the damaged line."""
    events: list[Event] = []
    pending: list[Event] = []
    committed_pos, committed_seq, pos = 0, last_seq, 0
    broke_at = None
    while (newline := buf.find(b"\n", pos)) != -1:
        event = decode_line(buf[pos:newline])
        expected = (pending[-1].seq if pending else committed_seq) + 1
        if event is None or event.seq != expected:
            broke_at = pos
            break
        if event.txn is None:
            if pending:
                broke_at = pos
                break
            events.append(event)
            committed_pos, committed_seq = newline + 1, event.seq
        else:
            first = pending[0].txn if pending else None
            if (pending and event.txn != first) or (not pending and event.txn[0] != event.seq):
                broke_at = pos
                break
            pending.append(event)
            if event.seq == event.txn[1]:
                events += pending
                pending = []
                committed_pos, committed_seq = newline + 1, event.seq
        pos = newline + 1
    if committed_pos < len(buf) and not tail_is_torn(buf[committed_pos:], committed_seq):
        return broke_at if broke_at is not None else committed_pos
    return dicts(events), committed_pos, committed_seq


_MISSING = object()


def _line(
    seq: int, txn: tuple[int, int] | None = None, changes: dict[str, Any] | None = None
) -> bytes:
    event = Event(
        seq, f"evt-{seq:016x}", "2026-11-28T12:00:00.000Z", "JobProgress", 1, "job", None,
        progress(seq), txn,
    )  # fmt: skip
    obj = event.to_dict()
    obj.update(changes or {})
    obj = {k: v for k, v in obj.items() if v is not _MISSING}
    return orjson.dumps(obj) + b"\n"


def _lines_of(units: list[int], first: int = 1) -> list[bytes]:
    """The lines of appends of ``units`` events each (n > 1: a multi-event append)."""
    lines = []
    seq = first
    for size in units:
        txn = (seq, seq + size - 1) if size > 1 else None
        lines += [_line(seq + k, txn) for k in range(size)]
        seq += size
    return lines


EDITS = st.one_of(
    st.tuples(st.just("cut"), st.floats(0, 1)),  # a torn end
    st.tuples(st.just("drop"), st.floats(0, 1)),
    st.tuples(st.just("repeat"), st.floats(0, 1)),
    st.tuples(st.just("garbage"), st.floats(0, 1), st.sampled_from([b"x", b"", b"[]", b"{}"])),
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 400)),
    st.tuples(st.just("version 0"), st.floats(0, 1)),
    st.tuples(st.just("no txn"), st.floats(0, 1)),
)


def _edit(lines: list[bytes], edit: tuple[Any, ...]) -> bytes:
    if not lines:
        return b""
    at = min(int(edit[1] * len(lines)), len(lines) - 1)
    kind = edit[0]
    if kind == "cut":
        return b"".join(lines)[: int(edit[1] * sum(map(len, lines)))]
    if kind == "drop":
        del lines[at]
    elif kind == "repeat":
        lines.insert(at, lines[at])
    elif kind == "garbage":
        lines.insert(at, edit[2] + b"\n")
    elif kind == "flip":
        line = bytearray(lines[at])
        if len(line) > 1:  # an empty garbage line is only its newline: nothing to flip
            line[edit[2] % (len(line) - 1)] ^= 0x5A  # never the newline
        lines[at] = bytes(line)
    elif kind == "version 0":
        lines[at] = lines[at].replace(b'"v":1', b'"v":0')
    elif kind == "no txn":
        start = lines[at].find(b',"txn":[')
        if start != -1:
            lines[at] = lines[at][:start] + lines[at][lines[at].index(b"]", start) + 1 :]
    return b"".join(lines)


def _batched(buf: bytes, batch_bytes: int, last_seq: int = 0) -> Any:
    """What ``iter_committed`` gives, in the reference's terms; checks the chunks on the way."""
    chunks = []
    try:
        for chunk in iter_committed(buf, last_seq=last_seq, base_offset=7, batch_bytes=batch_bytes):
            chunks.append(chunk)
    except LogCorruptedError as exc:
        assert all(not c.final for c in chunks)
        return exc.offset - 7
    assert [c.final for c in chunks] == [False] * (len(chunks) - 1) + [True]
    events = [e for c in chunks for e in c.events]
    for chunk in chunks[:-1]:
        assert chunk.events, "only the final chunk may be empty"
        assert chunk.last_seq == chunk.events[-1].seq
        assert buf[chunk.end_offset - 7 - 1 : chunk.end_offset - 7] == b"\n"
        assert chunk.tail_bytes == len(buf) - (chunk.end_offset - 7)
    final = chunks[-1]
    assert final.tail_bytes == len(buf) - (final.end_offset - 7)
    assert final.lines == len(final.events)
    return dicts(events), final.end_offset - 7, final.last_seq


@settings(max_examples=300, deadline=None, database=None)
@given(
    units=st.lists(st.sampled_from([1, 1, 1, 2, 3, 5]), max_size=12),
    edits=st.lists(EDITS, max_size=2),
    batch_bytes=st.sampled_from(BATCH_SIZES),
)
def test_batches_find_what_the_line_by_line_rule_finds(
    units: list[int], edits: list[tuple[Any, ...]], batch_bytes: int
) -> None:
    buf = b"".join(_lines_of(units))
    for edit in edits:
        buf = _edit(buf.splitlines(keepends=True), edit)
    expected = _reference(buf)
    assert _batched(buf, batch_bytes) == expected
    try:
        chunk = parse_committed(buf, base_offset=7)
    except LogCorruptedError as exc:
        assert exc.offset - 7 == expected
        assert exc.line_no == 1 + buf.count(b"\n", 0, exc.offset - 7)
    else:
        assert (dicts(chunk.events), chunk.end_offset - 7, chunk.last_seq) == expected


@pytest.mark.parametrize("batch_bytes", BATCH_SIZES)
def test_a_buffer_that_starts_after_committed_events(batch_bytes: int) -> None:
    lines = _lines_of([1, 3, 1, 2, 1], first=41)
    buf = b"".join(lines)
    assert _batched(buf, batch_bytes, last_seq=40) == _reference(buf, last_seq=40)
    assert _reference(buf, last_seq=40)[2] == 48  # type: ignore[index]
    assert _batched(buf, batch_bytes, last_seq=39) == 0  # seq 41 where 40 was expected


@pytest.mark.parametrize("batch_bytes", BATCH_SIZES)
def test_one_batch_and_a_torn_tail_come_as_one_final_chunk(batch_bytes: int) -> None:
    lines = _lines_of([1, 1, 3])
    buf = b"".join(lines[:2]) + lines[2] + lines[3][:30]
    chunks = list(iter_committed(buf, batch_bytes=max(batch_bytes, len(buf))))
    assert len(chunks) == 1 and chunks[0].final
    assert [e.seq for e in chunks[0].events] == [1, 2]
    assert chunks[0].tail_bytes == len(lines[2]) + 30


def test_damage_is_raised_after_the_batches_before_it_were_yielded() -> None:
    lines = _lines_of([1] * 30, first=10)  # seqs 10-39: lines of one length
    lines[25] = b"garbage\n"
    lines.append(_line(40))  # a complete event after the damage: no torn tail
    buf = b"".join(lines)
    seen: list[int] = []
    with pytest.raises(LogCorruptedError, match="line 26 "):
        for chunk in iter_committed(buf, last_seq=9, batch_bytes=len(lines[0]) * 10):
            seen += [e.seq for e in chunk.events]
    assert seen == list(range(10, 30))  # lines 1-20; lines 21-25 were held back with 26


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40).filter(lambda b: b"\n" not in b),
            st.sampled_from([_line(1)[:-1], _line(2, (2, 3))[:-1], b"null", b"[1]", b'"s"']),
            st.builds(
                lambda key, value: _line(5, changes={key: value})[:-1],
                st.sampled_from(
                    ["seq", "id", "ts", "type", "v", "actor", "causation", "data", "more"]
                ),
                st.sampled_from([None, True, 1, 0, 1.5, "x", [], {}, [1, 2], _MISSING]),
            ),
            st.builds(
                lambda value: _line(5, txn=(5, 6))[:-1].replace(b"[5,6]", value),
                st.sampled_from([b"[5]", b"[6,5]", b"[5,true]", b"{}", b"null", b"[4,5,6]"]),
            ),
        ),
        max_size=8,
    )
)
def test_decode_lines_equals_decode_line(lines: list[bytes]) -> None:
    assert decode_lines(lines) == [decode_line(line) for line in lines]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("batches")


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    units=st.lists(st.sampled_from([1, 1, 2, 4]), min_size=1, max_size=10),
    stop_after=st.integers(0, 5),
    batch_bytes=st.sampled_from([1, 150, 1 << 18]),
)
def test_a_tail_moves_on_only_once_every_batch_was_taken(
    folder: Path, units: list[int], stop_after: int, batch_bytes: int
) -> None:
    path = folder / f"log-{next(_names)}.jsonl"
    build_log(path, units)
    log = EventLog(path)
    tail = log.tail()
    taken = []
    finished = False
    for chunk in tail.batches(batch_bytes):
        taken.append(chunk)
        if len(taken) > stop_after:
            break  # even after the final chunk: the tail moves on when the loop ends
    else:
        finished = True
    assert tail.offset == (path.stat().st_size if finished else 0)
    assert tail.last_seq == (sum(units) if finished else 0)
    rest = tail.poll()
    expected = dicts(log.read_all().events)
    assert dicts(rest) == ([] if finished else expected)
    assert (
        dicts([e for c in taken for e in c.events]) == expected[: sum(len(c.events) for c in taken)]
    )


@pytest.mark.parametrize("batch_bytes", BATCH_SIZES)
def test_old_versions_are_upcast_in_every_batch(batch_bytes: int) -> None:
    registry = SchemaRegistry()

    @registry.register("JobProgress", version=2)
    class _Progress(EventData):
        job_id: str
        done: int
        total: int
        message: str
        percent: float

    @registry.upcaster("JobProgress", 1)
    def _to_v2(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "percent": 100 * data["done"] / data["total"]}

    lines = _lines_of([1, 3, 1, 1, 2, 1])
    lines[4] = lines[4].replace(b'"type":"JobProgress"', b'"type":"Other"')
    buf = b"".join(lines)
    chunks = list(iter_committed(buf, registry=registry, batch_bytes=batch_bytes))
    got = [e for c in chunks for e in c.events]
    assert [e.seq for e in got] == list(range(1, 10))
    assert [(e.type, e.v) for e in got if e.seq != 5] == [("JobProgress", 2)] * 8
    assert got[4].v == 1 and "percent" not in got[4].data  # a type the registry does not know
    assert all(e.data["percent"] == e.seq / 10 for e in got if e.seq != 5)
    assert dicts(parse_committed(buf, registry=registry).events) == dicts(got)


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_gc_paused_promotes_a_bulk_of_survivors_and_keeps_collecting_cycles() -> None:
    assert gc.isenabled()
    gc.collect()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # nested: the outer one resumes
            pass
        assert not gc.isenabled()
        kept = [[n] for n in range(PROMOTE_AFTER + 1000)]
        garbage = weakref.ref(_Node())
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    first, last = kept[0], kept[-1]
    assert sum(o is first or o is last for o in gc.get_objects(generation=2)) == 2  # promoted
    assert garbage() is not None  # promoted with the rest, found by the next full collection
    gc.collect()
    assert garbage() is None


def test_gc_paused_leaves_frozen_objects_frozen() -> None:
    gc.collect()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with gc_paused():
            kept = [[n] for n in range(PROMOTE_AFTER + 1000)]
        assert gc.get_freeze_count() == frozen  # the new objects are left to the collector
        assert len(kept) > PROMOTE_AFTER
    finally:
        gc.unfreeze()
    assert gc.isenabled()
