"""``EventLog``: the append-only JSON-lines log of one project.

Appends are validated, serialised under an inter-process lock, written completely and fsynced
before they return. See :mod:`events.reader` for how torn tails are told from damage.
"""

from __future__ import annotations

import logging
import math
import mmap
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from events.envelope import (
    ACTORS,
    EVENT_ID_PATTERN,
    Event,
    decode_line,
    new_event_id,
    utc_timestamp,
)
from events.errors import (
    ConcurrencyError,
    DurabilityError,
    EventLogError,
    InvalidEventError,
    LogCorruptedError,
)
from events.lock import LogLock
from events.reader import (
    ParsedChunk,
    find_committed_end,
    gc_paused,
    iter_committed,
    parse_committed,
)
from events.registry import SchemaRegistry
from events.registry import registry as default_registry

logger = logging.getLogger(__name__)

_fsync = getattr(os, "fdatasync", os.fsync)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append: its type and data, who appends it and why."""

    type: str
    data: dict[str, Any]
    actor: str = "script"
    causation: str | None = None
    id: str | None = None


class EventLog:
    """The append-only log of one project (``events.jsonl``).

    Example:
        >>> log = EventLog(path)
        >>> ev = log.append("ProjectRenamed", {"name": "Cats"}, actor="script")
        >>> [e.seq for e in log.read(after_seq=0)]
    """

    def __init__(
        self, path: str | os.PathLike[str], registry: SchemaRegistry | None = None
    ) -> None:
        self.path = Path(path)
        self.registry = registry if registry is not None else default_registry
        self._lock = LogLock(self.path)
        self._thread_lock = threading.RLock()
        # Committed end of the file as this instance last saw it under the lock.
        self._known: tuple[int, int, int] | None = None  # (inode, end_offset, last_seq)

    # ------------------------------------------------------------------ appending
    def append(
        self,
        type: str,
        data: dict[str, Any],
        *,
        actor: str = "script",
        causation: str | None = None,
        expected_seq: int | None = None,
        id: str | None = None,
    ) -> Event:
        """Validate and durably append one event; returns it with its seq.

        Raises:
            UnknownEventTypeError: ``type`` is not registered.
            InvalidEventError: invalid ``data``, actor, causation or id.
            ConcurrencyError: ``expected_seq`` is given and the log ends elsewhere.
            DurabilityError: the write or fsync failed; nothing was appended.
        """
        new = NewEvent(type=type, data=data, actor=actor, causation=causation, id=id)
        return self.append_many([new], expected_seq=expected_seq)[0]

    def append_many(
        self, new_events: Sequence[NewEvent], *, expected_seq: int | None = None
    ) -> list[Event]:
        """Append several events all-or-nothing (also across a crash).

        Events whose ``id`` is given and already in the log are not stored again: when every
        given id is already there, the stored events are returned and nothing is appended.

        Raises:
            UnknownEventTypeError: a type is not registered.
            InvalidEventError: invalid data, actor, causation or id; the same id twice; or
                some (not all) of the given ids already in the log.
            ConcurrencyError: ``expected_seq`` is given and the log ends elsewhere.
            LogCorruptedError: the end of the log is damaged (not a torn tail).
            DurabilityError: the write or fsync failed; nothing was appended.
        """
        if not new_events:
            return []
        prepared = [self._prepare(new) for new in new_events]
        given_ids = [p.id for p in new_events if p.id is not None]
        if len(set(given_ids)) != len(given_ids):
            raise InvalidEventError("the same event id is given twice in one append")
        self._make_folders()
        with self._thread_lock, self._lock:
            fd = self._open_for_append()
            try:
                end, last_seq = self._committed_end(fd)
                if given_ids:
                    existing = self._find_ids(fd, end, set(given_ids))
                    if existing:
                        if len(existing) == len(new_events):
                            return [self._upcast(existing[p.id]) for p in new_events if p.id]
                        raise InvalidEventError(
                            "some event ids of this append are already in the log: "
                            + ", ".join(sorted(existing))
                        )
                if expected_seq is not None and expected_seq != last_seq:
                    raise ConcurrencyError(expected_seq, last_seq)
                events = self._number(prepared, last_seq)
                payload = b"".join(ev.to_line() for ev in events)
                self._write_durably(fd, payload, end)
                inode = os.fstat(fd).st_ino
                self._known = (inode, end + len(payload), events[-1].seq)
                return events
            finally:
                os.close(fd)

    def _prepare(self, new: NewEvent) -> Event:
        data = self.registry.validate(new.type, new.data)
        _check_storable(new.type, data)
        if new.actor not in ACTORS:
            raise InvalidEventError(f"actor must be one of {sorted(ACTORS)}, got {new.actor!r}")
        if new.causation is not None and not EVENT_ID_PATTERN.match(new.causation):
            raise InvalidEventError(f"causation must be an event id (evt-…), got {new.causation!r}")
        if new.id is not None and not EVENT_ID_PATTERN.match(new.id):
            raise InvalidEventError(f"id must look like evt- and 16 hex digits, got {new.id!r}")
        version = self.registry.get(new.type).version
        return Event(
            0, new.id or new_event_id(), "", new.type, version, new.actor, new.causation, data
        )

    @staticmethod
    def _number(prepared: list[Event], last_seq: int) -> list[Event]:
        ts = utc_timestamp()
        first, last = last_seq + 1, last_seq + len(prepared)
        txn = (first, last) if len(prepared) > 1 else None
        for offset, event in enumerate(prepared):
            event.seq = first + offset
            event.ts = ts
            event.txn = txn
        return prepared

    def _make_folders(self) -> None:
        """Create the log's missing folders, each one's entry fsynced into its parent."""
        missing: list[Path] = []
        folder = self.path.parent
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for new in reversed(missing):
            new.mkdir(exist_ok=True)
            _fsync_dir(new.parent)

    def _open_for_append(self) -> int:
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        if created:
            _fsync_dir(self.path.parent)
        return fd

    def _committed_end(self, fd: int) -> tuple[int, int]:
        """``(end_offset, last_seq)`` of the committed prefix; cuts a torn tail (lock held)."""
        st = os.fstat(fd)
        size = st.st_size
        known = self._known
        if known is not None and known[0] == st.st_ino and known[1] == size:
            return known[1], known[2]
        if known is not None and known[0] == st.st_ino and known[1] < size:
            # Committed line n holds seq n, so the next line's number is last_seq + 1.
            chunk = parse_committed(
                os.pread(fd, size - known[1], known[1]),
                base_offset=known[1],
                last_seq=known[2],
                base_line_no=known[2] + 1,
                path=self.path,
            )
            end, last_seq = chunk.end_offset, chunk.last_seq
        else:
            end, last_seq = find_committed_end(lambda off, n: os.pread(fd, n, off), size, self.path)
        if end < size:
            logger.warning(
                "%s: cutting a torn tail of %d bytes at byte %d", self.path, size - end, end
            )
            try:
                os.ftruncate(fd, end)
                _fsync(fd)
            except OSError as exc:
                raise DurabilityError(f"could not cut the torn tail of {self.path}: {exc}") from exc
        self._known = (st.st_ino, end, last_seq)
        return end, last_seq

    def _find_ids(self, fd: int, end: int, ids: set[str]) -> dict[str, Event]:
        """Events among the first ``end`` bytes whose envelope id is in ``ids`` (not upcast).

        ``end`` must sit on a line boundary. Whatever the line's formatting (spaces, key order),
        its id is the JSON string ``"evt-…"`` somewhere on it: each line holding those bytes is
        decoded, and it is the event only when its envelope's ``id`` is that string (the same
        text may stand in a causation or in data). An id written with ``\\u00XX`` escapes has
        other bytes: the lines holding an escape of a character an id can hold are decoded too
        (looked for only when the file holds a backslash at all, as data with quotes or
        Windows paths do).
        """
        found: dict[str, Event] = {}
        if end == 0:
            return found
        with mmap.mmap(fd, end, access=mmap.ACCESS_READ) as mapped:
            for event_id in ids:
                event = _find_quoted(mapped, event_id)
                if event is not None:
                    found[event_id] = event
            if len(found) < len(ids) and mapped.find(b"\\") != -1:  # memchr: about 1 ms
                found.update(_find_escaped(mapped, ids - found.keys()))
        return found

    def _write_durably(self, fd: int, payload: bytes, end: int) -> None:
        view = memoryview(payload)
        try:
            while view:
                written = os.write(fd, view)
                view = view[written:]
            _fsync(fd)
        except OSError as exc:
            self._known = None
            try:
                os.ftruncate(fd, end)
                _fsync(fd)
            except OSError:
                logger.exception("%s: could not roll back a failed append", self.path)
            raise DurabilityError(f"appending to {self.path} failed: {exc}") from exc

    # ------------------------------------------------------------------ reading
    def read(self, after_seq: int = 0, until_seq: int | None = None) -> Iterator[Event]:
        """Committed events with ``after_seq < seq <= until_seq``, oldest first.

        A torn tail is ignored. Raises :class:`LogCorruptedError` on damage elsewhere.
        """
        for event in self.read_all().events:
            if event.seq <= after_seq:
                continue
            if until_seq is not None and event.seq > until_seq:
                break
            yield event

    def first(self) -> Event | None:
        """The first committed event (seq 1), or None for an empty log.

        When it was appended alone (as ``ProjectCreated`` is), only the first line is decoded;
        otherwise (part of a multi-event append, torn, damaged) the log is read as by
        :meth:`read`, with its errors.
        """
        try:
            with self.path.open("rb") as handle:
                line = handle.readline()
        except FileNotFoundError:
            return None
        if line.endswith(b"\n"):
            chunk = parse_committed(line, path=self.path, registry=self.registry)
            if chunk.events:
                return chunk.events[0]
        return next(iter(self.read(until_seq=1)), None)

    def read_all(self) -> ParsedChunk:
        """Decode the whole log at once (committed events, end offset, tail size)."""
        try:
            buf = self.path.read_bytes()
        except FileNotFoundError:
            buf = b""
        return parse_committed(buf, path=self.path, registry=self.registry)

    def last_seq(self) -> int:
        """The seq of the last committed event (0 for an empty or missing log)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return 0
        try:
            size = os.fstat(fd).st_size
            return find_committed_end(lambda off, n: os.pread(fd, n, off), size, self.path)[1]
        finally:
            os.close(fd)

    def get(self, event_id: str) -> Event | None:
        """The committed event with this id (upcast to its current version), if any.

        Events of a torn tail (an interrupted append) are not committed and never returned.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            size = os.fstat(fd).st_size
            end, _ = find_committed_end(lambda off, n: os.pread(fd, n, off), size, self.path)
            event = self._find_ids(fd, end, {event_id}).get(event_id)
        finally:
            os.close(fd)
        return None if event is None else self._upcast(event)

    def _upcast(self, event: Event) -> Event:
        if event.v < self.registry.current_versions.get(event.type, event.v):
            event.v, event.data = self.registry.upcast(event.type, event.v, event.data)
        return event

    def tail(self) -> LogTail:
        """A reader that returns only the events appended since its last poll."""
        return LogTail(self.path, self.registry)

    def follow(
        self, after_seq: int = 0, poll_s: float = 0.2, stop: threading.Event | None = None
    ) -> Iterator[Event]:
        """Yield events after ``after_seq`` as they are appended, until ``stop`` is set."""
        tail = self.tail()
        while stop is None or not stop.is_set():
            fresh = tail.poll()
            for event in fresh:
                if event.seq > after_seq:
                    yield event
            if not fresh:
                time.sleep(poll_s)


class LogTail:
    """Reads a log incrementally: each :meth:`poll` decodes only bytes appended since the last.

    Its offset always sits on a committed boundary, so it neither misses nor repeats an event,
    however often or rarely it is polled.
    """

    def __init__(self, path: Path, registry: SchemaRegistry | None = None) -> None:
        self.path = path
        self.registry = registry if registry is not None else default_registry
        self.offset = 0
        self.last_seq = 0
        self.line_no = 1
        self._inode: int | None = None

    def poll(self) -> list[Event]:
        """The committed events appended since the previous poll (maybe none)."""
        with gc_paused():
            try:
                return self._poll()
            except LogCorruptedError:
                # A writer may have been cutting a torn tail while we read: look once more.
                time.sleep(0.05)
                return self._poll()

    def _poll(self) -> list[Event]:
        events: list[Event] = []
        for chunk in self.batches():
            events += chunk.events
        return events

    def batches(self, batch_bytes: int | None = None) -> Iterator[ParsedChunk]:
        """Like :meth:`poll`, but the events come in batches as they are decoded.

        A consumer that folds each batch as it comes never holds every event of a large log.
        The tail moves on only once the last batch (``final``) has been taken and the iterator
        resumed after it, as a ``for`` loop does: a consumer that stops early, or fails, reads
        the same events again next time. Damage raises :class:`LogCorruptedError` when the
        decoding reaches it, after the batches before it were yielded; unlike :meth:`poll`,
        this does not look twice, and the consumer must undo what it did with those batches.

        Raises:
            LogCorruptedError: the log is damaged (not merely torn at its end).
            EventLogError: the log was replaced or shrank.
        """
        buf = self._read_new()
        if not buf:
            return
        final: ParsedChunk | None = None
        for chunk in iter_committed(
            buf,
            base_offset=self.offset,
            last_seq=self.last_seq,
            base_line_no=self.line_no,
            path=self.path,
            registry=self.registry,
            batch_bytes=batch_bytes,
        ):
            final = chunk
            yield chunk
        assert final is not None and final.final
        self.offset = final.end_offset
        self.last_seq = final.last_seq
        self.line_no = final.last_seq + 1

    def _read_new(self) -> bytes:
        """The bytes appended since the tail's offset (maybe none)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return b""
        try:
            st = os.fstat(fd)
            if self._inode is not None and st.st_ino != self._inode:
                raise EventLogError(f"{self.path} was replaced while being read")
            self._inode = st.st_ino
            if st.st_size < self.offset:
                raise EventLogError(f"{self.path} shrank below events already read")
            if st.st_size == self.offset:
                return b""
            return os.pread(fd, st.st_size - self.offset, self.offset)
        finally:
            os.close(fd)


# A ``\\u00XX`` escape of a character an event id can hold (``evt-`` and hex digits).
_ID_CHAR_ESCAPE = re.compile(rb"\\u00(?:2[dD]|3[0-9]|6[1-6]|7[46])")


def _line_at(mapped: mmap.mmap, pos: int) -> tuple[int, int]:
    """``(start, stop)`` of the line around byte ``pos`` (``stop`` at its ``\\n``)."""
    start = mapped.rfind(b"\n", 0, pos) + 1
    stop = mapped.find(b"\n", pos)
    return start, len(mapped) if stop == -1 else stop


def _find_quoted(mapped: mmap.mmap, event_id: str) -> Event | None:
    """The event whose envelope id is ``event_id``, among the lines holding ``"event_id"``."""
    needle = f'"{event_id}"'.encode()
    pos = mapped.find(needle)
    while pos != -1:
        start, stop = _line_at(mapped, pos)
        event = decode_line(mapped[start:stop])
        if event is not None and event.id == event_id:
            return event
        pos = mapped.find(needle, stop)
    return None


def _find_escaped(mapped: mmap.mmap, ids: set[str]) -> dict[str, Event]:
    """The events whose id is in ``ids`` among the lines holding an escape of an id character."""
    found: dict[str, Event] = {}
    stop = -1
    for match in _ID_CHAR_ESCAPE.finditer(mapped):
        if match.start() < stop:
            continue  # another escape on a line already decoded
        start, stop = _line_at(mapped, match.start())
        event = decode_line(mapped[start:stop])
        if event is not None and event.id in ids:
            found[event.id] = event
            if len(found) == len(ids):
                break
    return found


def _check_storable(event_type: str, data: dict[str, Any]) -> None:
    """Refuse validated data that JSON cannot store exactly (NaN, huge integers, odd keys)."""
    try:
        same = orjson.loads(orjson.dumps(data)) == data
    except orjson.JSONEncodeError as exc:
        raise InvalidEventError(f"{event_type}: data cannot be stored as JSON: {exc}") from None
    if not same:
        where = _non_finite_at(data, "data") or "data"
        raise InvalidEventError(
            f"{event_type}: {where}: JSON cannot store this value (NaN or infinity?)"
        )


def _non_finite_at(value: Any, where: str) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return where
    if isinstance(value, dict):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite_at(item, f"{where}.{key}")
        if found:
            return found
    return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
