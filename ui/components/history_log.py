"""A compact, incrementally refreshed index of a project's event log, for the History page.

A log may hold hundreds of thousands of events, so the index keeps only what filtering needs,
in flat arrays (a type code, an actor code and the byte offset of each event's line), plus the
links between events (which events name a given event as their causation). A refresh reads only
the bytes appended since the last one, and only their envelopes (:class:`events.index.
EnvelopeTail`: the committed-prefix rule of every reader, checked batch by batch in C-level passes,
no ``Event`` built and no event data kept), and adds them with no Python loop over the events:
at 200,000 events the first read costs about twice a bare orjson parse of the file (it cost three
to four times that, and four times the memory, when it decoded every event). The events shown on a
page, and the one inspected, are decoded on demand from their byte offsets; their rows are kept
in a small cache since a log line never changes.

Committed line ``n`` of a log holds the event with seq ``n`` (see :mod:`events.reader`), so
arrays are indexed by ``seq - 1``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from array import array
from collections import Counter, OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import is_not
from pathlib import Path

from events import Event, EventLog, EventLogError, LogCorruptedError, SchemaRegistry
from events.envelope import decode_line
from events.index import Envelopes, EnvelopeTail
from events.reader import gc_paused
from events.registry import registry as default_registry
from ui.components.history_summary import summary

logger = logging.getLogger(__name__)

ROW_CACHE_SIZE = 4096
QUERY_CACHE_SIZE = 8


@dataclass(frozen=True, slots=True)
class EventRow:
    """What a table row shows of one event."""

    seq: int
    id: str
    ts: str
    type: str
    actor: str
    causation: str | None
    summary: str


@dataclass(frozen=True, slots=True)
class Query:
    """A filter over the log: types and actors (empty: all) and a seq range (inclusive).

    ``hidden_types`` are left out unless ``types`` names them: the page hides progress events
    this way, and a person who picks one of those types in the type filter still sees it.
    """

    types: frozenset[str] = frozenset()
    actors: frozenset[str] = frozenset()
    seq_from: int | None = None
    seq_to: int | None = None
    hidden_types: frozenset[str] = frozenset()

    @property
    def is_empty(self) -> bool:
        """Whether the query keeps every event."""
        return not (self.types or self.actors or self.seq_from or self.seq_to or self.hidden)

    @property
    def hidden(self) -> frozenset[str]:
        """The types this query leaves out although no type filter asks for that."""
        return self.hidden_types - self.types


class EventIndex:
    """The History page's index of one log, refreshed incrementally. Thread-safe.

    Example:
        >>> index = EventIndex(path)
        >>> index.refresh()
        >>> seqs = index.query(Query(types=frozenset({"JobFailed"})))  # newest first
        >>> [index.row(seq).summary for seq in seqs[:50]]
    """

    def __init__(self, path: str | os.PathLike[str], registry: SchemaRegistry | None = None):
        """Set up the index of the log at ``path``; nothing is read before :meth:`refresh`."""
        self.path = Path(path)
        self.registry = registry if registry is not None else default_registry
        self._lock = threading.RLock()
        self._reset()

    def _reset(self) -> None:
        self._tail = EnvelopeTail(self.path, self.registry)
        self._offsets = array("q")  # byte offset of line seq-1 ... plus the end
        self._offsets.append(0)
        self._type_codes = array("H")
        self._types: list[str] = []
        self._type_ids: dict[str, int] = {}
        self._type_counts: list[int] = []
        self._actor_codes = array("B")
        self._actors: list[str] = []
        self._actor_ids: dict[str, int] = {}
        self._actor_counts: list[int] = []
        self._command_seqs: dict[str, int] = {}  # id -> seq, commands only
        self._effects: dict[str, array[int]] = {}  # causation id -> seqs naming it
        self._rows: OrderedDict[int, EventRow] = OrderedDict()
        # query -> (highest seq covered, matching seqs newest first)
        self._queries: OrderedDict[Query, tuple[int, list[int]]] = OrderedDict()
        self._seq_of_cache: dict[str, int | None] = {}

    # ------------------------------------------------------------------ reading the log
    @property
    def last_seq(self) -> int:
        """The seq of the last event indexed (0 before any)."""
        return len(self._type_codes)

    def refresh(self) -> int:
        """Index the events appended since the last refresh; returns how many there were.

        A log that was replaced (a restored backup, say) is indexed again from its start.

        Raises:
            LogCorruptedError: the log is damaged (not merely torn at its end).
        """
        with self._lock:
            try:
                new = self._read_new()
            except LogCorruptedError:
                raise
            except EventLogError as exc:
                logger.warning("%s: %s; indexing it again from the start", self.path, exc)
                self._reset()
                new = self._read_new()
            if len(new):
                try:
                    new.commit(self)
                except BaseException:
                    self._reset()  # never keep an index that disagrees with the log
                    raise
            return len(new)

    def _read_new(self) -> _NewEvents:
        """What the events appended since the last refresh add to the index (not added yet).

        Like :meth:`events.LogTail.poll`, looks twice when the log seems damaged: a writer may
        have been cutting a torn tail while it was read.
        """
        try:
            return self._read_envelopes()
        except LogCorruptedError:
            time.sleep(0.05)
            return self._read_envelopes()

    def _read_envelopes(self) -> _NewEvents:
        new = _NewEvents(self)
        with gc_paused():  # each batch's decoded lines are dropped at once; nothing to collect
            for batch in self._tail.envelopes():
                new.add(batch)
        return new

    def event(self, seq: int) -> Event | None:
        """The full event with this seq (upcast to its current version), or None."""
        with self._lock:
            if not 1 <= seq <= self.last_seq:
                return None
            start, end = self._offsets[seq - 1], self._offsets[seq]
        with self.path.open("rb") as f:
            f.seek(start)
            line = f.read(end - start)
        event = decode_line(line.rstrip(b"\n"))
        if event is None or event.seq != seq:
            raise EventLogError(f"{self.path}: the line of seq {seq} changed under the index")
        current = self.registry.current_versions.get(event.type, event.v)
        if event.v < current:
            event.v, event.data = self.registry.upcast(event.type, event.v, event.data)
        return event

    def row(self, seq: int) -> EventRow | None:
        """The table row of the event with this seq (cached), or None."""
        with self._lock:
            cached = self._rows.get(seq)
            if cached is not None:
                self._rows.move_to_end(seq)
                return cached
        event = self.event(seq)
        if event is None:
            return None
        row = EventRow(
            seq=event.seq,
            id=event.id,
            ts=event.ts,
            type=event.type,
            actor=event.actor,
            causation=event.causation,
            summary=summary(event.type, event.data),
        )
        with self._lock:
            self._rows[seq] = row
            while len(self._rows) > ROW_CACHE_SIZE:
                self._rows.popitem(last=False)
        return row

    def rows(self, seqs: Sequence[int]) -> list[EventRow]:
        """The rows of these seqs, in the same order (unknown seqs left out)."""
        out = []
        for seq in seqs:
            row = self.row(seq)
            if row is not None:
                out.append(row)
        return out

    # ------------------------------------------------------------------ filters and links
    def type_counts(self) -> dict[str, int]:
        """Number of events of each type present, by type name (sorted by name)."""
        with self._lock:
            return dict(sorted(zip(self._types, self._type_counts, strict=True)))

    def actor_counts(self) -> dict[str, int]:
        """Number of events appended by each actor present (sorted by name)."""
        with self._lock:
            return dict(sorted(zip(self._actors, self._actor_counts, strict=True)))

    def query(self, query: Query) -> Sequence[int]:
        """The seqs of the events ``query`` keeps, newest first.

        Results are cached per query and extended with only the new events on the next call.
        """
        with self._lock:
            last = self.last_seq
            low = max(query.seq_from or 1, 1)
            high = min(query.seq_to or last, last)
            if not (query.types or query.actors or query.hidden):
                return range(high, low - 1, -1) if high >= low else range(0)
            cached = self._queries.get(query)
            covered, previous = cached if cached is not None else (low - 1, [])
            if covered >= high:
                if cached is not None:
                    self._queries.move_to_end(query)
                return previous
            newer = self._matching(query, covered + 1, high)
            newer.reverse()
            result = newer + previous
            self._queries[query] = (high, result)
            self._queries.move_to_end(query)
            while len(self._queries) > QUERY_CACHE_SIZE:
                self._queries.popitem(last=False)
            return result

    def _matching(self, query: Query, first: int, last: int) -> list[int]:
        """Seqs in ``[first, last]`` that the query's types and actors keep, oldest first.

        Each test runs over a slice of the code arrays at C level (``compress``), so a log of
        200,000 events is filtered in milliseconds.
        """
        type_codes = self._type_codes_kept(query)
        actor_codes = self._codes(query.actors, self._actor_ids)
        if (type_codes is not None and not type_codes) or (
            actor_codes is not None and not actor_codes
        ):
            return []
        seqs: Sequence[int] = range(first, last + 1)
        for codes, column in ((type_codes, self._type_codes), (actor_codes, self._actor_codes)):
            if codes is None:
                continue
            if isinstance(seqs, range):
                kept = map(codes.__contains__, column[first - 1 : last])
            else:
                kept = map(codes.__contains__, map(column.__getitem__, [s - 1 for s in seqs]))
            seqs = list(compress(seqs, kept))
        return list(seqs)

    def _type_codes_kept(self, query: Query) -> set[int] | None:
        """The type codes the query keeps (None: every type)."""
        if query.types:
            return self._codes(query.types, self._type_ids)
        hidden = query.hidden
        if not hidden:
            return None
        return {code for name, code in self._type_ids.items() if name not in hidden}

    @staticmethod
    def _codes(names: Collection[str], ids: dict[str, int]) -> set[int] | None:
        if not names:
            return None
        return {ids[name] for name in names if name in ids}

    def seq_of(self, event_id: str) -> int | None:
        """The seq of the event with this id, or None when it is not in the log.

        Commands are indexed; any other event is looked up in the log once, then remembered.
        """
        with self._lock:
            seq = self._command_seqs.get(event_id)
            if seq is not None or event_id in self._seq_of_cache:
                return seq if seq is not None else self._seq_of_cache[event_id]
        event = EventLog(self.path, self.registry).get(event_id)
        found = event.seq if event is not None and event.seq <= self.last_seq else None
        with self._lock:
            # Causes come before their effects, so an id not found now never will be.
            self._seq_of_cache[event_id] = found
        return found

    def type_of(self, seq: int) -> str | None:
        """The type of the event with this seq (no decoding), or None."""
        with self._lock:
            if not 1 <= seq <= self.last_seq:
                return None
            return self._types[self._type_codes[seq - 1]]

    def count_types(self, seqs: Sequence[int]) -> dict[str, int]:
        """How many of these events there are of each type, in order of first appearance."""
        with self._lock:
            codes = self._type_codes
            counts: dict[int, int] = {}
            for seq in seqs:
                if 1 <= seq <= len(codes):
                    code = codes[seq - 1]
                    counts[code] = counts.get(code, 0) + 1
            return {self._types[code]: count for code, count in counts.items()}

    def effects(self, event_id: str) -> list[int]:
        """The seqs of the events that name ``event_id`` as their causation, oldest first."""
        with self._lock:
            return list(self._effects.get(event_id, ()))


class _NewEvents:
    """The index entries of events read since the last refresh, added to the index at once
    (:meth:`commit`), so that a read that fails half way leaves the index as it was."""

    def __init__(self, index: EventIndex) -> None:
        self.first_seq = index.last_seq + 1
        self.end = index._tail.offset  # just past the last line indexed
        self.offsets = array("q")  # just past each new event's line
        self.types = list(index._types)  # codes: positions in these lists
        self.type_ids = dict(index._type_ids)
        self.type_codes = array("H")
        self.type_counts: Counter[str] = Counter()
        self.actors = list(index._actors)
        self.actor_ids = dict(index._actor_ids)
        self.actor_codes = array("B")
        self.actor_counts: Counter[str] = Counter()
        self.command_seqs: dict[str, int] = {}
        self.effects: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return len(self.offsets)

    def add(self, batch: Envelopes) -> None:
        """Take in a batch of envelopes (the next events of the log)."""
        count = len(batch)
        if not count:
            return
        if batch.first_seq != self.first_seq + len(self.offsets):
            expected = self.first_seq + len(self)
            raise EventLogError(f"seq {batch.first_seq} where {expected} was expected")
        self.offsets.extend(batch.ends)
        self.type_codes.extend(self._codes(batch.types, self.types, self.type_ids))
        types = Counter(batch.types)
        self.type_counts.update(types)
        self.actor_codes.extend(self._codes(batch.actors, self.actors, self.actor_ids))
        self.actor_counts.update(batch.actors)
        seqs = batch.seqs
        commands = [name for name in types if name.endswith("Requested")]
        if commands:
            is_command = frozenset(commands).__contains__
            ids = zip(batch.ids, seqs, strict=True)
            self.command_seqs.update(compress(ids, map(is_command, batch.types)))
        causations = batch.causations
        caused = map(is_not, causations, repeat(None))
        for cause, seq in compress(zip(causations, seqs, strict=True), caused):
            found = self.effects.get(cause)
            if found is None:
                self.effects[cause] = [seq]
            else:
                found.append(seq)
        self.end = batch.end_offset

    @staticmethod
    def _codes(names: Sequence[str], known: list[str], ids: dict[str, int]) -> map[int]:
        for name in dict.fromkeys(names):
            if name not in ids:
                ids[name] = len(known)
                known.append(name)
        return map(ids.__getitem__, names)

    def commit(self, index: EventIndex) -> None:
        """Add these entries to ``index`` (read from its tail, which has moved on past them)."""
        if self.first_seq != index.last_seq + 1 or self.end != index._tail.offset:
            raise EventLogError(f"{index.path}: the index and its tail disagree")
        index._offsets.extend(self.offsets)
        index._type_codes.extend(self.type_codes)
        index._types, index._type_ids = self.types, self.type_ids
        index._type_counts += [0] * (len(self.types) - len(index._type_counts))
        for name, count in self.type_counts.items():
            index._type_counts[self.type_ids[name]] += count
        index._actor_codes.extend(self.actor_codes)
        index._actors, index._actor_ids = self.actors, self.actor_ids
        index._actor_counts += [0] * (len(self.actors) - len(index._actor_counts))
        for name, count in self.actor_counts.items():
            index._actor_counts[self.actor_ids[name]] += count
        index._command_seqs.update(self.command_seqs)
        for cause, seqs in self.effects.items():
            index._effects.setdefault(cause, array("l")).extend(seqs)


_indexes: dict[Path, EventIndex] = {}
_indexes_lock = threading.Lock()


def event_index(path: str | os.PathLike[str]) -> EventIndex:
    """The process-wide, refreshed index of the log at ``path`` (created on first use)."""
    key = Path(path).resolve()
    with _indexes_lock:
        index = _indexes.get(key)
        if index is None:
            index = _indexes[key] = EventIndex(key)
    index.refresh()
    return index
