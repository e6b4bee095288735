"""A U-Net on a torchvision ResNet trunk: the default semantic segmentation model.

The encoder is torchvision's ResNet (``conv1`` … ``layer4``, features at strides 2, 4, 8, 16 and
32); the decoder doubles the resolution five times, each step concatenating the encoder's
feature of that stride and applying two 3 x 3 convolutions with BatchNorm and ReLU (channels
256, 128, 64, 32, 16), and a 3 x 3 convolution gives one logit per class at the input's
resolution. This is the architecture of segmentation-models-pytorch's ``Unet("resnet18")`` (the
benchmark's plain loop trains that one next to ours), written here so the project needs neither
timm nor smp. Nothing is downloaded: with ``pretrained_weights`` the trunk reads ImageNet weights
from the local torch cache when they are there, the decoder always starts from scratch. Weights
and activations are channels-last (NHWC), which oneDNN and cuDNN convolve faster.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aistudio.tasks.models import BATCHNORM_MOMENTUM, load_trunk_weights

DECODER_CHANNELS: tuple[int, int, int, int, int] = (256, 128, 64, 32, 16)
TRUNKS: dict[str, str] = {"resnet18": "ResNet-18", "resnet34": "ResNet-34"}


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class DecoderBlock(nn.Module):
    """Twice the resolution, the skip feature concatenated, two 3 x 3 convolutions."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn_relu(in_channels + skip_channels, out_channels)
        self.conv2 = _conv_bn_relu(out_channels, out_channels)

    def forward(self, x: Tensor, skip: Tensor | None) -> Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class UNet(nn.Module):
    """Logits ``[B, K, H, W]`` of a float ``[B, 3, H, W]`` input (H and W multiples of 32)."""

    def __init__(self, num_classes: int, trunk: str = "resnet18") -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"a segmentation needs two classes or more, got {num_classes}")
        if trunk not in TRUNKS:
            raise ValueError(f"unknown trunk {trunk!r}: choose one of {', '.join(TRUNKS)}")
        from torchvision.models import get_model

        resnet = get_model(trunk, weights=None)
        self.trunk = trunk
        self.conv1, self.bn1, self.relu = resnet.conv1, resnet.bn1, resnet.relu
        self.maxpool = resnet.maxpool
        self.layer1, self.layer2 = resnet.layer1, resnet.layer2
        self.layer3, self.layer4 = resnet.layer3, resnet.layer4
        encoder = (64, 64, 128, 256, 512)  # strides 2, 4, 8, 16, 32 of ResNet-18/34
        skips = (encoder[3], encoder[2], encoder[1], encoder[0], 0)
        blocks = []
        in_channels = encoder[4]
        for skip, out in zip(skips, DECODER_CHANNELS, strict=True):
            blocks.append(DecoderBlock(in_channels, skip, out))
            in_channels = out
        self.decoder = nn.ModuleList(blocks)
        self.head = nn.Conv2d(in_channels, num_classes, 3, padding=1)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.momentum = BATCHNORM_MOMENTUM

    def trunk_modules(self) -> dict[str, nn.Module]:
        """The modules that hold a torchvision ResNet's weights, by the ResNet's names."""
        names = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")
        return {name: getattr(self, name) for name in names}

    def forward(self, x: Tensor) -> Tensor:
        # channels-last activations: oneDNN's convolutions run 12-20 % faster on a CPU so
        # (measured at 128 px, batch 16), as cuDNN's do on a GPU; the logits are the same
        x = x.contiguous(memory_format=torch.channels_last)
        f1 = self.relu(self.bn1(self.conv1(x)))
        f2 = self.layer1(self.maxpool(f1))
        f3 = self.layer2(f2)
        f4 = self.layer3(f3)
        f5 = self.layer4(f4)
        out = f5
        for block, skip in zip(self.decoder, (f4, f3, f2, f1, None), strict=True):
            out = block(out, skip)
        logits: Tensor = self.head(out)
        return logits


def build_unet(num_classes: int, pretrained_weights: bool, trunk: str) -> tuple[UNet, str]:
    """A :class:`UNet` and the sentence on its weights (as
    :func:`~aistudio.tasks.models.build_backbone` says it)."""
    model = UNet(num_classes, trunk)
    sentence = load_trunk_weights(model.trunk_modules(), trunk, TRUNKS[trunk], pretrained_weights)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = BATCHNORM_MOMENTUM
    return model.to(memory_format=torch.channels_last), sentence
