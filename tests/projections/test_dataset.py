"""The dataset view: one table of events per handler and edge case."""

from __future__ import annotations

import copy

import pytest

from projections import dataset
from projections.dataset import UNLABELED, DatasetView, ImageEntry, ImportSummary
from tests.projections.helpers import Events, image, image_id, snapshot, split_data


def _added(*records: dict[str, object]) -> Events:
    log = Events()
    log.add("ImagesAdded", {"images": list(records)}, actor="job")
    return log


def test_empty_view() -> None:
    view = dataset.rebuild([])
    assert view == DatasetView()
    assert (view.seq, view.images, view.classes, view.unlabeled) == (0, {}, [], 0)


def test_images_added_keeps_order_and_counts() -> None:
    log = _added(image(3, "dog"), image(1, "cat"), image(2, "dog"), image(4), image(5, value=2.5))
    view = dataset.rebuild(log)
    assert list(view.images) == [image_id(n) for n in (3, 1, 2, 4, 5)]
    assert view.images[image_id(1)] == ImageEntry(
        image_id(1), f"{1:064x}", "png", "folder/image_0001.png", 32, 24, 101, "cat", None, 1
    )
    assert view.images[image_id(5)].value == 2.5
    assert view.classes == ["dog", "cat"]  # first appearance
    assert view.label_counts == {"dog": 2, "cat": 1}
    assert view.unlabeled == 1  # image 4; image 5 has a value
    assert view.by_sha == {f"{n:064x}": image_id(n) for n in (3, 1, 2, 4, 5)}
    assert view.seq == 1


def test_images_added_records_without_label_or_value_keys() -> None:
    record = image(1)
    del record["label"], record["value"]
    view = dataset.rebuild(_added(record, image(2, "cat")))
    assert view.images[image_id(1)].label is None
    assert view.images[image_id(1)].value is None
    assert (view.unlabeled, view.label_counts) == (1, {"cat": 1})


def test_images_added_again_replaces_the_record() -> None:
    log = _added(image(1, "cat"), image(2))
    log.add("ImagesAdded", {"images": [image(1, "dog", sha=9), image(3, "dog")]})
    view = dataset.rebuild(log)
    assert list(view.images) == [image_id(1), image_id(2), image_id(3)]
    assert view.images[image_id(1)].label == "dog"
    assert view.images[image_id(1)].added_seq == 2
    assert view.label_counts == {"cat": 0, "dog": 2}
    assert view.by_sha == {
        f"{9:064x}": image_id(1),
        f"{2:064x}": image_id(2),
        f"{3:064x}": image_id(3),
    }


def test_same_id_twice_in_one_batch_counts_once() -> None:
    view = dataset.rebuild(_added(image(1, "cat"), image(2), image(1, "dog")))
    assert list(view.images) == [image_id(1), image_id(2)]
    assert view.images[image_id(1)].label == "dog"
    assert view.label_counts == {"cat": 0, "dog": 1}
    assert view.unlabeled == 1


def test_classes_defined_sets_the_order_and_keeps_labels_in_use() -> None:
    log = _added(image(1, "cat"), image(2, "zebra"))
    log.add("ClassesDefined", {"classes": ["dog", "cat"]})
    view = dataset.rebuild(log)
    assert view.classes == ["dog", "cat", "zebra"]  # zebra is still in use
    assert view.label_counts == {"dog": 0, "cat": 1, "zebra": 1}
    log.add("LabelChanged", {"image_id": image_id(2), "label": "cat"})
    log.add("ClassesDefined", {"classes": ["cat", "bird"]})
    view = dataset.rebuild(log)
    assert view.classes == ["cat", "bird"]  # unused dog and zebra are gone
    assert view.label_counts == {"cat": 2, "bird": 0}


@pytest.mark.parametrize(
    ("change", "label", "value", "counts", "unlabeled", "classes"),
    [
        ({"label": "dog"}, "dog", None, {"cat": 0, "dog": 2}, 1, ["cat", "dog"]),
        ({"label": "fox"}, "fox", None, {"cat": 0, "dog": 1, "fox": 1}, 1, ["cat", "dog", "fox"]),
        ({"label": None}, None, None, {"cat": 0, "dog": 1}, 2, ["cat", "dog"]),
        ({}, None, None, {"cat": 0, "dog": 1}, 2, ["cat", "dog"]),
        ({"value": 1.5}, None, 1.5, {"cat": 0, "dog": 1}, 1, ["cat", "dog"]),
        ({"label": "cat"}, "cat", None, {"cat": 1, "dog": 1}, 1, ["cat", "dog"]),
    ],
)
def test_label_changed(
    change: dict[str, object],
    label: str | None,
    value: float | None,
    counts: dict[str, int],
    unlabeled: int,
    classes: list[str],
) -> None:
    log = _added(image(1, "cat"), image(2, "dog"), image(3))
    log.add("LabelChanged", {"image_id": image_id(1), **change})
    view = dataset.rebuild(log)
    entry = view.images[image_id(1)]
    assert (entry.label, entry.value) == (label, value)
    assert entry.added_seq == 1 and entry.filename == "folder/image_0001.png"
    assert view.label_counts == counts
    assert view.unlabeled == unlabeled
    assert view.classes == classes
    assert list(view.images) == [image_id(1), image_id(2), image_id(3)]  # order kept


def test_label_changed_from_unlabeled_and_from_a_value() -> None:
    log = _added(image(1), image(2, value=3.0))
    log.add("LabelChanged", {"image_id": image_id(1), "label": "cat"})
    log.add("LabelChanged", {"image_id": image_id(2), "value": None})
    view = dataset.rebuild(log)
    assert view.unlabeled == 1  # image 2 lost its value; image 1 got a label
    assert view.label_counts == {"cat": 1}


def test_label_changed_for_an_unknown_image_is_ignored() -> None:
    log = _added(image(1, "cat"))
    log.add("LabelChanged", {"image_id": image_id(99), "label": "dog"})
    view = dataset.rebuild(log)
    assert view.seq == 2
    assert view.classes == ["cat"] and view.label_counts == {"cat": 1}
    assert image_id(99) not in view.images


def test_image_removed_updates_everything() -> None:
    log = _added(image(1, "cat"), image(2, "cat"), image(3), image(4, "dog"))
    log.add("SplitCreated", split_data("s", [image_id(1), image_id(3)], [image_id(2)], []))
    log.add("SplitCreated", split_data("t", [image_id(2)], [image_id(1)], [image_id(4)]))
    log.add("ImageRemoved", {"image_id": image_id(1)})
    log.add("ImageRemoved", {"image_id": image_id(3)})
    view = dataset.rebuild(log)
    assert list(view.images) == [image_id(2), image_id(4)]
    assert f"{1:064x}" not in view.by_sha and f"{3:064x}" not in view.by_sha
    assert view.label_counts == {"cat": 1, "dog": 1}
    assert view.classes == ["cat", "dog"]
    assert view.unlabeled == 0
    assert view.splits == {
        "s": {image_id(2): "val"},
        "t": {image_id(2): "train", image_id(4): "test"},
    }


def test_image_removed_twice_or_unknown_is_ignored() -> None:
    log = _added(image(1, "cat"), image(2, "cat"))
    log.add("ImageRemoved", {"image_id": image_id(1)})
    once = dataset.rebuild(log)
    log.add("ImageRemoved", {"image_id": image_id(1)})
    log.add("ImageRemoved", {"image_id": image_id(77)})
    twice = dataset.rebuild(log)
    assert twice.seq == 4
    twice.seq = once.seq
    assert twice == once
    assert once.label_counts == {"cat": 1}


def test_removed_image_keeps_a_shared_sha_of_another_image() -> None:
    log = _added(image(1, "cat", sha=5), image(2, "cat", sha=5))
    log.add("ImageRemoved", {"image_id": image_id(1)})
    view = dataset.rebuild(log)
    assert view.by_sha == {f"{5:064x}": image_id(2)}


def test_split_created_replaced_and_deleted() -> None:
    log = _added(*(image(n, "cat") for n in range(1, 6)))
    ids = [image_id(n) for n in range(1, 6)]
    log.add("SplitCreated", split_data("default", ids[:3], ids[3:4], ids[4:]))
    view = dataset.rebuild(log)
    assert view.splits == {
        "default": {
            ids[0]: "train",
            ids[1]: "train",
            ids[2]: "train",
            ids[3]: "val",
            ids[4]: "test",
        }
    }
    log.add("SplitCreated", split_data("other", ids[::-1], [], []))
    log.add("SplitCreated", split_data("default", ids[1:], [], ids[:1]))
    view = dataset.rebuild(log)
    assert list(view.splits) == ["other", "default"]  # a re-created split moves to the end
    assert list(view.splits["default"]) == ids == list(view.splits["other"])  # import order
    assert view.splits["default"] == {
        ids[1]: "train",
        ids[2]: "train",
        ids[3]: "train",
        ids[4]: "train",
        ids[0]: "test",
    }
    log.add("SplitDeleted", {"name": "default"})
    log.add("SplitDeleted", {"name": "never-made"})
    view = dataset.rebuild(log)
    assert list(view.splits) == ["other"]
    assert view.seq == 6


def test_split_created_leaves_out_images_already_removed() -> None:
    log = _added(image(1, "cat"), image(2, "dog"))
    log.add("ImageRemoved", {"image_id": image_id(2)})
    log.add("SplitCreated", split_data("s", [image_id(1)], [image_id(2)], [image_id(9)]))
    view = dataset.rebuild(log)
    assert view.splits == {"s": {image_id(1): "train"}}


def test_images_added_after_a_split_are_not_members() -> None:
    log = _added(image(1, "cat"))
    log.add("SplitCreated", split_data("s", [image_id(1)], [], []))
    log.add("ImagesAdded", {"images": [image(2, "cat")]})
    view = dataset.rebuild(log)
    assert view.subset_of(image_id(1), "s") == "train"
    assert view.subset_of(image_id(2), "s") is None
    assert view.subset_of(image_id(1), "nope") is None


def test_import_completed_is_summarised() -> None:
    log = Events()
    log.add("ImportRequested", {"source": "/data", "format": "auto", "options": {}})
    data = {"source": "/data", "format": "imagefolder", "added": 4, "duplicates": 1, "skipped": 2}
    log.add("ImportCompleted", {**data, "duration_s": 0.5}, actor="job")
    view = dataset.rebuild(log)
    assert view.imports == [ImportSummary(seq=2, ts=log.events[1].ts, **data)]


def test_unknown_and_unrelated_event_types_are_skipped() -> None:
    log = _added(image(1, "cat"))
    before = dataset.rebuild(log)
    log.add("SomethingFromTheFuture", {"image_id": image_id(1), "label": "dog"})
    log.add("ProjectRenamed", {"name": "x"})
    log.add("ImportSkipped", {"items": [{"path": "a.txt", "reason": "not an image"}]})
    after = dataset.rebuild(log)
    assert after.seq == 4
    after.seq = before.seq
    assert after == before


def test_rebuild_until_seq_is_time_travel() -> None:
    log = _added(image(1, "cat"), image(2, "cat"))
    log.add("LabelChanged", {"image_id": image_id(1), "label": "dog"})
    log.add("ImageRemoved", {"image_id": image_id(2)})
    assert dataset.rebuild(log, until_seq=0) == DatasetView()
    at1 = dataset.rebuild(log, until_seq=1)
    assert at1.seq == 1 and at1.label_counts == {"cat": 2}
    at2 = dataset.rebuild(log, until_seq=2)
    assert at2.seq == 2 and at2.label_counts == {"cat": 1, "dog": 1}
    assert dataset.rebuild(log, until_seq=99) == dataset.rebuild(log)
    assert dataset.rebuild(log).label_counts == {"cat": 0, "dog": 1}


def test_folding_does_not_change_event_data() -> None:
    log = _added(image(1, "cat"), image(2))
    ids = [image_id(1), image_id(2)]
    log.add("SplitCreated", split_data("s", ids, [], []))
    log.add("LabelChanged", {"image_id": image_id(1), "label": "dog"})
    log.add("ImageRemoved", {"image_id": image_id(2)})
    log.add("ClassesDefined", {"classes": ["dog"]})
    before = copy.deepcopy([e.data for e in log])
    dataset.rebuild(log)
    assert [e.data for e in log] == before


def _rich_events() -> Events:
    log = _added(
        image(1, "cat"), image(2, "dog"), image(3), image(4, "cat", filename="x/Tabby.PNG")
    )
    ids = [image_id(n) for n in range(1, 5)]
    log.add("SplitCreated", split_data("s", ids[:2], ids[2:3], ids[3:]))
    return log


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, [1, 2, 3, 4]),
        ({"label": "cat"}, [1, 4]),
        ({"label": "nope"}, []),
        ({"label": UNLABELED}, [3]),
        ({"split": "s"}, [1, 2, 3, 4]),
        ({"split": "s", "subset": "train"}, [1, 2]),
        ({"split": "s", "subset": "test", "label": "cat"}, [4]),
        ({"split": "missing"}, []),
        ({"name_contains": "tabby"}, [4]),
        ({"name_contains": "IMAGE_000"}, [1, 2, 3]),
        ({"name_contains": "image", "label": "dog"}, [2]),
    ],
)
def test_filter(kwargs: dict[str, str], expected: list[int]) -> None:
    view = dataset.rebuild(_rich_events())
    assert view.filter(**kwargs) == [image_id(n) for n in expected]


def test_filter_by_subset_needs_a_split() -> None:
    view = dataset.rebuild(_rich_events())
    with pytest.raises(ValueError, match="split"):
        view.filter(subset="train")


def test_filter_is_in_import_order_after_a_relabel() -> None:
    log = _rich_events()
    log.add("LabelChanged", {"image_id": image_id(2), "label": "cat"})
    view = dataset.rebuild(log)
    assert view.filter(label="cat") == [image_id(1), image_id(2), image_id(4)]


def test_class_counts_by_subset() -> None:
    log = _rich_events()
    log.add("ClassesDefined", {"classes": ["cat", "dog", "bird"]})
    view = dataset.rebuild(log)
    assert view.class_counts_by_subset("s") == {
        "train": {"cat": 1, "dog": 1, "bird": 0},
        "val": {"cat": 0, "dog": 0, "bird": 0},  # image 3 is unlabeled
        "test": {"cat": 1, "dog": 0, "bird": 0},
    }
    with pytest.raises(KeyError):
        view.class_counts_by_subset("missing")


# Copy-on-write: every kind of change, folded into a copy, leaves the original as it was (and
# the other way round).
_CHANGES = [
    ("ImagesAdded", {"images": [image(10, "fox"), image(11)]}),
    ("ImagesAdded", {"images": [image(1, "bird")]}),
    ("ClassesDefined", {"classes": ["dog", "emu"]}),
    ("LabelChanged", {"image_id": image_id(1), "label": "emu"}),
    ("LabelChanged", {"image_id": image_id(3), "value": 2.0}),
    (
        "AnnotationsSet",
        {
            "annotations": {
                image_id(2): {"kind": "boxes", "objects": [{"class": "dog", "box": [1, 1, 5, 5]}]},
                image_id(3): {"kind": "boxes", "objects": []},
            }
        },
    ),
    ("AnnotationChanged", {"image_id": image_id(2), "annotation": None}),
    ("ImageRemoved", {"image_id": image_id(1)}),
    ("SplitCreated", split_data("s", [image_id(1)], [], [])),
    ("SplitCreated", split_data("new", [image_id(2)], [], [])),
    ("SplitDeleted", {"name": "s"}),
    (
        "ImportCompleted",
        {
            "source": "/d",
            "format": "csv",
            "added": 1,
            "duplicates": 0,
            "skipped": 0,
            "duration_s": 0,
        },
    ),
]


@pytest.mark.parametrize(("event_type", "data"), _CHANGES, ids=[c[0] for c in _CHANGES])
def test_copy_is_independent_for_every_change(event_type: str, data: dict[str, object]) -> None:
    log = _rich_events()
    original = dataset.rebuild(log)
    frozen = snapshot(original)
    change = Events()
    change.events = list(log.events)
    change.add(event_type, data)
    expected = dataset.rebuild(change)

    copied = dataset.projection.fold(original.copy(), change.events[-1:])
    assert copied == expected
    assert snapshot(original) == frozen

    # The original folded after a copy was taken leaves the copy alone too.
    taken = original.copy()
    dataset.projection.fold(original, change.events[-1:])
    assert original == expected
    assert snapshot(taken) == frozen


def test_copy_of_a_copy_and_many_changes() -> None:
    log = _rich_events()
    view = dataset.rebuild(log)
    snapshots = []
    copies = []
    for event_type, data in _CHANGES:
        copies.append(view)
        snapshots.append(snapshot(view))
        view = view.copy()
        event = log.add(event_type, data)
        dataset.projection.apply(view, event)
        assert view.seq == len(log)
    assert [snapshot(v) for v in copies] == snapshots
    assert view == dataset.rebuild(log)
