"""``Projection``: handlers per type, by predicate, for every event; copy-on-write containers."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from events import Event
from projections.base import Projection, SharedContainers
from tests.projections.helpers import Events


@dataclass(slots=True)
class Trace(SharedContainers):
    seq: int = 0
    seen: list[str] = field(default_factory=list)
    tags: dict[str, int] = field(default_factory=dict)
    _shared: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    _COPIERS = {"seen": list.copy, "tags": dict.copy}


def _projection() -> Projection[Trace]:
    proj: Projection[Trace] = Projection("trace", Trace)

    @proj.on("A", "B")
    def _ab(view: Trace, event: Event) -> Trace:
        view._own("seen")
        view.seen.append(f"ab:{event.type}")
        return view

    @proj.on_match(lambda t: t.startswith("B") or t.startswith("C"))
    def _bc(view: Trace, event: Event) -> Trace:
        view._own("seen")
        view.seen.append(f"match:{event.type}")
        return view

    return proj


def _log(*types: str) -> Events:
    log = Events()
    for event_type in types:
        log.add(event_type)
    return log


def test_type_handlers_win_over_predicates_and_unknown_types_are_skipped() -> None:
    view = _projection().rebuild(_log("A", "B", "C1", "Zed", "C2"))
    assert view.seen == ["ab:A", "ab:B", "match:C1", "match:C2"]
    assert view.seq == 5


def test_every_handler_runs_after_the_type_handler_for_all_events() -> None:
    proj = _projection()

    @proj.on_every
    def _every(view: Trace, event: Event) -> Trace:
        view._own("seen")
        view.seen.append(f"every:{event.seq}")
        return view

    view = proj.rebuild(_log("A", "Zed"))
    assert view.seen == ["ab:A", "every:1", "every:2"]
    assert proj.rebuild(_log("A", "Zed", "A"), until_seq=2).seen == view.seen
    assert proj.handles("Zed")
    with pytest.raises(ValueError, match="every"):
        proj.on_every(_every)


def test_handles_and_duplicates() -> None:
    proj = _projection()
    assert proj.handles("A") and proj.handles("C9") and not proj.handles("Zed")
    with pytest.raises(ValueError, match="two handlers for A"):
        proj.on("A")(lambda view, event: view)


def test_registering_later_clears_the_resolved_types() -> None:
    proj = _projection()
    assert not proj.handles("Zed")

    @proj.on("Zed")
    def _zed(view: Trace, event: Event) -> Trace:
        view._own("tags")
        view.tags["zed"] = event.seq
        return view

    assert proj.handles("Zed")
    assert proj.rebuild(_log("Zed")).tags == {"zed": 1}


def test_apply_and_until_seq() -> None:
    proj = _projection()
    log = _log("A", "C", "B")
    view = proj.apply(Trace(), log.events[0])
    assert (view.seq, view.seen) == (1, ["ab:A"])
    assert proj.rebuild(log, until_seq=2).seen == ["ab:A", "match:C"]
    assert proj.rebuild(log, until_seq=0) == Trace()


def test_shared_containers_are_copied_once_and_only_when_changed() -> None:
    proj = _projection()
    view = proj.rebuild(_log("A"))
    copied = view.copy()
    assert copied == view and copied is not view
    assert copied.seen is view.seen and copied.tags is view.tags  # nothing copied yet
    proj.fold(copied, _log("C").events)
    assert view.seen == ["ab:A"] and copied.seen == ["ab:A", "match:C"]
    assert copied.tags is view.tags  # untouched containers stay shared
    seen = copied.seen
    proj.fold(copied, _log("C").events)
    assert copied.seen is seen  # owned now: changed in place
    proj.fold(view, _log("B").events)  # the original, folded after the copy
    assert view.seen == ["ab:A", "ab:B"] and copied.seen == ["ab:A", "match:C", "match:C"]
