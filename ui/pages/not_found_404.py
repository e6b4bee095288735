"""The page for an unknown address."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html

from ui.components.empty_state import empty_state

dash.register_page(__name__, title="Not found · AI Studio")


def layout(**_query: str) -> html.Div:
    """An empty state pointing back to the projects."""
    return empty_state(
        "signpost-split",
        "Page not found",
        "There is nothing at this address.",
        dbc.Button("Back to projects", href="/", color="primary"),
    )
