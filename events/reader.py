"""Decoding the log's bytes into committed events, with torn-tail detection.

The rule, shared by readers and writers: the log is a prefix of *committed* lines (every line
decodes, seqs run 1, 2, 3, … and every multi-event ``txn`` is complete), followed by at most one
*torn tail*: the remains of one interrupted append. A tail is torn when every line in it that
still decodes belongs to one incomplete ``txn`` that starts right after the committed prefix.
Anything else after the committed prefix is damage, reported as :class:`LogCorruptedError`
naming the first bad line. Readers ignore a torn tail; the next writer cuts it (under the lock).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path

from events.envelope import Event, decode_line, decode_lines
from events.errors import LogCorruptedError
from events.registry import SchemaRegistry

ReadAt = Callable[[int, int], bytes]
"""Reads ``length`` bytes at ``offset``."""


BATCH_BYTES = 1 << 18
"""About how many bytes of lines :func:`iter_committed` decodes per batch (256 KiB)."""

_SEQ = attrgetter("seq")
_TXN = attrgetter("txn")
_TYPE = attrgetter("type")


PROMOTE_AFTER = 20_000
"""Objects allocated while paused beyond which :func:`gc_paused` promotes them on resuming."""


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while decoding (and folding) many events.

    Decoding allocates millions of objects that all stay alive, so every collection the
    allocations trigger is wasted work (a quarter of the time of a 100k-event read). Reference
    counting still frees memory meanwhile. On resuming, when more than :data:`PROMOTE_AFTER`
    tracked objects were allocated, they are moved straight to the oldest generation
    (``gc.freeze()`` then ``gc.unfreeze()``, two O(1) list moves): otherwise the first
    allocation after the pause would scan all of them (0.05-0.1 s for a 100k-image load) and a
    later collection scan the survivors once more, only to promote them there. Cyclic garbage
    made meanwhile (by other threads) is then found by the next full collection instead. This
    is skipped when objects are frozen already (``gc.freeze()`` by the application): unfreezing
    must not release them. The collector is re-enabled after (unless it was already off, or
    another thread paused it first and resumes it).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if gc.get_count()[0] > PROMOTE_AFTER and gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()


@dataclass(slots=True)
class ParsedChunk:
    """Committed events decoded from a buffer and where the committed bytes end."""

    events: list[Event]
    end_offset: int
    """Absolute offset just past the last committed line."""
    last_seq: int
    lines: int
    """Number of committed lines decoded."""
    tail_bytes: int
    """Bytes after ``end_offset``: a torn tail, or an append still being written."""
    final: bool = True
    """False for a batch of :func:`iter_committed` that more batches follow."""


def tail_is_torn(tail: bytes, committed_seq: int) -> bool:
    """Whether ``tail`` (the bytes after the committed prefix) is the remains of one append."""
    lines = tail.split(b"\n")
    txn: tuple[int, int] | None = None
    seqs: set[int] = set()
    for line in lines[:-1]:
        event = decode_line(line)
        if event is None:
            continue
        if event.txn is None or event.txn[0] != committed_seq + 1:
            return False
        if txn is None:
            txn = event.txn
        elif event.txn != txn:
            return False
        seqs.add(event.seq)
    return not (txn is not None and len(seqs) == txn[1] - txn[0] + 1)


def parse_committed(
    buf: bytes,
    *,
    base_offset: int = 0,
    last_seq: int = 0,
    base_line_no: int = 1,
    path: str | Path = "events.jsonl",
    registry: SchemaRegistry | None = None,
) -> ParsedChunk:
    """Decode the committed events of ``buf``, which starts at a committed boundary.

    The lines are decoded batch by batch (see :func:`iter_committed`), the garbage collector
    paused meanwhile.

    Args:
        buf: bytes of the log from ``base_offset`` to (some) end.
        base_offset: absolute offset of ``buf[0]`` in the file.
        last_seq: seq of the last committed event before ``buf``.
        base_line_no: 1-based line number of the first line in ``buf``.
        path: the log's path, for error messages.
        registry: when given, old event versions are upcast to the current ones.

    Raises:
        LogCorruptedError: the bytes after the committed prefix are not a torn tail.
    """
    events: list[Event] = []
    with gc_paused():
        for chunk in iter_committed(
            buf,
            base_offset=base_offset,
            last_seq=last_seq,
            base_line_no=base_line_no,
            path=path,
            registry=registry,
        ):
            events += chunk.events
    chunk.events = events
    chunk.lines = len(events)
    return chunk


def iter_committed(
    buf: bytes,
    *,
    base_offset: int = 0,
    last_seq: int = 0,
    base_line_no: int = 1,
    path: str | Path = "events.jsonl",
    registry: SchemaRegistry | None = None,
    batch_bytes: int | None = None,
) -> Iterator[ParsedChunk]:
    """Decode the committed events of ``buf`` batch by batch (see :func:`parse_committed`).

    Each batch holds the events committed in about ``batch_bytes`` of lines (by default
    :data:`BATCH_BYTES`), so that a consumer folding them as they come never holds every event
    of a large log. Each chunk yielded tells where the committed prefix ends so far; the last
    one has ``final`` set (an empty one when nothing is committed). A batch is yielded only once
    the next one is decoded, so that a small read (one batch and maybe a torn tail) comes as
    one final chunk. Damage raises :class:`LogCorruptedError` when the decoding reaches it:
    after the batches before the one that holds it were yielded.
    """
    if batch_bytes is None:
        batch_bytes = BATCH_BYTES
    size = len(buf)
    committed_pos = 0  # just past the last committed line of ``buf``
    committed_seq = last_seq
    pending: list[Event] = []  # the lines of a multi-event append seen so far
    ready: list[Event] = []  # committed events not yielded yet
    ready_pos = 0
    pos = 0  # start of the next line to decode
    broke_at: int | None = None
    broke_reason = ""
    while broke_at is None:
        # The next batch of complete lines: buf[pos:stop], stop just past a newline.
        stop = buf.rfind(b"\n", pos, pos + batch_bytes) + 1
        if stop <= pos:
            stop = buf.find(b"\n", pos) + 1
            if stop == 0:
                break
        lines = buf[pos:stop].split(b"\n")
        lines.pop()  # the empty string after the last newline
        decoded = decode_lines(lines)
        expected = committed_seq + 1
        try:
            # The usual batch, checked in C loops: single events only, seqs in order (each
            # getter raises AttributeError on the None of a line that is no event).
            usual = (
                not pending
                and not any(map(_TXN, decoded))
                and list(map(_SEQ, decoded)) == list(range(expected, expected + len(decoded)))
            )
        except AttributeError:
            usual = False
        if usual:
            batch: list[Event] = decoded  # type: ignore[assignment]
            committed_pos = stop
            committed_seq = expected + len(decoded) - 1
        else:
            batch = []
            for line, event in zip(lines, decoded, strict=True):
                end = pos + len(line) + 1
                expected = (pending[-1].seq if pending else committed_seq) + 1
                if event is None:
                    broke_at, broke_reason = pos, "not a valid event line (JSON envelope)"
                    break
                if event.seq != expected:
                    broke_at, broke_reason = pos, f"seq {event.seq} where {expected} was expected"
                    break
                txn = event.txn
                if txn is None:
                    if pending:
                        broke_at = pos
                        broke_reason = "a single event inside an unfinished multi-event append"
                        break
                    batch.append(event)
                    committed_pos, committed_seq = end, event.seq
                elif (pending and txn != pending[0].txn) or (not pending and txn[0] != event.seq):
                    broke_at, broke_reason = (
                        pos,
                        f"multi-event append marker {list(txn)} out of place",
                    )
                    break
                else:
                    pending.append(event)
                    if event.seq == txn[1]:
                        batch += pending
                        pending.clear()
                        committed_pos, committed_seq = end, event.seq
                pos = end
        pos = stop
        if batch:
            if ready:
                if registry is not None:
                    _upcast(ready, registry)
                yield ParsedChunk(
                    ready,
                    base_offset + ready_pos,
                    ready[-1].seq,
                    len(ready),
                    size - ready_pos,
                    False,
                )
            ready, ready_pos = batch, committed_pos
    # What follows the committed prefix must be a torn tail.
    if committed_pos < size and not tail_is_torn(buf[committed_pos:], committed_seq):
        bad = broke_at if broke_at is not None else committed_pos
        line_no = base_line_no + buf.count(b"\n", 0, bad)
        raise LogCorruptedError(str(path), line_no, base_offset + bad, broke_reason or "damaged")
    if registry is not None:
        _upcast(ready, registry)
    yield ParsedChunk(
        ready, base_offset + committed_pos, committed_seq, len(ready), size - committed_pos
    )


def _upcast(events: list[Event], registry: SchemaRegistry) -> None:
    """Upcast, in place, the events of an old version of their type."""
    current = registry.current_versions
    old = {name for name, version in current.items() if version > 1}
    if not old or old.isdisjoint(map(_TYPE, events)):
        return  # no event of a type that ever changed: nothing to look at one by one
    for event in events:
        if event.v < current.get(event.type, event.v):
            event.v, event.data = registry.upcast(event.type, event.v, event.data)


def find_committed_end(read_at: ReadAt, size: int, path: str | Path) -> tuple[int, int]:
    """Find ``(end_offset, last_seq)`` of the committed prefix, reading only the file's tail.

    The last line that ends an append is taken as the end of the committed prefix once it passes
    cheap checks: the lines after it are a torn tail, the lines of its append are all there and
    the line before that append has the seq just before. When a check fails, the whole file is
    parsed, which either finds the true end (a torn tail that looked committed) or raises
    :class:`LogCorruptedError` naming the first damaged line. Damage further back than the last
    append is left to readers and ``verify``: a writer does not read the whole log.
    """
    chunk = 1 << 16
    while True:
        start = max(0, size - chunk)
        buf = read_at(start, size - start)
        first = 0
        if start > 0:
            first = buf.find(b"\n") + 1
            if first == 0:
                chunk *= 4
                continue
        found = _last_committed(buf, first, at_file_start=start == 0)
        if found is _NEED_MORE:
            chunk *= 4
            continue
        if found is None:
            chunk_all = parse_committed(read_at(0, size), path=path)
            return chunk_all.end_offset, chunk_all.last_seq
        end, last_seq = found
        return start + end, last_seq


_NEED_MORE = (-1, -1)


def _last_committed(buf: bytes, first: int, *, at_file_start: bool) -> tuple[int, int] | None:
    """``(end, last_seq)`` of the committed prefix within ``buf``; ``None`` when unsure.

    Returns ``_NEED_MORE`` when the checks need lines before ``buf[first:]`` (only possible
    when ``buf`` does not start at the beginning of the file).
    """
    end = buf.rfind(b"\n") + 1  # just past the last complete line (0 when none)
    lines = _lines_backwards(buf, first, end)
    for line_start, line_end in lines:
        event = decode_line(buf[line_start : line_end - 1])
        if event is not None and (event.txn is None or event.seq == event.txn[1]):
            break
    else:
        if not at_file_start:
            return _NEED_MORE
        return (0, 0) if tail_is_torn(buf, 0) else None
    if not tail_is_torn(buf[line_end:], event.seq):
        return None
    # The rest of this append's lines, then the line before it.
    txn = event.txn
    unit_first = txn[0] if txn is not None else event.seq
    expected = event.seq - 1
    while expected >= unit_first - 1:
        try:
            prev_start, prev_end = next(lines)
        except StopIteration:
            if not at_file_start:
                return _NEED_MORE
            return (line_end, event.seq) if expected == 0 else None
        prev = decode_line(buf[prev_start : prev_end - 1])
        if prev is None or prev.seq != expected:
            return None
        in_unit = expected >= unit_first
        if in_unit and prev.txn != txn:
            return None
        if not in_unit and prev.txn is not None and prev.seq != prev.txn[1]:
            return None
        expected -= 1
    return line_end, event.seq


def _lines_backwards(buf: bytes, first: int, end: int) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each complete line of ``buf[first:end]``, last line first."""
    line_end = end
    while line_end > first:
        line_start = max(buf.rfind(b"\n", first, line_end - 1) + 1, first)
        yield line_start, line_end
        line_end = line_start
