"""``aistudio train --wait`` end to end: classification and regression on 32 px digits."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner, Result

from aistudio.cli import cli
from aistudio.tasks.registry import get_task
from aistudio.workspace import Workspace
from tests.helpers import events_of, job_events
from tests.training.support import TINY, digits_project, of_experiment, of_job


def _train(workspace: Workspace, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--workspace", str(workspace.root), "train", *args])


def _check_run(workspace: Workspace, project_id: str, task: str, epochs: int, out: str) -> str:
    """The run's events and files are all there; returns the experiment id."""
    job_id = out.splitlines()[0].strip()
    assert job_id.startswith("evt-")
    types = [e.type for e in job_events(workspace, project_id, job_id)]
    assert types[:2] == ["JobClaimed", "JobStarted"]
    assert types[-2:] == ["TrainingCompleted", "JobSucceeded"]
    assert types.count("TrainingStarted") == 1
    assert types.count("EpochCompleted") == epochs
    assert "JobProgress" in types
    (started,) = of_job(workspace, project_id, job_id, "TrainingStarted")
    exp = started.data["experiment_id"]
    assert started.data["start_epoch"] == 0 and started.data["epochs"] == epochs
    assert started.data["parameters"] > 100_000
    assert started.data["weights"]  # "imagenet" or why it trains from scratch

    primary = get_task(task).primary_metric
    epochs_done = of_experiment(workspace, project_id, exp, "EpochCompleted")
    assert [e.data["epoch"] for e in epochs_done] == list(range(1, epochs + 1))
    for epoch in epochs_done:
        assert epoch.data["train_loss"] > 0
        assert epoch.data["val_loss"] is not None
        assert primary in epoch.data["metrics"]
        assert epoch.data["lr"] > 0 and epoch.data["images_per_s"] > 0

    saved = of_experiment(workspace, project_id, exp, "CheckpointSaved")
    lasts = [e for e in saved if e.data["which"] == "last"]
    bests = [e for e in saved if e.data["which"] == "best"]
    assert [e.data["epoch"] for e in lasts] == list(range(1, epochs + 1))
    assert bests and bests[0].data["epoch"] == 1 and bests[0].data["metric"] == primary
    for which, event in [("last", lasts[-1]), ("best", bests[-1])]:
        path = workspace.checkpoint_path(project_id, exp, which)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == event.data["sha256"]
        assert path.stat().st_size == event.data["size_bytes"]
    assert not list(path.parent.glob(".*"))  # no temporary file left

    (done,) = of_experiment(workspace, project_id, exp, "TrainingCompleted")
    assert done.data["epochs_completed"] == epochs and not done.data["stopped_early"]
    assert done.data["best_epoch"] == bests[-1].data["epoch"]
    assert done.data["best_value"] == bests[-1].data["value"]
    assert f"best {primary}" in out.splitlines()[-1]
    return exp


def test_classification_through_the_cli(workspace: Workspace, tmp_path: Path) -> None:
    project_id = digits_project(workspace, tmp_path, "classification")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**TINY, "num_workers": 2, "epochs": 5}))
    result = _train(
        workspace,
        project_id,
        "--config",
        str(config),
        "--epochs",  # the options override the file
        "2",
        "--model",
        "resnet18",
        "--name",
        "first",
        "--wait",
    )
    assert result.exit_code == 0, result.output
    exp = _check_run(workspace, project_id, "classification", 2, result.stdout)
    assert f"training {exp} (first): resnet18, 2 epochs" in result.stderr
    shown = CliRunner().invoke(
        cli, ["--workspace", str(workspace.root), "show", project_id, "experiments"]
    )
    assert shown.exit_code == 0, shown.output
    entry = json.loads(shown.stdout)["experiments"][exp]
    assert entry["status"] == "completed" and len(entry["history"]) == 2


def test_regression_through_the_cli(workspace: Workspace, tmp_path: Path) -> None:
    project_id = digits_project(workspace, tmp_path, "regression")
    result = _train(
        workspace,
        "Digits regression",
        "--model",
        "mobilenet_v3_small",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--image-size",
        "32",
        "--lr",
        "0.002",
        "--wait",
    )
    assert result.exit_code == 0, result.output
    _check_run(workspace, project_id, "regression", 2, result.stdout)


def test_invalid_training_is_refused_with_a_reason(workspace: Workspace, tmp_path: Path) -> None:
    project_id = digits_project(workspace, tmp_path, n_per_class=2)
    before = len(events_of(workspace, project_id))
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"optimizer": "rmsprop"}')
    not_json = tmp_path / "not.json"
    not_json.write_text("epochs: 3")
    cases = [
        (["--model", "vgg99"], "unknown model 'vgg99'"),
        (["--lr", "-1"], "lr"),
        (["--epochs", "0"], "epochs"),
        (["--config", str(bad_json)], "optimizer"),
        (["--config", str(not_json)], "not valid JSON"),
        (["--split", "nope"], "no split named 'nope'"),
        (["--resume", "exp-00000000", "--model", "resnet18"], "only --epochs"),
        (["--resume", "nothing-like-it"], "no experiment"),
    ]
    for args, needle in cases:
        result = _train(workspace, project_id, *args)
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.stderr, (args, result.stderr)
        assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    assert len(events_of(workspace, project_id)) == before  # nothing appended
