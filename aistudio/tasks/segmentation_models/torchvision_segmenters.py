"""torchvision's DeepLabV3 and LR-ASPP, built without downloading anything.

torchvision's builders download ImageNet backbone weights unless ``weights_backbone=None``
(DESIGN §10): they are built without, and with ``pretrained_weights`` the backbone's parts are
copied from the cached ImageNet weights of its classification model when the file is there
(:func:`~aistudio.tasks.models.load_trunk_weights`). The heads always start from scratch; the
auxiliary classifier is left out. The wrapper returns the ``out`` logits (torchvision gives a
dict), already upsampled to the input's size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from aistudio.tasks.models import BATCHNORM_MOMENTUM, load_trunk_weights

_TITLES = {"resnet50": "ResNet-50", "mobilenet_v3_large": "MobileNetV3-Large"}


class TorchvisionSegmenter(nn.Module):
    """A torchvision segmentation model giving the ``out`` logits ``[B, K, H, W]``."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.network(x)["out"]
        return out


def _builder(name: str) -> Callable[..., nn.Module]:
    from torchvision.models import segmentation

    builders: dict[str, Callable[..., nn.Module]] = {
        "deeplabv3_resnet50": segmentation.deeplabv3_resnet50,
        "deeplabv3_mobilenet_v3_large": segmentation.deeplabv3_mobilenet_v3_large,
        "lraspp_mobilenet_v3_large": segmentation.lraspp_mobilenet_v3_large,
    }
    if name not in builders:
        raise ValueError(f"unknown torchvision segmentation model {name!r}")
    return builders[name]


def _backbone_parts(network: Any, backbone: str) -> dict[str, nn.Module]:
    """The backbone's modules by the names of the classification model's parts."""
    body = network.backbone
    if backbone == "resnet50":
        names = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")
        return {name: getattr(body, name) for name in names}
    # MobileNetV3's backbone keeps ``features`` by index, up to the last stage used
    return {f"features.{name}": module for name, module in body.named_children()}


def build_torchvision_segmenter(
    name: str, num_classes: int, pretrained_weights: bool, backbone: str
) -> tuple[TorchvisionSegmenter, str]:
    """The network ``name`` with ``num_classes`` outputs and the sentence on its weights."""
    kwargs: dict[str, Any] = {"weights": None, "weights_backbone": None, "num_classes": num_classes}
    if name.startswith("deeplabv3"):
        kwargs["aux_loss"] = False
    network = _builder(name)(**kwargs)
    sentence = load_trunk_weights(
        _backbone_parts(network, backbone), backbone, _TITLES[backbone], pretrained_weights
    )
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = BATCHNORM_MOMENTUM
    return TorchvisionSegmenter(network), sentence
