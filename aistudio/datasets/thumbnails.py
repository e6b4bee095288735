"""Rebuild a project's thumbnails from its originals (``aistudio thumbnails``).

Thumbnails are derived files (DESIGN §2): :func:`rebuild_thumbnails` writes the thumbnail of
every image any ``ImagesAdded`` of the project's log ever named (removed images too: time travel
still shows them) whose original is stored, by the import's own steps: the original decoded as
:class:`~aistudio.datasets.ingest.Ingestor` decodes it (same draft size, turned upright by its
EXIF orientation) and encoded by :func:`~aistudio.datasets.store.encode_thumbnail` at
``Settings.thumbnail_px``, so that a rebuilt thumbnail has the very bytes the import wrote. By
default only the missing ones are written; ``everything=True`` replaces every one (for instance
thumbnails made before EXIF orientations were honoured, or after ``thumbnail_px`` changed).

Files are written atomically (a ``*.part`` in the temp folder, fsync, rename) under the project's
images lock held **shared** for the whole rebuild: ``aistudio gc`` deletes every ``*.part``, and
only under that lock held exclusively. An original that is missing or cannot be decoded is
reported, never raised; a failure to write into the workspace (disk full) is raised.

Torch-free (the CLI imports it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from aistudio.datasets.images import ImageRefusedError, decode_image
from aistudio.datasets.importer import BATCH_SIZE, default_workers
from aistudio.datasets.orphans import ImagesLock, StoredImage, images_ever_added
from aistudio.datasets.parallel import map_batches
from aistudio.datasets.store import ImageStore, encode_thumbnail, thumbnail_draft_size
from aistudio.settings import Settings
from aistudio.workspace import Workspace
from events import EventLog

logger = logging.getLogger(__name__)


Progress = Callable[[int, int], None]
"""``progress(done, total)``, called in the caller's thread after each image."""


@dataclass(frozen=True, slots=True)
class ThumbnailFailure:
    """An image whose thumbnail could not be (re)built, and why."""

    image: StoredImage
    original: Path
    reason: str


@dataclass
class RebuildReport:
    """What :func:`rebuild_thumbnails` did."""

    rebuilt: int = 0
    skipped: int = 0
    """Thumbnails already there (left as they were)."""
    failed: list[ThumbnailFailure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return self.rebuilt + self.skipped + len(self.failed)

    def summary(self) -> str:
        """One line: ``rebuilt 12 thumbnails, 288 already there, 0 failed (0.4 s)``."""
        noun = "thumbnail" if self.rebuilt == 1 else "thumbnails"
        return (
            f"rebuilt {self.rebuilt} {noun}, {self.skipped} already there, "
            f"{len(self.failed)} failed ({self.seconds:.1f} s)"
        )


def thumbnail_jpeg(data: bytes, max_pixels: int, thumbnail_px: int) -> bytes:
    """The thumbnail of an image file's bytes, made as the import makes it.

    Decoded by :func:`decode_image` at :func:`thumbnail_draft_size`, encoded by
    :func:`encode_thumbnail`, as :class:`~aistudio.datasets.ingest.Ingestor` does.

    Raises:
        ImageRefusedError: the bytes are not a decodable image within ``max_pixels``.
        ValueError, OSError: Pillow cannot convert its pixel mode to RGB.
    """
    _, image = decode_image(data, max_pixels, draft_size=thumbnail_draft_size(thumbnail_px))
    try:
        return encode_thumbnail(image, thumbnail_px)
    finally:
        image.close()


class _Rebuilder:
    """Rebuilds one image's thumbnail (thread-safe)."""

    def __init__(self, store: ImageStore, settings: Settings, everything: bool) -> None:
        self.store = store
        self.max_pixels = settings.max_image_pixels
        self.thumbnail_px = settings.thumbnail_px
        self.everything = everything

    def batch(self, images: list[StoredImage]) -> list[bool | ThumbnailFailure]:
        return [self.one(image) for image in images]

    def one(self, image: StoredImage) -> bool | ThumbnailFailure:
        """True: written; False: already there; else why it failed.

        Raises:
            OSError: writing into the workspace failed.
        """
        target = self.store.thumbnail_path(image.sha256)
        if not self.everything and _exists(target):
            return False
        original = self.store.original_path(image.sha256, image.ext)
        try:
            data = original.read_bytes()
        except FileNotFoundError:
            return ThumbnailFailure(image, original, "the original is missing")
        except OSError as exc:
            return ThumbnailFailure(
                image, original, f"cannot read the original: {exc.strerror or exc}"
            )
        try:
            jpeg = thumbnail_jpeg(data, self.max_pixels, self.thumbnail_px)
        except ImageRefusedError as exc:
            return ThumbnailFailure(image, original, str(exc))
        except (ValueError, OSError) as exc:
            return ThumbnailFailure(image, original, f"cannot be shown as RGB: {exc}")
        # False without --all: an import was faster. With it, replaced in place.
        return self.store.put_thumbnail(image.sha256, jpeg, replace=self.everything)


def _exists(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def rebuild_thumbnails(
    workspace: Workspace,
    project_id: str,
    *,
    everything: bool = False,
    progress: Progress | None = None,
    settings: Settings | None = None,
    workers: int | None = None,
) -> RebuildReport:
    """Write the missing thumbnails of the project (every one with ``everything=True``).

    Args:
        workspace: the workspace.
        project_id: the project.
        everything: replace thumbnails that exist too.
        progress: called as ``progress(done, total)`` after each image, in this thread, while
            the images lock is held.
        settings: default: the workspace's ``settings.json`` (``thumbnail_px``,
            ``max_image_pixels``).
        workers: threads; default: as an import of that many files uses.

    Returns:
        How many were rebuilt, already there, and which failed (missing or undecodable
        originals), with the time taken.

    Raises:
        LogCorruptedError: the log is damaged.
        OSError: writing into the workspace failed.
    """
    started = time.monotonic()
    settings = settings or Settings.load(workspace.settings_path)
    store = ImageStore(workspace, project_id)
    report = RebuildReport()
    with ImagesLock.acquire_shared(workspace, project_id):
        images = list(images_ever_added(EventLog(workspace.events_path(project_id))).values())
        total = len(images)
        rebuilder = _Rebuilder(store, settings, everything)
        if workers is None:
            workers = default_workers(total, "thread")
        outcomes = map_batches(
            rebuilder.batch, images, batch_size=BATCH_SIZE, workers=workers, kind="thread"
        )
        with closing(outcomes):
            for done, outcome in enumerate(outcomes, 1):
                if outcome is True:
                    report.rebuilt += 1
                elif outcome is False:
                    report.skipped += 1
                else:
                    report.failed.append(outcome)
                if progress is not None:
                    progress(done, total)
        if report.rebuilt:
            store.sync()
    report.seconds = time.monotonic() - started
    logger.info("%s: %s", project_id, report.summary())
    for failure in report.failed:
        logger.debug("%s: no thumbnail for %s: %s", project_id, failure.original, failure.reason)
    return report
