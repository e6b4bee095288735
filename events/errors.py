"""Errors raised by the event log. Each carries a message a user can act on."""

from __future__ import annotations


class EventLogError(Exception):
    """Base class of every error raised by :mod:`events`."""


class UnknownEventTypeError(EventLogError):
    """The event type is not in the schema registry."""


class InvalidEventError(EventLogError):
    """The event's data does not match the schema of its type (or the envelope is invalid)."""


class ConcurrencyError(EventLogError):
    """An append with ``expected_seq`` found another last seq in the log."""

    def __init__(self, expected_seq: int, actual_seq: int) -> None:
        super().__init__(
            f"concurrency conflict: expected the log to end at seq {expected_seq}, "
            f"but it ends at seq {actual_seq}"
        )
        self.expected_seq = expected_seq
        self.actual_seq = actual_seq


class LogCorruptedError(EventLogError):
    """The log is damaged somewhere other than its torn tail."""

    def __init__(self, path: str, line_no: int, offset: int, reason: str) -> None:
        super().__init__(f"{path}: line {line_no} (byte {offset}) is damaged: {reason}")
        self.path = path
        self.line_no = line_no
        self.offset = offset
        self.reason = reason


class DurabilityError(EventLogError):
    """Writing or fsyncing the log failed; the append did not happen."""
