"""CenterMask: CenterNet with a YOLACT-style mask branch, the default instance segmentation model.

Masks as a linear combination of prototypes (Bolya et al., YOLACT, 2019; the design Ultralytics'
YOLO-seg uses): one network predicts, for the whole image, :data:`PROTOTYPES` prototype maps at
stride 2, and for every object centre (CenterNet's peaks, :mod:`.centernet`) as many
coefficients. An object's mask is ``sigmoid(coefficients · prototypes)``, cropped to its box:
each object gets its own mask even where objects touch or overlap, since the coefficients are
read at its own centre and the crop confines it to its own box.

Architecture: the :class:`~.centernet.CenterNet` detector unchanged, plus

- ``coefficients``: a fourth head on the stride-4 top-down feature (3 x 3 conv, GroupNorm, ReLU,
  1 x 1 conv), :data:`PROTOTYPES` channels;
- ``prototypes``: the stride-4 feature reduced (3 x 3 conv, GroupNorm, ReLU), upsampled 2x
  (bilinear), added to a 1 x 1 projection of the stem's stride-2 feature (the trunk's finest,
  which carries the edges), then a 3 x 3 conv, GroupNorm, ReLU and a 1 x 1 conv to the
  prototypes.

Training: for every object (crowd regions left out by the task), the coefficients at its centre
cell (the cell CenterNet trains its peak at) times the prototypes give mask logits at stride 2;
the target is the object's mask averaged over 2 x 2 pixels; the loss is the binary cross-entropy
over the pixels of its box (normalised by the box's area, as YOLACT and YOLO-seg do) plus the
Dice loss inside the box, averaged over the objects of the batch.

Inference: CenterNet's detections (peaks, top-k, NMS), their coefficients, masks upsampled to
the input's pixels (bilinear) and set to 0 outside the box: ``masks`` K x H x W probabilities;
each box is then the tight box of its mask (finer than the heatmap's stride-4 sizes).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aistudio.tasks.detection_models.centernet import (
    STRIDE,
    CenterNet,
    _conv_gn_relu,
    _head,
    build_centernet,
)

PROTOTYPES = 32
"""Prototype maps (YOLACT's and YOLO-seg's 32)."""
PROTOTYPE_STRIDE = 2
"""Prototypes are at half the input's resolution."""
PROTOTYPE_CHANNELS = 64
"""Width of the prototype branch."""
MASK_WEIGHT = 1.0
"""Weight of the in-box binary cross-entropy of the masks."""
DICE_WEIGHT = 1.0
"""Weight of the in-box Dice loss of the masks."""


def crop_to_boxes(masks: Tensor, boxes: Tensor, scale: float = 1.0) -> Tensor:
    """``masks`` (K x H x W) with every pixel outside its box (K x 4 xyxy, in pixels of a grid
    ``scale`` times finer than the masks') set to 0; a pixel is inside when its centre is.
    Traceable (comparisons with coordinate ramps)."""
    height, width = int(masks.shape[-2]), int(masks.shape[-1])
    xs = (torch.arange(width, device=masks.device, dtype=masks.dtype) + 0.5) * scale
    ys = (torch.arange(height, device=masks.device, dtype=masks.dtype) + 0.5) * scale
    b = boxes.to(masks.dtype)
    inside_x = (xs[None, :] >= b[:, 0:1]) & (xs[None, :] < b[:, 2:3])  # K x W
    inside_y = (ys[None, :] >= b[:, 1:2]) & (ys[None, :] < b[:, 3:4])  # K x H
    inside = inside_y[:, :, None] & inside_x[:, None, :]
    return masks * inside.to(masks.dtype)


def tight_boxes(masks: Tensor, boxes: Tensor) -> Tensor:
    """Each mask's tight box (pixels of at least 0.5, pixel edges), or its own box where the
    mask is empty. Traceable. On the digit benchmark this raised box mAP@[.50:.95] from 0.55
    (the heatmap's sizes, at stride 4) to 0.77 with the masks unchanged."""
    on = masks >= 0.5
    height, width = int(masks.shape[-2]), int(masks.shape[-1])
    cols = on.any(dim=1)  # K x W
    rows = on.any(dim=2)  # K x H
    xs = torch.arange(width, device=masks.device, dtype=boxes.dtype)
    ys = torch.arange(height, device=masks.device, dtype=boxes.dtype)
    big = float(max(height, width) + 1)
    x1 = torch.where(cols, xs[None, :], torch.full_like(cols, big, dtype=boxes.dtype)).amin(1)
    x2 = torch.where(cols, xs[None, :] + 1, torch.zeros_like(cols, dtype=boxes.dtype)).amax(1)
    y1 = torch.where(rows, ys[None, :], torch.full_like(rows, big, dtype=boxes.dtype)).amin(1)
    y2 = torch.where(rows, ys[None, :] + 1, torch.zeros_like(rows, dtype=boxes.dtype)).amax(1)
    found = cols.any(dim=1)[:, None]
    return torch.where(found, torch.stack((x1, y1, x2, y2), dim=1), boxes)


class CenterMask(CenterNet):
    """CenterNet with mask prototypes; see the module docstring.

    Targets add ``masks`` (uint8 or bool M x H x W in input pixels, one per box) to CenterNet's
    ``boxes`` and ``labels``. :meth:`predict` adds ``masks`` (float32 K x H x W probabilities).

    Args:
        num_classes: number of object classes.
        trunk: a key of :data:`~.centernet.TRUNKS`.
        head_channels: width of the heads' hidden layer.
        neck_channels: width of the top-down path.
        prototypes: number of prototype maps.
    """

    def __init__(
        self,
        num_classes: int,
        trunk: str = "resnet18",
        head_channels: int = 64,
        neck_channels: int = 128,
        prototypes: int = PROTOTYPES,
    ) -> None:
        super().__init__(num_classes, trunk, head_channels, neck_channels)
        self.prototypes = int(prototypes)
        self.coefficients = _head(neck_channels, head_channels, self.prototypes, 0.0)
        self.proto_reduce = _conv_gn_relu(neck_channels, PROTOTYPE_CHANNELS)
        self.proto_lateral = nn.Conv2d(64, PROTOTYPE_CHANNELS, 1)
        self.proto_out = nn.Sequential(
            _conv_gn_relu(PROTOTYPE_CHANNELS, PROTOTYPE_CHANNELS),
            nn.Conv2d(PROTOTYPE_CHANNELS, self.prototypes, 1),
        )

    # ------------------------------------------------------------------ network
    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """CenterNet's head maps plus ``coefficients`` (N x P x H/4 x W/4) and ``prototypes``
        (N x P x H/2 x W/2) of the input padded to a multiple of 32."""
        c1, top = self.features(images)
        reduced = F.interpolate(
            self.proto_reduce(top), scale_factor=2.0, mode="bilinear", align_corners=False
        )
        return {
            "heatmap": self.heatmap(top),
            "size": self.size(top),
            "offset": self.offset(top),
            "coefficients": self.coefficients(top),
            "prototypes": self.proto_out(reduced + self.proto_lateral(c1)),
        }

    # ------------------------------------------------------------------ training
    @staticmethod
    def _kept_targets(
        targets: list[dict[str, Tensor]], image_size: tuple[int, int]
    ) -> list[dict[str, Tensor]]:
        """Targets whose boxes keep an area once clamped to the image (CenterNet drops the
        others; the masks must go with them)."""
        height, width = image_size
        out: list[dict[str, Tensor]] = []
        for target in targets:
            boxes = target["boxes"].to(torch.float32).reshape(-1, 4)
            masks = target["masks"]
            if masks.shape[0] != boxes.shape[0]:
                raise ValueError(f"{boxes.shape[0]} boxes but {masks.shape[0]} masks")
            x1, y1 = boxes[:, 0].clamp(0, width), boxes[:, 1].clamp(0, height)
            x2, y2 = boxes[:, 2].clamp(0, width), boxes[:, 3].clamp(0, height)
            keep = (x2 > x1) & (y2 > y1)
            out.append(
                {
                    "boxes": torch.stack((x1, y1, x2, y2), dim=1)[keep],
                    "labels": target["labels"].reshape(-1)[keep],
                    "masks": masks[keep],
                }
            )
        return out

    def losses(self, images: Tensor, targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """CenterNet's losses plus ``mask`` (in-box BCE) and ``dice`` (in-box Dice).

        Args:
            images: N x 3 x H x W, ImageNet-normalised.
            targets: per image ``boxes`` (M x 4), ``labels`` (M) and ``masks`` (M x H x W).

        Returns:
            ``heatmap``, ``size``, ``offset``, ``mask`` and ``dice``, scalars.
        """
        if len(targets) != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {len(targets)} targets")
        image_size = (int(images.shape[-2]), int(images.shape[-1]))
        targets = self._kept_targets(targets, image_size)
        out = {k: v.float() for k, v in self(images).items()}
        losses = self._detection_losses(out, targets, image_size)
        centres = losses.pop("_centres")
        protos = out["prototypes"]  # N x P x h x w
        grid_h, grid_w = int(protos.shape[-2]), int(protos.shape[-1])
        coefficients = out["coefficients"].flatten(2)  # N x P x cells
        bce_total = protos.new_zeros(())
        dice_total = protos.new_zeros(())
        objects = 0
        for i, target in enumerate(targets):
            if centres[i].numel() == 0:
                continue
            coef = coefficients[i][:, centres[i]].t()  # M x P
            logits = (coef @ protos[i].flatten(1)).reshape(-1, grid_h, grid_w)
            truth = target["masks"].to(device=protos.device, dtype=torch.float32)
            pad_h = grid_h * PROTOTYPE_STRIDE - truth.shape[-2]
            pad_w = grid_w * PROTOTYPE_STRIDE - truth.shape[-1]
            truth = F.pad(truth, (0, pad_w, 0, pad_h))
            truth = F.avg_pool2d(truth[:, None], PROTOTYPE_STRIDE)[:, 0]
            boxes = target["boxes"].to(protos.device)
            inside = crop_to_boxes(torch.ones_like(logits), boxes, float(PROTOTYPE_STRIDE))
            area = inside.sum(dim=(1, 2)).clamp(min=1.0)
            bce = F.binary_cross_entropy_with_logits(logits, truth, reduction="none")
            bce_total = bce_total + ((bce * inside).sum(dim=(1, 2)) / area).sum()
            prob = torch.sigmoid(logits) * inside
            kept_truth = truth * inside
            overlap = (prob * kept_truth).sum(dim=(1, 2))
            total = prob.sum(dim=(1, 2)) + kept_truth.sum(dim=(1, 2))
            dice_total = dice_total + (1 - (2 * overlap + 1) / (total + 1)).sum()
            objects += int(coef.shape[0])
        n = max(1, objects)
        losses["mask"] = MASK_WEIGHT * bce_total / n
        losses["dice"] = DICE_WEIGHT * dice_total / n
        return losses

    def _detection_losses(
        self,
        out: dict[str, Tensor],
        targets: list[dict[str, Tensor]],
        image_size: tuple[int, int],
    ) -> dict[str, Any]:
        """CenterNet's three losses on ``out``, and the centre cells (``_centres``)."""
        logits = out["heatmap"]
        grid = (int(logits.shape[-2]), int(logits.shape[-1]))
        heat, centres, size_target, offset_target = self.encode_targets(targets, grid, image_size)
        losses: dict[str, Any] = self.detection_losses(
            out, heat, centres, size_target, offset_target
        )
        losses["_centres"] = centres
        return losses

    # ------------------------------------------------------------------ inference
    def assemble_masks(
        self,
        out: dict[str, Tensor],
        index: int,
        boxes: Tensor,
        cells: Tensor,
        image_size: tuple[int, int],
    ) -> Tensor:
        """The masks (K x H x W probabilities in input pixels, 0 outside the box) of image
        ``index``'s detections at heatmap ``cells``. Traceable."""
        protos = out["prototypes"][index].float()  # P x h x w
        grid_h, grid_w = int(protos.shape[-2]), int(protos.shape[-1])
        coef = out["coefficients"][index].float().flatten(1)[:, cells].t()  # K x P
        logits = (coef @ protos.flatten(1)).reshape(-1, 1, grid_h, grid_w)
        full = F.interpolate(
            logits, scale_factor=float(PROTOTYPE_STRIDE), mode="bilinear", align_corners=False
        )[:, 0]
        full = full[:, : image_size[0], : image_size[1]]
        return crop_to_boxes(torch.sigmoid(full), boxes)

    def found(
        self,
        out: dict[str, Tensor],
        index: int,
        boxes: Tensor,
        scores: Tensor,
        labels: Tensor,
        cells: Tensor,
        size: tuple[int, int],
    ) -> dict[str, Tensor]:
        """One image's detections with ``masks`` (float32 K x H x W probabilities of the
        input's pixels, 0 outside the box): masks cut to the heatmap's boxes, boxes then
        tightened to the masks (:func:`tight_boxes`)."""
        masks = self.assemble_masks(out, index, boxes, cells, size)
        return {
            "boxes": tight_boxes(masks, boxes.float()),
            "scores": scores.float(),
            "labels": labels.long(),
            "masks": masks,
        }


def build_centermask(
    num_classes: int, pretrained_weights: bool, trunk: str = "resnet18", **kwargs: Any
) -> tuple[CenterMask, str]:
    """A :class:`CenterMask`, its trunk from cached ImageNet weights when asked and there
    (never downloaded); see :func:`~.centernet.build_centernet`."""
    model, sentence = build_centernet(
        num_classes, pretrained_weights, trunk=trunk, network=CenterMask, **kwargs
    )
    assert isinstance(model, CenterMask)
    return model, sentence


__all__ = ["PROTOTYPES", "STRIDE", "CenterMask", "build_centermask", "tight_boxes"]
