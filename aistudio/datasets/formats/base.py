"""What every format reader returns: candidate images, skipped files with reasons."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from events.schemas.common import Label

Target = Literal["label", "value", "boxes", "instances", "semantic"]
"""What a source gives each image (an annotation kind of DESIGN §3b): a class label
(classification), a value (regression), boxes (detection), instances (instance
segmentation: each object's outline or mask) or a class mask (semantic segmentation)."""

IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {
        # stored formats
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp",
        # recognised, so that they are refused by content with a clear reason
        ".gif", ".ico", ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".jp2", ".j2k",
        ".heic", ".heif", ".avif", ".psd", ".svg", ".dng", ".cr2", ".nef",
    }
)  # fmt: skip
"""File suffixes an image folder treats as images; others are skipped with a reason."""

MAX_FILENAME = 1024
"""The longest relative file name an image record keeps (``ImageRecord.filename``)."""

MAX_SKIP_PATH = 4096

_LABEL: TypeAdapter[str] = TypeAdapter(Label)
_SURROGATE = re.compile("[\ud800-\udfff]")
_RENAME_HINT = "shown with \\x escapes; rename it to import it"


def escape_text(text: str) -> str:
    r"""``text`` as the log can store it: bytes of a name that are not UTF-8 as ``\xNN``.

    On Linux a file name is bytes; Python gives a name that is not valid UTF-8 as a ``str``
    holding lone surrogates (``surrogateescape``: byte 0xE9 becomes U+DCE9), which the UTF-8
    JSON log cannot hold. Each such character is written as the escape of the byte it stands
    for (``caf\udce9.png`` → ``caf\xe9.png``, as ``bytes.decode(errors="backslashreplace")``
    shows it); any other lone surrogate as ``\udXXX``. Text without surrogates is returned
    unchanged.
    """
    return _SURROGATE.sub(_escape_surrogate, text)


def _escape_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def log_name(name: str) -> tuple[str, str | None]:
    r"""A relative file name (``/``-separated) made safe for the log, or why it cannot be.

    The one check every reader applies before a name from the disk becomes event data (an
    image's ``filename``, a skip's ``path``, a label taken from a folder's name).

    Returns:
        ``(name, None)`` when the name can be stored as it is; else ``(shown, reason)``:
        ``shown`` is the name with :func:`escape_text` escapes (``blue/caf\xe9.png``) and
        ``reason`` says which part is not UTF-8 (the file's name, or the folder's).
    """
    if _SURROGATE.search(name) is None:
        return name, None
    *folders, last = name.rstrip("/").split("/")
    bad = [part for part in folders if _SURROGATE.search(part) is not None]
    if name.endswith("/") and _SURROGATE.search(last) is not None:
        bad.append(last)
    if bad:
        problem = f"folder name {escape_text(bad[0])} is not valid UTF-8"
    else:
        problem = "file name is not valid UTF-8"
    return escape_text(name), f"{problem} ({_RENAME_HINT})"


class SourceError(ValueError):
    """The source as a whole cannot be read (missing, unreadable, malformed); for the user."""


@dataclass(frozen=True, slots=True)
class RawBox:
    """One box as a source gives it, already in pixels of the upright image (``x1, y1`` the
    top-left corner, ``x2, y2`` the bottom-right, x right, y down), before any check.

    Readers convert their convention (COCO ``x, y, w, h``; VOC's 1-based corners; YOLO's
    normalised centres) into this; :func:`aistudio.datasets.formats.boxes.finish_boxes` clips,
    refuses and turns a list of them into a ``boxes`` annotation.

    Attributes:
        label: the object's class name, as the source names it (already mapped from ids).
        where: how a skip names the object in its source (``annotation id 17``, ``line 3``).
        difficult: VOC's flag; crowd: COCO's ``iscrowd``.
    """

    label: str
    x1: float
    y1: float
    x2: float
    y2: float
    where: str
    difficult: bool = False
    crowd: bool = False


@dataclass(frozen=True, slots=True)
class RawInstance:
    """One object of an instance segmentation source, in pixels of the upright image, before
    any check: its outline (polygons) or its mask (a COCO RLE), and its box when the source
    gives one.

    Readers only convert conventions (YOLO's normalised polygons to pixels) and check the
    shape of what they read (numbers, lists, an RLE's keys);
    :func:`aistudio.datasets.formats.masks.finish_instances` checks the geometry (points,
    self-intersections, the image's frame, the RLE's size), derives missing boxes and turns a
    list of them into an ``instances`` annotation.

    Attributes:
        label: the object's class name, as the source names it (already mapped from ids).
        where: how a skip names the object in its source (``annotation id 17``, ``line 3``).
        box: ``(x1, y1, x2, y2)`` corners when the source gives a box (COCO's ``bbox``), else
            None: the box is derived from the outline or the mask.
        polygons: flat ``(x1, y1, x2, y2, …)`` outlines in pixels (several for an object in
            parts), or None.
        rle: a COCO run-length encoding as the source gives it (``{"size": [h, w], "counts":
            [...] or "..."}``), or None. Exactly one of ``polygons`` and ``rle`` is set;
            neither: the source gives the object no shape (refused).
        crowd: COCO's ``iscrowd``: a region of many objects, kept as an area that evaluation
            ignores, never trained as one object.
    """

    label: str
    where: str
    box: tuple[float, float, float, float] | None = None
    polygons: tuple[tuple[float, ...], ...] | None = None
    rle: Mapping[str, Any] | None = None
    crowd: bool = False


ObjectsAt = Callable[[int, int], Sequence[RawBox] | Sequence[RawInstance] | Any]
"""A candidate's objects, given the upright image's ``(width, height)`` once it is inspected
(YOLO's normalised coordinates need them; other readers ignore them): boxes for a ``boxes``
listing, instances for an ``instances`` one, a
:class:`~aistudio.datasets.formats.semantic.RawSemantic` (its class mask) for a ``semantic``
one. It may raise :class:`ObjectsError` when what the source says about this image cannot be
used."""


class ObjectsError(ValueError):
    """What a source says about one image's objects cannot be used; the image is skipped."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One file a reader proposes to import.

    Attributes:
        path: where the file is on this machine (inside the source folder).
        name: its name relative to the source folder, with ``/`` (kept as the image's filename).
        label: its class label, when the source gives labels.
        value: its regression value, when the source gives values.
        objects: its objects, when the source gives boxes or instances (an empty list: a
            negative), or its class mask (semantic segmentation).
        subset: the subset (``train``, ``val``, ``test``) the source puts it in, if any.
    """

    path: Path
    name: str
    label: str | None = None
    value: float | None = None
    objects: ObjectsAt | None = None
    subset: str | None = None


@dataclass(frozen=True, slots=True)
class Skip:
    """One file (or CSV row) a reader or the import did not take, and why."""

    path: str
    reason: str

    def as_data(self) -> dict[str, str]:
        """The ``SkippedItem`` data of this skip.

        Lengths are clipped to the schema's limits, and text that is not UTF-8 (a name from
        the disk, an OS error quoting it) is escaped (:func:`escape_text`): a skip can always
        be stored.
        """
        path, reason = escape_text(self.path), escape_text(self.reason)
        path = path if len(path) <= MAX_SKIP_PATH else path[: MAX_SKIP_PATH - 1] + "…"
        reason = reason if len(reason) <= 500 else reason[:499] + "…"
        return {"path": path, "reason": reason}


@dataclass
class ReadResult:
    """What a reader found in a source.

    Attributes:
        format: the format read (``imagefolder``, ``csv``, ``coco``, …).
        target: what the candidates carry (``label``, ``value``, ``boxes``, ``instances``,
            ``semantic``), or None for unlabelled reads.
        candidates: the files to import, in a stable order.
        skipped: files left out, each with its reason.
        classes: the source's own class list in its order (COCO's categories, YOLO's names),
            when it has one; the project's list gains the new ones in this order.
    """

    format: str
    target: Target | None
    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    classes: list[str] | None = None


def check_label(raw: str) -> tuple[str | None, str | None]:
    """Validate a class label against the events' ``Label`` type.

    Returns:
        ``(label, None)`` with the label as stored (surrounding spaces removed), or
        ``(None, reason)``.
    """
    try:
        return _LABEL.validate_python(raw), None
    except ValidationError:
        stripped = raw.strip()
        if not stripped:
            return None, "empty label"
        if len(stripped) > 100:
            return None, f"label longer than 100 characters ({len(stripped)})"
        return None, f"label {stripped[:40]!r} contains control characters"
