"""The ``coco`` format: one COCO JSON file (``images``, ``annotations``, ``categories``).

```
source/                      (or the JSON file itself)
  instances.json             {"images": [{"id", "file_name", "width", "height"}],
                              "annotations": [{"id", "image_id", "category_id",
                                               "bbox": [x, y, w, h], "iscrowd"}],
                              "categories": [{"id", "name"}]}
  images/000001.jpg          file_name is relative to the JSON's folder or to its images/
```

Boxes are COCO's ``[x, y, width, height]`` in pixels; they become corners ``[x, y, x + w,
y + h]``. Category ids need not be contiguous (COCO's run 1-90): objects carry the category's
name, and the project's classes follow the categories' order. ``iscrowd`` is kept as the
object's ``crowd`` flag (COCO evaluation ignores such objects). An image no annotation names is
a negative. A detection import (:func:`read_coco`) keeps the boxes and ignores ``segmentation``.

An instance segmentation import (:func:`read_coco_instances`) reads each annotation's
``segmentation`` too: polygons (``[[x1, y1, x2, y2, …], …]``, one list per part), an
uncompressed RLE (``{"size": [h, w], "counts": [runs]}``, COCO's crowd regions) or a compressed
one (``"counts": "string"``); :func:`~aistudio.datasets.formats.masks.finish_instances` checks
them against the image and turns RLE into mask files. ``bbox`` is then optional (derived from
the outline or mask when absent). A file in which no annotation has a segmentation is refused
as a whole: it is a detection file. A semantic segmentation import
(:func:`~aistudio.datasets.formats.coco_semantic.read_coco_semantic`) paints the same
segmentations into one class mask per image (its module states the legend and the overlap rule).

Bad input never fails the whole import unless the JSON itself is unusable (too large, not JSON,
not COCO's shape, categories without names, …): an image whose file is missing, escapes the
folder or is listed twice is a listed skip; so is an image with an annotation that names an
unknown category or has a malformed ``bbox`` (an image missing one of its objects would teach
the model that the object is background), and an annotation naming an image the file does not
list is counted in one skip.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from aistudio.datasets.formats.base import (
    MAX_FILENAME,
    Candidate,
    ObjectsError,
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

FORMAT = "coco"
MAX_JSON_BYTES = 1 << 30
"""The largest COCO file read (COCO 2017's train annotations are about 450 MB)."""
_SNIFF_BYTES = 1 << 20


def looks_like_coco(source: Path) -> bool:
    """Whether ``source`` is (or is a folder with exactly one, at its top) a JSON file that
    names COCO's ``images`` and ``annotations`` near its start (cheap: no full parse)."""
    try:
        path = source if source.is_file() else _only_json(source)
    except SourceError:
        return False
    if path is None or path.suffix.lower() != ".json":
        return False
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return False
    return b'"images"' in head and (b'"annotations"' in head or b'"categories"' in head)


def _only_json(folder: Path) -> Path | None:
    try:
        found = sorted(
            p
            for p in folder.iterdir()
            if p.suffix.lower() == ".json" and not p.name.startswith(".") and p.is_file()
        )
    except OSError as exc:
        raise SourceError(f"cannot list {folder}: {exc.strerror or exc}") from None
    return found[0] if len(found) == 1 else None


def find_json(source: Path) -> Path:
    """The COCO file a source names: itself, or the only ``.json`` file of the folder.

    Raises:
        SourceError: no JSON file, or more than one.
    """
    if source.is_file():
        return source
    path = _only_json(source)
    if path is None:
        raise SourceError(
            f"{source} must hold exactly one COCO .json file at its top (or give the file)"
        )
    return path


@dataclass(frozen=True, slots=True)
class _Box:
    """One COCO annotation as read: its category and bbox, checked later per image."""

    annotation_id: Any
    category_id: Any
    bbox: Any
    crowd: bool
    segmentation: Any = None


def _load(path: Path) -> dict[str, Any]:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SourceError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    if size > MAX_JSON_BYTES:
        raise SourceError(
            f"{path.name} is {size / 2**20:,.0f} MiB: at most {MAX_JSON_BYTES >> 20:,} MiB"
        )
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise SourceError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise SourceError(f"{path.name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SourceError(f"{path.name} is not a COCO file: its top level is not an object")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key, []), list):
            raise SourceError(f"{path.name} is not a COCO file: {key!r} is not a list")
    if "images" not in data:
        raise SourceError(f"{path.name} is not a COCO file: it has no 'images' list")
    return data


def _categories(raw: list[Any], name: str) -> dict[Any, str]:
    """Category id -> its name, in the file's order."""
    out: dict[Any, str] = {}
    seen: set[str] = set()
    for index, category in enumerate(raw, start=1):
        if not isinstance(category, dict) or "id" not in category or "name" not in category:
            raise SourceError(f"{name}: category {index} needs an 'id' and a 'name'")
        label, problem = check_label(str(category["name"]))
        if label is None:
            raise SourceError(f"{name}: category {category['id']!r}: {problem}")
        key = _key(category["id"])
        if key in out:
            raise SourceError(f"{name}: category id {category['id']!r} is listed twice")
        if label in seen:
            raise SourceError(f"{name}: two categories are named {label!r}")
        out[key] = label
        seen.add(label)
    return out


def _key(raw_id: Any) -> Any:
    """An id as a dict key: COCO ids are integers, but some tools write them as strings."""
    if isinstance(raw_id, bool):
        return ("bool", raw_id)
    if isinstance(raw_id, float) and raw_id.is_integer():
        return int(raw_id)
    return raw_id if isinstance(raw_id, (int, str)) else repr(raw_id)


def _boxes_by_image(
    raw: list[Any], image_ids: set[Any], name: str
) -> tuple[dict[Any, list[_Box]], list[Skip]]:
    by_image: dict[Any, list[_Box]] = {}
    orphans: list[Any] = []
    malformed = 0
    for annotation in raw:
        if not isinstance(annotation, dict) or "image_id" not in annotation:
            malformed += 1
            continue
        image = _key(annotation["image_id"])
        if image not in image_ids:
            orphans.append(annotation.get("id"))
            continue
        by_image.setdefault(image, []).append(
            _Box(
                annotation.get("id"),
                annotation.get("category_id"),
                annotation.get("bbox"),
                bool(annotation.get("iscrowd", 0)),
                annotation.get("segmentation"),
            )
        )
    skipped = []
    if orphans:
        shown = ", ".join(str(i) for i in orphans[:5]) + (", …" if len(orphans) > 5 else "")
        skipped.append(
            Skip(name, f"{len(orphans)} annotation(s) name an image not in 'images' (ids {shown})")
        )
    if malformed:
        skipped.append(Skip(name, f"{malformed} annotation(s) are not objects with an image_id"))
    return by_image, skipped


class _Objects:
    """The ``ObjectsAt`` of one COCO image: its annotations as boxes, checked against the
    image's declared size and the categories."""

    shapes = "boxes"

    def __init__(
        self,
        boxes: Sequence[_Box],
        categories: dict[Any, str],
        declared: tuple[Any, Any],
    ) -> None:
        self.boxes = boxes
        self.categories = categories
        self.declared = declared

    def __call__(self, width: int, height: int) -> list[RawBox]:
        self._check_frame(width, height)
        return [self._raw(box) for box in self.boxes]

    def _check_frame(self, width: int, height: int) -> None:
        declared_w, declared_h = self.declared
        if (
            _positive(declared_w)
            and _positive(declared_h)
            and (declared_w, declared_h) != (width, height)
        ):
            raise ObjectsError(
                f"the COCO file says {declared_w:g}x{declared_h:g}, the image is "
                f"{width}x{height}: its {self.shapes} would be in another frame"
            )

    def _label(self, box: _Box, where: str) -> str:
        label = self.categories.get(_key(box.category_id))
        if label is None:
            raise ObjectsError(f"{where}: category_id {box.category_id!r} is not a category")
        return label

    @staticmethod
    def _corners(box: _Box, where: str) -> tuple[float, float, float, float]:
        bbox = box.bbox
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(_number(v) for v in bbox):
            raise ObjectsError(f"{where}: bbox must be [x, y, width, height] numbers")
        x, y, w, h = (float(v) for v in bbox)
        return x, y, x + w, y + h

    def _raw(self, box: _Box) -> RawBox:
        where = f"annotation id {box.annotation_id}"
        label = self._label(box, where)
        x1, y1, x2, y2 = self._corners(box, where)
        return RawBox(label, x1, y1, x2, y2, where, crowd=box.crowd)


class _Instances(_Objects):
    """The ``ObjectsAt`` of one COCO image in an instance segmentation import: each
    annotation's segmentation (polygons or RLE) and, when given, its box."""

    shapes = "outlines and masks"

    def __call__(self, width: int, height: int) -> list[RawInstance]:  # type: ignore[override]
        self._check_frame(width, height)
        return [self._instance(box) for box in self.boxes]

    def _instance(self, box: _Box) -> RawInstance:
        where = f"annotation id {box.annotation_id}"
        label = self._label(box, where)
        corners = None if box.bbox is None else self._corners(box, where)
        segmentation = box.segmentation
        if isinstance(segmentation, dict):
            return RawInstance(label, where, corners, rle=segmentation, crowd=box.crowd)
        if segmentation is None or segmentation == []:
            return RawInstance(label, where, corners, crowd=box.crowd)  # refused: no shape
        if isinstance(segmentation, list) and all(isinstance(p, list) for p in segmentation):
            polygons = tuple(tuple(p) for p in segmentation)
            return RawInstance(label, where, corners, polygons=polygons, crowd=box.crowd)
        raise ObjectsError(
            f"{where}: segmentation must be polygons [[x1, y1, x2, y2, …], …] or an RLE "
            "{size: [height, width], counts}"
        )


def _check_has_segmentation(annotations: list[Any], name: str) -> None:
    """Refuse a file whose annotations have no segmentation at all (boxes only)."""
    if not annotations:
        return
    for annotation in annotations:
        if isinstance(annotation, dict) and annotation.get("segmentation") not in (None, []):
            return
    raise SourceError(
        f"{name} has no segmentation: an instance segmentation project needs each object's "
        "outline (polygons) or mask (RLE) in `segmentation`; a file of boxes only goes into "
        "a detection project"
    )


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: Any) -> bool:
    return _number(value) and value > 0


def _image_path(root: Path, file_name: str) -> tuple[Path | None, str]:
    """Where ``file_name`` is (the JSON's folder, else its ``images/``), and its name there."""
    for base, prefix in ((root, ""), (root / "images", "images/")):
        path = base / file_name
        if path.is_file():
            return path, f"{prefix}{file_name}"
    return None, file_name


def read_coco(source: Path, labelled: bool = True) -> ReadResult:
    """List the images of a COCO file and, when ``labelled``, their boxes.

    Args:
        source: the COCO JSON file, or a folder holding exactly one at its top.
        labelled: False: only the images are listed (no objects).

    Raises:
        SourceError: no JSON, too large, not JSON, not COCO's shape, unusable categories.
    """
    return _read(source, "boxes" if labelled else None)


def read_coco_instances(source: Path, labelled: bool = True) -> ReadResult:
    """List the images of a COCO file and, when ``labelled``, their instances (each
    annotation's segmentation: polygons or RLE, and its box when given).

    Raises:
        SourceError: as :func:`read_coco`, and a file none of whose annotations has a
            segmentation (a detection file).
    """
    return _read(source, "instances" if labelled else None)


def _read(source: Path, kind: Literal["boxes", "instances"] | None) -> ReadResult:
    labelled = kind is not None
    path = find_json(source)
    root = path.parent.resolve()
    data = _load(path)
    categories = _categories(data.get("categories", []), path.name) if labelled else {}
    if kind == "instances":
        _check_has_segmentation(data.get("annotations", []), path.name)
    result = ReadResult(
        format=FORMAT,
        target=kind,
        classes=list(categories.values()) if labelled else None,
    )
    images = [i for i in data["images"] if isinstance(i, dict)]
    if len(images) < len(data["images"]):
        result.skipped.append(
            Skip(path.name, f"{len(data['images']) - len(images)} image entries are not objects")
        )
    ids = {_key(i.get("id")) for i in images}
    by_image: dict[Any, list[_Box]] = {}
    if labelled:
        by_image, skipped = _boxes_by_image(data.get("annotations", []), ids, path.name)
        result.skipped.extend(skipped)
    seen_ids: set[Any] = set()
    seen_files: dict[Path, str] = {}
    objects = _Instances if kind == "instances" else _Objects
    for entry in images:
        candidate, skip = _candidate(
            entry, root, seen_ids, seen_files, by_image, categories, objects
        )
        if skip is not None:
            result.skipped.append(skip)
        elif candidate is not None:
            result.candidates.append(candidate if labelled else _unlabelled(candidate))
    return result


def _unlabelled(candidate: Candidate) -> Candidate:
    return Candidate(candidate.path, candidate.name)


def _candidate(
    entry: dict[str, Any],
    root: Path,
    seen_ids: set[Any],
    seen_files: dict[Path, str],
    by_image: dict[Any, list[_Box]],
    categories: dict[Any, str],
    objects_type: Callable[..., _Objects] = _Objects,
) -> tuple[Candidate | None, Skip | None]:
    image_id = _key(entry.get("id"))
    file_name = entry.get("file_name")
    if not isinstance(file_name, str) or not file_name.strip():
        return None, Skip(f"image id {entry.get('id')!r}", "has no file_name")
    shown, problem = log_name(file_name)
    if problem is not None:
        return None, Skip(shown, problem)
    if len(file_name) > MAX_FILENAME:
        return None, Skip(file_name[:80] + "…", f"file name longer than {MAX_FILENAME}")
    if image_id in seen_ids:
        return None, Skip(file_name, f"image id {entry.get('id')!r} is listed twice")
    seen_ids.add(image_id)
    if Path(file_name).is_absolute() or ".." in Path(file_name).parts:
        return None, Skip(file_name, "file_name escapes the COCO file's folder")
    path, name = _image_path(root, file_name)
    if path is None:
        return None, Skip(file_name, "no such file next to the COCO file or in its images/")
    resolved = path.resolve()
    if not is_within(resolved, root):
        return None, Skip(name, "links outside the COCO file's folder")
    if resolved in seen_files:
        return None, Skip(name, f"the same file as {seen_files[resolved]}, listed again")
    seen_files[resolved] = name
    declared = (entry.get("width"), entry.get("height"))
    objects = objects_type(by_image.get(image_id, []), categories, declared)
    return Candidate(path=path, name=name, objects=objects), None
