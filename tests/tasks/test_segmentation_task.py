"""The semantic segmentation task module: classes from legends, targets mapped and resized with
NEAREST, augmentations that keep masks on their pixels, losses that ignore 255, the models."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from aistudio.tasks.base import TargetInfo, TaskInputError
from aistudio.tasks.segmentation import TASK, value_table
from aistudio.tasks.segmentation_models.losses import soft_dice_loss
from events.schemas.annotation import IGNORE_INDEX
from projections.dataset import ImageEntry

INFO = TargetInfo(classes=["background", "cat", "dog"])


def entry(
    image_id: str,
    legend: list[str] | None,
    size: tuple[int, int] = (8, 6),
    sha: str = "ab" * 32,
) -> ImageEntry:
    structured = (
        None
        if legend is None
        else {"kind": "semantic", "mask": {"sha256": sha, "ext": "png"}, "classes": legend}
    )
    return ImageEntry(
        image_id, "0" * 64, "png", f"{image_id}.png", size[0], size[1], 10, None, None, 1,
        structured,
    )  # fmt: skip


def store(tmp_path: Path, mask: np.ndarray, mode: str = "L") -> Any:
    path = tmp_path / "mask.png"
    image = Image.fromarray(mask.astype(np.uint8), mode="L")
    if mode == "P":
        image = image.convert("P")
        image.putpalette([v for i in range(256) for v in (i, 255 - i, 7)])
        image = Image.fromarray(mask.astype(np.uint8), mode="P")
        image.putpalette([v for i in range(256) for v in (i, 255 - i, 7)])
    image.save(path)

    def files(sha: str, ext: str) -> Path:
        assert ext == "png"
        return path

    return files


def test_classes_are_the_legends_in_order_of_appearance_background_first() -> None:
    entries = [
        entry("a", ["background", "cat"]),
        entry("b", None),
        entry("c", ["_background_", "dog", "cat", "bird"]),
    ]
    info = TASK.fit_state(entries)
    assert info.classes == ["background", "cat", "dog", "bird"]
    assert [TASK.accepts(e) for e in entries] == [True, False, True]


def test_no_mask_or_a_background_alone_cannot_be_trained_on() -> None:
    with pytest.raises(TaskInputError, match="needs masks to learn from"):
        TASK.fit_state([entry("a", None)])
    with pytest.raises(TaskInputError, match="only 'background'"):
        TASK.fit_state([entry("a", ["background"])])


def test_a_legend_maps_values_onto_the_model_classes() -> None:
    table = value_table(["bg", "dog", "fish"], INFO.classes)
    assert table[0] == 0, "value 0 is the background whatever its name"
    assert table[1] == 2, "dog is the model's class 2"
    assert table[2] == IGNORE_INDEX, "a class the model lacks is ignored"
    assert table[3] == IGNORE_INDEX and table[255] == IGNORE_INDEX


@pytest.mark.parametrize("mode", ["L", "P"])
def test_the_target_is_the_mask_mapped_and_resized_with_nearest(tmp_path: Path, mode: str) -> None:
    mask = np.zeros((6, 8), dtype=np.uint8)
    mask[:, 4:] = 1  # the legend's "dog"
    mask[0, 0] = 255
    files = store(tmp_path, mask, mode)
    image = entry("a", ["background", "dog"])
    target = TASK.sample_target(image, INFO, 0, files)
    assert target.dtype == torch.uint8
    expected = np.where(mask == 1, 2, mask)
    assert np.array_equal(target.numpy(), expected)
    resized = TASK.sample_target(image, INFO, 16, files).numpy()
    assert resized.shape == (16, 16)
    assert set(np.unique(resized)) <= {0, 2, 255}, "NEAREST: no value is made up"
    assert (resized[:, 9:] == 2).all() and (resized[4:, :7] == 0).all()


def test_masks_that_cannot_be_used_leave_their_image_out(tmp_path: Path) -> None:
    files = store(tmp_path, np.zeros((6, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="not the image's size"):
        TASK.sample_target(entry("a", ["bg", "cat"], size=(9, 6)), INFO, 0, files)
    with pytest.raises(ValueError, match="no mask"):
        TASK.sample_target(entry("a", None), INFO, 0, files)
    Image.new("RGB", (8, 6)).save(tmp_path / "mask.png")
    with pytest.raises(ValueError, match="not an 8-bit index image"):
        TASK.sample_target(entry("a", ["bg", "cat"]), INFO, 0, files)


def test_class_counts_are_pixels_of_each_model_class_in_the_targets(tmp_path: Path) -> None:
    mask = np.zeros((6, 8), dtype=np.uint8)
    mask[:2] = 1
    mask[5, :3] = 255
    files = store(tmp_path, mask)
    image = entry("a", ["bg", "dog"])
    targets = TASK.stack_targets([TASK.sample_target(image, INFO, 0, files)])
    assert TASK.class_counts([image], INFO, targets) == [48 - 16 - 3, 0, 16]
    assert TASK.class_counts([image], INFO) == [0, 0, 0]


def _augment(**on: Any) -> SimpleNamespace:
    settings_ = {
        "random_resized_crop": False,
        "horizontal_flip": False,
        "vertical_flip": False,
        "rotation_degrees": 0.0,
        "color_jitter": 0.0,
    }
    return SimpleNamespace(**{**settings_, **on})


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), degrees=st.sampled_from([0.0, 20.0]))
def test_augmentations_keep_the_mask_on_its_pixels(seed: int, degrees: float) -> None:
    """Image pixels painted by class (class c: grey 60 c + 30): after any augmentation, every
    pixel inside a class's region (5 x 5 neighbourhood of one class: the image is resampled
    bilinearly, the mask with NEAREST) still has its grey."""
    size = 64
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[8:30, 10:50] = 1
    mask[36:60, 20:40] = 2
    image = torch.from_numpy(np.repeat((mask * 60 + 30)[None], 3, axis=0).astype(np.uint8))
    transform = TASK.train_transform(
        _augment(
            random_resized_crop=True,
            horizontal_flip=True,
            vertical_flip=True,
            rotation_degrees=degrees,
        ),
        size,
    )
    assert transform is not None
    torch.manual_seed(seed)
    out_image, out_mask = transform(image, torch.from_numpy(mask))
    assert out_image.shape == (3, size, size) and out_mask.shape == (size, size)
    labels = out_mask.numpy()
    assert set(np.unique(labels)) <= {0, 1, 2, IGNORE_INDEX}
    padded = np.pad(labels, 2, constant_values=IGNORE_INDEX)  # the image's edge blends the fill
    windows = np.lib.stride_tricks.sliding_window_view(padded, (5, 5))
    uniform = (windows == labels[..., None, None]).all(axis=(-1, -2)) & (labels != IGNORE_INDEX)
    grey = out_image[0].numpy().astype(int)
    assert uniform.sum() > size * size // 4
    # a few grey levels of antialiasing blur; a mask off by a pixel would be 60 off
    assert np.abs(grey[uniform] - (labels[uniform].astype(int) * 60 + 30)).max() <= 8


def test_a_rotation_fills_the_uncovered_corners_with_ignore() -> None:
    transform = TASK.train_transform(_augment(rotation_degrees=45.0), 32)
    assert transform is not None
    torch.manual_seed(1)
    for _ in range(5):
        _, mask = transform(torch.zeros(3, 32, 32, dtype=torch.uint8), torch.ones(32, 32))
        if (mask == IGNORE_INDEX).any():
            assert mask[16, 16] == 1
            return
    pytest.fail("no rotation uncovered a corner")


def test_no_augmentation_is_no_transform() -> None:
    assert TASK.train_transform(_augment(), 32) is None


def test_the_losses_ignore_void_pixels() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    target = torch.randint(0, 3, (2, 8, 8), dtype=torch.uint8)
    voided = target.clone()
    voided[:, :4] = IGNORE_INDEX
    criterion = TASK.loss_fn(TASK.options_model(), INFO, [1, 1, 1])
    losses = criterion(logits, voided)
    assert set(losses) == {"cross_entropy", "dice"}
    expected = torch.nn.functional.cross_entropy(logits[:, :, 4:], target[:, 4:].long())
    assert torch.allclose(losses["cross_entropy"], expected)
    changed = logits.detach().clone()
    changed[:, :, :4] = torch.randn(2, 3, 4, 8) * 10
    assert torch.allclose(soft_dice_loss(changed, voided), soft_dice_loss(logits, voided))
    everything_void = torch.full((2, 8, 8), IGNORE_INDEX, dtype=torch.uint8)
    nothing = criterion(logits, everything_void)
    assert all(v.item() == 0.0 for v in nothing.values())
    sum(losses.values()).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_perfect_logits_have_no_dice_loss() -> None:
    target = torch.randint(0, 3, (1, 8, 8))
    logits = torch.nn.functional.one_hot(target, 3).permute(0, 3, 1, 2).float() * 50
    assert float(soft_dice_loss(logits, target)) < 1e-3


def test_class_weights_are_balanced_over_the_classes_with_pixels() -> None:
    opts = TASK.validate_options({"class_weights": True})
    criterion = TASK.loss_fn(opts, INFO, [300, 0, 100])
    weights = criterion.class_weights.tolist()
    assert weights == pytest.approx([400 / 600, 0.0, 400 / 200])
    with pytest.raises(TaskInputError, match="pixel counts"):
        TASK.loss_fn(opts, INFO, [0, 0, 0])
    dice_only = TASK.loss_fn(TASK.validate_options({"loss": "dice"}), INFO, [0, 0, 0])
    assert not dice_only.cross_entropy


@pytest.mark.parametrize("name", [spec.name for spec in TASK.models])
def test_every_model_gives_logits_at_the_input_size(name: str) -> None:
    model, sentence = TASK.build_model(name, INFO, pretrained_weights=False, image_size=64)
    assert "from scratch" in sentence
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 3, 64, 64)
    predicted = TASK.infer(model, torch.randn(1, 3, 64, 64), TASK.options_model())
    assert predicted.dtype == torch.uint8 and predicted.shape == (1, 64, 64)


def test_the_unet_trunk_loads_cached_imagenet_weights(torch_cache: Path) -> None:
    from torchvision.models import get_model

    from aistudio.tasks.models import imagenet_weights_files

    resnet = get_model("resnet18", weights=None)
    torch.save(resnet.state_dict(), torch_cache / imagenet_weights_files("resnet18")[0])
    model, sentence = TASK.build_model("unet_resnet18", INFO, pretrained_weights=True)
    assert sentence == "ImageNet weights from the local cache"
    assert torch.equal(model.layer3[0].conv1.weight, resnet.layer3[0].conv1.weight)


def test_without_cached_weights_the_model_says_it_trains_from_scratch(torch_cache: Path) -> None:
    _, sentence = TASK.build_model("lraspp_mobilenet_v3_large", INFO, pretrained_weights=True)
    assert sentence.startswith("from scratch: no ImageNet weights for MobileNetV3-Large")


def test_the_validation_evaluator_sums_batches_into_one_confusion_matrix() -> None:
    evaluator = TASK.evaluator(INFO, TASK.options_model())
    assert evaluator.compute() is None
    truth = torch.tensor([[[0, 1], [2, 255]]], dtype=torch.uint8)
    evaluator.update(torch.tensor([[[0, 1], [1, 2]]], dtype=torch.uint8), truth)
    evaluator.update(torch.tensor([[[0, 1], [2, 0]]], dtype=torch.uint8), truth)
    assert evaluator.matrix is not None
    assert evaluator.matrix.tolist() == [[2, 0, 0], [0, 2, 0], [0, 1, 1]]
    result = evaluator.compute()
    assert result is not None and result.primary == "miou"
    assert result.values["pixel_accuracy"] == pytest.approx(5 / 6)
    assert result.values["miou"] == pytest.approx((1 + 2 / 3 + 1 / 2) / 3)
