"""Instance segmentation on the command line, end to end: a COCO import of digits (outlines
and RLE masks) pasted on canvases, a split, training from scratch, an evaluation with COCO mask
and box figures, an ONNX export validated against PyTorch, and the Export page's program
drawing the masks on an image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from aistudio import commands
from aistudio.cli import cli
from aistudio.workspace import Workspace
from tests.datasets.scenes import write_instances_coco
from tests.helpers import events_of
from tests.training.test_detection_end_to_end import run_snippet
from ui.components.export_snippet import onnx_snippet

pytestmark = pytest.mark.slow


def _cli(workspace: Workspace, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--workspace", str(workspace.root), *args])
    assert result.exit_code == 0, result.output
    return result


def test_instances_import_split_train_evaluate_export_and_draw(
    workspace: Workspace, tmp_path: Path
) -> None:
    source, scenes = write_instances_coco(
        tmp_path / "src", 32, "compressed", size=(64, 64), per_image=(1, 2), seed=3
    )
    _cli(workspace, "project", "create", "Masks", "--task", "instance_segmentation")
    imported = _cli(workspace, "import", "Masks", str(source), "--wait")
    assert f"objects {sum(len(s.objects) for s in scenes)}" in imported.output
    _cli(workspace, "split", "Masks")
    trained = _cli(
        workspace, "train", "Masks", "--epochs", "2", "--image-size", "64", "--batch-size", "8",
        "--wait",
    )  # fmt: skip
    assert "best mask_map" in trained.output
    project_id = _project(workspace)
    started = next(e for e in events_of(workspace, project_id) if e.type == "TrainingStarted")
    experiment = started.data["experiment_id"]

    _cli(workspace, "evaluate", "Masks", experiment, "--subsets", "val,test", "--wait")
    shown = json.loads(_cli(workspace, "show", "Masks", "evaluation").output)
    metrics = shown["evaluations"][experiment]["metrics"]
    for key in ("mask_map", "mask_map50", "box_map", "box_map50", "f1"):
        assert key in metrics and 0.0 <= metrics[key] <= 1.0, key
    path = workspace.evaluation_results_path(project_id, experiment)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert all("mask" in t for r in rows for t in r["truth"])  # RLE truth: the store's files
    assert any(p.get("polygons") for r in rows for p in r["predictions"])

    exported = _cli(workspace, "export", "Masks", experiment, "--wait")
    assert "agreement 100.0%" in exported.output
    (export,) = [e for e in events_of(workspace, project_id) if e.type == "ExportCompleted"]
    assert export.data["validation"]["passed"]
    metadata = {k: json.loads(v) for k, v in export.data["metadata"].items()}
    assert metadata["aistudio.task"] == "instance_segmentation"
    assert metadata["aistudio.output"]["names"] == ["boxes", "scores", "labels", "masks"]
    assert metadata["aistudio.masks"]["threshold"] == 0.5

    # The Export page's program draws the masks the model finds on a user's image.
    model = workspace.experiment_dir(project_id, experiment) / export.data["file"]["name"]
    entry = commands.dataset_view(workspace, project_id).images[rows[0]["image_id"]]
    image = tmp_path / "user image.png"
    image.write_bytes(workspace.image_path(project_id, entry.sha256, entry.ext).read_bytes())
    program = tmp_path / "predict.py"
    program.write_text(onnx_snippet(model.name, image.name))
    ran = run_snippet(program, image, model)
    assert ran.returncode == 0, ran.stderr
    assert "prediction:" in ran.stdout.strip().splitlines()[-1]
    drawn = tmp_path / "user image_masks.png"
    with Image.open(drawn) as out, Image.open(image) as original:
        assert out.size == original.size
        kept = [line for line in ran.stdout.strip().splitlines()[:-1] if line.strip()]
        changed = np.asarray(out.convert("RGB"), dtype=np.int16) != np.asarray(
            original.convert("RGB"), dtype=np.int16
        )
        assert changed.any() == bool(kept)


def _project(workspace: Workspace) -> str:
    (project,) = [p for p in (workspace.root / "projects").iterdir() if p.is_dir()]
    return project.name
