"""The content-addressed image store of a project: originals and thumbnails.

Originals live at ``Workspace.image_path(project, sha256, ext)``, thumbnails (JPEG, RGB, at
most ``thumbnail_px`` on their longer side) at ``Workspace.thumb_path(project, sha256)``. Every
file is written under a temporary name in ``Workspace.tmp_dir(project)``, fsynced and renamed
into place, so a file that exists is complete; :meth:`ImageStore.sync` then makes the renames
themselves durable. Call it before appending any event that names the files.

Whoever writes here (an import) holds the project's images lock shared for its whole run, from
before its first write (or its first "already stored" answer, which it will name in events) until
its events are committed: :mod:`aistudio.datasets.orphans` removes files no event names, and
every ``*.part`` of the temp folder, only under that lock held exclusively.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from aistudio.datasets.images import to_rgb  # the store's name for it too (store.to_rgb)
from aistudio.workspace import Workspace

logger = logging.getLogger(__name__)

THUMBNAIL_QUALITY = 85
_ANY_SHA = "0" * 64


def thumbnail_draft_size(thumbnail_px: int) -> tuple[int, int]:
    """The size to decode an image at for its thumbnail: twice the thumbnail's side, as
    ``Image.thumbnail``'s ``reducing_gap=2`` does (the import and the rebuild both use it)."""
    side = 2 * thumbnail_px
    return side, side


def sha256_hex(data: bytes) -> str:
    """The sha256 of ``data`` as 64 lowercase hex digits (an image's content address)."""
    return hashlib.sha256(data).hexdigest()


def make_thumbnail(image: Image.Image, max_px: int) -> Image.Image:
    """An RGB copy of ``image`` that fits in ``max_px`` x ``max_px``, aspect ratio kept.

    The colours are :func:`aistudio.datasets.images.to_rgb`'s, which models see too.
    """
    thumb = to_rgb(image)
    if thumb is image:
        thumb = image.copy()
    thumb.thumbnail((max_px, max_px), Image.Resampling.BICUBIC)
    return thumb


def encode_thumbnail(image: Image.Image, max_px: int) -> bytes:
    """The JPEG bytes of ``image``'s thumbnail (RGB, at most ``max_px`` on its longer side).

    Raises:
        ValueError, OSError: Pillow cannot convert this image's pixel mode to RGB.
    """
    buffer = io.BytesIO()
    make_thumbnail(image, max_px).save(buffer, format="JPEG", quality=THUMBNAIL_QUALITY)
    return buffer.getvalue()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ImageStore:
    """Writes one project's originals and thumbnails atomically. Safe to use from threads.

    Args:
        workspace: the workspace; every path comes from it.
        project_id: the project whose store this is.
    """

    def __init__(self, workspace: Workspace, project_id: str) -> None:
        self.workspace = workspace
        self.project_id = project_id
        self.tmp_dir = workspace.tmp_dir(project_id)
        self._ready_dirs: set[Path] = set()
        self._created_dirs: set[Path] = set()
        self._lock = threading.Lock()

    def original_path(self, sha256: str, ext: str) -> Path:
        """Where the original with this content and extension lives."""
        return self.workspace.image_path(self.project_id, sha256, ext)

    def thumbnail_path(self, sha256: str) -> Path:
        """Where the thumbnail of this content lives."""
        return self.workspace.thumb_path(self.project_id, sha256)

    def put_original(self, sha256: str, ext: str, data: bytes) -> bool:
        """Store ``data`` under its content address unless it is there already.

        Args:
            sha256: ``sha256_hex(data)``, computed by the caller.
            ext: the stored extension (from the image inspection).
            data: the file's bytes.

        Returns:
            Whether a file was written (False: the same content was already stored).
        """
        target = self.original_path(sha256, ext)
        if self._is_stored(target, len(data)):
            return False
        self._write_atomically(target, data)
        return True

    def put_thumbnail(self, sha256: str, jpeg: bytes, *, replace: bool = False) -> bool:
        """Store a thumbnail made by :func:`encode_thumbnail` unless one exists already (or, with
        ``replace``, in place of it: the old one is served until the rename).

        Returns:
            Whether a file was written.
        """
        target = self.thumbnail_path(sha256)
        if not replace and self._is_stored(target, None):
            return False
        self._write_atomically(target, jpeg)
        return True

    def sync(self, sha256s: Iterable[str] = ()) -> None:
        """Make the renames durable: fsync the folders that hold the files of ``sha256s``.

        Also fsyncs every folder this store created. Call it once, after the last write and
        before the events that name the files are appended.
        """
        thumbs = self.thumbnail_path(_ANY_SHA).parent
        folders: set[Path] = {thumbs, thumbs.parent}
        for sha in sha256s:
            shard = self.original_path(sha, "jpg").parent
            folders.update((shard, shard.parent))  # a new shard's entry lives in images/
        with self._lock:
            created = set(self._created_dirs)
        folders |= created | {folder.parent for folder in created}
        for folder in sorted(folders):
            if folder.is_dir():
                _fsync_dir(folder)

    @staticmethod
    def _is_stored(target: Path, size: int | None) -> bool:
        try:
            stat = target.stat()
        except FileNotFoundError:
            return False
        return stat.st_size > 0 and (size is None or stat.st_size == size)

    def _ensure_dir(self, folder: Path) -> None:
        if folder in self._ready_dirs:
            return
        missing = [p for p in (folder, *folder.parents) if not p.exists()]
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._ready_dirs.add(folder)
            self._created_dirs.update(missing)

    def _write_atomically(self, target: Path, data: bytes) -> None:
        """Write ``data`` to a temporary file, fsync it and rename it to ``target``."""
        self._ensure_dir(self.tmp_dir)
        self._ensure_dir(target.parent)
        fd, tmp_name = tempfile.mkstemp(
            dir=self.tmp_dir, prefix=target.stem[:16] + "-", suffix=".part"
        )
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
