"""The ``imagefolder`` format: one sub-folder per class, images inside (at any depth).

```
source/
  cat/001.jpg           label "cat"
  cat/indoor/002.png    label "cat" (deeper files belong to their top-level folder)
  dog/003.jpg           label "dog"
  notes.txt             skipped: not inside a class folder
```

Hidden files and folders (their name starts with ``.``) are ignored. Symbolic links to files
inside the source are followed; links pointing outside it, and links to folders, are skipped.
A file whose name, or a folder's name on its path, is not valid UTF-8 (the log cannot hold it)
is skipped, shown with ``\\xNN`` escapes: one skip per file, so that the counts stay counts of
files and each one can be found, the reason naming the folder at fault.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from aistudio.datasets.formats.base import (
    IMAGE_SUFFIXES,
    MAX_FILENAME,
    Candidate,
    ReadResult,
    Skip,
    SourceError,
    check_label,
    log_name,
)
from aistudio.workspace import is_within

logger = logging.getLogger(__name__)

FORMAT = "imagefolder"


def read_imagefolder(source: Path, labelled: bool = True) -> ReadResult:
    """List the images of an image folder.

    Args:
        source: the folder.
        labelled: True: each image's label is its top-level folder's name, and files at the
            top level are skipped. False: labels are not read and top-level files are taken.

    Returns:
        The candidates (depth first, names sorted) and the skipped files with reasons.

    Raises:
        SourceError: ``source`` is not a folder that can be listed.
    """
    root = source.resolve()
    if not root.is_dir():
        raise SourceError(f"{source} is not a folder (an image folder has one folder per class)")
    result = ReadResult(format=FORMAT, target="label" if labelled else None)
    try:
        top = _scan(root)
    except OSError as exc:
        raise SourceError(f"cannot list {source}: {exc.strerror or exc}") from None
    stack: list[tuple[os.DirEntry[str], str]] = [(entry, "") for entry in reversed(top)]
    while stack:
        entry, parent = stack.pop()
        name = f"{parent}/{entry.name}" if parent else entry.name
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            try:
                children = _scan(Path(entry.path))
            except OSError as exc:
                result.skipped.append(
                    Skip(name + "/", f"cannot list folder: {exc.strerror or exc}")
                )
                continue
            stack.extend((child, name) for child in reversed(children))
            continue
        _take_file(root, entry, name, labelled, result)
    return result


def _scan(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return sorted(entries, key=lambda e: e.name)


def _take_file(
    root: Path, entry: os.DirEntry[str], name: str, labelled: bool, result: ReadResult
) -> None:
    path = Path(entry.path)
    shown, unstorable = log_name(name)
    if unstorable is not None:
        result.skipped.append(Skip(shown, unstorable))
        return
    if entry.is_symlink():
        if not is_within(path, root):
            result.skipped.append(Skip(name, "symbolic link pointing outside the source folder"))
            return
        if path.is_dir():
            result.skipped.append(Skip(name, "symbolic link to a folder (not followed)"))
            return
    if not entry.is_file():
        reason = "broken symbolic link" if entry.is_symlink() else "not a regular file"
        result.skipped.append(Skip(name, reason))
        return
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        shown = f"extension {suffix}" if suffix else "no extension"
        result.skipped.append(Skip(name, f"not an image file ({shown})"))
        return
    if len(name) > MAX_FILENAME:
        result.skipped.append(Skip(name, f"file name longer than {MAX_FILENAME} characters"))
        return
    label: str | None = None
    if labelled:
        if "/" not in name:
            result.skipped.append(Skip(name, "not inside a class folder"))
            return
        label, problem = check_label(name.split("/", 1)[0])
        if problem is not None:
            result.skipped.append(Skip(name, f"class folder name is not a valid label: {problem}"))
            return
    result.candidates.append(Candidate(path=path, name=name, label=label))
