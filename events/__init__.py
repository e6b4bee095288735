"""The append-only event log: envelope, schemas, ``EventLog``, locking and verification.

This package imports nothing else of AI Studio's.
"""

from __future__ import annotations

from events import schemas
from events.envelope import Event, new_event_id
from events.errors import (
    ConcurrencyError,
    DurabilityError,
    EventLogError,
    InvalidEventError,
    LogCorruptedError,
    UnknownEventTypeError,
)
from events.log import EventLog, LogTail, NewEvent
from events.registry import EventData, SchemaRegistry, registry
from events.verify import VerifyReport, verify_log

__all__ = [
    "ConcurrencyError",
    "DurabilityError",
    "Event",
    "EventData",
    "EventLog",
    "EventLogError",
    "InvalidEventError",
    "LogCorruptedError",
    "LogTail",
    "NewEvent",
    "SchemaRegistry",
    "UnknownEventTypeError",
    "VerifyReport",
    "new_event_id",
    "registry",
    "schemas",
    "verify_log",
]
