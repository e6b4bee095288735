"""The envelope of one event and its JSON-lines encoding.

One line of ``events.jsonl`` is an object with the keys, in this order,
``seq, id, ts, type, v, actor, causation, data`` and, only on the lines of a multi-event
append, ``txn: [first_seq, last_seq]``. Readers accept the lines of a ``txn`` only once all of
them are present, which makes a multi-event append all-or-nothing across a crash.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from operator import itemgetter
from typing import Any

import orjson

ACTORS: frozenset[str] = frozenset({"ui", "cli", "worker", "job", "script"})
EVENT_ID_PATTERN = re.compile(r"^evt-[0-9a-f]{16}$")


@dataclass(slots=True)
class Event:
    """One event as read from (or appended to) the log.

    Readers must treat an ``Event`` and its ``data`` as read-only.
    """

    seq: int
    id: str
    ts: str
    type: str
    v: int
    actor: str
    causation: str | None
    data: dict[str, Any]
    txn: tuple[int, int] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """The event as the JSON object stored on its line."""
        out: dict[str, Any] = {
            "seq": self.seq,
            "id": self.id,
            "ts": self.ts,
            "type": self.type,
            "v": self.v,
            "actor": self.actor,
            "causation": self.causation,
            "data": self.data,
        }
        if self.txn is not None:
            out["txn"] = list(self.txn)
        return out

    def to_line(self) -> bytes:
        """The event encoded as one log line, ``\\n`` included."""
        return orjson.dumps(self.to_dict()) + b"\n"

    @property
    def is_command(self) -> bool:
        """Whether this event is a command (its type ends in ``Requested``)."""
        return self.type.endswith("Requested")


def new_event_id() -> str:
    """A fresh random event id, ``evt-`` and 16 hex digits (64 bits)."""
    return f"evt-{secrets.token_hex(8)}"


def utc_timestamp() -> str:
    """The current UTC time as ISO 8601 with milliseconds and a ``Z``."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


_ENVELOPE = itemgetter("seq", "id", "ts", "type", "v", "actor", "causation", "data")
_loads = orjson.loads


def event_from_obj(obj: Any) -> Event | None:
    """Build an :class:`Event` from a decoded line, or ``None`` when it is not a valid envelope.

    ``obj`` is what ``orjson.loads`` returned (a dict, list, str, int, float, bool or None).
    """
    try:
        # Raises TypeError for anything but a dict (orjson returns no other mapping).
        seq, event_id, ts, event_type, version, actor, causation, data = _ENVELOPE(obj)
    except (KeyError, TypeError):
        return None
    if (
        type(seq) is not int
        or type(version) is not int
        or version < 1
        or type(event_id) is not str
        or type(event_type) is not str
        or type(ts) is not str
        or type(actor) is not str
        or type(data) is not dict
        or (causation is not None and type(causation) is not str)
    ):
        return None
    txn_raw = obj.get("txn")
    if txn_raw is None:
        return Event(seq, event_id, ts, event_type, version, actor, causation, data)
    if (
        type(txn_raw) is not list
        or len(txn_raw) != 2
        or type(txn_raw[0]) is not int
        or type(txn_raw[1]) is not int
        or not txn_raw[0] <= seq <= txn_raw[1]
    ):
        return None
    txn = (txn_raw[0], txn_raw[1])
    return Event(seq, event_id, ts, event_type, version, actor, causation, data, txn)


def decode_line(line: bytes) -> Event | None:
    """Decode one line (without its ``\\n``); ``None`` when it is not a valid event line."""
    try:
        obj = _loads(line)
    except orjson.JSONDecodeError:
        return None
    return event_from_obj(obj)


def decode_lines(lines: list[bytes]) -> list[Event | None]:
    """``[decode_line(line) for line in lines]``, without a Python-level loop.

    Each line's JSON is decoded just before its event is built, so that the decoded envelope is
    freed (and its memory reused by the next line) at once: the events kept then lie close
    together, which makes folding them faster.
    """
    try:
        return list(map(event_from_obj, map(_loads, lines)))
    except orjson.JSONDecodeError:  # some line is no JSON: decode them one by one
        return list(map(event_from_obj, map(_loads_or_none, lines)))


def _loads_or_none(line: bytes) -> Any:
    try:
        return _loads(line)
    except orjson.JSONDecodeError:
        return None  # decodes as ``null`` would: not an envelope
