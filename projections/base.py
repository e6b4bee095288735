"""A projection: an initial view plus one handler per event type it cares about.

Handlers have the signature ``handler(view, event) -> view``. A handler may update the view it
owns in place and return it (a fold over 100,000 images must not copy them per event); events a
view has no handler for leave it unchanged, unknown event types included. Folds are pure: the
view depends only on the events folded (no I/O, no clock, no randomness).

A projection may also have handlers for every event type a predicate accepts
(:meth:`Projection.on_match`; the jobs view uses it to recognise any ``…Requested`` command),
and one handler called for *every* event, after the type's own handler
(:meth:`Projection.on_every`; the project view uses it for the time of the last activity).

An event a view cannot read is kept in the log and skipped by that view, which lists it in its
``skipped`` (a tuple of :class:`SkippedEvent`; every view has that field) and logs one warning
per event. "Cannot read" means: its version is not the current one of the registry (newer than
this version knows, or old and not upcast), checked before the handler runs (one comparison per
event); or its handler raised and the event turns out invalid for its schema (validated only
then, never on the hot path). A handler that raises may have changed the view half-way, so then
:meth:`Projection.fold` raises :class:`UnreadableEventError`: the caller folds again from the
start with that event in ``skip`` (:meth:`Projection.rebuild` and the projector do). A handler
that raises on a *valid* event is a bug: its error propagates. Handlers registered with
``any_version=True`` read only what every version has (the envelope, or data read with
defaults) and see every version.

Views handed to readers by the incremental projector are never changed afterwards: before
folding new events into a view it has handed out, the projector calls ``view.copy()``, which
copies the view's containers (records inside them are immutable and shared). Views with large
containers copy them lazily: see :class:`SharedContainers`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import takewhile
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from events import Event, InvalidEventError, SchemaRegistry
from events import registry as default_registry

logger = logging.getLogger(__name__)


class SkippedEvent(NamedTuple):
    """An event a view did not read: its seq, id, type and why (kept in the log, skipped)."""

    seq: int
    id: str
    type: str
    reason: str


SkipKey = tuple[int, str]
"""``(seq, id)`` of an event to skip."""


class UnreadableEventError(Exception):
    """A handler could not read an event that is invalid for its schema.

    The view being folded may have been changed half-way: fold again from the start, with
    ``skipped`` in ``skip`` (see :meth:`Projection.fold`).
    """

    def __init__(self, projection: str, skipped: SkippedEvent) -> None:
        super().__init__(f"{projection}: seq {skipped.seq} ({skipped.type}): {skipped.reason}")
        self.projection = projection
        self.skipped = skipped

    @property
    def key(self) -> SkipKey:
        """The ``skip`` key of the event."""
        return self.skipped.seq, self.skipped.id


READ_ERRORS: tuple[type[Exception], ...] = (
    LookupError,
    TypeError,
    ValueError,
    AttributeError,
    ArithmeticError,
)
"""What a handler raises when the data it reads is not what the schema says."""

ANY_VERSION = 0
"""The version a handler reads when it reads every version (event versions start at 1)."""

_warned: set[tuple[str, int, str]] = set()


class View(Protocol):
    """What every view offers: the seq it was folded to, the events it skipped, and a copy for
    copy-on-write (which keeps ``skipped``: a tuple, replaced and never changed in place)."""

    seq: int
    skipped: tuple[SkippedEvent, ...]

    def copy(self) -> View: ...


V = TypeVar("V", bound=View)
S = TypeVar("S", bound="SharedContainers")
Handler = Callable[[V, Event], V]
_Entry = tuple[Handler[Any], int]


class _Dispatch(dict):  # type: ignore[type-arg]
    """Event type -> ``(handler, version it reads)`` (or None), resolved on first sight of a
    type and then cached."""

    def __init__(self, projection: Projection[Any]) -> None:
        super().__init__()
        self.projection = projection

    def __missing__(self, event_type: str) -> _Entry | None:
        handler = self.projection.resolve(event_type)
        entry: _Entry | None = None
        if handler is not None:
            entry = (handler, self.projection.version_read(event_type, handler))
        self[event_type] = entry
        return entry


class Projection(Generic[V]):
    """A named fold from events to a view."""

    def __init__(
        self, name: str, initial: Callable[[], V], registry: SchemaRegistry | None = None
    ) -> None:
        """A projection called ``name`` whose views start as ``initial()``.

        Args:
            name: the view's name (in messages).
            initial: makes the empty view.
            registry: the registry whose current versions the handlers read (the default one).
        """
        self.name = name
        self.initial = initial
        self.registry = registry if registry is not None else default_registry
        self.handlers: dict[str, Handler[V]] = {}
        self.matchers: list[tuple[Callable[[str], bool], Handler[V]]] = []
        self.every: Handler[V] | None = None
        self._any_version: set[Handler[V]] = set()
        self._dispatch = _Dispatch(self)

    def on(
        self, *event_types: str, any_version: bool = False
    ) -> Callable[[Handler[V]], Handler[V]]:
        """Decorator registering ``handler`` for each of ``event_types``.

        With ``any_version``, the handler also gets events of other versions than the current
        one (it must read only what every version has).
        """

        def register(handler: Handler[V]) -> Handler[V]:
            for event_type in event_types:
                if event_type in self.handlers:
                    raise ValueError(f"{self.name}: two handlers for {event_type}")
                self.handlers[event_type] = handler
            if any_version:
                self._any_version.add(handler)
            self._dispatch.clear()
            return handler

        return register

    def on_match(
        self, predicate: Callable[[str], bool], *, any_version: bool = False
    ) -> Callable[[Handler[V]], Handler[V]]:
        """Decorator registering ``handler`` for the event types ``predicate`` accepts.

        Types registered with :meth:`on` keep their own handler; the first matching predicate
        wins. Each type is resolved once, so the fold stays one dict lookup per event.
        ``any_version`` as for :meth:`on`.
        """

        def register(handler: Handler[V]) -> Handler[V]:
            self.matchers.append((predicate, handler))
            if any_version:
                self._any_version.add(handler)
            self._dispatch.clear()
            return handler

        return register

    def on_every(self, handler: Handler[V]) -> Handler[V]:
        """Decorator registering ``handler`` for every event, after the type's own handler.

        It gets every event, skipped ones too: it must read only the envelope.
        """
        if self.every is not None:
            raise ValueError(f"{self.name}: two handlers for every event")
        self.every = handler
        return handler

    def resolve(self, event_type: str) -> Handler[V] | None:
        """The handler of ``event_type`` (not counting :meth:`on_every`), or None."""
        handler = self.handlers.get(event_type)
        if handler is None:
            for predicate, candidate in self.matchers:
                if predicate(event_type):
                    return candidate
        return handler

    def version_read(self, event_type: str, handler: Handler[V]) -> int:
        """The one version of ``event_type`` that ``handler`` reads, or :data:`ANY_VERSION`.

        That is the registry's current version, unless the handler reads every version or the
        type is not registered (there is no version to compare with).
        """
        if handler in self._any_version:
            return ANY_VERSION
        return self.registry.current_versions.get(event_type, ANY_VERSION)

    def handles(self, event_type: str) -> bool:
        """Whether folding an event of ``event_type`` may change more than the view's seq."""
        return self.every is not None or self._dispatch[event_type] is not None

    def apply(self, view: V, event: Event) -> V:
        """Fold one event into ``view`` (may update it in place); sets ``view.seq``.

        Raises:
            UnreadableEventError: as :meth:`fold`.
        """
        return self.fold(view, (event,))

    def fold(
        self,
        view: V,
        events: Iterable[Event],
        until_seq: int | None = None,
        *,
        skip: Mapping[SkipKey, SkippedEvent] | None = None,
    ) -> V:
        """Fold ``events`` into ``view``, stopping after ``until_seq`` when given.

        Events of a version the handler does not read, and those of ``skip`` (by seq and id),
        are skipped and added to ``view.skipped``.

        Raises:
            UnreadableEventError: a handler failed on an event invalid for its schema; ``view``
                may be half-updated: fold again from the start with that event in ``skip``.
        """
        dispatch = self._dispatch
        every = self.every
        if until_seq is not None:
            events = takewhile(lambda event: event.seq <= until_seq, events)
        if every is None and not skip:
            # The hot path of a first load: a dict lookup and a comparison per event.
            for event in events:
                entry = dispatch[event.type]
                if entry is not None:
                    if event.v == entry[1]:
                        try:
                            view = entry[0](view, event)
                        except READ_ERRORS as exc:
                            self._raise_unreadable(event, exc)
                    else:
                        view = self._fold_other(view, event, entry, skip)
                view.seq = event.seq
            return view
        if every is None:
            every = _envelope_only
        for event in events:
            entry = dispatch[event.type]
            if entry is not None:
                if event.v == entry[1] and not (skip and (event.seq, event.id) in skip):
                    try:
                        view = entry[0](view, event)
                    except READ_ERRORS as exc:
                        self._raise_unreadable(event, exc)
                else:
                    view = self._fold_other(view, event, entry, skip)
            view = every(view, event)
            view.seq = event.seq
        return view

    def rebuild(self, events: Iterable[Event], until_seq: int | None = None) -> V:
        """A fresh view from ``events`` (time travel: only those with ``seq <= until_seq``).

        An event a handler cannot read is skipped (the fold starts again without it).
        """
        if not isinstance(events, Sequence):
            if until_seq is not None:
                events = takewhile(lambda event: event.seq <= until_seq, events)
            events = list(events)  # to fold again should an event turn out unreadable
        skip: dict[SkipKey, SkippedEvent] = {}
        while True:
            try:
                return self.fold(self.initial(), events, until_seq, skip=skip)
            except UnreadableEventError as exc:
                if exc.key in skip:
                    raise  # cannot happen: skipped events are not handled
                skip[exc.key] = exc.skipped

    # ------------------------------------------------------------------ unreadable events
    def _fold_other(
        self,
        view: V,
        event: Event,
        entry: _Entry,
        skip: Mapping[SkipKey, SkippedEvent] | None,
    ) -> V:
        """Fold an event off the hot path: skipped, of another version, or any version read."""
        known = skip.get((event.seq, event.id)) if skip else None
        if known is not None:
            return self._skip(view, known)
        handler, version = entry
        if version != ANY_VERSION and event.v != version:
            reason = self.registry.version_problem(event.type, event.v)
            return self._skip(view, SkippedEvent(event.seq, event.id, event.type, str(reason)))
        try:
            return handler(view, event)
        except READ_ERRORS as exc:
            self._raise_unreadable(event, exc)
            raise  # not reached: keeps type checkers content

    def _raise_unreadable(self, event: Event, exc: Exception) -> None:
        """Raise :class:`UnreadableEventError` when ``event`` is what ``exc`` is about.

        Called in the ``except`` block of the handler's failure: re-raises ``exc`` when the
        event is valid for its schema (a bug of the handler) or its type is not registered.
        """
        registry = self.registry
        if event.type not in registry:
            raise exc
        reason = registry.version_problem(event.type, event.v)
        if reason is None:
            try:
                registry.validate(event.type, event.data)
            except InvalidEventError as bad:
                reason = f"invalid for its schema: {bad}"
            else:
                raise exc
        else:
            reason = f"{reason}; it cannot be read: {type(exc).__name__}: {exc}"
        skipped = SkippedEvent(event.seq, event.id, event.type, reason)
        raise UnreadableEventError(self.name, skipped) from exc

    def _skip(self, view: V, skipped: SkippedEvent) -> V:
        view.skipped = (*view.skipped, skipped)
        key = (skipped.id, skipped.seq, skipped.type)
        if key not in _warned:
            _warned.add(key)
            logger.warning(
                "event seq %d (%s, %s) is kept in the log and skipped: %s",
                skipped.seq,
                skipped.type,
                skipped.id,
                skipped.reason,
            )
        return view


def _envelope_only(view: V, event: Event) -> V:
    """The handler for every event of a projection that has none."""
    return view


class SharedContainers:
    """Mixin for views with large containers: ``copy()`` in O(1), containers copied on write.

    ``copy()`` returns a view that *shares* the containers named in ``_COPIERS`` with the
    original and marks them shared on both sides. A handler calls ``view._own(name, ...)``
    before it first changes a container; a shared one is then copied (only that one, once), so
    the other view never sees the change. To readers this behaves exactly like a copy of every
    container, but a refresh after one event copies only what that event changes.

    Subclasses are slotted dataclasses with a ``_shared: set[str]`` field (``init=False``,
    ``compare=False``) and a ``_COPIERS`` class attribute: container name -> copy function.
    """

    __slots__ = ()
    _COPIERS: dict[str, Callable[[object], object]] = {}
    _shared: set[str]

    def copy(self: S) -> S:
        """A view equal to this one whose later changes never show in this one (nor back)."""
        cls = type(self)
        new = cls.__new__(cls)
        for name in _slot_names(cls):
            setattr(new, name, getattr(self, name))
        self._shared = set(self._COPIERS)
        new._shared = set(self._COPIERS)
        return new

    def _own(self, *names: str) -> None:
        """Copy the named containers that are still shared with another view."""
        shared = self._shared
        copiers = self._COPIERS
        for name in names:
            if name in shared:
                setattr(self, name, copiers[name](getattr(self, name)))
                shared.discard(name)


_SLOTS: dict[type, tuple[str, ...]] = {}


def _slot_names(cls: type) -> tuple[str, ...]:
    names = _SLOTS.get(cls)
    if names is None:
        collected: list[str] = []
        for klass in reversed(cls.__mro__):
            slots = klass.__dict__.get("__slots__", ())
            if isinstance(slots, str):
                slots = (slots,)
            collected.extend(s for s in slots if s not in ("__weakref__", "__dict__"))
        names = tuple(dict.fromkeys(collected))
        _SLOTS[cls] = names
    return names
