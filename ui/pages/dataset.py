"""The Dataset page: import, browse (a paged thumbnail grid with filters), inspect and relabel.

Everything shown is read from the project's incremental projector through :mod:`ui.state`;
every change is a command or event appended through :mod:`aistudio.commands` (``actor="ui"``):
``ImportRequested``, ``LabelChanged``, ``ImageRemoved``, ``CancelRequested``.

Live: the shell's ``tick`` interval asks for the log's last seq once a second; only when it
changed (kept in the ``dataset-seq`` store) are the grid, histogram, job progress and detail
re-rendered. Paging is server-side: a callback builds the markup of one page of thumbnails
(60), which the browser loads from the media route, so the page stays fast at 100,000 images.

Time travel: ``?at=SEQ`` shows the dataset as it was right after event SEQ, read-only (no
import panel, no label editing), under a banner with a way back to now.
"""

from __future__ import annotations

import logging
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, dcc, html, no_update
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from projections.dataset import DatasetView
from ui.components.dataset_actions import (
    GridRender,
    PageMeta,
    cancel_import,
    change_label,
    change_objects,
    detail_update,
    feedback,
    grid_update,
    jobs_update,
    live_seq,
    load_dataset,
    remove_image,
    render_grid,
    start_import,
    triggered,
)
from ui.components.dataset_charts import histogram_figure, placeholder_figure
from ui.components.dataset_detail import OBJECT_CLASS, OBJECT_KEEP
from ui.components.dataset_grid import PAGE_SIZE, GridQuery, subset_options
from ui.components.dataset_import import import_panel, upload_status
from ui.components.empty_state import empty_state, project_not_found
from ui.components.sidebar import project_page_path
from ui.components.time_travel import parse_at, time_travel_banner
from ui.state import get_state
from ui.tasks import ui_task
from ui.upload import upload_limits, upload_url

logger = logging.getLogger(__name__)

dash.register_page(
    __name__,
    path_template="/project/<project_id>/dataset",
    title="Dataset · AI Studio",
    name="Dataset",
)


# ---------------------------------------------------------------------- layout
def layout(project_id: str | None = None, at: str | None = None, **_query: str) -> Component:
    """The page for ``project_id`` (now, or with ``?at=SEQ`` as it was then)."""
    state = get_state()
    project = state.live_project(project_id) if project_id else None
    if project is None or project_id is None:
        return project_not_found(project_id)
    page_path = project_page_path(project_id, "dataset")
    seq = parse_at(at)
    banner: Component | None = None
    if seq is not None:
        event = state.event_at(project_id, seq)
        if event is None:
            return empty_state(
                "clock-history",
                f"No event #{seq} in this project",
                "Time travel needs an event of this project's history.",
                dbc.Button("Back to now", href=page_path, color="primary"),
            )
        banner = time_travel_banner(page_path, seq, event.type, event.ts)
    meta = PageMeta(project_id, project.task, seq)
    dataset = load_dataset(meta)
    grid = render_grid(meta, dataset, GridQuery())
    progress, summary = jobs_update(meta)
    read_only = meta.read_only
    has_images = bool(dataset.images)

    header = html.Div(
        [
            html.Div(
                [
                    html.H2("Dataset", className="mb-1"),
                    html.Div(grid.stats, id="dataset-stats"),
                ]
            ),
            None
            if read_only
            else dbc.Button(
                [html.I(className="bi bi-box-arrow-in-down me-2"), "Import images"],
                id="dataset-import-toggle",
                color="primary",
                outline=has_images,
                className="ms-auto",
                n_clicks=0,
            ),
        ],
        className="d-flex align-items-start mb-3 gap-3",
    )
    children: list[Component | None] = [banner, header]
    if not read_only:
        limits = upload_limits()
        children += [
            import_panel(
                project_id, upload_url(project_id), limits.max_upload_bytes, is_open=not has_images
            ),
            html.Div(id="dataset-page-feedback", className="mb-3"),
        ]
    children += [
        html.Div(progress, id="dataset-progress"),
        html.Div(summary, id="dataset-import-summary"),
        html.Div(_empty_dataset(read_only), id="dataset-empty", style=grid.empty_style),
        html.Div(
            _browser(grid, dataset, meta.task), id="dataset-browser", style=grid.browser_style
        ),
        _detail_offcanvas(),
        dcc.Store(id="dataset-meta", data=meta.to_store()),
        dcc.Store(id="dataset-seq", data=dataset.seq),
        dcc.Store(id="dataset-selected"),
        dcc.Store(id="dataset-detail-shown"),
    ]
    if not read_only:
        children.append(
            dcc.ConfirmDialog(
                id="dataset-remove-confirm",
                message="Remove this image from the dataset? It leaves every split too; "
                "the event stays in the history.",
            )
        )
    return html.Div(children, className="dataset-page")


def _empty_dataset(read_only: bool) -> Component:
    if read_only:
        return empty_state(
            "images",
            "No images yet at this point",
            "The dataset was empty right after this event.",
        )
    return empty_state(
        "images",
        "Import a dataset",
        "Enter a folder on this machine or upload a zip above, then click Import. An image "
        "folder with one sub-folder per class works as it is; a CSV lists file names and labels.",
        id="dataset-empty-state",
    )


def _browser(grid: GridRender, dataset: DatasetView, task: str) -> Component:
    filters = dbc.Row(
        [
            dbc.Col(
                dcc.Dropdown(
                    id="dataset-filter-class",
                    options=grid.class_options,
                    placeholder=ui_task(task).class_filter_placeholder,
                    clearable=True,
                ),
                sm=6,
                xl=3,
            ),
            dbc.Col(
                dcc.Dropdown(
                    id="dataset-filter-split",
                    options=grid.split_options,
                    placeholder="Any split",
                    clearable=True,
                ),
                sm=6,
                xl=3,
            ),
            dbc.Col(
                dcc.Dropdown(
                    id="dataset-filter-subset",
                    options=subset_options(),
                    placeholder="Any subset",
                    clearable=True,
                    disabled=grid.subset_disabled,
                ),
                sm=6,
                xl=3,
            ),
            dbc.Col(
                dbc.InputGroup(
                    [
                        dbc.InputGroupText(html.I(className="bi bi-search")),
                        dbc.Input(
                            id="dataset-filter-name",
                            type="search",
                            placeholder="File name contains…",
                            debounce=300,
                        ),
                    ]
                ),
                sm=6,
                xl=3,
            ),
        ],
        className="g-2",
    )
    grid_card = dbc.Card(
        [
            dbc.CardHeader(filters, className="bg-transparent py-3"),
            dbc.CardBody(
                [
                    html.Div(
                        [
                            html.Span(grid.count, id="dataset-count", className="fw-semibold"),
                            dbc.Switch(
                                id="dataset-show-boxes",
                                label=ui_task(task).overlay_switch or "Show boxes",
                                value=True,
                                className="ms-3 mb-0 small",
                                style={} if ui_task(task).overlay_switch else {"display": "none"},
                            ),
                            dbc.Button(
                                [html.I(className="bi bi-x-lg me-1"), "Clear filters"],
                                id="dataset-filter-clear",
                                color="link",
                                size="sm",
                                className="ms-auto p-0",
                                n_clicks=0,
                            ),
                        ],
                        className="d-flex align-items-center mb-3",
                    ),
                    dcc.Loading(
                        html.Div(grid.children, id="dataset-grid", className="thumb-grid"),
                        type="dot",
                        delay_show=400,
                        overlay_style={"visibility": "visible", "opacity": 0.6},
                    ),
                    html.Div(
                        # display is toggled on this outer div: Bootstrap's d-flex (!important)
                        # would win over an inline display:none on the same element
                        html.Div(
                            dbc.Pagination(
                                id="dataset-page",
                                max_value=grid.pages,
                                active_page=grid.page,
                                first_last=True,
                                previous_next=True,
                                fully_expanded=False,
                                size="sm",
                                className="mb-0",
                            ),
                            className="d-flex justify-content-center",
                        ),
                        id="dataset-pager",
                        style=grid.pager_style,
                        className="mt-3",
                    ),
                    html.Small(
                        f"{PAGE_SIZE} images per page · click one for details",
                        className="text-body-secondary d-block text-center mt-2",
                    ),
                ]
            ),
        ],
        className="shadow-sm mb-4",
    )
    histogram_card = dbc.Card(
        dbc.CardBody(
            dcc.Graph(
                id="dataset-histogram",
                figure=placeholder_figure(dataset, task),
                config={"displayModeBar": False, "responsive": True},
            )
        ),
        className="shadow-sm mb-4",
    )
    return dbc.Row(
        [dbc.Col(grid_card, xxl=9, lg=8), dbc.Col(histogram_card, xxl=3, lg=4)],
        className="g-4",
    )


def _detail_offcanvas() -> dbc.Offcanvas:
    return dbc.Offcanvas(
        [
            html.Div(id="dataset-detail-body"),
            html.Div(id="dataset-label-feedback", className="mt-3"),
        ],
        id="dataset-detail",
        title="Image",
        placement="end",
        is_open=False,
        scrollable=True,
        className="dataset-detail",
    )


# ---------------------------------------------------------------------- callbacks
@callback(
    Output("dataset-seq", "data"),
    Input("tick", "n_intervals"),
    State("dataset-meta", "data"),
    State("dataset-seq", "data"),
    prevent_initial_call=True,
)
def on_tick(_n: int | None, meta: dict[str, Any] | None, seq: int | None) -> int:
    """Once a second: the log's seq, when it changed (everything else follows from it)."""
    return live_seq(PageMeta.from_store(meta), seq)


@callback(
    Output("dataset-grid", "children"),
    Output("dataset-count", "children"),
    Output("dataset-page", "max_value"),
    Output("dataset-page", "active_page"),
    Output("dataset-filter-class", "options"),
    Output("dataset-filter-split", "options"),
    Output("dataset-filter-subset", "disabled"),
    Output("dataset-stats", "children"),
    Output("dataset-empty", "style"),
    Output("dataset-browser", "style"),
    Output("dataset-pager", "style"),
    Input("dataset-seq", "data"),
    Input("dataset-filter-class", "value"),
    Input("dataset-filter-split", "value"),
    Input("dataset-filter-subset", "value"),
    Input("dataset-filter-name", "value"),
    Input("dataset-page", "active_page"),
    State("dataset-meta", "data"),
    prevent_initial_call=True,
)
def update_grid(
    _seq: int | None,
    label: str | None,
    split: str | None,
    subset: str | None,
    name: str | None,
    page: int | None,
    meta: dict[str, Any] | None,
) -> tuple[Any, ...]:
    """The grid's page, count, pager and filter options, after a change of log or filter."""
    trigger, _value = triggered()
    return grid_update(meta, label, split, subset, name, page, trigger)


@callback(Output("dataset-grid", "className"), Input("dataset-show-boxes", "value"))
def toggle_boxes(show: bool | None) -> str:
    """Hide or show the objects drawn over the thumbnails (no re-render: a class on the grid)."""
    return "thumb-grid" if show or show is None else "thumb-grid hide-overlays"


@callback(
    Output("dataset-filter-class", "value"),
    Output("dataset-filter-split", "value"),
    Output("dataset-filter-subset", "value"),
    Output("dataset-filter-name", "value"),
    Input("dataset-filter-clear", "n_clicks"),
    prevent_initial_call=True,
)
def clear_filters(_n: int | None) -> tuple[None, None, None, str]:
    """Reset every filter."""
    return None, None, None, ""


@callback(
    Output("dataset-filter-class", "value", allow_duplicate=True),
    Output("dataset-filter-split", "value", allow_duplicate=True),
    Output("dataset-filter-subset", "value", allow_duplicate=True),
    Output("dataset-filter-name", "value", allow_duplicate=True),
    Input("dataset-filter-clear-empty", "n_clicks"),
    prevent_initial_call=True,
)
def clear_filters_from_empty(n: int | None) -> tuple[None, None, None, str]:
    """Reset every filter (the button of the "no image matches" state)."""
    if not n:
        raise PreventUpdate
    return None, None, None, ""


@callback(
    Output("dataset-histogram", "figure"),
    Input("dataset-seq", "data"),
    Input("theme", "data"),
    Input("dataset-filter-split", "value"),
    State("dataset-meta", "data"),
)
def update_histogram(
    _seq: int | None, theme: str | None, split: str | None, meta: dict[str, Any] | None
) -> Any:
    """The class histogram (stacked by subset when a split is chosen), in the app's theme."""
    page_meta = PageMeta.from_store(meta)
    dataset = load_dataset(page_meta)
    return histogram_figure(dataset, page_meta.task, theme, split, page_meta.project_id)


@callback(
    Output("dataset-progress", "children"),
    Output("dataset-import-summary", "children"),
    Input("dataset-seq", "data"),
    State("dataset-meta", "data"),
    prevent_initial_call=True,
)
def update_jobs(
    _seq: int | None, meta: dict[str, Any] | None
) -> tuple[list[Component], list[Component]]:
    """Progress bars of running imports and the summary of the last finished one."""
    return jobs_update(PageMeta.from_store(meta))


@callback(
    Output("dataset-import-collapse", "is_open"),
    Input("dataset-import-toggle", "n_clicks"),
    State("dataset-import-collapse", "is_open"),
    prevent_initial_call=True,
)
def toggle_import(_n: int | None, is_open: bool | None) -> bool:
    """Show or hide the import panel."""
    return not is_open


@callback(
    Output("dataset-import-feedback", "children"),
    Output("dataset-seq", "data", allow_duplicate=True),
    Input("dataset-import", "n_clicks"),
    State("dataset-source", "value"),
    State("dataset-format", "value"),
    State("dataset-meta", "data"),
    prevent_initial_call=True,
)
def on_import(
    n: int | None, source: str | None, fmt: str | None, meta: dict[str, Any] | None
) -> tuple[Component, Any]:
    """Append ``ImportRequested`` (the progress bar follows from the jobs view)."""
    if not n:
        raise PreventUpdate
    result = start_import(PageMeta.from_store(meta), source, fmt)
    return feedback(result, dismiss_ms=6000), result.seq if result.seq else no_update


@callback(
    Output("dataset-upload-status", "children"),
    Input("dataset-upload-result", "data"),
    prevent_initial_call=True,
)
def on_upload(result: dict[str, Any] | None) -> Component | None:
    """What became of the zip the page's script uploaded."""
    return upload_status(result)


@callback(
    Output("dataset-import-feedback", "children", allow_duplicate=True),
    Output("dataset-seq", "data", allow_duplicate=True),
    Input({"type": "dataset-cancel", "index": ALL}, "n_clicks"),
    State("dataset-meta", "data"),
    prevent_initial_call=True,
)
def on_cancel(_clicks: list[int | None], meta: dict[str, Any] | None) -> tuple[Component, Any]:
    """Ask a running import to stop."""
    trigger, value = triggered()
    if not value or not isinstance(trigger, dict):
        raise PreventUpdate
    result = cancel_import(PageMeta.from_store(meta), str(trigger["index"]))
    return feedback(result, dismiss_ms=4000), result.seq if result.seq else no_update


@callback(
    Output("dataset-selected", "data"),
    Output("dataset-detail", "is_open"),
    Input({"type": "dataset-thumb", "index": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def open_detail(_clicks: list[int | None]) -> tuple[str, bool]:
    """Open the detail panel of the thumbnail clicked."""
    trigger, value = triggered()
    if not value or not isinstance(trigger, dict):
        raise PreventUpdate  # the grid was re-rendered, nothing was clicked
    return str(trigger["index"]), True


@callback(
    Output("dataset-detail-body", "children"),
    Output("dataset-detail", "title"),
    Output("dataset-detail-shown", "data"),
    Output("dataset-label-feedback", "children"),
    Input("dataset-selected", "data"),
    Input("dataset-seq", "data"),
    State("dataset-meta", "data"),
    State("dataset-detail-shown", "data"),
    prevent_initial_call=True,
)
def update_detail(
    image_id: str | None,
    _seq: int | None,
    meta: dict[str, Any] | None,
    shown: list[Any] | None,
) -> tuple[Any, ...]:
    """The detail panel of the selected image, re-rendered when what it shows changed."""
    trigger, _value = triggered()
    return detail_update(PageMeta.from_store(meta), image_id, shown, trigger)


@callback(
    Output("dataset-label-feedback", "children", allow_duplicate=True),
    Output("dataset-seq", "data", allow_duplicate=True),
    Input("dataset-label-save", "n_clicks"),
    State("dataset-label-select", "value"),
    State("dataset-label-new", "value"),
    State("dataset-label-value", "value"),
    State("dataset-selected", "data"),
    State("dataset-meta", "data"),
    prevent_initial_call=True,
)
def on_save_label(
    n: int | None,
    choice: str | None,
    new_name: str | None,
    value: float | str | None,
    image_id: str | None,
    meta: dict[str, Any] | None,
) -> tuple[Component, Any]:
    """Append ``LabelChanged``; the grid, histogram and panel follow from the new seq."""
    if not n:
        raise PreventUpdate
    result = change_label(PageMeta.from_store(meta), image_id, choice, new_name, value)
    return feedback(result, dismiss_ms=5000), result.seq if result.seq else no_update


@callback(
    Output("dataset-label-feedback", "children", allow_duplicate=True),
    Output("dataset-seq", "data", allow_duplicate=True),
    Input("dataset-objects-save", "n_clicks"),
    State({"type": OBJECT_CLASS, "index": ALL}, "value"),
    State({"type": OBJECT_KEEP, "index": ALL}, "value"),
    State("dataset-selected", "data"),
    State("dataset-meta", "data"),
    prevent_initial_call=True,
)
def on_save_objects(
    n: int | None,
    classes: list[str | None],
    keep: list[bool | None],
    image_id: str | None,
    meta: dict[str, Any] | None,
) -> tuple[Component, Any]:
    """Append ``AnnotationChanged`` with the objects as edited (classes changed, some deleted)."""
    if not n:
        raise PreventUpdate
    result = change_objects(PageMeta.from_store(meta), image_id, classes, keep)
    return feedback(result, dismiss_ms=5000), result.seq if result.seq else no_update


@callback(
    Output("dataset-remove-confirm", "displayed"),
    Input("dataset-remove", "n_clicks"),
    prevent_initial_call=True,
)
def ask_remove(n: int | None) -> bool:
    """Ask for confirmation before removing an image."""
    if not n:
        raise PreventUpdate
    return True


@callback(
    Output("dataset-page-feedback", "children"),
    Output("dataset-detail", "is_open", allow_duplicate=True),
    Output("dataset-seq", "data", allow_duplicate=True),
    Input("dataset-remove-confirm", "submit_n_clicks"),
    State("dataset-selected", "data"),
    State("dataset-meta", "data"),
    prevent_initial_call=True,
)
def on_remove(
    n: int | None, image_id: str | None, meta: dict[str, Any] | None
) -> tuple[Component, Any, Any]:
    """Append ``ImageRemoved`` for the image in the panel, and close the panel."""
    if not n:
        raise PreventUpdate
    result = remove_image(PageMeta.from_store(meta), image_id)
    seq = result.seq if result.seq else no_update
    return feedback(result, dismiss_ms=6000), (False if result.ok else no_update), seq
