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


Detections = tuple[np.ndarray, np.ndarray, np.ndarray]
"""``(boxes [N, 4], scores [N], labels [N])`` of one image."""


class DetectionsAdapter(ExportAdapter):
    """Final detections of one image (``boxes``, ``scores``, ``labels``), NMS in the graph.

    Args:
        export_module: builds the graph from the network (the detector's ``export_module``).
        classes: the class names, in label order.
        score_floor: the lowest score the graph keeps.
    """

    output_names = ("boxes", "scores", "labels")
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

    def reference(self, graph: nn.Module, images: torch.Tensor) -> list[Detections]:
        """The detections of every image, one at a time."""
        out: list[Detections] = []
        with torch.inference_mode():
            for index in range(len(images)):
                boxes, scores, labels = graph(
                    torch.from_numpy(model_inputs(images[index : index + 1]))
                )
                found = (boxes.float().numpy(), scores.float().numpy(), labels.numpy())
                if not (np.all(np.isfinite(found[0])) and np.all(np.isfinite(found[1]))):
                    raise ValidationError("its network gives boxes that are not finite numbers")
                out.append(found)
        return out

    def output(self, reference: Any, meaning: str) -> dict[str, Any]:
        """The three outputs and how to read them."""
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
        agreeing = 0
        worst = 0.0
        for index in range(len(images)):
            outputs = run(model_inputs(images[index : index + 1]))
            if len(outputs) != 3:
                raise ValidationError(f"the export gave {len(outputs)} outputs, expected 3")
            candidate = (np.asarray(outputs[0]), np.asarray(outputs[1]), np.asarray(outputs[2]))
            same, diff = match_detections(reference[index], candidate, tolerance, self.score_floor)
            agreeing += int(same)
            worst = max(worst, diff)
            if on_batch is not None:
                on_batch(index + 1, len(images))
        n = len(images)
        result = Validation(n, float(worst), agreeing / n, float(tolerance), (1,))
        logger.info("%s", result.describe())
        return result


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
    ref_boxes, ref_scores, ref_labels = (np.asarray(x) for x in reference)
    cand_boxes, cand_scores, cand_labels = (np.asarray(x) for x in candidate)
    ious = _iou(
        ref_boxes.reshape(-1, 4).astype(np.float64), cand_boxes.reshape(-1, 4).astype(np.float64)
    )
    taken = np.zeros(len(cand_scores), dtype=bool)
    worst = 0.0
    same = True
    for i in np.argsort(-ref_scores, kind="stable"):
        options = [
            j for j in range(len(cand_scores)) if not taken[j] and cand_labels[j] == ref_labels[i]
        ]
        best = max(options, key=lambda j: ious[i, j], default=None)
        if best is not None and ious[i, best] >= MATCH_IOU:
            taken[best] = True
            worst = max(worst, abs(float(ref_scores[i]) - float(cand_scores[best])))
        elif float(ref_scores[i]) - score_floor > tolerance:
            same = False
            worst = max(worst, 1.0)
    for j in np.flatnonzero(~taken):
        if float(cand_scores[j]) - score_floor > tolerance:
            same = False
            worst = max(worst, 1.0)
    if not math.isfinite(worst):
        return False, 1.0
    return same, worst
