"""Dataset commands: import, relabel, remove an image; the dataset view."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aistudio.commands.base import (
    CommandError,
    append_event,
    log_of,
    project_task,
    task_of,
)
from aistudio.datasets.formats.registry import FORMATS
from aistudio.workspace import Workspace
from events import Event
from projections.dataset import DatasetView
from projections.dataset import rebuild as rebuild_dataset

IMPORT_FORMATS: tuple[str, ...] = ("auto", *FORMATS)
"""``auto`` (the layout decides) and every format of the registry."""
IMPORT_FORMAT_INFO: dict[str, tuple[str, str]] = {
    name: (spec.title, spec.layout) for name, spec in FORMATS.items()
}
"""Format -> ``(title, layout in a few words)``, for forms and messages."""
IMPORT_OPTIONS: tuple[str, ...] = ()
"""The import options this version understands (none yet: every format reads its layout as is)."""


def check_import(
    source: str | os.PathLike[str],
    fmt: str = "auto",
    options: dict[str, Any] | None = None,
    base: Path | None = None,
) -> dict[str, Any]:
    """The rules of ``ImportRequested``; returns the command's data (the source resolved).

    ``source`` must name an existing, readable file or folder on this machine. A relative
    ``source`` is resolved against ``base`` (the CLI passes the shell's working directory); with
    no ``base`` it is refused: a script's or the web page's source is an absolute path, never
    resolved against whatever directory the process happens to run in.

    Raises:
        CommandError: the format or an option is unknown, the source empty, relative without a
            base, missing or unreadable.
    """
    if fmt not in IMPORT_FORMATS:
        raise CommandError(f"unknown format {fmt!r}: choose one of {', '.join(IMPORT_FORMATS)}")
    unknown = sorted(set(options or {}) - set(IMPORT_OPTIONS))
    if unknown:
        known = ", ".join(IMPORT_OPTIONS) or "none in this version"
        raise CommandError(f"unknown import option {unknown[0]!r} (import options: {known})")
    text = os.fspath(source)
    if not text.strip():
        raise CommandError("source must not be empty: give the folder or file to import")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a name of bytes that are not UTF-8 (surrogate-escaped)
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise CommandError(
            f"source {shown!r} is not valid UTF-8 (shown with escapes): rename it to import it"
        ) from None
    path = Path(text)
    if not path.is_absolute():
        if base is None:
            raise CommandError(f"source {text!r} is not an absolute path: give the full path")
        path = base / path
    try:
        resolved = path.resolve(strict=True)
    except (FileNotFoundError, RuntimeError, OSError):
        raise CommandError(f"source {text!r} does not exist") from None
    if not os.access(resolved, os.R_OK):
        raise CommandError(f"source {str(resolved)!r} is not readable")
    return {"source": str(resolved), "format": fmt, "options": dict(options or {})}


def request_import(
    workspace: Workspace,
    project_id: str,
    source: str | os.PathLike[str],
    fmt: str = "auto",
    options: dict[str, Any] | None = None,
    actor: str = "cli",
    base: Path | None = None,
) -> Event:
    """Append ``ImportRequested`` once :func:`check_import` accepts it."""
    data = check_import(source, fmt, options, base)
    return append_event(workspace, project_id, "ImportRequested", data, actor)


def submit_import(workspace: Workspace, project_id: str, data: dict[str, Any], actor: str) -> Event:
    """``ImportRequested`` from a script (data already valid for the schema)."""
    return request_import(
        workspace, project_id, data["source"], data["format"], data["options"], actor
    )


def recheck_import(data: dict[str, Any]) -> None:
    """What must still hold when a worker claims an import (however it was appended)."""
    checked = check_import(data["source"], data["format"], data["options"])
    if checked["source"] != data["source"]:
        raise CommandError(
            f"source {data['source']!r} is not a resolved path (it resolves to "
            f"{checked['source']!r}): submit it again"
        )


def change_label(
    workspace: Workspace,
    project_id: str,
    image_id: str,
    label: str | None = None,
    value: float | None = None,
    actor: str = "cli",
    dataset: DatasetView | None = None,
) -> Event:
    """Change one image's label (classification) or value (regression).

    ``dataset`` is the current dataset view when the caller has one (the web app's projector);
    otherwise it is rebuilt from the log.
    """
    view = dataset if dataset is not None else dataset_view(workspace, project_id)
    if image_id not in view.images:
        raise CommandError(f"no image {image_id!r} in this project")
    kind = task_of(project_task(workspace, project_id)).label_kind
    if kind not in ("label", "value"):
        raise CommandError(
            f"images of this project are annotated with {kind}, not a label or a value: "
            "change their objects instead (AnnotationChanged, or the Dataset page's detail view)"
        )
    if kind == "label" and value is not None:
        raise CommandError("images of this project have a class label, not a value")
    if kind == "value" and label is not None:
        raise CommandError("images of this project have a value, not a class label")
    data: dict[str, Any] = {"image_id": image_id, "label": label, "value": value}
    return append_event(workspace, project_id, "LabelChanged", data, actor)


def remove_image(
    workspace: Workspace,
    project_id: str,
    image_id: str,
    actor: str = "cli",
    dataset: DatasetView | None = None,
) -> Event:
    """Remove one image from the dataset (``dataset``: the current view, if the caller has it)."""
    view = dataset if dataset is not None else dataset_view(workspace, project_id)
    if image_id not in view.images:
        raise CommandError(f"no image {image_id!r} in this project")
    return append_event(workspace, project_id, "ImageRemoved", {"image_id": image_id}, actor)


def dataset_view(workspace: Workspace, project_id: str) -> DatasetView:
    """The project's dataset view, rebuilt from its log."""
    return rebuild_dataset(log_of(workspace, project_id).read())
