"""The inter-process lock that serialises appends to one log.

On POSIX it is an ``flock`` on a side file (``events.jsonl.lock``), taken without blocking and
retried with a short, growing pause, so that a waiter never hangs past its timeout. The kernel
drops the lock of a process that dies, so a killed appender never leaves the log locked. Where
``fcntl`` is missing (Windows), the ``filelock`` package provides the same lock.
"""

from __future__ import annotations

import errno
import os
import random
import threading
import time
from pathlib import Path

from events.errors import EventLogError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_TIMEOUT_S = 60.0
_FIRST_PAUSE_S = 0.0002
_LONGEST_PAUSE_S = 0.01
_CONTENDED = frozenset({errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK})


def lock_path_for(log_path: Path) -> Path:
    """The lock file that guards ``log_path``."""
    return log_path.with_name(log_path.name + ".lock")


class LogLock:
    """An exclusive, inter-process lock on one log (``flock`` on a side file).

    It is held only while a writer checks the tail and writes; readers never take it. One
    instance may be shared by threads (they take turns); it is not re-entrant.
    """

    def __init__(self, log_path: Path, timeout_s: float = LOCK_TIMEOUT_S) -> None:
        self._path = lock_path_for(log_path)
        self._timeout_s = timeout_s
        self._fd: int | None = None
        self._threads = threading.Lock()
        self._fallback = None
        if fcntl is None:  # pragma: no cover - Windows
            from filelock import FileLock

            self._fallback = FileLock(str(self._path), timeout=timeout_s)

    @property
    def path(self) -> Path:
        """The lock file."""
        return self._path

    def __enter__(self) -> LogLock:
        if not self._threads.acquire(timeout=self._timeout_s):
            raise self._timeout_error()
        try:
            if self._fallback is not None:  # pragma: no cover - Windows
                self._enter_fallback()
            else:
                self._fd = self._acquire_flock()
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._fallback is not None:  # pragma: no cover - Windows
                self._fallback.release()
            elif self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)  # closing the only descriptor releases the flock
        finally:
            self._threads.release()

    def _acquire_flock(self) -> int:
        deadline = time.monotonic() + self._timeout_s
        pause = _FIRST_PAUSE_S
        while True:
            fd = self._open()
            try:
                if self._try_flock(fd) and self._still_current(fd):
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
            if time.monotonic() >= deadline:
                raise self._timeout_error()
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, _LONGEST_PAUSE_S)

    def _open(self) -> int:
        try:
            return os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)

    @staticmethod
    def _try_flock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in _CONTENDED:
                return False
            raise EventLogError(f"could not lock the event log: {exc}") from exc
        return True

    def _still_current(self, fd: int) -> bool:
        """Whether the locked file is still the one at the lock's path (not removed meanwhile)."""
        try:
            return self._path.stat().st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _enter_fallback(self) -> None:  # pragma: no cover - Windows
        from filelock import Timeout

        try:
            self._fallback.acquire()
        except Timeout:
            raise self._timeout_error() from None

    def _timeout_error(self) -> EventLogError:
        return EventLogError(
            f"could not lock {self._path} within {self._timeout_s:.0f} s: another process holds it"
        )
