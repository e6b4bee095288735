"""The Evaluation page: the list of trained experiments, run / cancel / reset, progress and
failures from the log, figures from a report, per-image results (filters, sorting, detail,
relabel flags), empty states and time travel.

No model runs here: the tests append what training and evaluation jobs would (checkpoints,
``EvaluationCompleted`` naming result files written first) and call the page's callbacks and
functions directly.
"""

from __future__ import annotations

import hashlib
import json
import sys
from types import ModuleType
from typing import Any

import dash
import pytest
from dash.exceptions import PreventUpdate

from aistudio import commands
from aistudio.workspace import Workspace
from events import Event, EventLog
from projections.evaluations import EvaluationEntry
from tests.projections.helpers import image
from tests.ui.layout_tree import components as walk
from tests.ui.layout_tree import find, has
from tests.ui.layout_tree import rendered_text as text
from ui.components.evaluation_charts import metric_cards
from ui.components.evaluation_results import (
    TILE_TYPE,
    ResultsQuery,
    query_from_controls,
    query_range,
    range_bounds,
    sort_rows,
)
from ui.state import AppState

CLASSES = ("cat", "dog")
HIDDEN = {"display": "none"}


# ---------------------------------------------------------------------- layout trees
def tile_ids(grid: Any) -> list[str]:
    """The image ids of the result tiles, in order."""
    return [
        c.id["index"]
        for c in walk(grid)
        if isinstance(getattr(c, "id", None), dict) and c.id.get("type") == TILE_TYPE
    ]


# ---------------------------------------------------------------------- fixtures and helpers
@pytest.fixture
def page(dash_app: dash.Dash, ui_state: AppState) -> ModuleType:
    """The page module as Dash loaded it (importing it again would register it twice)."""
    module = next(
        p["module"]
        for p in dash.page_registry.values()
        if p.get("path_template") == "/project/<project_id>/evaluate"
    )
    return sys.modules[module]


def img(n: int) -> str:
    return str(image(n)["image_id"])


def make_project(workspace: Workspace, task: str = "classification", n: int = 20) -> str:
    """A project of ``n`` labelled images (cat/dog, or the value n/2) with the split default."""
    pid = str(commands.create_project(workspace, f"P {task}", task).data["project_id"])
    log = EventLog(workspace.events_path(pid))
    if task == "regression":
        log.append("ImagesAdded", {"images": [image(i, value=i / 2) for i in range(n)]})
    else:
        records = [image(i, label=CLASSES[i % 2]) for i in range(n)]
        log.append("ImagesAdded", {"images": records}, actor="job")
        log.append("ClassesDefined", {"classes": list(CLASSES)}, actor="job")
    commands.create_split(workspace, pid, "default", 0.6, 0.2, 0.2, stratify=False)
    return pid


@pytest.fixture
def project(ui_workspace: Workspace) -> str:
    return make_project(ui_workspace)


def events(workspace: Workspace, project: str) -> list[Event]:
    return commands.events_of(workspace, project)


def append(workspace: Workspace, project: str, type: str, data: dict[str, Any], **kw: Any) -> Event:
    return EventLog(workspace.events_path(project)).append(type, data, **kw)


def train(
    workspace: Workspace,
    project: str,
    name: str,
    checkpoints: tuple[str, ...] = ("best", "last"),
    end: bool = True,
) -> str:
    """An experiment trained for 2 epochs as a job would record it (checkpoint files too)."""
    command = commands.request_training(
        workspace, project, name, "default", {"model": "resnet18", "epochs": 2, "image_size": 32}
    )
    exp, job = str(command.data["experiment_id"]), command.id

    def job_event(type: str, data: dict[str, Any], actor: str = "job") -> None:
        append(workspace, project, type, data, actor=actor, causation=job)

    claim = {"job_id": job, "command_type": "TrainingRequested", "worker_id": "w", "host": "h"}
    job_event("JobClaimed", claim | {"pid": 1}, actor="worker")
    job_event("JobStarted", {"job_id": job, "pid": 2})
    job_event(
        "TrainingStarted",
        {
            "experiment_id": exp,
            "start_epoch": 0,
            "epochs": 2,
            "train_images": 12,
            "val_images": 4,
            "parameters": 1000,
            "device": "cpu",
            "weights": "from scratch",
        },
    )
    for which in checkpoints:
        path = workspace.checkpoint_path(project, exp, which)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"weights " + which.encode())
        saved = {
            "experiment_id": exp,
            "which": which,
            "epoch": 2 if which == "last" else 1,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "size_bytes": path.stat().st_size,
        }
        if which == "best":
            saved |= {"metric": "accuracy", "value": 0.75}
        job_event("CheckpointSaved", saved)
    if end:
        job_event(
            "TrainingCompleted", {"experiment_id": exp, "epochs_completed": 2} | {"duration_s": 3.0}
        )
        job_event("JobSucceeded", {"job_id": job})
    return exp


def write_file(workspace: Workspace, project: str, exp: str, name: str, data: bytes) -> dict:
    path = workspace.experiment_file(project, exp, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)}


def start_job(workspace: Workspace, project: str, command: Event) -> None:
    """The worker claims the evaluation and its process starts."""
    job = command.id
    claim = {"job_id": job, "command_type": "EvaluationRequested", "worker_id": "w", "host": "h"}
    append(workspace, project, "JobClaimed", claim | {"pid": 1}, actor="worker", causation=job)
    append(workspace, project, "JobStarted", {"job_id": job, "pid": 3}, actor="job", causation=job)


def complete(
    workspace: Workspace,
    project: str,
    command: Event,
    rows: list[dict[str, Any]],
    report: dict[str, Any],
    primary: str = "accuracy",
) -> Event:
    """What an evaluation job appends once done: files first, then EvaluationCompleted."""
    exp, job = str(command.data["experiment_id"]), command.id
    lines = b"".join(json.dumps(r).encode() + b"\n" for r in rows)
    results = write_file(workspace, project, exp, "evaluation/results.jsonl", lines)
    report_ref = write_file(
        workspace, project, exp, "evaluation/report.json", json.dumps(report).encode()
    )
    done = append(
        workspace,
        project,
        "EvaluationCompleted",
        {
            "experiment_id": exp,
            "checkpoint": command.data["checkpoint"],
            "checkpoint_epoch": 1,
            "checkpoint_sha256": "ab" * 32,
            "split": "default",
            "subsets": command.data["subsets"],
            "images": len(rows),
            "skipped": 1,
            "trained_seq": command.seq - 1,
            "primary_metric": primary,
            "metrics": report["metrics"],
            "results": results,
            "report": report_ref,
            "duration_s": 2.5,
            "images_per_s": 240.0,
        },
        actor="job",
        causation=job,
    )
    append(workspace, project, "JobSucceeded", {"job_id": job}, actor="job", causation=job)
    return done


def classification_rows() -> list[dict[str, Any]]:
    """Six results: three right, three wrong (image 2 relabelled after training)."""

    def row(n: int, subset: str, prediction: str, confidence: float, changed: bool = False) -> dict:
        target = CLASSES[n % 2]
        other = 1 - confidence
        scores = [confidence, other] if prediction == "cat" else [other, confidence]
        return {
            "image_id": img(n),
            "subset": subset,
            "target": target,
            "prediction": prediction,
            "confidence": confidence,
            "correct": target == prediction,
            "scores": scores,
            "label_changed": changed,
        }

    return [
        row(0, "test", "cat", 0.90),
        row(1, "test", "cat", 0.80),
        row(3, "test", "dog", 0.60),
        row(2, "test", "dog", 0.95, changed=True),
        row(4, "val", "cat", 0.55),
        row(5, "val", "cat", 0.51),
    ]


CONFUSION = [[2, 1], [2, 1]]  # true cat: 0, 4 right, 2 wrong; true dog: 3 right, 1, 5 wrong


def classification_report() -> dict[str, Any]:
    metrics = {
        "accuracy": 0.5,
        "precision_macro": 0.5,
        "recall_macro": 0.5,
        "f1_macro": 0.48,
        "precision_weighted": 0.5,
        "recall_weighted": 0.5,
        "f1_weighted": 0.48,
        "average_precision_macro": 0.66,
    }
    return {
        "task": "classification",
        "classes": list(CLASSES),
        "metrics": metrics,
        "per_class": [
            {"class": "cat", "precision": 0.5, "recall": 0.667, "f1": 0.571, "support": 3}
            | {"average_precision": 0.71},
            {"class": "dog", "precision": 0.5, "recall": 0.333, "f1": 0.4, "support": 3}
            | {"average_precision": 0.61},
        ],
        "confusion_matrix": CONFUSION,
        "pr_curves": [
            {"class": "cat", "precision": [0.5, 0.6, 1.0], "recall": [1.0, 0.7, 0.0]}
            | {"average_precision": 0.71},
            {"class": "dog", "precision": [0.5, 0.4, 1.0], "recall": [1.0, 0.3, 0.0]}
            | {"average_precision": 0.61},
        ],
        "threshold_sweep": [
            {"threshold": 0.0, "images": 6, "coverage": 1.0, "accuracy": 0.5},
            {"threshold": 0.5, "images": 6, "coverage": 1.0, "accuracy": 0.5},
            {"threshold": 0.9, "images": 2, "coverage": 1 / 3, "accuracy": 0.5},
            {"threshold": 1.0, "images": 0, "coverage": 0.0, "accuracy": None},
        ],
    }


def evaluated(workspace: Workspace, project: str, name: str = "Model") -> tuple[str, Event]:
    """A trained experiment with a completed evaluation on test and val."""
    exp = train(workspace, project, name)
    command = commands.request_evaluation(workspace, project, exp, "best", ["val", "test"])
    start_job(workspace, project, command)
    complete(workspace, project, command, classification_rows(), classification_report())
    return exp, command


def runs(page: ModuleType, project: str, selected: str | None, at: int | None = None) -> dict:
    """The live outputs of the list and the selected experiment, by name."""
    sig = page.refresh(1, 0, project, at, None)
    out = page.render_runs(sig, selected, project, at)
    names = ["list", "head", "alerts", "facts", "progress", "cancel", "reset", "empty", "main"]
    parts = dict(zip(names, out, strict=True))
    parts["sig"] = sig
    return parts


def form(page: ModuleType, project: str, selected: str | None, at: int | None = None) -> dict:
    sig = page.refresh(1, 0, project, at, None)
    out = page.render_form(sig, selected, project, at, "classification", None)
    names = ["cp_options", "checkpoint", "subset_options", "subsets", "run_disabled"]
    names += ["run_style", "hint", "sig"]
    return dict(zip(names, out, strict=True))


def metrics(page: ModuleType, project: str, selected: str | None, at: int | None = None) -> Any:
    sig = page.refresh(1, 0, project, at, None)
    children, _ = page.render_metrics(sig, selected, "dark", project, at, "classification", None)
    return children


def results(
    module: ModuleType,
    project: str,
    exp: str,
    task: str = "classification",
    at: int | None = None,
    **query: Any,
) -> dict[str, Any]:
    """The results section's outputs for a query, by name."""
    out = module.results_update(project, exp, at, task, ResultsQuery(**query), 0, None)
    names = ["grid", "count", "flags", "message", "pages", "page", "pager", "sig"]
    return dict(zip(names, out, strict=True))


# ---------------------------------------------------------------------- empty states and list
def test_empty_state_links_to_training(page: ModuleType, project: str) -> None:
    layout = page.layout(project_id=project)
    empty = find(layout, "eval-empty")
    assert empty.style == {} and find(layout, "eval-main").style == HIDDEN
    assert "Train a model first" in text(empty)
    assert find(empty, "eval-train-link").href == f"/project/{project}/train"
    out = runs(page, project, None)
    assert "No trained model yet" in text(out["list"])
    assert out["empty"] == {} and out["main"] == HIDDEN
    assert "No such project" in text(page.layout(project_id="proj-00000000"))


def test_unsupported_task(page: ModuleType, ui_workspace: Workspace) -> None:
    pid = str(
        commands.create_project(ui_workspace, "Parts", "anomaly_detection").data["project_id"]
    )
    layout = page.layout(project_id=pid)
    assert has(layout, "eval-unsupported") and "anomaly detection" in text(layout)
    assert "classification, regression, detection, instance segmentation and segmentation" in text(
        layout
    )
    assert not has(layout, "eval-run")


def test_list_shows_only_experiments_with_a_checkpoint(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    commands.request_training(
        ui_workspace, project, "Queued", "default", {"model": "resnet18", "epochs": 2}
    )
    only_last = train(ui_workspace, project, "Only last", checkpoints=("last",))
    exp, _ = evaluated(ui_workspace, project, "Evaluated")
    layout = page.layout(project_id=project)
    assert find(layout, "eval-main").style == {} and find(layout, "eval-empty").style == HIDDEN
    assert find(layout, "eval-selected").data == exp  # the newest
    out = runs(page, project, exp)
    items = [
        c.id["index"]
        for c in walk(out["list"])
        if isinstance(getattr(c, "id", None), dict) and c.id.get("type") == "eval-exp-item"
    ]
    assert items == [exp, only_last]
    listing = text(out["list"])
    assert "Queued" not in listing and "Not evaluated" in listing
    assert "Evaluated" in listing and "Accuracy 0.5" in listing
    assert "Evaluated" in text(out["head"]) and out["reset"] == {} and out["cancel"] == HIDDEN
    facts = text(out["facts"])
    assert "best (epoch 1)" in facts and "Validation + Test" in facts and "6 images" in facts
    assert "1 skipped" in facts
    # The form offers only the checkpoints the experiment has.
    last_form = form(page, project, only_last)
    assert [o["value"] for o in last_form["cp_options"]] == ["last"]
    assert last_form["checkpoint"] == "last" and last_form["subsets"] == ["test"]
    assert not last_form["run_disabled"] and last_form["run_style"] == {}
    counts = {o["value"]: o["label"] for o in last_form["subset_options"]}
    assert counts["train"].endswith("12 images") and counts["test"].endswith("4 images")
    # An evaluated experiment's form shows its settings, locked.
    done = form(page, project, exp)
    assert done["checkpoint"] == "best" and done["subsets"] == ["val", "test"]
    assert done["run_disabled"] and all(o["disabled"] for o in done["subset_options"])
    assert "Reset the evaluation" in done["hint"]


def test_selection_follows_clicks_and_new_models(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    item = {"type": "eval-exp-item", "index": "exp-0000beef"}
    assert page.chosen_experiment(item, 1, None) == "exp-0000beef"
    with pytest.raises(PreventUpdate):
        page.chosen_experiment(item, 0, None)  # the list was re-rendered
    with pytest.raises(PreventUpdate):
        page.chosen_experiment(item, 2, "exp-0000beef")
    sig = page.refresh(1, 0, project, None, None)
    with pytest.raises(PreventUpdate):
        page.follow_selection(sig, None, project, None)  # nothing to select yet
    exp = train(ui_workspace, project, "First")
    sig = page.refresh(2, 0, project, None, sig)
    assert page.follow_selection(sig, None, project, None) == exp
    with pytest.raises(PreventUpdate):
        page.refresh(3, 0, project, None, sig)  # nothing new


# ---------------------------------------------------------------------- actions
def test_run_appends_evaluation_requested(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    exp = train(ui_workspace, project, "Ready")
    status, version = page.on_run(1, exp, "last", ["val", "test"], project, None, 0)
    command = events(ui_workspace, project)[-1]
    assert command.type == "EvaluationRequested" and command.actor == "ui"
    assert command.data["experiment_id"] == exp and command.data["checkpoint"] == "last"
    assert command.data["subsets"] == ["val", "test"] and version == 1
    assert "queued" in text(status) and "Ready" in text(status)
    out = runs(page, project, exp)
    assert "Queued" in text(out["list"]) and "Waiting for a worker" in text(out["progress"])
    assert out["cancel"] == {} and out["reset"] == HIDDEN
    pending = form(page, project, exp)
    assert pending["run_disabled"] and pending["checkpoint"] == "last"
    assert "Evaluating" in text(metrics(page, project, exp))


@pytest.mark.parametrize(
    ("setup", "subsets", "message"),
    [
        ("evaluated", ["test"], "already has an evaluation: reset it first"),
        ("missing_file", ["test"], "checkpoint file of 'Ready' is missing"),
        ("training", ["test"], "is still running"),
        ("ready", [], "Choose at least one subset"),
    ],
)
def test_refused_runs_say_why_and_append_nothing(
    page: ModuleType,
    project: str,
    ui_workspace: Workspace,
    setup: str,
    subsets: list[str],
    message: str,
) -> None:
    if setup == "evaluated":
        exp, _ = evaluated(ui_workspace, project, "Ready")
    elif setup == "training":
        exp = train(ui_workspace, project, "Ready", end=False)
    else:
        exp = train(ui_workspace, project, "Ready")
    if setup == "missing_file":
        ui_workspace.checkpoint_path(project, exp, "best").unlink()
    before = len(events(ui_workspace, project))
    status, version = page.on_run(1, exp, "best", subsets, project, None, 3)
    assert message in text(status), text(status)
    assert status.color == "danger" and version is dash.no_update
    assert len(events(ui_workspace, project)) == before
    if setup == "training":
        blocked = form(page, project, exp)
        assert blocked["run_disabled"] and "still training" in blocked["hint"]


def test_progress_cancel_and_failure_come_from_the_log(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    exp = train(ui_workspace, project, "Long")
    command = commands.request_evaluation(ui_workspace, project, exp, "best", ["test"])
    start_job(ui_workspace, project, command)
    job = command.id
    append(
        ui_workspace,
        project,
        "JobProgress",
        {"job_id": job, "done": 2, "total": 4, "message": "scored 2 of 4 images"},
        actor="job",
        causation=job,
    )
    before = page.refresh(1, 0, project, None, None)
    append(
        ui_workspace,
        project,
        "JobProgress",
        {"job_id": job, "done": 3, "total": 4, "message": "scored 3 of 4 images"},
        actor="job",
        causation=job,
    )
    assert page.refresh(2, 0, project, None, before) != before  # progress refreshes the page
    out = runs(page, project, exp)
    assert "Evaluating" in text(out["list"]) and "Scored 3 of 4 images" in text(out["progress"])
    assert "75%" in text(out["progress"]) and out["cancel"] == {}
    status, version = page.on_cancel(1, exp, project, None, 0)
    last = events(ui_workspace, project)[-1]
    assert last.type == "CancelRequested" and last.data == {"job_id": job}
    assert last.actor == "ui" and version == 1 and "Cancel requested" in text(status)
    assert "Cancelling" in text(runs(page, project, exp)["list"])
    status, version = page.on_cancel(1, exp, project, None, 1)
    assert "already requested" in text(status) and version is dash.no_update
    append(
        ui_workspace,
        project,
        "JobFailed",
        {"job_id": job, "error": "RuntimeError: out of memory"},
        actor="job",
        causation=job,
    )
    failed = runs(page, project, exp)
    error = find(failed["alerts"], "eval-error")
    assert "Evaluation failed" in text(error) and "RuntimeError: out of memory" in text(error)
    assert "Failed" in text(failed["list"]) and failed["cancel"] == HIDDEN
    assert failed["reset"] == {}
    again = form(page, project, exp)  # a failed evaluation can run again
    assert not again["run_disabled"] and "No figures" in text(metrics(page, project, exp))
    status, _ = page.on_cancel(1, exp, project, None, 2)
    assert "No evaluation of this experiment is running" in text(status)


def test_reset_appends_evaluation_reset_after_confirmation(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    exp, _ = evaluated(ui_workspace, project, "Done")
    results_path = ui_workspace.evaluation_results_path(project, exp)
    assert results_path.is_file()
    before = len(events(ui_workspace, project))
    is_open, body, error, version, status = page.reset_dialog(
        "eval-reset", 1, exp, project, None, 0
    )
    assert is_open and "Done" in text(body) and error is None and version is dash.no_update
    assert len(events(ui_workspace, project)) == before  # opening the dialog changes nothing
    closed = page.reset_dialog("eval-delete-cancel", 1, exp, project, None, 0)
    assert closed[0] is False and len(events(ui_workspace, project)) == before
    is_open, _, error, version, status = page.reset_dialog(
        "eval-delete-confirm", 1, exp, project, None, 0
    )
    last = events(ui_workspace, project)[-1]
    assert last.type == "EvaluationReset" and last.data == {"experiment_id": exp}
    assert last.actor == "ui" and not is_open and version == 1 and "reset" in text(status)
    assert not results_path.exists()
    out = runs(page, project, exp)
    assert "Not evaluated" in text(out["list"]) and out["reset"] == HIDDEN
    # A second confirm (say, from another tab) is refused with the command's reason.
    is_open, _, error, version, _ = page.reset_dialog(
        "eval-delete-confirm", 1, exp, project, None, 1
    )
    assert is_open and "has no evaluation to reset" in text(error)
    assert version is dash.no_update
    with pytest.raises(PreventUpdate):
        page.reset_dialog("eval-reset", 1, exp, project, 5, 1)  # the past is read-only


# ---------------------------------------------------------------------- figures
def test_classification_figures_come_from_the_report(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    exp, _ = evaluated(ui_workspace, project)
    children = metrics(page, project, exp)
    cards = find(children, "eval-cards")
    card_text = text(cards)
    assert "Accuracy" in card_text and "0.5" in card_text and "F1 macro" in card_text
    first = next(c for c in walk(cards) if isinstance(getattr(c, "id", None), dict))
    assert first.id["index"] == "accuracy"  # the primary metric first
    confusion = find(children, "eval-fig-confusion").figure
    heatmap = confusion.data[0]
    assert [list(r) for r in heatmap.text] == CONFUSION
    assert list(heatmap.x) == list(CLASSES) and list(heatmap.y) == list(CLASSES)
    assert heatmap.texttemplate == "%{text}"  # the counts are written in the cells
    assert confusion.layout.template.layout.paper_bgcolor is not None  # themed
    bars = {t.name: list(t.y) for t in find(children, "eval-fig-per-class").figure.data}
    assert bars == {"precision": [0.5, 0.5], "recall": [0.667, 0.333], "F1": [0.571, 0.4]}
    pr = [t.name for t in find(children, "eval-fig-pr").figure.data]
    assert pr == ["cat (AP 0.710)", "dog (AP 0.610)"]
    sweep = {t.name: list(t.y) for t in find(children, "eval-fig-threshold").figure.data}
    assert sweep["coverage (images kept)"][2] == pytest.approx(1 / 3)
    assert sweep["accuracy of the kept images"][-1] is None


def test_regression_figures_and_results(page: ModuleType, ui_workspace: Workspace) -> None:
    project = make_project(ui_workspace, "regression")
    exp = train(ui_workspace, project, "Values")
    command = commands.request_evaluation(ui_workspace, project, exp, "best", ["test"])
    start_job(ui_workspace, project, command)
    # Image n has the value n / 2; targets come back from the model in float32.
    truth = {0: 1.4e-7, 1: 0.5, 2: 0.99999984, 3: 1.5}
    predicted = {0: 0.1, 1: 2.5, 2: 0.9, 3: 1.0}
    rows = [
        {
            "image_id": img(n),
            "subset": "test",
            "target": truth[n],
            "prediction": predicted[n],
            "error": predicted[n] - truth[n],
            "abs_error": abs(predicted[n] - truth[n]),
            "label_changed": False,
        }
        for n in truth
    ]
    report = {
        "task": "regression",
        "metrics": {"mae": 0.675, "rmse": 1.03, "r2": -0.9, "median_absolute_error": 0.3}
        | {"max_error": 2.0},
        "residual_histogram": {"edges": [-0.5, 0.0, 0.5, 1.0, 1.5, 2.0], "counts": [1, 2, 0, 0, 1]},
        "target_range": [0.0, 1.5],
    }
    complete(ui_workspace, project, command, rows, report, primary="mae")
    assert find(page.layout(project_id=project), "eval-f-wrong-col").style == HIDDEN
    sig = page.refresh(1, 0, project, None, None)
    children, _ = page.render_metrics(sig, exp, "light", project, None, "regression", None)
    cards = text(find(children, "eval-cards"))
    assert "MAE" in cards and "RMSE" in cards and "R²" in cards and "0.675" in cards
    scatter = find(children, "eval-fig-scatter").figure
    line, points = scatter.data
    assert list(line.x) == list(line.y)  # y = x
    assert list(points.x) == list(truth.values()) and list(points.y) == list(predicted.values())
    residuals = find(children, "eval-fig-residuals").figure.data[0]
    assert list(residuals.y) == [1, 2, 0, 0, 1] and residuals.x[0] == -0.25
    # Largest error first by default; the error range filters on the absolute error.
    out = results(page, project, exp, "regression")
    assert tile_ids(out["grid"]) == [img(1), img(3), img(0), img(2)]
    assert "err +2" in text(out["grid"]) and not out["flags"]  # float32 targets are the same
    shown = find(out["grid"], {"type": TILE_TYPE, "index": img(2)})
    parts = {
        c.className.split()[0]: c.children
        for c in walk(shown)
        if (getattr(c, "className", None) or "").startswith("eval-tile-")
        and isinstance(c.children, str)
    }
    assert parts["eval-tile-target"] == "1" and parts["eval-tile-prediction"] == "0.9"
    assert parts["eval-tile-measure"] == "err -0.1"
    commands.change_label(ui_workspace, project, img(3), value=1.6)
    relabelled = results(page, project, exp, "regression")
    assert "1 relabelled after evaluation" in text(relabelled["flags"])
    narrow = results(page, project, exp, "regression", low=0.2, high=0.6)
    assert tile_ids(narrow["grid"]) == [img(3)]
    tolerance_ok = [
        c for c in walk(out["grid"]) if "eval-tile-ok" in (getattr(c, "className", None) or "")
    ]
    assert len(tolerance_ok) == 2  # errors 0.1 within a tenth of the range (0.15)
    low, high, step = range_bounds(rows, "regression")
    assert (low, high) == (0.0, 2.0) and step == 0.02
    is_open, _, body = page.detail_dialog(
        project, exp, None, "regression", {"type": TILE_TYPE, "index": img(1)}, 1, "light"
    )
    assert is_open and "+2 (absolute 2)" in text(body) and not has(body, "eval-detail-scores")


# ---------------------------------------------------------------------- per-image results
def test_results_filters_and_sorting(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    exp, _ = evaluated(ui_workspace, project)
    default = results(page, project, exp)
    # Mistakes first, most confident first; then the right ones, least confident first.
    assert tile_ids(default["grid"]) == [img(2), img(1), img(5), img(4), img(3), img(0)]
    assert default["count"] == "6 images match" and default["pager"] == HIDDEN
    cases: list[tuple[dict[str, Any], list[int]]] = [
        ({"wrong_only": True}, [2, 1, 5]),
        ({"true_class": "dog"}, [1, 5, 3]),
        ({"predicted_class": "dog"}, [2, 3]),
        ({"true_class": "cat", "predicted_class": "cat"}, [4, 0]),
        ({"subset": "val"}, [5, 4]),
        ({"low": 0.56, "high": 0.85}, [1, 3]),
        ({"wrong_only": True, "subset": "test", "high": 0.9}, [1]),
        ({"sort": "confidence_asc"}, [5, 4, 3, 1, 0, 2]),
        ({"sort": "confidence_desc"}, [2, 0, 1, 3, 4, 5]),
        ({"sort": "name"}, [0, 1, 2, 3, 4, 5]),
    ]
    for query, expected in cases:
        out = results(page, project, exp, **query)
        assert tile_ids(out["grid"]) == [img(n) for n in expected], query
    none = results(page, project, exp, true_class="cat", predicted_class="dog", low=0.99)
    assert tile_ids(none["grid"]) == [] and has(none["grid"], "eval-no-results")
    assert none["count"] == "0 images match (of 6)"
    # The slider's ends are open bounds; its inside values close them.
    assert query_range([0, 1], [0, 1]) == (None, None)
    assert query_range([0.2, 1], [0, 1]) == (0.2, None)
    # Tiles: thumbnail address, target -> prediction, confidence, red or green.
    grid = default["grid"]
    first = find(grid, {"type": TILE_TYPE, "index": img(2)})
    assert "eval-tile-wrong" in first.className and "cat" in text(first) and "95%" in text(first)
    thumb = next(c for c in walk(first) if type(c).__name__ == "Img")
    assert thumb.src == f"/media/{project}/thumb/{img(2)}"
    assert "eval-tile-ok" in find(grid, {"type": TILE_TYPE, "index": img(0)}).className
    # The section is rebuilt only when what it shows changed.
    query = query_from_controls(False, None, None, None, "mistakes", [0, 1], [0, 1], 1)
    out = page.results_update(project, exp, None, "classification", query, 0, None)
    with pytest.raises(PreventUpdate):
        page.results_update(project, exp, None, "classification", query, 0, out[-1])
    page.results_update(project, exp, None, "classification", query, 1, out[-1])  # relabelled


def test_results_paging(page: ModuleType, ui_workspace: Workspace) -> None:
    project = make_project(ui_workspace, n=60)
    exp = train(ui_workspace, project, "Many")
    command = commands.request_evaluation(ui_workspace, project, exp, "best", ["train", "test"])
    rows = [
        {
            "image_id": img(n),
            "subset": "train",
            "target": CLASSES[n % 2],
            "prediction": CLASSES[n % 2],
            "confidence": 0.5 + n / 200,
            "correct": True,
            "scores": [0.5, 0.5],
            "label_changed": False,
        }
        for n in range(60)
    ]
    complete(ui_workspace, project, command, rows, classification_report())
    first = results(page, project, exp)
    assert first["pages"] == 2 and first["page"] == 1 and first["pager"] == {}
    assert len(tile_ids(first["grid"])) == 48 and tile_ids(first["grid"])[0] == img(0)
    second = results(page, project, exp, page=2)
    assert tile_ids(second["grid"]) == [img(n) for n in range(48, 60)]
    past_end = results(page, project, exp, page=9)
    assert past_end["page"] == 2


def test_detail_dialog(page: ModuleType, project: str, ui_workspace: Workspace) -> None:
    exp, _ = evaluated(ui_workspace, project)
    is_open, title, body = page.detail_dialog(
        project, exp, None, "classification", {"type": TILE_TYPE, "index": img(2)}, 1, "dark"
    )
    assert is_open and title == image(2)["filename"]
    full = next(c for c in walk(body) if type(c).__name__ == "Img")
    assert full.src == f"/media/{project}/image/{img(2)}"
    table = text(find(body, "eval-detail-table"))
    assert "True cat" in table and "Predicted dog" in table and "95.0%" in table
    assert "wrong" in table
    assert has(body, "eval-detail-flag-trained")
    assert "relabelled after training" in text(body).casefold()
    scores = find(body, "eval-detail-scores").figure.data[0]
    assert list(scores.y) == list(CLASSES) and list(scores.x) == pytest.approx([0.05, 0.95])
    with pytest.raises(PreventUpdate):
        page.detail_dialog(
            project, exp, None, "classification", {"type": TILE_TYPE, "index": "img-x"}, 1, None
        )
    with pytest.raises(PreventUpdate):
        page.detail_dialog(  # the grid was re-rendered: nothing clicked
            project, exp, None, "classification", {"type": TILE_TYPE, "index": img(2)}, 0, None
        )


def test_relabel_flags(page: ModuleType, project: str, ui_workspace: Workspace) -> None:
    exp, _ = evaluated(ui_workspace, project)
    before = results(page, project, exp)
    flags = text(before["flags"])
    assert "1 relabelled after training" in flags and "after evaluation" not in flags
    tile = find(before["grid"], {"type": TILE_TYPE, "index": img(2)})
    assert "relabelled after training" in text(tile)
    # Image 3 (a dog) is relabelled cat after the evaluation; image 0 is removed.
    commands.change_label(ui_workspace, project, img(3), label="cat")
    commands.remove_image(ui_workspace, project, img(0))
    sig = page.refresh(1, 0, project, None, None)
    assert sig["labels"] != page.page_signature(*page.views(project, 3))["labels"]
    assert 0 <= sig["labels"] < 2**53  # a JavaScript number gives it back unchanged
    after = results(page, project, exp)
    flags = text(after["flags"])
    assert "1 relabelled after evaluation" in flags and "1 removed since" in flags
    relabelled = find(after["grid"], {"type": TILE_TYPE, "index": img(3)})
    assert "relabelled after evaluation" in text(relabelled)
    removed = find(after["grid"], {"type": TILE_TYPE, "index": img(0)})
    completed_seq = page.views(project)[1].get(exp).completed_seq
    thumb = next(c for c in walk(removed) if type(c).__name__ == "Img")
    assert thumb.src == f"/media/{project}/thumb/{img(0)}?at={completed_seq}"
    _, _, body = page.detail_dialog(
        project, exp, None, "classification", {"type": TILE_TYPE, "index": img(3)}, 1, None
    )
    assert "Label now cat" in text(find(body, "eval-detail-table"))
    assert has(body, "eval-detail-flag-evaluated")


def test_missing_files_show_the_commands_reason(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    exp, _ = evaluated(ui_workspace, project)
    path = ui_workspace.evaluation_report_path(project, exp)
    path.write_bytes(path.read_bytes().replace(b"cat", b"cow"))  # same size, other content
    children = metrics(page, project, exp)
    assert has(children, "eval-cards")  # the headline figures come from the log
    error = find(children, "eval-metrics-error")
    assert "report.json has changed since the evaluation wrote it" in text(error)
    out = results(page, project, exp)
    assert "changed since" in text(find(out["message"], "eval-results-error"))


# ---------------------------------------------------------------------- time travel
def test_time_travel_is_read_only(page: ModuleType, project: str, ui_workspace: Workspace) -> None:
    exp = train(ui_workspace, project, "Past")
    command = commands.request_evaluation(ui_workspace, project, exp, "best", ["test"])
    start_job(ui_workspace, project, command)
    done = complete(ui_workspace, project, command, classification_rows(), classification_report())
    commands.reset_evaluation(ui_workspace, project, exp)
    # Right after the request: pending, nothing can be done.
    layout = page.layout(project_id=project, at=str(command.seq))
    assert has(layout, "time-travel-banner") and find(layout, "eval-at").data == command.seq
    past = runs(page, project, exp, at=command.seq)
    assert "Queued" in text(past["list"])
    assert past["cancel"] == HIDDEN and past["reset"] == HIDDEN
    frozen = form(page, project, exp, at=command.seq)
    assert frozen["run_disabled"] and frozen["run_style"] == HIDDEN
    assert all(o["disabled"] for o in frozen["cp_options"] + frozen["subset_options"])
    with pytest.raises(PreventUpdate):
        page.refresh(2, 0, project, command.seq, past["sig"])
    before = len(events(ui_workspace, project))
    status, _ = page.on_run(1, exp, "best", ["test"], project, command.seq, 0)
    assert "view of the past" in text(status) and len(events(ui_workspace, project)) == before
    # Right after it completed: its figures as then, but the files were deleted by the reset.
    then = runs(page, project, exp, at=done.seq)
    assert "Evaluated" in text(then["list"]) and then["reset"] == HIDDEN
    children = metrics(page, project, exp, at=done.seq)
    assert has(children, "eval-cards")
    assert "no longer exists" in text(find(children, "eval-metrics-error"))
    now = runs(page, project, exp)
    assert "Not evaluated" in text(now["list"])
    assert "No event #999" in text(page.layout(project_id=project, at="999"))


def test_time_travel_results_and_thumbnails(
    page: ModuleType, project: str, ui_workspace: Workspace
) -> None:
    exp, command = evaluated(ui_workspace, project)
    done_seq = page.views(project)[1].get(exp).completed_seq
    commands.change_label(ui_workspace, project, img(3), label="cat")
    past = results(page, project, exp, at=done_seq)
    assert "after evaluation" not in text(past["flags"])  # the label was still dog then
    tile = find(past["grid"], {"type": TILE_TYPE, "index": img(3)})
    thumb = next(c for c in walk(tile) if type(c).__name__ == "Img")
    assert thumb.src == f"/media/{project}/thumb/{img(3)}?at={done_seq}"
    assert "after evaluation" in text(results(page, project, exp)["flags"])
    before_eval = results(page, project, exp, at=command.seq - 1)
    assert tile_ids(before_eval["grid"]) == [] and "once the evaluation" in text(
        before_eval["message"]
    )


def test_sort_ties_break_by_name() -> None:
    rows = [
        {"image_id": "img-2", "confidence": 0.5, "correct": False},
        {"image_id": "img-1", "confidence": 0.5, "correct": False},
    ]
    names = {"img-1": "b.png", "img-2": "a.png"}
    assert [r["image_id"] for r in sort_rows(rows, "classification", None, names)] == [
        "img-2",
        "img-1",
    ]


def test_top_k_cards_when_the_report_has_them() -> None:
    entry = EvaluationEntry(
        experiment_id="exp-0000beef",
        job_id="evt-0000000000000001",
        checkpoint="best",
        subsets=("test",),
        requested_seq=1,
        requested_ts="2026-01-01T00:00:00.000Z",
        actor="ui",
        status="completed",
        images=30,
        primary_metric="accuracy",
        metrics={"f1_macro": 0.7, "accuracy": 0.8, "top3_accuracy": 0.95, "top5_accuracy": 1.0},
    )
    cards = metric_cards(entry, "classification")
    names = [c.id["index"] for c in walk(cards) if isinstance(getattr(c, "id", None), dict)]
    assert names == ["accuracy", "f1_macro", "top3_accuracy", "top5_accuracy"]
    assert "Top-3 accuracy 0.95" in text(cards) and "30" in text(cards)
