"""What the Train, Evaluate and Export pages share (ui/components/experiment_pages.py): list
items, the list card, action buttons and outcomes, and the time-travel banner."""

from __future__ import annotations

import dash
from dash import html

from aistudio import commands
from aistudio.workspace import Workspace
from projections.experiments import ExperimentEntry
from tests.ui.layout_tree import by_id, text_of
from ui.components.experiment_pages import (
    action_button,
    action_outcome,
    experiment_list_item,
    item_progress,
    list_card,
    no_such_event,
    page_header,
    past_banner,
    unsupported_task,
)

ENTRY = ExperimentEntry(
    experiment_id="exp-0000beef",
    name="Baseline",
    split="default",
    config={"model": "resnet18"},
    created_seq=3,
    created_ts="2025-01-01T00:00:00Z",
    runs=("job-1",),
)


def test_list_item_is_clickable_and_names_the_experiment() -> None:
    badge = html.Span("Running", id="the-badge")
    item = experiment_list_item(
        ENTRY,
        item_type="x-exp-item",
        css="x",
        badge=badge,
        details=[html.Span("resnet18"), html.Span("3 min ago")],
        selected=True,
        extra=[item_progress(40.0, "primary", "x")],
    )
    assert item.id == {"type": "x-exp-item", "index": "exp-0000beef"}
    assert item.active is True and item.action is True and item.n_clicks == 0
    assert item.className == "x-item"
    head, details, bar = item.children
    assert head.children[0].children == "Baseline" and "x-item-name" in head.children[0].className
    assert head.children[1] is badge
    assert text_of(details) == "resnet18 3 min ago"
    assert bar.value == 40.0 and bar.animated and bar.className == "x-item-progress mt-2"


def test_list_item_without_extra_has_two_lines() -> None:
    item = experiment_list_item(
        ENTRY, item_type="t", css="y", badge=html.Span(), details=[], selected=False
    )
    assert len(item.children) == 2 and item.active is False


def test_layout_parts_carry_the_page_prefix() -> None:
    card = list_card("x", "Trained experiments")
    assert len(by_id(card, "x-experiments")) == 1 and "Trained experiments" in text_of(card)
    header = page_header("Export", "What it does.", "x")
    assert text_of(header) == "Export What it does."
    assert header.children[1].className == "text-body-secondary x-subtitle"
    button = action_button("x-cancel", "stop-circle", "Cancel", "danger")
    assert button.style == {"display": "none"} and button.outline and button.size == "sm"
    coming = unsupported_task("prj-1", "Soon", "Not yet.", id="x-unsupported")
    assert coming.id == "x-unsupported" and "Soon" in text_of(coming)
    assert coming.children[-1].href == "/project/prj-1/dataset"  # back to the dataset


def test_action_outcome_bumps_the_version_only_on_success() -> None:
    alert, version = action_outcome(None, "Done.", "x-status-alert", 4)
    assert version == 5 and alert.color == "success" and alert.id == "x-status-alert"
    assert "Done." in text_of(alert)
    alert, version = action_outcome("Refused.", "Done.", "x-status-alert", 4)
    assert version is dash.no_update and alert.color == "danger"
    assert "Refused." in text_of(alert) and "Done." not in text_of(alert)


def test_time_travel_banner_or_no_such_event(ui_workspace: Workspace) -> None:
    pid = str(commands.create_project(ui_workspace, "Digits", "classification").data["project_id"])
    banner = past_banner(pid, 1, "train")
    assert banner is not None and banner.id == "time-travel-banner"
    assert by_id(banner, "time-travel-back")[0].href == f"/project/{pid}/train"
    assert past_banner(pid, 999, "train") is None
    missing = no_such_event(pid, 999, "export")
    assert "No event #999" in text_of(missing)


def test_each_page_registers_its_live_signature_callback(dash_app: dash.Dash) -> None:
    dependencies = dash_app.server.test_client().get("/_dash-dependencies").get_json()
    for prefix in ("train", "eval", "export"):
        (spec,) = [d for d in dependencies if d["output"] == f"{prefix}-sig.data"]
        assert [i["id"] for i in spec["inputs"]] == ["tick", f"{prefix}-version"]
        assert [s["id"] for s in spec["state"]] == [
            f"{prefix}-project",
            f"{prefix}-at",
            f"{prefix}-sig",
        ]
