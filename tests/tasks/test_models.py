"""The backbones: each builds, runs at its smallest size, and finds weights in the cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models import get_model, get_model_weights

from aistudio.tasks import TargetInfo, TaskInputError, get_task
from aistudio.tasks import models as backbones
from aistudio.tasks.models import (
    BATCHNORM_MOMENTUM,
    IMAGENET_WEIGHTS,
    MODELS,
    NOT_REQUESTED,
    WEIGHTS_SENTENCE_MAX,
    build_backbone,
    cached_weights_path,
    find_cached_weights,
    imagenet_weights_files,
)

HEAD = {
    "resnet18": "fc",
    "resnet34": "fc",
    "resnet50": "fc",
    "efficientnet_b0": "classifier",
    "efficientnet_b3": "classifier",
    "mobilenet_v3_small": "classifier",
    "mobilenet_v3_large": "classifier",
}


def _head(model: nn.Module, name: str) -> nn.Module:
    return model.fc if HEAD[name] == "fc" else model.classifier[-1]


def test_the_catalogue_lists_the_seven_torchvision_backbones() -> None:
    assert [spec.name for spec in MODELS] == list(HEAD)
    sizes = {spec.name: spec.parameters_m for spec in MODELS}
    assert sizes["resnet18"] == 11.7
    assert sizes["mobilenet_v3_small"] == 2.5
    for spec in MODELS:
        assert spec.title and spec.min_image_size >= 16
        assert len(spec.note) <= 120


@pytest.mark.parametrize("spec", MODELS, ids=lambda spec: spec.name)
def test_every_model_builds_and_runs_at_its_smallest_size(spec: backbones.ModelSpec) -> None:
    torch.manual_seed(0)
    model, sentence = build_backbone(spec.name, 3, pretrained_weights=False)
    assert sentence == NOT_REQUESTED
    head = _head(model, spec.name)
    assert isinstance(head, nn.Linear)
    assert head.out_features == 3
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.momentum == BATCHNORM_MOMENTUM for m in norms)
    published = get_model_weights(spec.name).DEFAULT.meta["num_params"]  # torchvision's docs
    assert spec.parameters_m == pytest.approx(published / 1e6, abs=0.051)
    size = spec.min_image_size
    model.train()  # batch statistics: the smallest feature map must hold enough values
    out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, 3)
    out.sum().backward()
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, size, size))
    assert out.shape == (1, 3)
    assert torch.isfinite(out).all()


def test_tasks_build_heads_for_their_targets() -> None:
    classifier, _ = get_task("classification").build_model(
        "mobilenet_v3_small", TargetInfo(classes=["a", "b", "c", "d"]), pretrained_weights=False
    )
    assert classifier.classifier[-1].out_features == 4
    regressor, _ = get_task("regression").build_model(
        "resnet18", TargetInfo(mean=3.0, std=2.0), pretrained_weights=False
    )
    assert regressor.fc.out_features == 1
    with pytest.raises(ValueError, match="unknown model 'vgg16'"):
        get_task("regression").build_model("vgg16", TargetInfo(), pretrained_weights=False)


def test_build_rejects_unknown_models_and_empty_heads() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        build_backbone("alexnet", 2, pretrained_weights=False)
    with pytest.raises(ValueError, match="at least one output"):
        build_backbone("resnet18", 0, pretrained_weights=False)


def test_expected_file_names_come_from_torchvision_urls() -> None:
    assert imagenet_weights_files("resnet18") == ["resnet18-f37072fd.pth"]
    large = imagenet_weights_files("mobilenet_v3_large")
    assert large[0] == "mobilenet_v3_large-5c1a4163.pth"  # DEFAULT (IMAGENET1K_V2) first
    assert len(large) == 2


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_cached_imagenet_weights_are_loaded(torch_cache: Path, name: str) -> None:
    torch.manual_seed(1)
    reference = get_model(name, weights=None)
    torch.save(reference.state_dict(), torch_cache / imagenet_weights_files(name)[0])
    torch.manual_seed(2)
    model, sentence = build_backbone(name, 5, pretrained_weights=True)
    assert sentence == IMAGENET_WEIGHTS
    loaded = model.state_dict()
    for key, value in reference.state_dict().items():
        if key.startswith(("fc.", "classifier.3.")):
            continue  # the ImageNet head is replaced
        assert torch.equal(loaded[key], value), key
    assert _head(model, name).out_features == 5


def test_missing_weights_train_from_scratch_and_say_where_they_were_looked_for(
    torch_cache: Path,
) -> None:
    model, sentence = build_backbone("resnet18", 2, pretrained_weights=True)
    expected = torch_cache / "resnet18-f37072fd.pth"
    assert sentence == (
        f"from scratch: no ImageNet weights for ResNet-18 in the local torch cache ({expected})"
    )
    assert cached_weights_path("resnet18") == expected
    assert model.fc.out_features == 2


def test_not_requested_weights_are_not_looked_for(torch_cache: Path) -> None:
    torch.save({"garbage": torch.zeros(1)}, torch_cache / "resnet18-f37072fd.pth")
    _, sentence = build_backbone("resnet18", 2, pretrained_weights=False)
    assert sentence == NOT_REQUESTED


def test_an_older_published_version_is_used_when_the_default_is_not_cached(
    torch_cache: Path,
) -> None:
    assert find_cached_weights("mobilenet_v3_large") is None
    v1, v2 = (
        torch_cache / "mobilenet_v3_large-8738ca79.pth",
        cached_weights_path("mobilenet_v3_large"),
    )
    assert v1.name in imagenet_weights_files("mobilenet_v3_large")
    v1.write_bytes(b"x")
    assert find_cached_weights("mobilenet_v3_large") == v1
    v2.write_bytes(b"x")
    assert find_cached_weights("mobilenet_v3_large") == v2


def test_an_unusable_cached_file_is_a_clear_error(torch_cache: Path) -> None:
    path = torch_cache / "mobilenet_v3_small-047dcff4.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(TaskInputError, match="cannot be loaded") as caught:
        build_backbone("mobilenet_v3_small", 2, pretrained_weights=True)
    assert str(path) in str(caught.value)
    assert "train without pretrained weights" in str(caught.value)
    torch.save(get_model("resnet18", weights=None).state_dict(), path)  # wrong architecture
    with pytest.raises(TaskInputError, match="cannot be loaded"):
        build_backbone("mobilenet_v3_small", 2, pretrained_weights=True)


def test_a_long_cache_path_is_shortened_to_fit_the_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = tmp_path.joinpath(*(["very-long-folder-name"] * 20))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    _, sentence = build_backbone("resnet18", 2, pretrained_weights=True)
    assert len(sentence) <= WEIGHTS_SENTENCE_MAX
    assert sentence.startswith("from scratch: no ImageNet weights for ResNet-18")
    assert sentence.endswith("/checkpoints/resnet18-f37072fd.pth)")
