"""The inter-process lock that serialises appends to one log."""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock, Timeout

from events.errors import EventLogError

LOCK_TIMEOUT_S = 60.0


def lock_path_for(log_path: Path) -> Path:
    """The lock file that guards ``log_path``."""
    return log_path.with_name(log_path.name + ".lock")


class LogLock:
    """An exclusive, inter-process lock on one log (``flock`` on a side file).

    It is held only while a writer checks the tail and writes; readers never take it.
    """

    def __init__(self, log_path: Path, timeout_s: float = LOCK_TIMEOUT_S) -> None:
        self._path = lock_path_for(log_path)
        self._lock = FileLock(str(self._path), timeout=timeout_s)
        self._timeout_s = timeout_s

    def __enter__(self) -> LogLock:
        try:
            self._lock.acquire()
        except Timeout:
            raise EventLogError(
                f"could not lock {self._path} within {self._timeout_s:.0f} s: "
                "another process holds it"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
