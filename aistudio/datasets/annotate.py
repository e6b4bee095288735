"""What an import does with the annotations a source gives (DESIGN §3b), beside its images.

- :func:`plan_read`: which format reads the source and whether its annotations are read, from
  the project's task and the format registry; a format that cannot give the task's kind of
  annotation is refused with the formats that can (a class-per-folder import into a detection
  project used to leave every image unlabelled without a word).
- :class:`Annotator`: one import's annotations, file by file: a candidate's objects become a
  ``boxes`` or ``instances`` annotation, its class mask a ``semantic`` one, once its image is
  inspected (its upright size known), or a listed skip; the same content twice with other
  objects (another mask) is a conflict, as with labels. Each kind has its rule (``_FINISHERS``:
  ``finish_boxes``, ``finish_instances``, ``finish_semantic``). An instance's mask (from an
  RLE) and a class mask are PNGs of the content store, written (temporary file, fsync, rename)
  by a small thread pool once its image is taken and waited for before the import returns its
  events (:meth:`Annotator.wait_for_masks`); a copy found to be a duplicate or a conflict
  writes none.
- :func:`referenced_files`: every stored file the log names, originals and masks alike (what
  a sweep must keep).
- :func:`annotation_events`: ``AnnotationsSet`` batches for the records finally added;
  :func:`source_split_event`: the ``source`` split of a source that defines its own subsets
  (YOLO's ``train``/``val``/``test``).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from aistudio.datasets.formats import Candidate, ReadResult, detect_format
from aistudio.datasets.formats.base import ObjectsError, SourceError
from aistudio.datasets.formats.boxes import finish_boxes
from aistudio.datasets.formats.registry import FORMATS, formats_for
from aistudio.datasets.orphans import referenced_sha256
from aistudio.worker.context import JobInputError
from events import Event, NewEvent
from events.schemas.annotation import TASK_ANNOTATION_KINDS, files_named
from events.schemas.split import SUBSETS
from projections.dataset import DatasetView

logger = logging.getLogger(__name__)

ANNOTATIONS_PER_EVENT = 500
SOURCE_SPLIT = "source"
"""The split an import creates from a source's own subsets."""
OBJECT_KINDS = frozenset({"boxes", "instances"})
"""The annotation kinds made of objects (counted, clipped, compared object by object)."""
MASK_KINDS = frozenset({"semantic"})
"""The annotation kinds that are one class mask per image, with its legend (its classes)."""


class ReadPlan(NamedTuple):
    """How an import reads its source.

    Attributes:
        format: the format whose reader reads it.
        kind: the annotation kind read (the task's), or None: images only.
    """

    format: str
    kind: str | None

    @property
    def labelled(self) -> bool:
        """Whether annotations are read."""
        return self.kind is not None


def plan_read(task: str, fmt: str, source: Path) -> ReadPlan:
    """The format that reads ``source`` and the kind of annotation it reads for ``task``.

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
        return ReadPlan(chosen, kind)
    fitting = formats_for(kind)
    if not fitting:  # no reader gives this kind yet: the images come in without annotations
        return ReadPlan(chosen, None)
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
    "instances": (
        "each object's outline or mask: a COCO JSON with `segmentation` (polygons or RLE) or a "
        "YOLO data.yaml with segmentation labels (cls x1 y1 x2 y2 …)"
    ),
    "semantic": (
        "a class mask per image: images/ with masks/ (PNG, value = class index) and an "
        "optional classes.txt, a Pascal VOC folder with SegmentationClass/, or a COCO JSON "
        "with `segmentation` (painted by class)"
    ),
}
"""What a task's kind of annotation needs, in words (the formats that give it)."""
_WHAT = {
    "label": "class names",
    "value": "values",
    "boxes": "boxes",
    "instances": "outlines and masks",
    "semantic": "class masks",
}


class MaskStore(Protocol):
    """Where an import writes mask files (:class:`aistudio.datasets.store.ImageStore`)."""

    def put_original(self, sha256: str, ext: str, data: bytes) -> bool: ...


MASK_WRITERS = 2
"""Threads writing mask files: each write waits for its fsync, which a thread covers."""
MASK_WINDOW = 64
"""Mask files in flight at most (their bytes are held until written)."""


class _MaskWriter:
    """Writes mask files into the store from a small thread pool, at most :data:`MASK_WINDOW`
    in flight; :meth:`wait` returns once every file given is written (or raises the first
    write error)."""

    def __init__(self, store: MaskStore) -> None:
        self.store = store
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[bool]] = deque()

    def put(self, sha: str, data: bytes) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(MASK_WRITERS, thread_name_prefix="mask-writer")
        while len(self._pending) >= MASK_WINDOW:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self.store.put_original, sha, "png", data))

    def wait(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        """Stop the threads, after the writes in flight (nothing is left half-written)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pending.clear()


@dataclass(frozen=True, slots=True)
class _Finished:
    """One candidate's annotation as :meth:`Annotator.annotation` made it last."""

    annotation: dict[str, Any] | None
    masks: Mapping[str, bytes]


Finisher = Callable[[Any, int, int, frozenset[str]], tuple[_Finished | None, str | None, int]]
"""``(raw, width, height, classes) -> (finished, reason, clipped)``: one kind's rule for what a
reader gives an image (its objects, or its class mask) once the upright size is known."""


def _finish_boxes(
    raw: Any, width: int, height: int, classes: frozenset[str]
) -> tuple[_Finished | None, str | None, int]:
    boxes = finish_boxes(raw, width, height, classes)
    finished = None if boxes.annotation is None else _Finished(boxes.annotation, {})
    return finished, _refusal(boxes.refused_count, boxes.refused), boxes.clipped


def _finish_instances(
    raw: Any, width: int, height: int, classes: frozenset[str]
) -> tuple[_Finished | None, str | None, int]:
    # shapely (a third of a second to import) only for the imports that need it
    from aistudio.datasets.formats.masks import finish_instances

    done = finish_instances(raw, width, height, classes)
    finished = None if done.annotation is None else _Finished(done.annotation, done.masks)
    return finished, _refusal(done.refused_count, done.refused), done.clipped


def _finish_semantic(
    raw: Any, width: int, height: int, classes: frozenset[str]
) -> tuple[_Finished | None, str | None, int]:
    """A class mask; its legend is its own (the source's classes, or the values' names)."""
    from aistudio.datasets.formats.semantic import finish_semantic

    done = finish_semantic(raw, width, height)
    finished = None if done.annotation is None else _Finished(done.annotation, done.masks)
    return finished, done.refused, 0


_FINISHERS: dict[str, Finisher] = {
    "boxes": _finish_boxes,
    "instances": _finish_instances,
    "semantic": _finish_semantic,
}
"""The rule of each structured kind (a reader's listing names its kind as ``target``)."""


def _finish(
    kind: str | None, raw: Any, width: int, height: int, classes: frozenset[str]
) -> tuple[_Finished | None, str | None, int]:
    """``(finished, reason, clipped)`` of what a ``kind`` listing gives one image."""
    finisher = _FINISHERS.get(kind or "")
    if finisher is None:
        raise RuntimeError(f"a {kind!r} listing gives objects, and no rule finishes them")
    return finisher(raw, width, height, classes)


def _refusal(count: int, first: str | None) -> str | None:
    return None if first is None else f"{count} object(s) refused: {first}"


@dataclass
class Annotator:
    """The annotations of one import, candidate by candidate.

    Attributes:
        classes: the class names objects may have (the source's list).
        kind: the listing's annotation kind (``boxes``, ``instances``, …; None: unlabelled).
        store: where mask files are written (needed by listings whose objects have masks).
        by_sha: annotation of each stored image, by content sha256.
        names: which file each annotation came from, by sha256 (for conflict messages).
        subsets: the source's subset of each stored image, by sha256.
        clipped: objects clipped (or cut) to their image.
        objects: objects of the images taken.
        masks: sha256 of every mask file written (the store's folders to sync).
    """

    classes: frozenset[str]
    kind: str | None = "boxes"
    store: MaskStore | None = None
    by_sha: dict[str, dict[str, Any]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    subsets: dict[str, str] = field(default_factory=dict)
    clipped: int = 0
    objects: int = 0
    masks: set[str] = field(default_factory=set)
    _last: _Finished | None = field(default=None, repr=False)
    _last_clipped: int = field(default=0, repr=False)
    _writer: _MaskWriter | None = field(default=None, repr=False)

    @classmethod
    def for_listing(cls, listing: ReadResult, store: MaskStore | None = None) -> Annotator:
        """The annotator of a reader's listing (its class list and kind); ``store`` receives
        the mask files of the images taken."""
        return cls(classes=frozenset(listing.classes or ()), kind=listing.target, store=store)

    def annotation(self, candidate: Candidate, size: tuple[int, int]) -> tuple[Any, str | None]:
        """``(annotation, None)`` for a candidate whose image is ``size`` (upright), or
        ``(None, reason)`` when its objects cannot be taken; ``(None, None)`` without objects.

        Nothing is written: the masks the annotation names are written by :meth:`take`.
        """
        self._last, self._last_clipped = None, 0
        if candidate.objects is None:
            return None, None
        width, height = size
        try:
            raw = candidate.objects(width, height)
        except ObjectsError as exc:
            return None, str(exc)
        finished, reason, clipped = _finish(self.kind, raw, width, height, self.classes)
        if finished is None:
            return None, reason
        self._last, self._last_clipped = finished, clipped
        return finished.annotation, None

    def take(self, sha: str, candidate: Candidate, annotation: dict[str, Any] | None) -> None:
        """Remember the annotation (and subset) of a stored image, the one :meth:`annotation`
        just gave, and start writing the mask files it names (:meth:`wait_for_masks` waits for
        them; the caller then syncs the store's folders before appending any event).

        Raises:
            OSError: an earlier mask could not be written into the workspace.
        """
        if annotation is not None:
            last = self._last
            if last is None or last.annotation is not annotation:
                raise RuntimeError("take() is given the annotation annotation() made last")
            self._store_masks(last.masks)
            self.clipped += self._last_clipped
            self.by_sha[sha] = annotation
            self.names[sha] = candidate.name
            self.objects += len(annotation.get("objects") or ())
        self._last, self._last_clipped = None, 0
        if candidate.subset is not None:
            self.subsets[sha] = candidate.subset

    def _store_masks(self, masks: Mapping[str, bytes]) -> None:
        if not masks:
            return
        if self.store is None:
            raise RuntimeError("this import's objects have masks but the annotator has no store")
        if self._writer is None:
            self._writer = _MaskWriter(self.store)
        for mask_sha, data in masks.items():
            if mask_sha not in self.masks:
                self._writer.put(mask_sha, data)
                self.masks.add(mask_sha)

    def wait_for_masks(self) -> None:
        """Return once every mask file of the images taken is written (temporary file, fsync,
        rename); sync the store's folders after it, then append the events.

        Raises:
            OSError: a mask could not be written into the workspace.
        """
        if self._writer is not None:
            self._writer.wait()

    def close(self) -> None:
        """Stop the mask writer's threads (after the writes in flight); idempotent."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

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
        if self.kind not in OBJECT_KINDS:  # a class mask
            has = "has no mask" if kept is None else "has another mask or legend"
            return (
                f"same image as {kept_name}, which {has}; this copy's differs (kept {kept_name}'s)"
            )
        has = "has no boxes" if kept is None else f"has {_objects(kept)}"
        return (
            f"same image as {kept_name}, which {has}; this copy has {_objects(annotation)} "
            f"(kept {kept_name}'s)"
        )


def referenced_files(events: Iterable[Event]) -> set[str]:
    """The sha256 of every stored file ``events`` name: the originals of every
    ``ImagesAdded`` and the masks of every annotation (removed images and replaced annotations
    too: time travel still shows them)."""
    seen = list(events)
    found = referenced_sha256(seen)
    for event in seen:
        found.update(files_named(event.type, event.data))
    return found


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


def classes_after(
    view: DatasetView, listing: ReadResult, used: Sequence[str], ordered: bool = False
) -> list[str]:
    """The class list after the import: the project's first, then the source's new ones in the
    source's order (its list when it has one), then any other new name in use: in ``used``'s
    order when ``ordered`` (the legends of class masks), else sorted (labels)."""
    result = list(view.classes)
    known = set(result)
    rest = list(dict.fromkeys(used)) if ordered else sorted(set(used))
    for name in [*(listing.classes or ()), *rest]:
        if name not in known:
            result.append(name)
            known.add(name)
    return result


def legend_names(annotations: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every class the legends of ``annotations`` name, each once, in the order first named
    (``background``, ``1``, ``2``, … for masks whose legends are their values)."""
    names: dict[str, None] = {}
    for annotation in annotations:
        names.update(dict.fromkeys(annotation.get("classes") or ()))
    return list(names)


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
    "MASK_KINDS",
    "OBJECT_KINDS",
    "SOURCE_SPLIT",
    "Annotator",
    "MaskStore",
    "ReadPlan",
    "annotation_events",
    "classes_after",
    "legend_names",
    "plan_read",
    "referenced_files",
    "source_split_event",
]
