"""Dataset format readers: each lists a source's candidate images and the files it skips.

A reader never opens an image; it resolves paths, checks that they stay inside the source,
and reads labels or values. :func:`read_source` picks the reader (``auto`` detects it).
"""

from __future__ import annotations

from aistudio.datasets.formats.base import (
    IMAGE_SUFFIXES,
    Candidate,
    ReadResult,
    Skip,
    SourceError,
    Target,
    check_label,
    escape_text,
    log_name,
)
from aistudio.datasets.formats.csvfile import read_csv
from aistudio.datasets.formats.detect import FORMATS, detect_format, read_source
from aistudio.datasets.formats.imagefolder import read_imagefolder

__all__ = [
    "FORMATS",
    "IMAGE_SUFFIXES",
    "Candidate",
    "ReadResult",
    "Skip",
    "SourceError",
    "Target",
    "check_label",
    "detect_format",
    "escape_text",
    "log_name",
    "read_csv",
    "read_imagefolder",
    "read_source",
]
