"""Incremental projectors: views kept up to date by folding only what was appended.

:class:`ProjectProjector` keeps every view of one project together with the byte offset of the
log it has read to (an :class:`events.LogTail`), so a refresh decodes and folds only the new
events: :meth:`~ProjectProjector.refresh` returns them, :meth:`~ProjectProjector.update` (what
callers that only want the views should use) folds them batch by batch as they are decoded and
drops them. Views it hands out are never changed afterwards (copy-on-write, see
:class:`projections.base.SharedContainers`). :class:`WorkspaceProjector` keeps one per project
folder of a workspace, picks up new folders, and builds the project list.

An event a view cannot read is skipped by that view (see :mod:`projections.base`); when its
handler failed half-way, the projector rebuilds that one view from the log without it, once, and
remembers the event so that later folds and time travel skip it from the start. A project whose
log cannot be read (damaged mid-file) never stops the others: the workspace projector keeps its
last good views and reports the damage (:meth:`WorkspaceProjector.damage`).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from events import Event, EventLogError, LogCorruptedError, LogTail, SchemaRegistry
from events.reader import gc_paused, iter_committed
from projections.base import Projection, SkipKey, SkippedEvent, UnreadableEventError, View
from projections.catalog import ALL_PROJECTIONS
from projections.project import ProjectView
from projections.project_list import project_list

logger = logging.getLogger(__name__)
T = TypeVar("T")

PROJECT_DIR_PATTERN = re.compile(r"^proj-[0-9a-f]{8}$")
EVENTS_FILE = "events.jsonl"


class ProjectProjector:
    """Every view of one project, kept current by folding only the newly appended events.

    Thread-safe: refreshes are serialised by a lock, and a view once handed out (by
    :meth:`view`, :meth:`views` or :meth:`at`) is never changed afterwards.

    Example:
        >>> projector = ProjectProjector(path)
        >>> projector.update()  # or refresh(), which also returns the new events
        >>> projector.view("dataset").label_counts
    """

    def __init__(
        self,
        events_path: str | os.PathLike[str],
        projections: Mapping[str, Projection[Any]] = ALL_PROJECTIONS,
        *,
        registry: SchemaRegistry | None = None,
        cache_size: int = 4,
    ) -> None:
        """Set up the projector; nothing is read before the first refresh.

        Args:
            events_path: the project's ``events.jsonl`` (it may not exist yet).
            projections: name -> projection to keep (all of them by default).
            registry: the event registry used to upcast old versions (the default one).
            cache_size: how many time-travel views :meth:`at` keeps.
        """
        self.path = Path(events_path)
        self.projections: dict[str, Projection[Any]] = dict(projections)
        self._tail = LogTail(self.path, registry)
        self._views: dict[str, View] = {}
        self._handed_out: set[str] = set()
        self._loaded = False
        self._lock = threading.RLock()
        self._cache: OrderedDict[tuple[str, int], View] = OrderedDict()
        self._cache_size = cache_size
        # View name -> the events its handlers failed on (invalid for their schema).
        self._unreadable: dict[str, dict[SkipKey, SkippedEvent]] = {}
        self._reset()

    def _reset(self) -> None:
        self._tail = LogTail(self.path, self._tail.registry)
        self._views = {name: p.initial() for name, p in self.projections.items()}
        self._handed_out.clear()
        self._loaded = False
        self._unreadable = {name: {} for name in self.projections}
        self._cache.clear()

    @property
    def registry(self) -> SchemaRegistry:
        """The event registry the log is read with (old versions upcast by it)."""
        return self._tail.registry

    @property
    def loaded(self) -> bool:
        """Whether the views were read from the log at least once (they may be stale since)."""
        return self._loaded

    def skipped(self) -> tuple[SkippedEvent, ...]:
        """The events some view did not read (kept in the log, skipped), by seq, as of the
        last refresh (the first call reads the log)."""
        with self._lock:
            if not self._loaded:
                self.update()
            found = {s.seq: s for view in self._views.values() for s in view.skipped}
            return tuple(found[seq] for seq in sorted(found))

    @property
    def last_seq(self) -> int:
        """The seq of the last event folded (0 before any)."""
        return self._tail.last_seq

    @property
    def offset(self) -> int:
        """The byte offset of the log read so far (always on a committed boundary)."""
        return self._tail.offset

    def refresh(self) -> list[Event]:
        """Read and fold the events appended since the last refresh; returns them (maybe none).

        Callers that only want the views should call :meth:`update`, which never holds every
        new event at once.

        Raises:
            LogCorruptedError: the log is damaged (not merely torn at its end).
            EventLogError: the log was replaced or shrank.
        """
        with self._lock, gc_paused():
            # All decoded, then all folded: the events are returned, so they are all kept
            # anyway, and folding them batch by batch as they are decoded proved slower (the
            # views' records end up scattered among the events kept).
            events = self._tail.poll()
            self._loaded = True
            if events:
                views = self._working(copy_all=False)
                self._fold(views, events)
                self._commit(views)
            return events

    def update(self) -> int:
        """Read and fold the events appended since the last refresh; returns how many.

        :meth:`refresh` without returning the events: they are decoded and folded batch by
        batch (see :func:`events.reader.iter_committed`) and dropped once folded, so a first load
        never holds every event of the log (faster, and a fraction of the memory). When damage
        turns up after some batches were folded, the views are left as they were.

        Raises:
            LogCorruptedError: the log is damaged (not merely torn at its end).
            EventLogError: the log was replaced or shrank.
        """
        with self._lock, gc_paused():
            try:
                count = self._update()
            except LogCorruptedError:
                # A writer may have been cutting a torn tail while we read: look once more.
                time.sleep(0.05)
                count = self._update()
            self._loaded = True
            return count

    def _update(self) -> int:
        count = 0
        views: dict[str, View] | None = None
        for chunk in self._tail.batches():
            if views is None:
                # When more batches follow, damage may still turn up after some were folded:
                # then fold into copies of every view (O(1) each), so that they stay as they
                # were. A read of one batch (the usual refresh) copies only views handed out.
                views = self._working(copy_all=not chunk.final)
            if chunk.events:
                self._fold(views, chunk.events)
                count += len(chunk.events)
        if views is not None and count:
            self._commit(views)
        return count

    def _working(self, *, copy_all: bool) -> dict[str, View]:
        """The views to fold new events into: copies of those handed out (or of all)."""
        handed_out = self._handed_out
        return {
            name: view.copy() if copy_all or name in handed_out else view
            for name, view in self._views.items()
        }

    def _commit(self, views: dict[str, View]) -> None:
        self._views = views
        self._handed_out.clear()

    def _fold(self, views: dict[str, View], events: list[Event]) -> None:
        try:
            for name, projection in self.projections.items():
                try:
                    views[name] = projection.fold(views[name], events, skip=self._unreadable[name])
                except UnreadableEventError as exc:
                    # The handler may have changed the view half-way: that view again, from the
                    # log, without the event (the other views are unaffected).
                    self._unreadable[name][exc.key] = exc.skipped
                    views[name] = self._rebuild_view(name, events[-1].seq)
        except BaseException:
            # A handler failed part-way: start again from scratch at the next refresh rather
            # than keep views that disagree with the log. Views handed out stay as they were.
            logger.error(
                "%s: folding events %d-%d failed", self.path, events[0].seq, events[-1].seq
            )
            self._reset()
            raise

    def _rebuild_view(self, name: str, seq: int) -> View:
        """The view ``name`` folded from the start of the log up to ``seq`` (lock held)."""
        return self._rebuild_until(seq, None, [name], self._unreadable)[name]

    def view(self, name: str) -> Any:
        """The view ``name`` as of the last refresh (the first call reads the log).

        The view returned is never changed afterwards; call :meth:`refresh` and then
        :meth:`view` again for a newer one.

        Raises:
            KeyError: no projection of that name.
        """
        with self._lock:
            if not self._loaded:
                self.update()
            view = self._views[name]
            self._handed_out.add(name)
            return view

    def views(self) -> dict[str, Any]:
        """Every view as of the last refresh, by name (the first call reads the log)."""
        with self._lock:
            if not self._loaded:
                self.update()
            self._handed_out.update(self._views)
            return dict(self._views)

    def at(self, name: str, seq: int) -> Any:
        """The view ``name`` as it was right after event ``seq`` (time travel).

        A ``seq`` at or past the last refresh gives the current view. Otherwise the view is
        rebuilt from the start of the log (only the bytes up to ``seq`` are decoded); the last
        few are cached.

        Raises:
            KeyError: no projection of that name.
        """
        return self.views_at(seq, (name,))[name]

    def views_at(self, seq: int, names: Iterable[str] | None = None) -> dict[str, Any]:
        """The views ``names`` (all by default) as they were right after event ``seq``."""
        with self._lock:
            if not self._loaded:
                self.update()
            wanted = list(self.projections if names is None else names)
            for name in wanted:
                if name not in self.projections:
                    raise KeyError(name)
            if seq >= self.last_seq:
                self._handed_out.update(wanted)
                return {name: self._views[name] for name in wanted}
            out = {n: self._cache[(n, seq)] for n in wanted if (n, seq) in self._cache}
            for name in out:
                self._cache.move_to_end((name, seq))
            missing = [n for n in wanted if n not in out]
            offset = self._tail.offset
            unreadable = {name: dict(known) for name, known in self._unreadable.items()}
        if missing:
            with gc_paused():
                built = self._rebuild_until(seq, offset, missing, unreadable)
            with self._lock:
                for name, view in built.items():
                    self._cache[(name, seq)] = view
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            out.update(built)
        return {name: out[name] for name in wanted}

    def _rebuild_until(
        self,
        seq: int,
        offset: int | None,
        names: list[str],
        unreadable: dict[str, dict[SkipKey, SkippedEvent]],
    ) -> dict[str, View]:
        """The views ``names`` folded from the committed events up to ``seq``.

        Only the first ``offset`` bytes (committed; all of them when None) are read, and they
        are decoded and folded batch by batch, up to the batch that holds ``seq``. Events a
        handler fails on are added to ``unreadable`` and the view is folded again without them.
        """
        while True:
            try:
                return self._fold_until(seq, offset, names, unreadable)
            except _FoldAgain:
                continue

    def _fold_until(
        self,
        seq: int,
        offset: int | None,
        names: list[str],
        unreadable: dict[str, dict[SkipKey, SkippedEvent]],
    ) -> dict[str, View]:
        views = {name: self.projections[name].initial() for name in names}
        if seq <= 0:
            return views
        with self.path.open("rb") as f:
            buf = f.read() if offset is None else f.read(offset)
        for chunk in iter_committed(buf, path=self.path, registry=self._tail.registry):
            for name in names:
                projection = self.projections[name]
                known = unreadable.setdefault(name, {})
                try:
                    views[name] = projection.fold(views[name], chunk.events, seq, skip=known)
                except UnreadableEventError as exc:
                    if exc.key in known:
                        raise  # cannot happen: skipped events are not handled
                    known[exc.key] = exc.skipped
                    raise _FoldAgain from exc
            if chunk.last_seq >= seq:
                break
        return views


class _FoldAgain(Exception):
    """A handler failed on an event now known as unreadable: fold again from the start."""


class WorkspaceProjector:
    """One :class:`ProjectProjector` per project folder of a workspace, and the project list.

    Project folders are ``<projects_dir>/proj-xxxxxxxx/`` with an ``events.jsonl``; folders
    created later are picked up at the next :meth:`refresh`. A project whose log cannot be read
    (damaged, replaced, unreadable file) never stops the others: its refresh error is kept as
    its damage (:meth:`damage`, logged once), and it keeps the views it last read, if any.
    """

    def __init__(
        self,
        projects_dir: str | os.PathLike[str],
        projections: Mapping[str, Projection[Any]] = ALL_PROJECTIONS,
        *,
        registry: SchemaRegistry | None = None,
    ) -> None:
        """Set up the projector; nothing is read before the first refresh.

        Args:
            projects_dir: the workspace's ``projects`` folder (it may not exist yet).
            projections: the projections each project keeps; must include ``project``.
            registry: the event registry used to upcast old versions (the default one).
        """
        if "project" not in projections:
            raise ValueError("a workspace projector needs the 'project' projection")
        self.projects_dir = Path(projects_dir)
        self.projections = dict(projections)
        self._registry = registry
        self._projectors: dict[str, ProjectProjector] = {}
        self._damage: dict[str, str] = {}
        self._loaded = False
        self._lock = threading.RLock()

    def _scan(self) -> None:
        try:
            entries = list(os.scandir(self.projects_dir))
        except FileNotFoundError:
            return
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name in self._projectors or not PROJECT_DIR_PATTERN.match(entry.name):
                continue
            path = Path(entry.path) / EVENTS_FILE
            if entry.is_dir() and path.is_file():
                self._projectors[entry.name] = ProjectProjector(
                    path, self.projections, registry=self._registry
                )

    def refresh(self) -> dict[str, list[Event]]:
        """Pick up new project folders and refresh every project; project id -> new events.

        A project that cannot be read is left out (see :meth:`damage`).
        """
        with self._lock:
            self._scan()
            self._loaded = True
            fresh: dict[str, list[Event]] = {}
            for project_id, projector in self._projectors.items():
                events = self._guarded(project_id, projector.refresh, [])
                if events:
                    fresh[project_id] = events
            return fresh

    def update(self) -> dict[str, int]:
        """:meth:`refresh` without returning the events; project id -> how many were new."""
        with self._lock:
            self._scan()
            self._loaded = True
            counts: dict[str, int] = {}
            for project_id, projector in self._projectors.items():
                count = self._guarded(project_id, projector.update, 0)
                if count:
                    counts[project_id] = count
            return counts

    def update_project(self, project_id: str) -> ProjectProjector | None:
        """Refresh one project; its projector, or None when there is no such project folder or
        its log could never be read (see :meth:`damage`). A project damaged since it was last
        read gives its projector with the views it last read."""
        with self._lock:
            self._ensure_loaded()
            if project_id not in self._projectors:
                self._scan()
            projector = self._projectors.get(project_id)
            if projector is None:
                return None
            self._guarded(project_id, projector.update, 0)
            return projector if projector.loaded else None

    def _guarded(self, project_id: str, refresh: Callable[[], T], failed: T) -> T:
        """``refresh()``, or ``failed`` when the project's log cannot be read (kept as its
        damage, logged when it changes)."""
        try:
            result = refresh()
        except (EventLogError, OSError) as exc:
            message = str(exc)
            if self._damage.get(project_id) != message:
                logger.error("project %s cannot be read: %s", project_id, message)
            self._damage[project_id] = message
            return failed
        if self._damage.pop(project_id, None) is not None:
            logger.info("project %s reads again", project_id)
        return result

    def damage(self, project_id: str) -> str | None:
        """Why the project's log could not be read at its last refresh (the error, naming the
        line), or None when it read."""
        with self._lock:
            return self._damage.get(project_id)

    def damaged(self) -> dict[str, str]:
        """Project id -> damage, for every project whose last refresh failed."""
        with self._lock:
            return dict(self._damage)

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self.update()

    def project_ids(self) -> list[str]:
        """The ids of the project folders found so far (deleted projects included)."""
        with self._lock:
            self._ensure_loaded()
            return list(self._projectors)

    def projector(self, project_id: str) -> ProjectProjector:
        """The projector of ``project_id`` (looks for new folders when it is not known yet).

        Raises:
            KeyError: there is no such project folder.
        """
        with self._lock:
            self._ensure_loaded()
            if project_id not in self._projectors:
                self._scan()
                if project_id in self._projectors:
                    self._guarded(project_id, self._projectors[project_id].update, 0)
            return self._projectors[project_id]

    def project_views(self) -> dict[str, ProjectView]:
        """Every project's view as of the last refresh, by folder id (deleted ones included).

        A project whose log was never read (damaged from the start) is left out.
        """
        with self._lock:
            self._ensure_loaded()
            return {pid: p.view("project") for pid, p in self._projectors.items() if p.loaded}

    def project_list(self) -> list[ProjectView]:
        """The live projects as of the last refresh, oldest first (see :func:`project_list`)."""
        return project_list(self.project_views())
