"""Detection augmentations move boxes with the pixels; box rescaling round-trips."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.transforms import v2

from aistudio.tasks.detection_models.transforms import (
    FILL,
    MIN_VISIBLE,
    DetectionAugmentation,
    boxes_to_image,
    build_detection_augmentation,
    resize_target,
)
from events.schemas.training import Augmentations

S = 64
PALETTE = torch.tensor(
    [[230, 25, 25], [25, 200, 25], [25, 60, 230], [240, 220, 20]], dtype=torch.float32
)
"""Colour of the object with label i (background black, uncovered border FILL)."""


def _augment(**on: object) -> SimpleNamespace:
    settings_ = {
        "random_resized_crop": False,
        "horizontal_flip": False,
        "vertical_flip": False,
        "rotation_degrees": 0.0,
        "color_jitter": 0.0,
    }
    settings_.update(on)
    return SimpleNamespace(**settings_)


def _target(boxes: list[list[float]], labels: list[int]) -> dict[str, torch.Tensor]:
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.int64),
    }


def _painted(boxes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """A black image with each box filled with its label's colour."""
    image = torch.zeros(3, S, S, dtype=torch.uint8)
    for box, label in zip(boxes.round().int().tolist(), labels.tolist(), strict=True):
        x1, y1, x2, y2 = box
        image[:, y1:y2, x1:x2] = PALETTE[label].to(torch.uint8)[:, None, None]
    return image


def _majority_colour(image: torch.Tensor, box: torch.Tensor) -> int | None:
    """The palette index most pixels inside ``box`` are closest to (ignoring black and FILL)."""
    x1, y1 = int(box[0].floor()), int(box[1].floor())
    x2, y2 = int(box[2].ceil()), int(box[3].ceil())
    pixels = image[:, y1:y2, x1:x2].reshape(3, -1).t().float()
    if not len(pixels):
        return None
    references = torch.cat((PALETTE, torch.zeros(1, 3), torch.tensor([FILL], dtype=torch.float32)))
    nearest = torch.cdist(pixels, references).argmin(dim=1)
    counts = torch.bincount(nearest, minlength=len(references))[: len(PALETTE)]
    return int(counts.argmax()) if counts.max() > 0 else None


# ---------------------------------------------------------------------- strategies
coordinate = st.floats(min_value=0.0, max_value=S - 1.5, allow_nan=False, width=32)


@st.composite
def boxes_inside(draw: st.DrawFn) -> torch.Tensor:
    """0-6 boxes inside the S x S image, each side at least 1.5 px."""
    boxes = []
    for _ in range(draw(st.integers(0, 6))):
        x1, y1 = draw(coordinate), draw(coordinate)
        x2 = draw(st.floats(min_value=float(np.float32(x1 + 1.5)), max_value=float(S), width=32))
        y2 = draw(st.floats(min_value=float(np.float32(y1 + 1.5)), max_value=float(S), width=32))
        boxes.append([x1, y1, x2, y2])
    return torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)


@st.composite
def separated_objects(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor]:
    """1-4 near-square objects, one per quadrant, far enough apart to tell them apart."""
    quadrants = draw(st.lists(st.integers(0, 3), min_size=1, max_size=4, unique=True))
    boxes = []
    for quadrant in quadrants:
        ox, oy = (quadrant % 2) * 32, (quadrant // 2) * 32
        side = draw(st.integers(10, 18))
        other = draw(st.integers(max(10, int(side / 1.5)), min(18, int(side * 1.5))))
        x = draw(st.integers(4, 32 - 4 - side))
        y = draw(st.integers(4, 32 - 4 - other))
        boxes.append([ox + x, oy + y, ox + x + side, oy + y + other])
    return torch.tensor(boxes, dtype=torch.float32), torch.tensor(quadrants, dtype=torch.int64)


# ---------------------------------------------------------------------- flips
@pytest.mark.parametrize("axis", ["horizontal", "vertical"])
@settings(max_examples=60, deadline=None)
@given(boxes=boxes_inside(), seed=st.integers(0, 2**31 - 1))
def test_flips_map_coordinates_exactly(axis: str, boxes: torch.Tensor, seed: int) -> None:
    augmentation = build_detection_augmentation(_augment(**{f"{axis}_flip": True}), S)
    assert augmentation is not None
    image = torch.randint(0, 256, (3, S, S), dtype=torch.uint8)
    labels = torch.arange(len(boxes))
    torch.manual_seed(seed)
    out, target = augmentation(image, {"boxes": boxes, "labels": labels})
    assert torch.equal(target["labels"], labels)
    dim = -1 if axis == "horizontal" else -2
    if torch.equal(out, image):
        assert torch.equal(target["boxes"], boxes)
        return
    assert torch.equal(out, image.flip(dim))
    x1, y1, x2, y2 = boxes.unbind(dim=1)
    size = torch.tensor(float(S))
    if axis == "horizontal":
        expected = torch.stack((size - x2, y1, size - x1, y2), dim=1)
    else:
        expected = torch.stack((x1, size - y2, x2, size - y1), dim=1)
    assert torch.equal(target["boxes"], expected)


def test_flips_happen_about_half_the_time() -> None:
    augmentation = build_detection_augmentation(_augment(horizontal_flip=True), S)
    assert augmentation is not None
    image = torch.randint(0, 256, (3, S, S), dtype=torch.uint8)
    torch.manual_seed(0)
    flipped = sum(
        not torch.equal(augmentation(image, _target([], []))[0], image) for _ in range(100)
    )
    assert 30 < flipped < 70


# ---------------------------------------------------------------------- every transform
ALL_GEOMETRY = _augment(
    random_resized_crop=True, horizontal_flip=True, vertical_flip=True, rotation_degrees=25.0
)


@settings(max_examples=40, deadline=None)
@given(objects=separated_objects(), seed=st.integers(0, 2**31 - 1))
def test_random_transforms_keep_boxes_inside_and_labels_on_their_objects(
    objects: tuple[torch.Tensor, torch.Tensor], seed: int
) -> None:
    boxes, labels = objects
    augmentation = build_detection_augmentation(ALL_GEOMETRY, S)
    assert augmentation is not None
    image = _painted(boxes, labels)
    torch.manual_seed(seed)
    out, target = augmentation(image, {"boxes": boxes, "labels": labels})
    assert out.shape == (3, S, S) and out.dtype == torch.uint8
    assert target["boxes"].dtype == torch.float32 and target["labels"].dtype == torch.int64
    assert target["boxes"].shape == (len(target["labels"]), 4)
    assert (target["boxes"] >= 0).all() and (target["boxes"] <= S).all()
    widths = target["boxes"][:, 2] - target["boxes"][:, 0]
    heights = target["boxes"][:, 3] - target["boxes"][:, 1]
    assert (widths >= 1).all() and (heights >= 1).all()
    kept = target["labels"].tolist()
    assert len(set(kept)) == len(kept) and set(kept) <= set(labels.tolist())
    # the kept labels keep the input order
    assert kept == [label for label in labels.tolist() if label in kept]
    for box, label in zip(target["boxes"], kept, strict=True):
        assert _majority_colour(out, box) == label, (box, label)


def test_a_box_cropped_out_of_view_leaves_with_its_label() -> None:
    # zoom in 2x on the centre: (0,0)-(8,8) goes out of view, (10,10)-(20,20) keeps 16 % of
    # its area (under MIN_VISIBLE), (14,14)-(24,24) keeps 64 %, the central box all of it
    assert MIN_VISIBLE == 0.25
    zoom = v2.RandomAffine(degrees=0.0, scale=(2.0, 2.0))
    augmentation = DetectionAugmentation(S, [zoom])
    boxes = [[0.0, 0.0, 8.0, 8.0], [10, 10, 20, 20], [14, 14, 24, 24], [28, 28, 36, 36]]
    image = torch.zeros(3, S, S, dtype=torch.uint8)
    _, target = augmentation(image, _target(boxes, [3, 1, 0, 2]))
    assert target["labels"].tolist() == [0, 2]
    assert target["boxes"].tolist() == [[0.0, 0.0, 16.0, 16.0], [24.0, 24.0, 40.0, 40.0]]


def test_random_crops_sometimes_drop_a_corner_box_and_keep_the_central_one() -> None:
    augmentation = build_detection_augmentation(_augment(random_resized_crop=True), S)
    assert augmentation is not None
    boxes, labels = (
        torch.tensor([[0.0, 0.0, 5.0, 5.0], [24.0, 24.0, 40.0, 40.0]]),
        torch.tensor([0, 1]),
    )
    image = _painted(boxes, labels)
    torch.manual_seed(0)
    dropped = 0
    for _ in range(60):
        out, target = augmentation(image, {"boxes": boxes, "labels": labels})
        assert 1 in target["labels"].tolist()  # the central object never leaves
        if target["labels"].tolist() == [1]:
            dropped += 1
        for box, label in zip(target["boxes"], target["labels"].tolist(), strict=True):
            assert _majority_colour(out, box) == label
    assert 0 < dropped < 60


def test_colour_jitter_only_changes_pixels() -> None:
    augmentation = build_detection_augmentation(_augment(color_jitter=0.5), S)
    assert augmentation is not None
    target = _target([[3.0, 4.0, 30.0, 50.0]], [1])
    image = _painted(target["boxes"], target["labels"])
    torch.manual_seed(0)
    changed = 0
    for _ in range(5):
        out, moved = augmentation(image, target)
        assert torch.equal(moved["boxes"], target["boxes"])
        assert torch.equal(moved["labels"], target["labels"])
        changed += not torch.equal(out, image)
    assert changed


def test_negative_images_and_extra_keys_pass_through() -> None:
    augmentation = build_detection_augmentation(
        Augmentations(
            random_resized_crop=True,
            horizontal_flip=True,
            vertical_flip=True,
            rotation_degrees=10.0,
            color_jitter=0.2,
        ),
        S,
    )
    assert augmentation is not None
    image = torch.randint(0, 256, (3, S, S), dtype=torch.uint8)
    out, target = augmentation(image, {**_target([], []), "image_id": "abc"})
    assert out.shape == (3, S, S) and out.dtype == torch.uint8
    assert target["boxes"].shape == (0, 4) and target["labels"].shape == (0,)
    assert target["image_id"] == "abc"
    assert isinstance(pickle.loads(pickle.dumps(augmentation)), DetectionAugmentation)


def test_nothing_on_means_no_augmentation_and_bad_inputs_are_errors() -> None:
    assert build_detection_augmentation(Augmentations(), S) is None
    augmentation = build_detection_augmentation(_augment(horizontal_flip=True), S)
    assert augmentation is not None
    with pytest.raises(ValueError, match="3 x 64 x 64"):
        augmentation(torch.zeros(3, 32, 32, dtype=torch.uint8), _target([], []))
    with pytest.raises(ValueError, match="1 boxes but 2 labels"):
        augmentation(torch.zeros(3, S, S, dtype=torch.uint8), _target([[0, 0, 5, 5]], [0, 1]))


def test_rotation_encloses_the_rotated_box() -> None:
    augmentation = DetectionAugmentation(S, [v2.RandomRotation((45.0, 45.0))])
    _, target = augmentation(
        torch.zeros(3, S, S, dtype=torch.uint8), _target([[22, 22, 42, 42]], [0])
    )
    half = 10 * 2**0.5  # a 20 px square turned by 45° spans 28.3 px
    assert target["boxes"][0].tolist() == pytest.approx(
        [32 - half, 32 - half, 32 + half, 32 + half], abs=1e-3
    )


# ---------------------------------------------------------------------- rescaling
def test_resize_target_and_boxes_to_image_are_inverse() -> None:
    boxes = np.array([[10.0, 20.0, 110.0, 60.0], [0.0, 0.0, 200.0, 100.0]])
    resized = resize_target(boxes, (200, 100), 64)
    assert isinstance(resized, np.ndarray)
    np.testing.assert_allclose(resized, [[3.2, 12.8, 35.2, 38.4], [0.0, 0.0, 64.0, 64.0]])
    np.testing.assert_allclose(boxes_to_image(resized, 64, (200, 100)), boxes)
    as_list = resize_target([[10, 20, 110, 60]], (200, 100), 64)
    np.testing.assert_allclose(as_list, resized[:1])
    assert resize_target([], (200, 100), 64).shape == (0, 4)


def test_rescaling_keeps_torch_tensors_and_their_dtype() -> None:
    boxes = torch.tensor([[10.0, 20.0, 110.0, 60.0]])
    resized = resize_target(boxes, (200, 100), 64)
    assert isinstance(resized, torch.Tensor) and resized.dtype == torch.float32
    assert resized[0].tolist() == pytest.approx([3.2, 12.8, 35.2, 38.4])
    back = boxes_to_image(resized, 64, (200, 100))
    assert torch.allclose(back, boxes)
    with pytest.raises(ValueError, match="positive"):
        resize_target(boxes, (0, 100), 64)
