"""A projection: an initial view plus one handler per event type it cares about.

Handlers have the signature ``handler(view, event) -> view``. A handler may update the view it
owns in place and return it (a fold over 100,000 images must not copy them per event); events a
view has no handler for leave it unchanged, unknown event types included. Folds are pure: the
view depends only on the events folded (no I/O, no clock, no randomness).

A projection may also have handlers for every event type a predicate accepts
(:meth:`Projection.on_match`; the jobs view uses it to recognise any ``…Requested`` command),
and one handler called for *every* event, after the type's own handler
(:meth:`Projection.on_every`; the project view uses it for the time of the last activity).

Views handed to readers by the incremental projector are never changed afterwards: before
folding new events into a view it has handed out, the projector calls ``view.copy()``, which
copies the view's containers (records inside them are immutable and shared). Views with large
containers copy them lazily: see :class:`SharedContainers`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import takewhile
from typing import Any, Generic, Protocol, TypeVar

from events import Event


class View(Protocol):
    """What every view offers: the seq it was folded to, and a copy for copy-on-write."""

    seq: int

    def copy(self) -> View: ...


V = TypeVar("V", bound=View)
S = TypeVar("S", bound="SharedContainers")
Handler = Callable[[V, Event], V]


class _Dispatch(dict):  # type: ignore[type-arg]
    """Event type -> handler (or None), resolved on first sight of a type and then cached."""

    def __init__(self, projection: Projection[Any]) -> None:
        super().__init__()
        self.projection = projection

    def __missing__(self, event_type: str) -> Handler[Any] | None:
        handler = self.projection.resolve(event_type)
        self[event_type] = handler
        return handler


class Projection(Generic[V]):
    """A named fold from events to a view."""

    def __init__(self, name: str, initial: Callable[[], V]) -> None:
        self.name = name
        self.initial = initial
        self.handlers: dict[str, Handler[V]] = {}
        self.matchers: list[tuple[Callable[[str], bool], Handler[V]]] = []
        self.every: Handler[V] | None = None
        self._dispatch = _Dispatch(self)

    def on(self, *event_types: str) -> Callable[[Handler[V]], Handler[V]]:
        """Decorator registering ``handler`` for each of ``event_types``."""

        def register(handler: Handler[V]) -> Handler[V]:
            for event_type in event_types:
                if event_type in self.handlers:
                    raise ValueError(f"{self.name}: two handlers for {event_type}")
                self.handlers[event_type] = handler
            self._dispatch.clear()
            return handler

        return register

    def on_match(self, predicate: Callable[[str], bool]) -> Callable[[Handler[V]], Handler[V]]:
        """Decorator registering ``handler`` for the event types ``predicate`` accepts.

        Types registered with :meth:`on` keep their own handler; the first matching predicate
        wins. Each type is resolved once, so the fold stays one dict lookup per event.
        """

        def register(handler: Handler[V]) -> Handler[V]:
            self.matchers.append((predicate, handler))
            self._dispatch.clear()
            return handler

        return register

    def on_every(self, handler: Handler[V]) -> Handler[V]:
        """Decorator registering ``handler`` for every event, after the type's own handler."""
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

    def handles(self, event_type: str) -> bool:
        """Whether folding an event of ``event_type`` may change more than the view's seq."""
        return self.every is not None or self._dispatch[event_type] is not None

    def apply(self, view: V, event: Event) -> V:
        """Fold one event into ``view`` (may update it in place); sets ``view.seq``."""
        return self.fold(view, (event,))

    def fold(self, view: V, events: Iterable[Event], until_seq: int | None = None) -> V:
        """Fold ``events`` into ``view``, stopping after ``until_seq`` when given."""
        dispatch = self._dispatch
        every = self.every
        if until_seq is not None:
            events = takewhile(lambda event: event.seq <= until_seq, events)
        if every is None:
            # The hot path of a first load: nothing but a dict lookup per event.
            for event in events:
                handler = dispatch[event.type]
                if handler is not None:
                    view = handler(view, event)
                view.seq = event.seq
            return view
        for event in events:
            handler = dispatch[event.type]
            if handler is not None:
                view = handler(view, event)
            view = every(view, event)
            view.seq = event.seq
        return view

    def rebuild(self, events: Iterable[Event], until_seq: int | None = None) -> V:
        """A fresh view from ``events`` (time travel: only those with ``seq <= until_seq``)."""
        return self.fold(self.initial(), events, until_seq)


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
