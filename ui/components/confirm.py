"""The confirmation dialog before deleting something, and the callback that drives it.

A page lays out :func:`delete_modal` and a ``{prefix}-delete-target`` store (what the open
dialog is about), gives each thing it lists an opener button with the pattern-matching id
``{"type": "{prefix}-delete-open", "index": …}``, and registers :func:`delete_dialog_callback`
with its own :func:`delete_step` (what the body says, what deleting does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, html
from dash.exceptions import PreventUpdate

DeleteStep = tuple[bool, Any, Any, Any, bool]
"""What the dialog does for one trigger: ``(open, body, target, error, deleted)``."""


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


def dialog_error(error: str) -> dbc.Alert:
    """Why the confirmed action was refused, shown inside the dialog (which stays open)."""
    return dbc.Alert(error, color="danger", className="small mb-0")


def delete_step(
    prefix: str,
    trigger: Any,
    clicked: Any,
    target: str | None,
    ask: Callable[[str], Any | None],
    delete: Callable[[str], str | None],
) -> DeleteStep:
    """What the ``{prefix}-delete-…`` dialog does for one trigger.

    Args:
        prefix: the dialog's id prefix (as given to :func:`delete_modal`).
        trigger: the id of what fired: an opener ``{"type": "{prefix}-delete-open", "index": …}``,
            ``{prefix}-delete-confirm`` or ``{prefix}-delete-cancel``.
        clicked: that input's new value (0 or None when an opener was merely re-rendered).
        target: what the open dialog is about.
        ask: the dialog's body naming what an opener's index stands for; None when there is
            nothing by that index to delete (the dialog stays closed).
        delete: deletes a target; returns None, or why it could not (the dialog stays open).

    Returns:
        ``(open, body, target, error, deleted)``; PreventUpdate when nothing changes.
    """
    no = dash.no_update
    if isinstance(trigger, dict) and trigger.get("type") == f"{prefix}-delete-open":
        if not clicked:
            raise PreventUpdate  # the opener was re-rendered, not clicked
        index = str(trigger.get("index"))
        body = ask(index)
        if body is None:
            raise PreventUpdate
        return True, body, index, None, False
    if trigger == f"{prefix}-delete-cancel":
        return False, no, None, None, False
    if trigger == f"{prefix}-delete-confirm" and clicked and target:
        error = delete(target)
        if error is not None:
            return True, no, no, dialog_error(error), False
        return False, no, None, None, True
    raise PreventUpdate


def delete_dialog_callback(
    prefix: str,
    version_store: str,
    dialog: Callable[..., DeleteStep],
    context: Sequence[State] = (),
) -> Callable[..., tuple[Any, ...]]:
    """Register the callback of the ``{prefix}-delete-…`` dialog; returns it.

    It fires on the openers, Confirm and Cancel, and reads the ``context`` states, then the
    ``{prefix}-delete-target`` store and ``version_store``; after a deletion it adds one to
    ``version_store`` so that the page re-renders.

    Args:
        prefix: the dialog's id prefix (as given to :func:`delete_modal`).
        version_store: the id of the page's version store.
        dialog: ``dialog(trigger, clicked, *context values, target)``, usually built on
            :func:`delete_step`.
        context: more states the dialog needs (the page's project, say).
    """

    @callback(
        Output(f"{prefix}-delete-modal", "is_open"),
        Output(f"{prefix}-delete-body", "children"),
        Output(f"{prefix}-delete-target", "data"),
        Output(f"{prefix}-delete-error", "children"),
        Output(version_store, "data", allow_duplicate=True),
        Input({"type": f"{prefix}-delete-open", "index": ALL}, "n_clicks"),
        Input(f"{prefix}-delete-confirm", "n_clicks"),
        Input(f"{prefix}-delete-cancel", "n_clicks"),
        *context,
        State(f"{prefix}-delete-target", "data"),
        State(version_store, "data"),
        prevent_initial_call=True,
    )
    def on_delete(
        _opens: list[int | None], _confirm: int | None, _cancel: int | None, *states: Any
    ) -> tuple[Any, ...]:
        """Open the confirmation, delete, or close it."""
        *values, target, version = states
        triggered = ctx.triggered
        clicked = triggered[0].get("value") if triggered else None
        is_open, body, new_target, error, deleted = dialog(
            ctx.triggered_id, clicked, *values, target
        )
        return is_open, body, new_target, error, (version or 0) + 1 if deleted else dash.no_update

    return on_delete
