"""Image files no event names, and the lock that makes removing them safe.

An import stores originals, thumbnails and their ``*.part`` temporary files *before* the events
that name them are committed. When it fails, is cancelled or is killed, those files are never
named. The images lock (an ``flock`` on ``Workspace.images_lock_path``) decides when they may go:

- every import holds it **shared** from before it stores (or finds, to deduplicate against) its
  first file until its events are committed or it has ended (in a job process the lock lives as
  long as the import's :class:`~aistudio.datasets.importer.ImportResult`: the runner commits it,
  then the process exits; the kernel drops the lock of a killed process);
- whoever deletes takes it **exclusive without waiting**, and deletes nothing when it cannot.

Under the exclusive lock no import is in flight, so a stored original or thumbnail whose sha256
no ``ImagesAdded`` of the whole log has ever named is an orphan (images removed later keep their
files: time travel still shows them), and every ``*.part`` in the project's temp folder is a
leftover. Nothing else is ever touched: only files named ``<sha256>.<ext>`` in
``images/<sha[:2]>/``, ``<sha256>.jpg`` in ``thumbs/`` and ``*.part`` in ``.tmp/``; never
``experiments/``.

This module is torch- and Pillow-free (the CLI imports it).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aistudio.workspace import Workspace
from events import Event, EventLog, LogCorruptedError
from events.schemas.annotation import files_named

logger = logging.getLogger(__name__)

_ANY_SHA = "0" * 64
_ORIGINAL = re.compile(r"^([0-9a-f]{64})\.([a-z0-9]{1,5})$")
_THUMBNAIL = re.compile(r"^([0-9a-f]{64})\.jpg$")
_SHARD = re.compile(r"^[0-9a-f]{2}$")
_PART_SUFFIX = ".part"
_CONTENDED = frozenset({errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK})
_FIRST_PAUSE_S = 0.01
_LONGEST_PAUSE_S = 0.25
_LOG_BATCH_BYTES = 8 << 20


class ImagesBusyError(Exception):
    """An import holds the project's images lock: nothing can be removed now."""


class ImagesLock:
    """The project's images lock, held (shared or exclusive) through an open descriptor.

    Released by :meth:`release`, by leaving a ``with`` block, when the object is garbage
    collected, or by the kernel when the process dies.
    """

    def __init__(self, path: Path, fd: int, exclusive: bool) -> None:
        self.path = path
        self.exclusive = exclusive
        self._fd = fd

    @classmethod
    def try_acquire(
        cls, workspace: Workspace, project_id: str, *, exclusive: bool
    ) -> ImagesLock | None:
        """Take the lock without waiting; None when a conflicting holder has it."""
        path = workspace.images_lock_path(project_id)
        fd = _open(path)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in _CONTENDED:
                return None
            raise
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, exclusive)

    @classmethod
    def acquire_shared(
        cls,
        workspace: Workspace,
        project_id: str,
        *,
        while_waiting: Callable[[], None] | None = None,
    ) -> ImagesLock:
        """Take the lock shared, waiting while a cleanup holds it exclusively.

        ``while_waiting`` is called between tries (a job passes its cancel check); a cleanup
        holds the lock for as long as it lists and deletes files, seconds at most.
        """
        pause = _FIRST_PAUSE_S
        waited = False
        while True:
            lock = cls.try_acquire(workspace, project_id, exclusive=False)
            if lock is not None:
                return lock
            if not waited:
                logger.info("%s: waiting for a cleanup of unreferenced image files", project_id)
                waited = True
            if while_waiting is not None:
                while_waiting()
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE_S)

    def release(self) -> None:
        """Release the lock (idempotent)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)  # closing the only descriptor releases the flock

    def __enter__(self) -> ImagesLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit the kernel releases it anyway
            self.release()


def _open(path: Path) -> int:
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(path, flags, 0o644)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, flags, 0o644)


# ---------------------------------------------------------------------- what is referenced
def referenced_sha256(events: Iterable[Event]) -> set[str]:
    """The sha256 of every stored file ``events`` name: each image any ``ImagesAdded`` names
    (removed ones too) and each mask an annotation names (``files_named``; replaced ones
    too)."""
    found: set[str] = set()
    for event in events:
        if event.type == "ImagesAdded":
            found.update(record["sha256"] for record in event.data["images"])
        else:
            found.update(files_named(event.type, event.data))
    return found


@dataclass(frozen=True, slots=True)
class StoredImage:
    """An image some ``ImagesAdded`` named: its content, stored extension and last filename."""

    sha256: str
    ext: str
    filename: str


def images_ever_added(log: EventLog) -> dict[str, StoredImage]:
    """Every content any ``ImagesAdded`` of the committed log named (removed ones too), by
    sha256 in first-seen order; the log is read in bounded batches.

    Raises:
        LogCorruptedError: the log is damaged (then nothing can be called unreferenced).
    """
    for attempt in range(2):
        found: dict[str, StoredImage] = {}
        try:
            for chunk in log.tail().batches(_LOG_BATCH_BYTES):
                for event in chunk.events:
                    if event.type != "ImagesAdded":
                        continue
                    for record in event.data["images"]:
                        found[record["sha256"]] = StoredImage(
                            record["sha256"], record["ext"], record["filename"]
                        )
            return found
        except LogCorruptedError:
            if attempt:  # a writer may have been cutting a torn tail: look once more
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")


def referenced_in_log(log: EventLog) -> set[str]:
    """:func:`referenced_sha256` of the whole committed log (read in bounded batches).

    Raises:
        LogCorruptedError: the log is damaged (then nothing can be called unreferenced).
    """
    for attempt in range(2):
        try:
            found: set[str] = set()
            for chunk in log.tail().batches(_LOG_BATCH_BYTES):
                found |= referenced_sha256(chunk.events)
            return found
        except LogCorruptedError:
            if attempt:  # a writer may have been cutting a torn tail: look once more
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------- finding and removing
@dataclass
class Sweep:
    """What a sweep found (and, unless ``dry_run``, removed): paths with their sizes."""

    originals: list[tuple[Path, int]] = field(default_factory=list)
    thumbnails: list[tuple[Path, int]] = field(default_factory=list)
    partials: list[tuple[Path, int]] = field(default_factory=list)
    dry_run: bool = False
    errors: list[str] = field(default_factory=list)

    def entries(self) -> Iterator[tuple[Path, int]]:
        yield from self.originals
        yield from self.thumbnails
        yield from self.partials

    @property
    def files(self) -> int:
        return len(self.originals) + len(self.thumbnails) + len(self.partials)

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.entries())

    def summary(self) -> str:
        """One line: ``removed 3 originals (1.2 KiB), …: 7 files, 3.3 KiB``."""
        verb = "would remove" if self.dry_run else "removed"
        if not self.files:
            return f"{verb} nothing: every stored image file is named by the log"
        parts = [
            f"{_count(len(items), name)} ({format_size(sum(s for _, s in items))})"
            for items, name in (
                (self.originals, "original"),
                (self.thumbnails, "thumbnail"),
                (self.partials, "temporary file"),
            )
            if items
        ]
        return f"{verb} {', '.join(parts)}: {_count(self.files, 'file')}, {format_size(self.bytes)}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def format_size(n: int) -> str:
    """``n`` bytes for people: ``12 bytes``, ``3.4 KiB``, ``1.2 MiB``, ``2.0 GiB``."""
    if n >= 2**30:
        return f"{n / 2**30:.1f} GiB"
    if n >= 2**20:
        return f"{n / 2**20:.1f} MiB"
    return f"{n / 2**10:.1f} KiB" if n >= 2**10 else f"{n} bytes"


def _files(folder: Path) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            yield from entries
    except (FileNotFoundError, NotADirectoryError):
        return


def _size(entry: os.DirEntry[str]) -> int | None:
    """The size of a regular file (symlinks not followed), None for anything else."""
    try:
        if not entry.is_file(follow_symlinks=False):
            return None
        return entry.stat(follow_symlinks=False).st_size
    except FileNotFoundError:
        return None


def find_unreferenced(workspace: Workspace, project_id: str, referenced: set[str] | None) -> Sweep:
    """The unreferenced files of the project's store; call it under the exclusive lock.

    Args:
        referenced: :func:`referenced_sha256` of the whole log; None looks only for ``*.part``
            leftovers in the temp folder.
    """
    found = Sweep(dry_run=True)
    for entry in _files(workspace.tmp_dir(project_id)):
        if entry.name.endswith(_PART_SUFFIX) and (size := _size(entry)) is not None:
            found.partials.append((Path(entry.path), size))
    if referenced is None:
        return found
    images = workspace.image_path(project_id, _ANY_SHA, "jpg").parents[1]
    for shard in _files(images):
        if not _SHARD.match(shard.name) or not shard.is_dir(follow_symlinks=False):
            continue
        for entry in _files(Path(shard.path)):
            name = entry.name
            if name[:64] in referenced:  # the usual case first: no pattern match, no stat
                continue
            match = _ORIGINAL.match(name)
            if match is None or match[1][:2] != shard.name:
                continue
            if (size := _size(entry)) is not None:
                found.originals.append((Path(entry.path), size))
    thumbs = workspace.thumb_path(project_id, _ANY_SHA).parent
    for entry in _files(thumbs):
        name = entry.name
        if name[:64] in referenced or _THUMBNAIL.match(name) is None:
            continue
        if (size := _size(entry)) is not None:
            found.thumbnails.append((Path(entry.path), size))
    for items in (found.originals, found.thumbnails, found.partials):
        items.sort()
    return found


def sweep_locked(
    workspace: Workspace,
    project_id: str,
    referenced: set[str] | None,
    *,
    dry_run: bool = False,
) -> Sweep:
    """Find (:func:`find_unreferenced`) and, unless ``dry_run``, delete; the caller holds the
    exclusive lock. Files that cannot be deleted are reported in ``errors``, not raised."""
    found = find_unreferenced(workspace, project_id, referenced)
    if dry_run:
        return found
    done = Sweep(dry_run=False)
    for items, kept in (
        (found.originals, done.originals),
        (found.thumbnails, done.thumbnails),
        (found.partials, done.partials),
    ):
        for path, size in items:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                done.errors.append(f"{path}: {exc.strerror or exc}")
                continue
            kept.append((path, size))
    if done.files:
        logger.info("%s: %s", project_id, done.summary())
    for error in done.errors:
        logger.warning("%s: could not remove %s", project_id, error)
    return done


def collect_garbage(workspace: Workspace, project_id: str, *, dry_run: bool = False) -> Sweep:
    """The full sweep of ``aistudio gc``: every unreferenced original, thumbnail and leftover.

    Raises:
        ImagesBusyError: an import is in flight (it holds the images lock).
        LogCorruptedError: the log is damaged.
    """
    lock = ImagesLock.try_acquire(workspace, project_id, exclusive=True)
    if lock is None:
        raise ImagesBusyError(
            f"project {project_id} is importing images: nothing was removed; "
            "run it again when its imports have ended"
        )
    with lock:
        referenced = referenced_in_log(EventLog(workspace.events_path(project_id)))
        return sweep_locked(workspace, project_id, referenced, dry_run=dry_run)


def try_sweep(
    workspace: Workspace,
    project_id: str,
    referenced: Callable[[], set[str]] | None,
    why: str,
) -> Sweep | None:
    """Sweep when the exclusive lock is free right now, else log why not and return None.

    ``referenced`` is called under the lock (the references must be read after taking it);
    None sweeps only ``*.part`` leftovers. Errors are logged, never raised: a cleanup must not
    hide the failure that called it.
    """
    lock = ImagesLock.try_acquire(workspace, project_id, exclusive=True)
    if lock is None:
        logger.info(
            "%s: %s: not swept now, another import holds the images lock "
            "(`aistudio gc` removes what is left)",
            project_id,
            why,
        )
        return None
    with lock:
        try:
            names = None if referenced is None else referenced()
            return sweep_locked(workspace, project_id, names)
        except Exception:
            logger.exception("%s: %s: the sweep failed", project_id, why)
            return None


def sweep_after_lost_import(workspace: Workspace, project_id: str) -> None:
    """After an import died without its end (killed, crashed): remove what it stored, when no
    other import is in flight (``handlers.AFTER_DEATH``; else the next import or gc will)."""
    log = EventLog(workspace.events_path(project_id))
    try_sweep(
        workspace,
        project_id,
        lambda: referenced_in_log(log),
        "an import ended without its images",
    )
