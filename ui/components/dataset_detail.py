"""The Dataset page's detail panel: the full image, its metadata and its label editor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html
from dash.development.base_component import Component

from projections.dataset import DatasetView, ImageEntry
from ui.components.annotation_overlay import annotated, class_color, has_shape
from ui.components.dataset_grid import (
    SUBSET_LABELS,
    UNLABELED_OPTION,
    format_value,
    image_url,
    label_text,
)
from ui.tasks import ui_task
from ui.upload import format_size

SMALL_IMAGE_PX = 128
"""Images smaller than this are scaled up with crisp pixels rather than blurred."""
HIDDEN = {"display": "none"}


def detail_title(entry: ImageEntry | None) -> str:
    """The panel's title: the image's file name."""
    return entry.filename if entry is not None else "Image"


def detail_body(
    project_id: str,
    dataset: DatasetView,
    image_id: str | None,
    task: str,
    read_only: bool,
    at: int | None = None,
) -> list[Component]:
    """The panel's content for ``image_id``: image, metadata and (unless read-only) editor.

    ``at`` is the seq shown in time travel (the image is fetched as of then).
    """
    entry = dataset.images.get(image_id or "")
    if entry is None:
        return [
            dbc.Alert(
                "This image is not in the dataset (any more).",
                color="secondary",
                id="dataset-detail-missing",
            )
        ]
    small = max(entry.width, entry.height) < SMALL_IMAGE_PX
    image: Component = html.Img(
        src=image_url(project_id, entry.image_id, at),
        alt=entry.filename,
        className="dataset-detail-image" + (" pixelated" if small else ""),
        id="dataset-detail-image",
    )
    if entry.structured is not None:
        image = annotated(
            image,
            entry.structured,
            *entry.upright_size,
            dataset.classes,
            fit="image",
            project_id=project_id,
        )
    children: list[Component] = [
        html.A(
            image,
            href=image_url(project_id, entry.image_id, at),
            target="_blank",
            title="Open the original in a new tab",
            className="d-block mb-3",
        ),
        html.Div(
            [
                html.Span(
                    "Annotation" if entry.structured is not None else "Label",
                    className="text-body-secondary me-2",
                ),
                _label_badge(entry),
            ],
            className="mb-3 fs-6",
            id="dataset-detail-label",
        ),
        metadata_table(dataset, entry),
    ]
    objects = entry.structured.get("objects") if entry.structured is not None else None
    if objects is not None:
        children.append(objects_table(objects, dataset.classes, editable=not read_only))
    if not read_only:
        children.append(label_editor(dataset, entry, task))
    return children


OBJECT_CLASS = "dataset-object-class"
OBJECT_KEEP = "dataset-object-keep"


def objects_table(
    objects: Sequence[Mapping[str, Any]], classes: Sequence[str], editable: bool = False
) -> Component:
    """The image's objects: class (in its colour), box corners, shape (instances) and flags.
    ``editable``: each row's class is a dropdown and a switch keeps or deletes the object (Save
    objects); an object keeps its shape whatever its class."""
    if not objects:
        return html.P("No object: a negative image.", className="text-body-secondary small")
    options = [{"label": c, "value": c} for c in classes]
    shapes = any(has_shape(obj) for obj in objects)
    rows = []
    for index, obj in enumerate(objects):
        name = str(obj.get("class"))
        swatch = html.Span(
            name, className="overlay-swatch", style={"borderColor": class_color(name, classes)}
        )
        cell: Component = swatch
        if editable:
            cell = html.Div(
                [
                    html.Span(
                        className="overlay-swatch me-1",
                        style={"borderColor": class_color(name, classes)},
                    ),
                    dcc.Dropdown(
                        id={"type": OBJECT_CLASS, "index": index},
                        options=options,
                        value=name,
                        clearable=False,
                        className="flex-grow-1 dataset-object-select",
                    ),
                ],
                className="d-flex align-items-center",
            )
        cells = [
            html.Td(cell),
            html.Td(", ".join(f"{v:g}" for v in obj.get("box") or ()), className="font-monospace"),
        ]
        if shapes:
            cells.append(html.Td(shape_text(obj), className="text-nowrap"))
        cells.append(html.Td(", ".join(f for f in ("difficult", "crowd") if obj.get(f)) or "—"))
        if editable:
            cells.append(
                html.Td(
                    dbc.Switch(
                        id={"type": OBJECT_KEEP, "index": index},
                        value=True,
                        className="mb-0",
                        label_class_name="visually-hidden",
                        label="keep",
                    ),
                    title="Keep this object (off: delete it when saving)",
                )
            )
        rows.append(html.Tr(cells))
    head = [html.Th("Class"), html.Th("Box (x1, y1, x2, y2)")]
    if shapes:
        head.append(html.Th("Shape"))
    head.append(html.Th("Flags"))
    if editable:
        head.append(html.Th("Keep"))
    return dbc.Table(
        [html.Thead(html.Tr(head)), html.Tbody(rows)],
        size="sm",
        className="small mb-3 align-middle",
        id="dataset-detail-objects",
    )


def shape_text(obj: Mapping[str, Any]) -> str:
    """An object's shape in words: ``2 outlines, 48 points``, ``mask``, or ``—``."""
    polygons = obj.get("polygons") or ()
    if polygons:
        points = sum(len(ring) // 2 for ring in polygons)
        rings = len(polygons)
        return f"{rings} outline{'s' if rings != 1 else ''}, {points:,} points"
    if obj.get("mask"):
        return "mask"
    return "—"


def _label_badge(entry: ImageEntry) -> html.Span:
    unlabeled = not entry.annotated
    color = "secondary" if unlabeled else "primary"
    return html.Span(
        label_text(entry),
        className=(
            f"badge rounded-pill bg-{color}-subtle text-{color}-emphasis border "
            f"border-{color}-subtle fs-6"
        ),
    )


def metadata_rows(dataset: DatasetView, entry: ImageEntry) -> list[tuple[str, str]]:
    """``(field, value)`` pairs describing an image."""
    rows = [
        ("File name", entry.filename),
        ("Image id", entry.image_id),
        ("Size", format_size(entry.size_bytes)),
        ("Dimensions", f"{entry.width} x {entry.height} px"),
        ("Format", entry.ext.upper()),
        ("SHA-256", entry.sha256),
        ("Added", f"at event #{entry.added_seq}"),
    ]
    if entry.value is not None:
        rows.append(("Value", format_value(entry.value)))
    for split in dataset.splits:
        subset = dataset.subset_of(entry.image_id, split)
        rows.append((f"Split “{split}”", SUBSET_LABELS.get(subset, subset) if subset else "—"))
    if not dataset.splits:
        rows.append(("Splits", "none yet"))
    return rows


def metadata_table(dataset: DatasetView, entry: ImageEntry) -> dbc.Table:
    """The image's metadata as a compact two-column table."""
    body = [
        html.Tr(
            [
                html.Th(name, className="text-body-secondary fw-normal text-nowrap pe-3"),
                html.Td(
                    value,
                    className="text-break"
                    + (
                        " font-monospace small"
                        if name
                        in (
                            "SHA-256",
                            "Image id",
                        )
                        else ""
                    ),
                ),
            ]
        )
        for name, value in metadata_rows(dataset, entry)
    ]
    return dbc.Table(
        html.Tbody(body), size="sm", borderless=True, className="mb-3", id="dataset-detail-meta"
    )


def label_options(dataset: DatasetView) -> list[dict[str, Any]]:
    """The label dropdown's options: every class, then "no label"."""
    options: list[dict[str, Any]] = [{"label": c, "value": c} for c in dataset.classes]
    options.append({"label": "(no label)", "value": UNLABELED_OPTION})
    return options


def label_editor(dataset: DatasetView, entry: ImageEntry, task: str) -> html.Div:
    """The form that changes the image's label (classification) or value (regression).

    All its fields are always rendered (those that do not apply are hidden), so the save
    callback always finds its states.
    """
    editor = ui_task(task).label_editor
    regression = editor == "value"
    classification = editor == "label"
    editable = editor is not None
    objects = bool((entry.structured or {}).get("objects"))
    current = entry.label if entry.label is not None else UNLABELED_OPTION
    if editable:
        heading: Component = html.H6(
            [
                html.I(className="bi bi-pencil-square me-2"),
                "Edit value" if regression else "Edit label",
            ]
        )
    elif objects:
        heading = html.P(
            "Change an object's class or switch it off to delete it, then save the objects.",
            className="text-body-secondary small",
        )
    else:
        heading = html.P(
            f"Annotations of {task.replace('_', ' ')} projects are not edited here yet.",
            className="text-body-secondary small",
        )
    return html.Div(
        [
            heading,
            html.Div(
                [
                    dcc.Dropdown(
                        id="dataset-label-select",
                        options=label_options(dataset),
                        value=current,
                        clearable=False,
                        className="mb-2",
                    ),
                    dbc.Input(
                        id="dataset-label-new",
                        placeholder="…or type a new class name",
                        maxlength=100,
                        className="mb-2",
                    ),
                ],
                style=None if classification else HIDDEN,
            ),
            html.Div(
                dbc.Input(
                    id="dataset-label-value",
                    type="number",
                    value=entry.value,
                    placeholder="a number",
                    step="any",
                    className="mb-2",
                ),
                style=None if regression else HIDDEN,
            ),
            html.Div(
                [
                    dbc.Button(
                        [
                            html.I(className="bi bi-check2 me-1"),
                            "Save value" if regression else "Save label",
                        ],
                        id="dataset-label-save",
                        color="primary",
                        size="sm",
                        n_clicks=0,
                        style=None if editable else HIDDEN,
                    ),
                    dbc.Button(
                        [html.I(className="bi bi-check2 me-1"), "Save objects"],
                        id="dataset-objects-save",
                        color="primary",
                        size="sm",
                        n_clicks=0,
                        style=None if objects else HIDDEN,
                    ),
                    dbc.Button(
                        [html.I(className="bi bi-trash3 me-1"), "Remove image"],
                        id="dataset-remove",
                        color="danger",
                        outline=True,
                        size="sm",
                        className="ms-auto",
                        n_clicks=0,
                    ),
                ],
                className="d-flex",
            ),
        ],
        className="border-top pt-3",
        id="dataset-label-editor",
    )
