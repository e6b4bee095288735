"""Semantic segmentation: a class for every pixel, scored by a dataset-level confusion matrix.

Annotations are DESIGN §3b's ``semantic``: an 8-bit index PNG of the upright image's size in the
content store and its legend (``classes``: value ``i`` is ``classes[i]``, 0 the background, 255
ignored). The model's classes (:meth:`SegmentationTask.fit_state`) are the legends' classes in
order of appearance over the train subset, the background first; every mask's values are mapped
onto them through its legend (a value whose class the model lacks becomes ignore), so two
sources that number their classes differently train together.

Images are stretched to S x S (no letterbox) and masks resized with NEAREST to the same S x S;
the model predicts logits ``[B, K, S, S]``, evaluation and export work at S x S and the export's
metadata says how to map a mask back (NEAREST to the image's size).

Models: :data:`~aistudio.tasks.segmentation_models.catalogue.SEGMENTERS` — a U-Net on a ResNet-18
trunk by default (trains from scratch on a CPU), torchvision's DeepLabV3 and LR-ASPP for people
with cached ImageNet backbones. Loss: cross-entropy with the ignore index plus soft Dice by
default (:mod:`.segmentation_models.losses`), optional class weights from the train subset's
pixel counts. Metrics (:mod:`aistudio.evaluation.segmentation_figures`): ``miou`` (primary),
``pixel_accuracy``, ``dice_macro``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

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
from aistudio.tasks.segmentation_models.catalogue import (
    DEFAULT_SEGMENTATION_MODEL,
    SEGMENTATION_MODELS,
    segmenter_entry,
)
from events.schemas.annotation import IGNORE_INDEX

if TYPE_CHECKING:  # importing this module stays torch-free
    import numpy as np
    import torch
    from torch import nn

    from projections.dataset import ImageEntry

LossName = Literal["cross_entropy", "dice", "cross_entropy+dice"]


class SegmentationOptions(TaskOptions):
    """Settings of the segmentation loss."""

    loss: LossName = "cross_entropy+dice"
    """Cross-entropy (with the ignore index), soft Dice, or their sum."""
    class_weights: bool = False
    """Weigh each class's cross-entropy by its inverse pixel frequency in the train subset."""


def legend_of(annotation: Mapping[str, Any] | None) -> list[str] | None:
    """The classes a semantic annotation's values name (None: not semantic, or no legend)."""
    if annotation is None or annotation.get("kind") != "semantic":
        return None
    classes = annotation.get("classes")
    return None if classes is None else [str(c) for c in classes]


def value_table(legend: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """A 256-entry uint8 table mapping a mask's values (indices of ``legend``) to indices of
    ``classes``: value 0 is the background (0) whatever its name, a class ``classes`` lacks and
    every value past the legend become :data:`IGNORE_INDEX`."""
    import numpy as np

    table = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    index = {name: i for i, name in enumerate(classes)}
    for value, name in enumerate(legend):
        table[value] = 0 if value == 0 else index.get(name, IGNORE_INDEX)
    return table


def read_index_mask(path: Any) -> np.ndarray:
    """The values of an 8-bit index PNG (``L``, or ``P``: its indices, never its colours).

    Raises:
        ValueError: not an 8-bit single-channel image.
    """
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        if image.mode not in ("L", "P"):
            raise ValueError(f"mask {path} is {image.mode}, not an 8-bit index image")
        return np.asarray(image, dtype=np.uint8).copy()


class SegmentationTask(Task):
    """A class for every pixel of an image."""

    name = "segmentation"
    title = "Semantic segmentation"
    label_kind = "semantic"
    target_noun = "a mask"
    models = SEGMENTATION_MODELS
    default_model = DEFAULT_SEGMENTATION_MODEL
    primary_metric = "miou"
    metric_mode = "max"
    metric_names = ("miou", "pixel_accuracy", "dice_macro")
    options_model = SegmentationOptions
    default_config: dict[str, Any] = {"image_size": 128, "epochs": 30, "batch_size": 16}
    """Measured on 300 digit canvases (bench/bench_segmentation.py, docs/performance.md)."""
    default_augmentations: dict[str, Any] = {
        "random_resized_crop": True,
        "horizontal_flip": True,
        "vertical_flip": False,
        "rotation_degrees": 0.0,
        "color_jitter": 0.1,
    }

    # ------------------------------------------------------------------ torch-free
    def accepts(self, entry: ImageEntry) -> bool:
        """Whether the image has a semantic mask with its legend."""
        return legend_of(entry.annotation) is not None

    def annotation_of(self, entry: ImageEntry) -> Any:
        """The mask and its legend, as the log holds them (compared to flag a changed mask)."""
        annotation = entry.annotation
        if annotation is None or annotation.get("kind") != "semantic":
            return None
        return {"mask": dict(annotation["mask"]), "classes": legend_of(annotation)}

    def fit_state(self, entries: Sequence[ImageEntry]) -> TargetInfo:
        """The classes: the legends' classes in order of appearance, the first legend's
        background first.

        Raises:
            TaskInputError: no train image has a mask, or the masks name one class only.
        """
        classes: list[str] = []
        for entry in entries:
            legend = legend_of(entry.annotation)
            if legend is None:
                continue
            if not classes:
                classes.append(legend[0])
            classes.extend(name for name in legend[1:] if name not in classes)
        if not classes:
            raise TaskInputError(
                "semantic segmentation needs masks to learn from: no image of the train subset "
                "has a mask with its classes"
            )
        if len(classes) < 2:
            raise TaskInputError(
                f"the train subset's masks name only {classes[0]!r}: a segmentation needs a "
                "background and at least one class"
            )
        return TargetInfo(classes=classes)

    def class_counts(
        self, entries: Sequence[ImageEntry], info: TargetInfo, targets: Any = None
    ) -> list[int]:
        """Pixels of each class in the train targets (``N x S x S`` indices of
        ``info.classes``, as the model is trained on them); zeros without targets."""
        import numpy as np

        if targets is None or len(targets) == 0:
            return [0] * len(info.classes)
        values = np.asarray(targets, dtype=np.uint8).reshape(-1)
        counts = np.bincount(values, minlength=256)
        return [int(c) for c in counts[: len(info.classes)]]

    # ------------------------------------------------------------------ torch side
    def build_model(
        self, model: str, info: TargetInfo, pretrained_weights: bool, image_size: int = 0
    ) -> tuple[nn.Module, str]:
        """The catalogue's network with one output per class."""
        entry = segmenter_entry(model)
        if entry.family == "unet":
            from aistudio.tasks.segmentation_models.unet import build_unet

            return build_unet(len(info.classes), pretrained_weights, entry.backbone)
        from aistudio.tasks.segmentation_models.torchvision_segmenters import (
            build_torchvision_segmenter,
        )

        return build_torchvision_segmenter(
            model, len(info.classes), pretrained_weights, entry.backbone
        )

    def sample_target(
        self,
        entry: ImageEntry,
        info: TargetInfo,
        image_size: int,
        files: FileResolver | None = None,
    ) -> torch.Tensor:
        """The mask as indices of ``info.classes`` (uint8 S x S, NEAREST).

        Raises:
            ValueError: no mask or legend, no store to read it from, an unreadable mask, or one
                of another size than its image.
        """
        import numpy as np
        import torch
        from PIL import Image

        legend = legend_of(entry.annotation)
        if legend is None or files is None:
            raise ValueError(f"image {entry.image_id} has no mask with its classes")
        try:
            mask = read_index_mask(files(entry.annotation["mask"]["sha256"], "png"))
        except OSError as exc:
            raise ValueError(f"the mask of image {entry.image_id} cannot be read: {exc}") from exc
        if (mask.shape[1], mask.shape[0]) != entry.upright_size:
            raise ValueError(f"the mask of image {entry.image_id} is not the image's size")
        mapped = value_table(legend, info.classes)[mask]
        if image_size and mapped.shape != (image_size, image_size):
            resized = Image.fromarray(mapped).resize(
                (image_size, image_size), Image.Resampling.NEAREST
            )
            mapped = np.asarray(resized, dtype=np.uint8)
        return torch.from_numpy(np.array(mapped, dtype=np.uint8))

    def stack_targets(self, targets: list[Any]) -> torch.Tensor:
        """One uint8 tensor ``N x S x S`` (``(0,)`` for none)."""
        import torch

        return torch.stack(targets) if targets else torch.empty(0, dtype=torch.uint8)

    def train_transform(self, augment: Any, image_size: int) -> Transform | None:
        """Geometry on image and mask together (NEAREST for the mask), colour on the image."""
        from aistudio.tasks.segmentation_models.transforms import (
            build_segmentation_augmentation,
        )

        return build_segmentation_augmentation(augment, image_size)

    def loss_fn(
        self, options: TaskOptions, info: TargetInfo, class_counts: Sequence[int]
    ) -> nn.Module:
        """Cross-entropy (ignore index 255, optional class weights) and/or soft Dice.

        With ``class_weights``, class ``c`` weighs ``total / (n * pixels_c)`` over the ``n``
        classes with train pixels (scikit-learn's "balanced"), 0 for a class without any.
        """
        import torch

        from aistudio.tasks.segmentation_models.losses import SegmentationLoss

        opts = self._options(options)
        weight = None
        if opts.class_weights and opts.loss != "dice":
            counts = list(class_counts)
            present = [c for c in counts if c > 0]
            if len(counts) != len(info.classes) or not present:
                raise TaskInputError("class weights need the train subset's pixel counts")
            total = sum(present)
            weight = torch.tensor(
                [total / (len(present) * c) if c > 0 else 0.0 for c in counts],
                dtype=torch.float32,
            )
        return SegmentationLoss(
            cross_entropy=opts.loss != "dice",
            dice=opts.loss != "cross_entropy",
            class_weights=weight,
        )

    def training_losses(
        self, model: nn.Module, criterion: nn.Module | None, inputs: torch.Tensor, targets: Any
    ) -> dict[str, torch.Tensor]:
        """The loss's parts (``cross_entropy``, ``dice``) of one batch."""
        if criterion is None:
            raise ValueError("semantic segmentation needs a loss module")
        losses: dict[str, torch.Tensor] = criterion(model(inputs), targets)
        return losses

    def validation_batch(
        self,
        model: nn.Module,
        criterion: nn.Module | None,
        inputs: torch.Tensor,
        targets: Any,
        options: TaskOptions,
    ) -> tuple[dict[str, torch.Tensor] | None, torch.Tensor]:
        """The loss's parts and the predicted class of every pixel (uint8 ``B x S x S``)."""
        logits = model(inputs)
        losses = None if criterion is None else criterion(logits, targets)
        return losses, logits.argmax(dim=1).to(dtype=targets.dtype)

    def evaluator(self, info: TargetInfo, options: TaskOptions) -> ConfusionEvaluator:
        """A confusion matrix of the validation pass, accumulated batch by batch."""
        return ConfusionEvaluator(len(info.classes))

    def infer(self, model: nn.Module, inputs: torch.Tensor, options: TaskOptions) -> torch.Tensor:
        """The predicted class of every pixel (uint8 ``B x S x S``), on the CPU."""
        import torch

        return model(inputs).argmax(dim=1).to(dtype=torch.uint8).cpu()

    def join_outputs(self, outputs: list[Any]) -> torch.Tensor:
        """The batches' predictions concatenated."""
        import torch

        return torch.cat(outputs) if outputs else torch.empty(0, dtype=torch.uint8)

    def evaluate_pass(
        self,
        outputs: Any,
        targets: Any,
        info: TargetInfo,
        entries: Sequence[ImageEntry],
        context: EvaluationContext,
    ) -> EvaluationOutput:
        """mmseg's figures of the pass (:func:`~aistudio.evaluation.segmentation_figures.
        segmentation_figures`), a row per image with its predicted mask."""
        from aistudio.evaluation.segmentation_figures import segmentation_figures

        metrics, rows, report = segmentation_figures(
            outputs.numpy(),
            targets.numpy(),
            info.classes,
            [self.annotation_of(e) for e in entries],
        )
        ordered = {name: metrics[name] for name in self.metric_names if name in metrics}
        return EvaluationOutput(metrics=ordered, rows=rows, report=report)

    def export_adapter(
        self, info: TargetInfo, options: TaskOptions, settings: ExportSettings
    ) -> Any:
        """One output ``logits`` ``[B, K, S, S]``, dynamic batch, validated pixel by pixel."""
        from aistudio.export.adapters import SemanticAdapter

        return SemanticAdapter(self, info)

    def export_metadata(self, info: TargetInfo) -> dict[str, Any]:
        """The classes in output order, the background, the ignore value, how to read logits."""
        return {
            "classes": list(info.classes),
            "background": info.classes[0],
            "ignore_index": IGNORE_INDEX,
            "output": (
                "logits [B, K, H, W] at the model's input size: argmax over K gives each "
                "pixel's class index into classes; resize that mask to the image's size with "
                "nearest-neighbour"
            ),
        }

    def _options(self, options: TaskOptions) -> SegmentationOptions:
        if isinstance(options, SegmentationOptions):
            return options
        return SegmentationOptions.model_validate(options.model_dump())


class ConfusionEvaluator:
    """The validation pass's confusion matrix (truth 255 left out), batch by batch."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.matrix: torch.Tensor | None = None

    def update(self, outputs: Any, targets: Any) -> None:
        """Add one batch's predicted and true masks."""
        import torch

        truth = targets.reshape(-1).long()
        predicted = outputs.reshape(-1).long()
        valid = truth < self.k
        counts = torch.bincount(
            truth[valid] * self.k + predicted[valid], minlength=self.k * self.k
        ).reshape(self.k, self.k)
        self.matrix = counts.cpu() if self.matrix is None else self.matrix + counts.cpu()

    def gather(self, module: Any) -> None:
        """Sum the matrices of every process of a DDP run."""
        if self.matrix is None:
            return
        gathered = module.all_gather(self.matrix.to(module.device))
        self.matrix = (gathered.sum(0) if gathered.dim() == 3 else gathered).cpu()

    def compute(self) -> MetricResult | None:
        """``miou``, ``pixel_accuracy``, ``dice_macro`` (None when nothing was seen)."""
        from aistudio.evaluation.segmentation_figures import metrics_of

        if self.matrix is None:
            return None
        values = {k: v for k, v in metrics_of(self.matrix.numpy()).items() if v is not None}
        if "miou" not in values:
            return None
        return MetricResult(values=values, primary="miou")


TASK = SegmentationTask()
