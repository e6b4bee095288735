"""Semantic segmentation exports: PyTorch's logits, the per-pixel comparison and its figures.

A semantic export has one output, ``logits`` ``[B, K, S, S]`` float32 (dynamic batch): the
argmax over K gives each input pixel's class, an index into ``aistudio.classes``. The export
and PyTorch are compared like a stacked output (:mod:`aistudio.export.validate`: the first image
alone, then batches of up to :data:`~aistudio.export.validate.CHUNK`), chunk by chunk so that a
second copy of every image's logits is never held:

* ``max_abs_diff``: the largest absolute difference of a logit (any run);
* ``pixel_agreement``: the share of all the images' pixels whose argmax is the same (batch-N
  runs);
* ``agreement``: the share of images whose own pixel agreement is at least
  :data:`PIXEL_AGREEMENT`;
* ``passed``: ``max_abs_diff <= tolerance`` and every image at :data:`PIXEL_AGREEMENT` or above.

Why 0.999 and not 1: with every logit within the tolerance, a pixel can change class only where
PyTorch's two best logits are within twice the tolerance of each other, a tie that rounding
decides either way; a trained network has few such pixels (on class boundaries), far fewer than
one in a thousand. A graph that really differs (another resize, channel order, a missing layer)
changes whole regions: a few percent of the pixels at least.

The reference keeps the logits of at most :data:`MAX_REFERENCE_BYTES` (fewer images at large
sizes or many classes; the figures say how many were compared).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from aistudio.export.validate import CHUNK, Validation, ValidationError, model_inputs

logger = logging.getLogger(__name__)

LOGITS_NAME = "logits"
"""The output of a semantic export."""
PIXEL_AGREEMENT = 0.999
"""An image agrees when at least this share of its pixels get the same class (module docstring)."""
MAX_REFERENCE_BYTES = 512 << 20
"""PyTorch's logits kept for the comparison take at most this much memory."""
MAX_CHUNK_BYTES = 128 << 20
"""One batch-N run's logits take at most about this much memory (2 images at least)."""

NamedRun = Callable[[np.ndarray], list[np.ndarray]]


class SemanticLogits(nn.Module):
    """The exported graph: the network's logits (``[B, K, S, S]``).

    A network returning a mapping (torchvision's segmentation models: ``{"out": …, "aux": …}``)
    gives its ``out``.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if isinstance(out, Mapping):
            out = out["out"]
        if not isinstance(out, torch.Tensor):
            raise ValidationError(
                f"its network gives {type(out).__name__}, expected one tensor of logits"
            )
        return out


@dataclass(frozen=True)
class SemanticReference:
    """PyTorch's logits of the first ``len(logits)`` validation images (float32 N x K x S x S)."""

    logits: np.ndarray

    def __len__(self) -> int:
        return int(self.logits.shape[0])

    @property
    def classes(self) -> int:
        return int(self.logits.shape[1])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.logits.shape[2]), int(self.logits.shape[3])


def _checked_logits(logits: np.ndarray, expected: tuple[int, ...], what: str) -> np.ndarray:
    array = np.asarray(logits)
    if array.shape != expected:
        raise ValidationError(
            f"{what} gives logits of shape {tuple(array.shape)}, expected {expected} "
            "([batch, classes, image_size, image_size])"
        )
    if not np.all(np.isfinite(array)):
        raise ValidationError(f"{what} gives logits that are not finite numbers")
    return array.astype(np.float32, copy=False)


def reference_logits(
    graph: nn.Module,
    images: torch.Tensor,
    classes: int,
    max_bytes: int = MAX_REFERENCE_BYTES,
    chunk: int = CHUNK,
) -> SemanticReference:
    """PyTorch's logits of the ``uint8`` images (as many as fit in ``max_bytes``, 1 at least).

    Args:
        graph: the exported graph (eval mode is set here).
        images: ``uint8`` N x 3 x S x S.
        classes: K, the model's number of classes (0: not checked).
        max_bytes: the most memory the logits kept may take.
        chunk: most images per PyTorch batch (after the first image, alone; fewer when their
            logits would pass :data:`MAX_CHUNK_BYTES`).

    Raises:
        ValidationError: no images, or logits of another shape or not finite.
    """
    n = len(images)
    if n == 0:
        raise ValidationError("there are no images to validate the export on")
    size = (int(images.shape[-2]), int(images.shape[-1]))
    graph.eval()
    kept: list[np.ndarray] = []
    begin, step, limit = 0, 1, n  # the first image alone: its logits' size sets the rest
    with torch.inference_mode():
        while begin < limit:
            batch = torch.from_numpy(model_inputs(images[begin : min(begin + step, limit)]))
            out = graph(batch)
            if not isinstance(out, torch.Tensor):
                raise ValidationError(
                    f"its network gives {type(out).__name__}, expected one tensor of logits"
                )
            k = classes if classes else (int(out.shape[1]) if out.ndim == 4 else 0)
            logits = _checked_logits(
                out.float().cpu().numpy(), (len(batch), k, *size), "its network"
            )
            if begin == 0:
                per_image = max(1, logits[0].nbytes)
                limit = min(n, max(1, max_bytes // per_image))
                step = max(1, min(chunk, MAX_CHUNK_BYTES // per_image))
                if limit < n:
                    logger.info(
                        "validating on %d images, not %d (their logits, %d classes at %dx%d, "
                        "would take more than %d MB)",
                        limit,
                        n,
                        k,
                        size[1],
                        size[0],
                        max_bytes >> 20,
                    )
            kept.append(logits)
            begin += len(batch)
    return SemanticReference(np.concatenate(kept))


def batch_runs(n: int, per_image_bytes: int, chunk: int = CHUNK) -> list[np.ndarray]:
    """Index arrays of the export's runs: the first image alone, then batches of up to
    ``chunk`` images (fewer when their logits would pass :data:`MAX_CHUNK_BYTES`, 2 at least);
    a single image runs twice in the batch-N run."""
    if n == 1:
        return [np.array([0]), np.array([0, 0])]
    step = max(2, min(chunk, MAX_CHUNK_BYTES // max(1, per_image_bytes)))
    return [np.array([0])] + [np.arange(s, min(s + step, n)) for s in range(0, n, step)]


@dataclass(frozen=True)
class SemanticValidation(Validation):
    """:class:`Validation` of a semantic export, with the pixels' figures.

    Attributes:
        pixel_agreement: the share of all compared pixels given the same class.
        worst_image: the lowest pixel agreement of one image.
        images_below: how many images agree on fewer than :data:`PIXEL_AGREEMENT` of their
            pixels (each lowers ``agreement``).
        pixel_threshold: the share an image needs (:data:`PIXEL_AGREEMENT`).
    """

    pixel_agreement: float = 1.0
    worst_image: float = 1.0
    images_below: int = 0
    pixel_threshold: float = PIXEL_AGREEMENT

    @property
    def passed(self) -> bool:
        """Within tolerance and every image's pixels at the threshold or above."""
        return (
            super().passed
            and self.images_below == 0
            and self.pixel_agreement >= self.pixel_threshold
        )

    def event_data(self) -> dict[str, object]:
        """:meth:`Validation.event_data` and ``pixel_agreement``."""
        return {**super().event_data(), "pixel_agreement": float(self.pixel_agreement)}

    def describe(self) -> str:
        """:meth:`Validation.describe` and the pixels', e.g. ``…, pixel_agreement 0.874 < 0.999
        (3 of 6 images below, the worst 0.512)``."""
        within = ">=" if self.pixel_agreement >= self.pixel_threshold else "<"
        line = (
            f"{super().describe()}, pixel_agreement {self.pixel_agreement:.6g} {within} "
            f"{self.pixel_threshold:g}"
        )
        if self.images_below:
            line += (
                f" ({self.images_below} of {self.images} images below, the worst "
                f"{self.worst_image:.4g})"
            )
        return line


def compare_logits(
    reference: SemanticReference,
    run: NamedRun,
    images: torch.Tensor,
    tolerance: float,
    chunk: int = CHUNK,
    on_batch: Callable[[int, int], None] | None = None,
) -> SemanticValidation:
    """Run the reference's images through an export (batch 1, then batch N) and compare.

    Args:
        reference: PyTorch's logits (:func:`reference_logits`) of the first images.
        run: the export's runner (its one output, ``logits``).
        images: the ``uint8`` validation images (the reference's are the first).
        tolerance: the largest absolute difference of a logit allowed.
        chunk: most images per batch-N run.
        on_batch: called with (runs done, runs) after each run (may raise to stop).

    Raises:
        ValidationError: no images, or outputs of another shape or not finite.
    """
    n = len(reference)
    if n == 0 or len(images) < n:
        raise ValidationError(f"{n} reference logits for {len(images)} images")
    per_image = int(reference.logits[0].nbytes)
    runs = batch_runs(n, per_image, chunk)
    shape = reference.logits.shape[1:]
    max_diff = 0.0
    same_pixels = np.zeros(n, dtype=np.int64)
    for done, index in enumerate(runs, start=1):
        outputs = run(model_inputs(images[torch.from_numpy(index)]))
        if len(outputs) != 1:
            raise ValidationError(f"the export gave {len(outputs)} outputs, expected 1 (logits)")
        out = _checked_logits(outputs[0], (len(index), *shape), "the export")
        ref = reference.logits[index]
        max_diff = max(max_diff, float(np.max(np.abs(out - ref))))
        if done > 1:  # the batch-N runs give the figures (as validate.compare)
            equal = np.argmax(out, axis=1) == np.argmax(ref, axis=1)
            same_pixels[index] = equal.reshape(len(index), -1).sum(axis=1)
        if on_batch is not None:
            on_batch(done, len(runs))
    pixels = reference.size[0] * reference.size[1]
    shares = same_pixels / pixels
    below = int(np.count_nonzero(shares < PIXEL_AGREEMENT))
    sizes = tuple(sorted({len(index) for index in runs}))
    result = SemanticValidation(
        n,
        max_diff,
        (n - below) / n,
        float(tolerance),
        sizes,
        pixel_agreement=float(same_pixels.sum() / (pixels * n)),
        worst_image=float(shares.min()),
        images_below=below,
    )
    logger.info("%s", result.describe())
    return result


def nearest_indices(source: int, target: int) -> np.ndarray:
    """Which of ``source`` mask pixels each of ``target`` image pixels takes (nearest neighbour
    at pixel centres, exact in integers): ``(2 * i + 1) * source // (2 * target)``."""
    return (2 * np.arange(target, dtype=np.int64) + 1) * source // (2 * target)


def mask_to_image(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """An S x S class-index mask mapped onto a ``width`` x ``height`` image (what
    ``aistudio.class_mask`` says a consumer does)."""
    rows = nearest_indices(mask.shape[0], height)
    cols = nearest_indices(mask.shape[1], width)
    return mask[rows][:, cols]
