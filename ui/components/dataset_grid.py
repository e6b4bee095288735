"""The Dataset page's thumbnail grid: server-side filtering and paging, and its markup.

Only the page shown is turned into components (60 thumbnails); the browser loads each
thumbnail from ``/media/<project>/thumb/<image>``. Filtering 100,000 images is one pass of
:meth:`projections.dataset.DatasetView.filter` (a few milliseconds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dash import html
from dash.development.base_component import Component

from projections.dataset import SUBSETS, UNLABELED, DatasetView, ImageEntry
from ui.components.annotation_overlay import annotated, object_summary
from ui.tasks import ui_task

PAGE_SIZE = 60
UNLABELED_OPTION = "__unlabeled__"
"""The class filter's value for images without a label (a dropdown value cannot be empty)."""
SUBSET_LABELS: dict[str, str] = {"train": "Train", "val": "Validation", "test": "Test"}


@dataclass(frozen=True, slots=True)
class GridQuery:
    """What the grid shows: the filters and the page (1-based).

    Attributes:
        label: a class name, :data:`UNLABELED_OPTION`, or None for every class.
        split: a split's name, or None.
        subset: ``train``, ``val`` or ``test`` of ``split`` (ignored without a split).
        name: part of the file name (case-insensitive), or None.
        page: the page, from 1.
    """

    label: str | None = None
    split: str | None = None
    subset: str | None = None
    name: str | None = None
    page: int = 1

    @property
    def filtered(self) -> bool:
        """Whether any filter is set."""
        return bool(self.label or self.split or (self.name or "").strip())


@dataclass(frozen=True, slots=True)
class GridPage:
    """One page of the filtered images.

    Attributes:
        ids: the image ids on the page, in import order.
        total: how many images match the filters.
        page: the page shown (clamped to the pages there are).
        pages: how many pages there are (at least 1).
    """

    ids: list[str]
    total: int
    page: int
    pages: int


def matching_ids(
    dataset: DatasetView,
    query: GridQuery,
    task: str = "classification",
    project_id: str | None = None,
) -> list[str]:
    """The ids of the images that match ``query``'s filters, in import order (``task`` and
    ``project_id``: a task whose classes are in its annotations' files finds a class there)."""
    label = query.label or None
    if label == UNLABELED_OPTION:
        label = UNLABELED
    split = query.split or None
    subset = query.subset if split and query.subset in SUBSETS else None
    name = (query.name or "").strip() or None
    if label is None and split is None and name is None:
        return list(dataset.images)
    if label is not None and label != UNLABELED and ui_task(task).classes_in_files:
        ids = dataset.filter(subset=subset, split=split, name_contains=name)
        found = ui_task(task).images_with_class(dataset, ids, label, project_id)
        if found is not None:
            return found
    return dataset.filter(label=label, subset=subset, split=split, name_contains=name)


def grid_page(
    dataset: DatasetView,
    query: GridQuery,
    page_size: int = PAGE_SIZE,
    task: str = "classification",
    project_id: str | None = None,
) -> GridPage:
    """The page of matching images that ``query`` asks for (the last one if it asks past it)."""
    ids = matching_ids(dataset, query, task, project_id)
    total = len(ids)
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, int(query.page or 1)), pages)
    start = (page - 1) * page_size
    return GridPage(ids[start : start + page_size], total, page, pages)


def label_text(entry: ImageEntry) -> str:
    """An image's label as shown on its thumbnail: the class, the value, what a structured
    annotation holds (``3 objects``, ``no object``), or ``unlabeled``."""
    if entry.label is not None:
        return entry.label
    if entry.value is not None:
        return format_value(entry.value)
    if entry.structured is not None:
        return object_summary(entry.structured)
    return "unlabeled"


def format_value(value: float) -> str:
    """A regression value, short: ``3.25``, ``1.2e+06``."""
    return f"{value:.4g}"


def _as_of(at: int | None) -> str:
    # In time travel, the media route looks the image up in the dataset as it was then
    # (it may have been removed since).
    return f"?at={at}" if at is not None else ""


def thumb_url(project_id: str, image_id: str, at: int | None = None) -> str:
    """The thumbnail's address (served by the media route), as of seq ``at`` if given."""
    return f"/media/{project_id}/thumb/{image_id}{_as_of(at)}"


def image_url(project_id: str, image_id: str, at: int | None = None) -> str:
    """The original image's address (served by the media route), as of seq ``at`` if given."""
    return f"/media/{project_id}/image/{image_id}{_as_of(at)}"


def thumb(
    project_id: str, entry: ImageEntry, at: int | None = None, classes: Sequence[str] = ()
) -> html.Div:
    """One clickable thumbnail: the image (its objects drawn over it) and its label."""
    unlabeled = not entry.annotated
    image: Component = html.Img(src=thumb_url(project_id, entry.image_id, at), alt=entry.filename)
    if entry.structured is not None:
        image = annotated(
            image, entry.structured, *entry.upright_size, classes, project_id=project_id
        )
    return html.Div(
        [
            image,
            html.Div(
                label_text(entry),
                className="thumb-label" + (" text-body-secondary fst-italic" if unlabeled else ""),
            ),
        ],
        id={"type": "dataset-thumb", "index": entry.image_id},
        className="thumb",
        n_clicks=0,
        title=f"{entry.filename} · {label_text(entry)}",
        role="button",
        tabIndex="0",
    )


def grid_children(
    project_id: str, dataset: DatasetView, ids: list[str], at: int | None = None
) -> list[Component]:
    """The thumbnails of ``ids`` (``at``: the seq shown in time travel)."""
    images = dataset.images
    classes = dataset.classes
    return [thumb(project_id, images[image_id], at, classes) for image_id in ids]


def count_text(total: int, dataset: DatasetView, filtered: bool) -> str:
    """``1,234 images match`` (``of 100,000`` when filtered)."""
    noun = "image matches" if total == 1 else "images match"
    text = f"{total:,} {noun}"
    if filtered:
        text += f" (of {len(dataset.images):,})"
    return text


def class_options(
    dataset: DatasetView, task: str = "classification", project_id: str | None = None
) -> list[dict[str, Any]]:
    """The class filter's options: every class with its count, then the unlabeled images
    (for regression, whose values have no classes, only the images without a value)."""
    return ui_task(task).class_options(dataset, project_id)


def split_options(dataset: DatasetView) -> list[dict[str, Any]]:
    """The split filter's options: every split with its number of images."""
    return [
        {"label": f"{name} ({len(members):,})", "value": name}
        for name, members in dataset.splits.items()
    ]


def subset_options() -> list[dict[str, str]]:
    """The subset filter's options."""
    return [{"label": SUBSET_LABELS[s], "value": s} for s in SUBSETS]


def stats_badges(dataset: DatasetView, task: str) -> list[Component]:
    """Pills with the dataset's figures: images, classes, unlabeled, splits; then the task's
    legend of its overlays, if any (semantic segmentation's classes in their colours)."""
    images = len(dataset.images)
    badges = [_pill("images", f"{images:,} image{'s' if images != 1 else ''}", "primary")]
    if dataset.classes or ui_task(task).always_counts_classes:
        n = len(dataset.classes)
        badges.append(_pill("tags", f"{n:,} class{'es' if n != 1 else ''}", "info"))
    if dataset.unlabeled:
        badges.append(_pill("question-circle", f"{dataset.unlabeled:,} unlabeled", "warning"))
    if dataset.splits:
        n = len(dataset.splits)
        badges.append(_pill("diagram-3", f"{n} split{'s' if n != 1 else ''}", "success"))
    legend = ui_task(task).dataset_legend(dataset)
    if legend is not None:
        badges.append(legend)
    return badges


def _pill(icon: str, text: str, color: str) -> html.Span:
    return html.Span(
        [html.I(className=f"bi bi-{icon} me-1"), text],
        className=(
            f"badge rounded-pill bg-{color}-subtle text-{color}-emphasis "
            f"border border-{color}-subtle me-2 dataset-stat"
        ),
    )
