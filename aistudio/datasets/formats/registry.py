"""The format registry: one entry per import format, each saying what its reader produces.

A format is one reader module of this package (``read(source, labelled) -> ReadResult``) plus an
optional ``sniff(source) -> bool`` that recognises its layout for ``format="auto"``. A format that
gives several kinds of structured annotation from one layout (COCO's boxes, instances or class
masks) names the reader of each other kind in ``kind_readers``. Entries name their functions as
``module:function`` and are loaded on first use, so listing the formats (the web page, the CLI's
choices) imports no reader. The importer checks a project's task against
what the chosen format produces (DESIGN §3b's annotation kinds) before reading anything.

Adding a format is one module and one line in :data:`FORMATS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FormatSpec:
    """One import format.

    Attributes:
        name: its name in ``ImportRequested.format`` and ``aistudio import --format``.
        produces: the annotation kinds its reader can give images (``label``, ``value``,
            ``boxes``, …); empty for none.
        reader: ``module:function`` of ``read(source: Path, labelled: bool) -> ReadResult``.
        sniffer: ``module:function`` of ``sniff(source: Path) -> bool`` for ``auto``, or None.
        layout: the layout in a few words, for messages.
        title: its name for people (``Pascal VOC``).
        kind_readers: kind -> ``module:function`` of the reader of that kind, where it is not
            ``reader`` (``instances`` for COCO and YOLO, ``semantic`` for COCO and VOC).
    """

    name: str
    produces: frozenset[str]
    reader: str
    sniffer: str | None
    layout: str
    title: str
    kind_readers: Mapping[str, str] = field(default_factory=dict)

    def read(self, source: Path, labelled: bool, kind: str | None = None) -> Any:
        """Run the reader of ``kind`` (None or a kind without its own reader: ``reader``;
        see :class:`~aistudio.datasets.formats.base.ReadResult`)."""
        target = self.kind_readers.get(kind, self.reader) if kind is not None else self.reader
        return _load(target)(source, labelled)

    def sniff(self, source: Path) -> bool:
        """Whether ``source`` looks like this format (False when it has no sniffer)."""
        return self.sniffer is not None and bool(_load(self.sniffer)(source))


def _load(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function


_PACKAGE = "aistudio.datasets.formats"

FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        FormatSpec(
            "coco",
            frozenset({"boxes", "instances", "semantic"}),
            f"{_PACKAGE}.coco:read_coco",
            f"{_PACKAGE}.coco:looks_like_coco",
            "one COCO JSON file (images, annotations, categories)",
            "COCO JSON",
            {
                "instances": f"{_PACKAGE}.coco:read_coco_instances",
                "semantic": f"{_PACKAGE}.coco_semantic:read_coco_semantic",
            },
        ),
        FormatSpec(
            "voc",
            frozenset({"boxes", "semantic"}),
            f"{_PACKAGE}.voc:read_voc",
            f"{_PACKAGE}.voc:looks_like_voc",
            "Pascal VOC: Annotations/*.xml (or SegmentationClass/*.png) and JPEGImages/",
            "Pascal VOC",
            {"semantic": f"{_PACKAGE}.voc_semantic:read_voc_semantic"},
        ),
        FormatSpec(
            "yolo",
            frozenset({"boxes", "instances"}),
            f"{_PACKAGE}.yolo:read_yolo",
            f"{_PACKAGE}.yolo:looks_like_yolo",
            "Ultralytics YOLO: data.yaml with images/ and labels/",
            "YOLO",
            {"instances": f"{_PACKAGE}.yolo:read_yolo_instances"},
        ),
        FormatSpec(
            "masks",
            frozenset({"semantic"}),
            f"{_PACKAGE}.semantic_masks:read_masks",
            f"{_PACKAGE}.semantic_masks:looks_like_masks",
            "images/ with class masks in masks/ (same names, PNG) and optionally classes.txt",
            "Image and mask folders",
        ),
        FormatSpec(
            "csv",
            frozenset({"label", "value"}),
            f"{_PACKAGE}.csvfile:read_csv",
            f"{_PACKAGE}.csvfile:looks_like_csv",
            "a CSV of filename,label or filename,value",
            "CSV",
        ),
        FormatSpec(
            "imagefolder",
            frozenset({"label"}),
            f"{_PACKAGE}.imagefolder:read_imagefolder",
            None,
            "one sub-folder per class",
            "Image folder",
        ),
    )
}
"""Every format, in the order ``auto`` tries their sniffers (``imagefolder`` is the fallback)."""


def formats_for(kind: str | None) -> list[str]:
    """The formats whose reader gives ``kind`` annotations (all of them for None)."""
    return [name for name, spec in FORMATS.items() if kind is None or kind in spec.produces]
