"""Annotations: a person edits one image's annotation as a whole (``AnnotationChanged``).

The same rules as an import's (DESIGN §3b): the annotation's kind is the project's task's, every
object's class is in the project's list, boxes, polygons and rotated boxes' centres lie inside
the image, and a mask names a PNG of the content store of the image's very size.
"""

from __future__ import annotations

from typing import Any

from PIL import Image, UnidentifiedImageError

from aistudio.commands.base import CommandError, append_event, project_task, validate_data
from aistudio.commands.datasets import dataset_view
from aistudio.workspace import Workspace, WorkspaceError
from events import Event
from events.schemas.annotation import TASK_ANNOTATION_KINDS, annotation_problems
from projections.dataset import DatasetView, ImageEntry


def check_annotation(
    workspace: Workspace,
    project_id: str,
    entry: ImageEntry,
    annotation: dict[str, Any] | None,
    classes: list[str],
    task: str,
) -> dict[str, Any] | None:
    """``annotation`` normalised, once it suits ``entry``'s image and the project.

    Raises:
        CommandError: another kind than the task's, an object outside the image or of an
            unknown class, a mask that is missing or not the image's size (the first problem).
    """
    if annotation is None:
        return None
    checked = validate_data(
        "AnnotationChanged", {"image_id": entry.image_id, "annotation": annotation}
    )["annotation"]
    expected = TASK_ANNOTATION_KINDS.get(task)
    if checked["kind"] != expected:
        raise CommandError(
            f"a {task.replace('_', ' ')} project's images take a {expected!r} annotation, "
            f"not {checked['kind']!r}"
        )
    width, height = entry.upright_size  # annotations are in the upright frame
    problems = annotation_problems(checked, width, height, classes)
    problems += _mask_problems(workspace, project_id, entry, checked)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CommandError(f"{entry.filename}: {problems[0]}{more}")
    return checked


def _mask_problems(
    workspace: Workspace, project_id: str, entry: ImageEntry, annotation: dict[str, Any]
) -> list[str]:
    refs = [("mask", annotation.get("mask"))]
    refs += [
        (f"object {i} mask", obj.get("mask"))
        for i, obj in enumerate(annotation.get("objects") or (), start=1)
    ]
    problems = []
    for where, ref in refs:
        if ref is None:
            continue
        try:
            path = workspace.image_path(project_id, ref["sha256"], ref["ext"])
            with Image.open(path) as mask:
                size = mask.size
        except (FileNotFoundError, WorkspaceError):
            problems.append(f"{where}: no such file in the project's store ({ref['sha256']})")
            continue
        except (OSError, UnidentifiedImageError) as exc:
            problems.append(f"{where}: not a readable PNG ({exc})")
            continue
        if size != entry.upright_size:
            width, height = entry.upright_size
            problems.append(f"{where}: {size[0]}x{size[1]}, not the image's {width}x{height}")
    return problems


def change_annotation(
    workspace: Workspace,
    project_id: str,
    image_id: str,
    annotation: dict[str, Any] | None,
    actor: str = "cli",
    dataset: DatasetView | None = None,
) -> Event:
    """Replace one image's annotation (None: not annotated any more) with ``AnnotationChanged``.

    ``dataset`` is the current dataset view when the caller has one (the web app's projector).
    """
    view = dataset if dataset is not None else dataset_view(workspace, project_id)
    entry = view.images.get(image_id)
    if entry is None:
        raise CommandError(f"no image {image_id!r} in this project")
    task = project_task(workspace, project_id)
    checked = check_annotation(workspace, project_id, entry, annotation, view.classes, task)
    data = {"image_id": image_id, "annotation": checked}
    return append_event(workspace, project_id, "AnnotationChanged", data, actor)
