"""History: the project's event log as a paged table, with filters, an inspector and time travel.

The page's data and components live in :mod:`ui.components.history_view`; this module registers
the page and wires its callbacks, each a thin call into that module.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, State, ctx, html

from ui.components.history_view import (
    HIDE_PROGRESS,
    TRAVEL_PAGES,
    build_query,
    history_layout,
    inspector_update,
    selection_update,
    table_update,
)

dash.register_page(
    __name__, path_template="/project/<project_id>/history", title="History · AI Studio"
)


def layout(project_id: str | None = None, seq: str | None = None, **_query: str) -> html.Div:
    """The History page of ``project_id`` (``?seq=N`` preselects event N)."""
    return history_layout(project_id, seq)


@dash.callback(
    Output("history-tbody", "children"),
    Output("history-pagination", "max_value"),
    Output("history-pagination", "active_page"),
    Output("history-pager", "style"),
    Output("history-count", "children"),
    Output("history-filter-type", "options"),
    Output("history-filter-actor", "options"),
    Output("history-total", "children"),
    Output("history-seen", "data"),
    Input("tick", "n_intervals"),
    Input("history-filter-type", "value"),
    Input("history-filter-actor", "value"),
    Input("history-filter-from", "value"),
    Input("history-filter-to", "value"),
    Input(HIDE_PROGRESS, "value"),
    Input("history-pagination", "active_page"),
    Input("history-selected", "data"),
    State("history-project", "data"),
    State("history-seen", "data"),
)
def update_table(
    _tick: int | None,
    types: list[str] | None,
    actors: list[str] | None,
    seq_from: Any,
    seq_to: Any,
    hide_progress: bool | None,
    active_page: int | None,
    selected: int | None,
    project_id: str | None,
    seen: int | None,
) -> tuple[Any, ...]:
    """Render the table's page: on filters, paging, selection and new events (tick)."""
    query = build_query(types, actors, seq_from, seq_to, hide_progress)
    return table_update(project_id, ctx.triggered_id, query, active_page, selected, seen)


@dash.callback(
    Output("history-filter-type", "value"),
    Output("history-filter-actor", "value"),
    Output("history-filter-from", "value"),
    Output("history-filter-to", "value"),
    Output(HIDE_PROGRESS, "value"),
    Input("history-filter-clear", "n_clicks"),
    prevent_initial_call=True,
)
def clear_filters(_clicks: int | None) -> tuple[list[str], list[str], None, None, bool]:
    """Empty every filter; progress events are hidden again, as on a first visit."""
    return [], [], None, None, True


@dash.callback(
    Output("history-selected", "data"),
    Input({"type": "history-row", "seq": ALL}, "n_clicks"),
    Input({"type": "history-goto", "seq": ALL}, "n_clicks"),
    Input("history-inspector-close", "n_clicks"),
    prevent_initial_call=True,
)
def select_event(_rows: list[Any], _links: list[Any], close: int | None) -> int | None:
    """Select the event of the row or link clicked (or clear the selection)."""
    return selection_update(ctx.triggered_id, ctx.triggered, close)


@dash.callback(
    Output("history-inspector-body", "children"),
    Output("history-inspector", "children"),
    Output("history-inspector", "hidden"),
    Output("history-travel", "style"),
    *[
        Output(f"history-travel-{page}", prop)
        for page, _what, _icon in TRAVEL_PAGES
        for prop in ("href", "disabled")
    ],
    *[Output(f"history-travel-{page}", "children") for page, _what, _icon in TRAVEL_PAGES],
    Output("history-inspector-seen", "data"),
    Input("history-selected", "data"),
    Input("tick", "n_intervals"),
    State("history-project", "data"),
    State("history-inspector-seen", "data"),
)
def update_inspector(
    selected: int | None, _tick: int | None, project_id: str | None, seen: Any
) -> tuple[Any, ...]:
    """Show the selected event; refresh its job and effects as they change."""
    return inspector_update(project_id, selected, ctx.triggered_id, seen)
