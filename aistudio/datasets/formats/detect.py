"""Which reader reads a source: explicit formats, and detection for ``format="auto"``."""

from __future__ import annotations

import logging
from pathlib import Path

from aistudio.datasets.formats.base import ReadResult, SourceError
from aistudio.datasets.formats.csvfile import csv_files
from aistudio.datasets.formats.registry import FORMATS as REGISTRY

logger = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = tuple(REGISTRY)
"""The formats this version reads (``ImportRequested.format`` besides ``auto``)."""

_FILE_FORMATS = {".json": "coco", ".csv": "csv", ".yaml": "yolo", ".yml": "yolo"}


def detect_format(source: Path) -> str:
    """Guess the format of ``source``.

    * a file: ``.json`` → ``coco``, ``.csv`` → ``csv``, ``.yaml``/``.yml`` → ``yolo``;
    * a folder: the first format whose layout it has, in the registry's order (a COCO JSON at
      its top, VOC's ``Annotations/``, YOLO's ``data.yaml``, exactly one ``.csv``); else
      ``imagefolder``, unless it holds several ``.csv`` files and no sub-folder (then the
      choice is the user's).

    Raises:
        SourceError: a file of another kind, or an ambiguous folder.
    """
    if source.is_file():
        chosen = _FILE_FORMATS.get(source.suffix.lower())
        if chosen is None:
            raise SourceError(
                f"{source} is a file of none of the formats read (a COCO .json, a .csv or a "
                "YOLO data.yaml): give a folder or one of those"
            )
        return chosen
    if not source.is_dir():
        raise SourceError(f"{source} is neither a file nor a folder")
    try:
        for spec in REGISTRY.values():
            if spec.sniff(source):
                return spec.name
        found = csv_files(source)
        has_folders = any(p.is_dir() and not p.name.startswith(".") for p in source.iterdir())
    except OSError as exc:
        raise SourceError(f"cannot list {source}: {exc.strerror or exc}") from None
    if len(found) > 1 and not has_folders:
        names = ", ".join(p.name for p in found[:5])
        raise SourceError(
            f"{source} holds {len(found)} .csv files ({names}) and no class folder: "
            "give the CSV file to import"
        )
    return "imagefolder"


def read_source(
    source: Path, fmt: str, labelled: bool = True, kind: str | None = None
) -> ReadResult:
    """Read ``source`` with the reader of ``fmt`` (``auto`` detects it).

    Args:
        source: the file or folder to import.
        fmt: ``auto`` or one of :data:`FORMATS`.
        labelled: whether annotations (labels, values, boxes, instances) are read (see the
            readers).
        kind: the annotation kind wanted (``instances``: COCO's and YOLO's instance readers),
            or None for the format's usual reader.

    Raises:
        SourceError: unknown format, or a source the reader cannot read.
    """
    chosen = detect_format(source) if fmt == "auto" else fmt
    spec = REGISTRY.get(chosen)
    if spec is None:
        raise SourceError(f"unknown format {fmt!r}: expected one of auto, {', '.join(FORMATS)}")
    result: ReadResult = spec.read(source, labelled, kind)
    return result
