"""The import job: ``run_import(ctx)`` carries out one ``ImportRequested`` command.

Steps: read the dataset from the log, resolve the source, choose its format's reader by the
project's task (:func:`aistudio.datasets.annotate.plan_read`) and read it, then hash, inspect,
store and thumbnail every candidate file in parallel (:mod:`aistudio.datasets.ingest`), turn
each image's objects into its annotation once its size is known
(:mod:`aistudio.datasets.annotate`), and return the events to append: ``ImagesAdded`` (batches
of at most 500 images), ``ClassesDefined`` (when classes changed; for class masks, the classes
their legends name, background first), ``AnnotationsSet`` (boxes, instances, class masks and
other structured annotations, batches of 500), ``SplitCreated`` (the ``source`` split, when the
source defines its own subsets), ``ImportSkipped`` (batches of at most 1000 items) and
``ImportCompleted``. Every file (originals, thumbnails, the mask PNGs of instances and class
masks) is durably stored before the job returns; the runner appends the events with
``JobSucceeded`` in one all-or-nothing append, so an import that fails or is cancelled leaves
no image in the log.

Files: the import holds the project's images lock shared (:mod:`aistudio.datasets.orphans`) from
before it stores its first file until its result is released (the runner commits it, then its
process exits). Before taking it, it sweeps leftovers when the lock is free; when it fails or is
cancelled, it releases the lock and sweeps again, which removes the files it stored itself (a
killed import's files go at the next import or ``aistudio gc``).

Duplicates: the same content twice with the same label (or value) counts as a duplicate; with a
different one (or other boxes) the later copy is a skip whose reason names the kept file and
label (a *conflict*, counted in ``skipped`` and, separately, in the job summary's
``conflicts``). Content already in the dataset is compared with the image's current annotation
the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aistudio.datasets.annotate import (
    MASK_KINDS,
    OBJECT_KINDS,
    Annotator,
    annotation_events,
    classes_after,
    legend_names,
    plan_read,
    referenced_files,
    source_split_event,
)
from aistudio.datasets.formats import (
    Candidate,
    ReadResult,
    Skip,
    SourceError,
    escape_text,
    log_name,
    read_source,
)
from aistudio.datasets.ingest import (
    IngestConfig,
    Ingested,
    Ingestor,
    ingest_in_process,
    init_process,
)
from aistudio.datasets.orphans import ImagesLock, sweep_locked, try_sweep
from aistudio.datasets.parallel import ExecutorKind, available_cpus, chunked, map_batches
from aistudio.datasets.store import ImageStore
from aistudio.worker.context import JobContext, JobInputError, JobResult
from aistudio.workspace import new_id
from events import Event, LogTail, NewEvent
from events.schemas.annotation import annotation_files
from events.schemas.dataset import ImageRecord, ImportRequested
from projections.dataset import DatasetView, ImageEntry, rebuild

logger = logging.getLogger(__name__)

IMAGES_PER_EVENT = 500
SKIPS_PER_EVENT = 1000
PARALLEL_MIN_FILES = 64
"""Smaller imports run in the job's own thread: a pool would cost more than it saves."""
DEFAULT_EXECUTOR: ExecutorKind = "thread"
"""Threads, one more than the CPUs (``bench/bench_import.py``, 2 cores, 2,000 JPEGs of 256 px):
3 threads import about as fast as 2 or 3 processes (550-740 images/s on a busy shared machine),
2 threads 10-25 % slower. Pillow and hashlib release the GIL while decoding, resizing, encoding
and hashing, and the extra thread covers the fsync waits. Threads need no ``spawn`` start-up,
no pickling and no ``if __name__ == "__main__"`` guard in scripts that call :func:`run_import`.
"""
BATCH_SIZE = 8
LABELLED_TASKS: dict[str, str] = {"classification": "label", "regression": "value"}
_MAX_MESSAGE = 1500


@dataclass
class _Tally:
    """What the import found, file by file."""

    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    duplicates: int = 0
    conflicts: int = 0
    """Copies of content already taken, with another label or value (also in ``skipped``)."""
    upright: dict[str, tuple[int, int]] = field(default_factory=dict)
    """The upright size of each image taken, by sha256 (to compare a later copy's objects)."""


@dataclass
class ImportResult(JobResult):
    """An import's result. It holds the project's images lock (shared) until :meth:`release`,
    or until it is garbage collected: the files its events name cannot be swept before then."""

    images_lock: ImagesLock | None = field(default=None, repr=False, compare=False)

    def release(self) -> None:
        """Release the images lock (after the events are committed, or abandoned)."""
        super().release()
        if self.images_lock is not None:
            self.images_lock.release()


def run_import(
    ctx: JobContext, *, workers: int | None = None, executor: ExecutorKind | None = None
) -> ImportResult:
    """Carry out the ``ImportRequested`` command ``ctx.command``.

    Args:
        ctx: the job's context.
        workers: threads or processes to use; default: :func:`default_workers`.
        executor: ``thread`` (default, see ``DEFAULT_EXECUTOR``) or ``process``.

    Returns:
        The dataset events to append and a summary for ``JobSucceeded``; the result holds the
        images lock until it is released or garbage collected (after the commit).

    Raises:
        JobInputError: the source does not exist, cannot be read, is malformed, does not fit
            the project's task, or holds no importable image.
        JobCancelledError: a ``CancelRequested`` for this job was appended.
    """
    started = time.monotonic()
    request = ImportRequested.model_validate(ctx.command.data)
    ctx.check_cancelled()
    tail = ctx.log.tail()
    history = _sweep_leftovers(ctx, tail)
    lock = ImagesLock.acquire_shared(
        ctx.workspace, ctx.project_id, while_waiting=ctx.check_cancelled
    )
    stored = False
    try:
        if history is None:
            history = tail.poll()
        stored = True  # from here on files may be stored
        result = _import(ctx, request, history, workers, executor, started)
    except BaseException:
        lock.release()
        if stored:
            known = referenced_files(history or ())
            try_sweep(  # the log read so far, and what was appended since
                ctx.workspace,
                ctx.project_id,
                lambda: known | referenced_files(tail.poll()),
                f"import {ctx.job_id} ended without its images",
            )
        raise
    result.images_lock = lock
    return result


def _sweep_leftovers(ctx: JobContext, tail: LogTail) -> list[Event] | None:
    """When no import is in flight: read the log and sweep unreferenced files, then release.

    Returns the log's events read under the lock, or None when the lock was busy (then
    nothing was read or swept). The full sweep is cheap next to the import's own reading of
    the log: listing a store of 10,000 images (20,000 files, warm cache) takes about 15 ms,
    100,000 images about 0.2 s; only unreferenced names are matched and stat'ed.
    """
    lock = ImagesLock.try_acquire(ctx.workspace, ctx.project_id, exclusive=True)
    if lock is None:
        logger.info("import into %s: another import is in flight; no sweep now", ctx.project_id)
        return None
    with lock:
        history = tail.poll()
        try:
            sweep_locked(ctx.workspace, ctx.project_id, referenced_files(history))
        except OSError:
            logger.exception("import into %s: sweeping leftovers failed", ctx.project_id)
        return history


def _import(
    ctx: JobContext,
    request: ImportRequested,
    history: list[Event],
    workers: int | None,
    executor: ExecutorKind | None,
    started: float,
) -> ImportResult:
    """The import proper, under the images lock (shared)."""
    task = project_task(history)
    view = rebuild(history)
    source = resolve_source(request.source)
    target = LABELLED_TASKS.get(task)
    plan = plan_read(task, request.format, source)
    try:
        listing = read_source(source, plan.format, labelled=plan.labelled, kind=plan.kind)
    except SourceError as exc:
        raise JobInputError(escape_text(str(exc))) from None
    check_task_fits(task, listing)
    store = ImageStore(ctx.workspace, ctx.project_id)
    annotator = Annotator.for_listing(listing, store)
    if request.options:
        logger.warning("import options are not used by this version: %s", sorted(request.options))
    candidates = _storable(listing)
    logger.info(
        "import into %s: %d candidate files, %d skipped by the %s reader",
        ctx.project_id,
        len(candidates),
        len(listing.skipped),
        listing.format,
    )

    config = IngestConfig(
        workspace_root=str(ctx.workspace.root),
        project_id=ctx.project_id,
        max_pixels=ctx.settings.max_image_pixels,
        thumbnail_px=ctx.settings.thumbnail_px,
        max_bytes=ctx.settings.max_upload_mb * 2**20,
        known_sha256=frozenset(view.by_sha),
    )
    kind = executor or DEFAULT_EXECUTOR
    if workers is None:
        workers = default_workers(len(candidates), kind)
    tally = _Tally(skipped=list(listing.skipped))
    taken_ids = set(view.images) | image_ids_ever_added(history)
    firsts: dict[str, Candidate] = {}
    total = len(candidates)
    shown_source = escape_text(str(source))
    ctx.progress(0, total, f"importing {total} files from {escape_text(source.name)}", force=True)
    outcomes = _ingest_all(config, candidates, workers, kind)
    with closing(annotator), closing(outcomes):
        for done, (candidate, outcome) in enumerate(zip(candidates, outcomes, strict=True), 1):
            _tally_one(tally, candidate, outcome, firsts, taken_ids, view, target, annotator)
            ctx.check_cancelled()
            ctx.progress(done, total, f"{done}/{total} files")
        annotator.wait_for_masks()

    if not tally.records and not tally.duplicates and not tally.conflicts:
        raise JobInputError(nothing_importable_message(source, tally.skipped))
    store.sync([*firsts, *annotator.masks])

    duration = time.monotonic() - started

    def commit_against(seq: int) -> JobResult:
        """The events to append on top of the log as it is at ``seq``.

        Another import may have added some of the same images (or taken an id) while this one
        ran: those become duplicates or conflicts (or get a fresh id) here, right before the
        append.
        """
        current = list(ctx.log.read(until_seq=seq))
        now = rebuild(current)
        taken = set(now.images) | image_ids_ever_added(current)
        final = _Tally(
            skipped=list(tally.skipped), duplicates=tally.duplicates, conflicts=tally.conflicts
        )
        for record in tally.records:
            there = now.by_sha.get(record["sha256"])
            if there is not None:
                reason = conflict_reason(target, record["label"], record["value"], now, there)
                if reason is None and record["sha256"] in annotator.by_sha:
                    kept = now.images[there]
                    if annotator.by_sha[record["sha256"]] != kept.annotation:
                        reason = (
                            f"same image as {kept.filename}, added meanwhile with other "
                            f"objects (kept {kept.filename}'s)"
                        )
                if reason is None:
                    final.duplicates += 1
                else:
                    final.conflicts += 1
                    final.skipped.append(Skip(record["filename"], reason))
                continue
            if record["image_id"] in taken:
                record = {**record, "image_id": new_id("img", taken=taken.__contains__)}
            taken.add(record["image_id"])
            final.records.append(record)
        added = [
            annotator.by_sha[r["sha256"]] for r in final.records if r["sha256"] in annotator.by_sha
        ]
        if listing.target == "label" or listing.target in OBJECT_KINDS:
            used = [r["label"] for r in final.records if r["label"] is not None]
            classes: list[str] | None = classes_after(now, listing, used)
        elif listing.target in MASK_KINDS:  # the masks' legends, background first
            classes = classes_after(now, listing, legend_names(added), ordered=True)
        else:
            classes = None
        events = _events(ctx, source, listing, final, now, classes, duration)
        structured = annotation_events(ctx.new_event, final.records, annotator.by_sha)
        split = source_split_event(ctx.new_event, final.records, annotator.subsets, now, seq)
        # After the images and the class list, before the skips and the end of the import.
        at = next(i for i, e in enumerate(events) if e.type in ("ImportSkipped", "ImportCompleted"))
        events[at:at] = [*structured, *([split] if split is not None else [])]
        summary = {
            "source": shown_source,
            "format": listing.format,
            "added": len(final.records),
            "duplicates": final.duplicates,
            "skipped": len(final.skipped),
            "conflicts": final.conflicts,
            "classes": len(classes) if classes is not None else None,
            "objects": None
            if listing.target not in OBJECT_KINDS
            else sum(len(a.get("objects") or ()) for a in added),
            "clipped": annotator.clipped if listing.target in OBJECT_KINDS else None,
            "masks": None
            if listing.target not in ("instances", *MASK_KINDS)
            else len({mask for a in added for mask in annotation_files(a)}),
            "split": None if split is None else split.data["name"],
            "duration_s": round(duration, 3),
        }
        logger.info("import into %s done: %s", ctx.project_id, summary)
        return JobResult(events=events, summary=summary)

    first = commit_against(view.seq)
    return ImportResult(events=first.events, summary=first.summary, rebase=commit_against)


def default_workers(files: int, kind: ExecutorKind) -> int:
    """How many workers an import of ``files`` files uses.

    1 (the job's own thread, no pool) below ``PARALLEL_MIN_FILES``; else one per CPU, plus one
    when they are threads, to cover the time threads spend waiting for fsync.
    """
    if files < PARALLEL_MIN_FILES:
        return 1
    return available_cpus() + (1 if kind == "thread" else 0)


def project_task(history: Sequence[Event]) -> str:
    """The project's task, from its ``ProjectCreated`` event.

    Raises:
        JobInputError: the log has no ``ProjectCreated`` or the project was deleted.
    """
    task: str | None = None
    for event in history:
        if event.type == "ProjectCreated" and task is None:
            task = str(event.data["task"])
        elif event.type == "ProjectDeleted":
            raise JobInputError("the project was deleted: nothing can be imported into it")
    if task is None:
        raise JobInputError("this project's log has no ProjectCreated event")
    return task


def image_ids_ever_added(history: Sequence[Event]) -> set[str]:
    """Every image id the log ever added, removed images included (ids are never reused)."""
    return {
        record["image_id"]
        for event in history
        if event.type == "ImagesAdded"
        for record in event.data["images"]
    }


def resolve_source(raw: str) -> Path:
    """The source as an absolute path.

    Raises:
        JobInputError: it does not exist (or cannot be looked at).
    """
    path = Path(raw).expanduser()
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise JobInputError(f"source {raw!r} does not exist") from None
    return resolved


def check_task_fits(task: str, listing: ReadResult) -> None:
    """Refuse a source whose labels or values do not fit the project's task.

    Classification needs labels (an image folder, or a CSV ``filename,label``); regression
    needs values (a CSV ``filename,value``). Other tasks import images without labels.

    Raises:
        JobInputError: the source does not fit, with what would.
    """
    wanted = LABELLED_TASKS.get(task)
    if wanted is None or listing.target == wanted:
        return
    if wanted == "value":
        if listing.format == "imagefolder":
            raise JobInputError(
                f"a {task} project needs a CSV with the header `filename,value`: "
                "an image folder gives class names, not values"
            )
        raise JobInputError(
            f"a {task} project needs a CSV with the header `filename,value`, "
            f"this one has `filename,{listing.target}`"
        )
    raise JobInputError(
        f"a {task} project needs an image folder or a CSV with the header `filename,label`, "
        f"this one has `filename,{listing.target}`"
    )


def nothing_importable_message(source: Path, skipped: Sequence[Skip]) -> str:
    """The error of an import that found no image to add and no duplicate."""
    shown = escape_text(str(source))
    if not skipped:
        return f"no importable image in {shown}: no image file found"
    reasons = escape_text("; ".join(f"{s.path}: {s.reason}" for s in skipped[:3]))
    message = (
        f"no importable image in {shown}: {len(skipped)} files skipped, first reasons: {reasons}"
    )
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"


def _storable(listing: ReadResult) -> list[Candidate]:
    """The listing's candidates whose name and label the log can hold; the others become skips.

    Every reader checks its names with :func:`~aistudio.datasets.formats.log_name` already
    (that is where the reason is best told); this keeps a reader that forgot from failing the
    whole import when its events are appended.
    """
    kept: list[Candidate] = []
    for candidate in listing.candidates:
        shown, problem = log_name(candidate.name)
        if problem is None and candidate.label is not None:
            _, problem = log_name(candidate.label)
            problem = None if problem is None else "the label is not valid UTF-8"
        if problem is None:
            kept.append(candidate)
        else:
            listing.skipped.append(Skip(shown, problem))
    return kept


def _ingest_all(
    config: IngestConfig, candidates: Sequence[Candidate], workers: int, kind: ExecutorKind
) -> Generator[Ingested, None, None]:
    paths = [str(c.path) for c in candidates]
    if kind == "process" and workers > 1:
        return map_batches(
            ingest_in_process,
            paths,
            batch_size=BATCH_SIZE,
            workers=workers,
            kind="process",
            initializer=init_process,
            initargs=(config,),
        )
    ingestor = Ingestor(config)
    return map_batches(
        ingestor.ingest_batch, paths, batch_size=BATCH_SIZE, workers=workers, kind="thread"
    )


def _tally_one(
    tally: _Tally,
    candidate: Candidate,
    outcome: Ingested,
    firsts: dict[str, Candidate],
    taken_ids: set[str],
    view: DatasetView,
    target: str | None,
    annotator: Annotator,
) -> None:
    """Count one file: a skip, a duplicate, a conflict, or a new record (``firsts`` grows)."""
    if outcome.reason is not None:
        tally.skipped.append(Skip(candidate.name, outcome.reason))
        return
    sha = outcome.sha256
    if sha is None or outcome.ext is None or outcome.known or sha in firsts:
        reason: str | None = None
        there = view.by_sha.get(sha) if sha is not None else None
        if there is not None:
            reason = conflict_reason(target, candidate.label, candidate.value, view, there)
            kept = view.images[there]
            reason = reason or annotator.conflict(
                candidate, kept.upright_size, kept.structured, kept.filename
            )
        elif sha is not None and (first := firsts.get(sha)) is not None:
            reason = label_conflict(
                target, candidate.label, candidate.value, first.name, first.label, first.value
            )
            reason = reason or annotator.conflict(
                candidate, tally.upright[sha], annotator.by_sha.get(sha), first.name
            )
        if reason is None:
            tally.duplicates += 1
        else:
            tally.conflicts += 1
            tally.skipped.append(Skip(candidate.name, reason))
        return
    annotation, problem = annotator.annotation(candidate, outcome.upright)
    if problem is not None:
        tally.skipped.append(Skip(candidate.name, problem))
        return
    annotator.take(sha, candidate, annotation)
    tally.upright[sha] = outcome.upright
    image_id = new_id("img", taken=taken_ids.__contains__)
    taken_ids.add(image_id)
    firsts[sha] = candidate
    record = ImageRecord(
        image_id=image_id,
        sha256=sha,
        ext=outcome.ext,
        filename=candidate.name,
        width=outcome.width,
        height=outcome.height,
        size_bytes=outcome.size_bytes,
        label=candidate.label,
        value=candidate.value,
        orientation=outcome.orientation,
    )
    tally.records.append(record.model_dump(mode="json"))


def label_conflict(
    target: str | None,
    label: str | None,
    value: float | None,
    kept_name: str,
    kept_label: str | None,
    kept_value: float | None,
    where: str = "",
) -> str | None:
    """Why a copy of content already taken is skipped, or None when it is a plain duplicate.

    A copy conflicts when the project's task has targets (``label`` or ``value``) and the copy's
    differs from the kept one's; the reason names the kept file (``kept_name`` and ``where``),
    both targets and the one kept.
    """
    if target == "label":
        if label == kept_label:
            return None
        kept = "no label" if kept_label is None else f"'{kept_label}'"
        says = "no label" if label is None else f"'{label}'"
        has = "which has no label" if kept_label is None else f"which is labelled {kept}"
    elif target == "value":
        if value == kept_value:
            return None
        kept = "no value" if kept_value is None else repr(kept_value)
        says = "no value" if value is None else repr(value)
        has = "which has no value" if kept_value is None else f"which has the value {kept}"
    else:
        return None
    return f"same image as {kept_name}{where}, {has}; this copy says {says} (kept {kept})"


def conflict_reason(
    target: str | None,
    label: str | None,
    value: float | None,
    view: DatasetView,
    image_id: str,
) -> str | None:
    """:func:`label_conflict` against the dataset's image ``image_id`` (its current label)."""
    kept: ImageEntry = view.images[image_id]
    return label_conflict(
        target,
        label,
        value,
        kept.filename,
        kept.label,
        kept.value,
        f" (already in the dataset as {image_id})",
    )


def _events(
    ctx: JobContext,
    source: Path,
    listing: ReadResult,
    tally: _Tally,
    view: DatasetView,
    classes: list[str] | None,
    duration: float,
) -> list[NewEvent]:
    events = [
        ctx.new_event("ImagesAdded", {"images": batch})
        for batch in chunked(tally.records, IMAGES_PER_EVENT)
    ]
    if classes is not None and classes != list(view.classes):
        events.append(ctx.new_event("ClassesDefined", {"classes": classes}))
    events.extend(
        ctx.new_event("ImportSkipped", {"items": [s.as_data() for s in batch]})
        for batch in chunked(tally.skipped, SKIPS_PER_EVENT)
    )
    events.append(
        ctx.new_event(
            "ImportCompleted",
            {
                "source": escape_text(str(source)),
                "format": listing.format,
                "added": len(tally.records),
                "duplicates": tally.duplicates,
                "skipped": len(tally.skipped),
                "duration_s": round(duration, 3),
            },
        )
    )
    return events
