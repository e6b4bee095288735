"""Object detection: boxes with a class per object, found by a detector, scored as COCO does.

Annotations are DESIGN §3b's ``boxes`` (``{"kind": "boxes", "objects": [{"class", "box"}, …]}``,
corners in the upright image's pixels); an image with no object is a negative and is trained
on. Images are stretched to S x S (no letterbox), so a box is scaled by S / width and
S / height on the way in and back on the way out (:mod:`.detection_models.transforms`).

Models: :data:`~aistudio.tasks.detection_models.DETECTION_MODELS` — a CenterNet on a ResNet-18
trunk by default (fast and accurate from scratch on a CPU), torchvision's FCOS, RetinaNet and
Faster R-CNN for people with cached ImageNet backbones or a GPU. Each model computes its own
losses (a dict). Metrics: COCO's, by pycocotools (:mod:`aistudio.evaluation.detection_figures`):
mAP@[.50:.95] (``map``, the primary one), ``map50``, ``map75``, ``mar100``. VOC's ``difficult``
and COCO's ``crowd`` objects are trained on but neither found nor missed in evaluation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from aistudio.tasks.base import (
    EvaluationContext,
    EvaluationOutput,
    ExportSettings,
    FileResolver,
    MetricResult,
    TargetInfo,
    Task,
    TaskInputError,
    TaskOptions,
    Transform,
)
from aistudio.tasks.detection_models.catalogue import DEFAULT_DETECTION_MODEL, DETECTION_MODELS

if TYPE_CHECKING:  # importing this module stays torch-free
    import torch
    from torch import nn

    from aistudio.evaluation.detection_figures import ImageDetections
    from projections.dataset import DatasetView, ImageEntry

NO_OBJECT = "(no object)"
"""The stratum of a negative image (splits keep negatives in proportion too)."""


class DetectionOptions(TaskOptions):
    """Settings of a detector's predictions."""

    score_threshold: float = Field(default=0.05, ge=0.0, lt=1.0)
    """Lowest score a detection is kept at (evaluation counts at its own threshold above it)."""
    nms_iou: float = Field(default=0.5, gt=0.0, le=1.0)
    """Two detections of a class overlapping more than this are one (non-maximum suppression)."""
    max_detections: int = Field(default=100, ge=1, le=1000)
    """Most detections per image."""


class DetectionTask(Task):
    """Boxes and classes of the objects of an image."""

    name = "detection"
    title = "Object detection"
    label_kind = "boxes"
    target_noun = "boxes"
    models = DETECTION_MODELS
    default_model = DEFAULT_DETECTION_MODEL
    primary_metric = "map"
    metric_mode = "max"
    metric_names = ("map", "map50", "map75", "mar100")
    options_model = DetectionOptions
    uses_threshold = True
    figures_module = "aistudio.evaluation.detection_figures"
    """The module of the evaluation's figures: its ``f1_optimal_threshold`` and the function
    named :attr:`figures_function`, both on :meth:`_image`'s images."""
    figures_function = "detection_figures"
    export_adapter_class = "DetectionsAdapter"
    """The adapter of :mod:`aistudio.export.adapters` that exports and validates the model."""
    default_config: dict[str, Any] = {"image_size": 128, "epochs": 30, "batch_size": 16}
    """Measured on 300 digit canvases (bench/bench_detection.py, docs/performance.md)."""
    default_augmentations: dict[str, Any] = {
        "random_resized_crop": True,
        "horizontal_flip": True,
        "vertical_flip": False,
        "rotation_degrees": 0.0,
        "color_jitter": 0.1,
    }

    # ------------------------------------------------------------------ torch-free
    def _objects(self, entry: ImageEntry) -> list[dict[str, Any]]:
        """The objects of the image's annotation of this task's kind (none otherwise)."""
        annotation = entry.annotation
        if annotation is None or annotation.get("kind") != self.label_kind:
            return []
        return list(annotation.get("objects", ()))

    def accepts(self, entry: ImageEntry) -> bool:
        """Whether the image has an annotation of this task's kind (zero objects: a negative,
        used too)."""
        annotation = entry.annotation
        return annotation is not None and annotation.get("kind") == self.label_kind

    def annotation_of(self, entry: ImageEntry) -> Any:
        """The image's objects (class and box of each, as the log holds them)."""
        return [(o.get("class"), tuple(o.get("box", ()))) for o in self._objects(entry)]

    def fit_state(self, entries: Sequence[ImageEntry]) -> TargetInfo:
        """The classes: the sorted classes of the train subset's objects (one at least).

        Raises:
            TaskInputError: no train image has an object.
        """
        classes = sorted({str(o["class"]) for e in entries for o in self._objects(e)})
        if not classes:
            raise TaskInputError(
                f"{self.title.lower()} needs objects to learn from: no image of the train "
                f"subset has {self.target_noun}"
            )
        return TargetInfo(classes=classes)

    def class_counts(
        self, entries: Sequence[ImageEntry], info: TargetInfo, targets: Any = None
    ) -> list[int]:
        """Objects of each class in ``entries``."""
        counts = Counter(str(o["class"]) for e in entries for o in self._objects(e))
        return [counts.get(c, 0) for c in info.classes]

    def strata(self, view: DatasetView, image_ids: list[str]) -> list[str] | None:
        """Each image's rarest class (fewest objects in the dataset), so that rare classes
        reach every subset; negatives are a group of their own."""
        totals = Counter(str(o["class"]) for e in view.images.values() for o in self._objects(e))
        out: list[str] = []
        for image_id in image_ids:
            present = {str(o["class"]) for o in self._objects(view.images[image_id])}
            out.append(min(present, key=lambda c: (totals[c], c)) if present else NO_OBJECT)
        return out

    # ------------------------------------------------------------------ torch side
    def build_model(
        self, model: str, info: TargetInfo, pretrained_weights: bool, image_size: int = 0
    ) -> tuple[nn.Module, str]:
        """Detector ``model`` for the classes at ``image_size`` px, and its weights sentence.

        Raises:
            TaskInputError: an image size under the model's minimum, or unusable weights.
        """
        from aistudio.tasks.detection_models import build_detector

        self.model_spec(model)
        try:
            return build_detector(model, len(info.classes), image_size, pretrained_weights)
        except ValueError as exc:
            raise TaskInputError(str(exc)) from None

    def sample_target(
        self,
        entry: ImageEntry,
        info: TargetInfo,
        image_size: int,
        files: FileResolver | None = None,
    ) -> dict[str, torch.Tensor]:
        """``{"boxes": M x 4 in input pixels, "labels": M}`` (crowd boxes left out).

        Raises:
            KeyError: an object of a class the model has no output for.
        """
        import torch

        from aistudio.tasks.detection_models import resize_target

        index = {c: i for i, c in enumerate(info.classes)}
        boxes: list[list[float]] = []
        labels: list[int] = []
        for obj in self._objects(entry):
            if obj.get("crowd"):
                continue
            name = str(obj["class"])
            if name not in index:
                raise KeyError(f"class {name!r} is not one of the model's classes")
            boxes.append([float(v) for v in obj["box"]])
            labels.append(index[name])
        tensor = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        scaled = resize_target(tensor, entry.upright_size, image_size) if image_size else tensor
        return {"boxes": scaled, "labels": torch.tensor(labels, dtype=torch.int64)}

    def train_transform(self, augment: Any, image_size: int) -> Transform | None:
        """Flips, scale/translate jitter, rotation and colour that move the boxes too."""
        from aistudio.tasks.detection_models import build_detection_augmentation

        return build_detection_augmentation(augment, image_size)

    def loss_fn(
        self, options: TaskOptions, info: TargetInfo, class_counts: Sequence[int]
    ) -> nn.Module | None:
        """None: every detector computes its own losses."""
        return None

    def training_losses(
        self, model: nn.Module, criterion: nn.Module | None, inputs: torch.Tensor, targets: Any
    ) -> dict[str, torch.Tensor]:
        """The detector's losses (heatmap, size, offset; or classification, box regression…)."""
        return model.losses(inputs, targets)  # type: ignore[operator]

    def validation_batch(
        self,
        model: nn.Module,
        criterion: nn.Module | None,
        inputs: torch.Tensor,
        targets: Any,
        options: TaskOptions,
    ) -> tuple[dict[str, torch.Tensor] | None, Any]:
        """The detector's losses (they work in eval mode too) and its detections on the CPU."""
        return model.losses(inputs, targets), self.infer(model, inputs, options)  # type: ignore[operator]

    def evaluator(self, info: TargetInfo, options: TaskOptions) -> DetectionEvaluator:
        """COCO figures of the validation pass, accumulated image by image."""
        return DetectionEvaluator(info)

    def infer(self, model: nn.Module, inputs: torch.Tensor, options: TaskOptions) -> list[Any]:
        """Per image ``{"boxes", "scores", "labels"}`` on the CPU (input pixels)."""
        opts = self._options(options)
        found = model.predict(  # type: ignore[operator]
            inputs, opts.score_threshold, opts.nms_iou, opts.max_detections
        )
        return [
            {k: v.detach().float().cpu() if k != "labels" else v.cpu() for k, v in d.items()}
            for d in found
        ]

    def join_outputs(self, outputs: list[Any]) -> list[Any]:
        """The per-image detections of every batch, in order."""
        return [image for batch in outputs for image in batch]

    def evaluate_pass(
        self,
        outputs: Any,
        targets: Any,
        info: TargetInfo,
        entries: Sequence[ImageEntry],
        context: EvaluationContext,
    ) -> EvaluationOutput:
        """COCO figures, per-image rows and plots, in the images' own pixels.

        The confidence threshold of the counts (precision, recall, F1, the per-image TP/FP/FN
        and the confusion matrix) is the one a person set (``ThresholdSet``); otherwise the
        F1-optimal one of the split's validation images (``context.calibration`` when they are
        not evaluated, else those of the pass, when it has others too); otherwise, with no
        validation image, the F1-optimal one of the pass itself (the report says which).

        Raises:
            ValueError: outputs and entries that do not match.
        """
        if len(outputs) != len(entries):
            raise ValueError(f"{len(outputs)} outputs for {len(entries)} images")
        images = [
            self._image(entry, found, info, context)
            for entry, found in zip(entries, outputs, strict=True)
        ]
        threshold, source = context.threshold, "given"
        if threshold is None and context.calibration is not None:
            outs, calibration_entries = context.calibration
            val = [
                self._image(entry, found, info, context)
                for entry, found in zip(calibration_entries, outs, strict=True)
            ]
            threshold, source = self._f1_optimal(val, info.classes), "f1_optimal_val"
        if threshold is None:
            val = [
                image
                for image, subset in zip(images, context.subsets, strict=False)
                if subset == "val"
            ]
            if val and len(val) < len(images):
                threshold, source = self._f1_optimal(val, info.classes), "f1_optimal_val"
        figures = self._figures(images, info.classes, threshold)
        report = dict(figures.report)
        if threshold is not None:
            report["threshold"] = {"value": threshold, "source": source}
        metrics = {k: float(v) for k, v in figures.metrics.items() if v is not None}
        return EvaluationOutput(
            metrics=metrics, rows=figures.rows, report={"task": self.name, **report}
        )

    def _f1_optimal(self, images: Sequence[Any], classes: Sequence[str]) -> float:
        """The F1-optimal confidence threshold of ``images`` (:meth:`_image`'s)."""
        return float(self._figures_module().f1_optimal_threshold(images, classes))

    def _figures(
        self, images: Sequence[Any], classes: Sequence[str], threshold: float | None
    ) -> Any:
        """Metrics, rows and report of ``images`` (:meth:`_image`'s) at ``threshold``."""
        return getattr(self._figures_module(), self.figures_function)(images, classes, threshold)

    def _figures_module(self) -> Any:
        import importlib

        return importlib.import_module(self.figures_module)

    def _image(
        self,
        entry: ImageEntry,
        found: dict[str, Any],
        info: TargetInfo,
        context: EvaluationContext,
    ) -> ImageDetections:
        """The image's truth and detections in its own (upright) pixels."""
        import numpy as np

        from aistudio.evaluation.detection_figures import ImageDetections
        from aistudio.tasks.detection_models import boxes_to_image

        index = {c: i for i, c in enumerate(info.classes)}
        width, height = entry.upright_size
        objects = [o for o in self._objects(entry) if str(o["class"]) in index]
        boxes = np.asarray(found["boxes"].numpy(), dtype=np.float64).reshape(-1, 4)
        if context.image_size:
            boxes = boxes_to_image(boxes, context.image_size, (width, height))
        return ImageDetections(
            image_id=entry.image_id,
            width=width,
            height=height,
            gt_boxes=np.asarray([o["box"] for o in objects], dtype=np.float64).reshape(-1, 4),
            gt_labels=np.asarray([index[str(o["class"])] for o in objects], dtype=np.int64),
            gt_ignore=np.asarray(
                [bool(o.get("difficult") or o.get("crowd")) for o in objects], dtype=bool
            ),
            boxes=boxes,
            scores=np.asarray(found["scores"].numpy(), dtype=np.float64),
            labels=np.asarray(found["labels"].numpy(), dtype=np.int64),
        )

    def export_adapter(
        self, info: TargetInfo, options: TaskOptions, settings: ExportSettings
    ) -> Any:
        """Final detections of one image (``boxes``, ``scores``, ``labels``), NMS in the graph,
        kept above the training's score threshold; the chosen threshold goes to the metadata."""
        from aistudio.export import adapters

        opts = self._options(options)
        return getattr(adapters, self.export_adapter_class)(
            _ExportModule(opts.score_threshold, opts.nms_iou, opts.max_detections),
            list(info.classes),
            opts.score_threshold,
            settings.chosen_threshold,
        )

    def export_metadata(self, info: TargetInfo) -> dict[str, Any]:
        """The class names (label order) and how to map boxes back onto the image."""
        return {
            "classes": list(info.classes),
            "output": (
                "final detections of one image: boxes x1, y1, x2, y2 in pixels of the model's "
                "input, scores, labels (index into classes); NMS is done in the graph"
            ),
            "coordinates": {
                "boxes": "pixels of the image_size x image_size input",
                "to_image": (
                    "the input is the image stretched to a square (no letterbox): "
                    "x * width / image_size, y * height / image_size, for the upright "
                    "(EXIF-oriented) image of width x height"
                ),
            },
        }

    def _options(self, options: TaskOptions) -> DetectionOptions:
        if isinstance(options, DetectionOptions):
            return options
        return DetectionOptions.model_validate(options.model_dump())


class _ExportModule:
    """Builds a detector's export graph (picklable, unlike a lambda)."""

    def __init__(self, score_threshold: float, nms_iou: float, max_detections: int) -> None:
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.max_detections = max_detections

    def __call__(self, model: nn.Module) -> nn.Module:
        return model.export_module(  # type: ignore[operator]
            self.score_threshold, self.nms_iou, self.max_detections
        )


class DetectionEvaluator:
    """The validation pass's COCO figures (input pixels), accumulated batch by batch."""

    def __init__(self, info: TargetInfo) -> None:
        self.info = info
        self.images: list[ImageDetections] = []

    def update(self, outputs: Any, targets: Any) -> None:
        """Keep one batch: its detections and its targets (both in input pixels)."""
        import numpy as np

        from aistudio.evaluation.detection_figures import ImageDetections

        for found, target in zip(outputs, targets, strict=True):
            self.images.append(
                ImageDetections(
                    image_id=str(len(self.images)),
                    width=1,
                    height=1,
                    gt_boxes=target["boxes"].detach().cpu().double().numpy().reshape(-1, 4),
                    gt_labels=target["labels"].detach().cpu().numpy().astype(np.int64),
                    gt_ignore=np.zeros(len(target["labels"]), dtype=bool),
                    boxes=found["boxes"].numpy().astype(np.float64).reshape(-1, 4),
                    scores=found["scores"].numpy().astype(np.float64),
                    labels=found["labels"].numpy().astype(np.int64),
                )
            )

    def gather(self, module: Any) -> None:
        """Collect the images of every process (``torch.distributed.all_gather_object``)."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return
        parts: list[list[ImageDetections] | None] = [None] * dist.get_world_size()
        dist.all_gather_object(parts, self.images)
        self.images = [image for part in parts for image in (part or [])]

    def compute(self) -> MetricResult | None:
        """``map``, ``map50``, ``map75``, ``mar100`` (None when nothing was seen; a figure
        COCO cannot define, with no object at all, is left out)."""
        from aistudio.evaluation.detection_figures import detection_figures

        if not self.images:
            return None
        figures = detection_figures(self.images, self.info.classes, 0.5)
        values = {k: figures.metrics.get(k) for k in ("map", "map50", "map75", "mar100")}
        return MetricResult(
            values={k: float(v) for k, v in values.items() if v is not None}, primary="map"
        )


TASK = DetectionTask()
