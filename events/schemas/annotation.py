"""Annotations: what a person marked on an image, one typed value per image (DESIGN §3b).

Seven kinds, discriminated by ``kind``; every coordinate is in pixels of the upright image
(after its EXIF orientation), origin top-left, x right, y down:

===========  ==========================================================================
``label``    one class name (classification)
``value``    one finite number (regression)
``boxes``    objects ``{class, box: [x1, y1, x2, y2]}`` (detection)
``instances``  objects ``{class, box, polygons}`` or ``{class, box, mask}`` (instance segmentation)
``semantic``   ``{mask}``: an 8-bit index PNG of the image's size, 255 = ignore
``anomaly``    ``{state: good | defect, defect_type?, mask?}`` (white = defect)
``rboxes``     objects ``{class, cx, cy, w, h, angle}``, angle in degrees in [-90, 90)
===========  ==========================================================================

The schemas check what an annotation says by itself (finite coordinates, ``x1 < x2``, polygons of
three points or more, an angle in range). What needs the image and the project — a box inside the
image, a class in the project's list, a mask of the image's size — is checked by
:func:`annotation_problems` (and, for masks, by whoever can read the file) before an event is
appended: an import lists such an object as a skip, a command refuses it.

An image with no object (``{"kind": "boxes", "objects": []}``) is annotated: a negative. An image
not annotated yet has no annotation at all; the two are never confused.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from events.registry import EventData, registry
from events.schemas.common import ImageId, Label, Sha256

MAX_OBJECTS = 10_000
"""Objects one image may hold (COCO's most crowded image has a few hundred)."""
MAX_POLYGON_POINTS = 100_000
"""Points one polygon may have."""
KINDS: tuple[str, ...] = ("label", "value", "boxes", "instances", "semantic", "anomaly", "rboxes")
TASK_ANNOTATION_KINDS: dict[str, str] = {
    "classification": "label",
    "regression": "value",
    "detection": "boxes",
    "instance_segmentation": "instances",
    "segmentation": "semantic",
    "anomaly_detection": "anomaly",
    "obb": "rboxes",
}
"""The kind of annotation each task learns from (DESIGN §3b's table)."""

Coordinate = Annotated[float, Field(ge=0, le=1_000_000)]
"""A pixel coordinate: finite, not negative (an image is at most a million pixels wide)."""


class StoreRef(EventData):
    """A file of the project's content store (``images/<sha256[:2]>/<sha256>.<ext>``), written
    completely before any event names it: DESIGN §3b's ``FileRef``. Masks are PNG, never JPEG."""

    sha256: Sha256
    ext: Literal["png"] = "png"


class _ObjectData(EventData):
    """An object of an image: its ``class`` is spelt so in JSON (``class_`` in Python).

    Flags that are off and shapes that are absent are left out of the normal form, so that a
    100,000-box import does not store ``"difficult": false, "crowd": false`` 100,000 times.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        ser_json_inf_nan="constants",
        validate_by_name=False,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    class_: Label = Field(alias="class")

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        for key in _OMITTED_WHEN_UNSET:
            if key in out and out[key] in (None, False):
                del out[key]
        return out


_OMITTED_WHEN_UNSET = ("difficult", "crowd", "polygons", "mask")


def _check_box(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    if not (x1 < x2 and y1 < y2):
        raise ValueError("a box is [x1, y1, x2, y2] with x1 < x2 and y1 < y2 (no zero area)")
    return box


class BoxObject(_ObjectData):
    """One object of a detection annotation.

    Attributes:
        box: ``[x1, y1, x2, y2]`` corners, ``x1 < x2`` and ``y1 < y2``.
        difficult: VOC's flag (kept; evaluation may ignore such objects).
        crowd: COCO's ``iscrowd`` (a group of objects in one box; ignored by COCO evaluation).
    """

    box: tuple[Coordinate, Coordinate, Coordinate, Coordinate]
    difficult: bool = False
    crowd: bool = False

    @field_validator("box")
    @classmethod
    def _box(cls, value: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        return _check_box(value)


def _check_polygon(points: list[float]) -> list[float]:
    if len(points) % 2:
        raise ValueError("a polygon is a flat list [x1, y1, x2, y2, …] of an even length")
    if len(points) < 6:
        raise ValueError("a polygon needs at least 3 points")
    if len(points) > 2 * MAX_POLYGON_POINTS:
        raise ValueError(f"a polygon may have at most {MAX_POLYGON_POINTS:,} points")
    return points


class InstanceObject(BoxObject):
    """One object of an instance segmentation annotation: its box and either polygons (each a
    flat ``[x1, y1, x2, y2, …]`` list, at least 3 points) or a binary mask PNG of the image's size.
    """

    polygons: list[list[Coordinate]] | None = Field(default=None, min_length=1, max_length=1000)
    mask: StoreRef | None = None

    @field_validator("polygons")
    @classmethod
    def _polygons(cls, value: list[list[float]] | None) -> list[list[float]] | None:
        return None if value is None else [_check_polygon(p) for p in value]

    @model_validator(mode="after")
    def _one_shape(self) -> InstanceObject:
        if (self.polygons is None) == (self.mask is None):
            raise ValueError("an instance has either polygons or a mask (exactly one)")
        return self


class RBoxObject(_ObjectData):
    """One rotated box: centre, size and angle (degrees, counter-clockwise on screen, [-90, 90))."""

    cx: Coordinate
    cy: Coordinate
    w: float = Field(gt=0, le=1_000_000)
    h: float = Field(gt=0, le=1_000_000)
    angle: float = Field(ge=-90, lt=90)
    difficult: bool = False


class LabelAnnotation(EventData):
    """Classification: one class name."""

    kind: Literal["label"] = "label"
    label: Label


class ValueAnnotation(EventData):
    """Regression: one finite number."""

    kind: Literal["value"] = "value"
    value: float


class BoxesAnnotation(EventData):
    """Detection: the image's objects (none: a negative)."""

    kind: Literal["boxes"] = "boxes"
    objects: list[BoxObject] = Field(default_factory=list, max_length=MAX_OBJECTS)


class InstancesAnnotation(EventData):
    """Instance segmentation: the image's objects, each with polygons or a mask."""

    kind: Literal["instances"] = "instances"
    objects: list[InstanceObject] = Field(default_factory=list, max_length=MAX_OBJECTS)


MAX_SEMANTIC_CLASSES = 255
"""Classes a semantic mask's legend may name: values 0..254 (255 is ignore)."""
IGNORE_INDEX = 255
"""The value of a semantic mask's pixels that are neither trained on nor scored (VOC's void)."""


class SemanticAnnotation(EventData):
    """Semantic segmentation: an 8-bit index PNG of the image's size (value = class index,
    255 = ignore) and its legend.

    ``classes`` names what the values mean: value ``i`` is ``classes[i]``, ``classes[0]`` the
    background; every name is one of the project's classes. A legend makes a mask readable on
    its own (two sources may number their classes differently: each keeps its numbers). Imports
    always write it; an annotation without one (written before it existed) reads its values as
    indices of the project's class list. Left out of the normal form when absent.
    """

    kind: Literal["semantic"] = "semantic"
    mask: StoreRef
    classes: list[Label] | None = Field(default=None, min_length=1, max_length=MAX_SEMANTIC_CLASSES)

    @field_validator("classes")
    @classmethod
    def _unique_classes(cls, classes: list[str] | None) -> list[str] | None:
        if classes is not None and len(set(classes)) != len(classes):
            raise ValueError("a mask's legend names each class once")
        return classes

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        if out.get("classes") is None:
            out.pop("classes", None)
        return out


class AnomalyAnnotation(EventData):
    """Anomaly detection: good or defect, the defect's type, and where (white = defect)."""

    kind: Literal["anomaly"] = "anomaly"
    state: Literal["good", "defect"]
    defect_type: Label | None = None
    mask: StoreRef | None = None

    @model_validator(mode="after")
    def _good_has_no_defect(self) -> AnomalyAnnotation:
        if self.state == "good" and (self.defect_type is not None or self.mask is not None):
            raise ValueError("a good image has no defect type and no defect mask")
        return self


class RBoxesAnnotation(EventData):
    """Oriented boxes: the image's rotated objects (none: a negative)."""

    kind: Literal["rboxes"] = "rboxes"
    objects: list[RBoxObject] = Field(default_factory=list, max_length=MAX_OBJECTS)


Annotation = Annotated[
    LabelAnnotation
    | ValueAnnotation
    | BoxesAnnotation
    | InstancesAnnotation
    | SemanticAnnotation
    | AnomalyAnnotation
    | RBoxesAnnotation,
    Field(discriminator="kind"),
]
"""One image's annotation, of one of the seven kinds."""


@registry.register("AnnotationsSet")
class AnnotationsSet(EventData):
    """A batch of annotations from an import: image id -> its annotation (replacing any)."""

    annotations: dict[ImageId, Annotation] = Field(min_length=1)


@registry.register("AnnotationChanged")
class AnnotationChanged(EventData):
    """A person edited one image's annotation, as a whole (None: it is not annotated any more)."""

    image_id: ImageId
    annotation: Annotation | None


# ---------------------------------------------------------------------- files they name
def annotation_files(annotation: Mapping[str, Any] | None) -> Iterator[str]:
    """The sha256 of every content-store file an annotation (normalised JSON) names: its mask
    (semantic, anomaly) and its objects' masks (instances)."""
    if not annotation:
        return
    mask = annotation.get("mask")
    if mask is not None:
        yield mask["sha256"]
    for obj in annotation.get("objects") or ():
        mask = obj.get("mask")
        if mask is not None:
            yield mask["sha256"]


def files_named(event_type: str, data: Mapping[str, Any]) -> Iterator[str]:
    """The sha256 of every mask file the data of an ``AnnotationsSet`` or
    ``AnnotationChanged`` names (nothing for other types): the files a sweep of unreferenced
    files must keep, beside the originals ``ImagesAdded`` names."""
    if event_type == "AnnotationsSet":
        for annotation in data["annotations"].values():
            yield from annotation_files(annotation)
    elif event_type == "AnnotationChanged":
        yield from annotation_files(data.get("annotation"))


# ---------------------------------------------------------------------- checks in context
def _box_problems(box: Any, width: int, height: int, where: str) -> list[str]:
    _x1, _y1, x2, y2 = box
    if x2 > width or y2 > height:
        return [f"{where}: box {_shown(box)} reaches outside the {width}x{height} image"]
    return []


def _shown(numbers: Any) -> str:
    return "[" + ", ".join(f"{n:g}" for n in numbers) + "]"


def annotation_problems(
    annotation: dict[str, Any], width: int, height: int, classes: Collection[str]
) -> list[str]:
    """What is wrong with a (schema-valid, normalised) annotation on a ``width x height`` image
    of a project with ``classes``: objects outside the image, classes not in the list. (A
    classification label needs no list: labels in use are the project's classes.)

    Masks are checked by whoever can read them (their size must be the image's). Returns one
    sentence per problem, naming the object (``object 3``), empty when all is well.
    """
    problems: list[str] = []
    kind = annotation["kind"]
    for index, obj in enumerate(annotation.get("objects") or (), start=1):
        where = f"object {index}"
        if obj["class"] not in classes:
            problems.append(f"{where}: class {obj['class']!r} is not one of the project's classes")
        if "box" in obj:
            problems.extend(_box_problems(obj["box"], width, height, where))
        for polygon in obj.get("polygons") or ():
            xs, ys = polygon[0::2], polygon[1::2]
            if max(xs) > width or max(ys) > height:
                problems.append(f"{where}: a polygon reaches outside the {width}x{height} image")
        if kind == "rboxes":
            problems.extend(_rbox_problems(obj, width, height, where))
    unknown = [c for c in annotation.get("classes") or () if c not in classes]
    if kind == "semantic" and unknown:
        problems.append(
            f"the mask's legend names {len(unknown)} class(es) that are not the project's: "
            + ", ".join(repr(c) for c in unknown[:5])
        )
    return problems


def _rbox_problems(obj: dict[str, Any], width: int, height: int, where: str) -> list[str]:
    """A rotated box must have its centre inside the image (its corners may be cut off by the
    image's edge, as DOTA's are)."""
    if not (obj["cx"] <= width and obj["cy"] <= height):
        return [f"{where}: centre ({obj['cx']:g}, {obj['cy']:g}) lies outside the image"]
    return []
