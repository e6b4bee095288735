"""The Training page: form defaults and checks, start, live list and curves from the log,
cancel, resume, re-run, comparison, empty states and time travel.

No training runs here: the tests append what a worker and a training job would (TrainingStarted,
EpochCompleted, CheckpointSaved, …) and call the page's callbacks and functions directly.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime
from types import ModuleType
from typing import Any

import dash
import dash_bootstrap_components as dbc
import pytest
from dash.exceptions import PreventUpdate

from aistudio import commands
from aistudio.workspace import Workspace
from events import Event, EventLog
from tests.projections.helpers import image
from tests.ui.layout_tree import components as walk
from tests.ui.layout_tree import find, has
from tests.ui.layout_tree import rendered_text as text
from ui.components.training_charts import checkpoint_figure
from ui.components.training_form import (
    CHECKED,
    CONTROL_IDS,
    CONTROL_KEYS,
    OPTION_TYPE,
    parameters_text,
)
from ui.components.training_runs import config_differences, format_duration
from ui.state import AppState

SHA = "ef" * 32
CLASSES = ("cat", "dog")


# ---------------------------------------------------------------------- fixtures and helpers
@pytest.fixture
def page(dash_app: dash.Dash, ui_state: AppState) -> ModuleType:
    """The page module as Dash loaded it (importing it again would register it twice)."""
    module = next(
        p["module"]
        for p in dash.page_registry.values()
        if p.get("path_template") == "/project/<project_id>/train"
    )
    return sys.modules[module]


def add_images(workspace: Workspace, project_id: str, n: int, values: bool = False) -> None:
    """``n`` images appended as an import job would (labels cat/dog, or values)."""
    log = EventLog(workspace.events_path(project_id))
    if values:
        log.append("ImagesAdded", {"images": [image(i, value=i / 2) for i in range(n)]})
        return
    records = [image(i, label=CLASSES[i % 2]) for i in range(n)]
    log.append("ImagesAdded", {"images": records}, actor="job")
    log.append("ClassesDefined", {"classes": list(CLASSES)}, actor="job")


@pytest.fixture
def project(ui_workspace: Workspace) -> str:
    """A classification project of 20 labelled images with the split ``default``."""
    pid = str(commands.create_project(ui_workspace, "Pets", "classification").data["project_id"])
    add_images(ui_workspace, pid, 20)
    commands.create_split(ui_workspace, pid, "default", 0.6, 0.2, 0.2)
    return pid


def form_values(layout: Any) -> dict[str, Any]:
    """The form's values as the layout sets them, by control key."""
    return {key: find(layout, CONTROL_IDS[key]).value for key in CONTROL_KEYS}


def option_state(layout: Any) -> tuple[list[Any], list[dict[str, str]]]:
    """The task options' values and ids, as the pattern-matching States give them."""
    controls = [
        c
        for c in walk(layout)
        if isinstance(getattr(c, "id", None), dict) and c.id.get("type") == OPTION_TYPE
    ]
    return [c.value for c in controls], [c.id for c in controls]


def feedback(page: ModuleType, project: str, values: dict[str, Any]) -> dict[str, Any]:
    """The validation outputs of the form, by output name."""
    out = page.form_feedback(project, values, {})
    assert set(out["invalid"]) == set(out["messages"]) == set(CHECKED)
    return out


class Job:
    """What the worker and a training job append for one run."""

    def __init__(self, workspace: Workspace, project: str, command: Event) -> None:
        self.log = EventLog(workspace.events_path(project))
        self.job = command.id
        self.exp = command.data["experiment_id"]
        self.epochs = command.data["config"]["epochs"]

    def append(self, type: str, data: dict[str, Any], actor: str = "job") -> None:
        self.log.append(type, data, actor=actor, causation=self.job)

    def start(
        self,
        start_epoch: int = 0,
        weights: str | None = None,
        parameters: int = 11_181_642,
        device: str = "cpu",
    ) -> None:
        claim = {"job_id": self.job, "command_type": "TrainingRequested", "worker_id": "w"}
        self.append("JobClaimed", claim | {"host": "h", "pid": 1}, actor="worker")
        self.append("JobStarted", {"job_id": self.job, "pid": 2})
        self.append(
            "TrainingStarted",
            {
                "experiment_id": self.exp,
                "start_epoch": start_epoch,
                "epochs": self.epochs,
                "train_images": 12,
                "val_images": 4,
                "parameters": parameters,
                "device": device,
                "weights": weights or "from scratch: no ImageNet weights in the local torch cache",
            },
        )

    def epoch(self, n: int, accuracy: float) -> None:
        self.append(
            "EpochCompleted",
            {
                "experiment_id": self.exp,
                "epoch": n,
                "epochs": self.epochs,
                "train_loss": 2.0 / n,
                "val_loss": 2.2 / n,
                "metrics": {"accuracy": accuracy},
                "lr": 0.001,
                "duration_s": 4.0,
                "images_per_s": 30.0,
            },
        )
        saved = {"experiment_id": self.exp, "epoch": n, "sha256": SHA, "size_bytes": 10}
        self.append("CheckpointSaved", saved | {"which": "last"})
        self.append(
            "CheckpointSaved", saved | {"which": "best", "metric": "accuracy"} | {"value": accuracy}
        )

    def progress(self, done: int, total: int, message: str) -> None:
        self.append(
            "JobProgress", {"job_id": self.job, "done": done, "total": total, "message": message}
        )

    def complete(self) -> None:
        data = {"experiment_id": self.exp, "epochs_completed": self.epochs, "duration_s": 9.0}
        self.append("TrainingCompleted", data)
        self.append("JobSucceeded", {"job_id": self.job})


def request(workspace: Workspace, project: str, name: str, **config: Any) -> Event:
    settings = {"model": "resnet18", "epochs": 3, "image_size": 32, **config}
    return commands.request_training(workspace, project, name, "default", settings)


def render(page: ModuleType, project: str, selected: str | None) -> dict[str, Any]:
    """The live outputs for the project now: signature, list, details, curves."""
    sig = page.refresh(1, 0, project, None, None)
    runs = page.render_runs(sig, selected, project, None)
    names = ["list", "head", "alerts", "facts", "progress", "summary"]
    names += ["cancel", "resume", "rerun", "use", "compare_options", "card"]
    out = dict(zip(names, runs, strict=True))
    out["sig"] = sig
    figure, curve_sig = page.render_curves(
        sig, selected, "light", project, None, {"primary": "accuracy", "mode": "max"}, None
    )
    out["figure"], out["curve_sig"] = figure, curve_sig
    return out


def events(workspace: Workspace, project: str) -> list[Event]:
    return commands.events_of(workspace, project)


# ---------------------------------------------------------------------- layout and form
def test_form_defaults_follow_the_task(page: ModuleType, ui_workspace: Workspace) -> None:
    for task in ("classification", "regression"):
        pid = str(commands.create_project(ui_workspace, task, task).data["project_id"])
        add_images(ui_workspace, pid, 10, values=task == "regression")
        commands.create_split(ui_workspace, pid, "default", 0.8, 0.2, 0.0, stratify=False)
        layout = page.layout(project_id=pid)
        values = form_values(layout)
        defaults = commands.default_training_config(task)
        info = commands.training_info(task)
        assert values["model"] == info.default_model and values["split"] == "default"
        assert values["name"] == f"{info.default_model} #1"
        for key in ("image_size", "epochs", "batch_size", "lr", "optimizer", "scheduler", "seed"):
            assert values[key] == defaults[key], key
        flips = values["augmentations.horizontal_flip"]
        assert flips == bool(defaults["augmentations"]["horizontal_flip"])
        models = find(layout, "train-model").options
        assert [o["value"] for o in models] == [m.name for m in info.models]
        assert all(" M" in o["label"] for o in models)  # the size in millions of parameters
        _, option_ids = option_state(layout)
        assert {i["name"] for i in option_ids} <= set(info.options_schema.get("properties", {}))
        assert find(layout, "train-form-card").style == {}
        assert find(layout, "train-no-split").style == {"display": "none"}


def test_empty_states(page: ModuleType, ui_workspace: Workspace) -> None:
    pid = str(commands.create_project(ui_workspace, "Empty", "classification").data["project_id"])
    layout = page.layout(project_id=pid)
    assert find(layout, "train-no-split").style == {}
    assert find(layout, "train-form-card").style == {"display": "none"}
    assert "Import images" in text(find(layout, "train-no-split"))
    add_images(ui_workspace, pid, 6)
    layout = page.layout(project_id=pid)
    no_split = find(layout, "train-no-split")
    assert "Create a split" in text(no_split)
    assert any(getattr(c, "href", None) == f"/project/{pid}/split" for c in walk(no_split))
    sig = page.refresh(1, 0, pid, None, None)
    runs = page.render_runs(sig, None, pid, None)
    assert has(runs[0], "train-no-experiments") and "No experiment yet" in text(runs[0])
    assert runs[-1] == {"display": "none"}  # no experiment: no details card
    # A split created meanwhile (another tab) shows the form.
    commands.create_split(ui_workspace, pid, "default", 0.5, 0.5, 0.0, stratify=False)
    sig = page.refresh(2, 0, pid, None, sig)
    options, value, form_style, no_split_style = page.update_splits(sig, None, pid)
    assert value == "default" and options == [{"label": "default", "value": "default"}]
    assert form_style == {} and no_split_style == {"display": "none"}

    defects = commands.create_project(ui_workspace, "Defects", "anomaly_detection")
    unsupported = page.layout(project_id=str(defects.data["project_id"]))
    assert has(unsupported, "train-unsupported") and not has(unsupported, "train-start")
    assert "anomaly" in text(unsupported)
    assert "No such project" in text(page.layout(project_id="proj-00000000"))


def test_validation_marks_the_field_and_says_why(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    values = form_values(page.layout(project_id=project))
    ok = feedback(page, project, values)
    assert not ok["disabled"] and not any(ok["invalid"].values()) and not ok["general"]
    assert "Trains on 12 images, validates on 4" in text(ok["plan"])
    assert ok["step_style"] == {"display": "none"}

    info = commands.training_info("classification")
    big = max(info.models, key=lambda m: m.min_image_size)
    small = feedback(
        page, project, values | {"model": big.name, "image_size": big.min_image_size - 1}
    )
    assert small["invalid"]["image_size"] and small["disabled"]
    assert f"at least {big.min_image_size} px" in small["messages"]["image_size"]
    assert f"{big.parameters_m:g} M parameters" in text(small["help"])

    checks = {
        "name": ("", "Give the experiment a name"),
        "epochs": (0, "Must be at least 1"),
        "lr": (None, "Enter a number"),
        "batch_size": (2.5, "Enter a whole number"),
        "split": ("gone", "No split named 'gone'"),
    }
    for key, (bad, message) in checks.items():
        result = feedback(page, project, values | {key: bad})
        assert result["invalid"][key], key
        assert message in result["messages"][key], (key, result["messages"][key])
        assert result["disabled"]
    warm = feedback(page, project, values | {"warmup_epochs": 50, "epochs": 3})
    assert warm["invalid"]["warmup_epochs"] and "Advanced settings" in warm["general"]
    request(ui_workspace, project, "Taken")
    taken = feedback(page, project, values | {"name": "taken"})
    assert taken["invalid"]["name"] and "already exists" in taken["messages"]["name"]
    step = feedback(page, project, values | {"scheduler": "step"})
    assert step["step_style"] == {}


def test_an_empty_validation_subset_is_announced(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    ids = [image(i)["image_id"] for i in range(10)]
    data = {
        "name": "train-only",
        "ratios": {"train": 1.0, "val": 0.0, "test": 0.0},
        "seed": 0,
        "stratify": False,
        "dataset_seq": 0,
        "assignments": {"train": ids, "val": [], "test": []},
    }
    EventLog(ui_workspace.events_path(project)).append("SplitCreated", data)
    values = form_values(page.layout(project_id=project)) | {"split": "train-only"}
    result = feedback(page, project, values)
    assert not result["disabled"]
    assert "no validation image" in text(result["plan"])


def test_start_appends_training_requested(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    layout = page.layout(project_id=project)
    values = form_values(layout) | {"epochs": 2, "image_size": 32, "lr": 0.01, "name": "Mine"}
    option_values, option_ids = option_state(layout)
    state = [values[key] for key in CONTROL_KEYS]
    status, version, selected, next_name = page.on_start(
        1, *state, option_values, option_ids, project, 0
    )
    command = events(ui_workspace, project)[-1]
    assert command.type == "TrainingRequested" and command.actor == "ui"
    assert command.data["name"] == "Mine" and command.data["split"] == "default"
    config = command.data["config"]
    assert (config["epochs"], config["image_size"], config["lr"]) == (2, 32, 0.01)
    assert config["model"] == values["model"] and not command.data["resume"]
    assert selected == command.data["experiment_id"] and version == 1
    assert "queued" in text(status) and next_name == f"{values['model']} #2"
    # A refused start says why and appends nothing.
    before = len(events(ui_workspace, project))
    state = [(values | {"name": "Mine"})[key] for key in CONTROL_KEYS]
    status, *_ = page.on_start(1, *state, option_values, option_ids, project, 1)
    assert "already exists" in text(status) and len(events(ui_workspace, project)) == before
    with pytest.raises(PreventUpdate):
        page.on_start(0, *state, option_values, option_ids, project, 1)


def test_defaults_and_use_settings_fill_the_form(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    command = request(ui_workspace, project, "Tuned", lr=0.05, batch_size=8, seed=3)
    keys = [k for k in CONTROL_KEYS if k not in ("name", "split")]
    out = page.form_fill("train-use-config", 1, command.data["experiment_id"], project)
    filled = dict(zip(keys, out[: len(keys)], strict=True))
    assert (filled["lr"], filled["batch_size"], filled["seed"]) == (0.05, 8, 3)
    assert "Tuned" in text(out[-1])
    out = page.form_fill("train-defaults", 1, None, project)
    defaults = dict(zip(keys, out[: len(keys)], strict=True))
    assert defaults["lr"] == commands.default_training_config("classification")["lr"]
    with pytest.raises(PreventUpdate):
        page.form_fill("train-defaults", 0, None, project)


def test_the_form_shows_what_the_run_will_take_and_warns(
    page: ModuleType, project: str, ui_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AISTUDIO_MEMORY_LIMIT_MB", raising=False)
    values = form_values(page.layout(project_id=project))
    ok = feedback(page, project, values)
    line = text(ok["estimate"])
    assert re.match(
        r"About [\d.]+ GB, about \d+ (s|min) per epoch on this machine \(cpu, \d+ threads?\)\.",
        line,
    ), line
    assert "job process" in line and "model and batch" in line  # why, in the line's tooltip
    assert not ok["disabled"] and not any(isinstance(c, dbc.Alert) for c in walk(ok["estimate"]))
    changed = feedback(page, project, values | {"image_size": 4 * values["image_size"]})
    assert text(changed["estimate"]) != line  # it follows the settings

    # The parameters the form shows are those the run will report, in the same words.
    plan = commands.check_training(ui_workspace, project, "x", "default", {"model": "resnet18"})
    count = plan.parameters["resnet18"]
    resnet = feedback(page, project, values | {"model": "resnet18"})
    assert f"{parameters_text(count)} parameters" in text(resnet["help"])
    menu = {o["value"]: o["label"] for o in resnet["models"]}
    assert menu["resnet18"] == f"ResNet-18 · {parameters_text(count)}"
    command = request(ui_workspace, project, "Counted")
    Job(ui_workspace, project, command).start(parameters=count, device="cpu (2 threads), 32")
    facts = text(render(page, project, command.data["experiment_id"])["facts"])
    assert f"{parameters_text(count)} parameters" in facts
    assert "cpu (2 threads), 32-bit precision" in facts  # a run recorded before the words

    # On the 23 GB machine of issue 11, 1024 px at batch 32 cannot start, and the form says why.
    many = str(commands.create_project(ui_workspace, "Many", "classification").data["project_id"])
    add_images(ui_workspace, many, 100)
    commands.create_split(ui_workspace, many, "default", 0.6, 0.2, 0.2)
    monkeypatch.setenv("AISTUDIO_MEMORY_LIMIT_MB", "23000")
    wide = form_values(page.layout(project_id=many))
    huge = feedback(page, many, wide | {"image_size": 1024, "batch_size": 32})
    (alert,) = [c for c in walk(huge["estimate"]) if isinstance(c, dbc.Alert)]
    assert alert.color == "danger" and huge["disabled"]
    assert "more than this machine can give it" in text(alert)
    assert "smaller image size (now 1024 px) or batch size (now 32)" in text(alert)
    assert "fits (about" in text(alert)

    # Hours of training: a warning; Start stays possible.
    long_run = feedback(page, project, values | {"image_size": 512, "epochs": 10000})
    (warning,) = [c for c in walk(long_run["estimate"]) if isinstance(c, dbc.Alert)]
    assert warning.color == "warning" and not long_run["disabled"]
    assert "10000 epochs would take about" in text(warning)


# ---------------------------------------------------------------------- live experiments
def test_list_progress_and_curves_come_from_the_log(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    command = request(ui_workspace, project, "Live", epochs=4)
    exp = command.data["experiment_id"]
    queued = render(page, project, exp)
    assert "Queued" in text(queued["list"]) and "Waiting for a worker" in text(queued["progress"])
    assert "left" not in text(queued["progress"])  # no time left before it runs
    assert "Waiting for the first epoch" in str(queued["figure"].layout.annotations[0].text)
    assert queued["cancel"] == {} and queued["resume"] == {"display": "none"}
    assert queued["card"] == {}

    job = Job(ui_workspace, project, command)
    job.start()
    job.epoch(1, 0.5)
    job.epoch(2, 0.75)
    job.progress(10, 16, "epoch 3/4 · step 2/4")
    live = render(page, project, exp)
    assert "Running" in text(live["list"]) and "Live" in text(live["list"])
    assert "Epoch 3/4 · step 2/4" in text(live["progress"])
    assert "left" in text(live["progress"])  # an ETA from the epochs' durations
    weights = find(live["alerts"], "train-weights")
    assert "From scratch" in text(weights) and "local torch cache" in text(weights)
    assert "11.18 M parameters" in text(live["facts"]) and "12 train, 4 val" in text(live["facts"])
    traces = {t.name: t for t in live["figure"].data}
    assert list(traces["train loss"].x) == [1, 2] and list(traces["val loss"].y) == [2.2, 1.1]
    assert list(traces["val Accuracy"].y) == [0.5, 0.75]
    assert list(traces["best (epoch 2)"].x) == [2]
    # Nothing new: the tick changes nothing; an epoch more redraws the curves.
    with pytest.raises(PreventUpdate):
        page.refresh(2, 0, project, None, live["sig"])
    with pytest.raises(PreventUpdate):
        page.render_curves(
            live["sig"], exp, "light", project, None, {"primary": "accuracy"}, live["curve_sig"]
        )
    job.epoch(3, 0.8)
    job.epoch(4, 0.9)
    job.complete()
    done = render(page, project, exp)
    assert done["sig"] != live["sig"]
    assert "Completed" in text(done["list"]) and "4 of 4 epochs" in text(done["summary"])
    assert "best val Accuracy 0.9 (epoch 4)" in text(done["summary"])
    # A completed run offers its next step: Evaluate, with the experiment selected there.
    evaluate = find(done["alerts"], "train-next-evaluate")
    assert evaluate is not None and "Evaluate" in text(evaluate)
    assert evaluate.href == f"/project/{project}/evaluate?experiment={exp}"
    assert not has(live["alerts"], "train-next-evaluate")  # not while it runs
    assert done["cancel"] == {"display": "none"} and done["resume"] == {}
    assert len({t.name: t for t in done["figure"].data}["train loss"].x) == 4


def test_a_failed_run_shows_its_error_and_traceback(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    command = request(ui_workspace, project, "Broken")
    job = Job(ui_workspace, project, command)
    job.start()
    trace = 'Traceback (most recent call last):\n  File "x.py", line 3\nValueError: bad batch'
    job.append(
        "JobFailed", {"job_id": job.job, "error": "ValueError: bad batch", "traceback": trace}
    )
    out = render(page, project, command.data["experiment_id"])
    error = find(out["alerts"], "train-error")
    assert "Training failed" in text(error) and "ValueError: bad batch" in text(error)
    assert 'File "x.py", line 3' in text(error)
    assert "re-run" in text(error)  # no checkpoint: it cannot be resumed
    assert out["resume"] == {"display": "none"} and out["rerun"] == {}
    assert "Failed" in text(out["list"]) and "No epoch finished" in str(
        out["figure"].layout.annotations[0].text
    )


def test_selection_follows_clicks(page: ModuleType) -> None:
    item = {"type": "train-exp-item", "index": "exp-0000beef"}
    assert page.chosen_experiment(item, 1, None) == "exp-0000beef"
    with pytest.raises(PreventUpdate):
        page.chosen_experiment(item, 0, None)  # the list was re-rendered
    with pytest.raises(PreventUpdate):
        page.chosen_experiment(item, 2, "exp-0000beef")


# ---------------------------------------------------------------------- actions
def test_cancel_appends_a_cancel_request(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    command = request(ui_workspace, project, "Long", epochs=50)
    exp = command.data["experiment_id"]
    Job(ui_workspace, project, command).start()
    status, version = page.on_cancel(1, exp, project, 0)
    last = events(ui_workspace, project)[-1]
    assert last.type == "CancelRequested" and last.data == {"job_id": command.id}
    assert last.actor == "ui" and version == 1 and "Cancel requested" in text(status)
    out = render(page, project, exp)
    assert "Cancelling" in text(out["list"]) and out["cancel"] == {"display": "none"}
    Job(ui_workspace, project, command).append("JobCancelled", {"job_id": command.id})
    status, version = page.on_cancel(1, exp, project, 1)
    assert "not running" in text(status) and version is dash.no_update


def test_resume_asks_for_epochs_then_appends(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    command = request(ui_workspace, project, "Stopped", epochs=6)
    exp = command.data["experiment_id"]
    job = Job(ui_workspace, project, command)
    job.start()
    job.epoch(1, 0.4)
    job.epoch(2, 0.6)
    job.append("JobFailed", {"job_id": job.job, "error": "worker lost", "reason": "worker_lost"})
    out = render(page, project, exp)
    assert "Interrupted" in text(out["list"]) and out["resume"] == {}
    assert "last checkpoint (epoch 2)" in text(find(out["alerts"], "train-error"))

    is_open, body, epochs, error, _, _ = page.resume_dialog(
        "train-resume", 1, None, exp, project, 0
    )
    assert is_open and epochs == 6 and "epoch 2" in text(body) and error is None
    is_open, _, _, error, _, _ = page.resume_dialog("train-resume-confirm", 1, 2, exp, project, 0)
    assert is_open and "more than 2" in text(error)
    for refused in ("x", None, 2.5):  # None: the browser refuses a number out of its limits
        is_open, _, _, error, _, _ = page.resume_dialog(
            "train-resume-confirm", 1, refused, exp, project, 0
        )
        rule = "Enter the epoch to train up to: a whole number from 3 to 10000."
        assert is_open and rule in text(error)
    is_open, _, _, error, version, status = page.resume_dialog(
        "train-resume-confirm", 1, 8, exp, project, 0
    )
    assert not is_open and error is None and version == 1 and "up to epoch 8" in text(status)
    last = events(ui_workspace, project)[-1]
    assert last.type == "TrainingRequested" and last.data["resume"] is True
    assert last.data["experiment_id"] == exp and last.data["config"]["epochs"] == 8
    out = render(page, project, exp)
    assert "Queued" in text(out["list"]) and out["resume"] == {"display": "none"}
    closed = page.resume_dialog("train-resume-close", 1, None, exp, project, 1)
    assert closed[0] is False


def test_rerun_starts_a_new_experiment_with_the_same_settings(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    command = request(ui_workspace, project, "Original", lr=0.02, seed=5)
    status, version, selected = page.on_rerun(1, command.data["experiment_id"], project, 0)
    last = events(ui_workspace, project)[-1]
    assert last.type == "TrainingRequested" and last.actor == "ui"
    assert last.data["config"] == command.data["config"]
    assert last.data["name"] == "Original (re-run)" and selected == last.data["experiment_id"]
    assert "Original (re-run)" in text(status) and version == 1


# ---------------------------------------------------------------------- comparison
def test_comparison_overlays_curves_and_lists_differences(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    a = request(ui_workspace, project, "A", lr=0.001)
    b = request(ui_workspace, project, "B", lr=0.01, batch_size=16)
    for command, accuracy in ((a, 0.7), (b, 0.9)):
        job = Job(ui_workspace, project, command)
        job.start()
        job.epoch(1, accuracy)
    sig = page.refresh(1, 0, project, None, None)
    chosen = [a.data["experiment_id"], b.data["experiment_id"]]
    task = {"primary": "accuracy", "mode": "max"}
    figure, table, style, compare_sig = page.render_compare(
        chosen, sig, "dark", project, None, task, None
    )
    assert style == {} and {t.name for t in figure.data} == {"A", "B"}
    table_text = text(table)
    assert "lr" in table_text and "batch size" in table_text and "0.01" in table_text
    assert "model" not in table_text.split("Results")[0]  # the same model is no difference
    assert "Accuracy 0.9 (epoch 1)" in table_text
    with pytest.raises(PreventUpdate):
        page.render_compare(chosen, sig, "dark", project, None, task, compare_sig)
    _, lonely, hidden, _ = page.render_compare([], sig, "dark", project, None, task, None)
    assert hidden == {"display": "none"} and "two experiments" in text(lonely)
    view = commands.experiments_view(ui_workspace, project)
    rows = dict(config_differences([view.experiments[i] for i in chosen]))
    assert rows == {"batch_size": [32, 16], "lr": [0.001, 0.01]} | {
        k: v for k, v in rows.items() if k not in ("batch_size", "lr")
    }
    assert set(rows) == {"batch_size", "lr"}


def test_time_travel_is_read_only(page: ModuleType, project: str, ui_workspace: Workspace) -> None:
    command = request(ui_workspace, project, "Past", epochs=2)
    seq = command.seq
    job = Job(ui_workspace, project, command)
    job.start()
    job.epoch(1, 0.5)
    layout = page.layout(project_id=project, at=str(seq))
    assert has(layout, "time-travel-banner") and not has(layout, "train-start")
    assert find(layout, "train-at").data == seq
    sig = page.refresh(1, 0, project, seq, None)
    runs = page.render_runs(sig, command.data["experiment_id"], project, seq)
    assert "Queued" in text(runs[0])  # as it was then
    assert runs[6] == {"display": "none"} and runs[8] == {"display": "none"}  # no actions
    with pytest.raises(PreventUpdate):
        page.refresh(2, 0, project, seq, sig)
    assert "No event #999" in text(page.layout(project_id=project, at="999"))


def test_time_travel_shows_the_best_epoch_then_and_whole_dates(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    command = request(ui_workspace, project, "Past", epochs=3)
    exp = command.data["experiment_id"]
    job = Job(ui_workspace, project, command)
    job.start()
    job.epoch(1, 0.5)
    job.epoch(2, 0.9)
    then = events(ui_workspace, project)[-1]
    job.epoch(3, 0.95)
    job.complete()
    sig = page.refresh(1, 0, project, then.seq, None)
    listing, *_rest, summary = page.render_runs(sig, exp, project, then.seq)[:6]
    assert "Accuracy 0.9 (epoch 2)" in text(listing) and "2/3 epochs" in text(listing)
    assert "best val Accuracy 0.9 (epoch 2)" in text(summary)
    figure, _ = page.render_curves(
        sig, exp, "light", project, then.seq, {"primary": "accuracy", "mode": "max"}, None
    )
    assert [t.name for t in figure.data][-1] == "best (epoch 2)"
    # The past shows when things happened, never "just now" counted from today.
    created = datetime.fromisoformat(command.ts.replace("Z", "+00:00")).astimezone()
    assert f"{created.day} {created:%b %Y %H:%M}" in text(listing)
    assert "ago" not in text(listing) and "just now" not in text(listing)
    live = render(page, project, exp)
    assert "just now" in text(live["list"]) and "(epoch 3)" in text(live["list"])


def test_checkpoint_figures_name_the_subset_they_were_measured_on() -> None:
    assert checkpoint_figure("accuracy", 0.9341) == "val Accuracy 0.9341"
    assert checkpoint_figure("map50", 0.5) == "val mAP50 0.5"
    # Without validation images the best checkpoint is kept by the train loss.
    assert checkpoint_figure("train_loss", 0.123456) == "train loss 0.1235"


def test_format_duration() -> None:
    assert [format_duration(s) for s in (None, 4.4, 75, 615, 3720)] == [
        "—",
        "4 s",
        "1 min 15 s",
        "10 min",
        "1 h 02 min",
    ]


def test_a_number_the_browser_refuses_gets_its_rule() -> None:
    """An out-of-range number input gives no value in the browser: the message says the rule."""
    from ui.components.training_form import config_from_form, number_rule

    assert number_rule("epochs", whole=True) == "Enter a whole number from 1 to 10000."
    assert number_rule("batch_size", whole=True) == "Enter a whole number from 1 to 4096."
    assert number_rule("lr", whole=False) == "Enter a number above 0, at most 10."
    assert number_rule("momentum", whole=False) == "Enter a number of at least 0, below 1."
    assert number_rule("seed", whole=True) == "Enter a whole number."
    _config, errors = config_from_form({"epochs": None, "lr": None})
    assert errors["epochs"] == "Enter a whole number from 1 to 10000."
    assert errors["lr"] == "Enter a number above 0, at most 10."
