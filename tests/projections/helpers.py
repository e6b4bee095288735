"""Building events for projection tests: numbered seqs, valid-looking ids, fixed times."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from events import Event
from projections.serialize import to_jsonable

CLASSES = ("cat", "dog", "bird")


def event_id(n: int) -> str:
    """A valid event id derived from ``n``."""
    return f"evt-{n:016x}"


def timestamp(seq: int) -> str:
    """A fixed, increasing ISO time for ``seq``."""
    hours, rest = divmod(seq, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"2026-01-01T{hours:02d}:{minutes:02d}:{seconds:02d}.000Z"


class Events:
    """A list of events numbered 1, 2, 3, … as they are added.

    Example:
        >>> log = Events()
        >>> ev = log.add("ProjectRenamed", {"name": "x"})
        >>> ev.seq
        1
    """

    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(
        self,
        type: str,
        data: dict[str, Any] | None = None,
        *,
        actor: str = "ui",
        causation: str | None = None,
        id: str | None = None,
    ) -> Event:
        """Append one event with the next seq; returns it."""
        seq = len(self.events) + 1
        event = Event(
            seq, id or event_id(seq), timestamp(seq), type, 1, actor, causation, data or {}
        )
        self.events.append(event)
        return event

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    @property
    def last_seq(self) -> int:
        """The seq of the last event (0 when empty)."""
        return len(self.events)


def image(
    n: int,
    label: str | None = None,
    value: float | None = None,
    *,
    sha: int | None = None,
    filename: str | None = None,
) -> dict[str, Any]:
    """A valid ``ImagesAdded`` record for image number ``n``."""
    return {
        "image_id": image_id(n),
        "sha256": f"{n if sha is None else sha:064x}",
        "ext": "png",
        "filename": filename or f"folder/image_{n:04d}.png",
        "width": 32,
        "height": 24,
        "size_bytes": 100 + n,
        "label": label,
        "value": value,
    }


def image_id(n: int) -> str:
    """The id of image number ``n``."""
    return f"img-{n:08x}"


def snapshot(view: object) -> Any:
    """A deep, plain-data copy of ``view`` (to check later that it did not change)."""
    return to_jsonable(view)


def project_created(name: str = "Pets", task: str = "classification") -> dict[str, Any]:
    """The data of a ``ProjectCreated`` event."""
    return {"project_id": "proj-0000cafe", "name": name, "task": task, "description": ""}


def split_data(name: str, train: list[str], val: list[str], test: list[str]) -> dict[str, Any]:
    """The data of a ``SplitCreated`` event."""
    return {
        "name": name,
        "ratios": {"train": 0.6, "val": 0.2, "test": 0.2},
        "seed": 0,
        "stratify": True,
        "dataset_seq": 0,
        "assignments": {"train": train, "val": val, "test": test},
    }
