"""How a task's network becomes an export: its graph, named outputs, axes, validation, metadata.

A task returns an :class:`ExportAdapter` from ``Task.export_adapter``; the export job only calls
it. Two families exist (DESIGN §7b):

* :class:`StackedAdapter` — one output ``output`` (N x …) with a dynamic batch axis:
  classification logits, a regression value. Validated by the largest absolute difference of
  raw outputs and the task's agreement of decoded predictions (:func:`validate.compare`).
* :class:`DetectionsAdapter` — final detections of one image, NMS inside the graph: ``boxes``
  ``[N, 4]`` xyxy in input pixels, ``scores`` ``[N]``, ``labels`` ``[N]`` int64 (batch 1, said in
  the metadata). Validated image by image: every detection of PyTorch matched one-to-one at
  IoU ≥ :data:`MATCH_IOU` with the same class and a score within the tolerance (detections
  whose score is within the tolerance of the graph's score floor may be on one side only).
* :class:`InstancesAdapter` — a :class:`DetectionsAdapter` with a fourth output ``masks``
  ``[N, S, S]``: each detection's probabilities over the input's pixels (0 outside its box).
  Validated by the same matching, and each matched pair's masks, binarised at the metadata's
  threshold, overlap at IoU ≥ :data:`MASK_IOU` (:class:`InstancesValidation` reports the
  smallest). ``aistudio.masks`` says how a mask maps back onto the original image.
* :class:`SemanticAdapter` — one output ``logits`` ``[B, K, S, S]`` with a dynamic batch axis
  (semantic segmentation). Validated by the largest absolute difference of logits and the share
  of pixels whose argmax is the same (:mod:`aistudio.export.semantic`: every image at
  :data:`~aistudio.export.semantic.PIXEL_AGREEMENT` or above). ``aistudio.class_mask`` says how
  the class-index mask maps back onto the original image (nearest neighbour).
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from aistudio.export.metadata import BATCH_AXIS, INPUT_NAME, OUTPUT_NAME, output_spec
from aistudio.export.semantic import (
    LOGITS_NAME,
    SemanticLogits,
    SemanticReference,
    compare_logits,
    reference_logits,
)
from aistudio.export.validate import (
    NamedRunner,
    NormalisedImages,
    Runner,
    Validation,
    ValidationError,
    compare,
    model_inputs,
    reference_outputs,
)
from aistudio.tasks.base import TargetInfo, Task

logger = logging.getLogger(__name__)

MATCH_IOU = 0.9
"""Two detections are the same when their boxes overlap at least this much (and classes agree)."""

OnBatch = Callable[[int, int], None]


@dataclass(frozen=True)
class Opened:
    """The written file, ready to run: one output (``single``) or named outputs (``named``)."""

    single: Callable[[], Runner]
    named: Callable[[list[str]], NamedRunner]


class ExportAdapter(ABC):
    """One task's way to export and validate (see the module docstring)."""

    output_names: tuple[str, ...]
    batch: int | None
    """The fixed batch size of the graph (None: dynamic)."""

    @abstractmethod
    def graph(self, model: nn.Module) -> nn.Module:
        """The module that is exported (float32 N x 3 x S x S in, the named outputs out)."""

    @abstractmethod
    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """The dynamic axes by input and output name."""

    @abstractmethod
    def reference(self, graph: nn.Module, images: torch.Tensor) -> Any:
        """PyTorch's outputs of ``graph`` for the ``uint8`` validation images.

        Raises:
            ValidationError: outputs that are not finite numbers.
        """

    @abstractmethod
    def output(self, reference: Any, meaning: str) -> dict[str, Any]:
        """``aistudio.output``: the outputs, their shapes and what they mean."""

    @abstractmethod
    def compare(
        self,
        reference: Any,
        opened: Opened,
        images: torch.Tensor,
        tolerance: float,
        on_batch: OnBatch | None = None,
    ) -> Validation:
        """Run the written file on the images and compare with ``reference``."""

    def extra_metadata(self) -> dict[str, Any]:
        """More ``aistudio.<key>`` entries of this kind of export (JSON values)."""
        return {}


class StackedAdapter(ExportAdapter):
    """One output ``output`` (N x …), dynamic batch (classification, regression)."""

    output_names = (OUTPUT_NAME,)
    batch = None

    def __init__(self, task: Task, info: TargetInfo) -> None:
        self.task = task
        self.info = info

    def graph(self, model: nn.Module) -> nn.Module:
        """The network itself."""
        return model

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """The batch axis of the input and the output."""
        return {INPUT_NAME: {0: BATCH_AXIS}, OUTPUT_NAME: {0: BATCH_AXIS}}

    def reference(self, graph: nn.Module, images: torch.Tensor) -> np.ndarray:
        """The stacked outputs (N, …) as float32."""
        outputs = reference_outputs(graph, images)
        if outputs.ndim < 2 or not np.all(np.isfinite(outputs)):
            raise ValidationError("its network gives outputs that are not finite numbers")
        return outputs

    def output(self, reference: Any, meaning: str) -> dict[str, Any]:
        """``output``: ``batch`` x the shape of one image's outputs."""
        return output_spec(reference.shape[1:], meaning)

    def compare(
        self,
        reference: Any,
        opened: Opened,
        images: torch.Tensor,
        tolerance: float,
        on_batch: OnBatch | None = None,
    ) -> Validation:
        """:func:`validate.compare` (batch 1 and batch N runs)."""
        return compare(
            reference,
            opened.single(),
            NormalisedImages(images),
            self.task,  # type: ignore[arg-type]  # a PerImageTask: decode_outputs, agreement
            self.info,
            tolerance,
            on_batch=on_batch,
        )


class SemanticAdapter(ExportAdapter):
    """One output ``logits`` ``[B, K, S, S]`` (float32), dynamic batch: semantic segmentation.

    The argmax over K of a pixel's logits is its class, an index into ``info.classes``
    (``classes[0]`` the background). Validated by :func:`~aistudio.export.semantic.compare_logits`
    (batch 1 and batch N runs): logits within the tolerance and, on every image, at least
    :data:`~aistudio.export.semantic.PIXEL_AGREEMENT` of the pixels given the same class.

    Args:
        task: the task (semantic segmentation).
        info: its target information; ``classes`` gives K.
    """

    output_names = (LOGITS_NAME,)
    batch = None

    def __init__(self, task: Task, info: TargetInfo) -> None:
        self.task = task
        self.info = info

    def graph(self, model: nn.Module) -> nn.Module:
        """The network's logits (a mapping's ``out`` for torchvision's segmentation models)."""
        return SemanticLogits(model).eval()

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """The batch axis of the input and of ``logits``."""
        return {INPUT_NAME: {0: BATCH_AXIS}, LOGITS_NAME: {0: BATCH_AXIS}}

    def reference(self, graph: nn.Module, images: torch.Tensor) -> SemanticReference:
        """PyTorch's logits of the images (as many as fit in memory, see
        :func:`~aistudio.export.semantic.reference_logits`), checked to be
        ``[N, len(classes), S, S]`` finite numbers."""
        return reference_logits(graph, images, len(self.info.classes))

    def output(self, reference: Any, meaning: str) -> dict[str, Any]:
        """``logits``: its shape, the class axis and what it means."""
        height, width = reference.size
        return {
            "name": LOGITS_NAME,
            "shape": [BATCH_AXIS, reference.classes, height, width],
            "dtype": "float32",
            "class_axis": 1,
            "meaning": meaning,
        }

    def compare(
        self,
        reference: Any,
        opened: Opened,
        images: torch.Tensor,
        tolerance: float,
        on_batch: OnBatch | None = None,
    ) -> Validation:
        """The file's logits against PyTorch's: max abs diff and per-pixel argmax agreement."""
        run = opened.named([LOGITS_NAME])
        return compare_logits(reference, run, images, tolerance, on_batch=on_batch)

    def extra_metadata(self) -> dict[str, Any]:
        """``class_mask``: how the logits become a class-index mask over the original image."""
        return {
            "class_mask": {
                "from_output": (
                    "argmax of logits over the class axis (1): an image_size x image_size mask "
                    "whose values index aistudio.classes (aistudio.background is the "
                    "background; a tie goes to the lowest index)"
                ),
                "pixels": "the image_size x image_size input",
                "to_image": (
                    "the input is the upright (EXIF-oriented) image stretched to a square (no "
                    "letterbox): resize the class-index mask to width x height of the upright "
                    "image by nearest neighbour at pixel centres, never interpolating indices: "
                    "image pixel (x, y) takes mask[(2*y + 1) * image_size // (2 * height), "
                    "(2*x + 1) * image_size // (2 * width)] (integer division). Pillow's "
                    "Image.Resampling.NEAREST and torch's interpolate(mode='nearest-exact') "
                    "agree with it except on rows or columns exactly midway between two mask "
                    "pixels"
                ),
                "interpolation": "nearest",
            }
        }


Detections = tuple[np.ndarray, np.ndarray, np.ndarray]
"""``(boxes [N, 4], scores [N], labels [N])`` of one image."""


@dataclass(frozen=True)
class ImageAgreement:
    """How one image's outputs of the export compare with PyTorch's.

    Attributes:
        same: the same detections (and masks, for instances).
        score_diff: the largest score difference of matched detections (1.0: one unmatched).
        mask_iou_min: the smallest mask IoU of the matched detections (None: no masks, or no
            detection matched).
        masks_differ: a matched pair's masks overlap less than :data:`MASK_IOU`.
    """

    same: bool
    score_diff: float
    mask_iou_min: float | None = None
    masks_differ: bool = False


class DetectionsAdapter(ExportAdapter):
    """Final detections of one image (``boxes``, ``scores``, ``labels``), NMS in the graph.

    Args:
        export_module: builds the graph from the network (the detector's ``export_module``).
        classes: the class names, in label order.
        score_floor: the lowest score the graph keeps.
        chosen_threshold: the confidence threshold a person chose (``ThresholdSet``), written
            to the metadata only.
    """

    output_names: tuple[str, ...] = ("boxes", "scores", "labels")
    batch = 1

    def __init__(
        self,
        export_module: Callable[[nn.Module], nn.Module],
        classes: list[str],
        score_floor: float,
        chosen_threshold: float | None = None,
    ) -> None:
        self.export_module = export_module
        self.classes = classes
        self.score_floor = score_floor
        self.chosen_threshold = chosen_threshold

    def extra_metadata(self) -> dict[str, Any]:
        """``confidence_threshold``: the one a person chose (``ThresholdSet``), applied by the
        consumer: the graph keeps every detection above the score floor."""
        return {
            "confidence_threshold": {
                "value": self.chosen_threshold,
                "source": "ThresholdSet" if self.chosen_threshold is not None else "not set",
                "applied_in_graph": False,
            }
        }

    def graph(self, model: nn.Module) -> nn.Module:
        """The detector with its decoding and NMS, for one image."""
        return self.export_module(model).eval()

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """The number of detections of each output."""
        return {name: {0: "detections"} for name in self.output_names}

    def reference(self, graph: nn.Module, images: torch.Tensor) -> list[Any]:
        """The detections of every image, one at a time."""
        out: list[Any] = []
        with torch.inference_mode():
            for index in range(len(images)):
                x = torch.from_numpy(model_inputs(images[index : index + 1]))
                outputs = graph(x)
                if len(outputs) != len(self.output_names):
                    raise ValidationError(
                        f"its network gives {len(outputs)} outputs, expected "
                        f"{len(self.output_names)} ({', '.join(self.output_names)})"
                    )
                out.append(self._reference_of(tuple(outputs), (x.shape[-2], x.shape[-1])))
        return out

    def _reference_of(self, outputs: tuple[torch.Tensor, ...], size: tuple[int, int]) -> Any:
        """What the reference keeps of one image's outputs: its :data:`Detections`."""
        boxes, scores, labels = outputs[:3]
        found = (boxes.float().numpy(), scores.float().numpy(), labels.numpy())
        if not (np.all(np.isfinite(found[0])) and np.all(np.isfinite(found[1]))):
            raise ValidationError("its network gives boxes that are not finite numbers")
        return found

    def output(self, reference: Any, meaning: str) -> dict[str, Any]:
        """The outputs and how to read them."""
        return {
            "names": list(self.output_names),
            "batch": 1,
            "boxes": {
                "shape": ["detections", 4],
                "dtype": "float32",
                "meaning": "x1, y1, x2, y2 in pixels of the model's input (0..image_size)",
            },
            "scores": {"shape": ["detections"], "dtype": "float32", "meaning": "confidence 0..1"},
            "labels": {
                "shape": ["detections"],
                "dtype": "int64",
                "meaning": "index into aistudio.classes",
            },
            "score_floor": self.score_floor,
            "meaning": meaning,
        }

    def compare(
        self,
        reference: Any,
        opened: Opened,
        images: torch.Tensor,
        tolerance: float,
        on_batch: OnBatch | None = None,
    ) -> Validation:
        """Each image through the file alone; detections matched to PyTorch's."""
        if len(images) == 0:
            raise ValidationError("there are no images to validate the export on")
        run = opened.named(list(self.output_names))
        count = len(self.output_names)
        agreements: list[ImageAgreement] = []
        for index in range(len(images)):
            outputs = run(model_inputs(images[index : index + 1]))
            if len(outputs) != count:
                raise ValidationError(f"the export gave {len(outputs)} outputs, expected {count}")
            candidate = tuple(np.asarray(output) for output in outputs)
            agreements.append(self._agree(reference[index], candidate, tolerance))
            if on_batch is not None:
                on_batch(index + 1, len(images))
        result = self._validation(agreements, tolerance)
        logger.info("%s", result.describe())
        return result

    def _agree(
        self, reference: Any, candidate: tuple[np.ndarray, ...], tolerance: float
    ) -> ImageAgreement:
        """One image: the detections matched (:func:`match_detections`)."""
        detections = (candidate[0], candidate[1], candidate[2])
        same, diff = match_detections(reference, detections, tolerance, self.score_floor)
        return ImageAgreement(same, diff)

    def _validation(self, agreements: list[ImageAgreement], tolerance: float) -> Validation:
        """The figures of every image (batch 1 only: the graph's batch is fixed)."""
        n = len(agreements)
        worst = max(agreement.score_diff for agreement in agreements)
        agreeing = sum(agreement.same for agreement in agreements)
        return Validation(n, float(worst), agreeing / n, float(tolerance), (1,))


MASK_IOU = 0.9
"""Two matched detections have the same mask when their binarised masks overlap this much."""
MASK_THRESHOLD = 0.5
"""A pixel belongs to an object when its mask probability is at least this."""


@dataclass(frozen=True)
class InstancesValidation(Validation):
    """:class:`Validation` of an instance-segmentation export, with the masks' figures.

    Attributes:
        mask_iou_min: the smallest mask IoU of the detections matched on any image (None: no
            detection was matched, so no mask was compared).
        images_with_other_masks: on how many images a matched pair's masks overlap less than
            :data:`MASK_IOU` (each of them also lowers ``agreement``).
    """

    mask_iou_min: float | None = None
    images_with_other_masks: int = 0

    def event_data(self) -> dict[str, object]:
        """:meth:`Validation.event_data` and ``mask_iou_min`` (when masks were compared)."""
        data = super().event_data()
        if self.mask_iou_min is not None:
            data["mask_iou_min"] = float(self.mask_iou_min)
        return data

    def describe(self) -> str:
        """:meth:`Validation.describe` and the masks', e.g. ``…, mask_iou_min 0.412 < 0.9
        (the masks differ on 3 of 4 images)``."""
        line = super().describe()
        if self.mask_iou_min is None:
            return f"{line}, no masks to compare (no detection matched)"
        within = ">=" if self.mask_iou_min >= MASK_IOU else "<"
        line = f"{line}, mask_iou_min {self.mask_iou_min:.3g} {within} {MASK_IOU:g}"
        if self.images_with_other_masks:
            line += f" (the masks differ on {self.images_with_other_masks} of {self.images} images)"
        return line


@dataclass(frozen=True)
class InstancesReference:
    """PyTorch's outputs of one image: its detections and their binarised masks.

    Attributes:
        detections: boxes, scores and labels.
        packed_masks: ``probability >= threshold`` of each mask, bits packed along the rows
            (``np.packbits(axis=-1)``: K x H x ceil(W / 8), an eighth of the booleans' memory).
        size: ``(H, W)``, the input's size.
    """

    detections: Detections
    packed_masks: np.ndarray
    size: tuple[int, int]

    def mask(self, index: int) -> np.ndarray:
        """Detection ``index``'s binarised mask (H x W booleans)."""
        return np.unpackbits(self.packed_masks[index], axis=-1, count=self.size[1]).astype(bool)


class InstancesAdapter(DetectionsAdapter):
    """Final detections of one image and their masks (``boxes``, ``scores``, ``labels``,
    ``masks``), NMS in the graph; ``masks`` is K x S x S probabilities of the input's pixels.

    Validated like :class:`DetectionsAdapter` (the same :func:`matched_detections`), and each
    matched pair's masks, binarised at ``mask_threshold``, must overlap at IoU >=
    :data:`MASK_IOU`; pixels the export puts within the tolerance of the threshold count on
    neither side (a rounding across the threshold).

    Args:
        export_module: builds the graph from the network (the model's ``export_module``).
        classes: the class names, in label order.
        score_floor: the lowest score the graph keeps.
        chosen_threshold: the confidence threshold a person chose (``ThresholdSet``), written
            to the metadata only.
        mask_threshold: the mask probability from which a pixel belongs to the object.
    """

    output_names = ("boxes", "scores", "labels", "masks")

    def __init__(
        self,
        export_module: Callable[[nn.Module], nn.Module],
        classes: list[str],
        score_floor: float,
        chosen_threshold: float | None = None,
        mask_threshold: float = MASK_THRESHOLD,
    ) -> None:
        super().__init__(export_module, classes, score_floor, chosen_threshold)
        self.mask_threshold = float(mask_threshold)

    def extra_metadata(self) -> dict[str, Any]:
        """``confidence_threshold`` (as detection) and ``masks``: how masks map back onto the
        image."""
        return {
            **super().extra_metadata(),
            "masks": {
                "pixels": "the image_size x image_size input, like the boxes",
                "threshold": self.mask_threshold,
                "to_image": (
                    "the input is the image stretched to a square (no letterbox): resize each "
                    "mask to width x height of the upright (EXIF-oriented) image, bilinear with "
                    "half-pixel centres and no antialiasing (torch interpolate(mode='bilinear', "
                    "align_corners=False), OpenCV INTER_LINEAR), then keep the pixels whose "
                    "probability is >= threshold"
                ),
                "interpolation": "bilinear",
                "align_corners": False,
                "antialias": False,
            },
        }

    def _reference_of(
        self, outputs: tuple[torch.Tensor, ...], size: tuple[int, int]
    ) -> InstancesReference:
        """The detections and their masks binarised (bits packed)."""
        detections = super()._reference_of(outputs, size)
        masks = outputs[3].float().numpy()
        _check_masks(masks, len(detections[0]), size, "its network")
        if masks.size and (masks.min() < -1e-4 or masks.max() > 1 + 1e-4):
            raise ValidationError(
                f"its network gives masks from {masks.min():.3g} to {masks.max():.3g}, not "
                "probabilities 0..1"
            )
        packed = np.packbits(masks >= self.mask_threshold, axis=-1)
        return InstancesReference(detections, packed, (int(size[0]), int(size[1])))

    def output(self, reference: Any, meaning: str) -> dict[str, Any]:
        """Detection's outputs and ``masks`` (K x S x S probabilities, the threshold)."""
        height, width = reference[0].size if reference else ("image_size", "image_size")
        return {
            **super().output(reference, meaning),
            "masks": {
                "shape": ["detections", height, width],
                "dtype": "float32",
                "meaning": (
                    "per detection, the probability (0..1) that each pixel of the model's input "
                    "belongs to the object, 0 outside its box; the object is the pixels >= "
                    "threshold (aistudio.masks says how to map them onto the image)"
                ),
                "threshold": self.mask_threshold,
            },
        }

    def _agree(
        self, reference: Any, candidate: tuple[np.ndarray, ...], tolerance: float
    ) -> ImageAgreement:
        """One image: the detections matched, then each matched pair's mask IoU."""
        detections = (candidate[0], candidate[1], candidate[2])
        matching = matched_detections(reference.detections, detections, tolerance, self.score_floor)
        masks = np.asarray(candidate[3])
        _check_masks(masks, len(np.asarray(candidate[1])), reference.size, "the export")
        ious = [
            mask_iou(reference.mask(i), masks[j], self.mask_threshold, tolerance)
            for i, j in matching.pairs
        ]
        differ = any(iou < MASK_IOU for iou in ious)
        return ImageAgreement(
            matching.same and not differ,
            matching.worst,
            min(ious) if ious else None,
            differ,
        )

    def _validation(self, agreements: list[ImageAgreement], tolerance: float) -> Validation:
        """Detection's figures, the smallest mask IoU and the images whose masks differ."""
        base = super()._validation(agreements, tolerance)
        ious = [a.mask_iou_min for a in agreements if a.mask_iou_min is not None]
        return InstancesValidation(
            base.images,
            base.max_abs_diff,
            base.agreement,
            base.tolerance,
            base.batch_sizes,
            mask_iou_min=float(min(ious)) if ious else None,
            images_with_other_masks=sum(a.masks_differ for a in agreements),
        )


def _check_masks(masks: np.ndarray, count: int, size: tuple[int, int], what: str) -> None:
    expected = (count, int(size[0]), int(size[1]))
    if masks.shape != expected:
        raise ValidationError(
            f"{what} gives masks of shape {tuple(masks.shape)}, expected {expected} (one "
            "probability per input pixel for each detection)"
        )
    if not np.all(np.isfinite(masks)):
        raise ValidationError(f"{what} gives masks that are not finite numbers")


def mask_iou(
    reference: np.ndarray, candidate: np.ndarray, threshold: float, tolerance: float
) -> float:
    """IoU of a binarised reference mask with a candidate's probabilities binarised at
    ``threshold``; candidate pixels within ``tolerance`` of the threshold count on neither side.
    Two empty masks are the same (1.0)."""
    probabilities = np.asarray(candidate, dtype=np.float64)
    sure = np.abs(probabilities - threshold) > tolerance
    found = probabilities >= threshold
    ref = np.asarray(reference, dtype=bool)
    union = int(np.count_nonzero((ref | found) & sure))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(ref & found & sure)) / union


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


@dataclass(frozen=True)
class Matching:
    """Two detection sets of one image compared (:func:`matched_detections`).

    Attributes:
        same: every detection matched, or unmatched only at the score floor.
        worst: the largest score difference of the matched pairs (1.0: one unmatched).
        pairs: the matched ``(reference index, candidate index)`` pairs.
    """

    same: bool
    worst: float
    pairs: tuple[tuple[int, int], ...]


def matched_detections(
    reference: Detections, candidate: Detections, tolerance: float, score_floor: float
) -> Matching:
    """Two detection sets of one image matched one-to-one (see :func:`match_detections`)."""
    ref_boxes, ref_scores, ref_labels = (np.asarray(x) for x in reference)
    cand_boxes, cand_scores, cand_labels = (np.asarray(x) for x in candidate)
    ious = _iou(
        ref_boxes.reshape(-1, 4).astype(np.float64), cand_boxes.reshape(-1, 4).astype(np.float64)
    )
    taken = np.zeros(len(cand_scores), dtype=bool)
    pairs: list[tuple[int, int]] = []
    worst = 0.0
    same = True
    for i in np.argsort(-ref_scores, kind="stable"):
        options = [
            j for j in range(len(cand_scores)) if not taken[j] and cand_labels[j] == ref_labels[i]
        ]
        best = max(options, key=lambda j: ious[i, j], default=None)
        if best is not None and ious[i, best] >= MATCH_IOU:
            taken[best] = True
            pairs.append((int(i), int(best)))
            worst = max(worst, abs(float(ref_scores[i]) - float(cand_scores[best])))
        elif float(ref_scores[i]) - score_floor > tolerance:
            same = False
            worst = max(worst, 1.0)
    for j in np.flatnonzero(~taken):
        if float(cand_scores[j]) - score_floor > tolerance:
            same = False
            worst = max(worst, 1.0)
    if not math.isfinite(worst):
        return Matching(False, 1.0, tuple(pairs))
    return Matching(same, worst, tuple(pairs))


def match_detections(
    reference: Detections, candidate: Detections, tolerance: float, score_floor: float
) -> tuple[bool, float]:
    """Whether two detection sets of one image are the same, and the largest score difference.

    Each reference detection, best score first, takes the unmatched candidate of the same class
    with the highest IoU; a pair counts when its IoU is at least :data:`MATCH_IOU`. Detections
    left unmatched on either side are allowed only when their score is within ``tolerance`` of
    ``score_floor`` (a score rounding across the floor). The difference reported is the largest
    of the matched pairs' score differences, and 1.0 when a detection is unmatched otherwise.
    """
    matching = matched_detections(reference, candidate, tolerance, score_floor)
    return matching.same, matching.worst
