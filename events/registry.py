"""The registry of event types: their pydantic schemas, current versions and upcasters.

Each event type has one current version with a pydantic model of its ``data``. Older versions
are upcast when read (``upcaster(type, from_version)`` turns ``data`` of ``from_version`` into
``data`` of ``from_version + 1``), never rewritten in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from events.errors import InvalidEventError, UnknownEventTypeError
from events.validation import describe

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
ModelT = TypeVar("ModelT", bound=type[BaseModel])


class EventData(BaseModel):
    """Base of every event's ``data`` schema: unknown fields are refused.

    Non-finite floats (NaN, infinities) are refused too: JSON cannot store them. Inside free-form
    fields (``dict[str, Any]``) they are kept by ``model_dump`` so that the append refuses them
    instead of silently storing ``null``.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, ser_json_inf_nan="constants"
    )


@dataclass
class EventType:
    """One registered event type."""

    name: str
    version: int
    model: type[BaseModel]
    upcasters: dict[int, Upcaster] = field(default_factory=dict)

    @property
    def is_command(self) -> bool:
        """Whether this type is a command (its name ends in ``Requested``)."""
        return self.name.endswith("Requested")


class SchemaRegistry:
    """Maps event type names to their schema, version and upcasters."""

    def __init__(self) -> None:
        self._types: dict[str, EventType] = {}
        self.current_versions: dict[str, int] = {}

    def register(self, name: str, version: int = 1) -> Callable[[ModelT], ModelT]:
        """Class decorator registering a pydantic model as the schema of ``name`` at ``version``."""

        def decorate(model: ModelT) -> ModelT:
            if name in self._types:
                raise ValueError(f"event type {name!r} is registered twice")
            self._types[name] = EventType(name=name, version=version, model=model)
            self.current_versions[name] = version
            return model

        return decorate

    def upcaster(self, name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator registering the function that lifts ``name`` data from ``from_version``."""

        def decorate(func: Upcaster) -> Upcaster:
            self.get(name).upcasters[from_version] = func
            return func

        return decorate

    def get(self, name: str) -> EventType:
        """The registered type ``name``; raises :class:`UnknownEventTypeError` otherwise."""
        try:
            return self._types[name]
        except KeyError:
            raise UnknownEventTypeError(f"unknown event type {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def names(self) -> list[str]:
        """All registered type names, sorted."""
        return sorted(self._types)

    def commands(self) -> list[str]:
        """The registered command types, sorted."""
        return sorted(n for n, t in self._types.items() if t.is_command)

    def validate(self, name: str, data: Any) -> dict[str, Any]:
        """Validate ``data`` for the current version of ``name``; returns it normalised.

        Raises:
            UnknownEventTypeError: ``name`` is not registered.
            InvalidEventError: ``data`` does not match the schema.
        """
        event_type = self.get(name)
        if not isinstance(data, dict):
            raise InvalidEventError(
                f"{name}: data must be a JSON object, got {type(data).__name__}"
            )
        try:
            model = event_type.model.model_validate(data)
        except ValidationError as exc:
            raise InvalidEventError(f"{name}: {describe(exc)}") from None
        return model.model_dump(mode="json")

    def version_problem(self, name: str, version: int) -> str | None:
        """Why an event of ``name`` at ``version`` cannot be read as the current version.

        None for the current version and for unknown types (there is nothing to compare with).
        A newer version than this registry knows, or an old one left as it was (readers upcast
        old versions; one that could not be upcast stays old), cannot be read.
        """
        current = self.current_versions.get(name)
        if current is None or version == current:
            return None
        if version > current:
            return f"{name} v{version} is newer than this version knows (v{current})"
        return f"{name} v{version} could not be upcast to v{current}"

    def upcast(self, name: str, version: int, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Lift ``data`` stored at ``version`` to the current version of ``name``.

        Unknown types and current versions are returned as they are. A version newer than the
        registry knows is also returned unchanged (the reader keeps it; validation refuses it).
        """
        event_type = self._types.get(name)
        if event_type is None or version >= event_type.version:
            return version, data
        while version < event_type.version:
            step = event_type.upcasters.get(version)
            if step is None:
                raise InvalidEventError(f"{name}: no upcaster from version {version}")
            data = step(dict(data))
            version += 1
        return version, data


registry = SchemaRegistry()
"""The registry of AI Studio's events, filled by :mod:`events.schemas`."""
