"""The shared delete dialog: the step logic both the Projects and Split pages use, and the
callback it registers for each of them."""

from __future__ import annotations

import json
from typing import Any

import dash
import pytest
from dash.exceptions import PreventUpdate

from aistudio import commands
from aistudio.workspace import Workspace
from tests.ui.layout_tree import by_id, text_of
from ui.components.confirm import delete_modal, delete_step, dialog_error
from ui.state import get_state

OPENER = {"type": "thing-delete-open", "index": "t1"}


class Things:
    """A fake page: what ``ask`` names and what ``delete`` removes (or refuses)."""

    def __init__(self, refuse: str | None = None) -> None:
        self.names = {"t1": "First"}
        self.deleted: list[str] = []
        self.refuse = refuse

    def ask(self, index: str) -> list[str] | None:
        name = self.names.get(index)
        return None if name is None else [f"Delete “{name}”?"]

    def delete(self, target: str) -> str | None:
        if self.refuse is not None:
            return self.refuse
        self.deleted.append(target)
        return None

    def step(self, trigger: Any, clicked: Any, target: str | None) -> tuple[Any, ...]:
        return delete_step("thing", trigger, clicked, target, self.ask, self.delete)


def test_the_dialog_has_the_ids_the_callback_uses() -> None:
    modal = delete_modal("thing", "Delete thing?", "Delete thing")
    for suffix in ("modal", "body", "error", "cancel", "confirm"):
        assert len(by_id(modal, f"thing-delete-{suffix}")) == 1
    assert "Delete thing" in text_of(modal)


def test_open_asks_naming_the_thing_then_confirm_deletes() -> None:
    things = Things()
    is_open, body, target, error, deleted = things.step(OPENER, 1, None)
    assert (is_open, body, target, error, deleted) == (True, ["Delete “First”?"], "t1", None, False)
    assert things.deleted == []  # asking deletes nothing

    is_open, body, target, error, deleted = things.step("thing-delete-confirm", 1, "t1")
    assert (is_open, target, error, deleted) == (False, None, None, True)
    assert body is dash.no_update
    assert things.deleted == ["t1"]


def test_cancel_closes_and_forgets_the_target() -> None:
    things = Things()
    assert things.step("thing-delete-cancel", 1, "t1") == (False, dash.no_update, None, None, False)
    assert things.deleted == []


def test_a_refusal_keeps_the_dialog_open_with_the_reason() -> None:
    things = Things(refuse="It is in use.")
    is_open, body, target, error, deleted = things.step("thing-delete-confirm", 1, "t1")
    assert is_open is True and deleted is False
    assert body is dash.no_update and target is dash.no_update
    assert text_of(error) == "It is in use."
    assert dialog_error("It is in use.").color == "danger"


@pytest.mark.parametrize(
    ("trigger", "clicked", "target"),
    [
        (OPENER, 0, None),  # the opener was re-rendered, not clicked
        ({"type": "thing-delete-open", "index": "gone"}, 1, None),  # nothing by that index
        ({"type": "other-delete-open", "index": "t1"}, 1, None),  # another dialog's opener
        ("thing-delete-confirm", 0, "t1"),  # re-rendered
        ("thing-delete-confirm", 1, None),  # nothing asked about
        ("something-else", 1, "t1"),
    ],
)
def test_nothing_happens_without_a_real_click_on_something(
    trigger: Any, clicked: Any, target: str | None
) -> None:
    things = Things()
    with pytest.raises(PreventUpdate):
        things.step(trigger, clicked, target)
    assert things.deleted == []


@pytest.mark.parametrize(
    ("prefix", "states"),
    [
        ("projects", ["projects-delete-target", "projects-version"]),
        ("split", ["split-project", "split-delete-target", "split-version"]),
    ],
)
def test_each_page_registers_its_dialog_callback(
    dash_app: dash.Dash, prefix: str, states: list[str]
) -> None:
    dependencies = dash_app.server.test_client().get("/_dash-dependencies").get_json()
    (spec,) = [d for d in dependencies if f"{prefix}-delete-modal.is_open" in d["output"]]
    assert [i["id"] for i in spec["inputs"]] == [
        f'{{"index":["ALL"],"type":"{prefix}-delete-open"}}',
        f"{prefix}-delete-confirm",
        f"{prefix}-delete-cancel",
    ]
    assert [s["id"] for s in spec["state"]] == states
    assert f"{prefix}-version.data" in spec["output"] and spec["prevent_initial_call"]


def _post_delete(
    dash_app: dash.Dash, spec: dict[str, Any], trigger: str, values: dict[str, Any]
) -> dict[str, Any]:
    """Fire the projects page's delete callback through Dash's own request handler."""
    opener_items = [
        {"id": {"type": "projects-delete-open", "index": i}, "property": "n_clicks", "value": v}
        for i, v in values["opens"].items()
    ]
    # spec["output"] reads "..id.prop...id.prop@hash..": one entry per output
    body = {
        "output": spec["output"],
        "outputs": [
            {"id": key.split(".")[0].split("@")[0], "property": key.split(".")[1].split("@")[0]}
            for key in spec["output"].strip(".").split("...")
        ],
        "inputs": [
            opener_items,
            {"id": "projects-delete-confirm", "property": "n_clicks", "value": values["confirm"]},
            {"id": "projects-delete-cancel", "property": "n_clicks", "value": 0},
        ],
        "changedPropIds": [trigger],
        "state": [
            {"id": "projects-delete-target", "property": "data", "value": values["target"]},
            {"id": "projects-version", "property": "data", "value": 3},
        ],
    }
    response = dash_app.server.test_client().post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["response"]


def test_the_registered_callback_asks_then_deletes_through_dash(
    dash_app: dash.Dash, ui_workspace: Workspace
) -> None:
    pid = str(commands.create_project(ui_workspace, "Digits", "classification").data["project_id"])
    dependencies = dash_app.server.test_client().get("/_dash-dependencies").get_json()
    (spec,) = [d for d in dependencies if "projects-delete-modal.is_open" in d["output"]]
    opener = json.dumps({"index": pid, "type": "projects-delete-open"}, separators=(",", ":"))

    asked = _post_delete(
        dash_app, spec, f"{opener}.n_clicks", {"opens": {pid: 1}, "confirm": 0, "target": None}
    )
    assert asked["projects-delete-modal"]["is_open"] is True
    assert asked["projects-delete-target"]["data"] == pid
    assert "“Digits”" in json.dumps(asked["projects-delete-body"], ensure_ascii=False)
    assert "projects-version" not in asked  # nothing deleted yet

    done = _post_delete(
        dash_app,
        spec,
        "projects-delete-confirm.n_clicks",
        {"opens": {pid: 1}, "confirm": 1, "target": pid},
    )
    assert done["projects-delete-modal"]["is_open"] is False
    assert done["projects-version"]["data"] == 4
    assert get_state().live_project(pid) is None
