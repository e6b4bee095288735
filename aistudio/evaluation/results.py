"""The evaluation's files: per-image results (JSON lines) and the report (JSON).

Each file is written completely (temporary name, fsync, rename, folder fsync) before the event
that names it is appended; the event carries each file's name relative to the experiment's
folder, its sha256 and its size (``FileRef``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from aistudio.training.checkpoints import SavedFile, save_atomically


def write_results(path: Path, rows: Iterable[dict[str, Any]]) -> SavedFile:
    """Write ``rows`` to ``path`` as JSON lines (one compact object per line), atomically."""

    def write(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            for row in rows:
                handle.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))

    return save_atomically(write, [path])


def write_report(path: Path, report: dict[str, Any]) -> SavedFile:
    """Write ``report`` to ``path`` as one JSON object, atomically."""
    data = orjson.dumps(report)

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    return save_atomically(write, [path])


def read_results(data: bytes) -> list[dict[str, Any]]:
    """The rows of a results file's bytes."""
    return [orjson.loads(line) for line in data.splitlines() if line]


def file_ref(saved: SavedFile, folder: Path) -> dict[str, Any]:
    """The ``FileRef`` data of ``saved``: its name relative to ``folder`` (``/``-separated).

    Raises:
        ValueError: the file does not lie inside ``folder``.
    """
    name = saved.path.relative_to(folder).as_posix()
    return {"name": name, "sha256": saved.sha256, "size_bytes": saved.size_bytes}


def clean_temp_files(folder: Path) -> None:
    """Remove the temporary files a killed evaluation left in ``folder``."""
    if folder.is_dir():
        for leftover in folder.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
