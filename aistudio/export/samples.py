"""The real images an export is validated on, chosen deterministically from the dataset.

The images of the experiment's split come test subset first, then val, then train (the images
the network saw least first), each subset in the split's own order; without that split (deleted
since) the labelled images of the dataset come in the order they were added. The first
``limit`` that decode are used (fewer at large sizes: they are held in memory, decoded, up to
:data:`MAX_SAMPLE_BYTES`); an image that cannot be decoded is skipped with a warning.
Images are decoded exactly as training and evaluation decode them
(:func:`aistudio.training.data.decode_image`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL.Image import DecompressionBombError

from aistudio.tasks.base import Task
from aistudio.training.data import decode_image, labelled_entries
from projections.dataset import DatasetView, ImageEntry

logger = logging.getLogger(__name__)

SUBSET_ORDER: tuple[str, ...] = ("test", "val", "train")
MAX_SAMPLE_BYTES = 512 << 20
"""Decoded validation images take at most this much memory (fewer images at large sizes)."""


@dataclass(frozen=True)
class Samples:
    """Decoded validation images.

    Attributes:
        image_ids: the images, in the order of ``images``.
        paths: their files.
        images: ``uint8`` N x 3 x S x S.
    """

    image_ids: list[str]
    paths: list[Path]
    images: torch.Tensor

    def __len__(self) -> int:
        return len(self.image_ids)


def candidate_entries(view: DatasetView, split: str, task: Task) -> list[ImageEntry]:
    """Every image that may be used, in the order they are tried (see the module docstring)."""
    if split in view.splits:
        by_subset = labelled_entries(view, split, task)
        ordered = [entry for subset in SUBSET_ORDER for entry in by_subset.get(subset, [])]
        ordered += [
            entry
            for subset, entries in by_subset.items()
            if subset not in SUBSET_ORDER
            for entry in entries
        ]
        return ordered
    return [entry for entry in view.images.values() if task.accepts(entry)]


def decode_samples(
    entries: list[ImageEntry],
    image_path: Callable[[str, str], Path],
    size: int,
    limit: int,
) -> Samples:
    """Decode the first ``limit`` of ``entries`` that decode, resized to ``size``.

    Args:
        entries: the candidates, in order.
        image_path: the file of an image from its sha256 and extension.
        size: side of the square images.
        limit: how many images at most; fewer when they would take more than
            :data:`MAX_SAMPLE_BYTES` (the figures record how many were used).
    """
    fitting = max(1, MAX_SAMPLE_BYTES // (3 * size * size))
    if limit > fitting:
        logger.info("validating on %d images of %d px, not %d (memory)", fitting, size, limit)
        limit = fitting
    ids: list[str] = []
    paths: list[Path] = []
    tensors: list[torch.Tensor] = []
    for entry in entries:
        if len(ids) >= limit:
            break
        path = image_path(entry.sha256, entry.ext)
        try:
            tensors.append(decode_image(path, size))
        except (OSError, DecompressionBombError, ValueError) as exc:  # unreadable: skipped
            logger.warning("validation skips image %s: %s", entry.image_id, exc)
            continue
        ids.append(entry.image_id)
        paths.append(path)
    images = torch.stack(tensors) if tensors else torch.empty((0, 3, size, size), dtype=torch.uint8)
    return Samples(ids, paths, images)
