"""CenterNet: the default object detector, fast and good from scratch on a CPU.

Objects as points (Zhou et al., 2019): the network predicts, at stride 4, one heatmap per class
whose peaks are object centres, plus each centre's box size and sub-pixel offset. Decoding is a
3 x 3 max-pool peak search and a top-k, with no anchors and (almost) no NMS.

Architecture: torchvision's ResNet trunk (``conv1`` … ``layer4``, BatchNorm with momentum
:data:`~aistudio.tasks.models.BATCHNORM_MOMENTUM`), an FPN-like top-down path that adds 1 x 1
projections of ``layer4`` (stride 32), ``layer3``, ``layer2`` and ``layer1`` (stride 4) with
nearest 2x upsampling and a 3 x 3 GroupNorm fusion after every addition, and three heads (3 x 3
conv, GroupNorm, ReLU, 1 x 1 conv):

- ``heatmap``: one channel per class, penalty-reduced sigmoid focal loss of CornerNet/CenterNet
  (alpha 2, beta 4) against Gaussians splatted at the box centres with CenterNet's
  ``gaussian_radius`` (minimum overlap 0.7); bias initialised to -2.19 (prior 0.1).
- ``size``: ``log(w / 4)`` and ``log(h / 4)`` (box size in output cells, in log space: scale
  invariant and it cannot go negative), L1 at the centre cells.
- ``offset``: the sub-cell position of the centre, L1 at the centre cells.

Each loss is summed over the objects of the batch and divided by their number (at least 1).

Input size: any size of at least 32 px works. The trunk needs a multiple of 32 for the top-down
path to line up; other sizes are padded with zeros (the mean colour once normalised) on the right
and bottom, and boxes are clamped to the unpadded image.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import batched_nms

from aistudio.tasks.models import BATCHNORM_MOMENTUM, load_trunk_weights

logger = logging.getLogger(__name__)

STRIDE = 4
"""Output stride of the heads: one heatmap cell per 4 x 4 input pixels."""
TRUNK_STRIDE = 32
"""Total stride of the ResNet trunk: inputs are padded to a multiple of it."""
MIN_INPUT = 32
"""Smallest input side (one ``layer4`` pixel)."""
MIN_OVERLAP = 0.7
"""CenterNet's minimum IoU of a box whose corners lie within the Gaussian radius."""
HEATMAP_PRIOR_BIAS = -2.19
"""Initial bias of the heatmap logits: sigmoid(-2.19) = 0.1, as in CenterNet."""
SIZE_WEIGHT = 1.0
"""Weight of the log-size L1 loss (CenterNet's 0.1 is for sizes in pixels, not logs)."""
OFFSET_WEIGHT = 1.0
"""Weight of the offset L1 loss."""
TRUNKS: dict[str, str] = {"resnet18": "ResNet-18", "resnet34": "ResNet-34"}
"""The torchvision trunks offered (BasicBlock ResNets: 64, 128, 256, 512 channels)."""
_TRUNK_CHANNELS = (64, 128, 256, 512)
_FOCAL_ALPHA = 2.0
_FOCAL_BETA = 4.0


def _group_norm(channels: int) -> nn.GroupNorm:
    """A GroupNorm with the most groups (up to 32) that leave at least 4 channels in each."""
    for groups in (32, 16, 8, 4, 2):
        if channels % groups == 0 and channels // groups >= 4:
            return nn.GroupNorm(groups, channels)
    return nn.GroupNorm(1, channels)


def _conv_gn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        _group_norm(out_channels),
        nn.ReLU(inplace=True),
    )


def _head(in_channels: int, mid_channels: int, outputs: int, bias: float) -> nn.Sequential:
    head = nn.Sequential(
        _conv_gn_relu(in_channels, mid_channels), nn.Conv2d(mid_channels, outputs, 1)
    )
    last = head[-1]
    assert isinstance(last, nn.Conv2d)
    nn.init.normal_(last.weight, std=0.01)
    nn.init.constant_(last.bias, bias)
    return head


def gaussian_radius(height: Tensor, width: Tensor, min_overlap: float = MIN_OVERLAP) -> Tensor:
    """CenterNet's Gaussian radius for boxes of these sizes (in output cells), element-wise.

    The smallest of the three radii (CornerNet's cases: both corners inside, both outside, one of
    each) within which a corner may move and the box still overlaps the original by at least
    ``min_overlap`` IoU; ``CenterNet/src/lib/utils/image.py``'s formula, vectorised.

    Args:
        height: box heights (any shape).
        width: box widths (same shape).
        min_overlap: the IoU kept.

    Returns:
        The radii, float, same shape (not rounded).
    """
    a1 = 1.0
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + torch.sqrt((b1**2 - 4 * a1 * c1).clamp(min=0))) / 2
    a2 = 4.0
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + torch.sqrt((b2**2 - 4 * a2 * c2).clamp(min=0))) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + torch.sqrt((b3**2 - 4 * a3 * c3).clamp(min=0))) / 2
    return torch.minimum(torch.minimum(r1, r2), r3)


class CenterNet(nn.Module):
    """CenterNet on a torchvision ResNet trunk; see the module docstring.

    ``forward`` returns the raw head maps (what :func:`~aistudio.tasks.models.recalibrate_batchnorm`
    and the exported graph run); :meth:`losses`, :meth:`predict` and :meth:`export_module` are the
    detector interface of :class:`~aistudio.tasks.detection_models.Detector`.

    Args:
        num_classes: number of object classes (labels 0 … ``num_classes`` - 1).
        trunk: a key of :data:`TRUNKS`.
        head_channels: width of the three heads' hidden layer.
        neck_channels: width of the top-down path.
    """

    def __init__(
        self,
        num_classes: int,
        trunk: str = "resnet18",
        head_channels: int = 64,
        neck_channels: int = 128,
    ) -> None:
        super().__init__()
        from torchvision.models import get_model

        if num_classes < 1:
            raise ValueError(f"a detector needs at least one class, got {num_classes}")
        if trunk not in TRUNKS:
            raise ValueError(f"unknown trunk {trunk!r}: choose one of {', '.join(TRUNKS)}")
        self.num_classes = num_classes
        self.trunk_name = trunk
        resnet = get_model(trunk, weights=None)
        self.stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool)
        self.layer1 = resnet.layer1
        self.layer2 = resnet.layer2
        self.layer3 = resnet.layer3
        self.layer4 = resnet.layer4
        self.lateral = nn.ModuleList(nn.Conv2d(c, neck_channels, 1) for c in _TRUNK_CHANNELS)
        self.fuse = nn.ModuleList(_conv_gn_relu(neck_channels, neck_channels) for _ in range(3))
        self.heatmap = _head(neck_channels, head_channels, num_classes, HEATMAP_PRIOR_BIAS)
        self.size = _head(neck_channels, head_channels, 2, 0.0)
        self.offset = _head(neck_channels, head_channels, 2, 0.0)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.momentum = BATCHNORM_MOMENTUM

    # ------------------------------------------------------------------ network
    def trunk_modules(self) -> dict[str, nn.Module]:
        """The ResNet parts by their name in torchvision's ResNet (for loading its weights)."""
        conv1, bn1 = self.stem[0], self.stem[1]
        return {
            "conv1": conv1,
            "bn1": bn1,
            "layer1": self.layer1,
            "layer2": self.layer2,
            "layer3": self.layer3,
            "layer4": self.layer4,
        }

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """The raw head maps at stride 4 of the (padded) input.

        Args:
            images: N x 3 x H x W, ImageNet-normalised, each side at least :data:`MIN_INPUT`.

        Returns:
            ``heatmap`` (logits, N x C x H/4 x W/4), ``size`` (log cells, N x 2 x …) and
            ``offset`` (cells, N x 2 x …), for the input padded to a multiple of 32.

        Raises:
            ValueError: the input is not N x 3 x H x W or a side is under :data:`MIN_INPUT`.
        """
        _, top = self.features(images)
        return {"heatmap": self.heatmap(top), "size": self.size(top), "offset": self.offset(top)}

    def features(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """The stem's stride-2 feature (before its max-pool) and the top-down path's stride-4
        feature of the input padded to a multiple of 32 (what the heads read).

        Raises:
            ValueError: the input is not N x 3 x H x W or a side is under :data:`MIN_INPUT`.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected N x 3 x H x W images, got {tuple(images.shape)}")
        height, width = int(images.shape[-2]), int(images.shape[-1])
        if min(height, width) < MIN_INPUT:
            raise ValueError(
                f"CenterNet needs images of at least {MIN_INPUT} px, got {height} x {width}"
            )
        pad_h, pad_w = (-height) % TRUNK_STRIDE, (-width) % TRUNK_STRIDE
        if pad_h or pad_w:
            images = F.pad(images, (0, pad_w, 0, pad_h))
        c1 = self.stem[2](self.stem[1](self.stem[0](images)))
        c2 = self.layer1(self.stem[3](c1))
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        top = self.lateral[3](c5)
        for lateral, fuse, feature in zip(
            (self.lateral[2], self.lateral[1], self.lateral[0]),
            self.fuse,
            (c4, c3, c2),
            strict=True,
        ):
            top = fuse(lateral(feature) + F.interpolate(top, scale_factor=2.0, mode="nearest"))
        return c1, top

    # ------------------------------------------------------------------ training
    def encode_targets(
        self, targets: list[dict[str, Tensor]], grid: tuple[int, int], image_size: tuple[int, int]
    ) -> tuple[Tensor, list[Tensor], Tensor, Tensor]:
        """The training targets of a batch on a heatmap grid.

        Boxes are clamped to the image; boxes with no area left are ignored. Each object's centre
        cell gets a Gaussian peak of value 1 on its class channel (element-wise maximum where
        objects overlap), its log size and its sub-cell offset.

        Args:
            targets: per image ``boxes`` (M x 4 xyxy input pixels) and ``labels`` (M, 0-based).
            grid: heatmap height and width.
            image_size: input height and width (boxes are clamped to it).

        Returns:
            The heatmap targets (N x C x H x W), the flat centre cell of each kept object per
            image (``y * W + x``, int64), and the log-size and offset targets of all objects of
            the batch in order (M_total x 2 each).

        Raises:
            ValueError: a label outside 0 … ``num_classes`` - 1, or boxes and labels differ
                in number.
        """
        grid_h, grid_w = grid
        device = self.heatmap[-1].weight.device
        heat = torch.zeros(len(targets), self.num_classes, grid_h * grid_w, device=device)
        centres: list[Tensor] = []
        sizes: list[Tensor] = []
        offsets: list[Tensor] = []
        xs = torch.arange(grid_w, device=device, dtype=torch.float32)
        ys = torch.arange(grid_h, device=device, dtype=torch.float32)
        for i, target in enumerate(targets):
            boxes = target["boxes"].to(device=device, dtype=torch.float32).reshape(-1, 4)
            labels = target["labels"].to(device=device, dtype=torch.int64).reshape(-1)
            if boxes.shape[0] != labels.shape[0]:
                raise ValueError(f"{boxes.shape[0]} boxes but {labels.shape[0]} labels")
            if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
                raise ValueError(f"labels must lie in 0 … {self.num_classes - 1}")
            boxes = torch.stack(
                (
                    boxes[:, 0].clamp(0, image_size[1]),
                    boxes[:, 1].clamp(0, image_size[0]),
                    boxes[:, 2].clamp(0, image_size[1]),
                    boxes[:, 3].clamp(0, image_size[0]),
                ),
                dim=1,
            )
            cell = boxes / STRIDE
            w = cell[:, 2] - cell[:, 0]
            h = cell[:, 3] - cell[:, 1]
            keep = (w > 0) & (h > 0)
            cell, w, h, labels = cell[keep], w[keep], h[keep], labels[keep]
            cx = (cell[:, 0] + cell[:, 2]) / 2
            cy = (cell[:, 1] + cell[:, 3]) / 2
            ix = cx.floor().clamp(0, grid_w - 1)
            iy = cy.floor().clamp(0, grid_h - 1)
            radius = gaussian_radius(h.ceil(), w.ceil()).floor().clamp(min=0)
            sigma = (2 * radius + 1) / 6
            dx = xs[None, :] - ix[:, None]  # M x W
            dy = ys[None, :] - iy[:, None]  # M x H
            gx = torch.exp(-(dx**2) / (2 * sigma[:, None] ** 2)) * (dx.abs() <= radius[:, None])
            gy = torch.exp(-(dy**2) / (2 * sigma[:, None] ** 2)) * (dy.abs() <= radius[:, None])
            gauss = (gy[:, :, None] * gx[:, None, :]).reshape(len(labels), grid_h * grid_w)
            for label in labels.unique().tolist():  # (scatter_reduce amax is slow on CPU)
                heat[i, label] = torch.maximum(heat[i, label], gauss[labels == label].amax(0))
            flat = (iy * grid_w + ix).long()
            centres.append(flat)
            # the peak itself is exactly 1 (exp(0) = 1): focal positives are the centre cells
            heat[i, labels, flat] = 1.0
            sizes.append(torch.stack((w.clamp(min=1e-3).log(), h.clamp(min=1e-3).log()), dim=1))
            offsets.append(torch.stack((cx - ix, cy - iy), dim=1))
        return (
            heat.reshape(len(targets), self.num_classes, grid_h, grid_w),
            centres,
            torch.cat(sizes) if sizes else torch.zeros(0, 2, device=device),
            torch.cat(offsets) if offsets else torch.zeros(0, 2, device=device),
        )

    def losses(self, images: Tensor, targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """The weighted losses of a batch (their sum is what training minimises).

        Works in either mode (in evaluation mode for a validation loss); the network is run as
        it is.

        Args:
            images: N x 3 x S x S, ImageNet-normalised.
            targets: per image ``boxes`` (M x 4 xyxy input pixels) and ``labels`` (M); M may be 0.

        Returns:
            ``heatmap`` (focal), ``size`` and ``offset`` (L1), each a scalar divided by the
            number of objects of the batch (at least 1).
        """
        if len(targets) != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {len(targets)} targets")
        out = {k: v.float() for k, v in self(images).items()}  # the loss in float32 under AMP
        logits = out["heatmap"]
        grid = (int(logits.shape[-2]), int(logits.shape[-1]))
        heat, centres, size_target, offset_target = self.encode_targets(
            targets, grid, (int(images.shape[-2]), int(images.shape[-1]))
        )
        return self.detection_losses(out, heat, centres, size_target, offset_target)

    def detection_losses(
        self,
        out: dict[str, Tensor],
        heat: Tensor,
        centres: list[Tensor],
        size_target: Tensor,
        offset_target: Tensor,
    ) -> dict[str, Tensor]:
        """The three weighted losses of head maps ``out`` (float32) against encoded targets
        (:meth:`encode_targets`)."""
        logits = out["heatmap"]
        objects = max(1, int(size_target.shape[0]))
        positive = heat == 1.0
        prob = torch.sigmoid(logits)
        log_p = F.logsigmoid(logits)
        log_not_p = F.logsigmoid(-logits)
        positive_loss = -((1 - prob) ** _FOCAL_ALPHA) * log_p
        negative_loss = -((1 - heat) ** _FOCAL_BETA) * prob**_FOCAL_ALPHA * log_not_p
        focal = torch.where(positive, positive_loss, negative_loss).sum() / objects
        size_pred = self._at_centres(out["size"], centres)
        offset_pred = self._at_centres(out["offset"], centres)
        size_loss = (size_pred - size_target).abs().sum() / objects
        offset_loss = (offset_pred - offset_target).abs().sum() / objects
        return {
            "heatmap": focal,
            "size": SIZE_WEIGHT * size_loss,
            "offset": OFFSET_WEIGHT * offset_loss,
        }

    @staticmethod
    def _at_centres(maps: Tensor, centres: list[Tensor]) -> Tensor:
        """The 2-channel values of ``maps`` (N x 2 x H x W) at each image's centre cells."""
        flat = maps.flatten(2)  # N x 2 x HW
        picked = [flat[i][:, index].t() for i, index in enumerate(centres)]
        return torch.cat(picked) if picked else flat.new_zeros(0, 2)

    # ------------------------------------------------------------------ inference
    def decode(
        self,
        out: dict[str, Tensor],
        image_size: tuple[int, int],
        score_threshold: float,
        nms_iou: float,
        max_detections: int,
    ) -> list[tuple[Tensor, Tensor, Tensor]]:
        """Detections from head maps (see :meth:`decode_cells`, without the cells)."""
        return [
            (b, s, lab)
            for b, s, lab, _ in self.decode_cells(
                out, image_size, score_threshold, nms_iou, max_detections
            )
        ]

    def decode_cells(
        self,
        out: dict[str, Tensor],
        image_size: tuple[int, int],
        score_threshold: float,
        nms_iou: float,
        max_detections: int,
    ) -> list[tuple[Tensor, Tensor, Tensor, Tensor]]:
        """Detections from head maps: peaks, top-k, boxes, threshold, class-wise NMS.

        Traceable: the exported graph runs this same code on a batch of one.

        Args:
            out: what :meth:`forward` returned.
            image_size: input height and width (boxes are clamped to it).
            score_threshold: keep detections scoring above this.
            nms_iou: IoU above which a lower-scoring box of the same class is dropped.
            max_detections: at most this many detections per image.

        Returns:
            Per image ``(boxes K x 4 xyxy input pixels, scores K, labels K int64, cells K int64)``
            by score descending; a cell is the flat index ``y * W + x`` of the detection's peak
            on the heatmap grid (where a mask head reads its coefficients).
        """
        heat = torch.sigmoid(out["heatmap"].float())
        batch, classes, grid_h, grid_w = heat.shape
        peaks = F.max_pool2d(heat, kernel_size=3, stride=1, padding=1)
        heat = heat * (peaks == heat).to(heat.dtype)
        k = max(1, min(int(max_detections), classes * grid_h * grid_w))
        scores, index = torch.topk(heat.reshape(batch, -1), k, dim=1)
        cells = grid_h * grid_w
        labels = torch.div(index, cells, rounding_mode="floor")
        pixel = index - labels * cells
        ys = torch.div(pixel, grid_w, rounding_mode="floor")
        xs = pixel - ys * grid_w
        gather = pixel[:, None, :].expand(batch, 2, k)
        size = torch.gather(out["size"].float().reshape(batch, 2, cells), 2, gather)
        offset = torch.gather(out["offset"].float().reshape(batch, 2, cells), 2, gather)
        size = torch.exp(size.clamp(max=math.log(max(grid_h, grid_w) * 2.0)))
        cx = xs.to(heat.dtype) + offset[:, 0]
        cy = ys.to(heat.dtype) + offset[:, 1]
        half_w, half_h = size[:, 0] / 2, size[:, 1] / 2
        height, width = float(image_size[0]), float(image_size[1])
        boxes = torch.stack(
            (
                ((cx - half_w) * STRIDE).clamp(0, width),
                ((cy - half_h) * STRIDE).clamp(0, height),
                ((cx + half_w) * STRIDE).clamp(0, width),
                ((cy + half_h) * STRIDE).clamp(0, height),
            ),
            dim=2,
        )
        results: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []
        for i in range(batch):
            keep = scores[i] > score_threshold
            b, s, lab, cell = boxes[i][keep], scores[i][keep], labels[i][keep], pixel[i][keep]
            kept = batched_nms(b, s, lab, nms_iou)[:max_detections]
            results.append((b[kept], s[kept], lab[kept], cell[kept]))
        return results

    @torch.no_grad()
    def predict(
        self,
        images: Tensor,
        score_threshold: float = 0.1,
        nms_iou: float = 0.5,
        max_detections: int = 100,
    ) -> list[dict[str, Tensor]]:
        """Detections per image, in evaluation mode (the module's mode is restored afterwards).

        Args:
            images: N x 3 x S x S, ImageNet-normalised.
            score_threshold: keep detections scoring above this.
            nms_iou: class-wise NMS IoU (a safety: peaks rarely overlap).
            max_detections: at most this many per image.

        Returns:
            Per image ``boxes`` (K x 4 float32 xyxy input pixels), ``scores`` (K float32) and
            ``labels`` (K int64), by score descending.
        """
        was_training = self.training
        self.eval()
        size = (int(images.shape[-2]), int(images.shape[-1]))
        try:
            out = self(images)
            decoded = self.decode_cells(out, size, score_threshold, nms_iou, max_detections)
            return [
                self.found(out, i, b, s, lab, cells, size)
                for i, (b, s, lab, cells) in enumerate(decoded)
            ]
        finally:
            self.train(was_training)

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
        """Image ``index``'s detections as :meth:`predict` and the export give them, from
        :meth:`decode_cells` (a subclass adds what it reads at the cells). Traceable."""
        return {"boxes": boxes.float(), "scores": scores.float(), "labels": labels.long()}

    def export_module(
        self, score_threshold: float = 0.1, nms_iou: float = 0.5, max_detections: int = 100
    ) -> nn.Module:
        """A module for ONNX export: one image in, final detections out (NMS in the graph).

        The returned module holds a copy of this network in evaluation mode (later training does
        not change it). Export it with ``torch.onnx.export(module, x, f, dynamo=False,
        opset_version=17)`` for a fixed input size; it gives the detections of :meth:`predict`.

        Args:
            score_threshold: keep detections scoring above this.
            nms_iou: class-wise NMS IoU.
            max_detections: at most this many detections.

        Returns:
            A module whose ``forward(x: 1 x 3 x S x S)`` returns ``(boxes K x 4, scores K,
            labels K int64)``.
        """
        import copy

        return CenterNetExport(copy.deepcopy(self).eval(), score_threshold, nms_iou, max_detections)


class CenterNetExport(nn.Module):
    """A :class:`CenterNet` with its decoding, for a batch of one (see ``export_module``)."""

    def __init__(
        self, model: CenterNet, score_threshold: float, nms_iou: float, max_detections: int
    ) -> None:
        super().__init__()
        self.model = model
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.max_detections = int(max_detections)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """Detections of image ``x`` (1 x 3 x S x S, normalised): boxes, scores, labels (and
        what :meth:`CenterNet.found` adds, such as masks), in that order."""
        out = self.model(x)
        size = (int(x.shape[-2]), int(x.shape[-1]))
        boxes, scores, labels, cells = self.model.decode_cells(
            out, size, self.score_threshold, self.nms_iou, self.max_detections
        )[0]
        return tuple(self.model.found(out, 0, boxes, scores, labels, cells, size).values())


def build_centernet(
    num_classes: int,
    pretrained_weights: bool,
    trunk: str = "resnet18",
    network: type[CenterNet] | None = None,
    **kwargs: Any,
) -> tuple[CenterNet, str]:
    """A :class:`CenterNet`, its trunk from ImageNet weights when they are in the local cache.

    Nothing is downloaded: with ``pretrained_weights``, the trunk's weights are read from the
    local torch cache (:func:`~aistudio.tasks.models.find_cached_weights`) into a torchvision
    ResNet and its trunk layers copied over; otherwise, or when the file is not there, the
    network trains from scratch. The top-down path and the heads always start from scratch.

    Args:
        num_classes: number of object classes.
        pretrained_weights: whether ImageNet weights are wanted for the trunk.
        trunk: a key of :data:`TRUNKS`.
        network: the class to build (a :class:`CenterNet` subclass, such as the mask
            model; default :class:`CenterNet`).
        **kwargs: ``head_channels`` / ``neck_channels`` of :class:`CenterNet` (and what the
            subclass takes).

    Returns:
        The network and the weights sentence of :func:`~aistudio.tasks.models.build_backbone`
        (:data:`~aistudio.tasks.models.IMAGENET_WEIGHTS`, ``NOT_REQUESTED`` or "from scratch: no
        ImageNet weights for ResNet-18 in the local torch cache (<path>)").

    Raises:
        ValueError: fewer than one class or an unknown trunk.
        TaskInputError: a cached weights file is there but cannot be loaded.
    """
    model = (network or CenterNet)(num_classes, trunk=trunk, **kwargs)
    sentence = load_trunk_weights(model.trunk_modules(), trunk, TRUNKS[trunk], pretrained_weights)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = BATCHNORM_MOMENTUM
    return model, sentence
