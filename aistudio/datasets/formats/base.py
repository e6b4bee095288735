"""What every format reader returns: candidate images, skipped files with reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import TypeAdapter, ValidationError

from events.schemas.common import Label

Target = Literal["label", "value"]
"""What a source gives each image: a class label (classification) or a value (regression)."""

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


class SourceError(ValueError):
    """The source as a whole cannot be read (missing, unreadable, malformed); for the user."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One file a reader proposes to import.

    Attributes:
        path: where the file is on this machine (inside the source folder).
        name: its name relative to the source folder, with ``/`` (kept as the image's filename).
        label: its class label, when the source gives labels.
        value: its regression value, when the source gives values.
    """

    path: Path
    name: str
    label: str | None = None
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Skip:
    """One file (or CSV row) a reader or the import did not take, and why."""

    path: str
    reason: str

    def as_data(self) -> dict[str, str]:
        """The ``SkippedItem`` data of this skip (lengths clipped to the schema's limits)."""
        path = (
            self.path if len(self.path) <= MAX_SKIP_PATH else self.path[: MAX_SKIP_PATH - 1] + "…"
        )
        reason = self.reason if len(self.reason) <= 500 else self.reason[:499] + "…"
        return {"path": path, "reason": reason}


@dataclass
class ReadResult:
    """What a reader found in a source.

    Attributes:
        format: the format read (``imagefolder``, ``csv``).
        target: what the candidates carry (``label``, ``value``), or None for unlabelled reads.
        candidates: the files to import, in a stable order.
        skipped: files left out, each with its reason.
    """

    format: str
    target: Target | None
    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)


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
