"""How the History page names events: a category per type and a one-line summary of the data.

Pure functions of an event's type and data, so that they work for any version of the log and
never fail: an unknown type gets the ``other`` category and a compact JSON summary.
"""

from __future__ import annotations

from typing import Any

import orjson

# Category key -> (label, bootstrap icon). The colour of each lives in ``history.css``.
CATEGORIES: dict[str, tuple[str, str]] = {
    "command": ("Command", "lightning-charge"),
    "project": ("Project", "folder2"),
    "dataset": ("Dataset", "images"),
    "split": ("Split", "diagram-3"),
    "model": ("Model", "cpu"),
    "job": ("Job", "gear"),
    "other": ("Other", "dot"),
}

ACTOR_ICONS: dict[str, str] = {
    "ui": "person",
    "cli": "terminal",
    "worker": "gear",
    "job": "cpu",
    "script": "code-slash",
}

_DATASET_TYPES = frozenset(
    {
        "ImagesAdded",
        "ClassesDefined",
        "ImportSkipped",
        "ImportCompleted",
        "LabelChanged",
        "AnnotationsSet",
        "AnnotationChanged",
        "ImageRemoved",
    }
)
_MODEL_TYPES = frozenset(
    {
        "TrainingStarted",
        "EpochCompleted",
        "CheckpointSaved",
        "TrainingCompleted",
        "EvaluationCompleted",
        "EvaluationReset",
        "ThresholdSet",
        "ExportCompleted",
    }
)
MAX_SUMMARY = 160

PROGRESS_TYPES: frozenset[str] = frozenset({"JobProgress"})
"""Events that only report how far a running job has got (the History page hides them by
default): nothing is decided by them, and a long job appends hundreds."""


def category(event_type: str) -> str:
    """The category of an event type: ``command``, ``project``, ``dataset``, ``split``,
    ``model`` (training, evaluation, export facts), ``job`` or ``other``.

    Commands (types ending in ``Requested``) are a category of their own, whatever they ask for.
    """
    if event_type.endswith("Requested"):
        return "command"
    if event_type.startswith("Project"):
        return "project"
    if event_type.startswith("Split"):
        return "split"
    if event_type.startswith("Job"):
        return "job"
    if event_type in _DATASET_TYPES:
        return "dataset"
    if event_type in _MODEL_TYPES:
        return "model"
    return "other"


def is_progress(event_type: str) -> bool:
    """Whether events of this type only report a running job's progress."""
    return event_type in PROGRESS_TYPES


def summary(event_type: str, data: dict[str, Any]) -> str:
    """A one-line human summary of an event's data (at most ``MAX_SUMMARY`` characters).

    Example:
        >>> summary("ImagesAdded", {"images": [{}] * 500})
        '500 images'
    """
    handler = _SUMMARIES.get(event_type)
    try:
        text = handler(data) if handler is not None else _compact(data)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        # Data of a newer or odd version: show it rather than fail the page.
        text = _compact(data)
    return _one_line(text)


def describe(event_type: str, seq: int) -> str:
    """How a link names an event: ``ImportRequested #12``."""
    return f"{event_type} #{seq}"


# ---------------------------------------------------------------------- helpers
def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (plural or word + 's')}"


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    if len(line) > MAX_SUMMARY:
        line = line[: MAX_SUMMARY - 1].rstrip() + "…"
    return line


def _compact(data: dict[str, Any]) -> str:
    if not data:
        return "—"
    return orjson.dumps(data).decode()


def _first_line(text: Any) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""


def _listing(items: list[Any], limit: int = 4) -> str:
    shown = ", ".join(str(item) for item in items[:limit])
    return shown + (f", … (+{len(items) - limit})" if len(items) > limit else "")


def _project_created(data: dict[str, Any]) -> str:
    task = str(data.get("task", "")).replace("_", " ")
    return f"“{data['name']}” ({task})"


def _images_added(data: dict[str, Any]) -> str:
    return _plural(len(data["images"]), "image")


def _classes_defined(data: dict[str, Any]) -> str:
    classes = list(data["classes"])
    if not classes:
        return "no classes"
    return f"{_plural(len(classes), 'class', 'classes')}: {_listing(classes, 6)}"


def _import_skipped(data: dict[str, Any]) -> str:
    items = data["items"]
    first = items[0]
    name = str(first.get("path", "")).rsplit("/", 1)[-1] or "?"
    more = f" and {len(items) - 1:,} more" if len(items) > 1 else ""
    return f"{_plural(len(items), 'file')} skipped: {name} ({first.get('reason', '?')}){more}"


def _import_completed(data: dict[str, Any]) -> str:
    return (
        f"{data['added']:,} added · {_plural(data['duplicates'], 'duplicate')} · "
        f"{data['skipped']:,} skipped in {float(data['duration_s']):.1f} s"
    )


def _label_changed(data: dict[str, Any]) -> str:
    image = data["image_id"]
    if data.get("label") is not None:
        return f"{image} → {data['label']}"
    if data.get("value") is not None:
        return f"{image} → {data['value']:g}"
    return f"{image}: label cleared"


def _annotation_text(annotation: Any) -> str:
    """One annotation in a few words: ``3 objects (cat, dog)``, ``good``, ``mask``, ``→ cat``."""
    if not isinstance(annotation, dict):
        return "not annotated"
    kind = annotation.get("kind")
    if kind == "label":
        return f"→ {annotation.get('label')}"
    if kind == "value":
        return f"→ {annotation.get('value')}"
    if kind == "anomaly":
        defect = annotation.get("defect_type")
        return str(annotation.get("state")) + (f" ({defect})" if defect else "")
    if kind == "semantic":
        return "mask"
    objects = annotation.get("objects") or []
    names = sorted({str(o.get("class")) for o in objects if isinstance(o, dict)})
    shown = f" ({', '.join(names[:4])}{', …' if len(names) > 4 else ''})" if names else ""
    return f"{_plural(len(objects), 'object')}{shown}"


def _annotations_set(data: dict[str, Any]) -> str:
    annotations = data.get("annotations") or {}
    objects = sum(len(a.get("objects") or []) for a in annotations.values() if isinstance(a, dict))
    text = f"{_plural(len(annotations), 'image')} annotated"
    return f"{text}, {_plural(objects, 'object')}" if objects else text


def _annotation_changed(data: dict[str, Any]) -> str:
    return f"{data['image_id']}: {_annotation_text(data.get('annotation'))}"


def _split_created(data: dict[str, Any]) -> str:
    assignments = data.get("assignments") or {}
    counts = " · ".join(f"{subset} {len(assignments.get(subset, []))}" for subset in _SUBSETS)
    return f"{data['name']} ({counts})"


def _job_claimed(data: dict[str, Any]) -> str:
    host = f" on {data['host']}" if data.get("host") else ""
    return f"{data.get('command_type', 'job')} claimed by {data['worker_id']}{host}"


def _job_progress(data: dict[str, Any]) -> str:
    done = data.get("done", 0)
    total = data.get("total")
    amount = f"{done:,}/{total:,}" if total is not None else f"{done:,}"
    message = data.get("message") or ""
    return f"{amount} · {message}" if message else amount


def _job_succeeded(data: dict[str, Any]) -> str:
    summary_data = data.get("summary") or {}
    parts = [
        f"{key} {value:,}" if isinstance(value, int) and not isinstance(value, bool) else None
        for key, value in summary_data.items()
    ]
    shown = [p for p in parts if p is not None][:4]
    return "succeeded" + (f": {' · '.join(shown)}" if shown else "")


def _job_failed(data: dict[str, Any]) -> str:
    reason = data.get("reason", "error")
    prefix = "" if reason == "error" else f"[{reason.replace('_', ' ')}] "
    return prefix + _first_line(data["error"])


def _figure(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "—"


def _epoch_completed(data: dict[str, Any]) -> str:
    metrics = data.get("metrics") or {}
    shown = " · ".join(f"{k} {_figure(v)}" for k, v in list(metrics.items())[:3])
    val = f" · val loss {_figure(data['val_loss'])}" if data.get("val_loss") is not None else ""
    return (
        f"{data['experiment_id']} epoch {data['epoch']}/{data['epochs']}: "
        f"loss {_figure(data['train_loss'])}{val}" + (f" · {shown}" if shown else "")
    )


def _checkpoint_saved(data: dict[str, Any]) -> str:
    metric = f" ({data['metric']} {_figure(data.get('value'))})" if data.get("metric") else ""
    return f"{data['experiment_id']} {data['which']} ← epoch {data['epoch']}{metric}"


def _training_completed(data: dict[str, Any]) -> str:
    best = (
        f", best {data['metric']} {_figure(data.get('best_value'))} at epoch {data['best_epoch']}"
        if data.get("metric")
        else ""
    )
    early = ", stopped early" if data.get("stopped_early") else ""
    return f"{data['experiment_id']}: {data['epochs_completed']} epochs{best}{early}"


def _evaluation_requested(data: dict[str, Any]) -> str:
    subsets = " + ".join(data.get("subsets") or ["test"])
    return f"evaluate {data['experiment_id']} ({data.get('checkpoint', 'best')}) on {subsets}"


def _evaluation_completed(data: dict[str, Any]) -> str:
    primary = data.get("primary_metric", "")
    value = (data.get("metrics") or {}).get(primary)
    return (
        f"{data['experiment_id']}: {primary} {_figure(value)} on "
        f"{_plural(int(data['images']), 'image')} ({' + '.join(data['subsets'])})"
    )


def _export_requested(data: dict[str, Any]) -> str:
    return (
        f"export {data['experiment_id']} ({data.get('checkpoint', 'best')}) as "
        f"{data.get('format', 'onnx')}: {data['export_id']}"
    )


def _export_completed(data: dict[str, Any]) -> str:
    check = data["validation"]
    verdict = "validated" if check["passed"] else "FAILED validation"
    return (
        f"{data['export_id']} {data['format']} {verdict}: max diff "
        f"{_figure(check['max_abs_diff'])}, agreement {float(check['agreement']):.0%} on "
        f"{_plural(int(check['images']), 'image')}"
    )


_SUBSETS = ("train", "val", "test")

_SUMMARIES: dict[str, Any] = {
    "ProjectCreated": _project_created,
    "ProjectRenamed": lambda d: f"renamed to “{d['name']}”",
    "ProjectDeleted": lambda d: "project deleted",
    "ImportRequested": lambda d: f"{d['source']} ({d.get('format', 'auto')})",
    "ImagesAdded": _images_added,
    "ClassesDefined": _classes_defined,
    "ImportSkipped": _import_skipped,
    "ImportCompleted": _import_completed,
    "LabelChanged": _label_changed,
    "AnnotationsSet": _annotations_set,
    "AnnotationChanged": _annotation_changed,
    "ImageRemoved": lambda d: f"{d['image_id']} removed",
    "SplitCreated": _split_created,
    "SplitDeleted": lambda d: f"{d['name']} deleted",
    "JobClaimed": _job_claimed,
    "JobStarted": lambda d: f"started (pid {d['pid']})",
    "JobProgress": _job_progress,
    "JobSucceeded": _job_succeeded,
    "JobFailed": _job_failed,
    "JobCancelled": lambda d: str(d.get("reason") or "cancelled"),
    "CancelRequested": lambda d: f"cancel job {d['job_id']}",
    "TrainingRequested": lambda d: (
        f"{'resume' if d.get('resume') else 'train'} {d['experiment_id']} “{d['name']}”: "
        f"{d['config'].get('model')} on {d['split']}"
    ),
    "TrainingStarted": lambda d: (
        f"{d['experiment_id']} from epoch {d['start_epoch']} of {d['epochs']} on {d['device']}"
    ),
    "EpochCompleted": _epoch_completed,
    "CheckpointSaved": _checkpoint_saved,
    "TrainingCompleted": _training_completed,
    "EvaluationRequested": _evaluation_requested,
    "EvaluationCompleted": _evaluation_completed,
    "EvaluationReset": lambda d: f"evaluation of {d['experiment_id']} removed",
    "ThresholdSet": lambda d: (
        f"confidence threshold of {d['experiment_id']} set to {float(d['threshold']):g}"
    ),
    "ExportRequested": _export_requested,
    "ExportCompleted": _export_completed,
}
