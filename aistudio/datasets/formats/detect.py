"""Which reader reads a source: explicit formats, and detection for ``format="auto"``."""

from __future__ import annotations

import logging
from pathlib import Path

from aistudio.datasets.formats.base import ReadResult, SourceError
from aistudio.datasets.formats.csvfile import csv_files, read_csv
from aistudio.datasets.formats.imagefolder import read_imagefolder

logger = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("imagefolder", "csv")
"""The formats this version reads (``ImportRequested.format`` besides ``auto``)."""


def detect_format(source: Path) -> str:
    """Guess the format of ``source``.

    * a ``.csv`` file → ``csv``;
    * a folder with exactly one visible ``.csv`` file at its top → ``csv``;
    * any other folder → ``imagefolder``, unless it holds several ``.csv`` files and no
      sub-folder (then the choice is the user's).

    Raises:
        SourceError: a file that is not a CSV, or an ambiguous folder.
    """
    if source.is_file():
        if source.suffix.lower() == ".csv":
            return "csv"
        raise SourceError(f"{source} is a file but not a .csv: give a folder or a CSV file")
    if not source.is_dir():
        raise SourceError(f"{source} is neither a file nor a folder")
    try:
        found = csv_files(source)
        has_folders = any(p.is_dir() and not p.name.startswith(".") for p in source.iterdir())
    except OSError as exc:
        raise SourceError(f"cannot list {source}: {exc.strerror or exc}") from None
    if len(found) == 1:
        return "csv"
    if len(found) > 1 and not has_folders:
        names = ", ".join(p.name for p in found[:5])
        raise SourceError(
            f"{source} holds {len(found)} .csv files ({names}) and no class folder: "
            "give the CSV file to import"
        )
    return "imagefolder"


def read_source(source: Path, fmt: str, labelled: bool = True) -> ReadResult:
    """Read ``source`` with the reader of ``fmt`` (``auto`` detects it).

    Args:
        source: the file or folder to import.
        fmt: ``auto``, ``imagefolder`` or ``csv``.
        labelled: whether labels or values are read (see the readers).

    Raises:
        SourceError: unknown format, or a source the reader cannot read.
    """
    chosen = detect_format(source) if fmt == "auto" else fmt
    if chosen == "imagefolder":
        return read_imagefolder(source, labelled=labelled)
    if chosen == "csv":
        return read_csv(source, labelled=labelled)
    raise SourceError(f"unknown format {fmt!r}: expected one of auto, {', '.join(FORMATS)}")
