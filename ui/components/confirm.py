"""The confirmation dialog before deleting something."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html


def delete_modal(prefix: str, title: str, confirm_label: str) -> dbc.Modal:
    """A closed dialog with ids ``{prefix}-delete-modal``, ``-body``, ``-error``, ``-cancel``
    and ``-confirm``; the page fills the body (naming what will be deleted) when opening it.
    """
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(title)),
            dbc.ModalBody(
                [
                    html.Div(id=f"{prefix}-delete-body"),
                    html.Div(id=f"{prefix}-delete-error", className="mt-2"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button(
                        "Cancel",
                        id=f"{prefix}-delete-cancel",
                        color="secondary",
                        outline=True,
                        n_clicks=0,
                    ),
                    dbc.Button(
                        [html.I(className="bi bi-trash3 me-1"), confirm_label],
                        id=f"{prefix}-delete-confirm",
                        color="danger",
                        n_clicks=0,
                    ),
                ]
            ),
        ],
        id=f"{prefix}-delete-modal",
        is_open=False,
        centered=True,
    )
