"""The instance segmentation task module: targets with masks, augmentations that keep masks on
their pixels, the default mask model and Mask R-CNN through the contract."""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from aistudio.tasks.base import TargetInfo
from aistudio.tasks.detection_models.centermask import CenterMask, crop_to_boxes
from aistudio.tasks.instance_masks import paste_window, polygons_rle, rle_array
from aistudio.tasks.instance_segmentation import TASK, unpack_masks
from aistudio.tasks.registry import get_task
from projections.dataset import ImageEntry

INFO = TargetInfo(classes=["cat", "dog"])
TRIANGLE = [[10.0, 10.0, 90.0, 10.0, 10.0, 50.0]]


def entry(
    image_id: str, objects: list[dict[str, Any]] | None, size: tuple[int, int] = (100, 60)
) -> ImageEntry:
    structured = None if objects is None else {"kind": "instances", "objects": objects}
    return ImageEntry(
        image_id, "0" * 64, "png", f"{image_id}.png", size[0], size[1], 10, None, None, 1,
        structured,
    )  # fmt: skip


def poly(cls: str, polygons: list[list[float]], **flags: bool) -> dict[str, Any]:
    xs = [v for ring in polygons for v in ring[0::2]]
    ys = [v for ring in polygons for v in ring[1::2]]
    return {
        "class": cls,
        "box": [min(xs), min(ys), max(xs), max(ys)],
        "polygons": polygons,
        **flags,
    }


def _store(tmp_path: Path, mask: np.ndarray) -> tuple[dict[str, str], Any]:
    path = tmp_path / "m.png"
    Image.fromarray(mask.astype(np.uint8) * 255).convert("1").save(path)

    def files(sha: str, ext: str) -> Path:
        assert (sha, ext) == ("ab" * 32, "png")
        return path

    return {"sha256": "ab" * 32, "ext": "png"}, files


def test_the_registry_offers_instance_segmentation() -> None:
    task = get_task("instance_segmentation")
    assert task is TASK and task.annotation_kind == "instances" and task.uses_threshold
    assert task.primary_metric == "mask_map" and task.default_model == "centermask_resnet18"
    assert [m.name for m in task.models] == ["centermask_resnet18", "maskrcnn_resnet50_fpn"]
    assert TASK.accepts(entry("a", [])) and not TASK.accepts(entry("b", None))
    boxes = ImageEntry(
        "c", "0" * 64, "png", "c.png", 8, 8, 1, None, None, 1, {"kind": "boxes", "objects": []}
    )
    assert not TASK.accepts(boxes)


def test_targets_rasterise_polygons_at_the_input_size_and_leave_crowds_out() -> None:
    e = entry("a", [poly("dog", TRIANGLE), poly("cat", [[0, 0, 5, 0, 5, 5]], crowd=True)])
    target = unpack_masks(TASK.sample_target(e, INFO, 64))
    assert target["labels"].tolist() == [1]
    assert target["masks"].shape == (1, 64, 64) and target["masks"].dtype == torch.uint8
    expected = rle_array(polygons_rle(TRIANGLE, 64, 64, 64 / 100, 64 / 60))
    assert np.array_equal(target["masks"][0].numpy().astype(bool), expected)
    # the box is scaled like detection's, and holds the mask's pixel centres
    ys, xs = np.nonzero(expected)
    x1, y1, x2, y2 = target["boxes"][0].tolist()
    assert x1 <= xs.min() + 0.5 and xs.max() + 0.5 <= x2
    assert y1 <= ys.min() + 0.5 and ys.max() + 0.5 <= y2


def test_mask_files_are_read_from_the_store_and_resized_nearest(tmp_path: Path) -> None:
    mask = np.zeros((60, 100), dtype=bool)
    mask[10:40, 20:70] = True
    ref, files = _store(tmp_path, mask)
    e = entry("a", [{"class": "cat", "box": [20, 10, 70, 40], "mask": ref}])
    target = unpack_masks(TASK.sample_target(e, INFO, 50, files))
    got = target["masks"][0].numpy().astype(bool)
    assert got.shape == (50, 50) and got[8:33, 10:35].all() and got.sum() == 25 * 25
    with pytest.raises(ValueError, match="no content store"):
        TASK.sample_target(e, INFO, 50)


def test_an_unknown_class_leaves_the_image_out() -> None:
    with pytest.raises(KeyError):
        TASK.sample_target(entry("a", [poly("bird", TRIANGLE)]), INFO, 32)


def test_packed_masks_survive_collate_and_pickling() -> None:
    e = entry("a", [poly("dog", TRIANGLE), poly("cat", [[50, 30, 99, 30, 70, 59]])])
    packed = TASK.sample_target(e, INFO, 40)
    assert packed["mask_bits"].shape == (2, 200)  # 1600 bits
    images, targets = TASK.collate([(torch.zeros(3, 40, 40, dtype=torch.uint8), packed)])
    assert images.shape == (1, 3, 40, 40) and targets[0]["masks"].shape == (2, 40, 40)
    assert targets[0]["masks"].sum() > 0
    transform = pickle.loads(pickle.dumps(TASK.train_transform(_augment(), 40)))
    _, target = transform(torch.zeros(3, 40, 40, dtype=torch.uint8), packed)
    assert torch.equal(target["masks"], targets[0]["masks"])


def _augment(**on: object) -> SimpleNamespace:
    base = {
        "random_resized_crop": False,
        "horizontal_flip": False,
        "vertical_flip": False,
        "rotation_degrees": 0.0,
        "color_jitter": 0.0,
    }
    base.update(on)
    return SimpleNamespace(**base)


@settings(max_examples=25, deadline=None)
@given(
    crop=st.booleans(),
    hflip=st.booleans(),
    vflip=st.booleans(),
    degrees=st.sampled_from([0.0, 10.0]),
    seed=st.integers(0, 10_000),
)
def test_augmentations_keep_every_mask_on_its_own_pixels(
    crop: bool, hflip: bool, vflip: bool, degrees: float, seed: int
) -> None:
    """Each object is painted in its own colour; after any augmentation, the pixels of each
    mask are (almost all) that colour, and the mask lies in its box."""
    side = 64
    colours = torch.tensor([[230, 25, 25], [25, 200, 25]], dtype=torch.uint8)
    polygons = [[[6, 6, 30, 6, 30, 40, 6, 40]], [[34, 20, 60, 20, 47, 58]]]
    e = entry("a", [poly("cat", polygons[0]), poly("dog", polygons[1])], size=(side, side))
    target = TASK.sample_target(e, INFO, side)
    masks = unpack_masks(target)["masks"]
    image = torch.zeros(3, side, side, dtype=torch.uint8)
    for k in range(2):
        image[:, masks[k].bool()] = colours[k][:, None]
    transform = TASK.train_transform(
        _augment(
            random_resized_crop=crop,
            horizontal_flip=hflip,
            vertical_flip=vflip,
            rotation_degrees=degrees,
        ),
        side,
    )
    torch.manual_seed(seed)
    moved, out = transform(image, target)
    assert out["masks"].shape[0] == out["boxes"].shape[0] == out["labels"].shape[0]
    for mask, label, box in zip(out["masks"], out["labels"], out["boxes"], strict=True):
        on = mask.bool()
        # the interior (1 px in from the edge: the image is resampled bilinearly, masks NEAREST)
        inner = torch.nn.functional.max_pool2d(-on[None].float(), 3, 1, 1)[0] < -0.5
        if inner.sum() < 20:
            continue
        pixels = moved[:, inner].T.float()
        colour = colours[int(label)].float()
        close = ((pixels - colour).abs().max(dim=1).values < 40).float().mean()
        assert close > 0.97, (float(close), int(label))
        ys, xs = torch.nonzero(on, as_tuple=True)
        x1, y1, x2, y2 = box.tolist()
        assert xs.min() >= x1 - 1.5 and xs.max() <= x2 + 0.5
        assert ys.min() >= y1 - 1.5 and ys.max() <= y2 + 0.5


def _scene() -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    masks = torch.zeros(2, 64, 64, dtype=torch.uint8)
    masks[0, 8:30, 8:40] = 1
    masks[0, 8:18, 8:20] = 0  # an L shape: not its box
    masks[1, 30:60, 30:60] = 1
    image = torch.zeros(1, 3, 64, 64)
    image[0, :, masks[0].bool()] = 1.5
    image[0, :, masks[1].bool()] = -1.5
    target = {
        "boxes": torch.tensor([[8.0, 8, 40, 30], [30, 30, 60, 60]]),
        "labels": torch.tensor([0, 1]),
        "masks": masks,
    }
    return image, [target]


def test_the_mask_model_learns_one_scene_and_exports_what_it_predicts() -> None:
    torch.manual_seed(0)
    model = CenterMask(2, head_channels=16, neck_channels=32)
    images, targets = _scene()
    optimiser = torch.optim.Adam(model.parameters(), 3e-3)
    first = None
    for _ in range(40):
        losses = model.losses(images, targets)
        first = first or {k: float(v) for k, v in losses.items()}
        optimiser.zero_grad()
        sum(losses.values()).backward()
        optimiser.step()
    last = {k: float(v) for k, v in model.losses(images, targets).items()}
    assert set(last) == {"heatmap", "size", "offset", "mask", "dice"}
    assert last["mask"] < first["mask"] * 0.5 and last["dice"] < first["dice"] * 0.5
    (found,) = model.predict(images, 0.0, 0.5, 5)
    masks = found["masks"]
    assert masks.shape == (5, 64, 64) and masks.dtype == torch.float32
    assert torch.equal(masks, crop_to_boxes(masks, found["boxes"]))  # 0 outside each (tight) box
    exported = model.export_module(0.0, 0.5, 5)(images)
    assert len(exported) == 4
    for got, want in zip(
        exported, (found["boxes"], found["scores"], found["labels"], masks), strict=True
    ):
        assert torch.allclose(got.float(), want.float(), atol=1e-5)


def test_masks_are_cut_to_the_box_where_the_box_is() -> None:
    masks = torch.ones(1, 8, 8)
    cut = crop_to_boxes(masks, torch.tensor([[2.0, 1.0, 6.0, 4.0]]))
    assert cut[0].nonzero().min(0).values.tolist() == [1, 2]
    assert cut[0].nonzero().max(0).values.tolist() == [3, 5]
    half = crop_to_boxes(torch.ones(1, 4, 4), torch.tensor([[2.0, 2.0, 6.0, 6.0]]), 2.0)
    assert half[0].sum() == 4 and half[0, 1:, 1:].sum() == 9 - 5


def test_mask_rcnn_trains_and_predicts_masks_through_the_contract() -> None:
    torch.manual_seed(0)
    model, sentence = TASK.build_model("maskrcnn_resnet50_fpn", INFO, False, 64)
    assert "not requested" in sentence.lower() or "scratch" in sentence.lower()
    images, targets = _scene()
    model.train()
    losses = TASK.training_losses(model, None, images, targets)
    assert "loss_mask" in losses and all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    model.eval()
    (found,) = model.predict(images, 0.0, 0.5, 3)
    assert found["masks"].shape[1:] == (64, 64) and found["masks"].shape[0] == len(found["boxes"])


@pytest.mark.parametrize("size", [(64, 64), (100, 60), (40, 30), (300, 200)])
def test_a_pasted_crop_is_the_whole_mask_resized_as_the_export_says(
    size: tuple[int, int],
) -> None:
    """Evaluation pastes a box's crop; that equals resizing the whole S x S map bilinearly
    (half-pixel centres, torch's interpolate) and keeping >= 0.5, as a user of the export does."""
    rng = np.random.default_rng(sum(size))
    side, (width, height) = 64, size
    for _ in range(5):
        x0, y0 = (int(v) for v in rng.integers(0, 40, 2))
        x1, y1 = min(side, x0 + int(rng.integers(3, 24))), min(side, y0 + int(rng.integers(3, 24)))
        prob = np.zeros((side, side), dtype=np.uint8)
        prob[y0:y1, x0:x1] = rng.integers(0, 256, (y1 - y0, x1 - x0))
        whole = torch.nn.functional.interpolate(
            torch.from_numpy(prob.astype(np.float32) / 255)[None, None],
            size=(height, width),
            mode="bilinear",
            align_corners=False,
        )[0, 0].numpy()
        got = paste_window(prob[y0:y1, x0:x1], (x0, y0, x1, y1), side, (width, height))
        # a pixel whose value is 0.5 to float rounding may go either way
        differs = got != (whole >= 0.5)
        assert np.all(np.abs(whole[differs] - 0.5) < 1e-5)


def test_boxes_are_tightened_to_their_masks_and_kept_where_a_mask_is_empty() -> None:
    from aistudio.tasks.detection_models.centermask import tight_boxes

    masks = torch.zeros(2, 10, 12)
    masks[0, 2:5, 3:9] = 0.8
    boxes = torch.tensor([[1.0, 1.0, 11.0, 9.0], [0.0, 0.0, 4.0, 4.0]])
    assert tight_boxes(masks, boxes).tolist() == [[3.0, 2.0, 9.0, 5.0], [0.0, 0.0, 4.0, 4.0]]
