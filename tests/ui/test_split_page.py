"""The Split page: form checks, live preview, create, delete, list and time travel."""

from __future__ import annotations

import shutil
import sys
from types import ModuleType
from typing import Any

import dash
import pytest
from dash.exceptions import PreventUpdate

from aistudio import commands
from aistudio.datasets.demo import write_digits_imagefolder
from aistudio.worker.service import Worker
from aistudio.workspace import Workspace
from tests.ui.layout_tree import by_id, walk
from tests.ui.layout_tree import text_of as layout_text
from ui.state import AppState

N_PER_CLASS = 4  # 10 digit classes: 40 images


@pytest.fixture
def page(dash_app: dash.Dash, ui_state: AppState) -> ModuleType:
    """The page module as Dash loaded it (importing it again would register it twice).

    Dash's ``@callback`` returns the function itself, so callbacks are called directly.
    """
    module = next(
        p["module"]
        for p in dash.page_registry.values()
        if p.get("path_template") == "/project/<project_id>/split"
    )
    return sys.modules[module]


@pytest.fixture
def empty_project(ui_workspace: Workspace) -> str:
    """A project without images."""
    return str(commands.create_project(ui_workspace, "Empty", "classification").data["project_id"])


@pytest.fixture(scope="module")
def digits_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, str]:
    """A workspace with a project of 40 imported digits (4 per class), imported once."""
    root = tmp_path_factory.mktemp("split-digits")
    workspace = Workspace(root / "workspace")
    workspace.ensure()
    pid = str(commands.create_project(workspace, "Digits", "classification").data["project_id"])
    write_digits_imagefolder(root / "digits", n_per_class=N_PER_CLASS)
    commands.request_import(workspace, pid, root / "digits")
    Worker(workspace).run(once=True)
    assert len(commands.dataset_view(workspace, pid).images) == 10 * N_PER_CLASS
    return workspace, pid


@pytest.fixture
def digits(ui_workspace: Workspace, digits_template: tuple[Workspace, str]) -> str:
    """This test's copy of the digits project (its log and files), in the test's workspace."""
    template, pid = digits_template
    shutil.copytree(
        template.project_dir(pid),
        ui_workspace.project_dir(pid),
        ignore=shutil.ignore_patterns(".run", ".tmp"),
    )
    return pid


def text_of(node: Any) -> str:
    """The text of a layout tree, pieces joined as a browser would show them inline."""
    return layout_text(node, sep="")


def one(node: Any, wanted: Any) -> Any:
    """The one component of a tree with this id."""
    (found,) = by_id(node, wanted)
    return found


def preview(page: ModuleType, pid: str, **values: Any) -> dict[str, Any]:
    """Run the preview callback with the form's defaults overridden by ``values``."""
    form = {
        "name": "default",
        "train": 0.5,
        "val": 0.25,
        "test": 0.25,
        "seed": 0,
        "stratify": True,
        "data": None,
        "theme": "light",
    } | values
    out = page.update_preview(*form.values(), pid)
    keys = (
        "figure",
        "summary",
        "ratio_bar",
        "feedback",
        "feedback_class",
        "fix_label",
        "fix_style",
        "train_invalid",
        "val_invalid",
        "test_invalid",
        "name_invalid",
        "name_feedback",
        "seed_invalid",
        "seed_feedback",
        "create_disabled",
    )
    return dict(zip(keys, out, strict=True))


# ---------------------------------------------------------------------- form checks
def test_ratio_checks(page: ModuleType) -> None:
    assert page.check_ratios(0.7, 0.15, 0.15).ratio_error is None
    assert page.check_ratios("0.8", 0.2, 0).ratio_error is None

    check = page.check_ratios(0.7, 0.2, 0.15)
    assert check.ratio_error == "The ratios add up to 1.05: they must sum to 1."
    assert check.fix_test == pytest.approx(0.1)
    assert all(check.invalid.values())

    check = page.check_ratios(0, 0.5, 0.5)
    assert check.ratio_error.startswith("Train must be above 0")
    assert check.invalid == {"train": True, "val": False, "test": False}

    check = page.check_ratios(0.7, None, 1.5)
    assert (
        check.ratio_error == "Validation, Test: enter a number from 0 to 1 (a share of the images)."
    )
    assert check.invalid == {"train": False, "val": True, "test": True}
    assert page.check_ratios(0.9, 0.3, 0.0).fix_test is None  # no test ratio can fix it


def test_name_and_seed_checks(page: ModuleType) -> None:
    ok = page.check_form([], "default", 0.7, 0.15, 0.15, 0)
    assert ok.ok and ok.seed == 0
    taken = page.check_form(["default"], " default ", 0.7, 0.15, 0.15, 3)
    assert taken.name_error.startswith("A split named “default” already exists")
    assert page.check_form([], "  ", 0.7, 0.15, 0.15, 0).name_error == "Give the split a name."
    assert "too long" in page.check_form([], "n" * 81, 0.7, 0.15, 0.15, 0).name_error
    for bad_seed in (None, -1, 1.5, "x", 2**32):
        error = page.check_form([], "s", 0.7, 0.15, 0.15, bad_seed).seed_error
        assert error == "Seed: enter a whole number from 0 to 4294967294."
    assert page.check_form([], "s", 0.7, 0.15, 0.15, 7.0).seed == 7
    assert page.next_split_name([]) == "default"
    assert page.next_split_name(["default", "split-2"]) == "split-3"


# ---------------------------------------------------------------------- preview
def test_preview_counts_per_subset_and_class(page: ModuleType, digits: str) -> None:
    out = preview(page, digits)
    assert out["summary"] == "train 20 · val 10 · test 10"
    assert out["create_disabled"] is False
    assert out["feedback"] == "The ratios add up to 1."
    bars = out["figure"].data
    assert [trace.name for trace in bars] == ["train · 20", "val · 10", "test · 10"]
    assert list(bars[0].x) == [str(d) for d in range(10)]
    # Stratified: every class is cut 2 / 1 / 1.
    assert [list(trace.y) for trace in bars] == [[2] * 10, [1] * 10, [1] * 10]
    dataset = page.get_state().view(digits, "dataset")
    assert page.preview_counts(
        digits, dataset, {"train": 0.5, "val": 0.25, "test": 0.25}, 0, True
    ) == commands.preview_split(dataset, 0.5, 0.25, 0.25, 0, True)
    # Nothing was written by previewing.
    assert not page.get_state().view(digits, "splits").splits


def test_preview_refuses_invalid_values_and_disables_create(page: ModuleType, digits: str) -> None:
    out = preview(page, digits, val=0.3)
    assert out["create_disabled"] is True
    assert out["feedback"] == "The ratios add up to 1.05: they must sum to 1."
    assert out["feedback_class"] == "text-danger"
    assert out["fix_label"] == "Set test to 0.20"
    assert (out["train_invalid"], out["val_invalid"], out["test_invalid"]) == (True, True, True)
    assert not out["figure"].data  # no bars: a message instead
    assert "Fix the ratios" in out["figure"].layout.annotations[0].text
    assert out["summary"] == ""
    assert page.fix_test_ratio(1, 0.5, 0.3, 0.25) == pytest.approx(0.2)

    out = preview(page, digits, seed=-2)
    assert out["seed_invalid"] is True and out["create_disabled"] is True

    commands.create_split(page.get_state().workspace, digits, "default")
    out = preview(page, digits)
    assert out["name_invalid"] is True and out["create_disabled"] is True
    assert "already exists" in out["name_feedback"]
    assert out["summary"] == "train 20 · val 10 · test 10"  # the preview still shows


def test_preview_follows_the_theme(page: ModuleType, digits: str) -> None:
    light = preview(page, digits)["figure"]
    dark = preview(page, digits, theme="dark")["figure"]
    assert light.layout.template != dark.layout.template


# ---------------------------------------------------------------------- create, list, delete
def test_create_split_lists_it_with_counts(
    page: ModuleType, digits: str, ui_workspace: Workspace
) -> None:
    status, version, next_name = page.on_create(1, digits, "default", 0.5, 0.25, 0.25, 7, False, 0)
    assert "Split default created: train 20 · val 10 · test 10." in text_of(status)
    assert (version, next_name) == (1, "split-2")
    entry = page.get_state().view(digits, "splits").splits["default"]
    assert (entry.seed, entry.stratify, entry.counts) == (
        7,
        False,
        {"train": 20, "val": 10, "test": 10},
    )
    split_event = commands.events_of(ui_workspace, digits)[-1]
    assert (split_event.type, split_event.actor) == ("SplitCreated", "ui")

    tree = page.layout(project_id=digits)
    listing = one(tree, "split-list")
    text = text_of(listing)
    assert "train 20 · val 10 · test 10" in text
    assert "default" in text and "random" in text and "seed 7" in text
    assert "50% / 25% / 25%" in text
    assert one(tree, "split-name").value == "split-2"

    refused, version, name = page.on_create(2, digits, "default", 0.5, 0.25, 0.25, 0, True, 1)
    assert "already exists" in text_of(refused)
    assert (version, name) == (dash.no_update, dash.no_update)
    refused, _, _ = page.on_create(3, digits, "x", 0.5, 0.5, 0.25, 0, True, 1)
    assert "must sum to 1" in text_of(refused)
    assert list(page.get_state().view(digits, "splits").splits) == ["default"]


def test_delete_split_with_confirmation(page: ModuleType, digits: str) -> None:
    commands.create_split(page.get_state().workspace, digits, "default")
    commands.create_split(page.get_state().workspace, digits, "other", seed=1)
    opener = {"type": "split-delete-open", "index": "other"}
    tree = page.layout(project_id=digits)
    assert len(by_id(tree, opener)) == 1

    with pytest.raises(PreventUpdate):
        page.delete_dialog(opener, 0, digits, None)  # a re-rendered button, not a click
    is_open, body, target, _, deleted = page.delete_dialog(opener, 1, digits, None)
    assert (is_open, target, deleted) == (True, "other", False)
    assert "“other”" in text_of(body)
    assert "other" in page.get_state().view(digits, "splits").splits

    is_open, _, target, error, deleted = page.delete_dialog(
        "split-delete-confirm", 1, digits, "other"
    )
    assert (is_open, target, error, deleted) == (False, None, None, True)
    assert list(page.get_state().view(digits, "splits").splits) == ["default"]

    is_open, _, _, error, _ = page.delete_dialog("split-delete-confirm", 2, digits, "other")
    assert is_open is True and "no split named 'other'" in text_of(error)


def test_live_refresh_follows_other_tabs(page: ModuleType, digits: str) -> None:
    tree = page.layout(project_id=digits)
    sig = one(tree, "split-sig").data
    data = one(tree, "split-data").data
    assert "No split yet" in text_of(one(tree, "split-list"))
    with pytest.raises(PreventUpdate):
        page.refresh_page(1, 0, digits, None, sig, data)

    commands.create_split(page.get_state().workspace, digits, "from-cli", 0.6, 0.2, 0.2)
    listing, sig, data, form_style, empty_style = page.refresh_page(2, 0, digits, None, sig, data)
    assert "train 24 · val 8 · test 8" in text_of(listing)
    assert data["names"] == ["from-cli"]
    assert form_style == {} and empty_style == {"display": "none"}
    with pytest.raises(PreventUpdate):
        page.refresh_page(3, 0, digits, None, sig, data)


# ---------------------------------------------------------------------- empty states
def test_no_images_shows_what_to_do(page: ModuleType, empty_project: str) -> None:
    tree = page.layout(project_id=empty_project)
    area = one(tree, "split-no-images-area")
    assert area.style == {}
    assert "No images to split yet" in text_of(area)
    go_to = next(n for n in walk(area) if getattr(n, "href", None))
    assert go_to.href == f"/project/{empty_project}/dataset"
    assert one(tree, "split-form-row").style == {"display": "none"}
    assert "No split yet" in text_of(one(tree, "split-list"))
    out = preview(page, empty_project)
    assert out["create_disabled"] is False and out["summary"] == ""
    assert "No images yet" in out["figure"].layout.annotations[0].text


def test_unknown_project(page: ModuleType) -> None:
    assert "No such project" in text_of(page.layout(project_id="proj-00000000"))
    assert "No such project" in text_of(page.layout(project_id="../../etc"))
    assert "No such project" in text_of(page.layout())


def test_the_form_has_the_stable_ids(page: ModuleType, digits: str) -> None:
    tree = page.layout(project_id=digits)
    for stable_id in (
        "split-name",
        "split-train",
        "split-val",
        "split-test",
        "split-seed",
        "split-stratify",
        "split-preview",
        "split-create",
        "split-list",
    ):
        assert len(by_id(tree, stable_id)) == 1, stable_id
    assert one(tree, "split-name").value == "default"
    assert (one(tree, "split-train").value, one(tree, "split-val").value) == (0.7, 0.15)
    assert one(tree, "split-stratify").value is True
    assert one(tree, "split-form-row").style == {}


# ---------------------------------------------------------------------- time travel
def test_time_travel_shows_the_splits_of_then_read_only(page: ModuleType, digits: str) -> None:
    workspace = page.get_state().workspace
    before = commands.create_split(workspace, digits, "first").seq - 1
    second = commands.create_split(workspace, digits, "second", 0.6, 0.2, 0.2).seq
    commands.delete_split(workspace, digits, "first")

    past = page.layout(project_id=digits, at=str(before))
    assert len(by_id(past, "time-travel-banner")) == 1
    assert f"#{before}" in text_of(one(past, "time-travel-banner"))
    for form_id in ("split-name", "split-create", "split-preview", "split-train"):
        assert not by_id(past, form_id), form_id
    listing = one(past, "split-list")
    assert "No split yet" in text_of(listing)
    assert "had no split at this point" in text_of(listing)

    then = page.layout(project_id=digits, at=str(second))
    text = text_of(one(then, "split-list"))
    assert "first" in text and "second" in text  # "first" was deleted only later
    assert "train 24 · val 8 · test 8" in text
    ids = [getattr(n, "id", None) for n in walk(then)]
    assert not [i for i in ids if isinstance(i, dict) and i["type"] == "split-delete-open"]
    assert one(then, "split-at").data == second
    with pytest.raises(PreventUpdate):  # a view of the past is not refreshed
        page.refresh_page(1, 0, digits, second, None, None)

    now = page.layout(project_id=digits)
    assert "first" not in text_of(one(now, "split-list"))
    assert not by_id(now, "time-travel-banner")
    assert "No event #999" in text_of(page.layout(project_id=digits, at="999"))
    assert len(by_id(page.layout(project_id=digits, at="nonsense"), "split-create")) == 1


def test_the_dataset_fingerprint_survives_the_browser(page: ModuleType, digits: str) -> None:
    """The fingerprint goes to the browser and comes back as JSON: tuples inside it came back
    as lists, never equal, and an idle Split tab redrew its list and preview every second."""
    import json

    fingerprint = page.dataset_fingerprint(page.get_state().view(digits, "dataset"))
    assert json.loads(json.dumps(fingerprint)) == fingerprint
