"""The ExportRequested job through a worker: ONNX files validated on real images, recorded.

The exports are made once for the package (``onnx_classification``, ``onnx_regression``) from the
session's trained digits experiments (ResNet-18, 32 px); these tests only read them.
"""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from aistudio.export.onnx_export import read_onnx_metadata
from aistudio.export.validate import model_inputs
from aistudio.training.checkpoints import sha256_of
from aistudio.training.data import IMAGENET_MEAN, IMAGENET_STD, decode_image
from events import EventLog
from projections.dataset import rebuild as rebuild_dataset
from tests.export.support import ExportRun, dataset_images, pytorch_model, pytorch_outputs
from tests.training.support import of_experiment

TASKS = ["onnx_classification", "onnx_regression"]


@pytest.fixture(params=TASKS)
def run(request: pytest.FixtureRequest) -> ExportRun:
    """Each task's ONNX export."""
    exported: ExportRun = request.getfixturevalue(request.param)
    return exported


def _labelled_in_split(run: ExportRun) -> int:
    t = run.trained
    view = rebuild_dataset(EventLog(t.workspace.events_path(t.project_id)).read())
    return len(view.splits["default"])


def test_export_completed_with_validation_passed_and_the_file_hash(run: ExportRun) -> None:
    assert run.end.type == "JobSucceeded", run.end.data
    completed = run.completed
    assert completed is not None and completed.actor == "job"
    data = completed.data
    assert data["export_id"] == run.export_id
    assert data["format"] == "onnx" and data["checkpoint"] == "best"
    validation = data["validation"]
    assert validation["passed"] is True
    assert validation["images"] == min(32, _labelled_in_split(run))
    assert validation["max_abs_diff"] <= validation["tolerance"] == 1e-3
    assert validation["agreement"] == 1.0
    assert data["file"]["name"] == f"exports/{run.export_id}/model.onnx"
    path = run.file()
    assert path == run.trained.workspace.export_path(
        run.trained.project_id, run.trained.experiment_id, run.export_id, "onnx"
    )
    assert sha256_of(path) == data["file"]["sha256"]
    assert path.stat().st_size == data["file"]["size_bytes"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx"]
    saved = of_experiment(
        run.trained.workspace, run.trained.project_id, run.trained.experiment_id, "CheckpointSaved"
    )
    best = [e.data for e in saved if e.data["which"] == "best"][-1]
    assert (data["checkpoint_epoch"], data["checkpoint_sha256"]) == (best["epoch"], best["sha256"])
    assert run.end.data["summary"]["export_id"] == run.export_id


def test_progress_reports_each_stage_in_order(run: ExportRun) -> None:
    messages = [e.data["message"] for e in run.of_type("JobProgress")]
    stages = ["loading", "exporting", "validating"]
    firsts = [next(i for i, m in enumerate(messages) if m.startswith(s)) for s in stages]
    assert firsts == sorted(firsts)


def test_metadata_props_are_in_the_file_and_json(run: ExportRun) -> None:
    completed = run.completed
    assert completed is not None
    props = read_onnx_metadata(run.file())
    assert props == completed.data["metadata"]
    session = ort.InferenceSession(str(run.file()), providers=["CPUExecutionProvider"])
    assert session.get_modelmeta().custom_metadata_map == props
    meta = {key: json.loads(value) for key, value in props.items()}
    _model, ckpt = pytorch_model(run.trained)
    size = int(ckpt["image_size"])
    assert meta["aistudio.format_version"] == 1
    assert meta["aistudio.task"] == run.trained.task
    spec = meta["aistudio.input"]
    assert spec["shape"] == ["batch", 3, size, size] and spec["image_size"] == size == 32
    assert spec["mean"] == pytest.approx(IMAGENET_MEAN) and spec["std"] == pytest.approx(
        IMAGENET_STD
    )
    assert spec["scale"] == pytest.approx(1 / 255)
    target = ckpt["target_info"]
    if run.trained.task == "classification":
        assert meta["aistudio.classes"] == target["classes"] == [str(d) for d in range(10)]
        assert meta["aistudio.output"]["shape"] == ["batch", 10]
    else:
        assert meta["aistudio.target_scaling"] == {"mean": target["mean"], "std": target["std"]}
        assert meta["aistudio.output"]["shape"] == ["batch", 1]
    source = meta["aistudio.source"]
    t = run.trained
    assert source["project_id"] == t.project_id and source["experiment_id"] == t.experiment_id
    assert source["project_name"] == f"Digits {t.task}" and source["experiment_name"] == "tiny"
    assert source["model"] == "resnet18" and source["checkpoint"] == "best"
    assert source["checkpoint_sha256"] == completed.data["checkpoint_sha256"]
    assert source["checkpoint_epoch"] == completed.data["checkpoint_epoch"]
    assert source["seq"] == run.command.seq and source["export_id"] == run.export_id


def test_dynamic_batch_runs_one_and_five_images_like_pytorch(run: ExportRun) -> None:
    paths = dataset_images(run.trained, 5)
    expected = pytorch_outputs(run.trained, paths)
    assert float(expected.std(axis=0).max()) > 0.01  # outputs depend on the image
    session = ort.InferenceSession(str(run.file()), providers=["CPUExecutionProvider"])
    batch = model_inputs(torch.stack([decode_image(p, 32) for p in paths]))
    (five,) = session.run(["output"], {"input": batch})
    (one,) = session.run(["output"], {"input": batch[:1]})
    assert five.shape == (5, expected.shape[1]) and one.shape == (1, expected.shape[1])
    np.testing.assert_allclose(five, expected, atol=1e-4)
    np.testing.assert_allclose(one[0], five[0], atol=1e-5)
