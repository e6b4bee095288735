"""The lean envelope reader (``events.index``) reads exactly what the normal reader reads.

On random logs (single events and multi-event appends, then torn tails, damaged lines and
envelopes that are subtly wrong) and random batch sizes, :func:`iter_envelopes` gives the same
committed events (seq, id, type, actor, causation, where each line ends), the same committed end
and torn tail, or the same ``LogCorruptedError`` (line, byte, reason) as
:func:`events.reader.iter_committed`; an ``EnvelopeTail`` polled between partial writes stays
equal to a ``LogTail`` and to a full read.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import EventLog, LogCorruptedError, LogTail, NewEvent
from events.envelope import Event
from events.index import EnvelopeTail, iter_envelopes
from events.reader import iter_committed
from tests.events._support import images, line_ends, new_progress, progress

SETTINGS = settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TS = "2026-11-28T12:00:00.000Z"
_names = itertools.count()


# ---------------------------------------------------------------------- random logs
def _data(kind: int, n: int) -> tuple[str, dict[str, Any]]:
    if kind == 0:
        return "JobProgress", progress(n)
    if kind == 1:
        return "ImagesAdded", images(n, 1 + n % 7)  # long lines: batches end mid-append
    return "LabelChanged", {"image_id": f"img-{n:08x}", "label": "a", "value": None}


UNIT = st.tuples(
    st.integers(1, 5),  # events in the append (1: a single event)
    st.integers(0, 2),  # what kind of data
    st.sampled_from([None, "evt-00000000000000aa", "evt-0000000000000001"]),  # causation
    st.sampled_from(["job", "ui", "cli"]),
)

# A line replaced by something the reader must judge (``{line}``: the original line's JSON).
BAD_LINES = [
    b"",
    b"not json at all",
    b"\x00" * 20,
    b"[1, 2, 3]",
    b'"a string"',
    b"null",
    b'{"hello": "world"}',
]
# One envelope field changed: each one makes the line no valid event line.
BAD_FIELDS: list[tuple[str, Any]] = [
    ("seq", 1.0),
    ("seq", True),
    ("seq", "1"),
    ("seq", None),
    ("v", 0),
    ("v", 1.0),
    ("v", False),
    ("id", 5),
    ("ts", None),
    ("type", ["JobProgress"]),
    ("actor", None),
    ("causation", 7),
    ("data", []),
    ("data", None),
    ("txn", []),
    ("txn", [1]),
    ("txn", [1, 2, 3]),
    ("txn", [True, 2]),
    ("txn", [1.0, 2]),
    ("txn", "1-2"),
    ("txn", [10**6, 10**6 + 1]),  # seq outside it
]
# Changes that keep a valid event line but may break the committed prefix.
ODD_FIELDS: list[tuple[str, Any]] = [
    ("seq", "+1"),  # a seq out of place
    ("seq", "-1"),
    ("seq", "0"),
    ("txn", None),  # a single event (inside an append, when it was one of its lines)
    ("txn", "self"),  # an append of this one event: [seq, seq]
    ("txn", "wide"),  # an append said to go on: [seq, seq + 3]
    ("causation", None),
    ("extra", "a key readers ignore"),
]


def _event_lines(units: list[tuple[int, int, str | None, str]], first_seq: int = 1) -> list[bytes]:
    lines = []
    seq = first_seq
    for size, kind, causation, actor in units:
        txn = (seq, seq + size - 1) if size > 1 else None
        for _ in range(size):
            event_type, data = _data(kind, seq)
            event = Event(seq, f"evt-{seq:016x}", TS, event_type, 1, actor, causation, data, txn)
            lines.append(event.to_line())
            seq += 1
    return lines


def _mutate(line: bytes, field: str, value: Any) -> bytes:
    """``line`` with one field changed (a line with no integer seq is left as it is)."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return line
    if not isinstance(obj, dict) or type(obj.get("seq")) is not int:
        return line
    if field == "seq" and isinstance(value, str) and value[0] in "+-0":
        obj["seq"] = obj["seq"] + int(value) if value != "0" else 0
    elif field == "txn" and value == "self":
        obj["txn"] = [obj["seq"], obj["seq"]]
    elif field == "txn" and value == "wide":
        obj["txn"] = [obj["seq"], obj["seq"] + 3]
    elif field == "txn" and value is None:
        obj.pop("txn", None)
    else:
        obj[field] = value
    return orjson.dumps(obj) + b"\n"


@st.composite
def logs(draw: st.DrawFn) -> bytes:
    """A log's bytes: committed appends, then maybe damage, odd lines and a torn tail."""
    units = draw(st.lists(UNIT, min_size=0, max_size=12), label="appends")
    lines = _event_lines(units)
    for _ in range(draw(st.integers(0, 2), label="changes")):
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1), label="line changed")
        how = draw(st.sampled_from(["bad line", "bad field", "odd field", "drop", "copy"]))
        if how == "bad line":
            lines[at] = draw(st.sampled_from(BAD_LINES)) + b"\n"
        elif how == "bad field":
            lines[at] = _mutate(lines[at], *draw(st.sampled_from(BAD_FIELDS)))
        elif how == "odd field":
            lines[at] = _mutate(lines[at], *draw(st.sampled_from(ODD_FIELDS)))
        elif how == "drop":
            del lines[at]
        else:
            lines.insert(at, lines[at])
    buf = b"".join(lines)
    tail = draw(st.sampled_from(["none", "torn line", "torn append", "garbage"]), label="tail")
    if tail == "torn line":
        nxt = _event_lines([(1, 0, None, "job")], buf.count(b"\n") + 1)[0]
        buf += nxt[: draw(st.integers(0, len(nxt) - 1))]
    elif tail == "torn append":
        nxt = b"".join(_event_lines([(3, 1, None, "job")], buf.count(b"\n") + 1))
        buf += nxt[: draw(st.integers(0, len(nxt) - 1))]
    elif tail == "garbage":
        buf += draw(st.sampled_from([b"\x00" * 50, b"x\n\ny\n", b'{"seq": 1}\n']))
    return buf


# ---------------------------------------------------------------------- the comparison
def _reference(buf: bytes, **kw: Any) -> tuple[Any, ...]:
    """What the normal reader reads of ``buf``: committed events and end, or the damage."""
    try:
        chunks = list(iter_committed(buf, **kw))
    except LogCorruptedError as exc:
        return ("damaged", exc.line_no, exc.offset, exc.reason)
    events = [e for chunk in chunks for e in chunk.events]
    final = chunks[-1]
    base = kw.get("base_offset", 0)
    ends = [base + end for end in line_ends(buf)[: len(events)]]
    rows = [(e.seq, e.id, e.type, e.actor, e.causation) for e in events]
    return ("ok", rows, ends, final.end_offset, final.last_seq, final.tail_bytes)


def _lean(buf: bytes, **kw: Any) -> tuple[Any, ...]:
    """The same, read by :func:`iter_envelopes`; checks how its batches fit together."""
    batches = []
    try:
        for batch in iter_envelopes(buf, **kw):
            batches.append(batch)
    except LogCorruptedError as exc:
        return ("damaged", exc.line_no, exc.offset, exc.reason)
    assert batches and batches[-1].final and not any(b.final for b in batches[:-1])
    expected_seq = kw.get("last_seq", 0) + 1
    offset = kw.get("base_offset", 0)
    rows, ends = [], []
    for batch in batches:
        assert batch.first_seq == expected_seq
        assert len(batch.ids) == len(batch.types) == len(batch.actors) == len(batch.causations)
        assert len(batch) == len(batch.ends) == len(batch.ids)
        if len(batch):
            assert batch.end_offset == batch.ends[-1] and batch.last_seq == batch.seqs[-1]
        else:
            assert (batch.end_offset, batch.last_seq) == (offset, expected_seq - 1)
        assert batch.tail_bytes == len(buf) - (batch.end_offset - kw.get("base_offset", 0))
        rows += zip(batch.seqs, batch.ids, batch.types, batch.actors, batch.causations, strict=True)
        ends += batch.ends
        expected_seq += len(batch)
        offset = batch.end_offset
    final = batches[-1]
    return ("ok", rows, ends, final.end_offset, final.last_seq, final.tail_bytes)


@SETTINGS
@given(
    buf=logs(),
    batch_bytes=st.one_of(st.none(), st.integers(1, 3000)),
    base=st.sampled_from([(0, 0, 1), (1000, 41, 42)]),
)
def test_envelopes_equal_the_normal_reader_on_random_logs(
    buf: bytes, batch_bytes: int | None, base: tuple[int, int, int]
) -> None:
    base_offset, last_seq, line_no = base
    if last_seq:  # the same log, read as if it followed 41 committed events
        buf = _renumber(buf, last_seq)
    kw = {"base_offset": base_offset, "last_seq": last_seq, "base_line_no": line_no}
    expected = _reference(buf, batch_bytes=batch_bytes, **kw)
    assert _lean(buf, batch_bytes=batch_bytes, **kw) == expected


def _renumber(buf: bytes, by: int) -> bytes:
    """``buf`` with every seq and ``txn`` that is an int moved on by ``by`` (others kept)."""
    out = []
    for line in buf.split(b"\n"):
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            out.append(line)
            continue
        if isinstance(obj, dict):
            if type(obj.get("seq")) is int:
                obj["seq"] += by
            txn = obj.get("txn")
            if isinstance(txn, list) and all(type(x) is int for x in txn):
                obj["txn"] = [x + by for x in txn]
            line = orjson.dumps(obj)
        out.append(line)
    return b"\n".join(out)


def _fixed_log() -> list[bytes]:
    """Two singles, an append of 4 events, two singles (8 lines)."""
    units = [(1, 0, None, "ui"), (1, 2, "evt-0000000000000001", "cli")]
    units += [(4, 1, "evt-0000000000000001", "job"), (1, 0, None, "ui"), (1, 2, None, "job")]
    return _event_lines(units)


@pytest.mark.parametrize(
    "change",
    [("line", bad) for bad in BAD_LINES] + [("field", *f) for f in BAD_FIELDS + ODD_FIELDS],
    ids=str,
)
def test_every_change_of_every_kind_of_line_is_judged_as_the_normal_reader_does(
    change: tuple[Any, ...],
) -> None:
    # Each line of the fixed log changed in turn (a single, each line of an append, the last
    # line), followed by the rest of the log or not, read in batches of several sizes.
    lines = _fixed_log()
    for at in range(len(lines)):
        changed = list(lines)
        if change[0] == "line":
            changed[at] = change[1] + b"\n"
        else:
            changed[at] = _mutate(changed[at], change[1], change[2])
        for buf in (b"".join(changed), b"".join(changed[: at + 1])):
            for batch_bytes in (None, 1, 900):
                expected = _reference(buf, batch_bytes=batch_bytes)
                assert _lean(buf, batch_bytes=batch_bytes) == expected, (at, batch_bytes)


@pytest.mark.parametrize("batch_bytes", [None, 1, 700, 5000])
def test_long_appends_that_cross_batches(batch_bytes: int | None) -> None:
    # Singles, then an append of 40 long lines, then singles: read whole whatever the batches.
    lines = _event_lines([(1, 0, None, "ui")] * 3 + [(40, 1, "evt-0000000000000001", "job")])
    lines += _event_lines([(1, 2, None, "ui")] * 5 + [(2, 0, None, "job")], len(lines) + 1)
    buf = b"".join(lines)
    lean = _lean(buf, batch_bytes=batch_bytes)
    assert lean == _reference(buf, batch_bytes=batch_bytes)
    assert lean[4] == 50 and lean[3] == len(buf)
    # Cut inside the long append: a torn tail, whatever the batches.
    cut = buf[: line_ends(buf)[20] - 5]
    assert _lean(cut, batch_bytes=batch_bytes) == _reference(cut, batch_bytes=batch_bytes)
    assert _lean(cut, batch_bytes=batch_bytes)[4] == 3


def test_an_empty_or_torn_buffer_gives_one_empty_final_batch() -> None:
    for buf in (b"", b'{"seq": 1, "id'):
        (batch,) = iter_envelopes(buf, base_offset=7, last_seq=3)
        assert batch.final and len(batch) == 0 and list(batch.seqs) == []
        assert (batch.first_seq, batch.last_seq, batch.end_offset, batch.tail_bytes) == (
            4,
            3,
            7,
            len(buf),
        )


# ---------------------------------------------------------------------- the tail
@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("envelope-tails")


@pytest.fixture(scope="module")
def reference(folder: Path) -> bytes:
    """A log written by ``EventLog``: singles, appends of several events, long lines."""
    path = folder / "reference.jsonl"
    log = EventLog(path)
    first = log.append("ImportRequested", {"source": "/d", "format": "imagefolder"}, actor="ui")
    for k in range(3):
        log.append("JobProgress", progress(k), actor="job", causation=first.id)
    log.append_many(
        [
            NewEvent("ImagesAdded", images(0, 30), actor="job", causation=first.id),
            *[new_progress(k) for k in range(4)],
        ]
    )
    log.append("ProjectRenamed", {"name": "x"}, actor="cli")
    log.append_many([new_progress(k) for k in range(2)])
    return path.read_bytes()


def _seen(tail: EnvelopeTail) -> list[tuple[Any, ...]]:
    rows = []
    for batch in tail.envelopes(batch_bytes=600):
        columns = (batch.seqs, batch.ids, batch.types, batch.actors, batch.causations, batch.ends)
        rows += zip(*columns, strict=True)
    return rows


def _full(path: Path) -> list[tuple[Any, ...]]:
    if not path.exists():
        return []
    events = EventLog(path).read_all().events
    ends = line_ends(path.read_bytes())
    return [
        (e.seq, e.id, e.type, e.actor, e.causation, end)
        for e, end in zip(events, ends, strict=False)
    ]


@SETTINGS
@given(data=st.data())
def test_envelope_tail_polled_between_partial_writes_equals_a_full_read(
    folder: Path, reference: bytes, data: st.DataObject
) -> None:
    path = folder / f"partial-{next(_names)}.jsonl"
    cuts = sorted(data.draw(st.sets(st.integers(0, len(reference)), max_size=20), label="cuts"))
    tail, events_tail = EnvelopeTail(path), LogTail(path)
    seen: list[tuple[Any, ...]] = []
    written = 0
    for cut in [*cuts, len(reference)]:
        with path.open("ab") as file:
            file.write(reference[written:cut])
        written = cut
        for _ in range(data.draw(st.integers(0, 2), label="polls")):
            seen += _seen(tail)
            events_tail.poll()
            assert seen == _full(path)
            assert (tail.offset, tail.last_seq, tail.line_no) == (
                events_tail.offset,
                events_tail.last_seq,
                events_tail.line_no,
            )
    seen += _seen(tail)
    assert seen == _full(path)
    assert [row[0] for row in seen] == list(range(1, reference.count(b"\n") + 1))


def test_envelope_tail_reports_damage_and_stays_put(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    for k in range(3):
        log.append("JobProgress", progress(k), actor="job")
    tail = EnvelopeTail(path)
    assert len(_seen(tail)) == 3
    offset = tail.offset
    with path.open("ab") as file:
        file.write(b"damaged\n" + _event_lines([(1, 0, None, "job")], 5)[0])
    with pytest.raises(LogCorruptedError, match="line 4"):
        _seen(tail)
    assert (tail.offset, tail.last_seq) == (offset, 3)
