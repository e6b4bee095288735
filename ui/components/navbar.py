"""The top bar: brand, project switcher, theme toggle."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html


def navbar() -> dbc.Navbar:
    """The app's navbar; its project menu is filled by a callback (``project-menu``)."""
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand(
                    [html.I(className="bi bi-stars me-2"), "AI Studio"],
                    href="/",
                    className="fw-bold",
                ),
                html.Div(
                    [
                        dbc.DropdownMenu(
                            id="project-menu",
                            label="Projects",
                            children=[],
                            nav=True,
                            in_navbar=True,
                            align_end=True,
                            className="me-2",
                        ),
                        dbc.Button(
                            html.I(id="theme-icon", className="bi bi-moon-stars"),
                            id="theme-toggle",
                            color="link",
                            className="nav-link px-2",
                            title="Toggle light/dark mode",
                            n_clicks=0,
                        ),
                    ],
                    className="d-flex align-items-center ms-auto",
                ),
            ],
            fluid=True,
        ),
        className="border-bottom mb-0 app-navbar",
        sticky="top",
    )
