"""The Dataset page's logic, apart from Dash: what it reads, renders and appends.

The page module (:mod:`ui.pages.dataset`) keeps only the layout and thin callbacks that call
these functions, so tests can call them directly. Reads go through :mod:`ui.state`; writes go
through :mod:`aistudio.commands` with ``actor="ui"``, and a refusal becomes a one-line message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dash_bootstrap_components as dbc
from dash import ctx, html, no_update
from dash.development.base_component import Component
from dash.exceptions import MissingCallbackContextException, PreventUpdate

from aistudio import commands
from aistudio.commands import CommandError
from projections.dataset import DatasetView
from projections.jobs import JobEntry, JobsView
from ui.components.dataset_detail import detail_body, detail_title
from ui.components.dataset_grid import (
    GridQuery,
    class_options,
    count_text,
    grid_children,
    grid_page,
    split_options,
    stats_badges,
)
from ui.components.dataset_import import SkippedReasons, progress_children, summary_children
from ui.components.empty_state import empty_state
from ui.components.job_link import history_link, job_events_href
from ui.state import get_state
from ui.tasks import ui_task

logger = logging.getLogger(__name__)

FILTER_IDS: tuple[str, ...] = (
    "dataset-filter-class",
    "dataset-filter-split",
    "dataset-filter-subset",
    "dataset-filter-name",
)
SHOWN = {"display": "block"}
HIDDEN = {"display": "none"}
LAID_OUT_HIDDEN = {"visibility": "hidden", "height": "0", "overflow": "hidden"}
"""Hidden but laid out at full width, so that the histogram has its size once it is shown."""
_skipped = SkippedReasons()


# ---------------------------------------------------------------------- reading
@dataclass(frozen=True, slots=True)
class PageMeta:
    """What every callback of the page needs to know (kept in the ``dataset-meta`` store).

    Attributes:
        project_id: the project shown.
        task: its task (``classification``, ``regression``, …).
        at: the seq shown in time travel, or None for now.
    """

    project_id: str
    task: str
    at: int | None = None

    @property
    def read_only(self) -> bool:
        """Whether the page is a time-travel view (nothing can be changed)."""
        return self.at is not None

    def to_store(self) -> dict[str, Any]:
        """The store's JSON."""
        return {"project_id": self.project_id, "task": self.task, "at": self.at}

    @classmethod
    def from_store(cls, data: dict[str, Any] | None) -> PageMeta:
        """Back from the store's JSON; PreventUpdate when there is none (no project shown)."""
        if not data or not data.get("project_id"):
            raise PreventUpdate
        at = data.get("at")
        return cls(str(data["project_id"]), str(data.get("task", "")), int(at) if at else None)


def load_dataset(meta: PageMeta) -> DatasetView:
    """The dataset view the page shows (now, or as of ``meta.at``).

    Raises:
        PreventUpdate: the project no longer exists (the shell shows that on navigation).
    """
    view = get_state().view(meta.project_id, "dataset", at=meta.at)
    if view is None:
        raise PreventUpdate
    return view


def load_jobs(meta: PageMeta) -> JobsView | None:
    """The jobs view now (None in time travel: progress and summaries are about now)."""
    if meta.read_only:
        return None
    return get_state().view(meta.project_id, "jobs")


def live_seq(meta: PageMeta, known: int | None) -> int:
    """The log's last seq when it moved past ``known`` (PreventUpdate otherwise)."""
    if meta.read_only:
        raise PreventUpdate
    view = get_state().view(meta.project_id, "dataset")
    if view is None or view.seq == known:
        raise PreventUpdate
    return int(view.seq)


def triggered() -> tuple[Any, Any]:
    """The id and value of what triggered the running callback ((None, None) outside one)."""
    try:
        triggered = ctx.triggered
        return ctx.triggered_id, (triggered[0].get("value") if triggered else None)
    except MissingCallbackContextException:
        return None, None


# ---------------------------------------------------------------------- grid
@dataclass(frozen=True, slots=True)
class GridRender:
    """Everything the grid callback sets."""

    children: list[Component]
    count: str
    pages: int
    page: int
    class_options: list[dict[str, Any]]
    split_options: list[dict[str, Any]]
    subset_disabled: bool
    stats: list[Component]
    empty_style: dict[str, str]
    browser_style: dict[str, str]
    pager_style: dict[str, str]

    def as_tuple(self) -> tuple[Any, ...]:
        """In the order of the callback's outputs."""
        return (
            self.children,
            self.count,
            self.pages,
            self.page,
            self.class_options,
            self.split_options,
            self.subset_disabled,
            self.stats,
            self.empty_style,
            self.browser_style,
            self.pager_style,
        )


def render_grid(meta: PageMeta, dataset: DatasetView, query: GridQuery) -> GridRender:
    """The grid of one page of ``dataset``'s images matching ``query``, with its surroundings."""
    page = grid_page(dataset, query, task=meta.task, project_id=meta.project_id)
    has_images = bool(dataset.images)
    if page.ids:
        children = grid_children(meta.project_id, dataset, page.ids, meta.at)
    else:
        # The grid's whole width: in one grid cell the text wrapped one word a line.
        children = [
            html.Div(
                empty_state(
                    "funnel",
                    "No image matches these filters",
                    "Choose another class, split or name, or clear the filters.",
                    dbc.Button(
                        "Clear filters",
                        id="dataset-filter-clear-empty",
                        color="secondary",
                        outline=True,
                        n_clicks=0,
                    ),
                ),
                style={"gridColumn": "1 / -1"},
            )
        ]
    return GridRender(
        children=children,
        count=count_text(page.total, dataset, query.filtered),
        pages=page.pages,
        page=page.page,
        class_options=class_options(dataset, meta.task, meta.project_id),
        split_options=split_options(dataset),
        subset_disabled=not (query.split and query.split in dataset.splits),
        stats=stats_badges(dataset, meta.task),
        empty_style=HIDDEN if has_images else SHOWN,
        browser_style=SHOWN if has_images else LAID_OUT_HIDDEN,
        pager_style=SHOWN if page.pages > 1 else HIDDEN,
    )


def grid_update(
    meta_data: dict[str, Any] | None,
    label: str | None,
    split: str | None,
    subset: str | None,
    name: str | None,
    page: int | None,
    trigger: Any = None,
) -> tuple[Any, ...]:
    """The grid callback's outputs; a change of filter goes back to page 1."""
    meta = PageMeta.from_store(meta_data)
    if trigger in FILTER_IDS:
        page = 1
    query = GridQuery(label=label, split=split, subset=subset, name=name, page=page or 1)
    return render_grid(meta, load_dataset(meta), query).as_tuple()


# ---------------------------------------------------------------------- actions
@dataclass(frozen=True, slots=True)
class ActionResult:
    """The outcome of a button: a message for the page, and the log's seq after it (if any)."""

    ok: bool
    message: str
    seq: int | None = None
    history: str | None = None
    """The History page of the job the action queued (its command selected), if it queued one."""


def start_import(meta: PageMeta, source: str | None, fmt: str | None) -> ActionResult:
    """Append ``ImportRequested`` for ``source`` (a folder or file on this machine)."""
    if meta.read_only:
        return ActionResult(False, "This is a time-travel view: nothing can be imported here.")
    text = (source or "").strip()
    if not text:
        return ActionResult(False, "Enter the folder to import, or upload a zip first.")
    state = get_state()
    try:
        # The page is this machine's own user: "~" is their home. A relative path has no base
        # a person could know (the server's working directory): the command refuses it.
        source = str(Path(text).expanduser())
        event = commands.request_import(
            state.workspace, meta.project_id, source, fmt or "auto", actor="ui"
        )
    except CommandError as exc:
        return ActionResult(False, _sentence(str(exc)))
    logger.info("import of %s requested for %s (job %s)", text, meta.project_id, event.id)
    return ActionResult(
        True,
        "Import requested: its progress shows below.",
        event.seq,
        history=job_events_href(meta.project_id, event.seq),
    )


def change_label(
    meta: PageMeta,
    image_id: str | None,
    choice: str | None,
    new_name: str | None,
    value: float | str | None,
) -> ActionResult:
    """Append ``LabelChanged`` for ``image_id``: the new class (or the number, for regression).

    ``new_name``, when given, wins over ``choice`` (a class of the dropdown, or
    :data:`~ui.components.dataset_grid.UNLABELED_OPTION` for no label); the task reads the
    editor (:meth:`ui.tasks.base.UiTask.parse_label`).
    """
    if meta.read_only:
        return ActionResult(False, "This is a time-travel view: labels cannot be changed here.")
    if not image_id:
        return ActionResult(False, "Choose an image first.")
    state = get_state()
    dataset = state.view(meta.project_id, "dataset")
    parsed = ui_task(meta.task).parse_label(choice, new_name, value)
    if isinstance(parsed, str):
        return ActionResult(False, parsed)
    label, number = parsed.label, parsed.value
    entry = dataset.images.get(image_id) if dataset is not None else None
    if entry is not None and entry.label == label and entry.value == number:
        return ActionResult(False, "That is already this image's label.")
    try:
        event = commands.change_label(
            state.workspace,
            meta.project_id,
            image_id,
            label=label,
            value=number,
            actor="ui",
            dataset=dataset,
        )
    except CommandError as exc:
        return ActionResult(False, _sentence(str(exc)))
    shown = label if label is not None else (f"{number:g}" if number is not None else "no label")
    return ActionResult(True, f"Label changed to “{shown}” (event #{event.seq}).", event.seq)


def change_objects(
    meta: PageMeta,
    image_id: str | None,
    classes: Sequence[str | None],
    keep: Sequence[bool | None],
) -> ActionResult:
    """Append ``AnnotationChanged`` for ``image_id``: its objects with the classes chosen
    (``classes[i]`` for object ``i``), those switched off (``keep[i]`` false) deleted."""
    if meta.read_only:
        return ActionResult(False, "This is a time-travel view: objects cannot be changed here.")
    state = get_state()
    dataset = state.view(meta.project_id, "dataset")
    entry = dataset.images.get(image_id or "") if dataset is not None else None
    if entry is None or entry.structured is None or entry.structured.get("objects") is None:
        return ActionResult(False, "Choose an image with objects first.")
    current = list(entry.structured["objects"])
    if len(classes) != len(current) or len(keep) != len(current):
        return ActionResult(False, "The image changed meanwhile: look at it again.")
    objects = [
        {**obj, "class": chosen or obj["class"]}
        for obj, chosen, kept in zip(current, classes, keep, strict=True)
        if kept is not False
    ]
    if objects == current:
        return ActionResult(False, "Nothing changed: choose another class or delete an object.")
    annotation = {**entry.structured, "objects": objects}
    try:
        event = commands.change_annotation(
            state.workspace, meta.project_id, entry.image_id, annotation, "ui", dataset
        )
    except CommandError as exc:
        return ActionResult(False, _sentence(str(exc)))
    deleted = len(current) - len(objects)
    changed = sum(1 for a, b in zip(current, objects, strict=False) if a != b) if not deleted else 0
    what = (
        f"{deleted} object{'s' if deleted != 1 else ''} deleted"
        if deleted
        else f"{changed} object{'s' if changed != 1 else ''} changed"
    )
    return ActionResult(True, f"Objects saved: {what} (event #{event.seq}).", event.seq)


def remove_image(meta: PageMeta, image_id: str | None) -> ActionResult:
    """Append ``ImageRemoved`` for ``image_id``."""
    if meta.read_only:
        return ActionResult(False, "This is a time-travel view: images cannot be removed here.")
    if not image_id:
        return ActionResult(False, "Choose an image first.")
    state = get_state()
    dataset = state.view(meta.project_id, "dataset")
    filename = dataset.images[image_id].filename if image_id in dataset.images else image_id
    try:
        event = commands.remove_image(
            state.workspace, meta.project_id, image_id, actor="ui", dataset=dataset
        )
    except CommandError as exc:
        return ActionResult(False, _sentence(str(exc)))
    return ActionResult(
        True, f"Removed {filename} from the dataset (event #{event.seq}).", event.seq
    )


def cancel_import(meta: PageMeta, job_id: str) -> ActionResult:
    """Append ``CancelRequested`` for an import job."""
    try:
        event = commands.request_cancel(get_state().workspace, meta.project_id, job_id, actor="ui")
    except CommandError as exc:
        return ActionResult(False, _sentence(str(exc)))
    return ActionResult(True, "Cancelling the import…", event.seq)


def _sentence(message: str) -> str:
    text = message.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def feedback(result: ActionResult, dismiss_ms: int | None = None) -> dbc.Alert:
    """A result as an alert: green when done, red when refused."""
    icon = "check-circle" if result.ok else "exclamation-triangle"
    link: list[Component] = []
    if result.history is not None:
        link = [" ", history_link(result.history)]
    return dbc.Alert(
        [html.I(className=f"bi bi-{icon} me-2"), result.message, *link],
        color="success" if result.ok else "danger",
        className="py-2 mb-0",
        duration=dismiss_ms if result.ok else None,
        dismissable=not result.ok,
    )


def load_skipped(meta: PageMeta, job: JobEntry) -> list[tuple[str, str]]:
    """``(path, reason)`` of the files an import job skipped (read once from its events)."""
    return _skipped.load(get_state().workspace.events_path(meta.project_id), job)


def jobs_update(meta: PageMeta) -> tuple[list[Component], list[Component]]:
    """The progress cards of running imports and the summary of the last one."""
    jobs = load_jobs(meta)
    return (
        progress_children(jobs),
        summary_children(jobs, lambda job: load_skipped(meta, job)),
    )


# ---------------------------------------------------------------------- detail
def detail_signature(dataset: DatasetView, image_id: str | None) -> list[Any]:
    """What the detail panel shows about ``image_id``: it is re-rendered only when it changes."""
    entry = dataset.images.get(image_id or "")
    if entry is None:
        return [image_id, None]
    subsets = [dataset.subset_of(entry.image_id, split) for split in dataset.splits]
    return [image_id, list(entry), list(dataset.splits), subsets, list(dataset.classes)]


def detail_update(
    meta: PageMeta,
    image_id: str | None,
    shown: list[Any] | None = None,
    trigger: Any = None,
) -> tuple[list[Component], str, list[Any], Any]:
    """The detail panel's body, title, signature and label feedback for ``image_id``.

    After a change of the log (``trigger == "dataset-seq"``), the panel is left as it is
    (PreventUpdate) unless what it shows changed (``shown`` is the last signature), so that a
    half-typed class name survives other people's events; its feedback is kept then. On any
    other trigger (a new selection) the feedback is cleared.

    Raises:
        PreventUpdate: no image is selected, or nothing the panel shows changed.
    """
    if not image_id:
        raise PreventUpdate
    dataset = load_dataset(meta)
    signature = detail_signature(dataset, image_id)
    refresh = trigger == "dataset-seq"
    if refresh and shown is not None and signature == shown:
        raise PreventUpdate
    body = detail_body(meta.project_id, dataset, image_id, meta.task, meta.read_only, meta.at)
    title = detail_title(dataset.images.get(image_id))
    return body, title, signature, no_update if refresh else None
