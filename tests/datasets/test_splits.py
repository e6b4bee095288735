"""Split assignment: ratios, stratification, reproducibility, small and odd datasets."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from aistudio.datasets.splits import SplitError, assign_subsets
from events import Event
from events.schemas.split import MAX_SEED
from projections.dataset import DatasetView
from projections.dataset import rebuild as rebuild_dataset


def _dataset(labels: list[str | None], values: list[float | None] | None = None) -> DatasetView:
    images = []
    for i, label in enumerate(labels):
        sha = hashlib.sha256(str(i).encode()).hexdigest()
        images.append(
            {
                "image_id": f"img-{i:08x}",
                "sha256": sha,
                "ext": "png",
                "filename": f"{i}.png",
                "width": 32,
                "height": 32,
                "size_bytes": 100,
                "label": label,
                "value": None if values is None else values[i],
            }
        )
    event = Event(
        1,
        "evt-0000000000000001",
        "2026-11-28T00:00:00.000Z",
        "ImagesAdded",
        1,
        "job",
        None,
        {"images": images},
    )
    return rebuild_dataset([event])


def _labels(view: DatasetView, ids: list[str]) -> Counter[str | None]:
    return Counter(view.images[i].label for i in ids)


def test_ratios_and_every_image_once() -> None:
    view = _dataset([str(i % 4) for i in range(200)])
    split = assign_subsets(view, 0.7, 0.15, 0.15, seed=0)
    sizes = {k: len(v) for k, v in split.items()}
    assert sizes == {"train": 140, "val": 30, "test": 30}
    everything = split["train"] + split["val"] + split["test"]
    assert sorted(everything) == sorted(view.images)


def test_stratified_keeps_class_proportions() -> None:
    labels = ["a"] * 120 + ["b"] * 60 + ["c"] * 20
    view = _dataset(labels)
    split = assign_subsets(view, 0.5, 0.25, 0.25, seed=1)
    assert _labels(view, split["train"]) == {"a": 60, "b": 30, "c": 10}
    assert _labels(view, split["val"]) == {"a": 30, "b": 15, "c": 5}
    assert _labels(view, split["test"]) == {"a": 30, "b": 15, "c": 5}


def test_unstratified_differs_from_stratified() -> None:
    labels = ["a"] * 120 + ["b"] * 60 + ["c"] * 20
    view = _dataset(labels)
    strat = assign_subsets(view, 0.5, 0.25, 0.25, seed=1, stratify=True)
    plain = assign_subsets(view, 0.5, 0.25, 0.25, seed=1, stratify=False)
    assert strat != plain
    assert len(plain["train"]) == 100


def test_same_inputs_same_assignment_other_seed_other_one() -> None:
    view = _dataset([str(i % 3) for i in range(90)])
    assert assign_subsets(view, 0.6, 0.2, 0.2, seed=7) == assign_subsets(
        view, 0.6, 0.2, 0.2, seed=7
    )
    assert assign_subsets(view, 0.6, 0.2, 0.2, seed=7) != assign_subsets(
        view, 0.6, 0.2, 0.2, seed=8
    )


def test_zero_val_or_test() -> None:
    view = _dataset([str(i % 2) for i in range(20)])
    split = assign_subsets(view, 0.8, 0.0, 0.2, seed=0)
    assert len(split["val"]) == 0 and len(split["test"]) == 4
    split = assign_subsets(view, 1.0, 0.0, 0.0, seed=0)
    assert len(split["train"]) == 20


def test_tiny_and_rare_classes_still_split() -> None:
    view = _dataset(["a"] * 10 + ["b"] + [None] * 3)
    split = assign_subsets(view, 0.6, 0.2, 0.2, seed=0)
    assert sum(len(v) for v in split.values()) == 14
    view = _dataset(["a", "b"])
    split = assign_subsets(view, 0.5, 0.25, 0.25, seed=0)
    assert sum(len(v) for v in split.values()) == 2


def test_regression_stratifies_on_value_bins() -> None:
    values: list[float | None] = [float(i) for i in range(100)]
    view = _dataset([None] * 100, values)
    split = assign_subsets(view, 0.5, 0.25, 0.25, seed=0)
    train_values = sorted(view.images[i].value or 0.0 for i in split["train"])
    # Every decile of the value range is represented in training.
    assert {int(v // 10) for v in train_values} == set(range(10))


@pytest.mark.parametrize(
    ("train", "val", "test", "message"),
    [
        (0.5, 0.5, 0.5, "sum to 1"),
        (0.0, 0.5, 0.5, "train: must be greater than 0"),
        (1.1, -0.1, 0.0, r"^train: must be at least 0, at most 1"),
        (0.6, -0.1, 0.5, r"^val: must be at least 0, at most 1"),
    ],
)
def test_bad_ratios_refused(train: float, val: float, test: float, message: str) -> None:
    with pytest.raises(SplitError, match=message):
        assign_subsets(_dataset(["a", "b"]), train, val, test, seed=0)


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, 99_999_999_999])
def test_a_seed_out_of_range_states_the_rule(seed: int) -> None:
    with pytest.raises(SplitError, match=f"^seed: must be at least 0, at most {MAX_SEED}$"):
        assign_subsets(_dataset(["a", "b", "c", "d"]), 0.5, 0.25, 0.25, seed=seed)


def test_the_largest_seed_splits() -> None:
    split = assign_subsets(_dataset(["a", "b", "c", "d"]), 0.5, 0.25, 0.25, seed=MAX_SEED)
    assert sorted(i for ids in split.values() for i in ids) == sorted(
        _dataset(["a", "b", "c", "d"]).images
    )


def test_empty_dataset_refused() -> None:
    with pytest.raises(SplitError, match="no images"):
        assign_subsets(rebuild_dataset([]), 0.7, 0.15, 0.15, seed=0)
