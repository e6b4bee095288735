"""What a run trains on: the images of one subset of a split, as tensors, with their targets.

The pipeline keeps images as ``uint8`` tensors (3 x S x S) until they reach the device, where
:func:`to_model_input` scales and normalises a whole batch at once (ImageNet mean and std): the
data loader moves four times fewer bytes and the arithmetic runs batched, on the GPU when there
is one. Evaluation and export feed models the same way.

Each image is decoded at most once per epoch. When the decoded, resized images of a run fit in
:data:`CACHE_BUDGET_BYTES`, they are decoded once, before training, by a thread pool, and kept in
one shared tensor (data loader workers inherit it without copying); augmentations then work on
the cached image. Larger datasets are decoded by the data loader workers, once per epoch.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from aistudio.datasets.images import exif_orientation, orient, to_rgb
from aistudio.tasks.base import TargetInfo, Task, Transform
from aistudio.training.resources import CACHE_BUDGET_BYTES, LOADER_PREFETCH
from events.schemas.training import Augmentations
from projections.dataset import DatasetView, ImageEntry

logger = logging.getLogger(__name__)

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
RANDOM_CROP_SCALE: tuple[float, float] = (0.5, 1.0)
"""Area range of ``random_resized_crop`` (torchvision's 0.08 is too harsh for small images)."""


# ---------------------------------------------------------------------- images
def decode_image(path: Path, size: int) -> torch.Tensor:
    """Decode ``path`` to RGB, upright, and resize it to ``size`` x ``size``: ``uint8`` 3 x S x S.

    JPEGs are decoded at a reduced scale when they are much larger than ``size`` (``draft``),
    which is several times faster and looks the same after the resize. The colours are
    :func:`aistudio.datasets.images.to_rgb`'s, as on the thumbnails (16-bit and float images
    stretched from their minimum to their maximum, transparency on white; 8-bit RGB untouched).
    The EXIF orientation is applied before the resize, as ``ImageOps.exif_transpose`` after the
    draft would (the Export page's snippet does exactly that); reading it is a lookup in the
    header.
    """
    with Image.open(path) as image:
        image.draft("RGB", (size, size))
        image.load()  # before reading the orientation: Pillow turns a TIFF upright on load
        orientation = exif_orientation(image)
        rgb = orient(to_rgb(image), orientation)  # may be ``image`` itself: used in the block
        if rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
        array = np.asarray(rgb, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def to_model_input(images: torch.Tensor) -> torch.Tensor:
    """A ``uint8`` batch (N x 3 x H x W) as the float input models expect (ImageNet-normalised)."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device, dtype=torch.float32) * 255.0
    std = torch.tensor(IMAGENET_STD, device=images.device, dtype=torch.float32) * 255.0
    return (images.float() - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)


def build_augmentation(augment: Augmentations, size: int) -> v2.Compose | None:
    """The training-time transforms of ``augment`` on ``uint8`` tensors (None: no transform)."""
    steps: list[torch.nn.Module] = []
    if augment.random_resized_crop:
        steps.append(v2.RandomResizedCrop(size, scale=RANDOM_CROP_SCALE, antialias=True))
    if augment.horizontal_flip:
        steps.append(v2.RandomHorizontalFlip())
    if augment.vertical_flip:
        steps.append(v2.RandomVerticalFlip())
    if augment.rotation_degrees > 0:
        steps.append(v2.RandomRotation(augment.rotation_degrees))
    if augment.color_jitter > 0:
        c = augment.color_jitter
        steps.append(v2.ColorJitter(brightness=c, contrast=c, saturation=c, hue=min(0.5, c / 4)))
    return v2.Compose(steps) if steps else None


# ---------------------------------------------------------------------- samples
@dataclass
class SubsetData:
    """The images of one subset and their targets, in the split's order."""

    image_ids: list[str]
    paths: list[Path]
    targets: Any
    """One target per image, as the task stacks them (a tensor of class indices or normalised
    values; a list of box dicts), indexable by image."""
    entries: list[ImageEntry] = field(default_factory=list)
    """The images' dataset entries, in the same order."""

    def __len__(self) -> int:
        return len(self.image_ids)


def labelled_entries(view: DatasetView, split: str, task: Task) -> dict[str, list[ImageEntry]]:
    """``{subset: entries}`` of ``split`` that carry what ``task`` learns from
    (:meth:`~aistudio.tasks.base.Task.accepts`: a label, a value, boxes…).

    Raises:
        KeyError: no split of that name.
    """
    members = view.splits[split]
    out: dict[str, list[ImageEntry]] = {"train": [], "val": [], "test": []}
    for image_id, subset in members.items():
        entry = view.images[image_id]
        if not task.accepts(entry):
            continue
        out.setdefault(subset, []).append(entry)
    return out


def subset_data(
    entries: Sequence[ImageEntry],
    task: Task,
    info: TargetInfo,
    image_path: Callable[[str, str], Path],
    image_size: int = 0,
) -> tuple[SubsetData, int]:
    """The paths and targets of ``entries`` (images resized to ``image_size``); also how many
    were left out.

    Images whose target the task cannot build (say, a class the model has no output for, after
    a resume) are left out with a warning rather than failing the run.
    """
    ids: list[str] = []
    paths: list[Path] = []
    targets: list[Any] = []
    kept: list[ImageEntry] = []
    skipped = 0
    for entry in entries:
        try:
            target = task.sample_target(entry, info, image_size, image_path)
        except (KeyError, ValueError) as exc:
            skipped += 1
            logger.debug("left out %s: %s", entry.image_id, exc)
            continue
        ids.append(entry.image_id)
        paths.append(image_path(entry.sha256, entry.ext))
        targets.append(target)
        kept.append(entry)
    if skipped:
        logger.warning("%d images left out: the task cannot build their targets", skipped)
    return SubsetData(ids, paths, task.stack_targets(targets), kept), skipped


# ---------------------------------------------------------------------- dataset
class ImageDataset(Dataset[tuple[torch.Tensor, Any]]):
    """``(uint8 image 3 x S x S, target)`` pairs of one subset, augmented when asked (the
    transform moves image and target together: a flip moves the boxes)."""

    def __init__(
        self,
        data: SubsetData,
        image_size: int,
        transform: Transform | None = None,
        cache: torch.Tensor | None = None,
    ) -> None:
        self.data = data
        self.image_size = image_size
        self.transform = transform
        self.cache = cache

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Any]:
        if self.cache is not None:
            image = self.cache[index]
        else:
            image = decode_image(self.data.paths[index], self.image_size)
        target = self.data.targets[index]
        if self.transform is not None:
            image, target = self.transform(image, target)
        return image, target


def decode_all(
    paths: Sequence[Path],
    size: int,
    workers: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Decode every image into one ``uint8`` tensor (N x 3 x S x S), with a thread pool.

    Pillow releases the GIL while decoding and resizing, so threads use every core.
    ``on_progress(done, total)`` is called from this thread as images complete (it may raise to
    stop early, e.g. on cancel).
    """
    out = torch.empty((len(paths), 3, size, size), dtype=torch.uint8)
    if not paths:
        return out

    def one(index: int) -> None:
        out[index] = decode_image(paths[index], size)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        chunk = 64
        for start in range(0, len(paths), chunk):
            end = min(start + chunk, len(paths))
            list(pool.map(one, range(start, end)))
            if on_progress is not None:
                on_progress(end, len(paths))
    return out


class ImageOnly:
    """An image-only transform as a joint one (picklable for loader workers)."""

    def __init__(self, transform: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.transform = transform

    def __call__(self, image: torch.Tensor, target: Any) -> tuple[torch.Tensor, Any]:
        return self.transform(image), target


@dataclass(frozen=True)
class LoaderWorkerInit:
    """``worker_init_fn`` of every data loader: its workers ignore SIGTERM and SIGINT.

    The job process alone decides when its loader workers end: it shuts them down as it
    unwinds. A stop signal sent to the job's whole process group (``kill -- -PGID``, systemd
    stopping a unit, a terminal's Ctrl-C reaching a foreground group) would otherwise kill them
    first, and torch's SIGCHLD handler would turn the job's orderly interruption into
    ``RuntimeError: DataLoader worker … killed by signal: Terminated``. A worker whose job
    process died exits by itself (torch's watchdog) or is killed with the group by the
    supervisor.

    Setting a ``worker_init_fn`` stops Lightning from adding its own, so this one seeds the
    worker as Lightning's would after ``seed_everything(workers=True)`` (the runs stay
    reproducible).

    Args:
        rank: the global rank of the process that owns the loader.
    """

    rank: int = 0

    def __call__(self, worker_id: int) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if int(os.environ.get("PL_SEED_WORKERS", "0")):
            from lightning_fabric.utilities.seed import pl_worker_init_function

            pl_worker_init_function(worker_id, rank=self.rank)


def cpu_count() -> int:
    """The CPUs this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class TrainingDataModule(pl.LightningDataModule):
    """Train and validation loaders of one run.

    Args:
        train: the train subset.
        val: the validation subset (may be empty: then nothing is validated).
        task: the task (its joint transforms and collate); None: image-only augmentation of
            stacked targets, as classification and regression have.
        image_size: side of the square images fed to the model.
        batch_size: images per batch (per device).
        num_workers: data loader worker processes at most (capped at the CPUs available),
            persistent. A loader whose images are cached and not augmented has nothing to hand
            to workers and uses none (see :meth:`workers_for`).
        augment: training-time augmentations (validation images are only resized).
        cache_budget_bytes: decode everything up front when it fits in this many bytes.
        pin_memory: pin batches for faster copies to a GPU.
    """

    def __init__(
        self,
        train: SubsetData,
        val: SubsetData,
        image_size: int,
        batch_size: int,
        num_workers: int,
        augment: Augmentations,
        cache_budget_bytes: int = CACHE_BUDGET_BYTES,
        pin_memory: bool = False,
        task: Task | None = None,
    ) -> None:
        super().__init__()
        self.task = task
        self.train = train
        self.val = val
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = min(num_workers, cpu_count())
        self.augment = augment
        self.cache_budget_bytes = cache_budget_bytes
        self.pin_memory = pin_memory
        self._train_cache: torch.Tensor | None = None
        self._val_cache: torch.Tensor | None = None

    @property
    def cache_bytes(self) -> int:
        """Bytes the decoded images of both subsets take."""
        return (len(self.train) + len(self.val)) * 3 * self.image_size**2

    @property
    def cached(self) -> bool:
        """Whether the images are decoded once and kept in memory."""
        return self._train_cache is not None

    def decode(self, on_progress: Callable[[int, int], None] | None = None) -> bool:
        """Decode every image now when they fit in the cache budget; True when cached.

        Call before training starts (before any process is forked, so that data loader
        workers and DDP processes share the tensors instead of copying them).
        """
        if self.cache_bytes > self.cache_budget_bytes or self.cached:
            return self.cached
        total = len(self.train) + len(self.val)
        threads = cpu_count()

        def train_progress(done: int, _n: int) -> None:
            if on_progress is not None:
                on_progress(done, total)

        def val_progress(done: int, _n: int) -> None:
            if on_progress is not None:
                on_progress(len(self.train) + done, total)

        self._train_cache = decode_all(self.train.paths, self.image_size, threads, train_progress)
        self._val_cache = decode_all(self.val.paths, self.image_size, threads, val_progress)
        logger.info("decoded %d images into memory (%.1f MB)", total, self.cache_bytes / 1e6)
        return True

    def train_dataset(self) -> ImageDataset:
        """The (augmented) training dataset."""
        transform: Transform | None
        if self.task is not None:
            transform = self.task.train_transform(self.augment, self.image_size)
        else:
            image_only = build_augmentation(self.augment, self.image_size)
            transform = None if image_only is None else ImageOnly(image_only)
        return ImageDataset(self.train, self.image_size, transform, self._train_cache)

    def val_dataset(self) -> ImageDataset:
        """The validation dataset (no augmentation)."""
        return ImageDataset(self.val, self.image_size, None, self._val_cache)

    def workers_for(self, dataset: ImageDataset) -> int:
        """Worker processes for ``dataset``'s loader: none when an item is a cached tensor.

        Workers pay off when they decode or augment. Over cached, unaugmented images an item is
        one index into a tensor, and workers only cost: forking them from a process that holds
        the model slowed the next two epochs by 10 to 25 % on 2 CPUs (measured with ResNet-18).
        """
        if dataset.cache is not None and dataset.transform is None:
            return 0
        return self.num_workers

    def _rank(self) -> int:
        """The global rank of this process (0 outside a trainer)."""
        trainer = self.trainer
        return int(trainer.global_rank) if trainer is not None else 0

    def _loader(self, dataset: ImageDataset, shuffle: bool) -> DataLoader[tuple[torch.Tensor, ...]]:
        workers = self.workers_for(dataset)
        # BatchNorm cannot train on a last batch of one image: drop it (shuffled, so no image
        # is left out for good).
        drop_last = shuffle and len(dataset) > 1 and len(dataset) % self.batch_size == 1
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            num_workers=workers,
            persistent_workers=workers > 0,
            worker_init_fn=LoaderWorkerInit(self._rank()) if workers > 0 else None,
            pin_memory=self.pin_memory,
            prefetch_factor=LOADER_PREFETCH if workers > 0 else None,
            collate_fn=self.task.collate if self.task is not None else None,
        )

    def train_dataloader(self) -> DataLoader[tuple[torch.Tensor, ...]]:
        """Shuffled, augmented batches of the train subset."""
        return self._loader(self.train_dataset(), shuffle=True)

    def val_dataloader(self) -> DataLoader[tuple[torch.Tensor, ...]]:
        """Batches of the validation subset, in order."""
        return self._loader(self.val_dataset(), shuffle=False)
