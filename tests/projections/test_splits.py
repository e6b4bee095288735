"""The splits view."""

from __future__ import annotations

from projections import splits
from projections.splits import SplitEntry, SplitsView
from tests.projections.helpers import Events, image_id, split_data

IDS = [image_id(n) for n in range(6)]


def test_split_created() -> None:
    log = Events()
    event = log.add(
        "SplitCreated", {**split_data("default", IDS[:4], IDS[4:5], IDS[5:]), "seed": 7}
    )
    view = splits.rebuild(log)
    assert view.splits == {
        "default": SplitEntry(
            name="default",
            ratios={"train": 0.6, "val": 0.2, "test": 0.2},
            seed=7,
            stratify=True,
            dataset_seq=0,
            created_seq=1,
            created_ts=event.ts,
            assignments={"train": tuple(IDS[:4]), "val": (IDS[4],), "test": (IDS[5],)},
            counts={"train": 4, "val": 1, "test": 1},
        )
    }


def test_same_name_replaces_and_deleted_removes() -> None:
    log = Events()
    log.add("SplitCreated", split_data("a", IDS[:2], [], []))
    log.add("SplitCreated", split_data("b", IDS, [], []))
    log.add("SplitCreated", split_data("a", IDS[:1], IDS[1:2], IDS[2:3]))
    view = splits.rebuild(log)
    assert list(view.splits) == ["b", "a"]
    assert view.splits["a"].counts == {"train": 1, "val": 1, "test": 1}
    assert view.splits["a"].created_seq == 3
    log.add("SplitDeleted", {"name": "b"})
    log.add("SplitDeleted", {"name": "zzz"})
    view = splits.rebuild(log)
    assert list(view.splits) == ["a"] and view.seq == 5


def test_unknown_types_and_time_travel() -> None:
    log = Events()
    log.add("SplitCreated", split_data("a", IDS, [], []))
    log.add("Mystery", {})
    log.add("SplitDeleted", {"name": "a"})
    assert list(splits.rebuild(log, until_seq=2).splits) == ["a"]
    assert splits.rebuild(log, until_seq=2).seq == 2
    assert splits.rebuild(log) == SplitsView(seq=3)


def test_copy_is_independent() -> None:
    log = Events()
    log.add("SplitCreated", split_data("a", IDS, [], []))
    view = splits.rebuild(log)
    copied = splits.projection.fold(view.copy(), [log.add("SplitDeleted", {"name": "a"})])
    assert list(view.splits) == ["a"] and copied.splits == {}
