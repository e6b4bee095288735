"""Semantic segmentation on the command line, end to end: a `masks` import of digits pasted on
canvases, a split, training from scratch with the defaults, an evaluation with mmseg's figures,
an ONNX export validated pixel by pixel against PyTorch, and the Export page's program writing
the colour mask of a user's image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from aistudio import commands
from aistudio.cli import cli
from aistudio.datasets.semantic_scenes import write_semantic_scenes
from aistudio.evaluation.segmentation_figures import decode_mask_png
from aistudio.workspace import Workspace
from tests.helpers import events_of
from tests.training.test_detection_end_to_end import run_snippet
from ui.components.export_snippet import onnx_snippet

pytestmark = pytest.mark.slow


def _cli(workspace: Workspace, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--workspace", str(workspace.root), *args])
    assert result.exit_code == 0, result.output
    return result


def test_masks_import_split_train_evaluate_export_and_write_the_mask(
    workspace: Workspace, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    write_semantic_scenes(source, 32, size=(64, 64), per_image=(1, 2), seed=3, digit_px=(20, 30))
    _cli(workspace, "project", "create", "Pixels", "--task", "segmentation")
    imported = _cli(workspace, "import", "Pixels", str(source), "--format", "masks", "--wait")
    assert "masks 32 (class masks, stored as PNG files)" in imported.output
    (folder,) = [p for p in (workspace.root / "projects").iterdir() if p.is_dir()]
    project_id = folder.name
    dataset = commands.dataset_view(workspace, project_id)
    assert dataset.classes == ["background", "0", "1", "2"]
    assert len(dataset.images) == 32
    _cli(workspace, "split", "Pixels")
    trained = _cli(
        workspace, "train", "Pixels", "--epochs", "2", "--image-size", "64", "--batch-size", "8",
        "--wait",
    )  # fmt: skip
    assert "best miou" in trained.output
    started = next(e for e in events_of(workspace, project_id) if e.type == "TrainingStarted")
    experiment = started.data["experiment_id"]
    epochs = [e for e in events_of(workspace, project_id) if e.type == "EpochCompleted"]
    assert {"miou", "pixel_accuracy", "dice_macro"} <= set(epochs[-1].data["metrics"])

    _cli(workspace, "evaluate", "Pixels", experiment, "--subsets", "val,test", "--wait")
    shown = json.loads(_cli(workspace, "show", "Pixels", "evaluation").output)
    metrics = shown["evaluations"][experiment]["metrics"]
    for key in ("miou", "pixel_accuracy", "dice_macro"):
        assert key in metrics and 0.0 <= metrics[key] <= 1.0, key
    path = workspace.evaluation_results_path(project_id, experiment)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows and all(r["target"]["classes"] == dataset.classes for r in rows)
    assert decode_mask_png(rows[0]["prediction"]["png"]).shape == (64, 64)

    exported = _cli(workspace, "export", "Pixels", experiment, "--wait")
    assert "agreement 100.0%, pixels agreeing 100.0000%" in exported.output
    (export,) = [e for e in events_of(workspace, project_id) if e.type == "ExportCompleted"]
    assert export.data["validation"]["passed"]
    metadata = {k: json.loads(v) for k, v in export.data["metadata"].items()}
    assert metadata["aistudio.task"] == "segmentation"
    assert metadata["aistudio.output"]["name"] == "logits"
    assert metadata["aistudio.output"]["shape"] == ["batch", 4, 64, 64]
    assert metadata["aistudio.class_mask"]["interpolation"] == "nearest"
    assert metadata["aistudio.classes"] == dataset.classes

    # The Export page's program writes the colour mask of a user's image, at its size.
    model = workspace.experiment_dir(project_id, experiment) / export.data["file"]["name"]
    entry = dataset.images[rows[0]["image_id"]]
    image = tmp_path / "user image.png"
    image.write_bytes(workspace.image_path(project_id, entry.sha256, entry.ext).read_bytes())
    program = tmp_path / "predict.py"
    program.write_text(onnx_snippet(model.name, image.name))
    ran = run_snippet(program, image, model)
    assert ran.returncode == 0, ran.stderr
    written = sorted(p for p in tmp_path.glob("*.png") if p != image)
    assert written, ran.stdout
    with Image.open(written[0]) as mask:
        assert mask.size == (64, 64) and mask.mode == "P", "a palette PNG of the image's size"
        indices = np.asarray(mask)
    # the same classes as the evaluation found with PyTorch on the same image
    assert (indices == decode_mask_png(rows[0]["prediction"]["png"])).mean() > 0.99
