"""What the pages with an experiment list (Train, Evaluate, Export) share: the header, the list
card and its items, the time-travel banner, click selection, the live signature and its callback,
action alerts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, html
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from projections.experiments import ExperimentEntry
from ui.components.empty_state import empty_state
from ui.components.sidebar import project_page_path
from ui.components.time_travel import time_travel_banner
from ui.state import get_state


# ---------------------------------------------------------------------- layout
def page_header(title: str, subtitle: str, prefix: str) -> html.Div:
    """The page's title and the sentence under it (class ``{prefix}-subtitle``)."""
    return html.Div(
        [
            html.H2(title, className="mb-1"),
            html.Div(subtitle, className=f"text-body-secondary {prefix}-subtitle"),
        ],
        className="mb-4",
    )


def list_card(prefix: str, title: str) -> dbc.Card:
    """The card of the experiment list; the page renders the list into ``{prefix}-experiments``."""
    return dbc.Card(
        [
            dbc.CardHeader(
                [html.I(className="bi bi-collection me-2"), title],
                className="fw-semibold bg-transparent",
            ),
            dbc.CardBody(html.Div(id=f"{prefix}-experiments"), className=f"p-2 {prefix}-list-body"),
        ],
        className="shadow-sm mb-4",
    )


def unsupported_task(project_id: str, title: str, text: str, id: str) -> html.Div:
    """The empty state of a page whose work the project's task does not support yet."""
    return empty_state(
        "hourglass",
        title,
        text,
        dbc.Button(
            "Back to the dataset",
            href=project_page_path(project_id, "dataset"),
            color="primary",
        ),
        id=id,
    )


def action_button(id: str, icon: str, text: str, color: str, outline: bool = True) -> dbc.Button:
    """A small action button on the selected experiment, hidden until the page shows it."""
    return dbc.Button(
        [html.I(className=f"bi bi-{icon} me-1"), text],
        id=id,
        color=color,
        outline=outline,
        size="sm",
        n_clicks=0,
        style={"display": "none"},
    )


# ---------------------------------------------------------------------- time travel
def past_banner(project_id: str, at: int, page: str) -> dbc.Alert | None:
    """The time-travel banner of the project's ``page`` as of event ``at`` (None: no such event)."""
    event = get_state().event_at(project_id, at)
    if event is None:
        return None
    return time_travel_banner(project_page_path(project_id, page), at, event.type, event.ts)


def no_such_event(project_id: str, at: int, page: str) -> html.Div:
    """What the project's ``page`` shows when ``?at=SEQ`` names no event of its history."""
    return empty_state(
        "clock-history",
        f"No event #{at}",
        "This project's history has no such event.",
        dbc.Button("Back to now", href=project_page_path(project_id, page), color="primary"),
    )


# ---------------------------------------------------------------------- the list
def experiment_list_item(
    entry: ExperimentEntry,
    *,
    item_type: str,
    css: str,
    badge: Component,
    details: list[Component],
    selected: bool,
    extra: Sequence[Component] = (),
) -> dbc.ListGroupItem:
    """One clickable experiment of a page's list: name and badge, a line of details, ``extra``.

    Args:
        entry: the experiment (its name; its id is the item's index).
        item_type: the pattern-matching id type: ``{"type": item_type, "index": experiment id}``.
        css: the page's class prefix: the item is ``{css}-item``, its name ``{css}-item-name``.
        badge: the status badge beside the name.
        details: the parts of the small second line (facts, age).
        selected: whether the item is highlighted.
        extra: what follows the two lines (a figure, a progress bar).
    """
    return dbc.ListGroupItem(
        [
            html.Div(
                [
                    html.Span(entry.name, className=f"fw-semibold text-truncate {css}-item-name"),
                    badge,
                ],
                className="d-flex align-items-center justify-content-between gap-2",
            ),
            html.Div(details, className="d-flex small text-body-secondary gap-2 mt-1"),
            *extra,
        ],
        id={"type": item_type, "index": entry.experiment_id},
        action=True,
        active=selected,
        n_clicks=0,
        className=f"{css}-item",
    )


def item_progress(percent: float, color: str, css: str) -> dbc.Progress:
    """The thin moving bar of a list item whose job runs (class ``{css}-item-progress``)."""
    return dbc.Progress(
        value=percent,
        striped=True,
        animated=True,
        color=color,
        className=f"{css}-item-progress mt-2",
    )


def clicked_value() -> Any:
    """The value of the property that triggered the running callback (None outside one)."""
    return ctx.triggered[0].get("value") if ctx.triggered else None


def chosen_experiment(trigger: Any, clicked: Any, current: str | None) -> str:
    """The experiment a click on a list item selects (PreventUpdate when nothing changes).

    Args:
        trigger: the triggering pattern-matching id (``{"type": …, "index": experiment id}``).
        clicked: its ``n_clicks`` (0 or None when the list was only re-rendered).
        current: the experiment selected now.
    """
    if not isinstance(trigger, dict) or not clicked:
        raise PreventUpdate  # the list was re-rendered, nothing clicked
    index = str(trigger.get("index"))
    if index == current:
        raise PreventUpdate
    return index


# ---------------------------------------------------------------------- live signature
def next_signature(
    project_id: str | None,
    at: int | None,
    signature: dict[str, Any] | None,
    compute: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """A live page's new signature, or PreventUpdate when nothing it shows changed.

    A page of the past (``at``) is computed once; a deleted project stops the refresh.

    Args:
        project_id: the page's project.
        at: the seq of a time-travel page, else None.
        signature: the signature the page shows now.
        compute: builds the current signature (from the page's views).
    """
    if not project_id or get_state().live_project(project_id) is None:
        raise PreventUpdate
    if at is not None and signature is not None:
        raise PreventUpdate  # a view of the past does not change
    fresh = compute()
    if fresh == signature:
        raise PreventUpdate
    return fresh


def live_signature_callback(
    prefix: str,
    compute: Callable[[str, int | None], dict[str, Any]],
    signature_in_layout: bool = False,
) -> Callable[..., dict[str, Any]]:
    """Register the page's ``tick`` callback that keeps ``{prefix}-sig`` current; returns it.

    It fires on ``tick`` and on ``{prefix}-version`` (bumped after an action) and reads the
    ``{prefix}-project``, ``{prefix}-at`` and ``{prefix}-sig`` stores (see :func:`next_signature`).

    Args:
        prefix: the page's id prefix.
        compute: the page's signature of a project, now (``at`` None) or as of event ``at``.
        signature_in_layout: the layout stores the first signature, so no initial call: the
            page's live parts render from it on the first load instead of waiting a round trip
            for this callback (0.1-0.15 s in Chromium, `python -m bench pages`); Dash holds a
            callback back until those whose outputs are its inputs have run.
    """

    @callback(
        Output(f"{prefix}-sig", "data"),
        Input("tick", "n_intervals"),
        Input(f"{prefix}-version", "data"),
        State(f"{prefix}-project", "data"),
        State(f"{prefix}-at", "data"),
        State(f"{prefix}-sig", "data"),
        prevent_initial_call=signature_in_layout,
    )
    def refresh(
        _tick: int | None,
        _version: int | None,
        project_id: str | None,
        at: int | None,
        signature: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Follow the project: a new signature only when what the page shows changed."""
        # next_signature calls compute only for a live project (project_id is set)
        return next_signature(project_id, at, signature, lambda: compute(str(project_id), at))

    return refresh


# ---------------------------------------------------------------------- actions
def status_alert(ok: bool, message: Any, alert_id: str) -> dbc.Alert:
    """The alert a page shows after an action: success fades after 6 s, an error stays."""
    parts = message if isinstance(message, list) else [message]  # Dash wants flat children
    return dbc.Alert(
        [html.I(className=f"bi bi-{'check-circle' if ok else 'x-circle'} me-2"), *parts],
        color="success" if ok else "danger",
        dismissable=True,
        duration=6000 if ok else None,
        id=alert_id,
    )


def action_outcome(
    error: str | None, done: Any, alert_id: str, version: int | None
) -> tuple[dbc.Alert, Any]:
    """``(status alert, version)`` after an action: the error and no new version when it was
    refused, else ``done`` and the version plus one (so that the page re-renders)."""
    if error is not None:
        return status_alert(False, error, alert_id), dash.no_update
    return status_alert(True, done, alert_id), (version or 0) + 1
