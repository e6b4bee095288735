"""``to_jsonable``: every view becomes plain JSON data."""

from __future__ import annotations

from typing import NamedTuple

import orjson
import pytest

from projections import dataset, jobs, project, splits
from projections.serialize import to_jsonable
from tests.projections.helpers import Events, image, image_id, project_created, split_data


def _log() -> Events:
    log = Events()
    log.add("ProjectCreated", project_created())
    log.add("ImagesAdded", {"images": [image(1, "cat"), image(2, value=1.5)]})
    log.add("SplitCreated", split_data("s", [image_id(1)], [image_id(2)], []))
    log.add("TrainingRequested", {"experiment_id": "exp-00000001", "config": {"lr": 0.1}})
    return log


def test_every_view_round_trips_through_json() -> None:
    log = _log()
    for module in (dataset, jobs, project, splits):
        data = to_jsonable(module.rebuild(log))
        assert orjson.loads(orjson.dumps(data)) == data


def test_dataset_view_shape() -> None:
    data = to_jsonable(dataset.rebuild(_log()))
    assert data["images"][image_id(1)] == {
        "image_id": image_id(1),
        "sha256": f"{1:064x}",
        "ext": "png",
        "filename": "folder/image_0001.png",
        "width": 32,
        "height": 24,
        "size_bytes": 101,
        "label": "cat",
        "value": None,
        "added_seq": 2,
        "structured": None,
        "orientation": 1,
    }
    assert data["splits"] == {"s": {image_id(1): "train", image_id(2): "val"}}
    assert "_shared" not in data and data["seq"] == 4


def test_project_view_leaves_private_fields_out() -> None:
    data = to_jsonable(project.rebuild(_log()))
    assert data["image_count"] == 2
    assert not [key for key in data if key.startswith("_")]


def test_splits_tuples_become_lists() -> None:
    data = to_jsonable(splits.rebuild(_log()))
    assert data["splits"]["s"]["assignments"] == {
        "train": [image_id(1)],
        "val": [image_id(2)],
        "test": [],
    }


class _Pair(NamedTuple):
    a: object
    b: object


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({2: (1, 2), None: {3}, True: []}, {"2": [1, 2], "null": [3], "true": []}),
        (_Pair((1,), {"x": frozenset({"b", "a"})}), {"a": [1], "b": {"x": ["a", "b"]}}),
        (_Pair(1, "s"), {"a": 1, "b": "s"}),
    ],
)
def test_containers(value: object, expected: object) -> None:
    assert to_jsonable(value) == expected


@pytest.mark.parametrize("value", [object(), b"bytes", {(1, 2): 3}])
def test_refuses_what_json_cannot_hold(value: object) -> None:
    with pytest.raises(TypeError):
        to_jsonable(value)
