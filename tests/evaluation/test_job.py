"""The EvaluationRequested job end to end: a real worker, a trained experiment, its files.

Each test gets a private copy of an experiment trained once per session (``tests/trained.py``).
Every figure the job stores is recomputed here with scikit-learn from the rows of its results
file, and every prediction with the checkpoint's model run independently.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
import torch
from scipy.special import softmax
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    max_error,
    mean_absolute_error,
    median_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    root_mean_squared_error,
    top_k_accuracy_score,
)

from aistudio.evaluation.results import read_results
from aistudio.tasks import get_task
from aistudio.training.checkpoints import load_model, target_info_of
from aistudio.training.data import decode_image, to_model_input
from aistudio.worker.runner import run_job
from aistudio.worker.service import Worker
from events import Event, EventLog
from projections import dataset as dataset_projection
from projections import experiments as experiments_projection
from tests.evaluation.support import assert_plain_json
from tests.helpers import events_of, terminal_events
from tests.trained import Trained
from tests.training.support import of_job

pytestmark = pytest.mark.slow


def _log(trained: Trained) -> EventLog:
    return EventLog(trained.workspace.events_path(trained.project_id))


def _request(trained: Trained, **data: Any) -> Event:
    payload = {"experiment_id": trained.experiment_id, **data}
    return _log(trained).append("EvaluationRequested", payload, actor="script")


def _relabel(trained: Trained, image_id: str, **data: Any) -> None:
    _log(trained).append("LabelChanged", {"image_id": image_id, **data}, actor="script")


def _only_end(trained: Trained, job_id: str) -> Event:
    ends = terminal_events(trained.workspace, trained.project_id, job_id)
    assert len(ends) == 1, ends
    return ends[0]


def _completed(trained: Trained, job_id: str) -> dict[str, Any]:
    end = _only_end(trained, job_id)
    assert end.type == "JobSucceeded", end.data
    done = of_job(trained.workspace, trained.project_id, job_id, "EvaluationCompleted")
    assert len(done) == 1
    assert done[0].txn is not None and done[0].txn == end.txn  # appended together
    return done[0].data


def _files(trained: Trained, data: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows and the report the event names, read through their recorded sha256."""
    ws, pid, exp = trained.workspace, trained.project_id, trained.experiment_id
    assert data["results"]["name"] == "evaluation/results.jsonl"
    assert data["report"]["name"] == "evaluation/report.json"
    results = ws.read_experiment_file(pid, exp, data["results"]["name"], data["results"]["sha256"])
    report = ws.read_experiment_file(pid, exp, data["report"]["name"], data["report"]["sha256"])
    assert len(results) == data["results"]["size_bytes"]
    return read_results(results), orjson.loads(report)


def _state(trained: Trained) -> tuple[dataset_projection.DatasetView, Any, list[Event]]:
    events = events_of(trained.workspace, trained.project_id)
    entry = experiments_projection.rebuild(events).get(trained.experiment_id)
    assert entry is not None
    return dataset_projection.rebuild(events), entry, events


def _model_outputs(
    trained: Trained, which: str, image_ids: list[str]
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Outputs of the checkpoint's model, loaded and run here image by image; its metadata."""
    ws, pid = trained.workspace, trained.project_id
    view, _entry, _events = _state(trained)
    task = get_task(trained.task)
    model, meta = load_model(ws.checkpoint_path(pid, trained.experiment_id, which), task)
    outputs = []
    with torch.inference_mode():
        for image_id in image_ids:
            entry = view.images[image_id]
            image = decode_image(ws.image_path(pid, entry.sha256, entry.ext), meta["image_size"])
            outputs.append(model(to_model_input(image.unsqueeze(0)))[0])
    return torch.stack(outputs), meta


def _training_started_seq(events: list[Event], exp: str) -> int:
    return max(
        e.seq for e in events if e.type == "TrainingStarted" and e.data["experiment_id"] == exp
    )


def test_classification_pooled_subsets(trained_classification: Trained) -> None:
    trained = trained_classification
    view, entry, _ = _state(trained)
    members = view.splits[entry.split]
    val = [i for i, s in members.items() if s == "val"]
    test = [i for i, s in members.items() if s == "test"]
    assert val and test
    moved, unknown = test[0], val[0]
    old_label = view.images[moved].label
    new_label = next(c for c in view.classes if c != old_label)
    _relabel(trained, moved, label=new_label)  # after training: the model learnt another label
    _relabel(trained, unknown, label="zebra")  # a class the model has no output for
    command = _request(trained, checkpoint="best", subsets=["test", "val"], batch_size=5)
    Worker(trained.workspace).run(once=True)

    data = _completed(trained, command.id)
    view, entry, events = _state(trained)
    best = entry.checkpoints["best"]
    assert data["subsets"] == ["val", "test"]
    assert data["split"] == entry.split
    assert (data["checkpoint"], data["checkpoint_epoch"]) == ("best", best.epoch)
    assert data["checkpoint_sha256"] == best.sha256
    assert data["trained_seq"] == _training_started_seq(events, trained.experiment_id)
    assert data["skipped"] == 1
    expected_ids = [i for i in val if i != unknown] + test
    assert data["images"] == len(expected_ids)
    assert data["primary_metric"] == "accuracy"
    assert data["duration_s"] > 0 and data["images_per_s"] > 0

    rows, report = _files(trained, data)
    assert [r["image_id"] for r in rows] == expected_ids
    assert [r["subset"] for r in rows] == [members[i] for i in expected_ids]
    assert {r["image_id"] for r in rows if r["label_changed"]} == {moved}
    assert [r["target"] for r in rows] == [view.images[i].label for i in expected_ids]
    assert list(rows[0]) == [
        "image_id",
        "subset",
        "target",
        "prediction",
        "confidence",
        "correct",
        "scores",
        "label_changed",
    ]

    # Every stored figure, recomputed with scikit-learn from the rows.
    classes = report["classes"]
    y = np.array([classes.index(r["target"]) for r in rows])
    pred = np.array([classes.index(r["prediction"]) for r in rows])
    scores = np.array([r["scores"] for r in rows])
    present = sorted(set(y.tolist()))
    expected = {
        "accuracy": accuracy_score(y, pred),
        "precision_macro": precision_score(y, pred, average="macro", zero_division=0),
        "recall_macro": recall_score(y, pred, average="macro", zero_division=0),
        "f1_macro": f1_score(y, pred, average="macro", zero_division=0),
        "precision_weighted": precision_score(y, pred, average="weighted", zero_division=0),
        "recall_weighted": recall_score(y, pred, average="weighted", zero_division=0),
        "f1_weighted": f1_score(y, pred, average="weighted", zero_division=0),
        "average_precision_macro": average_precision_score(
            np.eye(len(classes))[y][:, present], scores[:, present], average="macro"
        ),
        "top3_accuracy": top_k_accuracy_score(y, scores, k=3, labels=range(len(classes))),
        "top5_accuracy": top_k_accuracy_score(y, scores, k=5, labels=range(len(classes))),
    }
    assert list(data["metrics"]) == list(expected)
    for name, value in expected.items():
        assert data["metrics"][name] == pytest.approx(value, abs=1e-9), name
    assert report["metrics"] == data["metrics"]
    assert sum(map(sum, report["confusion_matrix"])) == len(rows)
    assert report["checkpoint"]["image_size"] == 32
    assert report["skipped"] == {"without_target": 0, "target_unknown_to_model": 1}
    assert report["label_changed"] == 1
    assert_plain_json(report, "report")

    # The predictions are those of the checkpoint's model, run independently.
    logits, _meta = _model_outputs(trained, "best", expected_ids)
    assert [r["prediction"] for r in rows] == [classes[k] for k in logits.argmax(1).tolist()]
    np.testing.assert_allclose(scores, softmax(logits.double().numpy(), axis=1), atol=1e-5)

    succeeded = _only_end(trained, command.id)
    assert succeeded.data["summary"] == {
        "experiment_id": trained.experiment_id,
        "images": len(rows),
        "metric": "accuracy",
        "value": data["metrics"]["accuracy"],
    }

    # A second evaluation is refused until the first is reset; the files stay as they were.
    again = _request(trained, checkpoint="last")
    Worker(trained.workspace).run(once=True)
    refused = _only_end(trained, again.id)
    assert refused.type == "JobFailed"
    assert "already has an evaluation: reset it" in refused.data["error"]
    assert _files(trained, data)[0] == rows


def test_regression_default_test_subset(trained_regression: Trained) -> None:
    trained = trained_regression
    view, entry, _ = _state(trained)
    members = view.splits[entry.split]
    test = [i for i, s in members.items() if s == "test"]
    changed = test[-1]
    new_value = (view.images[changed].value or 0.0) + 2.5
    _relabel(trained, changed, value=new_value)
    command = _request(trained, checkpoint="last")
    Worker(trained.workspace).run(once=True)

    data = _completed(trained, command.id)
    assert (data["subsets"], data["checkpoint"], data["skipped"]) == (["test"], "last", 0)
    assert data["checkpoint_sha256"] == entry.checkpoints["last"].sha256
    rows, report = _files(trained, data)
    assert [r["image_id"] for r in rows] == test
    assert data["images"] == len(rows)
    assert {r["image_id"] for r in rows if r["label_changed"]} == {changed}
    truth = np.array([r["target"] for r in rows])
    pred = np.array([r["prediction"] for r in rows])
    view, _entry, _events = _state(trained)
    # The rows hold the dataset's own values, exactly (not the float32 targets turned back).
    assert truth.tolist() == [view.images[i].value for i in test]
    assert truth[-1] == new_value
    for r in rows:
        assert r["error"] == pytest.approx(r["prediction"] - r["target"], abs=1e-12)
        assert r["abs_error"] == pytest.approx(abs(r["error"]), abs=1e-12)
    expected = {
        "mae": mean_absolute_error(truth, pred),
        "rmse": root_mean_squared_error(truth, pred),
        "r2": r2_score(truth, pred),
        "median_absolute_error": median_absolute_error(truth, pred),
        "max_error": max_error(truth, pred),
    }
    assert list(data["metrics"]) == list(expected)
    for name, value in expected.items():
        assert data["metrics"][name] == pytest.approx(value, rel=1e-9, abs=1e-9), name
    assert data["primary_metric"] == "mae"
    assert report["task"] == "regression"
    assert sum(report["residual_histogram"]["counts"]) == len(rows)
    assert report["target_range"] == pytest.approx([truth.min(), truth.max()])
    assert_plain_json(report, "report")

    outputs, meta = _model_outputs(trained, "last", test)
    values = get_task("regression").decode_outputs(outputs.numpy(), target_info_of(meta))
    np.testing.assert_allclose(pred, values, rtol=1e-4, atol=1e-4 * float(np.abs(values).max()))


def test_bad_requests_fail_clearly_and_write_nothing(trained_classification: Trained) -> None:
    trained = trained_classification
    ws, pid, exp = trained.workspace, trained.project_id, trained.experiment_id
    log = _log(trained)
    # An experiment that never saved a checkpoint (its run was cancelled before it started).
    never = log.append(
        "TrainingRequested",
        {"experiment_id": "exp-0000dead", "name": "never", "split": "default"}
        | {"config": {"model": "mobilenet_v3_small"}},
        actor="script",
    )
    log.append("JobCancelled", {"job_id": never.id}, actor="script")
    best = ws.checkpoint_path(pid, exp, "best")
    with best.open("ab") as handle:
        handle.write(b"tampered")
    ws.checkpoint_path(pid, exp, "last").unlink()
    cases = {
        _request(trained, experiment_id="exp-00000000").id: "there is no experiment exp-00000000",
        _request(trained, experiment_id="exp-0000dead").id: "exp-0000dead has no best checkpoint",
        _request(trained, checkpoint="best").id: f"best checkpoint file of experiment {exp} has "
        "changed since it was saved",
        _request(trained, checkpoint="last").id: f"last checkpoint file of experiment {exp} is "
        "missing",
    }
    Worker(ws).run(once=True)
    for job_id, message in cases.items():
        end = _only_end(trained, job_id)
        assert end.type == "JobFailed"
        assert message in end.data["error"]
        assert end.data.get("traceback") is None  # an input error, not a crash
    assert not [e for e in events_of(ws, pid) if e.type == "EvaluationCompleted"]
    assert not ws.evaluation_dir(pid, exp).exists()


def test_no_evaluable_image_is_an_input_error(trained_regression: Trained) -> None:
    trained = trained_regression
    view, entry, _ = _state(trained)
    test = [i for i, s in view.splits[entry.split].items() if s == "test"]
    for image_id in test:  # neither a label nor a value: nothing to score
        _relabel(trained, image_id)
    command = _request(trained, subsets=["test"])
    assert run_job(trained.workspace, trained.project_id, command.id) == "failed"
    end = _only_end(trained, command.id)
    assert f"{len(test)} images, {len(test)} without a value" in end.data["error"]


def test_a_cancel_is_honoured(trained_classification: Trained) -> None:
    trained = trained_classification
    command = _request(trained, subsets=["train", "val", "test"])
    _log(trained).append("CancelRequested", {"job_id": command.id}, actor="script")
    # Run by hand: a worker would cancel the pending job without starting it.
    assert run_job(trained.workspace, trained.project_id, command.id) == "cancelled"
    assert _only_end(trained, command.id).type == "JobCancelled"
    assert not of_job(trained.workspace, trained.project_id, command.id, "EvaluationCompleted")
    ws, pid = trained.workspace, trained.project_id
    assert not ws.evaluation_results_path(pid, trained.experiment_id).exists()
