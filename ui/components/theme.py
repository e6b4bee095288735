"""Light and dark mode: Bootstrap 5.3 colour modes, Plotly figures themed to match."""

from __future__ import annotations

from typing import Any

from dash_bootstrap_templates import load_figure_template

LIGHT = "light"
DARK = "dark"
_TEMPLATES = {LIGHT: "bootstrap", DARK: "bootstrap_dark"}


def load_templates() -> None:
    """Register the Plotly templates matching the vendored Bootstrap theme (both modes)."""
    load_figure_template(list(_TEMPLATES.values()))


def figure_template(theme: str | None) -> str:
    """The Plotly template name for a theme (``light`` when unknown)."""
    return _TEMPLATES.get(theme or LIGHT, _TEMPLATES[LIGHT])


def themed(figure: Any, theme: str | None) -> Any:
    """Apply the theme's template and a transparent background to a Plotly figure."""
    figure.update_layout(
        template=figure_template(theme),
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        margin={"l": 40, "r": 16, "t": 32, "b": 40},
    )
    return figure
