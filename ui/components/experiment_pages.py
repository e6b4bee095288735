"""What the pages with an experiment list share: live signature, click selection, alerts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash_bootstrap_components as dbc
from dash import ctx, html
from dash.exceptions import PreventUpdate

from ui.state import get_state


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
