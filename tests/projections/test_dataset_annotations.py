"""The dataset view folds annotations of every kind (DESIGN §3b): tables of events in, view out."""

from __future__ import annotations

from typing import Any

import pytest

from events import registry
from projections import dataset
from projections.dataset import UNLABELED
from tests.projections.helpers import Events, image, image_id, project_created

BOXES = {
    "kind": "boxes",
    "objects": [
        {"class": "cat", "box": [1.0, 2.0, 10.0, 12.0]},
        {"class": "dog", "box": [5.0, 5.0, 20.0, 20.0]},
        {"class": "cat", "box": [0.0, 0.0, 3.0, 3.0], "difficult": True},
    ],
}
NEGATIVE = {"kind": "boxes", "objects": []}
RBOXES = {
    "kind": "rboxes",
    "objects": [{"class": "dog", "cx": 8.0, "cy": 8.0, "w": 6.0, "h": 2.0, "angle": -45.0}],
}
SEMANTIC = {"kind": "semantic", "mask": {"sha256": "a" * 64, "ext": "png"}}
ANOMALY = {"kind": "anomaly", "state": "defect", "defect_type": "scratch", "mask": None}


def _detection_log(*annotations: tuple[int, dict[str, Any] | None]) -> Events:
    """Three unannotated images, then one ``AnnotationsSet`` of ``annotations``."""
    log = Events()
    log.add("ProjectCreated", project_created(task="detection"))
    log.add("ImagesAdded", {"images": [image(1), image(2), image(3)]})
    log.add("ClassesDefined", {"classes": ["cat", "dog"]})
    if annotations:
        batch = {image_id(n): a for n, a in annotations if a is not None}
        log.add("AnnotationsSet", {"annotations": batch})
    return log


@pytest.mark.parametrize("annotation", [BOXES, NEGATIVE, RBOXES, SEMANTIC, ANOMALY])
def test_every_golden_kind_is_valid_for_the_schema(annotation: dict[str, Any]) -> None:
    data = {"annotations": {image_id(1): annotation}}
    assert registry.validate("AnnotationsSet", data)["annotations"][image_id(1)]["kind"]


@pytest.mark.parametrize(
    ("annotations", "objects", "unlabeled", "annotated"),
    [
        ((), {"cat": 0, "dog": 0}, 3, []),
        (((1, BOXES),), {"cat": 2, "dog": 1}, 2, [1]),
        (((1, BOXES), (2, NEGATIVE)), {"cat": 2, "dog": 1}, 1, [1, 2]),
        (((1, BOXES), (2, RBOXES), (3, SEMANTIC)), {"cat": 2, "dog": 2}, 0, [1, 2, 3]),
    ],
)
def test_annotations_set_counts_objects_and_annotated_images(
    annotations: tuple[tuple[int, dict[str, Any]], ...],
    objects: dict[str, int],
    unlabeled: int,
    annotated: list[int],
) -> None:
    view = dataset.rebuild(_detection_log(*annotations))
    assert view.object_counts == objects
    assert view.label_counts == {"cat": 0, "dog": 0}
    assert view.unlabeled == unlabeled
    assert [i for i in (1, 2, 3) if view.images[image_id(i)].annotated] == annotated
    assert view.filter(label=UNLABELED) == [image_id(i) for i in (1, 2, 3) if i not in annotated]


def test_a_negative_is_annotated_and_not_the_same_as_unannotated() -> None:
    view = dataset.rebuild(_detection_log((2, NEGATIVE)))
    negative, unannotated = view.images[image_id(2)], view.images[image_id(3)]
    assert negative.annotation == NEGATIVE and negative.annotated
    assert unannotated.annotation is None and not unannotated.annotated


def test_annotation_gives_every_kind_the_same_way() -> None:
    log = Events()
    log.add("ImagesAdded", {"images": [image(1, "cat"), image(2, value=2.5), image(3)]})
    log.add("AnnotationsSet", {"annotations": {image_id(3): ANOMALY}})
    view = dataset.rebuild(log)
    assert view.images[image_id(1)].annotation == {"kind": "label", "label": "cat"}
    assert view.images[image_id(2)].annotation == {"kind": "value", "value": 2.5}
    assert view.images[image_id(3)].annotation == ANOMALY
    assert view.images[image_id(3)].structured == ANOMALY


def test_annotation_changed_replaces_as_a_whole_and_clears() -> None:
    log = _detection_log((1, BOXES))
    log.add(
        "AnnotationChanged",
        {
            "image_id": image_id(1),
            "annotation": {"kind": "boxes", "objects": BOXES["objects"][1:2]},
        },
    )
    view = dataset.rebuild(log)
    assert view.object_counts == {"cat": 0, "dog": 1} and view.unlabeled == 2
    log.add("AnnotationChanged", {"image_id": image_id(1), "annotation": None})
    view = dataset.rebuild(log)
    assert view.object_counts == {"cat": 0, "dog": 0} and view.unlabeled == 3
    assert view.images[image_id(1)].annotation is None


def test_label_and_value_annotations_fold_as_label_changed_does() -> None:
    by_annotation = Events()
    by_label = Events()
    for log in (by_annotation, by_label):
        log.add("ImagesAdded", {"images": [image(1), image(2)]})
    by_annotation.add(
        "AnnotationsSet",
        {
            "annotations": {
                image_id(1): {"kind": "label", "label": "cat"},
                image_id(2): {"kind": "value", "value": 3.0},
            }
        },
    )
    by_label.add("LabelChanged", {"image_id": image_id(1), "label": "cat"})
    by_label.add("LabelChanged", {"image_id": image_id(2), "value": 3.0})
    a, b = dataset.rebuild(by_annotation), dataset.rebuild(by_label)
    assert a.images == b.images and a.label_counts == b.label_counts
    assert a.unlabeled == b.unlabeled == 0


def test_a_label_replaces_a_structured_annotation_and_the_counts_follow() -> None:
    log = _detection_log((1, BOXES))
    log.add("LabelChanged", {"image_id": image_id(1), "label": "cat"})
    view = dataset.rebuild(log)
    entry = view.images[image_id(1)]
    assert entry.structured is None and entry.label == "cat"
    assert view.object_counts == {"cat": 0, "dog": 0} and view.label_counts["cat"] == 1


def test_unknown_images_and_classes_keep_the_invariants() -> None:
    log = _detection_log()
    batch = {
        image_id(9): BOXES,  # no such image: ignored
        image_id(1): {"kind": "boxes", "objects": [{"class": "emu", "box": [0, 0, 1, 1]}]},
    }
    log.add("AnnotationsSet", {"annotations": batch})
    view = dataset.rebuild(log)
    assert image_id(9) not in view.images
    assert view.classes == ["cat", "dog", "emu"] and view.object_counts["emu"] == 1
    log.add("ClassesDefined", {"classes": ["dog"]})
    view = dataset.rebuild(log)
    assert view.classes == ["dog", "emu"], "a class in use stays listed"


def test_image_removed_takes_its_objects_out_of_the_counts() -> None:
    log = _detection_log((1, BOXES), (2, NEGATIVE))
    log.add("ImageRemoved", {"image_id": image_id(1)})
    log.add("ImageRemoved", {"image_id": image_id(3)})
    view = dataset.rebuild(log)
    assert view.object_counts == {"cat": 0, "dog": 0} and view.unlabeled == 0


def test_an_annotation_without_readable_objects_is_skipped_whole() -> None:
    log = _detection_log()
    log.add(
        "AnnotationsSet",
        {
            "annotations": {
                image_id(1): BOXES,
                image_id(2): {"kind": "boxes", "objects": [{"box": [0, 0, 1, 1]}]},
            }
        },
    )
    view = dataset.rebuild(log)
    assert [s.seq for s in view.skipped] == [4]
    assert view.object_counts == {"cat": 0, "dog": 0} and view.unlabeled == 3


def test_time_travel_sees_the_annotation_as_it_was() -> None:
    log = _detection_log((1, BOXES))
    log.add("AnnotationChanged", {"image_id": image_id(1), "annotation": NEGATIVE})
    assert dataset.rebuild(log, until_seq=4).images[image_id(1)].annotation == BOXES
    assert dataset.rebuild(log).images[image_id(1)].annotation == NEGATIVE


def test_filtering_by_class_finds_images_holding_an_object_of_it() -> None:
    log = _detection_log((1, BOXES), (2, NEGATIVE), (3, RBOXES))
    view = dataset.rebuild(log)
    assert view.filter(label="cat") == [image_id(1)]
    assert view.filter(label="dog") == [image_id(1), image_id(3)]


def test_class_counts_by_subset_count_objects() -> None:
    from tests.projections.helpers import split_data

    log = _detection_log((1, BOXES), (2, NEGATIVE), (3, RBOXES))
    log.add("SplitCreated", split_data("s", [image_id(1), image_id(2)], [image_id(3)], []))
    counts = dataset.rebuild(log).class_counts_by_subset("s")
    assert counts["train"] == {"cat": 2, "dog": 1}
    assert counts["val"] == {"cat": 0, "dog": 1}
