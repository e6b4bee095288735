"""Annotations: a person edits one image's annotation as a whole (``AnnotationChanged``).

The same rules as an import's (DESIGN §3b): the annotation's kind is the project's task's, every
object's class is in the project's list, boxes, polygons and rotated boxes' centres lie inside
the image, and a mask names a PNG of the content store of the image's very size. A class mask
(``semantic``) is an 8-bit single-channel PNG whose values name classes of its legend (or of the
project's list, when it has none) or are 255 (ignore).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from aistudio.commands.base import CommandError, append_event, project_task, validate_data
from aistudio.commands.datasets import dataset_view
from aistudio.datasets.formats.semantic import MaskError, check_values, png_header
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
    problems += _mask_problems(workspace, project_id, entry, checked, classes)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CommandError(f"{entry.filename}: {problems[0]}{more}")
    return checked


def _mask_problems(
    workspace: Workspace,
    project_id: str,
    entry: ImageEntry,
    annotation: dict[str, Any],
    classes: list[str],
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
        elif annotation["kind"] == "semantic":
            legend, named = (
                (annotation["classes"], "its legend")
                if annotation.get("classes")
                else (classes, "the project's class list")
            )
            problems.extend(f"{where}: {p}" for p in _class_mask_problems(path, legend, named))
    return problems


def _class_mask_problems(path: Path, legend: list[str], where: str) -> list[str]:
    """A class mask must be an 8-bit grey PNG whose values name the legend's classes (or the
    project's, for a mask without a legend), or are 255 (ignore)."""
    try:
        with path.open("rb") as handle:
            header = png_header(handle.read(32))
        if (header.bit_depth, header.colour_type) != (8, 0):
            return [
                f"a {_png_kind(header.bit_depth, header.colour_type)} PNG: a class mask is an "
                "8-bit single-channel (grey, 'L') PNG of class indices"
            ]
        with Image.open(path) as mask:
            values = np.asarray(mask)
        check_values(values, legend, where)
    except MaskError as exc:
        return [str(exc)]
    except (OSError, UnidentifiedImageError) as exc:
        return [f"not a readable PNG ({exc})"]
    return []


_COLOUR_TYPES = {0: "grey", 2: "RGB", 3: "palette", 4: "grey and alpha", 6: "RGBA"}


def _png_kind(bit_depth: int, colour_type: int) -> str:
    return f"{_COLOUR_TYPES.get(colour_type, f'colour type {colour_type}')} ({bit_depth}-bit)"


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
