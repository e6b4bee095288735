"""Take one file into a project's store: read, hash, inspect, store the original and thumbnail.

:class:`Ingestor` does the work for one file at a time and is safe to share between threads.
For process pools, :func:`init_process` builds one per worker process and
:func:`ingest_in_process` runs a batch there (both are picklable module-level functions).

A file refused by the inspection is reported with its reason, never raised; a failure to
write into the workspace (disk full, permissions) is raised: it is no fault of the file.
The caller holds the project's images lock shared (see :mod:`aistudio.datasets.store`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aistudio.datasets.images import ImageRefusedError, decode_image
from aistudio.datasets.store import (
    ImageStore,
    encode_thumbnail,
    sha256_hex,
    thumbnail_draft_size,
)
from aistudio.workspace import Workspace

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """What ingesting needs to know; picklable, sent once to each worker process.

    Attributes:
        workspace_root: the workspace folder.
        project_id: the project whose store receives the files.
        max_pixels: the decompression-bomb limit (``Settings.max_image_pixels``).
        thumbnail_px: the thumbnails' longer side at most.
        max_bytes: larger files are refused without being read.
        known_sha256: contents already in the dataset: hashed, then not inspected again.
    """

    workspace_root: str
    project_id: str
    max_pixels: int
    thumbnail_px: int
    max_bytes: int
    known_sha256: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Ingested:
    """The outcome for one file.

    Exactly one of three cases: ``reason`` is set (refused); ``known`` is True (the content is
    already in the dataset, nothing was written); or the file is stored and ``ext``, ``width``
    and ``height`` describe it.
    """

    sha256: str | None = None
    ext: str | None = None
    width: int = 0
    height: int = 0
    size_bytes: int = 0
    known: bool = False
    reason: str | None = None
    upright: tuple[int, int] = (0, 0)
    """``(width, height)`` as shown, after the EXIF orientation (annotations' frame)."""
    orientation: int = 1
    """The file's EXIF orientation (1: none)."""


def _size(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:.1f} MiB"
    return f"{n / 2**10:.1f} KiB" if n >= 2**10 else f"{n} bytes"


class Ingestor:
    """Ingests files into one project's store (thread-safe)."""

    def __init__(self, config: IngestConfig) -> None:
        self.config = config
        self.store = ImageStore(Workspace(config.workspace_root), config.project_id)
        self._draft = thumbnail_draft_size(config.thumbnail_px)

    def ingest(self, path: Path) -> Ingested:
        """Read, hash, inspect and store one file.

        Raises:
            OSError: writing into the workspace failed.
        """
        config = self.config
        try:
            size = path.stat().st_size
            if size > config.max_bytes:
                return Ingested(
                    reason=f"file too large: {_size(size)} (the limit is {_size(config.max_bytes)})"
                )
            data = path.read_bytes()
        except OSError as exc:
            return Ingested(reason=f"cannot read the file: {exc.strerror or exc}")
        if not data:
            return Ingested(reason="empty file")
        sha = sha256_hex(data)
        if sha in config.known_sha256:
            return Ingested(sha256=sha, size_bytes=len(data), known=True)
        try:
            info, image = decode_image(data, config.max_pixels, draft_size=self._draft)
        except ImageRefusedError as exc:
            return Ingested(sha256=sha, size_bytes=len(data), reason=str(exc))
        try:
            thumbnail = encode_thumbnail(image, config.thumbnail_px)
        except (ValueError, OSError) as exc:
            return Ingested(
                sha256=sha,
                size_bytes=len(data),
                reason=f"pixel mode {info.mode} cannot be shown as RGB: {exc}",
            )
        finally:
            image.close()
        self.store.put_original(sha, info.ext, data)
        self.store.put_thumbnail(sha, thumbnail)
        return Ingested(
            sha256=sha,
            ext=info.ext,
            width=info.width,
            height=info.height,
            size_bytes=len(data),
            upright=info.upright_size,
            orientation=info.orientation,
        )

    def ingest_batch(self, paths: Sequence[str]) -> list[Ingested]:
        """:meth:`ingest` for each path, in order."""
        return [self.ingest(Path(p)) for p in paths]


_process_ingestor: Ingestor | None = None


def init_process(config: IngestConfig) -> None:
    """Process-pool initializer: build this worker process's :class:`Ingestor`."""
    global _process_ingestor
    _process_ingestor = Ingestor(config)


def ingest_in_process(paths: Sequence[str]) -> list[Ingested]:
    """Run a batch in a worker process set up by :func:`init_process`."""
    if _process_ingestor is None:
        raise RuntimeError("init_process was not called in this worker process")
    return _process_ingestor.ingest_batch(paths)
