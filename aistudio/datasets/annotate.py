"""What an import does with the annotations a source gives (DESIGN §3b), beside its images.

- :func:`plan_read`: which format reads the source and whether its annotations are read, from
  the project's task and the format registry; a format that cannot give the task's kind of
  annotation is refused with the formats that can (a class-per-folder import into a detection
  project used to leave every image unlabelled without a word).
- :class:`Annotator`: one import's annotations, file by file: a candidate's objects become a
  ``boxes`` annotation once its image is inspected (its upright size known), or a listed skip;
  the same content twice with other boxes is a conflict, as with labels.
- :func:`annotation_events`: ``AnnotationsSet`` batches for the records finally added;
  :func:`source_split_event`: the ``source`` split of a source that defines its own subsets
  (YOLO's ``train``/``val``/``test``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aistudio.datasets.formats import Candidate, ReadResult, detect_format
from aistudio.datasets.formats.base import ObjectsError, SourceError
from aistudio.datasets.formats.boxes import finish_boxes
from aistudio.datasets.formats.registry import FORMATS, formats_for
from aistudio.worker.context import JobInputError
from events import NewEvent
from events.schemas.annotation import TASK_ANNOTATION_KINDS
from events.schemas.split import SUBSETS
from projections.dataset import DatasetView

logger = logging.getLogger(__name__)

ANNOTATIONS_PER_EVENT = 500
SOURCE_SPLIT = "source"
"""The split an import creates from a source's own subsets."""


def plan_read(task: str, fmt: str, source: Path) -> tuple[str, bool]:
    """``(format, labelled)``: the format that reads ``source`` and whether its annotations are.

    Raises:
        JobInputError: the source's layout is not recognised, or its format cannot give the
            task's kind of annotation while another format could (the message names them).
    """
    try:
        chosen = detect_format(source) if fmt == "auto" else fmt
    except SourceError as exc:
        raise JobInputError(str(exc)) from None
    spec = FORMATS.get(chosen)
    if spec is None:
        raise JobInputError(f"unknown format {fmt!r}: expected one of auto, {', '.join(FORMATS)}")
    kind = TASK_ANNOTATION_KINDS.get(task)
    if kind is None or kind in spec.produces:
        return chosen, kind is not None
    fitting = formats_for(kind)
    if not fitting:  # no reader gives this kind yet: the images come in without annotations
        return chosen, False
    found = "detected " if fmt == "auto" else ""
    gives = " or ".join(_WHAT[k] for k in sorted(spec.produces)) or "no annotations"
    raise JobInputError(
        f"a {task.replace('_', ' ')} project needs {_NEEDS.get(kind, repr(kind))}: the {found}"
        f"{chosen} format ({spec.layout}) gives {gives}"
    )


_NEEDS = {
    "label": "an image folder or a CSV with the header `filename,label`",
    "value": "a CSV with the header `filename,value`",
    "boxes": "boxes: a COCO JSON, a Pascal VOC folder or a YOLO data.yaml",
}
"""What a task's kind of annotation needs, in words (the formats that give it)."""
_WHAT = {"label": "class names", "value": "values", "boxes": "boxes"}


@dataclass
class Annotator:
    """The annotations of one import, candidate by candidate.

    Attributes:
        classes: the class names objects may have (the source's list).
        by_sha: annotation of each stored image, by content sha256.
        names: which file each annotation came from, by sha256 (for conflict messages).
        subsets: the source's subset of each stored image, by sha256.
        clipped: boxes clipped to their image.
        objects: objects of the images taken.
    """

    classes: frozenset[str]
    by_sha: dict[str, dict[str, Any]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    subsets: dict[str, str] = field(default_factory=dict)
    clipped: int = 0
    objects: int = 0

    @classmethod
    def for_listing(cls, listing: ReadResult) -> Annotator:
        """The annotator of a reader's listing (its class list)."""
        return cls(classes=frozenset(listing.classes or ()))

    def annotation(self, candidate: Candidate, size: tuple[int, int]) -> tuple[Any, str | None]:
        """``(annotation, None)`` for a candidate whose image is ``size`` (upright), or
        ``(None, reason)`` when its objects cannot be taken; ``(None, None)`` without objects."""
        if candidate.objects is None:
            return None, None
        width, height = size
        try:
            raw = candidate.objects(width, height)
        except ObjectsError as exc:
            return None, str(exc)
        finished = finish_boxes(raw, width, height, self.classes)
        if finished.annotation is None:
            return None, f"{finished.refused_count} object(s) refused: {finished.refused}"
        self.clipped += finished.clipped
        return finished.annotation, None

    def take(self, sha: str, candidate: Candidate, annotation: dict[str, Any] | None) -> None:
        """Remember the annotation (and subset) of a stored image."""
        if annotation is not None:
            self.by_sha[sha] = annotation
            self.names[sha] = candidate.name
            self.objects += len(annotation.get("objects") or ())
        if candidate.subset is not None:
            self.subsets[sha] = candidate.subset

    def conflict(
        self,
        candidate: Candidate,
        size: tuple[int, int],
        kept: Mapping[str, Any] | None,
        kept_name: str,
    ) -> str | None:
        """Why a copy of content already taken (as ``kept_name``, annotated ``kept``) is a
        conflict, or None when it says the same (a duplicate) or has no objects to say."""
        if candidate.objects is None:
            return None
        annotation, problem = self.annotation(candidate, size)
        if problem is not None:
            return problem
        if annotation == kept:
            return None
        has = "has no boxes" if kept is None else f"has {_objects(kept)}"
        return (
            f"same image as {kept_name}, which {has}; this copy has {_objects(annotation)} "
            f"(kept {kept_name}'s)"
        )


def _objects(annotation: Mapping[str, Any] | None) -> str:
    count = len((annotation or {}).get("objects") or ())
    return f"{count} object{'s' if count != 1 else ''}"


def annotation_events(
    new_event: Callable[[str, dict[str, Any]], NewEvent],
    records: Sequence[dict[str, Any]],
    by_sha: Mapping[str, dict[str, Any]],
) -> list[NewEvent]:
    """``AnnotationsSet`` batches for the ``records`` about to be added that have one."""
    annotated = [(r["image_id"], by_sha[r["sha256"]]) for r in records if r["sha256"] in by_sha]
    return [
        new_event("AnnotationsSet", {"annotations": dict(annotated[i : i + ANNOTATIONS_PER_EVENT])})
        for i in range(0, len(annotated), ANNOTATIONS_PER_EVENT)
    ]


def classes_after(view: DatasetView, listing: ReadResult, used: Sequence[str]) -> list[str]:
    """The class list after the import: the project's first, then the source's new ones in the
    source's order (its list when it has one, else the new labels in use, sorted)."""
    existing = list(view.classes)
    known = set(existing)
    if listing.classes is not None:
        return existing + [c for c in listing.classes if c not in known]
    return existing + sorted(set(used) - known)


def source_split_event(
    new_event: Callable[[str, dict[str, Any]], NewEvent],
    records: Sequence[dict[str, Any]],
    subsets: Mapping[str, str],
    view: DatasetView,
    seq: int,
) -> NewEvent | None:
    """The ``SplitCreated`` of the source's own subsets, for the images added now, or None.

    Named :data:`SOURCE_SPLIT` (``source 2``, … when taken). Images added earlier, and
    duplicates, are not members: the split says what this source put where.
    """
    members: dict[str, list[str]] = {subset: [] for subset in SUBSETS}
    for record in records:
        subset = subsets.get(record["sha256"])
        if subset in members:
            members[subset].append(record["image_id"])
    total = sum(len(ids) for ids in members.values())
    if total == 0 or not members["train"]:
        if total:
            logger.info("the source's subsets have no train image: no %r split", SOURCE_SPLIT)
        return None
    name, n = SOURCE_SPLIT, 2
    while name in view.splits:
        name, n = f"{SOURCE_SPLIT} {n}", n + 1
    ratios = {s: len(ids) / total for s, ids in members.items()}
    ratios["train"] = 1.0 - ratios["val"] - ratios["test"]
    data = {
        "name": name,
        "ratios": ratios,
        "seed": 0,
        "stratify": False,
        "dataset_seq": seq,
        "assignments": members,
    }
    return new_event("SplitCreated", data)


__all__ = [
    "ANNOTATIONS_PER_EVENT",
    "SOURCE_SPLIT",
    "Annotator",
    "annotation_events",
    "classes_after",
    "plan_read",
    "source_split_event",
]
