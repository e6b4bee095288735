"""Evaluation and export commands: checked against the project, then one event, or nothing.

No torch: a trained experiment is a table of events plus checkpoint files on disk (the jobs
themselves are tested in tests/evaluation and tests/export).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aistudio import commands
from aistudio.cli import cli
from aistudio.commands import CommandError
from aistudio.workspace import Workspace
from events import EventLog
from tests.commands.test_training_commands import add_images, append_split
from tests.helpers import events_of, make_project

EXP = "exp-0000beef"
SHA = "ab" * 32


# ---------------------------------------------------------------------- a trained experiment
def _log(workspace: Workspace, project_id: str) -> EventLog:
    return EventLog(workspace.events_path(project_id))


def trained_project(
    workspace: Workspace, checkpoints: tuple[str, ...] = ("best", "last"), ended: bool = True
) -> str:
    """A project with 12 labelled images split 6/3/3 and one experiment with checkpoints."""
    project_id = make_project(workspace)
    add_images(workspace, project_id, 12)
    append_split(workspace, project_id, "default", list(range(6)), list(range(6, 9)))
    log = _log(workspace, project_id)
    split = next(e for e in log.read() if e.type == "SplitCreated")
    # put images 9..11 in test: re-append the split with a test subset
    data = dict(split.data)
    ids = [f"img-{i:08x}" for i in range(12)]
    data["assignments"] = {"train": ids[:6], "val": ids[6:9], "test": ids[9:]}
    log.append("SplitDeleted", {"name": "default"}, actor="cli")
    log.append("SplitCreated", data, actor="cli")
    command = log.append(
        "TrainingRequested",
        {
            "experiment_id": EXP,
            "name": "first",
            "split": "default",
            "config": {"model": "resnet18", "epochs": 1},
        },
        actor="cli",
    )
    for which in checkpoints:
        path = workspace.checkpoint_path(project_id, EXP, which)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"weights")
        log.append(
            "CheckpointSaved",
            {"experiment_id": EXP, "which": which, "epoch": 1, "sha256": SHA, "size_bytes": 7},
            actor="job",
            causation=command.id,
        )
    if ended:
        log.append("JobSucceeded", {"job_id": command.id}, actor="job", causation=command.id)
    return project_id


def complete_evaluation(workspace: Workspace, project_id: str, job_id: str) -> dict[str, Any]:
    """Write evaluation files and append ``EvaluationCompleted`` as the job would."""
    folder = workspace.evaluation_dir(project_id, EXP)
    folder.mkdir(parents=True, exist_ok=True)
    rows = b'{"image_id":"img-00000009","target":"dog","prediction":"cat"}\n'
    report = b'{"task":"classification","classes":["cat","dog"]}'
    refs = {}
    for key, name, content in (
        ("results", "results.jsonl", rows),
        ("report", "report.json", report),
    ):
        (folder / name).write_bytes(content)
        refs[key] = {
            "name": f"evaluation/{name}",
            "sha256": hashlib.sha256(content).hexdigest(),
            "size_bytes": len(content),
        }
    data = {
        "experiment_id": EXP,
        "checkpoint": "best",
        "checkpoint_epoch": 1,
        "checkpoint_sha256": SHA,
        "split": "default",
        "subsets": ["test"],
        "images": 1,
        "trained_seq": 1,
        "primary_metric": "accuracy",
        "metrics": {"accuracy": 0.0},
        **refs,
        "duration_s": 0.1,
    }
    log = _log(workspace, project_id)
    log.append("EvaluationCompleted", data, actor="job", causation=job_id)
    log.append("JobSucceeded", {"job_id": job_id}, actor="job", causation=job_id)
    return data


def refused(workspace: Workspace, project_id: str, match: str, call: Any) -> None:
    """``call()`` raises CommandError matching ``match`` and appends nothing."""
    before = len(events_of(workspace, project_id))
    with pytest.raises(CommandError, match=match):
        call()
    assert len(events_of(workspace, project_id)) == before


# ---------------------------------------------------------------------- evaluation
def test_request_evaluation_appends_one_command(workspace: Workspace) -> None:
    project_id = trained_project(workspace)
    event = commands.request_evaluation(
        workspace, project_id, "first", "last", ["test", "val"], actor="ui"
    )
    assert event.type == "EvaluationRequested" and event.actor == "ui"
    assert event.data == {
        "experiment_id": EXP,
        "checkpoint": "last",
        "subsets": ["val", "test"],
        "batch_size": 64,
    }
    entry = commands.evaluations_view(workspace, project_id).get(EXP)
    assert entry is not None and entry.job_id == event.id and entry.is_pending


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"experiment": "nope"}, "no experiment 'nope'"),
        ({"checkpoint": "middle"}, "checkpoint must be best or last"),
        ({"subsets": ["tests"]}, "unknown subset 'tests'"),
        ({"subsets": []}, "choose at least one subset"),
        ({"subsets": ["", " "]}, "choose at least one subset"),
    ],
)
def test_bad_evaluation_requests_are_refused(
    workspace: Workspace, kwargs: dict[str, Any], match: str
) -> None:
    project_id = trained_project(workspace)
    args = {"experiment": EXP, "checkpoint": "best", "subsets": ["test"], **kwargs}
    refused(
        workspace,
        project_id,
        match,
        lambda: commands.request_evaluation(workspace, project_id, **args),
    )


def test_evaluation_needs_the_checkpoint_in_the_log_and_on_disk(workspace: Workspace) -> None:
    project_id = trained_project(workspace, checkpoints=("last",))
    refused(
        workspace,
        project_id,
        r"has no best checkpoint \(it has: last\)",
        lambda: commands.request_evaluation(workspace, project_id, EXP, "best"),
    )
    workspace.checkpoint_path(project_id, EXP, "last").unlink()
    refused(
        workspace,
        project_id,
        "checkpoint file of 'first' is missing",
        lambda: commands.request_evaluation(workspace, project_id, EXP, "last"),
    )


def test_no_evaluation_while_training(workspace: Workspace) -> None:
    project_id = trained_project(workspace, ended=False)
    refused(
        workspace,
        project_id,
        "still queued: wait for it to end or cancel it",
        lambda: commands.request_evaluation(workspace, project_id, EXP),
    )


def test_subsets_without_annotated_images_are_refused(workspace: Workspace) -> None:
    project_id = trained_project(workspace)
    log = _log(workspace, project_id)
    for i in range(9, 12):
        log.append("LabelChanged", {"image_id": f"img-{i:08x}", "label": None}, actor="ui")
    refused(
        workspace,
        project_id,
        "the test subset of split 'default' has no labelled image",
        lambda: commands.request_evaluation(workspace, project_id, EXP, subsets=["test"]),
    )
    assert commands.request_evaluation(workspace, project_id, EXP, subsets=["val", "test"])


def test_one_evaluation_at_a_time_and_reset(workspace: Workspace) -> None:
    project_id = trained_project(workspace)
    job = commands.request_evaluation(workspace, project_id, EXP)
    refused(
        workspace,
        project_id,
        "is being evaluated",
        lambda: commands.request_evaluation(workspace, project_id, EXP),
    )
    refused(
        workspace,
        project_id,
        "still running: cancel it before resetting",
        lambda: commands.reset_evaluation(workspace, project_id, EXP),
    )
    complete_evaluation(workspace, project_id, job.id)
    refused(
        workspace,
        project_id,
        "already has an evaluation: reset it first",
        lambda: commands.request_evaluation(workspace, project_id, EXP),
    )
    entry = commands.evaluations_view(workspace, project_id).get(EXP)
    rows, report = commands.load_evaluation(workspace, project_id, entry)
    assert rows == [{"image_id": "img-00000009", "target": "dog", "prediction": "cat"}]
    assert report["classes"] == ["cat", "dog"]

    reset = commands.reset_evaluation(workspace, project_id, "first", actor="ui")
    assert reset.type == "EvaluationReset" and reset.data == {"experiment_id": EXP}
    assert commands.evaluations_view(workspace, project_id).get(EXP) is None
    assert not workspace.evaluation_results_path(project_id, EXP).exists()
    assert not workspace.evaluation_report_path(project_id, EXP).exists()
    refused(
        workspace,
        project_id,
        "has no evaluation to reset",
        lambda: commands.reset_evaluation(workspace, project_id, EXP),
    )
    with pytest.raises(CommandError, match="no longer exists"):  # the view as it was, files gone
        commands.load_evaluation(workspace, project_id, entry)
    assert commands.request_evaluation(workspace, project_id, EXP).type == "EvaluationRequested"


def test_reset_leaves_files_that_are_not_the_recorded_ones(workspace: Workspace) -> None:
    project_id = trained_project(workspace)
    job = commands.request_evaluation(workspace, project_id, EXP)
    complete_evaluation(workspace, project_id, job.id)
    report = workspace.evaluation_report_path(project_id, EXP)
    report.write_bytes(b"{}")  # not what the evaluation wrote any more
    commands.reset_evaluation(workspace, project_id, EXP)
    assert report.read_bytes() == b"{}"
    assert not workspace.evaluation_results_path(project_id, EXP).exists()


def test_changed_evaluation_files_are_reported(workspace: Workspace) -> None:
    project_id = trained_project(workspace)
    job = commands.request_evaluation(workspace, project_id, EXP)
    complete_evaluation(workspace, project_id, job.id)
    entry = commands.evaluations_view(workspace, project_id).get(EXP)
    path = workspace.evaluation_results_path(project_id, EXP)
    path.write_bytes(path.read_bytes().replace(b"cat", b"cow"))  # same size, other content
    with pytest.raises(CommandError, match="has changed since the evaluation wrote it"):
        commands.load_evaluation(workspace, project_id, entry)


# ---------------------------------------------------------------------- export
def test_request_export_appends_one_command_with_a_fresh_id(workspace: Workspace) -> None:
    project_id = trained_project(workspace)
    event = commands.request_export(
        workspace, project_id, "first", "last", "torchscript", {"validation_images": 4}, "ui"
    )
    assert event.type == "ExportRequested"
    assert event.data["export_id"].startswith("xpt-") and event.data["format"] == "torchscript"
    assert event.data["options"] == {"opset": 17, "validation_images": 4, "tolerance": 0.001}
    view = commands.exports_view(workspace, project_id)
    assert view.get(event.data["export_id"]).job_id == event.id


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fmt": "tflite"}, "unknown export format 'tflite': choose one of onnx, torchscript"),
        ({"options": {"opset": 5}}, "export option opset"),
        ({"options": {"colour": "red"}}, "export option colour"),
        ({"experiment": "nope"}, "no experiment 'nope'"),
        ({"checkpoint": "best", "experiment": EXP, "fmt": "onnx", "options": None}, None),
    ],
)
def test_bad_export_requests_are_refused(
    workspace: Workspace, kwargs: dict[str, Any], match: str | None
) -> None:
    project_id = trained_project(workspace, checkpoints=("last",))
    args = {"experiment": EXP, "checkpoint": "last", "fmt": "onnx", **kwargs}
    # the last case asks for the best checkpoint, which this experiment lacks
    refused(
        workspace,
        project_id,
        match or "has no best checkpoint",
        lambda: commands.request_export(workspace, project_id, **args),
    )


def _complete_export(workspace: Workspace, project_id: str, passed: bool = True) -> str:
    event = commands.request_export(workspace, project_id, EXP)
    export_id = event.data["export_id"]
    path = workspace.export_path(project_id, EXP, export_id, "onnx")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"onnx bytes")
    data = {
        "export_id": export_id,
        "experiment_id": EXP,
        "checkpoint": "best",
        "checkpoint_epoch": 1,
        "checkpoint_sha256": SHA,
        "format": "onnx",
        "file": {
            "name": f"exports/{export_id}/model.onnx",
            "sha256": hashlib.sha256(b"onnx bytes").hexdigest(),
            "size_bytes": 10,
        },
        "validation": {
            "images": 3,
            "max_abs_diff": 0.0 if passed else 0.5,
            "agreement": 1.0,
            "tolerance": 0.001,
            "passed": passed,
        },
        "duration_s": 0.5,
    }
    _log(workspace, project_id).append("ExportCompleted", data, actor="job", causation=event.id)
    return export_id


def test_export_file_hands_out_only_validated_unchanged_files(workspace: Workspace) -> None:
    project_id = trained_project(workspace)
    good = _complete_export(workspace, project_id)
    path, name = commands.export_file(workspace, project_id, good)
    assert path.read_bytes() == b"onnx bytes" and name == f"first-{good}.onnx"
    bad = _complete_export(workspace, project_id, passed=False)
    with pytest.raises(CommandError, match="is failed: there is no file"):
        commands.export_file(workspace, project_id, bad)
    with pytest.raises(CommandError, match="no export 'xpt-00000000'"):
        commands.export_file(workspace, project_id, "xpt-00000000")
    path.write_bytes(b"other byte")
    with pytest.raises(CommandError, match="has changed since it was exported"):
        commands.export_file(workspace, project_id, good)
    path.unlink()
    with pytest.raises(CommandError, match="missing from the workspace"):
        commands.export_file(workspace, project_id, good)


# ---------------------------------------------------------------------- scripts and the CLI
def test_submit_routes_model_commands_through_the_same_checks(workspace: Workspace) -> None:
    project_id = trained_project(workspace)
    refused(
        workspace,
        project_id,
        "no experiment",
        lambda: commands.submit(
            workspace, project_id, "EvaluationRequested", {"experiment_id": "exp-00000000"}
        ),
    )
    refused(
        workspace,
        project_id,
        "appended by jobs and workers",
        lambda: commands.submit(workspace, project_id, "EvaluationCompleted", {}),
    )
    refused(
        workspace,
        project_id,
        "export_id",
        lambda: commands.submit(workspace, project_id, "ExportRequested", {"experiment_id": EXP}),
    )
    event = commands.submit(
        workspace,
        project_id,
        "ExportRequested",
        {"experiment_id": EXP, "export_id": "xpt-0000abcd", "format": "onnx"},
    )
    assert event.data["export_id"] == "xpt-0000abcd" and event.actor == "script"
    refused(
        workspace,
        project_id,
        "exists already",
        lambda: commands.submit(
            workspace,
            project_id,
            "ExportRequested",
            {"experiment_id": EXP, "export_id": "xpt-0000abcd"},
        ),
    )
    assert commands.submit(workspace, project_id, "EvaluationRequested", {"experiment_id": EXP})


def _cli(workspace: Workspace, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--workspace", str(workspace.root), *args])


@pytest.mark.parametrize(
    "args",
    [
        ["evaluate", "{p}", "nope"],
        ["evaluate", "{p}", EXP, "--checkpoint", "middle"],
        ["evaluate", "{p}", EXP, "--subsets", "test,holdout"],
        ["evaluate", "{p}", EXP, "--reset"],
        ["export", "{p}", "nope"],
        ["export", "{p}", EXP, "--format", "tflite"],
        ["export", "{p}", EXP, "--checkpoint", "best"],
    ],
)
def test_bad_cli_requests_exit_2_and_append_nothing(workspace: Workspace, args: list[str]) -> None:
    project_id = trained_project(workspace, checkpoints=("last",))
    before = len(events_of(workspace, project_id))
    result = _cli(workspace, *[a.format(p=project_id) for a in args])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() and len(events_of(workspace, project_id)) == before


def test_cli_evaluate_and_show(workspace: Workspace, tmp_path: Path) -> None:
    project_id = trained_project(workspace)
    result = _cli(workspace, "evaluate", project_id, "first", "--subsets", "val,test")
    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip()
    complete_evaluation(workspace, project_id, job_id)
    shown = json.loads(_cli(workspace, "show", project_id, "evaluation").stdout)
    assert shown["evaluations"][EXP]["status"] == "completed"
    assert shown["evaluations"][EXP]["metrics"] == {"accuracy": 0.0}
    export_id = _complete_export(workspace, project_id)
    shown = json.loads(_cli(workspace, "show", project_id, "exports").stdout)
    assert shown["exports"][export_id]["validation"]["passed"] is True
    reset = _cli(workspace, "evaluate", project_id, "first", "--reset")
    assert reset.exit_code == 0 and events_of(workspace, project_id)[-1].type == "EvaluationReset"


def _views(workspace: Workspace, project_id: str) -> commands.ModelViews:
    from projections import (
        rebuild_dataset,
        rebuild_evaluations,
        rebuild_experiments,
        rebuild_exports,
    )

    events = events_of(workspace, project_id)
    return commands.ModelViews(
        rebuild_dataset(events),
        rebuild_experiments(events),
        rebuild_evaluations(events),
        rebuild_exports(events),
    )


def test_the_callers_views_are_used_and_stale_ones_are_caught(workspace: Workspace) -> None:
    project_id = trained_project(workspace)
    views = _views(workspace, project_id)
    assert views.seq == events_of(workspace, project_id)[-1].seq
    first = commands.request_evaluation(workspace, project_id, EXP, views=views)
    assert first.seq == views.seq + 1  # appended with expected_seq = the views' seq
    # The same (now stale) views again: the append is refused as out of date, the log is read
    # afresh, and the request is refused for what the log says now.
    refused(
        workspace,
        project_id,
        "is being evaluated",
        lambda: commands.request_evaluation(workspace, project_id, EXP, views=views),
    )
    export = commands.request_export(workspace, project_id, EXP, views=views)
    assert export.type == "ExportRequested"  # stale views, then a fresh check that passes
    mixed = views._replace(exports=_views(workspace, project_id).exports)
    assert mixed.seq == -1  # views of different seqs are not used
    assert commands.request_export(workspace, project_id, EXP, views=mixed)
