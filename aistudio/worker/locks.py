"""Liveness by ``flock``: a lock held by a process is released by the OS when it dies.

A worker holds its worker lock for its whole life; whoever runs a job holds that job's lock from
before its claim until its end. Anyone can tell a dead holder from a live one by trying the lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class HeldLock:
    """An exclusive ``flock`` held through an open file descriptor."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def try_lock(path: Path) -> HeldLock | None:
    """Take the exclusive lock on ``path`` without waiting; None when someone holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return HeldLock(path, fd)


def is_held(path: Path) -> bool:
    """Whether a live process holds the lock on ``path``."""
    if not path.exists():
        return False
    lock = try_lock(path)
    if lock is None:
        return True
    lock.release()
    return False
