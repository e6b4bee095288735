"""From a source's class mask to a ``semantic`` annotation: one rule for every reader.

Every semantic segmentation reader (``masks``, ``voc`` with ``SegmentationClass/``, ``coco``
painted by class) hands each image over as a :class:`RawSemantic`: a mask file (a path) or an
index array it painted, the legend (value ``i`` is ``legend[i]``, ``legend[0]`` the
background) and, for colour masks, a palette (colour → value). :func:`finish_semantic` applies
the one rule (DESIGN §3b):

- **Masks are PNG**, by content (a JPEG's compression changes the values at every edge; any
  other format is refused too). A mask has the upright image's size exactly: it is never
  resampled (a mask of another size, e.g. drawn on an image before its EXIF rotation, is
  refused).
- **Values.** A palette PNG (``P``) gives its indices (never ``convert("RGB")``: VOC's void
  border is index 255); a grey PNG (``L``, also 1, 2 or 4 bits, read as 0..1, 0..3, 0..15) its
  values; a colour PNG (``RGB``, ``RGBA``: the alpha is not read) maps each colour through the
  palette, and is refused when a colour is not in it (the skip names a few) or when the source
  gives no palette (unless the three channels are equal: a grey mask saved as RGB gives its
  values). 16-bit PNGs, grey with alpha and other modes are refused.
- **The legend.** A value must name a class of the legend, or be 255 (``IGNORE_INDEX``: neither
  trained on nor scored); the skip names the values out of range. Without a legend (a
  ``masks`` source without ``classes.txt``) the legend is ``["background", "1", "2", …]`` up to
  the mask's largest value below 255.
- **Stored exactly**, as an 8-bit grey (``L``) PNG of the same values: deterministic bytes (the
  same values give the same sha256), written into the content store by the import's mask writer
  (:class:`~aistudio.datasets.annotate.Annotator`) once its image is taken, before any event
  names it.

A refused mask refuses its image (a listed skip naming the mask file and the reason); nothing of
it is half-imported.

Also here, for the readers: the ``classes.txt`` and CVAT ``labelmap.txt`` parsers, Pascal VOC's
21 class names and colour map, and the walk that pairs images with their masks by name.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

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
from events.schemas.annotation import IGNORE_INDEX, MAX_SEMANTIC_CLASSES

BACKGROUND = "background"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_LIST_BYTES = 1 << 20
"""The largest ``classes.txt`` or ``labelmap.txt`` read."""
_SHOWN = 5
"""Values or colours a reason names at most."""

Palette = Mapping[int, int]
"""Colour → mask value, colours packed as ``r << 16 | g << 8 | b``."""

VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip
"""Pascal VOC's 21 segmentation classes, background first (index = value in the masks)."""


def pack(r: int, g: int, b: int) -> int:
    """A colour as one number (:data:`Palette`'s keys)."""
    return (r << 16) | (g << 8) | b


def shown_colour(code: int) -> str:
    """A packed colour as ``(r, g, b)``."""
    return f"({code >> 16}, {(code >> 8) & 255}, {code & 255})"


def voc_colour(index: int) -> tuple[int, int, int]:
    """The colour of ``index`` in Pascal VOC's colour map (``labelcolormap`` of the devkit:
    the index's bits interleaved into the high bits of r, g and b; 255 is (224, 224, 192))."""
    r = g = b = 0
    value = index
    for shift in range(7, -1, -1):
        r |= (value & 1) << shift
        g |= ((value >> 1) & 1) << shift
        b |= ((value >> 2) & 1) << shift
        value >>= 3
    return r, g, b


VOID_COLOUR = pack(*voc_colour(IGNORE_INDEX))
"""VOC's void border colour, (224, 224, 192): value 255 in colour masks."""


def voc_palette(count: int) -> dict[int, int]:
    """VOC's colour map for values ``0..count-1``, and its void colour for 255."""
    palette = {pack(*voc_colour(i)): i for i in range(count)}
    palette.setdefault(VOID_COLOUR, IGNORE_INDEX)
    return palette


# ---------------------------------------------------------------------- what readers give
@dataclass(frozen=True, eq=False)
class RawSemantic:
    """One image's class mask as a source gives it, before any check.

    Exactly one of ``mask`` (a file) and ``indices`` (values painted by the reader) is set.

    Attributes:
        legend: the class of each value (``legend[0]`` the background), or None: ``background``
            then ``"1"``, ``"2"``, … up to the mask's largest value.
        mask: the mask file (inside the source), or None.
        name: how a skip names the mask (``masks/a.png``).
        indices: a ``height x width`` uint8 array of values, or None.
        palette: colour → value for colour masks (None: the source gives no colours).
        legend_from: how a skip names where the legend comes from (``classes.txt``).
    """

    legend: tuple[str, ...] | None
    mask: Path | None = None
    name: str = "mask"
    indices: np.ndarray | None = None
    palette: Palette | None = None
    legend_from: str = "the legend"


@dataclass(frozen=True, slots=True)
class MaskAt:
    """The ``ObjectsAt`` of an image whose mask is a file: the same :class:`RawSemantic`
    whatever the size (the size is checked when it is finished). Picklable."""

    raw: RawSemantic

    def __call__(self, width: int, height: int) -> RawSemantic:
        return self.raw


@dataclass(frozen=True, slots=True)
class FinishedSemantic:
    """The outcome for one image's mask.

    Attributes:
        annotation: the ``semantic`` annotation (normalised JSON), or None when refused.
        masks: the PNG bytes of its mask by sha256, to store before any event names it.
        refused: why (None when accepted).
    """

    annotation: dict[str, Any] | None
    masks: dict[str, bytes] = field(default_factory=dict)
    refused: str | None = None


class MaskError(ValueError):
    """A mask cannot be used (the message says why, without the mask's name)."""


# ---------------------------------------------------------------------- the rule
def finish_semantic(raw: RawSemantic, width: int, height: int) -> FinishedSemantic:
    """Check and convert one image's class mask (``width x height``: the upright image)."""
    try:
        if raw.indices is not None:
            values = _checked_array(raw.indices, width, height)
        elif raw.mask is not None:
            values = read_mask(raw.mask, width, height, raw.palette)
        else:
            raise MaskError("no mask given")
        legend = raw.legend if raw.legend is not None else default_legend(values)
        check_values(values, legend, raw.legend_from)
    except MaskError as exc:
        return FinishedSemantic(None, refused=f"{raw.name}: {exc}")
    sha, data = mask_png(values)
    annotation = {"kind": "semantic", "mask": {"sha256": sha, "ext": "png"}, "classes": [*legend]}
    return FinishedSemantic(annotation, {sha: data})


def _checked_array(indices: np.ndarray, width: int, height: int) -> np.ndarray:
    if indices.dtype != np.uint8 or indices.ndim != 2:
        raise MaskError(f"values must be a 2-D uint8 array, not {indices.dtype} {indices.shape}")
    if indices.shape != (height, width):
        h, w = indices.shape
        raise MaskError(f"{w}x{h}, the image is {width}x{height} (upright)")
    return indices


def default_legend(values: np.ndarray) -> tuple[str, ...]:
    """``background``, ``"1"``, … up to the largest value below 255 of ``values``."""
    present = np.flatnonzero(np.bincount(values.ravel(), minlength=256)[:IGNORE_INDEX])
    top = int(present[-1]) if present.size else 0
    return (BACKGROUND, *(str(i) for i in range(1, top + 1)))


def check_values(values: np.ndarray, legend: Sequence[str], where: str = "the legend") -> None:
    """Refuse values that name no class of ``legend`` (255 is always allowed); ``where`` names
    the legend in the message (``classes.txt``).

    Raises:
        MaskError: naming the first values out of range and the legend's length.
    """
    counts = np.bincount(values.ravel(), minlength=256)
    counts[IGNORE_INDEX] = 0
    bad = np.flatnonzero(counts[len(legend) :]) + len(legend)
    if bad.size:
        shown = ", ".join(str(int(v)) for v in bad[:_SHOWN]) + (", …" if bad.size > _SHOWN else "")
        raise MaskError(
            f"values {shown} name no class: {where} names {len(legend)} "
            f"(values 0 to {len(legend) - 1}; 255 = ignore)"
        )


def mask_png(values: np.ndarray) -> tuple[str, bytes]:
    """``(sha256, bytes)`` of a value array as an 8-bit grey PNG (deterministic bytes)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(values, dtype=np.uint8)).save(  # 2-D uint8: "L"
        buffer, format="PNG", compress_level=6
    )
    data = buffer.getvalue()
    return hashlib.sha256(data).hexdigest(), data


# ---------------------------------------------------------------------- reading mask files
@dataclass(frozen=True, slots=True)
class PngHeader:
    """A PNG's ``IHDR``: its size, bit depth and colour type (0 grey, 2 RGB, 3 palette,
    4 grey + alpha, 6 RGBA)."""

    width: int
    height: int
    bit_depth: int
    colour_type: int


def png_header(head: bytes) -> PngHeader:
    """The ``IHDR`` of a file's first 26 bytes or more.

    Raises:
        MaskError: not a PNG (a JPEG is named as one).
    """
    if not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR" or len(head) < 26:
        if head.startswith(b"\xff\xd8\xff"):
            raise MaskError(
                "is a JPEG file: masks must be PNG (JPEG's compression changes the values)"
            )
        raise MaskError("is not a PNG file: masks must be PNG")
    width, height = struct.unpack(">II", head[16:24])
    return PngHeader(width, height, head[24], head[25])


_UNUSABLE = {4: "grey with alpha"}


def read_mask(path: Path, width: int, height: int, palette: Palette | None) -> np.ndarray:
    """The values of a mask file, checked to be a usable PNG of ``width x height``.

    Raises:
        MaskError: missing, unreadable, not a PNG, another size, 16-bit or another unusable
            mode, colours not in the palette (the message says which).
    """
    try:
        with path.open("rb") as handle:
            header = png_header(handle.read(32))
    except FileNotFoundError:
        raise MaskError("the mask file is missing") from None
    except OSError as exc:
        raise MaskError(f"cannot read the mask: {exc.strerror or exc}") from None
    if (header.width, header.height) != (width, height):
        raise MaskError(
            f"{header.width}x{header.height}, the image is {width}x{height} (upright): "
            "a mask must have its image's size"
        )
    if header.bit_depth == 16:
        raise MaskError("a 16-bit PNG: masks must be 8-bit (values 0..254, 255 = ignore)")
    if header.colour_type in _UNUSABLE or header.colour_type not in (0, 2, 3, 6):
        kind = _UNUSABLE.get(header.colour_type, f"colour type {header.colour_type}")
        raise MaskError(f"a PNG of {kind}: masks are palette, grey or RGB PNGs")
    if Image.MAX_IMAGE_PIXELS is not None and width * height > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = width * height  # its image of this size was accepted
    try:
        with Image.open(path) as image:
            image.load()
            pixels = np.asarray(image)
            mode = image.mode
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise MaskError(f"cannot decode the PNG ({exc})") from None
    if mode == "P":
        return np.ascontiguousarray(pixels, dtype=np.uint8)
    if mode == "1":
        return pixels.astype(np.uint8)
    if mode == "L":
        if header.bit_depth in (2, 4):  # Pillow scales them to 0..255
            return (pixels // (255 // ((1 << header.bit_depth) - 1))).astype(np.uint8)
        return np.ascontiguousarray(pixels, dtype=np.uint8)
    if mode in ("RGB", "RGBA"):
        return colour_values(pixels[..., :3], palette)
    raise MaskError(f"a PNG of mode {mode}: masks are palette, grey or RGB PNGs")


def colour_values(rgb: np.ndarray, palette: Palette | None) -> np.ndarray:
    """The values of a ``h x w x 3`` colour mask through ``palette``.

    Raises:
        MaskError: no palette (and not grey), or colours the palette lacks (a few named).
    """
    if palette is None:
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            return np.ascontiguousarray(rgb[..., 0], dtype=np.uint8)
        raise MaskError(
            "an RGB mask, and the source gives no class colours (classes.txt lines "
            "`name r,g,b`): save the mask as a grey or palette PNG of class indices, or give "
            "each class its colour"
        )
    codes = (
        (rgb[..., 0].astype(np.uint32) << 16)
        | (rgb[..., 1].astype(np.uint32) << 8)
        | rgb[..., 2].astype(np.uint32)
    )
    keys = np.asarray(sorted(palette), dtype=np.uint32)
    table = np.asarray([palette[int(k)] for k in keys], dtype=np.uint8)
    at = np.searchsorted(keys, codes).clip(0, max(len(keys) - 1, 0))
    known = keys[at] == codes if len(keys) else np.zeros(codes.shape, dtype=bool)
    if not known.all():
        missing = np.unique(codes[~known])
        shown = ", ".join(shown_colour(int(c)) for c in missing[:_SHOWN])
        more = f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
        raise MaskError(
            f"{len(missing)} colour(s) are no class's colour: {shown}{more} (a colour mask "
            "must use the classes' colours exactly)"
        )
    return table[at]


# ---------------------------------------------------------------------- class lists
_COLOUR_AT_END = re.compile(r"^(.*?)\s+(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})$")


def _list_text(path: Path, shown: str) -> list[str]:
    try:
        if path.is_symlink() and not is_within(path, path.parent):
            raise SourceError(f"{shown} is a symbolic link pointing outside the source folder")
        size = path.stat().st_size
        if size > MAX_LIST_BYTES:
            raise SourceError(f"{shown} is {size:,} bytes: at most {MAX_LIST_BYTES:,}")
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise SourceError(f"cannot read {shown}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SourceError(f"{shown} is not UTF-8 text") from None
    return text.splitlines()


def _colour(parts: Sequence[str], shown: str, number: int) -> int:
    values = [int(p) for p in parts]
    if any(v > 255 for v in values):
        raise SourceError(f"{shown} line {number}: colour components are 0 to 255")
    return pack(*values)


def _legend(names: Sequence[str], shown: str, numbers: Sequence[int]) -> tuple[str, ...]:
    if not names:
        raise SourceError(f"{shown} names no class")
    if len(names) > MAX_SEMANTIC_CLASSES:
        raise SourceError(
            f"{shown} names {len(names)} classes: at most {MAX_SEMANTIC_CLASSES} "
            "(values 0..254; 255 = ignore)"
        )
    checked: list[str] = []
    for raw, number in zip(names, numbers, strict=True):
        label, problem = check_label(raw)
        if label is None:
            raise SourceError(f"{shown} line {number}: {problem}")
        if label in checked:
            raise SourceError(f"{shown} line {number}: class {label!r} is named twice")
        checked.append(label)
    return tuple(checked)


def _palette(colours: Sequence[int | None], shown: str, names: Sequence[str]) -> dict[int, int]:
    palette: dict[int, int] = {}
    for index, code in enumerate(colours):
        if code is None:
            continue
        if code in palette:
            raise SourceError(
                f"{shown}: {names[palette[code]]!r} and {names[index]!r} have the same colour "
                f"{shown_colour(code)}"
            )
        palette[code] = index
    return palette


def read_classes_txt(
    path: Path, shown: str = "classes.txt"
) -> tuple[tuple[str, ...], Palette | None]:
    """A ``classes.txt``: one class a line, line 1 the background (value = line number - 1),
    each optionally followed by its colour for RGB masks (``road 128,64,128``).

    Trailing empty lines are ignored; an empty line between classes is refused (it would shift
    every value after it). Colours are given for every class or for none.

    Returns:
        ``(legend, palette)``; the palette is None without colours.

    Raises:
        SourceError: unreadable, empty, too many classes, an invalid or repeated name, colours
            for some classes only, or the same colour twice.
    """
    lines = _list_text(path, shown)
    while lines and not lines[-1].strip():
        lines.pop()
    names: list[str] = []
    colours: list[int | None] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            raise SourceError(
                f"{shown} line {number} is empty: every line names a class (value = line "
                "number - 1)"
            )
        found = _COLOUR_AT_END.match(text)
        names.append(found[1] if found else text)
        colours.append(_colour(found.groups()[1:], shown, number) if found else None)
    legend = _legend(names, shown, range(1, len(names) + 1))
    given = [c is not None for c in colours]
    if any(given) and not all(given):
        lacking = [n for n, c in zip(legend, colours, strict=True) if c is None]
        raise SourceError(
            f"{shown} gives colours for some classes only: give every class a colour or none "
            f"(no colour: {', '.join(repr(n) for n in lacking[:_SHOWN])})"
        )
    return legend, (_palette(colours, shown, legend) if all(given) else None)


def read_labelmap(path: Path, shown: str = "labelmap.txt") -> tuple[tuple[str, ...], Palette]:
    """A CVAT / Datumaro ``labelmap.txt``: lines ``name:r,g,b:parts:actions`` (value = order of
    the class lines; ``#`` lines and empty lines are not classes). A class without a colour
    (``name:::``) takes VOC's colour of its value, as Datumaro does.

    Raises:
        SourceError: unreadable, no class, a line without ``:``, a bad colour, a repeated name
            or colour.
    """
    names: list[str] = []
    numbers: list[int] = []
    colours: list[int | None] = []
    for number, line in enumerate(_list_text(path, shown), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, sep, rest = text.partition(":")
        if not sep:
            raise SourceError(f"{shown} line {number}: expected name:r,g,b:parts:actions")
        raw_colour = rest.partition(":")[0].strip()
        if raw_colour:
            parts = [p.strip() for p in raw_colour.split(",")]
            if len(parts) != 3 or not all(p.isdigit() for p in parts):
                raise SourceError(f"{shown} line {number}: colour {raw_colour!r} is not r,g,b")
            colours.append(_colour(parts, shown, number))
        else:
            colours.append(pack(*voc_colour(len(names))))
        names.append(name)
        numbers.append(number)
    legend = _legend(names, shown, numbers)
    return legend, _palette(colours, shown, legend)


# ---------------------------------------------------------------------- pairing files
@dataclass(frozen=True, slots=True)
class FoundFile:
    """A file found under a layout folder: its name in the source (``masks/a.png``), where it
    is, and why it cannot be used (None: it can)."""

    name: str
    path: Path
    problem: str | None

    @property
    def key(self) -> str:
        """Its name inside its folder without the suffix (``sub/a``): what pairs an image
        with its mask."""
        inside = PurePosixPath(self.name.partition("/")[2])
        return inside.with_suffix("").as_posix()


def layout_folder(source: Path, root: Path, name: str, layout: str) -> Path:
    """``root/name``, a folder inside the source.

    Raises:
        SourceError: missing, not a folder, or a link leading out of the source.
    """
    folder = root / name
    if folder.is_symlink() and not is_within(folder, root):
        raise SourceError(f"{name}/ in {source} is a symbolic link pointing outside the source")
    if not folder.is_dir():
        raise SourceError(f"{source} has no {name}/ folder ({layout})")
    return folder


def walk_files(root: Path, folder: str, skipped: list[Skip]) -> list[FoundFile]:
    """Every visible file under ``root/folder`` (sub-folders too, names sorted), each checked:
    names that are not UTF-8, links out of the source or to folders, non-image suffixes.
    Folders that cannot be listed are skips at once."""
    found: list[FoundFile] = []
    stack: list[tuple[Path, str]] = [(root / folder, folder)]
    while stack:
        where, prefix = stack.pop()
        try:
            with os.scandir(where) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            if prefix == folder:
                raise SourceError(f"cannot list {folder}/: {exc.strerror or exc}") from None
            skipped.append(Skip(prefix + "/", f"cannot list folder: {exc.strerror or exc}"))
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            name = f"{prefix}/{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                subfolders.append((Path(entry.path), name))
                continue
            found.append(_found(root, entry, name))
        stack.extend(reversed(subfolders))
    found.sort(key=lambda f: f.name)
    return found


def _found(root: Path, entry: os.DirEntry[str], name: str) -> FoundFile:
    path = Path(entry.path)
    shown, unstorable = log_name(name)
    if unstorable is not None:
        return FoundFile(shown, path, unstorable)
    problem: str | None = None
    if entry.is_symlink():
        if not is_within(path, root):
            problem = "symbolic link pointing outside the source folder"
        elif path.is_dir():
            problem = "symbolic link to a folder (not followed)"
    if problem is None and not path.is_file():
        problem = "broken symbolic link" if entry.is_symlink() else "not a regular file"
    suffix = path.suffix.lower()
    if problem is None and suffix not in IMAGE_SUFFIXES:
        problem = f"not an image file ({f'extension {suffix}' if suffix else 'no extension'})"
    if problem is None and len(name) > MAX_FILENAME:
        problem = f"file name longer than {MAX_FILENAME} characters"
    return FoundFile(name, path.resolve() if problem is None else path, problem)


def pair_masks(
    result: ReadResult,
    root: Path,
    images: str,
    masks: str,
    legend: tuple[str, ...] | None,
    palette: Palette | None,
    legend_from: str = "the legend",
) -> None:
    """Add to ``result`` a candidate per image of ``root/images`` with its mask in
    ``root/masks`` (the same name inside the folder, any suffix: a ``.png`` first), and the
    skips: files that cannot be used, images without a mask ("no mask"), masks without an
    image, a second image or mask of one name."""
    mask_files: dict[str, FoundFile] = {}
    for mask in sorted(
        walk_files(root, masks, result.skipped),
        key=lambda f: (f.key, f.path.suffix.lower() != ".png", f.name),
    ):
        first = mask_files.get(mask.key)
        if first is not None:
            result.skipped.append(
                Skip(mask.name, f"another mask of the same name: {first.name} is used")
            )
        else:
            mask_files[mask.key] = mask
    used: set[str] = set()
    for image in walk_files(root, images, result.skipped):
        if image.problem is not None:
            result.skipped.append(Skip(image.name, image.problem))
            continue
        mask = mask_files.get(image.key)
        if image.key in used:
            taken = f"{mask.name} is already another image's mask" if mask else "same name"
            result.skipped.append(Skip(image.name, f"another image of the same name: {taken}"))
            continue
        used.add(image.key)
        if mask is None:
            result.skipped.append(Skip(image.name, f"no mask (expected {masks}/{image.key}.png)"))
            continue
        if mask.problem is not None:
            result.skipped.append(Skip(image.name, f"its mask {mask.name}: {mask.problem}"))
            continue
        raw = RawSemantic(legend, mask.path, mask.name, palette=palette, legend_from=legend_from)
        result.candidates.append(Candidate(path=image.path, name=image.name, objects=MaskAt(raw)))
    for key, mask in mask_files.items():
        if key not in used:
            reason = mask.problem or f"no image for this mask ({images}/{key}.*)"
            result.skipped.append(Skip(mask.name, reason))


def list_images(result: ReadResult, root: Path, images: str) -> None:
    """Add every image of ``root/images`` to ``result`` without annotations (unlabelled)."""
    for image in walk_files(root, images, result.skipped):
        if image.problem is None:
            result.candidates.append(Candidate(path=image.path, name=image.name))
        else:
            result.skipped.append(Skip(image.name, image.problem))


__all__ = [
    "BACKGROUND",
    "VOC_CLASSES",
    "FinishedSemantic",
    "FoundFile",
    "MaskAt",
    "MaskError",
    "Palette",
    "PngHeader",
    "RawSemantic",
    "check_values",
    "default_legend",
    "finish_semantic",
    "list_images",
    "mask_png",
    "pack",
    "pair_masks",
    "png_header",
    "read_classes_txt",
    "read_labelmap",
    "read_mask",
    "voc_colour",
    "voc_palette",
    "walk_files",
]
