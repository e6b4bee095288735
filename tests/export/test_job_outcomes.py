"""TorchScript exports, and the ways an export job fails: figures recorded, no stray files.

The failure tests run the job in this process (``run_job``, as a job process would) so that a
runtime can be replaced with a broken one deterministically.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import aistudio.export.onnx_export as onnx_export
from aistudio.export.torchscript_export import load_torchscript
from aistudio.export.validate import Runner, model_inputs
from aistudio.training.checkpoints import sha256_of
from aistudio.training.data import decode_image
from tests.export.support import (
    dataset_images,
    export_in_process,
    export_with_worker,
    pytorch_outputs,
)
from tests.trained import Trained


def _files_under(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_torchscript_export_is_validated_and_carries_the_metadata(
    trained_classification: Trained,
) -> None:
    run = export_with_worker(trained_classification, format="torchscript", checkpoint="last")
    assert run.end.type == "JobSucceeded", run.end.data
    assert run.completed is not None
    data = run.completed.data
    assert data["format"] == "torchscript" and data["checkpoint"] == "last"
    assert data["file"]["name"] == f"exports/{run.export_id}/model.pt"
    assert data["validation"]["passed"] is True and data["validation"]["images"] == 32
    path = run.file()
    assert sha256_of(path) == data["file"]["sha256"]
    module, props = load_torchscript(path)
    assert props == data["metadata"]
    assert json.loads(props["aistudio.source"])["checkpoint"] == "last"
    assert json.loads(props["aistudio.task"]) == "classification"

    paths = dataset_images(trained_classification, 5)
    batch = torch.from_numpy(model_inputs(torch.stack([decode_image(p, 32) for p in paths])))
    with torch.inference_mode():
        five = module(batch).numpy()
        one = module(batch[:1]).numpy()
    expected = pytorch_outputs(trained_classification, paths, which="last")
    assert float(expected.std(axis=0).mean()) > 0.01  # outputs that depend on the image
    np.testing.assert_allclose(five, expected, atol=1e-4)
    np.testing.assert_allclose(one[0], five[0], atol=1e-5)


def _shifted(offset: float) -> Callable[[Path], Runner]:
    """A stand-in for ``onnx_runner`` whose outputs are the file's plus ``offset``."""
    real = onnx_export.onnx_runner

    def open_shifted(path: Path) -> Runner:
        run = real(path)
        return lambda batch: run(batch) + np.float32(offset)

    return open_shifted


@pytest.mark.parametrize(
    ("fixture", "agreement"), [("trained_classification", 1.0), ("trained_regression", 0.0)]
)
def test_outputs_beyond_tolerance_fail_the_job_with_the_figures(
    fixture: str, agreement: float, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained: Trained = request.getfixturevalue(fixture)
    monkeypatch.setattr(onnx_export, "onnx_runner", _shifted(0.01))
    run = export_in_process(trained, options={"tolerance": 0.001, "validation_images": 8})
    assert run.end.type == "JobFailed"
    assert run.end.data["reason"] == "error"  # the job did its work; the result failed (exit 1)
    error = run.end.data["error"]
    assert error.startswith("the ONNX export differs from PyTorch: validation failed: ")
    assert "max_abs_diff 0.01 > tolerance 0.001" in error
    assert f"agreement {agreement:g} on 8 images" in error and "\n" not in error
    completed = run.completed
    assert completed is not None, "ExportCompleted goes with JobFailed"
    validation = completed.data["validation"]
    assert validation["passed"] is False
    assert validation["max_abs_diff"] == pytest.approx(0.01, rel=1e-3)
    assert validation["agreement"] == agreement
    assert (validation["tolerance"], validation["images"]) == (0.001, 8)
    assert sha256_of(run.file()) == completed.data["file"]["sha256"]  # the file measured is kept
    kinds = [e.type for e in run.events]
    assert kinds.index("ExportCompleted") == kinds.index("JobFailed") - 1


def test_missing_checkpoint_fails_clearly_and_writes_nothing(
    trained_classification: Trained,
) -> None:
    t = trained_classification
    t.workspace.checkpoint_path(t.project_id, t.experiment_id, "best").unlink()
    run = export_in_process(t, checkpoint="best")
    assert run.end.type == "JobFailed"
    assert run.end.data["error"] == (
        f"the best checkpoint of experiment 'tiny' ({t.experiment_id}) is missing from the "
        "workspace"
    )
    assert run.end.data.get("traceback") is None  # bad input, not a bug
    assert run.end.data["reason"] == "bad_input"
    assert run.completed is None
    assert _files_under(t.workspace.experiment_dir(t.project_id, t.experiment_id) / "exports") == []


def test_changed_checkpoint_is_refused(trained_regression: Trained) -> None:
    t = trained_regression
    path = t.workspace.checkpoint_path(t.project_id, t.experiment_id, "last")
    with path.open("ab") as handle:
        handle.write(b"\0")
    run = export_in_process(t, checkpoint="last")
    assert run.end.type == "JobFailed"
    assert "has changed since it was saved" in run.end.data["error"]
    assert run.completed is None
    assert not run.export_dir().exists()


def test_unknown_experiment_and_reused_export_id_are_refused(
    trained_classification: Trained,
) -> None:
    t = trained_classification
    unknown = export_in_process(t, experiment_id="exp-00000000")
    assert unknown.end.type == "JobFailed"
    assert unknown.end.data["error"] == "there is no experiment exp-00000000 in this project"
    again = export_in_process(t, export_id=unknown.export_id)
    assert again.end.type == "JobFailed"
    assert f"export id {unknown.export_id} is already used by job" in again.end.data["error"]
    assert again.completed is None


def test_a_failure_after_writing_removes_the_file(
    trained_classification: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: Path) -> Runner:
        assert path.is_file()  # written completely before validation starts
        raise RuntimeError("the runtime cannot load this file")

    monkeypatch.setattr(onnx_export, "onnx_runner", broken)
    run = export_in_process(trained_classification, options={"validation_images": 4})
    assert run.end.type == "JobFailed"
    assert "RuntimeError: the runtime cannot load this file" in run.end.data["error"]
    assert run.completed is None
    assert not run.export_dir().exists()
