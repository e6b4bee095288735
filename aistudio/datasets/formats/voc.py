r"""The ``voc`` format: Pascal VOC detection annotations, one XML file per image.

```
source/
  Annotations/000001.xml     <filename>000001.jpg</filename>, <size>, <object>s
  Annotations/000002.xml     no <object>: a negative (annotated, with no object)
  JPEGImages/000001.jpg
  JPEGImages/000002.png
  JPEGImages/000003.jpg      skipped: no annotation file in Annotations/
```

**Images.** An XML file's ``<filename>`` names its image inside ``JPEGImages/`` (a sub-folder
is allowed); when ``<filename>`` is missing, or names no file there, the image is the one file
of ``JPEGImages/`` with the XML's stem and an image suffix (``000001.xml`` →
``000001.jpg``). ``<folder>`` and ``<path>`` (the annotator's own machine) are not read. A
``<filename>`` that is absolute, holds ``..`` or resolves outside the source (a symbolic link)
skips the XML, with no fall-back. Two XML files naming the same image: the first (in name
order) annotates it, the second is skipped. An image of ``JPEGImages/`` that no XML names is
skipped ("no annotation file"); one whose XML was skipped is not listed again (the XML's skip
stands for it).

**Boxes.** ``<bndbox>`` holds 1-based pixel indices, inclusive: ``xmin=1, xmax=W`` covers a
``W`` px wide image. In the pixel-edge coordinates of DESIGN §3b (origin at the top-left
corner of the first pixel) that box is ``[0, W]``, so a box becomes ``x1 = xmin - 1``,
``y1 = ymin - 1``, ``x2 = xmax``, ``y2 = ymax`` — the conversion of detectron2's
``pascal_voc.py`` (torchvision's ``VOCDetection`` hands the raw numbers over). Coordinates may
be decimals. Geometry is not checked here: :func:`~aistudio.datasets.formats.boxes.finish_boxes`
clips and refuses. ``<difficult>1</difficult>`` is kept as the object's ``difficult`` flag
(never dropped); ``<truncated>``, ``<occluded>``, ``<pose>`` and ``<part>`` are not read.

**What skips an image.** The reader parses every XML when it lists the source (it needs the
class names and the images they name), so a problem that the XML alone shows is a skip at read
time, naming the XML and the object: an object without ``<name>`` or ``<bndbox>``, a
coordinate missing or not a number, a class name that is not a valid label, a ``<size>`` that
is not a whole number. Only what needs the image itself is left to the import: when
``<size>`` gives a width and height (both above 0) that differ from the upright image's,
the candidate's ``objects`` raises :class:`ObjectsError` (its boxes are in another frame, e.g.
an EXIF rotation the annotation tool ignored); a missing or zero ``<size>`` is accepted.

**Security.** XML is parsed with ``defusedxml``: a file declaring entities (billion laughs,
quadratic blow-up, external entities such as ``file:///etc/passwd``) is refused and skipped;
nothing is fetched. A file larger than :data:`MAX_XML_BYTES` is skipped without being read.
Hidden files and folders are ignored; symbolic links are followed only inside the source.
Names that are not UTF-8 are skipped, shown with ``\\xNN`` escapes
(:func:`~aistudio.datasets.formats.base.log_name`).

Unlabelled reads (``labelled=False``) take every image of ``JPEGImages/`` and parse no XML.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import (
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)

from aistudio.datasets.formats.base import (
    IMAGE_SUFFIXES,
    MAX_FILENAME,
    Candidate,
    ObjectsError,
    RawBox,
    ReadResult,
    Skip,
    SourceError,
    check_label,
    log_name,
)
from aistudio.workspace import is_within

logger = logging.getLogger(__name__)

FORMAT = "voc"
ANNOTATIONS = "Annotations"
IMAGES = "JPEGImages"
SEGMENTATION = "SegmentationClass"
"""The class masks of a segmentation source (:mod:`~aistudio.datasets.formats.voc_semantic`)."""
MAX_XML_BYTES = 10 * 1024 * 1024
"""The largest annotation file read (a VOC annotation is a few KiB)."""

_LAYOUT = "a Pascal VOC source holds Annotations/*.xml and JPEGImages/"
_CORNERS = ("xmin", "ymin", "xmax", "ymax")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TRUE = frozenset({"1", "true", "yes"})


def looks_like_voc(source: Path) -> bool:
    """Whether ``source`` is a folder holding ``Annotations/`` with a ``.xml`` file (no
    parsing), or ``JPEGImages/`` and ``SegmentationClass/`` (a segmentation source)."""
    folder = source / ANNOTATIONS
    try:
        if (source / IMAGES).is_dir() and (source / SEGMENTATION).is_dir():
            return True
        if not folder.is_dir():
            return False
        with os.scandir(folder) as entries:
            return any(_is_xml_name(entry.name) for entry in entries)
    except OSError:
        return False


def _is_xml_name(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(".xml")


@dataclass(frozen=True, slots=True)
class VocObjects:
    """One image's objects (an :data:`~aistudio.datasets.formats.base.ObjectsAt`).

    Attributes:
        boxes: the objects, converted to pixel edges.
        size: ``(width, height)`` from ``<size>``, or None when it gives none.
        xml: the annotation file's name in the source, for messages.
    """

    boxes: tuple[RawBox, ...]
    size: tuple[int, int] | None
    xml: str

    def __call__(self, width: int, height: int) -> tuple[RawBox, ...]:
        """The boxes of the ``width x height`` upright image.

        Raises:
            ObjectsError: ``<size>`` gives another size (the boxes are in another frame).
        """
        if self.size is not None and self.size != (width, height):
            w, h = self.size
            raise ObjectsError(
                f"{self.xml} gives the image's size as {w}x{h} but the image is "
                f"{width}x{height} (upright): its boxes would be in another frame"
            )
        return self.boxes


@dataclass(frozen=True, slots=True)
class _ImageFile:
    """A file found under ``JPEGImages/``; ``problem`` says why it cannot be imported."""

    name: str
    path: Path
    problem: str | None


class _Invalid(ValueError):
    """What one XML file says cannot be used; the message is the skip's reason."""


def read_voc(source: Path, labelled: bool = True) -> ReadResult:
    """Read a Pascal VOC source.

    Args:
        source: the folder holding ``Annotations/`` and ``JPEGImages/``.
        labelled: True: each image's boxes come from its XML file (``target="boxes"``).
            False: every image of ``JPEGImages/`` is taken and no XML is parsed.

    Returns:
        The candidates in the order of their XML files' names (unlabelled: of the images'),
        the skipped files with reasons and, when labelled, the sorted class names of the
        candidates' objects.

    Raises:
        SourceError: not a folder, no ``Annotations/`` or ``JPEGImages/`` folder, no ``.xml``
            file in ``Annotations/``, or a folder that cannot be listed.
    """
    root = source.resolve()
    if not root.is_dir():
        raise SourceError(f"{source} is not a folder ({_LAYOUT})")
    annotations = _layout_folder(source, root, ANNOTATIONS)
    images = _layout_folder(source, root, IMAGES)
    entries = _scan_or_fail(annotations, source)
    if not any(_is_xml_name(entry.name) for entry in entries):
        raise SourceError(f"no annotation file (.xml) in {ANNOTATIONS}/ of {source} ({_LAYOUT})")
    result = ReadResult(format=FORMAT, target="boxes" if labelled else None)
    files = _image_files(root, images, result)
    if not labelled:
        for image in files:
            if image.problem is None:
                result.candidates.append(Candidate(path=image.path, name=image.name))
            else:
                result.skipped.append(Skip(image.name, image.problem))
        return result
    reader = _Reader(root=root, result=result, files=files)
    for entry in entries:
        reader.take_entry(entry)
    reader.list_unannotated()
    result.classes = sorted(reader.classes)
    logger.info(
        "voc %s: %d images, %d classes, %d skipped",
        source,
        len(result.candidates),
        len(result.classes),
        len(result.skipped),
    )
    return result


def _layout_folder(source: Path, root: Path, name: str) -> Path:
    """``root/name``, checked to be a folder inside the source.

    Raises:
        SourceError: it is missing, not a folder, or a link leading out of the source.
    """
    folder = root / name
    if folder.is_symlink() and not is_within(folder, root):
        raise SourceError(
            f"{name}/ in {source} is a symbolic link pointing outside the source folder"
        )
    if not folder.is_dir():
        raise SourceError(f"{source} has no {name}/ folder ({_LAYOUT})")
    return folder


def _scan(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return sorted(entries, key=lambda e: e.name)


def _scan_or_fail(folder: Path, source: Path) -> list[os.DirEntry[str]]:
    try:
        return _scan(folder)
    except OSError as exc:
        raise SourceError(
            f"cannot list {folder.name}/ of {source}: {exc.strerror or exc}"
        ) from None


def _link_problem(entry: os.DirEntry[str], root: Path) -> str | None:
    """Why a directory entry cannot be read as a file (links out, folders, specials)."""
    path = Path(entry.path)
    if entry.is_symlink():
        if not is_within(path, root):
            return "symbolic link pointing outside the source folder"
        if path.is_dir():
            return "symbolic link to a folder (not followed)"
    if not entry.is_file():
        return "broken symbolic link" if entry.is_symlink() else "not a regular file"
    return None


def _image_files(root: Path, images: Path, result: ReadResult) -> list[_ImageFile]:
    """Every visible file under ``JPEGImages/`` (depth first, names sorted), each checked.

    Folders that cannot be listed are skips of ``result`` at once.
    """
    found: list[_ImageFile] = []
    try:
        top = _scan(images)
    except OSError as exc:
        raise SourceError(f"cannot list {IMAGES}/: {exc.strerror or exc}") from None
    stack: list[tuple[os.DirEntry[str], str]] = [(entry, IMAGES) for entry in reversed(top)]
    while stack:
        entry, parent = stack.pop()
        if entry.name.startswith("."):
            continue
        name = f"{parent}/{entry.name}"
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
        found.append(_image_file(root, entry, name))
    return found


def _image_file(root: Path, entry: os.DirEntry[str], name: str) -> _ImageFile:
    path = Path(entry.path)
    shown, unstorable = log_name(name)
    if unstorable is not None:
        return _ImageFile(shown, path, unstorable)
    problem = _link_problem(entry, root) or _image_problem(path, name)
    return _ImageFile(name, path.resolve() if problem is None else path, problem)


def _image_problem(path: Path, name: str) -> str | None:
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        shown = f"extension {suffix}" if suffix else "no extension"
        return f"not an image file ({shown})"
    if len(name) > MAX_FILENAME:
        return f"file name longer than {MAX_FILENAME} characters"
    return None


@dataclass
class _Reader:
    """The state of one labelled read: which image each XML claimed, the classes seen.

    Attributes:
        root: the source folder, resolved.
        result: what is being read.
        files: the files under ``JPEGImages/``.
        claimed: each image (resolved path) → the XML that annotates it.
        accounted: images an XML named or stands for, even when it was skipped.
        classes: the class names of the candidates' objects.
    """

    root: Path
    result: ReadResult
    files: list[_ImageFile]
    claimed: dict[Path, str] = field(default_factory=dict)
    accounted: set[Path] = field(default_factory=set)
    classes: set[str] = field(default_factory=set)
    by_stem: dict[str, list[_ImageFile]] = field(init=False)

    def __post_init__(self) -> None:
        self.by_stem = {}
        for image in self.files:
            if image.problem is None and image.name.count("/") == 1:
                self.by_stem.setdefault(PurePosixPath(image.name).stem, []).append(image)

    def skip(self, name: str, reason: str) -> None:
        self.result.skipped.append(Skip(name, reason))

    def take_entry(self, entry: os.DirEntry[str]) -> None:
        """Read one entry of ``Annotations/``: a candidate, or a skip."""
        if entry.name.startswith("."):
            return
        name = f"{ANNOTATIONS}/{entry.name}"
        shown, unstorable = log_name(name)
        if unstorable is not None:
            self.skip(shown, unstorable)
            return
        if entry.is_dir(follow_symlinks=False):
            self.skip(name + "/", f"folder inside {ANNOTATIONS}/ (not read)")
            return
        if not entry.name.lower().endswith(".xml"):
            suffix = Path(entry.name).suffix.lower()
            shown = f"extension {suffix}" if suffix else "no extension"
            self.skip(name, f"not an annotation file ({shown}; expected .xml)")
            return
        stem = Path(entry.name).stem
        try:
            tree = _parse(entry, self.root)
            if tree.tag != "annotation":
                raise _Invalid(
                    f"not a VOC annotation: the root element is <{tree.tag}>, not <annotation>"
                )
            path, image_name = self.image_of(tree, stem)
        except _Invalid as exc:
            self.skip(name, str(exc))
            for image in self.by_stem.get(stem, []):
                self.accounted.add(image.path)
            return
        self.accounted.add(path)
        try:
            self.take_annotation(tree, name, path, image_name)
        except _Invalid as exc:
            self.skip(name, str(exc))

    def take_annotation(self, tree: Element, name: str, path: Path, image_name: str) -> None:
        """Turn one parsed annotation of the image ``path`` into a candidate.

        Raises:
            _Invalid: the image is already annotated, or an object cannot be read.
        """
        first = self.claimed.get(path)
        if first is not None:
            raise _Invalid(f"names {image_name}, already annotated by {first}")
        self.claimed[path] = name
        size = _size(tree)
        boxes = tuple(_box(obj, i, name) for i, obj in enumerate(tree.findall("object"), 1))
        self.classes.update(box.label for box in boxes)
        objects = VocObjects(boxes=boxes, size=size, xml=name)
        self.result.candidates.append(Candidate(path=path, name=image_name, objects=objects))

    def image_of(self, tree: Element, stem: str) -> tuple[Path, str]:
        """The image an annotation names: ``(resolved path, name in the source)``.

        Raises:
            _Invalid: ``<filename>`` is unsafe, or no image is found.
        """
        raw = _text(tree, "filename")
        if raw is not None:
            relative = _safe_relative(raw)
            name = f"{IMAGES}/{relative}"
            path = self.root / name
            if not is_within(path, self.root):
                raise _Invalid(
                    f"<filename> {raw[:80]!r} resolves outside the source folder (symbolic link)"
                )
            if path.is_file():
                problem = _image_problem(path, name)
                if problem is not None:
                    raise _Invalid(f"<filename> {raw[:80]!r}: {problem}")
                return path.resolve(), name
        found = self.by_stem.get(stem, [])
        if len(found) == 1:
            return found[0].path, found[0].name
        given = (
            f"<filename> {raw[:80]!r} is not in {IMAGES}/" if raw is not None else "no <filename>"
        )
        if len(found) > 1:
            names = ", ".join(image.name for image in found[:5])
            raise _Invalid(
                f"image not found: {given}, and several images are named {stem}.*: {names}"
            )
        raise _Invalid(f"image not found: {given}, and no image {IMAGES}/{stem}.*")

    def list_unannotated(self) -> None:
        """Skip the files of ``JPEGImages/`` that no annotation named."""
        for image in self.files:
            if image.path in self.accounted:
                continue
            self.skip(image.name, image.problem or f"no annotation file in {ANNOTATIONS}/")


def _parse(entry: os.DirEntry[str], root: Path) -> Element:
    """The root element of one annotation file, parsed safely.

    Raises:
        _Invalid: the file cannot be read, is too large, malformed, or refused by defusedxml.
    """
    problem = _link_problem(entry, root)
    if problem is not None:
        raise _Invalid(problem)
    try:
        size = Path(entry.path).stat().st_size
        if size > MAX_XML_BYTES:
            raise _Invalid(f"larger than {MAX_XML_BYTES // 2**20} MiB ({size} bytes): not read")
        with Path(entry.path).open("rb") as handle:
            data = handle.read(MAX_XML_BYTES + 1)
    except OSError as exc:
        raise _Invalid(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_XML_BYTES:
        raise _Invalid(f"larger than {MAX_XML_BYTES // 2**20} MiB: not read")
    try:
        tree: Element = SafeET.fromstring(data)
    except ParseError as exc:
        raise _Invalid(f"malformed XML ({exc})") from None
    except DefusedXmlException as exc:
        raise _Invalid(_refusal(exc)) from None
    return tree


def _refusal(exc: DefusedXmlException) -> str:
    if isinstance(exc, EntitiesForbidden):
        return "refused: the XML declares entities (defusedxml)"
    if isinstance(exc, ExternalReferenceForbidden):
        return "refused: the XML refers to an external resource (defusedxml)"
    if isinstance(exc, DTDForbidden):
        return "refused: the XML has a DTD (defusedxml)"
    return f"refused by defusedxml ({type(exc).__name__})"


def _text(element: Element, tag: str) -> str | None:
    """The stripped text of ``element``'s first ``tag`` child; None when missing or empty."""
    child = element.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


def _safe_relative(raw: str) -> str:
    """``<filename>`` as a ``/``-separated path relative to ``JPEGImages/``.

    Raises:
        _Invalid: control characters, an absolute path, ``..`` or an over-long name.
    """
    shown = repr(raw[:80])
    if _CONTROL.search(raw):
        raise _Invalid(f"<filename> {shown} contains control characters")
    posix = PurePosixPath(raw)
    if posix.is_absolute() or PureWindowsPath(raw).drive or raw.startswith("\\"):
        raise _Invalid(f"<filename> {shown} is an absolute path (it must name a file in {IMAGES}/)")
    if ".." in posix.parts:
        raise _Invalid(f"<filename> {shown} leaves {IMAGES}/ (..)")
    relative = posix.as_posix()
    if len(relative) + len(IMAGES) + 1 > MAX_FILENAME:
        raise _Invalid(f"<filename> is longer than {MAX_FILENAME} characters")
    return relative


def _size(tree: Element) -> tuple[int, int] | None:
    """``(width, height)`` from ``<size>``; None when missing or 0.

    Raises:
        _Invalid: a width or height that is not a whole number of pixels.
    """
    size = tree.find("size")
    if size is None:
        return None
    numbers: list[int] = []
    for tag in ("width", "height"):
        text = _text(size, tag)
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not (value >= 0 and value.is_integer()):
            raise _Invalid(f"<size> <{tag}> {text[:20]!r} is not a whole number of pixels")
        numbers.append(int(value))
    width, height = numbers
    return (width, height) if width > 0 and height > 0 else None


def _box(obj: Element, index: int, xml: str) -> RawBox:
    """One ``<object>`` as a box in pixel edges.

    Raises:
        _Invalid: no ``<name>`` or ``<bndbox>``, an invalid class name, a corner that is
            missing or not a number.
    """
    where = f"object {index}"
    raw_name = _text(obj, "name")
    if raw_name is None:
        raise _Invalid(f"{where} has no <name>")
    label, problem = check_label(raw_name)
    if problem is not None or label is None:
        raise _Invalid(f"{where}: invalid class name: {problem}")
    where = f"{where} ({label})"
    bndbox = obj.find("bndbox")
    if bndbox is None:
        raise _Invalid(f"{where} has no <bndbox>")
    corners: list[float] = []
    for tag in _CORNERS:
        text = _text(bndbox, tag)
        if text is None:
            raise _Invalid(f"{where}: <bndbox> has no <{tag}>")
        try:
            corners.append(float(text))
        except ValueError:
            raise _Invalid(f"{where}: <{tag}> {text[:20]!r} is not a number") from None
    xmin, ymin, xmax, ymax = corners
    difficult = (_text(obj, "difficult") or "0").lower() in _TRUE
    return RawBox(
        label=label,
        x1=xmin - 1,
        y1=ymin - 1,
        x2=xmax,
        y2=ymax,
        where=f"object {index} in {xml}",
        difficult=difficult,
    )
