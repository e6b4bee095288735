"""A lean reader of the log for indexes: each committed event's envelope, not its ``Event``.

An index of a whole log (the History page's) needs, per event, where its line ends, its type,
actor, id and causation; decoding every line into an :class:`~events.envelope.Event` (with its
data kept alive) and walking them one by one in Python costs several times the JSON parse itself.
:func:`iter_envelopes` reads the same bytes under the same rule as :func:`events.reader.
iter_committed` (a committed prefix, then at most one torn tail; anything else is
:class:`LogCorruptedError` naming the line), batch by batch, and checks the envelopes of a batch
with C-level passes over its columns instead: every line decodes to an object that
:func:`events.envelope.event_from_obj` accepts, seqs run on, and every multi-event append
(``txn``) of the batch is complete and in place. The first batch it cannot vouch for that way
(a line that does not decode or is no envelope, a seq out of place, a ``txn`` that is broken or
incomplete in the file) and everything after it are handed to ``iter_committed`` itself, so that
torn tails and damage are judged, and reported, by the one reader every other reader uses. The
data of each event is decoded (that is how a line is known to be whole) and dropped at once.

Example:
    >>> tail = EnvelopeTail(path)
    >>> for batch in tail.envelopes():
    ...     for seq, event_type in zip(batch.seqs, batch.types):
    ...         ...
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, repeat
from operator import add, itemgetter
from pathlib import Path

import orjson

from events.log import LogTail
from events.reader import BATCH_BYTES, iter_committed

_ENVELOPE = itemgetter("seq", "id", "ts", "type", "v", "actor", "causation", "data")
_loads = orjson.loads
_INT = {int}
_STR = {str}
_DICT = {dict}
_CAUSATION = {str, type(None)}


@dataclass(slots=True)
class Envelopes:
    """The envelopes of consecutive committed events, as columns (one entry per event)."""

    first_seq: int
    ends: list[int]
    """Absolute offset just past each event's line (its ``\\n``)."""
    ids: Sequence[str]
    types: Sequence[str]
    actors: Sequence[str]
    causations: Sequence[str | None]
    end_offset: int
    """Absolute offset just past the last committed line so far."""
    last_seq: int
    """Seq of the last committed event so far (``first_seq - 1`` when the batch is empty)."""
    tail_bytes: int
    """Bytes after ``end_offset`` (for the final batch: a torn tail, or an append in progress)."""
    final: bool = True
    """False for a batch that more batches follow."""

    def __len__(self) -> int:
        return len(self.ends)

    @property
    def seqs(self) -> range:
        """The seqs of the events, in order."""
        return range(self.first_seq, self.first_seq + len(self.ends))


def iter_envelopes(
    buf: bytes,
    *,
    base_offset: int = 0,
    last_seq: int = 0,
    base_line_no: int = 1,
    path: str | Path = "events.jsonl",
    batch_bytes: int | None = None,
) -> Iterator[Envelopes]:
    """The envelopes of the committed events of ``buf``, batch by batch.

    Arguments, batches and errors as :func:`events.reader.iter_committed` (``buf`` starts at a
    committed boundary; the last batch has ``final`` set, an empty one when nothing is
    committed; damage raises :class:`LogCorruptedError` once the batches before it were
    yielded). Types and actors are as stored: upcasting never changes them.
    """
    size = len(buf)
    ready: Envelopes | None = None
    for batch in _batches(buf, base_offset, last_seq, base_line_no, path, batch_bytes):
        if ready is not None:
            ready.final = False
            yield ready
        ready = batch
    if ready is None:  # nothing committed
        ready = Envelopes(last_seq + 1, [], (), (), (), (), base_offset, last_seq, size)
    yield ready


def _batches(
    buf: bytes,
    base_offset: int,
    last_seq: int,
    base_line_no: int,
    path: str | Path,
    batch_bytes: int | None,
) -> Iterator[Envelopes]:
    """The non-empty batches of :func:`iter_envelopes`; the last one ends the committed prefix."""
    if batch_bytes is None:
        batch_bytes = BATCH_BYTES
    size = len(buf)
    pos = 0  # a committed boundary: every line before it is committed
    seq = last_seq  # the seq of the last line before ``pos``
    min_stop = 0  # where the next batch must reach: the end of a multi-event append
    while True:
        stop = buf.rfind(b"\n", pos, pos + batch_bytes) + 1
        if stop <= pos:
            stop = buf.find(b"\n", pos) + 1
            if stop == 0:
                return  # no complete line left: nothing, or a torn last line
        stop = max(stop, min_stop)
        lines = buf[pos:stop].split(b"\n")
        lines.pop()  # the empty string after the last newline
        columns = _columns(lines, seq + 1)
        if columns is None:
            break
        ids, types, actors, causations, txns = columns
        n, end = len(lines), stop
        if txns is not None:
            n, need = _complete_appends(txns, seq + 1)
            if n < 0:
                break
            if need:  # lines n, n+1, ... are an append whose last line lies after ``stop``
                end = pos + sum(map(len, lines[:n])) + n
                del lines[n:]
                ids, types, actors, causations = ids[:n], types[:n], actors[:n], causations[:n]
                min_stop = _end_of_lines(buf, end, need)
                if min_stop == 0:  # the append is not all there: a torn tail, or damage
                    if n:
                        yield _batch(
                            lines,
                            base_offset + pos,
                            seq,
                            (ids, types, actors, causations),
                            size - end,
                        )
                        pos, seq = end, seq + n
                    break
                if not n:
                    continue  # read again from the append's first line through its last
        yield _batch(lines, base_offset + pos, seq, (ids, types, actors, causations), size - end)
        pos, seq = end, seq + n
    # The reader every other reader uses judges the rest: torn tail or damage.
    rest = buf[pos:] if pos else buf
    for chunk in iter_committed(
        rest,
        base_offset=base_offset + pos,
        last_seq=seq,
        base_line_no=base_line_no + (seq - last_seq),
        path=path,
        batch_bytes=batch_bytes,
    ):
        events = chunk.events
        if not events:
            continue
        count = len(events)
        end = chunk.end_offset - base_offset
        lines = buf[pos:end].split(b"\n")
        lines.pop()
        if len(lines) != count:  # one committed line per event, by the rule
            raise AssertionError(f"{len(lines)} lines for {count} committed events")
        columns = (
            [e.id for e in events],
            [e.type for e in events],
            [e.actor for e in events],
            [e.causation for e in events],
        )
        yield _batch(lines, base_offset + pos, seq, columns, size - end)
        pos, seq = end, seq + count


def _batch(
    lines: list[bytes],
    offset: int,
    seq: int,
    columns: tuple[Sequence[str], Sequence[str], Sequence[str], Sequence[str | None]],
    tail_bytes: int,
) -> Envelopes:
    """The batch of ``lines`` (``\\n`` removed), which start at ``offset``, after seq ``seq``."""
    ends = list(accumulate(map(add, map(len, lines), repeat(1)), initial=offset))
    del ends[0]
    ids, types, actors, causations = columns
    return Envelopes(
        seq + 1, ends, ids, types, actors, causations, ends[-1], seq + len(lines), tail_bytes
    )


def _columns(
    lines: list[bytes], first_seq: int
) -> tuple[tuple, tuple, tuple, tuple, list | None] | None:
    """``(ids, types, actors, causations, txns)`` of ``lines`` when each is an event line that
    :func:`events.envelope.event_from_obj` accepts (``txn`` aside) with seqs running on from
    ``first_seq``; ``txns`` is None when no line has one. None when that is not so.
    """
    try:
        objs = list(map(_loads, lines))
        # Raises TypeError for anything but a dict (orjson returns no other mapping).
        seqs, ids, tss, types, versions, actors, causations, data = zip(
            *map(_ENVELOPE, objs), strict=True
        )
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    count = len(objs)
    if not (
        set(map(type, seqs)) == _INT  # bool and float are not int here
        and seqs == tuple(range(first_seq, first_seq + count))
        and set(map(type, versions)) == _INT
        and min(versions) >= 1
        and set(map(type, ids)) == _STR
        and set(map(type, tss)) == _STR
        and set(map(type, types)) == _STR
        and set(map(type, actors)) == _STR
        and set(map(type, data)) == _DICT
        and set(map(type, causations)) <= _CAUSATION
    ):
        return None
    txns = list(map(dict.get, objs, repeat("txn")))
    return ids, types, actors, causations, None if txns.count(None) == count else txns


def _complete_appends(txns: list, first_seq: int) -> tuple[int, int]:
    """How many leading lines form whole appends, and how many lines the append after them
    has (0 when there is none): the lines' ``txn`` markers, seqs from ``first_seq``.

    ``(-1, 0)`` when a marker is invalid or out of place, or a single event lies inside an
    append: :func:`events.reader.iter_committed` then decides what that is.
    """
    unit: list | None = None  # the marker of the append being read
    start = 0  # its first line
    for i, txn in enumerate(txns):
        seq = first_seq + i
        if txn is None:
            if unit is not None:
                return -1, 0
            continue
        if not (
            type(txn) is list
            and len(txn) == 2
            and type(txn[0]) is int
            and type(txn[1]) is int
            and txn[0] <= seq <= txn[1]
        ):
            return -1, 0  # not an envelope (see ``event_from_obj``)
        if unit is None:
            if txn[0] != seq:
                return -1, 0
            unit, start = txn, i
        elif txn != unit:
            return -1, 0
        if seq == txn[1]:
            unit = None
    if unit is None:
        return len(txns), 0
    return start, unit[1] - unit[0] + 1


def _end_of_lines(buf: bytes, start: int, count: int) -> int:
    """The offset just past the ``count``-th line from ``start``; 0 when there are fewer."""
    if buf.count(b"\n", start) < count:
        return 0
    pos = start
    find = buf.find
    for _ in range(count):
        pos = find(b"\n", pos) + 1
    return pos


class EnvelopeTail(LogTail):
    """A :class:`~events.LogTail` that can read only the envelopes of the new events.

    :meth:`envelopes` moves the tail on as :meth:`~events.LogTail.batches` does (once the final
    batch was taken and the iterator resumed after it), so the two may be mixed.
    """

    def envelopes(self, batch_bytes: int | None = None) -> Iterator[Envelopes]:
        """The envelopes of the committed events appended since the last read, in batches.

        Raises:
            LogCorruptedError: the log is damaged (not merely torn at its end); this does not
                look twice (as :meth:`~events.LogTail.poll` does): the consumer may.
            EventLogError: the log was replaced or shrank.
        """
        buf = self._read_new()
        if not buf:
            return
        final: Envelopes | None = None
        for batch in iter_envelopes(
            buf,
            base_offset=self.offset,
            last_seq=self.last_seq,
            base_line_no=self.line_no,
            path=self.path,
            batch_bytes=batch_bytes,
        ):
            final = batch
            yield batch
        assert final is not None and final.final
        self.offset = final.end_offset
        self.last_seq = final.last_seq
        self.line_no = final.last_seq + 1
