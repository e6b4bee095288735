"""Training commands: checks against the task and the project, then one ``TrainingRequested``.

No torch: the commands only validate and append (the job is tested with the training package).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest

from aistudio import commands
from aistudio.commands import CommandError, TrainingConfigError
from aistudio.commands.training import resource_check
from aistudio.workspace import Workspace
from events import Event, EventLog
from events.schemas.training import TrainingConfig
from tests.helpers import events_of, make_project
from tests.projections.helpers import image

CLASSES = ("cat", "dog")
SHA = "cd" * 32
EXP_ID = re.compile(r"^exp-[0-9a-f]{8}$")


# ---------------------------------------------------------------------- helpers
def add_images(workspace: Workspace, project_id: str, n: int, kind: str = "label") -> None:
    """Append ``n`` images (labelled alternately cat/dog, or with values) as an import would."""
    log = EventLog(workspace.events_path(project_id))
    if kind == "label":
        records = [image(i, label=CLASSES[i % 2]) for i in range(n)]
        log.append("ImagesAdded", {"images": records}, actor="job")
        log.append("ClassesDefined", {"classes": list(CLASSES)}, actor="job")
    else:
        records = [image(i, value=float(i)) for i in range(n)]
        log.append("ImagesAdded", {"images": records}, actor="job")


def append_split(
    workspace: Workspace, project_id: str, name: str, train: list[int], val: list[int]
) -> None:
    """A split with exactly these images in train and val (none in test)."""
    data = {
        "name": name,
        "ratios": {"train": 0.5, "val": 0.5, "test": 0.0},
        "seed": 0,
        "stratify": False,
        "dataset_seq": 0,
        "assignments": {
            "train": [image(i)["image_id"] for i in train],
            "val": [image(i)["image_id"] for i in val],
            "test": [],
        },
    }
    EventLog(workspace.events_path(project_id)).append("SplitCreated", data, actor="cli")


@pytest.fixture
def project(workspace: Workspace) -> str:
    """A classification project of 20 labelled images with a split ``default``."""
    project_id = make_project(workspace, "Pets", "classification")
    add_images(workspace, project_id, 20)
    commands.create_split(workspace, project_id, "default", 0.6, 0.2, 0.2)
    return project_id


def log_size(workspace: Workspace, project_id: str) -> int:
    return workspace.events_path(project_id).stat().st_size


def tiny(**changes: Any) -> dict[str, Any]:
    return {"model": "resnet18", "epochs": 2, "image_size": 32, **changes}


def run_events(
    workspace: Workspace, project_id: str, event: Event, *, last_epoch: int | None, end: str
) -> None:
    """What a worker and a job would append for the run ``event`` started."""
    log = EventLog(workspace.events_path(project_id))
    job = event.id
    exp = event.data["experiment_id"]
    claim = {"job_id": job, "command_type": "TrainingRequested", "worker_id": "w", "host": "h"}
    log.append("JobClaimed", claim | {"pid": 1}, actor="worker", causation=job)
    log.append("JobStarted", {"job_id": job, "pid": 2}, actor="job", causation=job)
    if last_epoch is not None:
        saved = {"experiment_id": exp, "which": "last", "epoch": last_epoch, "sha256": SHA}
        log.append("CheckpointSaved", saved | {"size_bytes": 10}, actor="job", causation=job)
    if end == "cancelled":
        log.append("JobCancelled", {"job_id": job}, actor="job", causation=job)
    elif end == "lost":
        lost = {"job_id": job, "error": "the worker was lost", "reason": "worker_lost"}
        log.append("JobFailed", lost, actor="worker", causation=job)
    elif end == "completed":
        done = {"experiment_id": exp, "epochs_completed": last_epoch or 0, "duration_s": 1.0}
        log.append("TrainingCompleted", done, actor="job", causation=job)
        log.append("JobSucceeded", {"job_id": job}, actor="job", causation=job)


# ---------------------------------------------------------------------- task metadata
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_default_config_is_complete_and_valid(task: str) -> None:
    info = commands.training_info(task)
    defaults = commands.default_training_config(task)
    assert defaults == info.defaults
    parsed = TrainingConfig.model_validate(defaults)
    assert parsed.model == info.default_model
    spec = next(m for m in info.models if m.name == info.default_model)
    assert parsed.image_size >= spec.min_image_size
    assert isinstance(defaults["augmentations"], dict) and defaults["augmentations"]
    assert isinstance(defaults["task_options"], dict)
    assert info.metric_mode in ("max", "min") and info.primary_metric
    assert all(m.parameters_m > 0 and m.min_image_size >= 16 for m in info.models)
    assert info.options_schema.get("type") == "object"
    json.dumps(defaults)  # stored in an event as it is


def test_tasks_without_training_say_so(workspace: Workspace) -> None:
    project_id = make_project(workspace, "Defects", "anomaly_detection")
    before = log_size(workspace, project_id)
    with pytest.raises(CommandError, match="training is not available for anomaly detection"):
        commands.request_training(workspace, project_id, "x", "default", {})
    with pytest.raises(CommandError, match="not available"):
        commands.default_training_config("obb")
    assert log_size(workspace, project_id) == before


# ---------------------------------------------------------------------- a new experiment
def test_request_training_appends_the_full_config(workspace: Workspace, project: str) -> None:
    event = commands.request_training(
        workspace, project, " First ", "default", tiny(lr=0.01), actor="ui"
    )
    assert event.type == "TrainingRequested" and event.actor == "ui"
    data = event.data
    assert EXP_ID.match(data["experiment_id"]) and data["name"] == "First"
    assert data["split"] == "default" and data["resume"] is False
    config = data["config"]
    defaults = commands.default_training_config("classification")
    assert set(config) == set(defaults)
    assert (config["model"], config["epochs"], config["image_size"], config["lr"]) == (
        "resnet18",
        2,
        32,
        0.01,
    )
    assert config["augmentations"] == defaults["augmentations"]  # the task's, made explicit
    assert config["optimizer"] == defaults["optimizer"]
    partial = commands.request_training(
        workspace, project, "Flips", "default", tiny(augmentations={"vertical_flip": True})
    )
    assert partial.data["config"]["augmentations"] == {
        **defaults["augmentations"],
        "vertical_flip": True,
    }
    entry = commands.experiments_view(workspace, project).get(data["experiment_id"])
    assert entry is not None and entry.status == "queued" and entry.runs == (event.id,)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"model": "alexnet"}, "model", r"unknown model 'alexnet'.*choose one of"),
        ({"image_size": 8}, "image_size", r"image_size"),
        ({"epochs": 0}, "epochs", r"epochs"),
        ({"lr": -1}, "lr", r"lr"),
        ({"optimizer": "rmsprop"}, "optimizer", r"optimizer"),
        ({"batch_size": "many"}, "batch_size", r"batch_size"),
        ({"warmup_epochs": 2, "epochs": 2}, "warmup_epochs", r"warmup_epochs"),
        ({"precision": "8-bit"}, "precision", r"precision"),
        ({"colour": "blue"}, "colour", r"colour"),
        ({"task_options": {"no_such_option": 1}}, "task_options", r"no_such_option"),
    ],
)
def test_config_checks(
    workspace: Workspace, project: str, changes: dict[str, Any], field: str, message: str
) -> None:
    before = log_size(workspace, project)
    with pytest.raises(TrainingConfigError, match=message) as caught:
        commands.request_training(workspace, project, "x", "default", tiny(**changes))
    assert caught.value.field == field
    assert "\n" not in str(caught.value)
    assert log_size(workspace, project) == before


def test_image_size_below_the_models_minimum_says_why(workspace: Workspace, project: str) -> None:
    info = commands.training_info("classification")
    spec = max(info.models, key=lambda m: m.min_image_size)
    assert spec.min_image_size > 16, "some model must need more than the smallest image size"
    with pytest.raises(TrainingConfigError) as caught:
        commands.request_training(
            workspace,
            project,
            "small",
            "default",
            {"model": spec.name, "image_size": spec.min_image_size - 1},
        )
    assert caught.value.field == "image_size"
    text = str(caught.value)
    assert f"at least {spec.min_image_size} px" in text and spec.title in text
    event = commands.request_training(
        workspace, project, "ok", "default", {"model": spec.name, "image_size": spec.min_image_size}
    )
    assert event.data["config"]["image_size"] == spec.min_image_size


def test_split_checks(workspace: Workspace, project: str) -> None:
    with pytest.raises(TrainingConfigError, match="no split named 'other'") as caught:
        commands.request_training(workspace, project, "x", "other", tiny())
    assert caught.value.field == "split"
    with pytest.raises(TrainingConfigError, match="choose the split"):
        commands.request_training(workspace, project, "x", "", tiny())
    append_split(workspace, project, "no-train", [], [1, 2])
    with pytest.raises(TrainingConfigError, match="no train image with a label"):
        commands.request_training(workspace, project, "x", "no-train", tiny())
    append_split(workspace, project, "one", [3], [1, 2])
    with pytest.raises(TrainingConfigError, match=r"has 1 train image with a label: .* at least 2"):
        commands.request_training(workspace, project, "x", "one", tiny())
    append_split(workspace, project, "cats", [0, 2, 4], [1])  # cat, cat, cat
    with pytest.raises(TrainingConfigError, match=r"split 'cats': .*two classes") as caught:
        commands.request_training(workspace, project, "x", "cats", tiny())
    assert caught.value.field == "split"


def test_unlabelled_images_do_not_count_as_train_images(workspace: Workspace) -> None:
    project_id = make_project(workspace, "Raw", "classification")
    log = EventLog(workspace.events_path(project_id))
    log.append("ImagesAdded", {"images": [image(i) for i in range(4)]}, actor="job")
    append_split(workspace, project_id, "default", [0, 1, 2], [3])
    with pytest.raises(TrainingConfigError, match="no train image with a label"):
        commands.request_training(workspace, project_id, "x", "default", tiny())


def test_empty_validation_is_allowed_and_said(workspace: Workspace, project: str) -> None:
    append_split(workspace, project, "train-only", [0, 1, 2, 3], [])
    plan = commands.check_training(workspace, project, "x", "train-only", tiny())
    assert plan.train_images == 4 and plan.val_images == 0
    assert plan.notes == (commands.TRAINING_NOTE_NO_VAL,)
    assert "no validation image" in plan.notes[0]
    event = commands.request_training(workspace, project, "x", "train-only", tiny())
    assert event.data["split"] == "train-only"
    full = commands.check_training(workspace, project, "y", "default", tiny())
    assert full.notes == () and full.train_images == 12 and full.val_images == 4


def test_regression_counts_images_with_values(workspace: Workspace) -> None:
    project_id = make_project(workspace, "Ages", "regression")
    add_images(workspace, project_id, 10, kind="value")
    append_split(workspace, project_id, "default", list(range(8)), [8, 9])
    log = EventLog(workspace.events_path(project_id))
    same = [image(i, value=3.0) for i in range(10, 13)]
    log.append("ImagesAdded", {"images": same}, actor="job")
    append_split(workspace, project_id, "flat", [10, 11, 12], [])
    with pytest.raises(TrainingConfigError, match=r"all 3 values .* are equal"):
        commands.request_training(workspace, project_id, "", "flat", {})
    defaults = commands.default_training_config("regression")
    event = commands.request_training(workspace, project_id, "", "default", {})
    assert event.data["config"]["model"] == defaults["model"]
    assert event.data["name"] == f"{defaults['model']} #1"


def test_names_are_unique_and_suggested(workspace: Workspace, project: str) -> None:
    commands.request_training(workspace, project, "Baseline", "default", tiny())
    with pytest.raises(TrainingConfigError, match="already exists") as caught:
        commands.request_training(workspace, project, " baseline ", "default", tiny())
    assert caught.value.field == "name"
    with pytest.raises(TrainingConfigError, match="control characters"):
        commands.request_training(workspace, project, "bad\x07", "default", tiny())
    with pytest.raises(TrainingConfigError, match="80 characters"):
        commands.request_training(workspace, project, "n" * 81, "default", tiny())
    first = commands.request_training(workspace, project, "", "default", tiny())
    second = commands.request_training(workspace, project, None, "default", tiny())
    assert (first.data["name"], second.data["name"]) == ("resnet18 #2", "resnet18 #3")
    view = commands.experiments_view(workspace, project)
    assert commands.suggest_experiment_name(view, "resnet34") == "resnet34 #1"


def test_ids_are_fresh_and_resolved_by_name(workspace: Workspace, project: str) -> None:
    ids = {
        commands.request_training(workspace, project, f"run {i}", "default", tiny()).data[
            "experiment_id"
        ]
        for i in range(5)
    }
    assert len(ids) == 5
    view = commands.experiments_view(workspace, project)
    some = next(iter(ids))
    assert commands.resolve_experiment(workspace, project, some) == some
    name = view.experiments[some].name
    assert commands.resolve_experiment(workspace, project, name) == some
    with pytest.raises(CommandError, match="no experiment 'nope'"):
        commands.resolve_experiment(workspace, project, "nope")


# ---------------------------------------------------------------------- resume
@pytest.mark.parametrize("end", ["cancelled", "lost", "completed"])
def test_resume_continues_with_the_same_config(
    workspace: Workspace, project: str, end: str
) -> None:
    first = commands.request_training(workspace, project, "A", "default", tiny(epochs=4, lr=0.02))
    exp = first.data["experiment_id"]
    run_events(workspace, project, first, last_epoch=2 if end != "completed" else 4, end=end)
    done = 2 if end != "completed" else 4
    with pytest.raises(TrainingConfigError, match=f"has done {done} epochs") as caught:
        commands.request_training(
            workspace, project, None, None, {"epochs": done}, resume_experiment=exp
        )
    assert caught.value.field == "epochs"
    event = commands.request_training(
        workspace,
        project,
        None,
        None,
        {"epochs": 6, "lr": 99.0},  # only the epochs are taken
        actor="ui",
        resume_experiment="A",
    )
    assert event.data["resume"] is True and event.data["experiment_id"] == exp
    assert event.data["name"] == "A" and event.data["split"] == "default"
    assert event.data["config"] == {**first.data["config"], "epochs": 6}
    entry = commands.experiments_view(workspace, project).get(exp)
    assert entry is not None and entry.runs == (first.id, event.id) and entry.status == "queued"


def test_resume_without_epochs_goes_to_the_previous_target(
    workspace: Workspace, project: str
) -> None:
    first = commands.request_training(workspace, project, "A", "default", tiny(epochs=5))
    run_events(workspace, project, first, last_epoch=3, end="cancelled")
    event = commands.request_training(workspace, project, None, None, {}, resume_experiment="A")
    assert event.data["config"]["epochs"] == 5


def test_what_cannot_be_resumed(workspace: Workspace, project: str) -> None:
    running = commands.request_training(workspace, project, "Running", "default", tiny())
    with pytest.raises(CommandError, match="still queued"):
        commands.request_training(workspace, project, None, None, {}, resume_experiment="Running")
    run_events(workspace, project, running, last_epoch=None, end="none")
    with pytest.raises(CommandError, match="still running"):
        commands.request_training(workspace, project, None, None, {}, resume_experiment="Running")
    early = commands.request_training(workspace, project, "Early", "default", tiny())
    run_events(workspace, project, early, last_epoch=None, end="cancelled")
    with pytest.raises(CommandError, match="before saving any checkpoint"):
        commands.request_training(workspace, project, None, None, {}, resume_experiment="Early")
    with pytest.raises(CommandError, match="no experiment"):
        commands.request_training(workspace, project, None, None, {}, resume_experiment="Nope")
    stopped = commands.request_training(workspace, project, "Stopped", "default", tiny())
    run_events(workspace, project, stopped, last_epoch=1, end="cancelled")
    with pytest.raises(TrainingConfigError, match="whole number"):
        commands.request_training(
            workspace, project, None, None, {"epochs": "9"}, resume_experiment="Stopped"
        )


def test_resume_of_a_deleted_split_is_refused(workspace: Workspace, project: str) -> None:
    first = commands.request_training(workspace, project, "A", "default", tiny(epochs=4))
    run_events(workspace, project, first, last_epoch=2, end="lost")
    commands.delete_split(workspace, project, "default")
    with pytest.raises(TrainingConfigError, match="no split named 'default'"):
        commands.request_training(workspace, project, None, None, {}, resume_experiment="A")


def test_two_resumes_from_the_same_stale_views_start_one_run(
    workspace: Workspace, project: str
) -> None:
    first = commands.request_training(workspace, project, "A", "default", tiny(epochs=4))
    run_events(workspace, project, first, last_epoch=2, end="cancelled")
    events = events_of(workspace, project)
    dataset = commands.dataset_view(workspace, project)
    stale = commands.experiments_view(workspace, project)
    assert dataset.seq == stale.seq == events[-1].seq
    commands.request_training(
        workspace, project, None, None, {}, "ui", "A", dataset=dataset, experiments=stale
    )
    with pytest.raises(CommandError, match="still queued"):
        commands.request_training(
            workspace, project, None, None, {}, "ui", "A", dataset=dataset, experiments=stale
        )
    resumes = [e for e in events_of(workspace, project) if e.type == "TrainingRequested"]
    assert [e.data["resume"] for e in resumes] == [False, True]


# ---------------------------------------------------------------------- re-run, cancel
def test_rerun_copies_the_exact_config(workspace: Workspace, project: str) -> None:
    original = commands.request_training(
        workspace, project, "Base", "default", tiny(seed=7, batch_size=4)
    )
    run_events(workspace, project, original, last_epoch=2, end="completed")
    again = commands.rerun_experiment(workspace, project, "Base", actor="ui")
    assert again.data["experiment_id"] != original.data["experiment_id"]
    assert again.data["config"] == original.data["config"]
    assert again.data["name"] == "Base (re-run)" and again.data["resume"] is False
    third = commands.rerun_experiment(workspace, project, original.data["experiment_id"])
    assert third.data["name"] == "Base (re-run 2)"
    named = commands.rerun_experiment(workspace, project, "Base", name="Seed check")
    assert named.data["name"] == "Seed check"
    long = commands.request_training(workspace, project, "L" * 80, "default", tiny())
    assert (
        len(commands.rerun_experiment(workspace, project, long.data["experiment_id"]).data["name"])
        == 80
    )


def test_cancel_training_names_the_current_run(workspace: Workspace, project: str) -> None:
    event = commands.request_training(workspace, project, "A", "default", tiny())
    cancel = commands.cancel_training(workspace, project, "A", actor="ui")
    assert cancel.type == "CancelRequested" and cancel.data == {"job_id": event.id}
    run_events(workspace, project, event, last_epoch=1, end="cancelled")
    with pytest.raises(CommandError, match="not running"):
        commands.cancel_training(workspace, project, "A")


# ---------------------------------------------------------------------- torch-free
def test_the_commands_never_import_torch(workspace: Workspace, project: str) -> None:
    """The web process imports aistudio.commands and validates training through it."""
    code = f"""
import sys
from aistudio import commands
from aistudio.workspace import Workspace
ws = Workspace({str(workspace.root)!r})
commands.training_info("classification")
commands.training_info("regression")
commands.check_training(ws, {project!r}, "x", "default", {{"model": "resnet18"}})
commands.request_training(ws, {project!r}, "y", "default", {{"epochs": 1}})
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision",
    "pytorch_lightning", "lightning"))
assert not heavy, heavy
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_submit_goes_through_the_training_checks(workspace: Workspace, project: str) -> None:
    before = log_size(workspace, project)
    bad = {
        "experiment_id": "exp-0badcafe",
        "name": "x",
        "split": "default",
        "config": tiny(model="alexnet"),
    }
    with pytest.raises(CommandError, match="unknown model"):
        commands.submit(workspace, project, "TrainingRequested", bad)
    with pytest.raises(CommandError, match="config must be a JSON object"):
        commands.submit(workspace, project, "TrainingRequested", {**bad, "config": 3})
    assert log_size(workspace, project) == before
    good = {**bad, "config": tiny()}
    event = commands.submit(workspace, project, "TrainingRequested", good)
    assert event.type == "TrainingRequested" and event.data["config"]["model"] == "resnet18"


# ---------------------------------------------------------------------- memory and time
ISSUE_MACHINE_MB = "23000"
"""The 2-core machine of issue 11 had 23 GB."""


def test_the_plan_says_what_the_run_will_take(workspace: Workspace, project: str) -> None:
    from aistudio.tasks.base import TargetInfo
    from aistudio.tasks.registry import get_task

    plan = commands.check_training(workspace, project, "x", "default", tiny(image_size=64))
    assert plan.resources is not None and plan.refusal is None
    summary = plan.resources.estimate.summary
    assert re.fullmatch(
        r"about [\d.]+ GB, about \d+ (s|min) per epoch on this machine \(cpu, \d+ threads?\)",
        summary,
    ), summary
    task = get_task("classification")
    info = TargetInfo(classes=list(CLASSES))
    assert plan.parameters["resnet18"] == task.parameter_count("resnet18", info)
    assert plan.resources.estimate.parameters == plan.parameters["resnet18"]
    assert set(plan.parameters) == {m.name for m in task.models}
    # What the CLI prints after appending: the same estimate, from the command itself.
    event = commands.request_training(workspace, project, "x", "default", tiny(image_size=64))
    again = resource_check(workspace, project, event)
    assert again is not None and again.estimate.summary == summary
    bigger = commands.check_training(workspace, project, "y", "default", tiny(image_size=128))
    assert bigger.resources is not None
    assert (bigger.resources.estimate.peak_bytes or 0) > (plan.resources.estimate.peak_bytes or 0)


@pytest.fixture
def big_project(workspace: Workspace) -> str:
    """A classification project of 100 labelled images (60 to train on: whole batches of 32)."""
    project_id = make_project(workspace, "Many pets", "classification")
    add_images(workspace, project_id, 100)
    commands.create_split(workspace, project_id, "default", 0.6, 0.2, 0.2)
    return project_id


def test_a_run_that_cannot_fit_in_memory_is_refused_and_says_what_to_change(
    workspace: Workspace, big_project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = big_project
    monkeypatch.setenv("AISTUDIO_MEMORY_LIMIT_MB", ISSUE_MACHINE_MB)
    huge = tiny(image_size=1024, batch_size=32)
    plan = commands.check_training(workspace, project, "x", "default", huge)
    assert plan.refusal is not None  # the form shows it, and Start is disabled
    before = log_size(workspace, project)
    with pytest.raises(TrainingConfigError, match="more than this machine can give it") as info:
        commands.request_training(workspace, project, "huge", "default", huge)
    assert "choose a smaller image size (now 1024 px) or batch size (now 32)" in str(info.value)
    with pytest.raises(CommandError, match="more than this machine can give it"):
        commands.submit(
            workspace,
            project,
            "TrainingRequested",
            {"experiment_id": "exp-0badcafe", "name": "s", "split": "default", "config": huge},
        )
    assert log_size(workspace, project) == before
    fine = commands.request_training(workspace, project, "fine", "default", tiny())
    assert fine.type == "TrainingRequested"


def test_the_cli_refuses_a_run_that_cannot_fit_with_exit_2(
    workspace: Workspace, big_project: str
) -> None:
    project = big_project
    env = {**os.environ, "AISTUDIO_MEMORY_LIMIT_MB": ISSUE_MACHINE_MB}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "aistudio.cli",
            "train",
            project,
            "--workspace",
            str(workspace.root),
            "--image-size",
            "1024",
            "--batch-size",
            "32",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 2, result.stderr
    assert "more than this machine can give it" in result.stderr
    assert "batch size (now 32)" in result.stderr


def test_a_run_of_hours_is_announced_but_allowed(workspace: Workspace, project: str) -> None:
    plan = commands.check_training(
        workspace, project, "x", "default", tiny(image_size=512, epochs=5000)
    )
    assert plan.refusal is None
    assert any("5000 epochs would take about" in w for w in plan.warnings), plan.warnings
    event = commands.request_training(
        workspace, project, "long", "default", tiny(image_size=512, epochs=5000)
    )
    assert event.type == "TrainingRequested"
