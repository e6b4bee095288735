"""The ``csv`` format: a CSV file naming images relative to its own folder.

```
filename,label          (classification)      filename,value        (regression)
images/001.png,cat                            images/001.png,0.25
images/002.png,dog                            images/002.png,3.5
```

The source is the CSV file, or a folder holding exactly one ``.csv`` file. The file is UTF-8
(a byte-order mark is allowed) with a header row. A malformed file (no or unknown header, a
header that is not UTF-8, a UTF-16 file, a row with another number of columns, bad quoting, a
value that is not a finite number) is a :class:`SourceError` naming the line: nothing is
imported from it. A row whose file cannot be taken (a row that is not UTF-8 text, absolute
path, a path leaving the CSV's folder, a missing file, a row repeating an earlier file, an
invalid label) is skipped with its reason; a name that is not UTF-8 is shown with ``\\xNN``
escapes (:func:`~aistudio.datasets.formats.base.log_name`).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

from aistudio.datasets.formats.base import (
    MAX_FILENAME,
    Candidate,
    ReadResult,
    Skip,
    SourceError,
    Target,
    check_label,
    escape_text,
    log_name,
)
from aistudio.workspace import is_within

logger = logging.getLogger(__name__)

FORMAT = "csv"
HEADERS: dict[tuple[str, str], Target] = {
    ("filename", "label"): "label",
    ("filename", "value"): "value",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEADER_HELP = "`filename,label` (classification) or `filename,value` (regression)"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_NOT_UTF8_ROW = "not UTF-8 text (save the CSV as UTF-8)"


def csv_files(folder: Path) -> list[Path]:
    """The visible ``.csv`` files directly inside ``folder``, sorted."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() == ".csv" and not p.name.startswith(".") and p.is_file()
    )


def looks_like_csv(source: Path) -> bool:
    """Whether ``source`` is a ``.csv`` file or a folder with exactly one at its top."""
    if source.is_file():
        return source.suffix.lower() == ".csv"
    return source.is_dir() and len(csv_files(source)) == 1


def find_csv(source: Path) -> Path:
    """The CSV file a source names: itself, or the only ``.csv`` file in the folder.

    Raises:
        SourceError: no CSV file, or more than one.
    """
    if source.is_file():
        return source
    if not source.is_dir():
        raise SourceError(f"{source} is neither a file nor a folder")
    try:
        found = csv_files(source)
    except OSError as exc:
        raise SourceError(f"cannot list {source}: {exc.strerror or exc}") from None
    if not found:
        raise SourceError(f"no .csv file in {source}")
    if len(found) > 1:
        names = ", ".join(p.name for p in found[:5])
        raise SourceError(f"{len(found)} .csv files in {source} ({names}): give the one to import")
    return found[0]


def _decode(csv_path: Path) -> str:
    """The CSV's text; bytes that are not UTF-8 are kept as surrogates (``surrogateescape``),
    so that the rows holding them can be skipped one by one (:func:`_not_utf8`).

    Raises:
        SourceError: the file cannot be read, or is UTF-16 (every row would be garbage).
    """
    try:
        raw = csv_path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read {csv_path}: {exc.strerror or exc}") from None
    if raw.startswith(_UTF16_BOMS):
        raise SourceError(f"{csv_path.name} is UTF-16: save it as UTF-8")
    return raw.decode("utf-8-sig", errors="surrogateescape")


def _not_utf8(row: list[str]) -> bool:
    """Whether a row held bytes that are not UTF-8 (decoded as surrogates)."""
    return any(escape_text(cell) != cell for cell in row)


def read_csv(source: Path, labelled: bool = True) -> ReadResult:
    """Read a CSV source.

    Args:
        source: the CSV file, or a folder holding exactly one.
        labelled: False: the label or value column is not read (tasks that import images
            without labels); the header must still be one of the two accepted.

    Returns:
        The candidates in row order, and the skipped rows with reasons.

    Raises:
        SourceError: no CSV, or a malformed one (the message names the line).
    """
    csv_path = find_csv(source)
    root = csv_path.resolve().parent
    text = _decode(csv_path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    where = csv_path.name
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise SourceError(f"{where}, line {reader.line_num}: bad CSV syntax ({exc})") from None
    rows = [(line, row) for line, row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise SourceError(f"{where} is empty: expected a header {_HEADER_HELP} and rows")
    header_line, header = rows[0]
    if _not_utf8(header):
        raise SourceError(f"{where}, line {header_line}: not UTF-8 text (save the CSV as UTF-8)")
    key = tuple(cell.strip().lower() for cell in header)
    target = HEADERS.get((key[0], key[1])) if len(key) == 2 else None
    if target is None:
        shown = ",".join(cell.strip() for cell in header)[:100]
        raise SourceError(
            f"{where}, line {header_line}: the header must be {_HEADER_HELP}, found `{shown}`"
        )
    result = ReadResult(format=FORMAT, target=target if labelled else None)
    seen: dict[Path, int] = {}
    for line, row in rows[1:]:
        if len(row) != 2:
            raise SourceError(
                f"{where}, line {line}: expected 2 columns (filename,{target}), found {len(row)}"
            )
        raw_name, raw_target = row[0].strip(), row[1]
        if not raw_name:
            raise SourceError(f"{where}, line {line}: the filename is empty")
        if _not_utf8(row):
            result.skipped.append(Skip(log_name(raw_name)[0], f"line {line}: {_NOT_UTF8_ROW}"))
            continue
        value: float | None = None
        if target == "value":
            value = _parse_value(raw_target, where, line)
        path, name, problem = _resolve(root, raw_name)
        if problem is None and path is not None:
            first = seen.get(path)
            if first is not None:
                problem = f"duplicate row: same file as line {first}"
            else:
                seen[path] = line
        label: str | None = None
        if problem is None and labelled and target == "label":
            label, label_problem = check_label(raw_target)
            if label_problem is not None:
                problem = f"invalid label: {label_problem}"
        if problem is not None or path is None:
            result.skipped.append(Skip(raw_name, f"line {line}: {problem}"))
            continue
        result.candidates.append(
            Candidate(path=path, name=name, label=label, value=value if labelled else None)
        )
    return result


def _parse_value(raw: str, where: str, line: int) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise SourceError(
            f"{where}, line {line}: value {raw.strip()[:40]!r} is not a number"
        ) from None
    if not math.isfinite(value):
        raise SourceError(f"{where}, line {line}: value {raw.strip()!r} is not a finite number")
    return value


def _resolve(root: Path, raw: str) -> tuple[Path | None, str, str | None]:
    """``(path, name, problem)`` of one filename cell, checked against ``root``."""
    if _CONTROL.search(raw):
        return None, raw, "file name contains control characters"
    posix = PurePosixPath(raw)
    if posix.is_absolute() or PureWindowsPath(raw).drive or raw.startswith("\\"):
        return None, raw, "absolute paths are not allowed (give a path relative to the CSV)"
    if ".." in posix.parts:
        return None, raw, "path leaves the CSV's folder (..)"
    name = posix.as_posix()
    if len(name) > MAX_FILENAME:
        return None, raw, f"file name longer than {MAX_FILENAME} characters"
    path = root / posix
    if not is_within(path, root):
        return None, raw, "path resolves outside the CSV's folder (symbolic link)"
    if not path.exists():
        return None, raw, "file not found"
    if not path.is_file():
        return None, raw, "not a file"
    return path.resolve(), name, None
