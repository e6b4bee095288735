"""A wake-up call that a signal handler may give: a self-pipe, with no lock to deadlock on.

``threading.Event.set()`` takes the event's lock. Called from a signal handler it deadlocks when
the signal lands while the main thread itself holds that lock (inside ``Event.wait`` or
``Event.clear``): the handler runs on the main thread and waits for a lock only that thread can
release. The worker's loop calls ``wait`` and ``clear`` several times a second, so a Ctrl-C now and
then froze it for good. Writing a byte to a pipe takes no Python lock.
"""

from __future__ import annotations

import contextlib
import os
import select
import weakref


def _close(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class Wakeup:
    """Wakes one waiting thread; ``set`` is safe from signal handlers and other threads."""

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._finalizer = weakref.finalize(self, _close, self._read_fd, self._write_fd)

    def set(self) -> None:
        """Wake the waiter (now, or at its next ``wait``)."""
        with contextlib.suppress(OSError):  # full pipe: a wake-up is pending already
            os.write(self._write_fd, b"\0")

    def wait(self, timeout: float | None) -> bool:
        """Wait until woken or ``timeout`` seconds passed; True when woken. Clears the wake-up."""
        ready, _, _ = select.select([self._read_fd], [], [], timeout)
        if not ready:
            return False
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read_fd, 4096):
                pass
        return True

    def close(self) -> None:
        """Release the pipe (idempotent)."""
        self._finalizer()
