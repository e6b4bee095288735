"""What the pages with an experiment list share: selecting by click, and the action alert."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ctx, html
from dash.exceptions import PreventUpdate


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
