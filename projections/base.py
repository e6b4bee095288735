"""A projection: an initial view plus one handler per event type it cares about.

Handlers have the signature ``handler(view, event) -> view``. A handler may update the view it
owns in place and return it (a fold over 100,000 images must not copy them per event); events a
view has no handler for leave it unchanged, unknown event types included. Folds are pure: the
view depends only on the events folded (no I/O, no clock, no randomness).

Views handed to readers by the incremental projector are never changed afterwards: before
folding new events into a view it has handed out, the projector calls ``view.copy()``, which
copies the view's containers (records inside them are immutable and shared).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, Protocol, TypeVar

from events import Event


class View(Protocol):
    """What every view offers: the seq it was folded to, and a copy for copy-on-write."""

    seq: int

    def copy(self) -> View: ...


V = TypeVar("V", bound=View)
Handler = Callable[[V, Event], V]


class Projection(Generic[V]):
    """A named fold from events to a view."""

    def __init__(self, name: str, initial: Callable[[], V]) -> None:
        self.name = name
        self.initial = initial
        self.handlers: dict[str, Handler[V]] = {}

    def on(self, *event_types: str) -> Callable[[Handler[V]], Handler[V]]:
        """Decorator registering ``handler`` for each of ``event_types``."""

        def register(handler: Handler[V]) -> Handler[V]:
            for event_type in event_types:
                if event_type in self.handlers:
                    raise ValueError(f"{self.name}: two handlers for {event_type}")
                self.handlers[event_type] = handler
            return handler

        return register

    def apply(self, view: V, event: Event) -> V:
        """Fold one event into ``view`` (may update it in place); sets ``view.seq``."""
        handler = self.handlers.get(event.type)
        if handler is not None:
            view = handler(view, event)
        view.seq = event.seq
        return view

    def fold(self, view: V, events: Iterable[Event], until_seq: int | None = None) -> V:
        """Fold ``events`` into ``view``, stopping after ``until_seq`` when given."""
        handlers = self.handlers
        for event in events:
            if until_seq is not None and event.seq > until_seq:
                break
            handler = handlers.get(event.type)
            if handler is not None:
                view = handler(view, event)
            view.seq = event.seq
        return view

    def rebuild(self, events: Iterable[Event], until_seq: int | None = None) -> V:
        """A fresh view from ``events`` (time travel: only those with ``seq <= until_seq``)."""
        return self.fold(self.initial(), events, until_seq)
