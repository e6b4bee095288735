"""The ``yolo`` format: Ultralytics' detection layout, a ``data.yaml`` and one text file an image.

```
source/                        (or the YAML file itself)
  data.yaml                    names: [cat, dog]            (or {0: cat, 1: dog})
                               path: .                      (optional, see below)
                               train: images/train          (a folder, a .txt list, or a list
                               val: images/val               of them; at least one of the
                               test: images/test             three)
  images/train/001.jpg
  labels/train/001.txt         one object a line, "cls cx cy w h", normalised to 0..1
```

**Where things are.** ``train``, ``val`` and ``test`` are relative to ``path`` when it is given
(itself relative to the YAML's folder), else to the YAML's folder. A folder entry takes every
image under it (at any depth, names sorted); a ``.txt`` entry lists one image a line, relative
to the list's own folder (``./images/a.jpg``) or absolute. Nothing outside the YAML's folder is
read: an entry (or ``path``) that leaves it is a :class:`SourceError` naming the key, a list
line that leaves it a listed skip. Like Ultralytics, an entry starting with ``../`` that leaves
the folder, or names nothing, is also tried without that ``../`` (Roboflow's exports say
``train: ../train/images`` beside a ``train/images`` folder). An entry naming nothing is a
:class:`SourceError` (a typo in the YAML must not import half a dataset quietly).

**Labels.** The label file of an image is its path with the **last** ``/images/`` replaced by
``/labels/`` and the suffix by ``.txt`` (case matters, as in Ultralytics); without an ``images``
folder on its path the label file lies beside the image (Darknet's layout). An image with no
label file, or an empty one, is a **negative** (no object) — Ultralytics' convention. A line is

- ``cls cx cy w h``: a box, its centre and size normalised by the image's width and height;
- ``cls x1 y1 x2 y2 x3 y3 …`` (more than 5 numbers, three or more ``x y`` pairs): a polygon
  (segmentation labels, or YOLO-OBB's four corners), of which detection takes the bounding
  box; the polygon itself is for the instance segmentation reader;
- with ``kpt_shape: [k, d]`` in the YAML (a pose dataset), ``cls cx cy w h`` and ``k * d``
  keypoint numbers, of which the box is taken.

``cls`` is an index into ``names``. Blank lines are ignored; a line repeating an earlier one
exactly is dropped with a warning (as Ultralytics does).

**Instance segmentation** (:func:`read_yolo_instances`, Ultralytics' segmentation layout): each
line is ``cls x1 y1 x2 y2 x3 y3 …``, an object's outline normalised by the image's width and
height (YOLO-OBB's four corners are one too); it becomes a polygon in pixels and the object's
box is derived from it
(:func:`~aistudio.datasets.formats.masks.finish_instances` checks and clips it). The kind of a
line is told by its count of numbers, line by line: a box line (``cls cx cy w h``) gives no
outline, so a label file mixing box and outline lines is a listed skip naming the first box
line (a rectangle is not the object's mask, and dropping the object would teach the model it
is background). A dataset whose label files hold box lines and no outline at all is refused as
a whole (it is a detection dataset), and so is a pose dataset (``kpt_shape``: its lines are
boxes and keypoints). Coordinates are converted to pixels
(``x1 = (cx - w / 2) * width`` …) when the image's size is known and not checked here:
:func:`~aistudio.datasets.formats.boxes.finish_boxes` clips the slightly-out and refuses the
absurd.

**Bad input.** Label files are read and parsed when the source is read: an image whose label
file cannot be used (a line with another number of fields, a value that is not a finite number,
a class that is not an integer, negative or beyond ``names``; a file over 10 MiB, unreadable,
not a regular file or a link leaving the folder) is a listed skip naming the image, its reason
naming the label file and line (``labels/train/x.txt line 3: …``). The objects callable of a
candidate therefore never raises :class:`~aistudio.datasets.formats.base.ObjectsError`. A label
file no image has is a listed skip too, and so is an image listed by two entries (the first
keeps it) or two images sharing one label file (``a.jpg`` and ``a.png``: the first keeps it).
Names that are not UTF-8 are shown with ``\\xNN`` escapes
(:func:`~aistudio.datasets.formats.base.log_name`); hidden files and folders are ignored;
symbolic links leaving the folder, and links to folders, are skipped.

**Security.** The YAML is parsed with ``yaml.safe_load`` only (no tags, no code), at most
1 MiB. Its ``download:`` key, which Ultralytics executes (a URL fetched, ``bash …`` run, or
Python ``exec``-ed), is **ignored** with a warning: the result is the same with or without it.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal, NamedTuple

import yaml

from aistudio.datasets.formats.base import (
    IMAGE_SUFFIXES,
    MAX_FILENAME,
    Candidate,
    RawBox,
    RawInstance,
    ReadResult,
    Skip,
    SourceError,
    check_label,
    log_name,
)
from aistudio.workspace import is_within

logger = logging.getLogger(__name__)

FORMAT = "yolo"
YAML_NAMES = ("data.yaml", "data.yml")
"""The names of the dataset description at the top of a source folder, in order of preference."""
YAML_SUFFIXES = frozenset({".yaml", ".yml"})
SUBSETS = ("train", "val", "test")
"""The YAML keys naming images, in the order they are read; each is the candidates' subset."""
MAX_YAML_BYTES = 1 << 20
"""The largest ``data.yaml`` read (a real one is a few hundred bytes)."""
MAX_LABEL_BYTES = 10 << 20
"""The largest label file read (an image with 10 MiB of objects is not a label file)."""
MAX_LIST_BYTES = 64 << 20
"""The largest ``.txt`` list of images read (a million paths of 60 characters)."""

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_IGNORED_SUFFIXES = frozenset({".cache"})  # Ultralytics' label caches (labels/train.cache)


# ----------------------------------------------------------------------------- objects
@dataclass(frozen=True, slots=True)
class _NormBox:
    """One object of a label file: its class name and corners normalised to 0..1."""

    label: str
    x1: float
    y1: float
    x2: float
    y2: float
    where: str


@dataclass(frozen=True, slots=True)
class YoloObjects:
    """The ``ObjectsAt`` of one image: its label file's objects, parsed when the source was
    read, scaled to the image's pixels. It never raises (bad files are skipped when read); it
    is a plain dataclass so that it can be pickled to another process."""

    boxes: tuple[_NormBox, ...] = ()

    def __call__(self, width: int, height: int) -> list[RawBox]:
        """The objects in pixels of a ``width x height`` image (an empty list: a negative)."""
        return [
            RawBox(b.label, b.x1 * width, b.y1 * height, b.x2 * width, b.y2 * height, b.where)
            for b in self.boxes
        ]


@dataclass(frozen=True, slots=True)
class _NormPolygon:
    """One outline of a segmentation label file: its class name and normalised points."""

    label: str
    points: tuple[float, ...]
    where: str


@dataclass(frozen=True, slots=True)
class YoloInstances:
    """The ``ObjectsAt`` of one image of an instance segmentation import: its label file's
    outlines, parsed when the source was read, scaled to the image's pixels (picklable, and it
    never raises, as :class:`YoloObjects`)."""

    outlines: tuple[_NormPolygon, ...] = ()

    def __call__(self, width: int, height: int) -> list[RawInstance]:
        """The outlines in pixels of a ``width x height`` image (empty: a negative); their
        boxes are derived from them."""
        found = []
        for outline in self.outlines:
            points = outline.points
            pixels = [0.0] * len(points)
            pixels[0::2] = [x * width for x in points[0::2]]
            pixels[1::2] = [y * height for y in points[1::2]]
            found.append(RawInstance(outline.label, outline.where, polygons=(tuple(pixels),)))
        return found


def _numbers(fields: list[str]) -> tuple[list[float] | None, str | None]:
    numbers: list[float] = []
    for text in fields:
        if _NUMBER.match(text) is None:
            return None, f"{_shown_text(text)} is not a number"
        number = float(text)
        if not math.isfinite(number):
            return None, f"{_shown_text(text)} is not a finite number"
        numbers.append(number)
    return numbers, None


BOX_LINE = "a box line (cls cx cy w h), not an outline"
"""The start of the reason of a box line in an instance segmentation label file."""


def parse_outline(
    fields: list[str], classes: list[str]
) -> tuple[tuple[int, tuple[float, ...]] | None, str | None]:
    """One segmentation label line, split on white space: ``(class index, points)`` with the
    points normalised (``x1, y1, x2, y2, …``), or ``(None, reason)``.

    A box line (5 numbers) is refused with a reason starting with :data:`BOX_LINE`.
    """
    count = len(fields)
    if count == 5:
        return None, (
            f"{BOX_LINE}: each object of an instance segmentation dataset needs its outline, "
            "cls x1 y1 x2 y2 x3 y3 … (normalised)"
        )
    if count < 7 or count % 2 == 0:
        return None, (
            f"found {count} numbers: an outline line is a class and 3 or more x y pairs "
            "(cls x1 y1 x2 y2 x3 y3 …, an odd count, at least 7)"
        )
    numbers, problem = _numbers(fields)
    if numbers is None:
        return None, problem
    problem = _class_problem(fields[0], numbers[0], len(classes))
    if problem is not None:
        return None, problem
    return (int(numbers[0]), tuple(numbers[1:])), None


class ParsedInstances(NamedTuple):
    """What :func:`parse_instance_labels` found in one label file.

    Attributes:
        objects: its outlines (empty: a negative), or None when the file cannot be used.
        reason: why not (the first bad line and how many more), or None.
        box_lines: its box lines (``cls cx cy w h``), refused.
        outline_lines: its outline lines, good or not.
    """

    objects: YoloInstances | None
    reason: str | None
    box_lines: int
    outline_lines: int


def parse_instance_labels(text: str, where: str, classes: list[str]) -> ParsedInstances:
    """A segmentation label file's outlines, or why the file cannot be used.

    Args:
        text: the file's text.
        where: the file's name relative to the source, for reasons and each object's ``where``.
        classes: the dataset's class names, by index.

    Returns:
        The outlines, or the reason naming the first bad line, and the counts of box and
        outline lines (a dataset of boxes only is refused as a whole).
    """
    outlines: list[_NormPolygon] = []
    seen: set[tuple[int, tuple[float, ...]]] = set()
    problems: list[str] = []
    box_lines = outline_lines = repeated = 0
    for number, line in enumerate(text.split("\n"), start=1):
        fields = line.split()
        if not fields:
            continue
        box_lines += len(fields) == 5
        outline_lines += len(fields) != 5
        outline, problem = parse_outline(fields, classes)
        if outline is None:
            problems.append(f"{where} line {number}: {problem}")
            continue
        if outline in seen:
            repeated += 1
            continue
        seen.add(outline)
        index, points = outline
        outlines.append(_NormPolygon(classes[index], points, f"{where} line {number}"))
    if problems:
        extra = len(problems) - 1
        more = f" (and {extra} more bad line{'s' if extra > 1 else ''})" if extra else ""
        return ParsedInstances(None, problems[0] + more, box_lines, outline_lines)
    if repeated:
        logger.warning("%s: %d repeated line(s) dropped", where, repeated)
    return ParsedInstances(YoloInstances(tuple(outlines)), None, box_lines, outline_lines)


def parse_line(
    fields: list[str], classes: list[str], keypoint_fields: int | None = None
) -> tuple[tuple[int, float, float, float, float] | None, str | None]:
    """One label line, split on white space, as ``(class index, x1, y1, x2, y2)`` normalised.

    Args:
        fields: the line's fields (at least one).
        classes: the dataset's class names (the class index must be one of theirs).
        keypoint_fields: the number of fields of a pose line (``5 + k * d``), or None.

    Returns:
        ``(box, None)``, or ``(None, reason)`` naming what is wrong with the line.
    """
    count = len(fields)
    if keypoint_fields is not None and count != keypoint_fields:
        return None, (
            f"expected {keypoint_fields} numbers (cls cx cy w h and the keypoints of "
            f"kpt_shape), found {count}"
        )
    if count < 5:
        return None, f"expected 5 numbers (cls cx cy w h), found {count}"
    if keypoint_fields is None and count > 5 and count % 2 == 0:
        return None, (
            f"found {count} numbers: a box has 5 (cls cx cy w h), a polygon a class and "
            "pairs of x y (an odd count, at least 7)"
        )
    parsed, problem = _numbers(fields)
    if parsed is None:
        return None, problem
    numbers = parsed
    problem = _class_problem(fields[0], numbers[0], len(classes))
    if problem is not None:
        return None, problem
    index = int(numbers[0])
    if count == 5 or keypoint_fields is not None:
        cx, cy, w, h = numbers[1:5]
        return (index, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), None
    xs, ys = numbers[1::2], numbers[2::2]
    return (index, min(xs), min(ys), max(xs), max(ys)), None


def _class_problem(text: str, value: float, count: int) -> str | None:
    if not value.is_integer():
        return f"class {text} is not an integer"
    if value < 0:
        return f"class {text} is negative"
    if value >= count:
        return f"class {int(value)} is out of range (data.yaml names {count}: 0-{count - 1})"
    return None


def parse_labels(
    text: str, where: str, classes: list[str], keypoint_fields: int | None = None
) -> tuple[YoloObjects | None, str | None]:
    """A label file's objects, or why the file cannot be used.

    Args:
        text: the file's text.
        where: the file's name relative to the source (``labels/train/x.txt``), for reasons
            and for each object's ``where``.
        classes: the dataset's class names, by index.
        keypoint_fields: see :func:`parse_line`.

    Returns:
        ``(objects, None)`` (no object: a negative), or ``(None, reason)`` naming the first
        bad line and how many more there are.
    """
    boxes: list[_NormBox] = []
    seen: set[tuple[int, float, float, float, float]] = set()
    problems: list[str] = []
    repeated = 0
    for number, line in enumerate(text.split("\n"), start=1):
        fields = line.split()
        if not fields:
            continue
        box, problem = parse_line(fields, classes, keypoint_fields)
        if box is None:
            problems.append(f"{where} line {number}: {problem}")
            continue
        if box in seen:
            repeated += 1
            continue
        seen.add(box)
        index, x1, y1, x2, y2 = box
        boxes.append(_NormBox(classes[index], x1, y1, x2, y2, f"{where} line {number}"))
    if problems:
        extra = len(problems) - 1
        more = f" (and {extra} more bad line{'s' if extra > 1 else ''})" if extra else ""
        return None, problems[0] + more
    if repeated:
        logger.warning("%s: %d repeated line(s) dropped", where, repeated)
    return YoloObjects(tuple(boxes)), None


def label_name(image_name: str) -> str:
    """The label file of an image, both relative to the source: the last ``images/`` folder
    of its path becomes ``labels/`` (none: the file beside the image) and its suffix ``.txt``.
    """
    path = "/" + image_name
    cut = path.rfind("/images/")
    if cut >= 0:
        path = path[:cut] + "/labels/" + path[cut + len("/images/") :]
    return PurePosixPath(path[1:]).with_suffix(".txt").as_posix()


def labels_folder(folder: str) -> str | None:
    """The folder holding the label files of the images under ``folder`` (both relative to
    the source, ``""`` for the source itself), or None when they lie beside the images."""
    path = "/" + folder + "/" if folder else "/"
    cut = path.rfind("/images/")
    if cut < 0:
        return None
    return (path[:cut] + "/labels/" + path[cut + len("/images/") :]).strip("/")


def _could_be_label(name: str) -> bool:
    """Whether a ``.txt`` file could be some image's label file (no ``images`` folder above)."""
    return "images" not in name.split("/")[:-1]


def _shown_text(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _shown(value: Any) -> str:
    """A YAML value in a message, bounded (a value may be a huge or aliased structure)."""
    if isinstance(value, str):
        return _shown_text(value)
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    return f"a {type(value).__name__}"


# ----------------------------------------------------------------------------- the YAML
def looks_like_yolo(source: Path) -> bool:
    """Whether ``source`` is a YAML file, or a folder with ``data.yaml`` (or ``data.yml``) at
    its top (cheap: nothing is parsed)."""
    try:
        if source.is_file():
            return source.suffix.lower() in YAML_SUFFIXES
        return source.is_dir() and any((source / name).is_file() for name in YAML_NAMES)
    except OSError:
        return False


def find_yaml(source: Path) -> tuple[Path, Path]:
    """``(yaml file, root)`` of a source: the YAML file and the folder nothing leaves.

    Raises:
        SourceError: no ``data.yaml``, or a file that is not YAML.
    """
    try:
        if source.is_file():
            if source.suffix.lower() not in YAML_SUFFIXES:
                raise SourceError(f"{source} is not a YAML file (a YOLO dataset has a data.yaml)")
            path = source.resolve()
            return path, path.parent
        if not source.is_dir():
            raise SourceError(f"{source} is neither a file nor a folder")
        root = source.resolve()
        found = [root / name for name in YAML_NAMES if (root / name).is_file()]
    except OSError as exc:
        raise SourceError(f"cannot read {source}: {exc.strerror or exc}") from None
    if found:
        if not is_within(found[0], root):
            raise SourceError(f"{found[0].name} is a symbolic link pointing outside {source}")
        return found[0], root
    raise SourceError(
        f"no data.yaml in {source}: a YOLO dataset has one at its top "
        "(names, train, val), or give the YAML file itself"
    )


def load_yaml(path: Path) -> dict[str, Any]:
    """The YAML mapping of ``path``, parsed with ``yaml.safe_load`` (no tags, no code).

    Raises:
        SourceError: over :data:`MAX_YAML_BYTES`, unreadable, malformed, or not a mapping.
    """
    try:
        raw = _read_capped(path, MAX_YAML_BYTES)
    except OSError as exc:
        raise SourceError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    if raw is None:
        raise SourceError(f"{path.name} is larger than 1 MiB: not a dataset description")
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise SourceError(f"{path.name} is not valid YAML ({_yaml_problem(exc)})") from None
    except RecursionError:
        raise SourceError(f"{path.name} is not valid YAML (nested too deeply)") from None
    if not isinstance(data, dict):
        raise SourceError(
            f"{path.name} is not a YAML mapping (expected keys names, train, val), "
            f"found {_shown(data)}"
        )
    return data


def _read_capped(path: Path, limit: int) -> bytes | None:
    """The bytes of ``path``, or None when it holds more than ``limit`` (read no further).

    Raises:
        OSError: it cannot be read.
    """
    if path.stat().st_size > limit:
        return None
    with path.open("rb") as handle:
        raw = handle.read(limit + 1)
    return raw if len(raw) <= limit else None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    text = f"line {mark.line + 1}: {problem}" if mark is not None else str(problem)
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:199] + "…"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_classes(data: dict[str, Any], where: str) -> list[str]:
    """The class names of a ``data.yaml``, by index.

    ``names`` is a list, or a mapping ``{index: name}`` whose indices are 0..n-1 (integers,
    or their digits as text); numbers as names become text (``[0, 1, 2]``). Without
    ``names``, ``nc: n`` names them ``class_0`` … (as Ultralytics does); with both, they must
    agree.

    Raises:
        SourceError: anything else, a name that is not a valid label, two equal names.
    """
    names, count = data.get("names"), data.get("nc")
    if names is None:
        if not (_is_int(count) and count > 0):
            raise SourceError(f"{where} has no `names` (the class names, a list or {{0: name}})")
        names = [f"class_{i}" for i in range(count)]
    if isinstance(names, dict):
        names = _names_by_index(names, where)
    if not isinstance(names, list):
        raise SourceError(
            f"{where}: `names` must be a list or a mapping {{0: name, …}}, not {_shown(names)}"
        )
    if not names:
        raise SourceError(f"{where}: `names` is empty")
    if count is not None and (not _is_int(count) or count != len(names)):
        raise SourceError(f"{where}: `nc` is {_shown(count)} but `names` has {len(names)}")
    classes: list[str] = []
    first: dict[str, int] = {}
    for index, value in enumerate(names):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise SourceError(
                f"{where}: class {index} is {_shown(value)}, not a name (quote it in the YAML)"
            )
        label, problem = check_label(str(value))
        if label is None:
            raise SourceError(f"{where}: class {index} is not a valid label: {problem}")
        if label in first:
            raise SourceError(
                f"{where}: classes {first[label]} and {index} are both named {label!r}"
            )
        first[label] = index
        classes.append(label)
    return classes


def _names_by_index(names: dict[Any, Any], where: str) -> list[Any]:
    by_index: dict[int, Any] = {}
    for key, value in names.items():
        if _is_int(key):
            index = key
        elif isinstance(key, str) and key.strip().isdigit() and key.strip().isascii():
            index = int(key)
        else:
            raise SourceError(f"{where}: `names` key {_shown(key)} is not a class index")
        if index in by_index:
            raise SourceError(f"{where}: `names` gives class {index} twice")
        by_index[index] = value
    if sorted(by_index) != list(range(len(by_index))):
        found = ", ".join(str(i) for i in sorted(by_index)[:8])
        raise SourceError(
            f"{where}: the indices of `names` must be 0-{len(by_index) - 1}, found {found}"
        )
    return [by_index[i] for i in range(len(by_index))]


def keypoint_fields(data: dict[str, Any], where: str) -> int | None:
    """The number of fields of a pose line (``5 + k * d`` of ``kpt_shape: [k, d]``), or None.

    Raises:
        SourceError: a ``kpt_shape`` that is not ``[k, 2]`` or ``[k, 3]``.
    """
    shape = data.get("kpt_shape")
    if shape is None:
        return None
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or not all(_is_int(v) for v in shape)
        or shape[0] < 1
        or shape[1] not in (2, 3)
    ):
        raise SourceError(f"{where}: `kpt_shape` must be [keypoints, 2 or 3], not {_shown(shape)}")
    return 5 + shape[0] * shape[1]


def _inside(root: Path, base: Path, raw: str, key: str, where: str) -> Path:
    """``base / raw`` resolved, required to stay in ``root``."""
    if _CONTROL.search(raw) is not None:
        raise SourceError(f"{where}: `{key}` contains control characters")
    if PureWindowsPath(raw).drive:
        raise SourceError(
            f"{where}: `{key}` {_shown(raw)} is a Windows path: nothing outside the "
            "dataset's folder is read"
        )
    resolved = (base / raw).resolve()
    if not is_within(resolved, root):
        raise SourceError(
            f"{where}: `{key}` {_shown(raw)} leaves the dataset's folder "
            "(nothing outside it is read; give a path relative to the YAML's folder)"
        )
    return resolved


def _base(data: dict[str, Any], root: Path, where: str) -> Path:
    """The folder ``train``/``val``/``test`` are relative to (``path``, else ``root``)."""
    raw = data.get("path")
    if raw is None or raw == "":
        return root
    if not isinstance(raw, str):
        raise SourceError(f"{where}: `path` must be a folder name, not {_shown(raw)}")
    base = _inside(root, root, raw, "path", where)
    if not base.is_dir():
        raise SourceError(f"{where}: `path` {_shown(raw)} is not a folder")
    return base


def _entry_path(root: Path, base: Path, raw: str, key: str, where: str) -> Path:
    """Where one ``train``/``val``/``test`` item is (existing, inside ``root``)."""
    path = _inside_or_none(root, base, raw)
    if path is None and raw.startswith("../"):
        path = _inside_or_none(root, base, raw[3:])  # Roboflow's ../train/images
    if path is None:
        path = _inside(root, base, raw, key, where)  # raises when it leaves root
        raise SourceError(f"{where}: `{key}` names {_shown(raw)}, which does not exist")
    return path


def _inside_or_none(root: Path, base: Path, raw: str) -> Path | None:
    if _CONTROL.search(raw) is not None or PureWindowsPath(raw).drive:
        return None
    resolved = (base / raw).resolve()
    return resolved if is_within(resolved, root) and resolved.exists() else None


def _entry_items(value: Any, key: str, where: str) -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise SourceError(
                f"{where}: `{key}` must be a folder (or .txt list) name or a list of them, "
                f"not {_shown(item)}"
            )
    return [item.strip() for item in items]


def _entries(data: dict[str, Any], root: Path, where: str) -> list[tuple[str, Path]]:
    """``(subset, folder or list file)`` of every ``train``/``val``/``test`` item, in order.

    Raises:
        SourceError: none given; one leaving the folder, missing, or neither folder nor list.
    """
    base = _base(data, root, where)
    entries: list[tuple[str, Path]] = []
    for key in SUBSETS:
        for raw in _entry_items(data.get(key), key, where):
            path = _entry_path(root, base, raw, key, where)
            if not (path.is_dir() or (path.is_file() and path.suffix.lower() == ".txt")):
                raise SourceError(
                    f"{where}: `{key}` {_shown(raw)} is neither a folder nor a .txt list of images"
                )
            entries.append((key, path))
    if not entries:
        raise SourceError(
            f"{where} names no images: give `train`, `val` or `test` (folders of images)"
        )
    return entries


# ----------------------------------------------------------------------------- reading
def read_yolo_instances(source: Path, labelled: bool = True) -> ReadResult:
    """List the images of an Ultralytics YOLO segmentation dataset and, when ``labelled``,
    their outlines (``target="instances"``; see the module's *Instance segmentation*).

    Raises:
        SourceError: as :func:`read_yolo`; a pose dataset (``kpt_shape``); label files with
            box lines and no outline at all (a detection dataset).
    """
    return _read(source, labelled, "instances")


def read_yolo(source: Path, labelled: bool = True) -> ReadResult:
    """List the images of an Ultralytics YOLO dataset and, when ``labelled``, their boxes.

    Args:
        source: the folder holding ``data.yaml`` (or ``data.yml``), or the YAML file itself.
        labelled: False: only the images are listed (no objects, no class list; ``names``
            is not required and label files are not read).

    Returns:
        The candidates (``train``, then ``val``, then ``test``; each folder's names sorted),
        each with its ``subset`` and (labelled) its objects; the skipped files with reasons;
        ``classes``: ``names`` in index order.

    Raises:
        SourceError: no or a bad YAML, bad ``names``, an entry leaving the folder or naming
            nothing, no entry at all (one line, for the user).
    """
    return _read(source, labelled, "boxes")


def _read(source: Path, labelled: bool, kind: Literal["boxes", "instances"]) -> ReadResult:
    yaml_path, root = find_yaml(source)
    where = yaml_path.name
    data = load_yaml(yaml_path)
    if "download" in data:
        logger.warning(
            "%s: its `download` key is ignored (AI Studio never runs or fetches what a "
            "dataset description says)",
            where,
        )
    classes = read_classes(data, where) if labelled else None
    keypoints = keypoint_fields(data, where) if labelled else None
    if keypoints is not None and kind == "instances":
        raise SourceError(
            f"{where} describes a pose dataset (`kpt_shape`): its lines are boxes and "
            "keypoints, not the outlines an instance segmentation project needs"
        )
    entries = _entries(data, root, where)
    reader = _Reader(root, yaml_path, classes, keypoints, kind)
    for subset, path in entries:
        if path.is_dir():
            reader.read_folder(path, subset)
        else:
            reader.read_list(path, subset)
    if classes is not None:
        reader.skip_orphans()
        if reader.candidates and not reader.labels_found:
            logger.warning(
                "%s: no image has a label file, all are negatives (labels/… beside images/…, "
                "the same names with .txt; case matters)",
                where,
            )
        if reader.box_lines and not reader.outlines:
            raise SourceError(
                f"the label files of {where} hold boxes (cls cx cy w h) and no outline: an "
                "instance segmentation project needs outline lines (cls x1 y1 x2 y2 x3 y3 …, "
                "Ultralytics' segmentation labels); a dataset of boxes goes into a detection "
                "project"
            )
    return ReadResult(
        format=FORMAT,
        target=kind if labelled else None,
        candidates=reader.candidates,
        skipped=reader.skipped,
        classes=classes,
    )


def _scan(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return sorted(entries, key=lambda e: e.name)


@dataclass
class _Reader:
    """One read: the candidates and skips so far, and what the orphan check needs."""

    root: Path
    yaml_path: Path
    classes: list[str] | None
    keypoints: int | None
    kind: Literal["boxes", "instances"] = "boxes"
    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    taken: dict[Path, tuple[str, str]] = field(default_factory=dict)
    """resolved image → (its name, its subset), for images listed twice."""
    label_owner: dict[str, str] = field(default_factory=dict)
    """label file name → the image that uses it."""
    expected: set[Path] = field(default_factory=set)
    """resolved label files of every image seen (even skipped ones)."""
    label_files: dict[Path, str] = field(default_factory=dict)
    """resolved ``.txt`` files found where labels live → their names (orphan check)."""
    labels_found: int = 0
    box_lines: int = 0
    """Box lines found in an instance segmentation read."""
    outlines: int = 0
    """Other object lines found in an instance segmentation read (good or not)."""

    def _skip(self, name: str, reason: str) -> None:
        self.skipped.append(Skip(name, reason))

    def _name(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    # -- folders
    def read_folder(self, folder: Path, subset: str) -> None:
        """Take the images under ``folder`` (inside the root); for a folder on an ``images/``
        path, also note the label files of its ``labels/`` counterpart (orphan check)."""
        prefix = self._name(folder)
        prefix = "" if prefix == "." else prefix
        for entry, name in self._walk(folder, prefix):
            self._folder_file(entry, name, subset)
        if self.classes is None:
            return
        labels = labels_folder(prefix)
        if labels is None:
            return  # beside the images: found by the walk above
        path = self.root / labels
        if not (path.is_dir() and is_within(path, self.root)):
            return
        for entry, name in self._walk(path.resolve(), self._name(path.resolve()), quiet=True):
            if name.endswith(".txt") and entry.is_file():
                self.label_files.setdefault(Path(entry.path).resolve(), name)

    def _walk(
        self, folder: Path, prefix: str, quiet: bool = False
    ) -> list[tuple[os.DirEntry[str], str]]:
        """The visible files under ``folder``, named from the root: each folder's files (sorted)
        before its sub-folders' (sorted). Links to folders are not followed (a listed skip
        unless ``quiet``)."""
        found: list[tuple[os.DirEntry[str], str]] = []
        stack: list[tuple[Path, str]] = [(folder, prefix)]
        while stack:
            path, name = stack.pop()
            try:
                entries = _scan(path)
            except OSError as exc:
                if not quiet:
                    self._skip(name + "/", f"cannot list folder: {exc.strerror or exc}")
                continue
            folders: list[tuple[Path, str]] = []
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                child = f"{name}/{entry.name}" if name else entry.name
                if entry.is_dir(follow_symlinks=False):
                    folders.append((Path(entry.path), child))
                elif entry.is_symlink() and entry.is_dir() and not quiet:
                    self._skip(child, "symbolic link to a folder (not followed)")
                else:
                    found.append((entry, child))
            stack.extend(reversed(folders))
        return found

    def _folder_file(self, entry: os.DirEntry[str], name: str, subset: str) -> None:
        path = Path(entry.path)
        suffix = path.suffix.lower()
        if path == self.yaml_path or suffix in _IGNORED_SUFFIXES:
            return
        if suffix == ".txt" and _could_be_label(name):
            if self.classes is not None and entry.is_file():
                self.label_files.setdefault(path.resolve(), name)
            return
        self.take(path, name, subset, entry.is_symlink())

    # -- lists
    def read_list(self, list_path: Path, subset: str) -> None:
        """Take the images a ``.txt`` list names, one a line (relative to its folder).

        Raises:
            SourceError: the list is too large or cannot be read.
        """
        where = self._name(list_path)
        try:
            raw = _read_capped(list_path, MAX_LIST_BYTES)
        except OSError as exc:
            raise SourceError(f"cannot read {where}: {exc.strerror or exc}") from None
        if raw is None:
            raise SourceError(f"{where} is larger than {MAX_LIST_BYTES >> 20} MiB")
        text = raw.decode("utf-8-sig", errors="surrogateescape")
        for number, line in enumerate(text.split("\n"), start=1):
            item = line.strip()
            if not item:
                continue
            path, problem = self._list_item(list_path.parent, item)
            if path is None:
                self._skip(log_name(item)[0], f"{where} line {number}: {problem}")
                continue
            self.take(path, self._name(path), subset, path.is_symlink())

    def _list_item(self, folder: Path, item: str) -> tuple[Path | None, str | None]:
        if log_name(item)[1] is not None:
            return None, "the path is not valid UTF-8"
        if _CONTROL.search(item) is not None:
            return None, "the path contains control characters"
        if PureWindowsPath(item).drive:
            return None, "a Windows path (outside the source folder)"
        path = Path(os.path.normpath(folder / item))
        if not path.is_relative_to(self.root):
            return None, "the path leaves the source folder"
        if not path.exists() and not path.is_symlink():
            return None, "file not found"
        return path, None

    # -- images
    def take(self, path: Path, name: str, subset: str, link: bool) -> None:
        """Take one image file found by a folder or list entry of ``subset``, or skip it."""
        shown, unstorable = log_name(name)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            self.expected.add((self.root / label_name(name)).resolve())
        if unstorable is not None:
            self._skip(shown, unstorable)
            return
        problem = self._file_problem(path, name, link)
        if problem is not None:
            self._skip(name, problem)
            return
        resolved = path.resolve()
        first = self.taken.get(resolved)
        if first is not None:
            self._skip(name, f"also listed by `{first[1]}` (as {first[0]}), which keeps it")
            return
        self.taken[resolved] = (name, subset)
        if self.classes is None:
            self.candidates.append(Candidate(path=path, name=name, subset=subset))
            return
        objects, problem = self._objects(name, self.classes)
        if objects is None:
            self._skip(name, problem or "its label file cannot be read")
            return
        self.candidates.append(Candidate(path=path, name=name, objects=objects, subset=subset))

    def _file_problem(self, path: Path, name: str, link: bool) -> str | None:
        if not is_within(path, self.root):
            if link:
                return "symbolic link pointing outside the source folder"
            return "the path leads outside the source folder (symbolic link)"
        if link and path.is_dir():
            return "symbolic link to a folder (not followed)"
        if not path.is_file():
            return "broken symbolic link" if link and not path.exists() else "not a regular file"
        suffix = path.suffix.lower()
        if suffix not in IMAGE_SUFFIXES:
            return f"not an image file ({f'extension {suffix}' if suffix else 'no extension'})"
        if len(name) > MAX_FILENAME:
            return f"file name longer than {MAX_FILENAME} characters"
        return None

    def _objects(
        self, name: str, classes: list[str]
    ) -> tuple[YoloObjects | YoloInstances | None, str | None]:
        """The objects of the image ``name`` from its label file (none: a negative)."""
        labels = label_name(name)
        owner = self.label_owner.setdefault(labels, name)
        if owner != name:
            return None, f"{labels} is also the label file of {owner}, which keeps it"
        path = self.root / labels
        try:
            if not path.exists():
                if path.is_symlink():
                    return None, f"{labels} is a broken symbolic link"
                return (YoloInstances() if self.kind == "instances" else YoloObjects()), None
            if not is_within(path, self.root):
                return None, f"{labels} is a symbolic link pointing outside the source folder"
            if not path.is_file():
                return None, f"{labels} is not a regular file"
            raw = _read_capped(path, MAX_LABEL_BYTES)
        except OSError as exc:
            return None, f"cannot read {labels}: {exc.strerror or exc}"
        if raw is None:
            return None, f"{labels} is larger than {MAX_LABEL_BYTES >> 20} MiB"
        self.labels_found += 1
        text = raw.decode("utf-8-sig", errors="replace")
        if self.kind == "instances":
            parsed = parse_instance_labels(text, labels, classes)
            self.box_lines += parsed.box_lines
            self.outlines += parsed.outline_lines
            return parsed.objects, parsed.reason
        return parse_labels(text, labels, classes, self.keypoints)

    def skip_orphans(self) -> None:
        """List the label files found that no image of the dataset has."""
        orphans = {name for path, name in self.label_files.items() if path not in self.expected}
        for name in sorted(orphans):
            shown, unstorable = log_name(name)
            self._skip(shown, unstorable or "label file has no image")
