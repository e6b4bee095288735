"""A clear empty state: what is missing and what to do next."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html
from dash.development.base_component import Component


def empty_state(
    icon: str, title: str, text: str, action: Component | None = None, id: str | None = None
) -> html.Div:
    """A centred card-less block with an icon, a title, a hint and an optional action."""
    children: list[Component] = [
        html.I(className=f"bi bi-{icon} display-4 text-body-secondary"),
        html.H4(title, className="mt-3"),
        html.P(text, className="text-body-secondary mb-3", style={"maxWidth": "36rem"}),
    ]
    if action is not None:
        children.append(action)
    props = {"id": id} if id else {}
    return html.Div(
        children,
        className="d-flex flex-column align-items-center text-center py-5 empty-state",
        **props,
    )


def not_found(what: str) -> html.Div:
    """The empty state of a page whose project (or item) does not exist."""
    return empty_state(
        "question-circle",
        f"No such {what}",
        f"This {what} does not exist or was deleted.",
        dbc.Button("Back to projects", href="/", color="primary"),
    )


def damaged_log(project_id: str | None, damage: str) -> html.Div:
    """The page of a project whose log cannot be read: the damage, naming its line."""
    return empty_state(
        "exclamation-octagon",
        "This project's log is damaged",
        f"{damage}. Nothing was changed: run `aistudio verify {project_id}` to see the damage.",
        dbc.Button("Back to projects", href="/", color="primary"),
    )


def project_not_found(project_id: str | None) -> html.Div:
    """The page of a project that cannot be shown: its log's damage when that is why (the
    project exists but its log could not be read), else "no such project"."""
    from ui.state import get_state  # the app's state; this module is imported before it is made

    damage = get_state().damage(project_id) if project_id else None
    return not_found("project") if damage is None else damaged_log(project_id, damage)
