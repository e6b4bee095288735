"""The Export page: empty state, trained experiments, the form and its refusals, running exports
with cancel, the exports with their validation figures, download and snippet, time travel.

No export runs here: the tests append what a worker and an export job would (JobClaimed,
JobProgress, ExportCompleted, JobFailed, …) and call the page's callbacks and functions directly.
"""

from __future__ import annotations

import hashlib
import json
import sys
from types import ModuleType
from typing import Any

import dash
import pytest
from dash import dcc
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from aistudio import commands
from aistudio.workspace import Workspace
from events import Event, EventLog, NewEvent
from tests.ui.layout_tree import by_id, text_of, walk
from ui.components.export_experiments import default_selection
from ui.components.export_form import DEFAULTS, read_options
from ui.components.export_results import download_name, human_size
from ui.components.export_snippet import onnx_snippet
from ui.state import AppState

HIDDEN = {"display": "none"}
CONFIG = {"model": "resnet18", "image_size": 32, "epochs": 2}
METADATA = {
    "aistudio.task": '"classification"',
    "aistudio.classes": '["cat", "dog"]',
    "aistudio.input": '{"name": "image", "image_size": 32, "scale": 0.00392156862745098}',
    "aistudio.epoch": "2",
}


# ---------------------------------------------------------------------- fixtures and helpers
@pytest.fixture
def page(dash_app: dash.Dash, ui_state: AppState) -> ModuleType:
    """The page module as Dash loaded it (importing it again would register it twice)."""
    module = next(
        p["module"]
        for p in dash.page_registry.values()
        if p.get("path_template") == "/project/<project_id>/export"
    )
    return sys.modules[module]


@pytest.fixture
def project(ui_workspace: Workspace) -> str:
    """An empty classification project."""
    return str(commands.create_project(ui_workspace, "Pets", "classification").data["project_id"])


def log_of(workspace: Workspace, project_id: str) -> EventLog:
    return EventLog(workspace.events_path(project_id))


def events(workspace: Workspace, project_id: str) -> list[Event]:
    return commands.events_of(workspace, project_id)


def train(
    workspace: Workspace,
    project_id: str,
    name: str,
    checkpoints: tuple[str, ...] = ("best", "last"),
    finish: bool = True,
) -> str:
    """An experiment trained for 2 epochs as a worker would log it, its checkpoint files written.

    Returns:
        The experiment id.
    """
    log = log_of(workspace, project_id)
    exp = f"exp-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    command = log.append(
        "TrainingRequested",
        {"experiment_id": exp, "name": name, "split": "default", "config": CONFIG},
        actor="ui",
    )

    def job(type: str, data: dict[str, Any], actor: str = "job") -> None:
        log.append(type, data, actor=actor, causation=command.id)

    claim = {"job_id": command.id, "command_type": "TrainingRequested", "worker_id": "w"}
    job("JobClaimed", claim | {"host": "h", "pid": 1}, actor="worker")
    job("JobStarted", {"job_id": command.id, "pid": 2})
    for which in checkpoints:
        path = workspace.checkpoint_path(project_id, exp, which)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"{which} weights".encode())
        saved = {"experiment_id": exp, "which": which, "epoch": 2 if which == "last" else 1}
        saved |= {"sha256": "ab" * 32, "size_bytes": 12}
        if which == "best":
            saved |= {"metric": "accuracy", "value": 0.875}
        job("CheckpointSaved", saved)
    if finish:
        job("TrainingCompleted", {"experiment_id": exp, "epochs_completed": 2, "duration_s": 3.0})
        job("JobSucceeded", {"job_id": command.id})
    return exp


def request_export(
    workspace: Workspace, project_id: str, exp: str, checkpoint: str = "best", fmt: str = "onnx"
) -> Event:
    """An export asked for through the command, as the page does."""
    return commands.request_export(
        workspace, project_id, exp, checkpoint=checkpoint, fmt=fmt, actor="script"
    )


def start_job(workspace: Workspace, project_id: str, command: Event) -> None:
    log = log_of(workspace, project_id)
    claim = {"job_id": command.id, "command_type": "ExportRequested", "worker_id": "w"}
    log.append("JobClaimed", claim | {"host": "h", "pid": 1}, actor="worker", causation=command.id)
    log.append("JobStarted", {"job_id": command.id, "pid": 3}, actor="job", causation=command.id)


def complete(
    workspace: Workspace,
    project_id: str,
    command: Event,
    max_abs_diff: float = 2.1e-6,
    agreement: float = 1.0,
    size_bytes: int = 44_700_000,
    error: str | None = None,
) -> None:
    """What an export job appends when it ends: ExportCompleted, then JobSucceeded or JobFailed
    (over tolerance: failed, figures kept)."""
    data = command.data
    xpt = data["export_id"]
    tolerance = data["options"]["tolerance"]
    passed = max_abs_diff <= tolerance
    suffix = "onnx" if data["format"] == "onnx" else "pt"
    completed = {
        "export_id": xpt,
        "experiment_id": data["experiment_id"],
        "checkpoint": data["checkpoint"],
        "checkpoint_epoch": 1 if data["checkpoint"] == "best" else 2,
        "checkpoint_sha256": "ab" * 32,
        "format": data["format"],
        "file": {
            "name": f"exports/{xpt}/model.{suffix}",
            "sha256": "12" * 32,
            "size_bytes": size_bytes,
        },
        "validation": {
            "images": 32,
            "max_abs_diff": max_abs_diff,
            "agreement": agreement,
            "tolerance": tolerance,
            "passed": passed,
        },
        "metadata": METADATA,
        "duration_s": 8.7,
    }
    end = NewEvent("JobSucceeded", {"job_id": command.id}, "job", command.id)
    if not passed:
        failure = {"job_id": command.id, "error": error or "validation failed"}
        end = NewEvent("JobFailed", failure, "job", command.id)
    log_of(workspace, project_id).append_many(
        [NewEvent("ExportCompleted", completed, "job", command.id), end]
    )


def render(
    page: ModuleType, project_id: str, selected: str | None, at: int | None = None
) -> dict[str, Any]:
    """Every live output of the page, by name, after a refresh."""
    sig = page.refresh(1, 0, project_id, at, None)
    names = ["list", "about", "form", "title", "checkpoints", "checkpoint", "note", "disabled"]
    names += ["running", "exports_card", "exports_title", "exports", "shown"]
    out = dict(zip(names, page.render(sig, selected, project_id, at, None), strict=True))
    for name in ("list", "running", "exports"):
        assert_flat(out[name])
    out["sig"] = sig
    return out


def assert_flat(tree: Any) -> None:
    """Dash renders a list of children, not a list inside one (React error #31 otherwise)."""
    for node in walk(tree):
        children = getattr(node, "children", None)
        if isinstance(node, Component) and isinstance(children, (list, tuple)):
            assert not any(isinstance(c, (list, tuple)) for c in children), node


def find(tree: Any, id: Any) -> Any:
    found = by_id(tree, id)
    assert found, f"no component {id!r}"
    return found[0]


def text(tree: Any) -> str:
    return text_of(tree)


def of_type(tree: Any, kind: str) -> list[Any]:
    """The components whose pattern-matching id has this type."""
    return [
        n for n in walk(tree) if isinstance(getattr(n, "id", None), dict) and n.id["type"] == kind
    ]


# ---------------------------------------------------------------------- empty states
def test_empty_state_links_to_the_train_page(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    layout = page.layout(project_id=project)
    assert find(layout, "export-project").data == project
    assert find(layout, "export-selected").data is None
    out = render(page, project, None)
    empty = find(out["list"], "export-no-experiments")
    assert "No trained model yet" in text(empty) and "Train a model first" in text(empty)
    assert find(empty, "export-to-train").href == f"/project/{project}/train"
    assert out["about"] == {} and out["form"] == HIDDEN and out["exports_card"] == HIDDEN
    assert out["shown"] is None and out["disabled"] is True
    # An experiment still in its first epoch (no checkpoint yet) is not exportable either.
    train(ui_workspace, project, "Warming up", checkpoints=(), finish=False)
    out = render(page, project, None)
    assert "has saved a checkpoint yet" in text(find(out["list"], "export-no-experiments"))
    assert "No such project" in text(page.layout(project_id="proj-00000000"))


# ---------------------------------------------------------------------- list and exports
def test_trained_experiments_and_their_exports_with_figures(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    older = train(ui_workspace, project, "Baseline run")
    newer = train(ui_workspace, project, "Last only", checkpoints=("last",))
    out = render(page, project, None)
    items = of_type(out["list"], "export-exp-item")
    assert [i.id["index"] for i in items] == [newer, older]  # newest first
    assert out["shown"] == newer and items[0].active and not items[1].active
    assert [o["value"] for o in out["checkpoints"]] == ["last"] and out["checkpoint"] == "last"
    assert out["form"] == {} and out["about"] == HIDDEN and out["disabled"] is False
    assert "No export yet" in text(find(out["exports"], "export-no-exports"))

    first = request_export(ui_workspace, project, older, "best")
    second = request_export(ui_workspace, project, older, "last")
    complete(ui_workspace, project, first)
    out = render(page, project, older)
    assert out["title"] == "Baseline run" and out["exports_title"] == "Baseline run"
    labels = {o["value"]: o["label"] for o in out["checkpoints"]}
    assert labels == {"best": "Best (epoch 1 · val Accuracy 0.875)", "last": "Last (epoch 2)"}
    assert out["checkpoint"] == "best"
    assert "2 exports" in text(find(out["list"], {"type": "export-exp-item", "index": older}))
    cards = of_type(out["exports"], "export-card")
    xpt = first.data["export_id"]
    assert [c.id["index"] for c in cards] == [second.data["export_id"], xpt]  # newest first
    done = cards[1]
    body = text(done)
    assert "Completed" in body and "ONNX" in body and "best checkpoint · epoch 1" in body
    assert "Images compared 32" in body
    assert "2.1e-06 ≤ 0.001" in body and "100.0 %" in body and "44.7 MB" in body
    assert "exported" in body and xpt in body
    download = find(done, {"type": "export-download", "index": xpt})
    name = download_name("Baseline run", xpt, "onnx")
    assert name == f"Baseline-run-{xpt}.onnx"
    assert download.href == f"/download/{project}/export/{xpt}" and download.download == name
    assert download.external_link is True
    # The pending one: its status, no figures, no download; the running panel shows it.
    assert "Pending" in text(cards[0]) and "Waiting for a worker" in text(cards[0])
    assert not of_type(cards[0], "export-download")
    assert "Waiting for a worker" in text(out["running"])
    # Metadata: keys with their JSON values, objects pretty-printed.
    table = text(done)
    assert "aistudio.classes" in table and '"image_size": 32' in table
    assert "classification" in table and '"classification"' not in table


def test_the_snippet_names_the_downloaded_file_for_onnx_only(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    exp = train(ui_workspace, project, "Model")
    onnx = request_export(ui_workspace, project, exp, fmt="onnx")
    script = request_export(ui_workspace, project, exp, fmt="torchscript")
    complete(ui_workspace, project, onnx)
    complete(ui_workspace, project, script)
    out = render(page, project, exp)
    by_export = {c.id["index"]: c for c in of_type(out["exports"], "export-card")}
    onnx_card = by_export[onnx.data["export_id"]]
    name = download_name("Model", onnx.data["export_id"], "onnx")
    snippet = find(onnx_card, {"type": "export-snippet", "index": onnx.data["export_id"]})
    assert isinstance(snippet, dcc.Markdown)
    assert snippet.children.startswith("```python\n") and snippet.children.endswith("\n```")
    assert f'"{name}"' in snippet.children and onnx_snippet(name).rstrip() in snippet.children
    clip = [n for n in walk(onnx_card) if isinstance(n, dcc.Clipboard)]
    assert len(clip) == 1 and clip[0].content == onnx_snippet(name, "image.png")
    assert "Use it" in text(onnx_card) and name in text(onnx_card)
    script_card = by_export[script.data["export_id"]]
    assert "TorchScript" in text(script_card) and "Use it" not in text(script_card)
    assert not [n for n in walk(script_card) if isinstance(n, (dcc.Markdown, dcc.Clipboard))]
    download = of_type(script_card, "export-download")
    assert download and download[0].download.endswith(".pt")


def test_a_failed_export_shows_its_figures_and_no_download(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    exp = train(ui_workspace, project, "Drifty")
    over = request_export(ui_workspace, project, exp)
    complete(
        ui_workspace,
        project,
        over,
        max_abs_diff=0.25,
        agreement=0.9375,
        error="validation failed: outputs differ by up to 0.25 (tolerance 0.001)",
    )
    crashed = request_export(ui_workspace, project, exp, "last")
    start_job(ui_workspace, project, crashed)
    log_of(ui_workspace, project).append(
        "JobFailed",
        {"job_id": crashed.id, "error": "RuntimeError: unsupported operator"},
        actor="job",
        causation=crashed.id,
    )
    out = render(page, project, exp)
    cards = {c.id["index"]: c for c in of_type(out["exports"], "export-card")}
    failed = cards[over.data["export_id"]]
    body = text(failed)
    assert (
        "Failed" in body
        and "Export failed" in body
        and "Validation failed: outputs differ by up to 0.25" in body
    )
    assert "0.25 > 0.001" in body and "93.8 %" in body and "Images compared 32" in body
    assert not of_type(failed, "export-download") and "Use it" not in body
    assert "checked" in body and "44.7 MB" in body
    assert "export-card-failed" in failed.className
    other = text(cards[crashed.data["export_id"]])
    assert "RuntimeError: unsupported operator" in other and "Max abs diff" not in other
    assert not of_type(cards[crashed.data["export_id"]], "export-download")
    assert out["running"] == []


# ---------------------------------------------------------------------- the form
def test_export_button_appends_export_requested(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    exp = train(ui_workspace, project, "Ready")
    layout = page.layout(project_id=project)
    assert find(layout, "export-opset").value == DEFAULTS["opset"] == 17
    assert find(layout, "export-images").value == DEFAULTS["validation_images"] == 32
    assert find(layout, "export-tolerance").value == DEFAULTS["tolerance"] == 1e-3
    assert find(layout, "export-format").value == "onnx"
    assert find(layout, "export-selected").data == exp
    status, version = page.on_export(1, exp, "last", "torchscript", 18.0, 8, 0.01, project, None, 4)
    command = events(ui_workspace, project)[-1]
    assert command.type == "ExportRequested" and command.actor == "ui" and version == 5
    assert command.data["experiment_id"] == exp and command.data["checkpoint"] == "last"
    assert command.data["format"] == "torchscript"
    assert command.data["options"] == {"opset": 18, "validation_images": 8, "tolerance": 0.01}
    assert command.data["export_id"] not in text(status) and "queued" in text(status)
    (link,) = [c for c in walk(status) if getattr(c, "href", None)]
    assert link.href == f"/project/{project}/history?seq={command.seq}"
    assert status.color == "success"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"tolerance": 5}, "Export option tolerance: must be greater than 0, at most 1"),
        ({"opset": 9}, "Export option opset: must be at least 13, at most 21"),
        (
            {"validation_images": None},
            "“Validation images”: enter a whole number at least 1, at most 1024.",
        ),
        ({"opset": None}, "“ONNX opset”: enter a whole number at least 13, at most 21."),
        ({"tolerance": ""}, "“Tolerance”: enter a number greater than 0, at most 1."),
        ({"checkpoint": "best"}, "has no best checkpoint (it has: last)"),
        ({"checkpoint": None}, "Choose the checkpoint to export"),
        ({"experiment": None}, "Choose an experiment to export"),
        ({"experiment": "exp-00000000"}, "No experiment 'exp-00000000' in this project"),
    ],
)
def test_a_refused_export_says_why_and_appends_nothing(
    page: ModuleType, project: str, ui_workspace: Workspace, form: dict[str, Any], message: str
) -> None:
    exp = train(ui_workspace, project, "Only last", checkpoints=("last",))
    values = {"experiment": exp, "checkpoint": "last", "opset": 17, "validation_images": 32}
    values |= {"tolerance": 1e-3} | form
    before = len(events(ui_workspace, project))
    status, version = page.on_export(
        1,
        values["experiment"],
        values["checkpoint"],
        "onnx",
        values["opset"],
        values["validation_images"],
        values["tolerance"],
        project,
        None,
        2,
    )
    assert status.color == "danger" and message in text(status), text(status)
    assert version is dash.no_update
    assert len(events(ui_workspace, project)) == before


def test_an_experiment_still_training_cannot_be_exported(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    exp = train(ui_workspace, project, "Busy", finish=False)
    out = render(page, project, exp)
    assert out["disabled"] is True and "still running" in text(out["note"])
    before = len(events(ui_workspace, project))
    status, _ = page.on_export(1, exp, "best", "onnx", 17, 32, 1e-3, project, None, 0)
    assert "still running" in text(status) and len(events(ui_workspace, project)) == before
    with pytest.raises(PreventUpdate):
        page.on_export(0, exp, "best", "onnx", 17, 32, 1e-3, project, None, 0)


def test_form_helpers(page: ModuleType) -> None:
    assert read_options(17.0, 8.0, 0.5) == (
        {"opset": 17, "validation_images": 8, "tolerance": 0.5},
        None,
    )
    assert read_options(None, 8, 0.5)[0] is None
    assert "ONNX opset" in str(read_options(None, 8, 0.5)[1])
    help_text, opset_disabled = page.format_help("torchscript")
    assert "LibTorch" in help_text and opset_disabled is True
    assert page.format_help("onnx")[1] is False
    assert [human_size(n) for n in (None, 812, 12_400, 44_700_000, 447_000_000, 1_200_000_000)] == [
        "—",
        "812 B",
        "12.4 kB",
        "44.7 MB",
        "447 MB",
        "1.2 GB",
    ]
    assert download_name("a/b: c", "xpt-0000abcd", "onnx") == "a-b--c-xpt-0000abcd.onnx"
    assert download_name("..", "xpt-0000abcd", "torchscript") == "model-xpt-0000abcd.pt"


# ---------------------------------------------------------------------- live: running, cancel
def test_running_exports_show_progress_and_can_be_cancelled(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    exp = train(ui_workspace, project, "Live")
    command = request_export(ui_workspace, project, exp)
    queued = render(page, project, exp)
    start_job(ui_workspace, project, command)
    log = log_of(ui_workspace, project)
    progress = {"job_id": command.id, "done": 2, "total": 4, "message": "validating 16/32 images"}
    log.append("JobProgress", progress, actor="job", causation=command.id)
    live = render(page, project, exp)
    assert live["sig"] != queued["sig"]
    running = live["running"]
    assert "Running exports" in text(running) and "Validating 16/32 images" in text(running)
    bar = next(n for n in walk(running) if type(n).__name__ == "Progress")
    assert bar.value == 50.0 and bar.animated
    assert "Running" in text(live["exports"])
    cancel = find(running, {"type": "export-cancel", "index": command.id})
    # Nothing new: the tick changes nothing.
    with pytest.raises(PreventUpdate):
        page.refresh(2, 0, project, None, live["sig"])
    with pytest.raises(PreventUpdate):
        page.cancel_clicked(cancel.id, 0, project, None, 0)  # re-rendered, not clicked
    status, version = page.cancel_clicked(cancel.id, 1, project, None, 0)
    last = events(ui_workspace, project)[-1]
    assert last.type == "CancelRequested" and last.data == {"job_id": command.id}
    assert last.actor == "ui" and version == 1 and "Cancel requested" in text(status)
    cancelling = render(page, project, exp)
    assert "Cancelling" in text(cancelling["running"])
    assert not of_type(cancelling["running"], "export-cancel")
    log.append("JobCancelled", {"job_id": command.id}, actor="job", causation=command.id)
    ended = render(page, project, exp)
    assert ended["running"] == [] and "Cancelled" in text(ended["exports"])
    status, version = page.cancel_clicked(cancel.id, 1, project, None, 1)
    assert status.color == "danger" and "already ended" in text(status)
    assert version is dash.no_update


def test_the_signature_ignores_what_the_page_does_not_show(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    exp = train(ui_workspace, project, "Base")
    sig = page.refresh(1, 0, project, None, None)
    other = log_of(ui_workspace, project).append(
        "TrainingRequested",
        {"experiment_id": "exp-0000f00d", "name": "Next", "split": "default", "config": CONFIG},
        actor="ui",
    )
    log_of(ui_workspace, project).append(
        "JobProgress",
        {"job_id": other.id, "done": 1, "total": 10, "message": "epoch 1/2"},
        actor="job",
        causation=other.id,
    )
    with pytest.raises(PreventUpdate):  # no checkpoint, no export: nothing to show
        page.refresh(2, 0, project, None, sig)
    request_export(ui_workspace, project, exp)
    assert page.refresh(3, 0, project, None, sig) != sig


def test_selection_follows_clicks_and_new_checkpoints(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    item = {"type": "export-exp-item", "index": "exp-0000beef"}
    assert page.chosen_experiment(item, 1, None) == "exp-0000beef"
    with pytest.raises(PreventUpdate):
        page.chosen_experiment(item, 0, None)  # the list was re-rendered
    with pytest.raises(PreventUpdate):
        page.chosen_experiment(item, 2, "exp-0000beef")
    first = train(ui_workspace, project, "First")
    view = commands.experiments_view(ui_workspace, project)
    assert default_selection(view, None) == first
    assert default_selection(view, "exp-0000beef") == first
    # Opened before any checkpoint: the first one saved afterwards is shown by itself.
    assert render(page, project, None)["shown"] == first
    second = train(ui_workspace, project, "Second")
    assert render(page, project, first)["shown"] == first
    assert render(page, project, None)["shown"] == second
    layout = page.layout(project_id=project, experiment=first)
    assert find(layout, "export-selected").data == first


# ---------------------------------------------------------------------- time travel
def test_time_travel_is_read_only(page: ModuleType, project: str, ui_workspace: Workspace) -> None:
    exp = train(ui_workspace, project, "Past")
    command = request_export(ui_workspace, project, exp)
    start_job(ui_workspace, project, command)
    seq = events(ui_workspace, project)[-1].seq
    complete(ui_workspace, project, command)
    layout = page.layout(project_id=project, at=str(seq))
    assert by_id(layout, "time-travel-banner") and find(layout, "export-at").data == seq
    assert find(layout, "export-start").disabled is True
    assert "1 export of 1 trained experiment" in text(layout)
    past = render(page, project, exp, at=seq)
    assert past["form"] == HIDDEN and past["disabled"] is True
    assert "Running" in text(past["exports"]) and "Completed" not in text(past["exports"])
    assert not of_type(past["running"], "export-cancel") and "Running exports" in text(
        past["running"]
    )
    assert not of_type(past["exports"], "export-download")
    with pytest.raises(PreventUpdate):
        page.refresh(2, 0, project, seq, past["sig"])
    before = len(events(ui_workspace, project))
    with pytest.raises(PreventUpdate):
        page.on_export(1, exp, "best", "onnx", 17, 32, 1e-3, project, seq, 0)
    with pytest.raises(PreventUpdate):
        page.cancel_clicked({"type": "export-cancel", "index": command.id}, 1, project, seq, 0)
    assert len(events(ui_workspace, project)) == before
    now = render(page, project, exp)
    assert "Completed" in text(now["exports"]) and of_type(now["exports"], "export-download")
    assert "No event #999" in text(page.layout(project_id=project, at="999"))


def test_metadata_values_are_pretty_printed(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    exp = train(ui_workspace, project, "Meta")
    command = request_export(ui_workspace, project, exp)
    complete(ui_workspace, project, command)
    out = render(page, project, exp)
    rows = [n for n in walk(out["exports"]) if type(n).__name__ == "Tr"]
    cells = {text(r.children[0]): r.children[1] for r in rows}
    assert set(cells) == set(METADATA)
    assert text(cells["aistudio.task"]) == "classification"
    assert text(cells["aistudio.epoch"]) == "2"
    pre = cells["aistudio.input"].children
    assert type(pre).__name__ == "Pre"
    assert json.loads(pre.children) == json.loads(METADATA["aistudio.input"])
    assert pre.children.startswith("{\n  ")
