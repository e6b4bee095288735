"""Evaluation: request, reset, load its results."""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aistudio.commands.base import (
    CommandError,
    append_event,
    file_sha256,
    project_task,
    task_of,
)
from aistudio.commands.model_views import (
    EVALUATION_SUBSETS,
    ModelViews,
    current_model_views,
    require_checkpoint,
)
from aistudio.commands.training import resolve_experiment
from aistudio.tasks.base import Task
from aistudio.workspace import Workspace, WorkspaceError
from events import (
    ConcurrencyError,
    Event,
)
from projections.dataset import DatasetView
from projections.evaluations import EvaluationEntry, FileInfo

logger = logging.getLogger(__name__)


def _labelled_in(dataset: DatasetView, split: str, subsets: set[str], task: Task) -> int:
    """How many images of ``split``'s ``subsets`` carry what ``task`` learns from."""
    members = dataset.splits.get(split, {})
    images = dataset.images
    count = 0
    for image_id, subset in members.items():
        if subset in subsets:
            entry = images.get(image_id)
            if entry is not None and task.accepts(entry):
                count += 1
    return count


def request_evaluation(
    workspace: Workspace,
    project_id: str,
    experiment: str,
    checkpoint: str = "best",
    subsets: Sequence[str] = ("test",),
    actor: str = "cli",
    batch_size: int | None = None,
    views: ModelViews | None = None,
) -> Event:
    """Check and append ``EvaluationRequested``: ``experiment`` (id or name)'s ``checkpoint``
    on the pooled ``subsets`` of its split.

    Refused when the experiment is training, lacks the checkpoint, has an evaluation already
    (reset it first) or one running, or when the subsets hold no annotated image. ``views``:
    the caller's current views (see :class:`ModelViews`).

    Returns:
        The command event (its id is the job id).
    """
    chosen = [s.strip() for s in subsets if s and s.strip()]
    unknown = [s for s in chosen if s not in EVALUATION_SUBSETS]
    if unknown:
        raise CommandError(
            f"unknown subset {unknown[0]!r}: choose among {', '.join(EVALUATION_SUBSETS)}"
        )
    if not chosen:
        raise CommandError("choose at least one subset to evaluate on (train, val or test)")
    task = task_of(project_task(workspace, project_id))
    for attempt in range(5):
        seq, dataset, experiments, evaluations, _exports = current_model_views(
            workspace, project_id, views if attempt == 0 else None
        )
        experiment_id = resolve_experiment(workspace, project_id, experiment, experiments)
        entry = experiments.experiments[experiment_id]
        require_checkpoint(workspace, project_id, entry, checkpoint)
        current = evaluations.get(experiment_id)
        if current is not None and current.is_pending:
            raise CommandError(
                f"experiment {entry.name!r} is being evaluated: wait for it or cancel it"
            )
        if current is not None and current.status == "completed":
            raise CommandError(
                f"experiment {entry.name!r} already has an evaluation: reset it first"
            )
        if entry.split not in dataset.splits:
            raise CommandError(f"the split {entry.split!r} of {entry.name!r} no longer exists")
        if _labelled_in(dataset, entry.split, set(chosen), task) == 0:
            what = "labelled" if task.target_noun == "a label" else "annotated"
            raise CommandError(
                f"the {', '.join(chosen)} subset{'s' if len(chosen) > 1 else ''} of split "
                f"{entry.split!r} {'have' if len(chosen) > 1 else 'has'} no {what} image"
            )
        data: dict[str, Any] = {
            "experiment_id": experiment_id,
            "checkpoint": checkpoint,
            "subsets": chosen,
        }
        if batch_size is not None:
            data["batch_size"] = batch_size
        try:
            return append_event(
                workspace, project_id, "EvaluationRequested", data, actor, expected_seq=seq
            )
        except ConcurrencyError:
            continue
    raise CommandError("the project kept changing while the evaluation was checked; try again")


def reset_evaluation(
    workspace: Workspace,
    project_id: str,
    experiment: str,
    actor: str = "cli",
    views: ModelViews | None = None,
) -> Event:
    """Remove the evaluation of ``experiment`` (id or name): ``EvaluationReset``, then its files.

    The event is appended first: a crash before the files are deleted leaves files no view
    names (the next evaluation overwrites them), never a view naming missing files. Only the
    files the evaluation recorded, unchanged, are deleted.
    """
    for attempt in range(5):
        seq, _dataset, experiments, evaluations, _exports = current_model_views(
            workspace, project_id, views if attempt == 0 else None
        )
        experiment_id = resolve_experiment(workspace, project_id, experiment, experiments)
        current = evaluations.get(experiment_id)
        name = experiments.experiments[experiment_id].name
        if current is None:
            raise CommandError(f"experiment {name!r} has no evaluation to reset")
        if current.is_pending:
            raise CommandError(
                f"the evaluation of {name!r} is still running: cancel it before resetting"
            )
        try:
            event = append_event(
                workspace,
                project_id,
                "EvaluationReset",
                {"experiment_id": experiment_id},
                actor,
                expected_seq=seq,
            )
        except ConcurrencyError:
            continue
        for ref in (current.results, current.report):
            if ref is not None:
                _remove_recorded_file(workspace, project_id, experiment_id, ref)
        return event
    raise CommandError("the project kept changing while the reset was checked; try again")


def _remove_recorded_file(
    workspace: Workspace, project_id: str, experiment_id: str, ref: FileInfo
) -> None:
    try:
        path = workspace.experiment_file(project_id, experiment_id, ref.name)
    except WorkspaceError as exc:
        logger.warning("not removing %s: %s", ref.name, exc)
        return
    try:
        if path.is_file() and file_sha256(path) == ref.sha256:
            path.unlink()
    except OSError as exc:
        logger.warning("could not remove %s: %s", path, exc)


@functools.lru_cache(maxsize=4)
def _parsed_evaluation(path: Path, sha256: str, report_path: Path, report_sha: str) -> Any:
    import orjson

    rows_bytes = _verified_bytes(path, sha256)
    report_bytes = _verified_bytes(report_path, report_sha)
    try:
        rows = [orjson.loads(line) for line in rows_bytes.splitlines() if line.strip()]
        report = orjson.loads(report_bytes)
    except orjson.JSONDecodeError as exc:
        raise CommandError(f"the evaluation files are not valid JSON: {exc}") from None
    return rows, report


def _verified_bytes(path: Path, sha256: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CommandError(f"{path.name} of this evaluation no longer exists") from None
    except OSError as exc:
        raise CommandError(f"cannot read {path.name}: {exc}") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise CommandError(f"{path.name} has changed since the evaluation wrote it")
    return data


def load_evaluation(
    workspace: Workspace, project_id: str, entry: EvaluationEntry
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The per-image rows and the report of a completed evaluation, checked by sha256.

    The parsed files of the last few evaluations are cached (by path and sha256; the files'
    presence and sizes are checked on every call), so pages re-rendering every second do not
    read them again. The rows and report returned are shared: do not change them.

    Raises:
        CommandError: the evaluation is not completed, or its files are missing or changed.
    """
    if entry.status != "completed" or entry.results is None or entry.report is None:
        raise CommandError(f"the evaluation of {entry.experiment_id} has no results")
    try:
        results = workspace.experiment_file(project_id, entry.experiment_id, entry.results.name)
        report = workspace.experiment_file(project_id, entry.experiment_id, entry.report.name)
    except WorkspaceError as exc:
        raise CommandError(str(exc)) from None
    for path, ref in ((results, entry.results), (report, entry.report)):
        try:
            size = path.stat().st_size
        except OSError:
            raise CommandError(f"{ref.name} of this evaluation no longer exists") from None
        if size != ref.size_bytes:
            raise CommandError(f"{ref.name} has changed since the evaluation wrote it")
    rows, parsed = _parsed_evaluation(results, entry.results.sha256, report, entry.report.sha256)
    return rows, parsed


def set_threshold(
    workspace: Workspace,
    project_id: str,
    experiment: str,
    threshold: float,
    actor: str = "cli",
) -> Event:
    """Choose the confidence threshold of ``experiment`` (id or name): ``ThresholdSet``.

    Later evaluations count detections at it and later exports write it into their metadata.

    Raises:
        CommandError: the task has no confidence threshold, the value is outside 0..1, or the
            experiment is unknown.
    """
    task = task_of(project_task(workspace, project_id))
    if not task.uses_threshold:
        raise CommandError(f"{task.name} models have no confidence threshold to set")
    if not isinstance(threshold, int | float) or not 0.0 <= float(threshold) <= 1.0:
        raise CommandError(f"the threshold must be a number from 0 to 1, not {threshold!r}")
    for _attempt in range(5):
        seq, _dataset, experiments, _evaluations, _exports = current_model_views(
            workspace, project_id
        )
        experiment_id = resolve_experiment(workspace, project_id, experiment, experiments)
        try:
            return append_event(
                workspace,
                project_id,
                "ThresholdSet",
                {"experiment_id": experiment_id, "threshold": round(float(threshold), 4)},
                actor,
                expected_seq=seq,
            )
        except ConcurrencyError:
            continue
    raise CommandError("the project kept changing while the threshold was checked; try again")
