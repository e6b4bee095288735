"""The splits view: every named train/val/test split as it was created."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from events import Event
from projections.base import Projection, SkippedEvent


@dataclass(frozen=True, slots=True)
class SplitEntry:
    """One named split, as its ``SplitCreated`` event made it.

    Attributes:
        name: the split's name.
        ratios: ``{"train": f, "val": f, "test": f}``.
        seed: the random seed used.
        stratify: whether subsets keep the class proportions.
        dataset_seq: the seq of the dataset the split was computed from.
        created_seq: the seq of the ``SplitCreated`` event.
        created_ts: its time.
        assignments: subset -> image ids, as assigned (images removed later stay listed here;
            the dataset view's ``splits`` has the current membership).
        counts: subset -> number of images assigned.
    """

    name: str
    ratios: dict[str, float]
    seed: int
    stratify: bool
    dataset_seq: int
    created_seq: int
    created_ts: str
    assignments: dict[str, tuple[str, ...]]
    counts: dict[str, int]


@dataclass(slots=True, eq=True)
class SplitsView:
    """The project's named splits as of event ``seq`` (creation order)."""

    seq: int = 0
    splits: dict[str, SplitEntry] = field(default_factory=dict)
    skipped: tuple[SkippedEvent, ...] = ()
    """The events this view could not read (kept in the log, skipped): see ``SkippedEvent``."""

    def copy(self) -> SplitsView:
        """A copy whose container is independent (entries are immutable and shared)."""
        return SplitsView(self.seq, dict(self.splits), self.skipped)


projection: Projection[SplitsView] = Projection("splits", SplitsView)


@projection.on("SplitCreated")
def _created(view: SplitsView, event: Event) -> SplitsView:
    data: dict[str, Any] = event.data
    assignments = {subset: tuple(ids) for subset, ids in data["assignments"].items()}
    entry = SplitEntry(
        name=data["name"],
        ratios=dict(data["ratios"]),
        seed=data["seed"],
        stratify=data["stratify"],
        dataset_seq=data["dataset_seq"],
        created_seq=event.seq,
        created_ts=event.ts,
        assignments=assignments,
        counts={subset: len(ids) for subset, ids in assignments.items()},
    )
    view.splits.pop(entry.name, None)  # a re-created name moves to the end
    view.splits[entry.name] = entry
    return view


@projection.on("SplitDeleted")
def _deleted(view: SplitsView, event: Event) -> SplitsView:
    view.splits.pop(event.data["name"], None)
    return view


def rebuild(events: Iterable[Event], until_seq: int | None = None) -> SplitsView:
    """The splits view folded from ``events`` (only ``seq <= until_seq`` when given)."""
    return projection.rebuild(events, until_seq)
