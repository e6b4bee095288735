"""torchvision's FCOS, RetinaNet, Faster R-CNN and Mask R-CNN behind the detector interface.

These are for users with cached ImageNet backbones or a GPU: from scratch on a CPU they are
several times slower than :class:`~aistudio.tasks.detection_models.centernet.CenterNet`.

The networks are assembled the way torchvision's builders do (same backbone extractor, FPN
levels, heads and GIoU loss for RetinaNet v2), but never with downloaded weights: the backbone's
ImageNet file is read from the local torch cache when it is there
(:func:`~aistudio.tasks.models.find_cached_weights`), in which case the backbone uses
``FrozenBatchNorm2d`` and its first layers stay frozen as in torchvision (3 trainable ResNet
stages); otherwise everything trains from scratch with BatchNorm (momentum
:data:`~aistudio.tasks.models.BATCHNORM_MOMENTUM`). The internal transform is told
``min_size = max_size = S`` (no resizing to the 800 px default) and ``image_mean = 0``,
``image_std = 1`` (the pipeline's input is already ImageNet-normalised).

Labels: the pipeline's labels are 0-based. FCOS and RetinaNet take them as they are; Faster
R-CNN and Mask R-CNN reserve 0 for the background, so their labels are shifted by one in and
out. Mask R-CNN takes the targets' ``masks`` (M x S x S) and gives ``masks`` (K x S x S
probabilities of the input's pixels, pasted by torchvision).
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from aistudio.tasks.detection_models.catalogue import detector_entry
from aistudio.tasks.models import (
    BATCHNORM_MOMENTUM,
    IMAGENET_WEIGHTS,
    MODELS,
    NOT_REQUESTED,
    _from_scratch_sentence,
    _load_weights,
    cached_weights_path,
    find_cached_weights,
)

if TYPE_CHECKING:
    from pathlib import Path

logger = logging.getLogger(__name__)

FPN_CHANNELS = 256
"""Width of the FPN levels (torchvision's)."""
_TORCHVISION_BUILDERS = (
    "fcos_resnet18_fpn",
    "fcos_resnet50_fpn",
    "retinanet_resnet50_fpn_v2",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "maskrcnn_resnet50_fpn",
)


def _title(backbone: str) -> str:
    return next(spec.title for spec in MODELS if spec.name == backbone)


class TorchvisionDetector(nn.Module):
    """A torchvision detection model with the detector interface of this package.

    ``forward(images)`` runs the backbone (with its FPN) only and returns its feature maps: it is
    what :func:`~aistudio.tasks.models.recalibrate_batchnorm` needs (the heads have no
    BatchNorm). Use :meth:`losses`, :meth:`predict` and :meth:`export_module` otherwise.

    Args:
        model: an FCOS, RetinaNet or FasterRCNN built for the input size.
        name: the catalogue name (for messages).
        label_offset: added to the pipeline's labels before the model sees them (1 for Faster
            R-CNN, whose label 0 is the background) and subtracted from its predictions.
        exportable: whether :meth:`export_module` is supported.
        with_masks: whether the model segments (Mask R-CNN): targets carry ``masks`` and
            predictions and exports give them.
    """

    def __init__(
        self,
        model: nn.Module,
        name: str,
        label_offset: int = 0,
        exportable: bool = True,
        with_masks: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.name = name
        self.label_offset = int(label_offset)
        self.exportable = exportable
        self.with_masks = with_masks

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """The backbone's feature maps of ``images`` (N x 3 x S x S, normalised), by level."""
        return self.model.backbone(images)

    # ------------------------------------------------------------------ training
    @contextlib.contextmanager
    def _loss_mode(self) -> Iterator[None]:
        """Train mode for the loss branch; in evaluation mode, with the norms left in eval."""
        if self.training:
            yield
            return
        self.model.train()
        for module in self.model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        try:
            yield
        finally:
            self.model.eval()

    def _model_targets(
        self, targets: list[dict[str, Tensor]], size: tuple[int, int]
    ) -> list[dict[str, Tensor]]:
        """The targets as torchvision wants them: clamped, with area, labels shifted."""
        out: list[dict[str, Tensor]] = []
        height, width = size
        for target in targets:
            boxes = target["boxes"].to(dtype=torch.float32).reshape(-1, 4)
            labels = target["labels"].to(dtype=torch.int64).reshape(-1)
            if boxes.shape[0] != labels.shape[0]:
                raise ValueError(f"{boxes.shape[0]} boxes but {labels.shape[0]} labels")
            boxes = torch.stack(
                (
                    boxes[:, 0].clamp(0, width),
                    boxes[:, 1].clamp(0, height),
                    boxes[:, 2].clamp(0, width),
                    boxes[:, 3].clamp(0, height),
                ),
                dim=1,
            )
            # torchvision refuses boxes without area: drop them (as SanitizeBoundingBoxes would)
            keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            model_target = {"boxes": boxes[keep], "labels": labels[keep] + self.label_offset}
            if self.with_masks:
                model_target["masks"] = target["masks"][keep].to(torch.uint8)
            out.append(model_target)
        return out

    def losses(self, images: Tensor, targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """torchvision's loss dict of a batch (in evaluation mode too, norms kept frozen).

        Args:
            images: N x 3 x S x S, ImageNet-normalised.
            targets: per image ``boxes`` (M x 4 xyxy input pixels) and ``labels`` (M); M may be
                0. Boxes are clamped to the image and boxes without area dropped.

        Returns:
            The model's scalar losses by torchvision's names (e.g. FCOS: ``classification``,
            ``bbox_regression``, ``bbox_ctrness``).
        """
        if len(targets) != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {len(targets)} targets")
        model_targets = self._model_targets(targets, (int(images.shape[-2]), int(images.shape[-1])))
        with self._loss_mode():
            losses = self.model(list(images), model_targets)
        return dict(losses)

    # ------------------------------------------------------------------ inference
    @contextlib.contextmanager
    def _thresholds(
        self, model: nn.Module, score_threshold: float, nms_iou: float, max_detections: int
    ) -> Iterator[None]:
        """Set the model's own post-processing thresholds for the block."""
        owner = model.roi_heads if hasattr(model, "roi_heads") else model
        saved = (owner.score_thresh, owner.nms_thresh, owner.detections_per_img)
        owner.score_thresh = float(score_threshold)
        owner.nms_thresh = float(nms_iou)
        owner.detections_per_img = int(max_detections)
        try:
            yield
        finally:
            owner.score_thresh, owner.nms_thresh, owner.detections_per_img = saved

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
            nms_iou: class-wise NMS IoU.
            max_detections: at most this many per image.

        Returns:
            Per image ``boxes`` (K x 4 float32 xyxy input pixels), ``scores`` (K float32) and
            ``labels`` (K int64, 0-based), by score descending.
        """
        was_training = self.training
        self.eval()
        try:
            with self._thresholds(self.model, score_threshold, nms_iou, max_detections):
                outputs = self.model(list(images))
        finally:
            self.train(was_training)
        results: list[dict[str, Tensor]] = []
        for out in outputs:
            order = torch.argsort(out["scores"], descending=True, stable=True)[:max_detections]
            found = {
                "boxes": out["boxes"][order].float(),
                "scores": out["scores"][order].float(),
                "labels": out["labels"][order].long() - self.label_offset,
            }
            if self.with_masks:
                found["masks"] = out["masks"][order][:, 0].float()
            results.append(found)
        return results

    def export_module(
        self, score_threshold: float = 0.1, nms_iou: float = 0.5, max_detections: int = 100
    ) -> nn.Module:
        """A module for ONNX export: one image in, final detections out (NMS in the graph).

        It holds a copy of the network in evaluation mode with these thresholds. Export it with
        ``torch.onnx.export(module, x, f, dynamo=False, opset_version=17)`` for a fixed size.

        Args:
            score_threshold: keep detections scoring above this.
            nms_iou: class-wise NMS IoU.
            max_detections: at most this many detections.

        Returns:
            A module whose ``forward(x: 1 x 3 x S x S)`` returns ``(boxes K x 4, scores K,
            labels K int64)``.

        Raises:
            NotImplementedError: this model does not export to ONNX (see its catalogue note).
        """
        if not self.exportable:
            raise NotImplementedError(
                f"{self.name} cannot be exported to ONNX; choose an exportable detector"
            )
        model = copy.deepcopy(self.model).eval()
        owner = model.roi_heads if hasattr(model, "roi_heads") else model
        owner.score_thresh = float(score_threshold)
        owner.nms_thresh = float(nms_iou)
        owner.detections_per_img = int(max_detections)
        return TorchvisionExport(model, self.label_offset, self.with_masks)


class TorchvisionExport(nn.Module):
    """A torchvision detector for a batch of one, returning plain tensors (see export_module)."""

    def __init__(self, model: nn.Module, label_offset: int, with_masks: bool = False) -> None:
        super().__init__()
        self.model = model
        self.label_offset = int(label_offset)
        self.with_masks = with_masks

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """Detections of image ``x`` (1 x 3 x S x S, normalised): boxes, scores, labels (and
        masks K x S x S for Mask R-CNN)."""
        out = self.model([x[0]])
        if isinstance(out, tuple):  # scripting/tracing returns (losses, detections)
            out = out[1]
        det = out[0]
        if self.with_masks:
            return (
                det["boxes"],
                det["scores"],
                det["labels"] - self.label_offset,
                det["masks"][:, 0],
            )
        return det["boxes"], det["scores"], det["labels"] - self.label_offset


# ---------------------------------------------------------------------- builders
def _cached_backbone(backbone: str, pretrained_weights: bool) -> tuple[Path | None, str]:
    """The cached ImageNet file of ``backbone`` (or None) and the weights sentence."""
    if not pretrained_weights:
        return None, NOT_REQUESTED
    path = find_cached_weights(backbone)
    if path is None:
        return None, _from_scratch_sentence(_title(backbone), cached_weights_path(backbone))
    return path, IMAGENET_WEIGHTS


def _resnet(backbone: str, path: Path | None, norm: Callable[..., nn.Module] | None) -> nn.Module:
    from torchvision.models import get_model

    kwargs = {} if norm is None else {"norm_layer": norm}
    resnet = get_model(backbone, weights=None, **kwargs)
    if path is not None:
        _load_weights(resnet, path)
        logger.info("loaded ImageNet weights of %s from %s", backbone, path)
    return resnet


def _build(name: str, num_classes: int, image_size: int, path: Path | None) -> TorchvisionDetector:
    from torchvision.models import get_model
    from torchvision.models.detection import FCOS, FasterRCNN, RetinaNet
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import (
        _mobilenet_extractor,
        _resnet_fpn_extractor,
    )
    from torchvision.models.detection.retinanet import RetinaNetHead, _default_anchorgen
    from torchvision.ops import misc as misc_nn_ops
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7

    trained = path is not None
    frozen_norm = misc_nn_ops.FrozenBatchNorm2d if trained else nn.BatchNorm2d
    common = {
        "min_size": image_size,
        "max_size": image_size,
        "image_mean": [0.0, 0.0, 0.0],
        "image_std": [1.0, 1.0, 1.0],
    }
    if name in ("fcos_resnet18_fpn", "fcos_resnet50_fpn"):
        trunk = "resnet18" if name == "fcos_resnet18_fpn" else "resnet50"
        body = _resnet(trunk, path, frozen_norm)
        fpn = _resnet_fpn_extractor(
            body,
            3 if trained else 5,
            returned_layers=[2, 3, 4],
            extra_blocks=LastLevelP6P7(FPN_CHANNELS, FPN_CHANNELS),
        )
        return TorchvisionDetector(FCOS(fpn, num_classes, **common), name)
    if name == "retinanet_resnet50_fpn_v2":
        body = _resnet("resnet50", path, None)  # torchvision's v2 keeps BatchNorm trainable
        fpn = _resnet_fpn_extractor(
            body,
            3 if trained else 5,
            returned_layers=[2, 3, 4],
            extra_blocks=LastLevelP6P7(2048, FPN_CHANNELS),
        )
        anchors = _default_anchorgen()
        head = RetinaNetHead(
            fpn.out_channels,
            anchors.num_anchors_per_location()[0],
            num_classes,
            norm_layer=lambda channels: nn.GroupNorm(32, channels),
        )
        head.regression_head._loss_type = "giou"
        model = RetinaNet(fpn, num_classes, anchor_generator=anchors, head=head, **common)
        return TorchvisionDetector(model, name)
    if name == "fasterrcnn_mobilenet_v3_large_fpn":
        mobilenet = get_model("mobilenet_v3_large", weights=None, norm_layer=frozen_norm)
        if path is not None:
            _load_weights(mobilenet, path)
            logger.info("loaded ImageNet weights of mobilenet_v3_large from %s", path)
        extractor = _mobilenet_extractor(mobilenet, True, 3 if trained else 6)
        sizes = ((32, 64, 128, 256, 512),) * 3
        ratios = ((0.5, 1.0, 2.0),) * len(sizes)
        model = FasterRCNN(
            extractor,
            num_classes + 1,
            rpn_anchor_generator=AnchorGenerator(sizes, ratios),
            rpn_score_thresh=0.05,
            **common,
        )
        return TorchvisionDetector(model, name, label_offset=1)
    if name == "maskrcnn_resnet50_fpn":
        from torchvision.models.detection import MaskRCNN

        body = _resnet("resnet50", path, frozen_norm)
        fpn = _resnet_fpn_extractor(body, 3 if trained else 5)
        model = MaskRCNN(fpn, num_classes + 1, **common)
        return TorchvisionDetector(model, name, label_offset=1, with_masks=True)
    raise ValueError(f"{name!r} is not a torchvision detector here")


def build_torchvision_detector(
    name: str, num_classes: int, image_size: int, pretrained_weights: bool
) -> tuple[TorchvisionDetector, str]:
    """Build detector ``name`` of the catalogue for ``image_size`` px inputs.

    Nothing is downloaded: ``weights=None`` everywhere; with ``pretrained_weights`` the
    backbone's ImageNet file is loaded from the local torch cache when it is there. Every
    (non-frozen) BatchNorm momentum is set to :data:`~aistudio.tasks.models.BATCHNORM_MOMENTUM`.

    Args:
        name: a torchvision entry of :data:`~.catalogue.DETECTORS` (``fcos_resnet18_fpn``,
            ``fcos_resnet50_fpn``, ``retinanet_resnet50_fpn_v2``,
            ``fasterrcnn_mobilenet_v3_large_fpn``).
        num_classes: number of object classes (0-based labels).
        image_size: the square input side S (the internal transform keeps it).
        pretrained_weights: whether ImageNet backbone weights are wanted.

    Returns:
        The wrapped detector and the weights sentence of
        :func:`~aistudio.tasks.models.build_backbone`.

    Raises:
        ValueError: unknown name, fewer than one class or an image size under the minimum.
        TaskInputError: a cached weights file is there but cannot be loaded.
    """
    entry = detector_entry(name)
    if entry.family != "torchvision" or name not in _TORCHVISION_BUILDERS:
        raise ValueError(f"{name!r} is not a torchvision detector")
    if num_classes < 1:
        raise ValueError(f"a detector needs at least one class, got {num_classes}")
    if image_size < entry.spec.min_image_size:
        raise ValueError(
            f"{entry.spec.title} needs images of at least {entry.spec.min_image_size} px, "
            f"got {image_size}"
        )
    path, sentence = _cached_backbone(entry.backbone, pretrained_weights)
    detector = _build(name, num_classes, image_size, path)
    detector.exportable = entry.exportable
    for module in detector.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = BATCHNORM_MOMENTUM
    return detector, sentence
