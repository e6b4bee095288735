"""Instance segmentation: a class, a box and a mask for every object, scored as COCO does.

Annotations are DESIGN §3b's ``instances``: objects with a class, a box and polygons or a mask
file (:mod:`aistudio.tasks.instance_masks` turns either into arrays); ``crowd`` regions are
left out of the targets and are neither found nor missed in evaluation. Everything else is
detection's (:class:`~aistudio.tasks.detection.DetectionTask`): images stretched to S x S, the
same augmentations (which move the masks with the pixels, NEAREST), the same thresholds.

Models: a CenterNet with a YOLACT-style mask branch by default
(:mod:`.detection_models.centermask`), torchvision's Mask R-CNN for people with cached ImageNet
backbones or a GPU. Metrics: COCO's mask and box AP by pycocotools
(:mod:`aistudio.evaluation.instance_figures`): ``mask_map`` (primary), ``mask_map50``,
``box_map``, ``box_map50``.

Targets keep their masks as packed bits (one bit per input pixel: 2 KiB per object at 128 px);
they are unpacked per sample. Evaluation outputs keep each detection's mask as an 8-bit
probability crop of its box, pasted onto the image's own pixels when scored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aistudio.tasks.base import (
    EvaluationContext,
    FileResolver,
    MetricResult,
    TargetInfo,
    TaskOptions,
    Transform,
)
from aistudio.tasks.detection import (
    DetectionEvaluator,
    DetectionOptions,
    DetectionTask,
)
from aistudio.tasks.detection_models.catalogue import DEFAULT_INSTANCE_MODEL, INSTANCE_MODELS

if TYPE_CHECKING:  # importing this module stays torch-free
    import torch

    from aistudio.evaluation.instance_figures import ImageInstances
    from projections.dataset import ImageEntry

MASK_BITS = "mask_bits"
"""Target key of the packed masks (uint8, M x ceil(S*S / 8))."""
MASK_SIDE = "mask_side"
"""Target key of the side S the packed masks are of."""
WINDOW_MARGIN = 2
"""Input pixels kept around a detection's box in its evaluation crop."""


class InstanceSegmentationTask(DetectionTask):
    """Boxes, classes and masks of the objects of an image."""

    name = "instance_segmentation"
    title = "Instance segmentation"
    label_kind = "instances"
    target_noun = "masks"
    models = INSTANCE_MODELS
    default_model = DEFAULT_INSTANCE_MODEL
    primary_metric = "mask_map"
    metric_mode = "max"
    metric_names = ("mask_map", "mask_map50", "box_map", "box_map50")
    options_model = DetectionOptions
    figures_module = "aistudio.evaluation.instance_figures"
    figures_function = "instance_figures"
    export_adapter_class = "InstancesAdapter"
    default_config: dict[str, Any] = {"image_size": 128, "epochs": 30, "batch_size": 16}

    # ------------------------------------------------------------------ torch-free
    def annotation_of(self, entry: ImageEntry) -> Any:
        """The image's objects: class, box and shape (polygons, or the mask file's sha256)."""
        out = []
        for o in self._objects(entry):
            shape: Any = o.get("polygons")
            if shape is None:
                shape = (o.get("mask") or {}).get("sha256")
            else:
                shape = tuple(tuple(ring) for ring in shape)
            out.append((o.get("class"), tuple(o.get("box", ())), shape, bool(o.get("crowd"))))
        return out

    # ------------------------------------------------------------------ torch side
    def sample_target(
        self,
        entry: ImageEntry,
        info: TargetInfo,
        image_size: int,
        files: FileResolver | None = None,
    ) -> dict[str, Any]:
        """Detection's ``boxes`` and ``labels`` plus each object's mask at S x S, packed.

        Raises:
            KeyError: an object of a class the model has no output for.
            ValueError: a mask file that cannot be read (the image is left out).
        """
        import numpy as np
        import torch

        from aistudio.tasks.instance_masks import object_mask

        target = super().sample_target(entry, info, image_size, files)
        side = int(image_size) or max(entry.upright_size)
        masks = [
            object_mask(o, entry.upright_size, (side, side), files)
            for o in self._objects(entry)
            if not o.get("crowd")
        ]
        stacked = (
            np.stack(masks).reshape(len(masks), -1)
            if masks
            else np.zeros((0, side * side), dtype=bool)
        )
        target[MASK_BITS] = torch.from_numpy(np.packbits(stacked, axis=1))
        target[MASK_SIDE] = side
        return target

    def train_transform(self, augment: Any, image_size: int) -> Transform | None:
        """Detection's augmentations (masks move with the pixels), after unpacking the masks."""
        return UnpackMasks(super().train_transform(augment, image_size))

    def collate(self, batch: list[tuple[torch.Tensor, Any]]) -> tuple[torch.Tensor, Any]:
        """Images stacked; targets with their masks unpacked (``masks``: uint8 M x S x S)."""
        import torch

        images = torch.stack([image for image, _ in batch])
        return images, [unpack_masks(target) for _, target in batch]

    def infer(self, model: Any, inputs: torch.Tensor, options: TaskOptions) -> list[Any]:
        """Per image ``boxes``, ``scores``, ``labels`` and each detection's mask as an 8-bit
        probability crop of its box (``mask_crops``, with ``mask_windows`` x0, y0, x1, y1 in
        input pixels), on the CPU."""
        import torch

        opts = self._options(options)
        found = model.predict(inputs, opts.score_threshold, opts.nms_iou, opts.max_detections)
        side_h, side_w = int(inputs.shape[-2]), int(inputs.shape[-1])
        out: list[dict[str, Any]] = []
        for image in found:
            boxes = image["boxes"].detach().float().cpu()
            masks = image["masks"].detach().float().cpu()
            # the box and a margin (Mask R-CNN's pasted masks may spill over their box)
            windows = torch.stack(
                (
                    (boxes[:, 0].floor() - WINDOW_MARGIN).clamp(0, side_w),
                    (boxes[:, 1].floor() - WINDOW_MARGIN).clamp(0, side_h),
                    (boxes[:, 2].ceil() + WINDOW_MARGIN).clamp(0, side_w),
                    (boxes[:, 3].ceil() + WINDOW_MARGIN).clamp(0, side_h),
                ),
                dim=1,
            ).to(torch.int64)
            crops = [
                (masks[k, y0:y1, x0:x1] * 255).round().to(torch.uint8).numpy()
                for k, (x0, y0, x1, y1) in enumerate(windows.tolist())
            ]
            out.append(
                {
                    "boxes": boxes,
                    "scores": image["scores"].detach().float().cpu(),
                    "labels": image["labels"].cpu(),
                    "mask_crops": crops,
                    "mask_windows": windows,
                }
            )
        return out

    def evaluator(self, info: TargetInfo, options: TaskOptions) -> InstanceEvaluator:
        """COCO mask and box figures of the validation pass, accumulated image by image."""
        return InstanceEvaluator(info)

    def _image(
        self,
        entry: ImageEntry,
        found: dict[str, Any],
        info: TargetInfo,
        context: EvaluationContext,
    ) -> ImageInstances:
        """The image's truth and detections, masks as RLEs, in its own (upright) pixels."""
        from aistudio.evaluation.instance_figures import ImageInstances
        from aistudio.tasks.instance_masks import array_rle, object_rle, paste_window

        detections = super()._image(entry, found, info, context)
        size = entry.upright_size
        index = {c: i for i, c in enumerate(info.classes)}
        objects = [o for o in self._objects(entry) if str(o["class"]) in index]
        side = context.image_size or max(size)
        masks = [
            array_rle(paste_window(crop, window, side, size))
            for crop, window in zip(
                found["mask_crops"], found["mask_windows"].tolist(), strict=True
            )
        ]
        fields = {name: getattr(detections, name) for name in _DETECTION_FIELDS}
        return ImageInstances(
            **fields,
            gt_masks=[object_rle(o, size, context.files) for o in objects],
            gt_shapes=[
                {"polygons": o["polygons"]} if o.get("polygons") else {"mask": dict(o["mask"])}
                for o in objects
            ],
            masks=masks,
        )

    def export_metadata(self, info: TargetInfo) -> dict[str, Any]:
        """Detection's metadata plus how to read and map back the masks."""
        meta = super().export_metadata(info)
        meta["output"] = (
            "final detections of one image: boxes x1, y1, x2, y2 in pixels of the model's "
            "input, scores, labels (index into classes), masks K x S x S probabilities of the "
            "input's pixels (0 outside the box); NMS is done in the graph"
        )
        meta["coordinates"]["masks"] = "see aistudio.masks: how to map them onto the image"
        return meta


_DETECTION_FIELDS = (
    "image_id",
    "width",
    "height",
    "gt_boxes",
    "gt_labels",
    "gt_ignore",
    "boxes",
    "scores",
    "labels",
)


def unpack_masks(target: dict[str, Any]) -> dict[str, Any]:
    """``target`` with its packed masks unpacked into ``masks`` (uint8 M x S x S)."""
    if MASK_BITS not in target:
        return target
    import numpy as np
    import torch

    side = int(target[MASK_SIDE])
    bits = target[MASK_BITS].numpy()
    flat = np.unpackbits(bits, axis=1, count=side * side) if bits.size else bits[:, :0]
    out = {k: v for k, v in target.items() if k not in (MASK_BITS, MASK_SIDE)}
    out["masks"] = torch.from_numpy(np.ascontiguousarray(flat.reshape(-1, side, side)))
    return out


class UnpackMasks:
    """Unpack a sample's masks, then run the joint augmentation (picklable)."""

    def __init__(self, augmentation: Transform | None) -> None:
        self.augmentation = augmentation

    def __call__(self, image: Any, target: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        target = unpack_masks(target)
        if self.augmentation is None:
            return image, target
        return self.augmentation(image, target)

    def __repr__(self) -> str:
        return f"UnpackMasks({self.augmentation!r})"


_NOT_DRAWN: dict[str, Any] = {"polygons": []}
"""The shape of a validation object (the training's validation draws nothing)."""


class InstanceEvaluator(DetectionEvaluator):
    """The validation pass's COCO mask and box figures (input pixels), batch by batch."""

    def update(self, outputs: Any, targets: Any) -> None:
        """Keep one batch: its detections and targets (masks encoded as RLEs)."""
        import numpy as np

        from aistudio.evaluation.instance_figures import ImageInstances
        from aistudio.tasks.instance_masks import array_rle, paste_window

        for found, target in zip(outputs, targets, strict=True):
            truth = target["masks"].detach().cpu().numpy().astype(bool)
            side = int(truth.shape[-1]) if truth.ndim == 3 else 1
            self.images.append(
                ImageInstances(
                    image_id=str(len(self.images)),
                    width=side,
                    height=side,
                    gt_boxes=target["boxes"].detach().cpu().double().numpy().reshape(-1, 4),
                    gt_labels=target["labels"].detach().cpu().numpy().astype(np.int64),
                    gt_ignore=np.zeros(len(target["labels"]), dtype=bool),
                    boxes=found["boxes"].numpy().astype(np.float64).reshape(-1, 4),
                    scores=found["scores"].numpy().astype(np.float64),
                    labels=found["labels"].numpy().astype(np.int64),
                    gt_masks=[array_rle(m) for m in truth],
                    gt_shapes=[_NOT_DRAWN for _ in truth],
                    masks=[
                        array_rle(paste_window(crop, window, side, (side, side)))
                        for crop, window in zip(
                            found["mask_crops"], found["mask_windows"].tolist(), strict=True
                        )
                    ],
                )
            )

    def compute(self) -> MetricResult | None:
        """``mask_map``, ``mask_map50``, ``box_map``, ``box_map50`` (None when nothing was
        seen; a figure COCO cannot define is left out)."""
        from aistudio.evaluation.instance_figures import InstanceAccumulator

        if not self.images:
            return None
        accumulator = InstanceAccumulator(self.info.classes)
        accumulator.extend(self.images)
        figures = accumulator.compute(0.5, with_rows=False)
        values = {k: figures.metrics.get(k) for k in InstanceSegmentationTask.metric_names}
        return MetricResult(
            values={k: float(v) for k, v in values.items() if v is not None}, primary="mask_map"
        )


TASK = InstanceSegmentationTask()
