"""Export: request, and the download of a finished export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from aistudio.commands.base import (
    CommandError,
    append_event,
    events_of,
    file_sha256,
)
from aistudio.commands.model_views import ModelViews, current_model_views, require_checkpoint
from aistudio.commands.training import resolve_experiment
from aistudio.workspace import Workspace, WorkspaceError, new_id
from events import (
    ConcurrencyError,
    Event,
)
from events.schemas.export import EXPORT_FORMATS, ExportOptions
from events.validation import describe
from projections.experiments import rebuild as rebuild_experiments
from projections.exports import rebuild as rebuild_exports


def request_export(
    workspace: Workspace,
    project_id: str,
    experiment: str,
    checkpoint: str = "best",
    fmt: str = "onnx",
    options: dict[str, Any] | None = None,
    actor: str = "cli",
    export_id: str | None = None,
    views: ModelViews | None = None,
) -> Event:
    """Check and append ``ExportRequested`` for ``experiment`` (id or name)'s ``checkpoint``.

    Returns:
        The command event; ``event.data["export_id"]`` names the export.
    """
    if fmt not in EXPORT_FORMATS:
        raise CommandError(
            f"unknown export format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}"
        )
    try:
        checked = ExportOptions.model_validate(options or {})
    except ValidationError as exc:
        raise CommandError(describe(exc, "export option ", ExportOptions)) from None
    for attempt in range(5):
        seq, _dataset, experiments, _evaluations, exports = current_model_views(
            workspace, project_id, views if attempt == 0 else None
        )
        experiment_id = resolve_experiment(workspace, project_id, experiment, experiments)
        entry = experiments.experiments[experiment_id]
        require_checkpoint(workspace, project_id, entry, checkpoint)
        chosen_id = export_id or new_id(
            "xpt",
            taken=lambda xid, view=exports, exp=experiment_id: (
                xid in view.exports or workspace.export_dir(project_id, exp, xid).exists()
            ),
        )
        if chosen_id in exports.exports:
            raise CommandError(f"an export {chosen_id} exists already")
        data = {
            "experiment_id": experiment_id,
            "export_id": chosen_id,
            "checkpoint": checkpoint,
            "format": fmt,
            "options": checked.model_dump(mode="json"),
        }
        try:
            return append_event(
                workspace, project_id, "ExportRequested", data, actor, expected_seq=seq
            )
        except ConcurrencyError:
            continue
    raise CommandError("the project kept changing while the export was checked; try again")


def export_file(workspace: Workspace, project_id: str, export_id: str) -> tuple[Path, str]:
    """The file of a completed, validated export and the name to download it as.

    Raises:
        CommandError: no such export, not completed (pending, failed, cancelled), or its file
            is missing or no longer the one the export recorded (sha256).
    """
    events = events_of(workspace, project_id)
    exports = rebuild_exports(events)
    entry = exports.get(export_id)
    if entry is None:
        raise CommandError(f"no export {export_id!r} in this project")
    if not entry.downloadable or entry.file is None:
        raise CommandError(f"export {export_id} is {entry.status}: there is no file to download")
    try:
        path = workspace.experiment_file(project_id, entry.experiment_id, entry.file.name)
    except WorkspaceError as exc:
        raise CommandError(str(exc)) from None
    if not path.is_file():
        raise CommandError(f"the file of export {export_id} is missing from the workspace")
    if path.stat().st_size != entry.file.size_bytes or file_sha256(path) != entry.file.sha256:
        raise CommandError(f"the file of export {export_id} has changed since it was exported")
    experiment = rebuild_experiments(events).get(entry.experiment_id)
    name = experiment.name if experiment is not None else entry.experiment_id
    return path, export_download_name(name, export_id, entry.format)


EXPORT_SUFFIXES: dict[str, str] = {"onnx": ".onnx", "torchscript": ".pt"}


def export_download_name(experiment_name: str, export_id: str, fmt: str) -> str:
    """The file name an export is downloaded as: ``<experiment name>-<export id>.<suffix>``.

    The experiment's name is made portable (letters, digits, ``-``, ``_``, ``.``; at most 60).
    """
    stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in experiment_name).strip("-.")
    return f"{(stem or 'model')[:60]}-{export_id}{EXPORT_SUFFIXES.get(fmt, '')}"
