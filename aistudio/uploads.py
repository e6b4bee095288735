"""Uploaded zip archives: received as a stream, checked, and unpacked into the workspace.

An upload becomes a folder ``<workspace>/uploads/<upload id>/`` that an ``ImportRequested``
command can name as its source. Nothing is ever half-written: the archive is streamed to a
temporary file (refused as soon as it passes the size limit), every entry is checked before
any is written, the entries are unpacked into a temporary folder, and only a complete folder
is renamed into place. Whatever fails is removed and reported with a one-line reason.

Refused archives: larger than ``settings.max_upload_mb``; not a zip, damaged or forged (bad
CRC, broken compressed data, impossible sizes or offsets, an unsupported compression method,
an entry name flagged UTF-8 that is not: whatever :mod:`zipfile` raises is a reason, never a
crash); encrypted entries; entries with an absolute path, a drive letter, a ``..`` component
or control characters (zip-slip); symbolic links and other special files; more than
``MAX_ENTRIES`` entries or more than ``UNCOMPRESSED_FACTOR`` times the upload limit once
unpacked (zip bombs: the declared sizes are checked first, and the bytes actually written are
counted too); an archive that does not fit on the disk.

This module is torch-free and uses only the standard library (the web process imports it).
"""

from __future__ import annotations

import logging
import lzma
import os
import re
import secrets
import shutil
import stat
import struct
import time
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from aistudio.settings import Settings
from aistudio.workspace import Workspace, WorkspaceError

logger = logging.getLogger(__name__)

MAX_ENTRIES = 250_000
"""Most entries an archive may hold (files and folders)."""
UNCOMPRESSED_FACTOR = 8
"""An archive may unpack to at most this many times the upload limit."""
DISK_MARGIN_BYTES = 256 * 2**20
"""Free space left on the disk after unpacking."""
CHUNK_BYTES = 1 * 2**20
KEEP_UPLOADS_S = 7 * 24 * 3600
"""Unpacked uploads older than this are removed when a new upload arrives."""
IGNORED_PREFIXES: tuple[str, ...] = ("__MACOSX/",)
"""Folders of archive tools' metadata, left out (macOS Finder's resource forks)."""
IGNORED_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})

_UPLOAD_ID = re.compile(r"^upl-[0-9a-f]{16}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_INCOMING = ".incoming"
_DAMAGED_ERRORS: tuple[type[BaseException], ...] = (
    zlib.error,  # deflate data
    lzma.LZMAError,  # LZMA data (not an OSError, unlike bz2's "Invalid data stream")
    EOFError,  # a compressed stream that ends early
    struct.error,  # headers too short for their fields
    OverflowError,  # sizes or offsets beyond what a seek or read takes
    ValueError,  # a negative seek and the like, from forged offsets
)
"""What :mod:`zipfile` raises, besides ``BadZipFile``, on damaged or forged archives."""


class UploadError(ValueError):
    """The upload is refused; the message is one line for the user."""


class UploadTooLargeError(UploadError):
    """The upload is larger than the workspace's limit."""


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """What an upload may be.

    Attributes:
        max_upload_bytes: the largest archive accepted.
        max_uncompressed_bytes: the most bytes its files may hold once unpacked.
        max_entries: the most entries (files and folders) it may hold.
    """

    max_upload_bytes: int
    max_uncompressed_bytes: int
    max_entries: int = MAX_ENTRIES

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        """The limits that follow from a workspace's settings (``max_upload_mb``)."""
        max_bytes = settings.max_upload_mb * 2**20
        return cls(max_bytes, max_bytes * UNCOMPRESSED_FACTOR, MAX_ENTRIES)


@dataclass(frozen=True, slots=True)
class UploadedFolder:
    """An upload unpacked into the workspace.

    Attributes:
        upload_id: ``upl-`` and 16 hex digits.
        folder: where it was unpacked (``<workspace>/uploads/<upload_id>``).
        source: what to import: the archive's only top-level folder when it has one (a zip of
            ``digits/`` holds ``digits/0/…``, ``digits/1/…``), else ``folder``.
        filename: the archive's name as the browser sent it (for messages only).
        files: number of files unpacked.
        unpacked_bytes: their total size.
        archive_bytes: the archive's size.
    """

    upload_id: str
    folder: Path
    source: Path
    filename: str
    files: int
    unpacked_bytes: int
    archive_bytes: int


def uploads_dir(workspace: Workspace) -> Path:
    """The folder of unpacked uploads (``<workspace>/uploads``)."""
    return workspace.uploads_dir


def upload_dir(workspace: Workspace, upload_id: str) -> Path:
    """The folder of one unpacked upload.

    Raises:
        UploadError: ``upload_id`` is not a valid upload id.
    """
    try:
        return workspace.upload_dir(upload_id)
    except WorkspaceError as exc:
        raise UploadError(str(exc)) from None


def new_upload_id() -> str:
    """A fresh upload id, ``upl-`` and 16 hex digits."""
    return f"upl-{secrets.token_hex(8)}"


def receive_zip(
    workspace: Workspace,
    stream: BinaryIO,
    *,
    filename: str = "upload.zip",
    content_length: int | None = None,
    limits: UploadLimits | None = None,
) -> UploadedFolder:
    """Stream an uploaded zip to disk, check it and unpack it into the workspace.

    Args:
        workspace: the workspace to unpack into.
        stream: the request body (read in chunks, never whole into memory).
        filename: the archive's name as sent by the browser (used in messages only).
        content_length: the declared size of the body, when known (refused at once if too big).
        limits: the limits to enforce; by default those of the workspace's settings.

    Returns:
        Where the archive was unpacked and what to import.

    Raises:
        UploadTooLargeError: the archive is larger than the upload limit.
        UploadError: any other reason to refuse it; nothing of it is left on disk.
    """
    limits = limits or UploadLimits.from_settings(Settings.load(workspace.settings_path))
    shown = _display_name(filename)
    if content_length is not None and content_length > limits.max_upload_bytes:
        raise UploadTooLargeError(_too_large(shown, content_length, limits))
    root = uploads_dir(workspace)
    incoming = root / _INCOMING
    incoming.mkdir(parents=True, exist_ok=True)
    prune_uploads(workspace)
    upload_id = new_upload_id()
    while (root / upload_id).exists():
        upload_id = new_upload_id()
    archive = incoming / f"{upload_id}.zip.part"
    try:
        size = _save_stream(stream, archive, limits, shown)
        if size == 0:
            raise UploadError(f"{shown} is empty")
        files, unpacked = extract_zip(archive, root / upload_id, limits, name=shown)
    finally:
        archive.unlink(missing_ok=True)
    folder = root / upload_id
    logger.info("upload %s: %s unpacked (%d files, %d bytes)", upload_id, shown, files, unpacked)
    return UploadedFolder(
        upload_id=upload_id,
        folder=folder,
        source=import_source(folder),
        filename=shown,
        files=files,
        unpacked_bytes=unpacked,
        archive_bytes=size,
    )


def extract_zip(
    archive: Path, dest: Path, limits: UploadLimits, *, name: str | None = None
) -> tuple[int, int]:
    """Unpack ``archive`` into the new folder ``dest``, all or nothing.

    Every entry is checked before anything is written; the files are written into a temporary
    folder next to ``dest`` that is renamed to ``dest`` only once complete.

    Args:
        archive: the zip file.
        dest: the folder to create (must not exist).
        limits: entry count and unpacked size limits.
        name: the archive's name for messages (default: the file's name).

    Returns:
        ``(files, bytes)`` unpacked.

    Raises:
        UploadError: the archive is refused or could not be unpacked; ``dest`` does not exist.
    """
    shown = name or archive.name
    if dest.exists():
        raise UploadError(f"{dest} already exists")
    tmp = dest.parent / _INCOMING / f"{dest.name}.tmp"
    try:
        return _unpack(archive, tmp, dest, limits, shown)
    except BaseException:  # whatever stops it (even Ctrl-C), no half-unpacked folder is left
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _unpack(
    archive: Path, tmp: Path, dest: Path, limits: UploadLimits, shown: str
) -> tuple[int, int]:
    """:func:`extract_zip` into ``tmp``, then renamed to ``dest``; every error zipfile raises
    on a forged or damaged archive becomes an :class:`UploadError` (the caller cleans up)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = check_members(zf.infolist(), limits, shown)
            _check_disk_space(dest.parent, sum(info.file_size for info, _ in members), shown)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            files, written = _write_members(zf, members, tmp, shown)
        _fsync_dir(tmp)
        tmp.rename(dest)
        _fsync_dir(dest.parent)
    except UploadError:
        raise
    except UnicodeDecodeError as exc:  # an entry flagged UTF-8 (bit 11) whose name is not
        raise UploadError(_not_utf8_name(shown, exc)) from None
    except zipfile.BadZipFile as exc:
        raise UploadError(f"{shown} is not a zip archive or is damaged ({_reason(exc)})") from None
    except NotImplementedError as exc:
        raise UploadError(f"{shown} uses a compression this app cannot read ({exc})") from None
    except zipfile.LargeZipFile as exc:
        raise UploadError(f"{shown} needs ZIP64 extensions this app cannot read ({exc})") from None
    except _DAMAGED_ERRORS as exc:
        raise UploadError(f"{shown} is damaged: {_reason(exc)}") from None
    except OSError as exc:
        raise UploadError(f"could not unpack {shown}: {exc.strerror or exc}") from None
    return files, written


def _not_utf8_name(shown: str, exc: UnicodeDecodeError) -> str:
    r"""The reason for an entry whose name is flagged UTF-8 but holds other bytes (shown as
    ``\xNN``)."""
    problem = f"{shown} holds an entry whose name is marked as UTF-8 but is not valid UTF-8"
    if isinstance(exc.object, bytes):
        problem += f" ({exc.object.decode('utf-8', errors='backslashreplace')[:200]})"
    return f"{problem}: refused"


def check_members(
    infos: Iterable[zipfile.ZipInfo], limits: UploadLimits, name: str = "the archive"
) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Check every entry of an archive and say where each one goes (relative path).

    Folder entries and archive tools' metadata (``__MACOSX/``, ``.DS_Store``) are left out of
    the result; folders are created as their files need them.

    Raises:
        UploadError: an entry is unsafe (absolute path, ``..``, symbolic link, special file,
            encrypted) or the archive exceeds the entry or unpacked-size limit.
    """
    infos = list(infos)
    if len(infos) > limits.max_entries:
        raise UploadError(
            f"{name} holds {len(infos):,} entries, more than the {limits.max_entries:,} allowed"
        )
    declared = sum(info.file_size for info in infos)
    if declared > limits.max_uncompressed_bytes:
        raise UploadError(
            f"{name} would unpack to {format_size(declared)}, more than the "
            f"{format_size(limits.max_uncompressed_bytes)} allowed (is it a zip bomb?)"
        )
    members: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
    seen: set[str] = set()
    for info in infos:
        relative = safe_member_path(info.filename, name)
        if relative is None:  # the archive's root (or an empty name: ``is_dir()`` fails on it)
            continue
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFLNK:
            raise UploadError(f"{name} holds a symbolic link ({info.filename!r}): refused")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise UploadError(f"{name} holds a special file ({info.filename!r}): refused")
        if info.is_dir() or kind == stat.S_IFDIR:
            continue
        if info.flag_bits & 0x1:
            raise UploadError(f"{name} is encrypted ({info.filename!r}): unpack it first")
        if _ignored(relative):
            continue
        key = relative.as_posix()
        if key in seen:
            raise UploadError(f"{name} holds {relative.as_posix()!r} twice")
        seen.add(key)
        members.append((info, relative))
    if not members:
        raise UploadError(f"{name} holds no file")
    return members


def safe_member_path(raw: str, name: str = "the archive") -> PurePosixPath | None:
    """The relative path an entry unpacks to (None for the archive's root itself).

    Backslashes count as separators (archives made on Windows); ``.`` components are dropped.

    Raises:
        UploadError: the name is absolute, has a drive letter or a ``..`` component, or holds
            control characters.
    """
    if _CONTROL.search(raw):
        raise UploadError(f"{name} holds an entry whose name has control characters: refused")
    text = raw.replace("\\", "/")
    if text.startswith("/") or _DRIVE.match(text):
        raise UploadError(f"{name} holds an entry with an absolute path ({raw!r}): refused")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UploadError(f"{name} holds an entry that points outside it ({raw!r}): refused")
    if not parts:
        return None
    return PurePosixPath(*parts)


def import_source(folder: Path) -> Path:
    """What to import from an unpacked upload: its only top-level folder, else itself."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return folder


def prune_uploads(workspace: Workspace, max_age_s: float = KEEP_UPLOADS_S) -> list[str]:
    """Remove unpacked uploads older than ``max_age_s`` and stale partial ones; their ids.

    The images of an import are copied into the project's store, so an upload is no longer
    needed once its import ran; a week leaves time for imports still waiting for a worker.
    """
    root = uploads_dir(workspace)
    removed: list[str] = []
    now = time.time()
    if not root.is_dir():
        return removed
    for path in root.iterdir():
        if not _UPLOAD_ID.match(path.name) or not path.is_dir() or path.is_symlink():
            continue
        try:
            age = now - path.stat().st_mtime
        except OSError:
            continue
        if age > max_age_s:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    incoming = root / _INCOMING
    if incoming.is_dir():
        for path in incoming.iterdir():  # left over by a crash during an upload
            try:
                stale = now - path.stat().st_mtime > 24 * 3600
            except OSError:
                continue
            if stale:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
    if removed:
        logger.info("removed %d old uploads", len(removed))
    return removed


# ---------------------------------------------------------------------- helpers
def _save_stream(stream: BinaryIO, path: Path, limits: UploadLimits, shown: str) -> int:
    """Copy ``stream`` to ``path`` (fsynced); refuse it once it passes the upload limit."""
    size = 0
    try:
        with path.open("wb") as out:
            while True:
                chunk = stream.read(CHUNK_BYTES)
                if not chunk:
                    break
                size += len(chunk)
                if size > limits.max_upload_bytes:
                    raise UploadTooLargeError(_too_large(shown, size, limits, at_least=True))
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        raise UploadError(f"could not save {shown}: {exc.strerror or exc}") from None
    return size


def _write_members(
    zf: zipfile.ZipFile,
    members: list[tuple[zipfile.ZipInfo, PurePosixPath]],
    root: Path,
    shown: str,
) -> tuple[int, int]:
    """Write the checked members under ``root``; counts the bytes actually written."""
    resolved_root = root.resolve()
    written_total = 0
    for info, relative in members:
        target = root.joinpath(*relative.parts)
        if not target.resolve().is_relative_to(resolved_root):  # belt and braces
            raise UploadError(f"{shown} holds an entry that points outside it: refused")
        target.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with zf.open(info) as src, target.open("xb") as out:
            while True:
                chunk = src.read(CHUNK_BYTES)
                if not chunk:
                    break
                written += len(chunk)
                if written > info.file_size:
                    raise UploadError(
                        f"{shown} is damaged or forged: {relative.as_posix()!r} unpacks to more "
                        "than its declared size"
                    )
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        written_total += written
    return len(members), written_total


def _check_disk_space(folder: Path, needed: int, shown: str) -> None:
    free = shutil.disk_usage(folder).free
    if needed + DISK_MARGIN_BYTES > free:
        raise UploadError(
            f"not enough disk space to unpack {shown}: it needs {format_size(needed)}, "
            f"{format_size(max(0, free - DISK_MARGIN_BYTES))} are free"
        )


def _ignored(relative: PurePosixPath) -> bool:
    text = relative.as_posix() + "/"
    return relative.name in IGNORED_NAMES or text.startswith(IGNORED_PREFIXES)


def _too_large(shown: str, size: int, limits: UploadLimits, at_least: bool = False) -> str:
    more = "more than " if at_least else ""
    return (
        f"{shown} is {more}{format_size(size)}: uploads are limited to "
        f"{format_size(limits.max_upload_bytes)} (settings.json: max_upload_mb)"
    )


def _display_name(filename: str) -> str:
    """The browser's file name, reduced to a short printable base name."""
    base = _CONTROL.sub("", filename.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return (base or "upload.zip")[:120]


def format_size(n: int) -> str:
    """A byte count for people: ``12.3 MB`` (powers of 1024, like ``max_upload_mb``)."""
    if n < 1024:
        return f"{n:,} bytes"
    value = n / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _reason(exc: BaseException) -> str:
    return str(exc).strip().rstrip(".") or type(exc).__name__


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
