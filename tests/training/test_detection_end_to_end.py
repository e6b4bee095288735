"""Detection on the command line, end to end: a COCO import of digits pasted on canvases, a
split, training from scratch, an evaluation with COCO figures, a threshold, an ONNX export
validated against PyTorch, and the Export page's program drawing the boxes on an image."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from PIL import Image

from aistudio.cli import cli
from aistudio.workspace import Workspace
from tests.datasets.scenes import coco_source
from tests.helpers import events_of

pytestmark = pytest.mark.slow


def _cli(workspace: Workspace, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--workspace", str(workspace.root), *args])
    assert result.exit_code == 0, result.output
    return result


def test_detection_import_split_train_evaluate_threshold_export(
    workspace: Workspace, tmp_path: Path
) -> None:
    source, _doc, scenes = coco_source(tmp_path / "src", 36, size=(64, 64), per_image=(0, 2))
    _cli(workspace, "project", "create", "Scenes", "--task", "detection")
    imported = _cli(workspace, "import", "Scenes", str(source.parent), "--wait")
    objects = sum(len(s.objects) for s in scenes)
    assert f"objects {objects}" in imported.output
    _cli(workspace, "split", "Scenes")
    trained = _cli(
        workspace, "train", "Scenes", "--epochs", "2", "--image-size", "64", "--batch-size", "8",
        "--wait",
    )  # fmt: skip
    assert "best map" in trained.output
    exp = next(e for e in events_of(workspace, _project(workspace)) if e.type == "TrainingStarted")
    experiment = exp.data["experiment_id"]

    _cli(workspace, "evaluate", "Scenes", experiment, "--subsets", "val,test", "--wait")
    shown = json.loads(_cli(workspace, "show", "Scenes", "evaluation").output)
    metrics = shown["evaluations"][experiment]["metrics"]
    for key in ("map", "map50", "map75", "mar100", "f1", "confidence_threshold"):
        assert key in metrics and 0.0 <= metrics[key] <= 1.0, key

    _cli(workspace, "threshold", "Scenes", experiment, "0.4")
    exported = _cli(workspace, "export", "Scenes", experiment, "--wait")
    assert "agreement 100.0%" in exported.output
    done = [e for e in events_of(workspace, _project(workspace)) if e.type == "ExportCompleted"]
    (export,) = done
    assert export.data["validation"]["passed"]
    metadata = {k: json.loads(v) for k, v in export.data["metadata"].items()}
    assert metadata["aistudio.task"] == "detection"
    assert metadata["aistudio.output"]["names"] == ["boxes", "scores", "labels"]
    assert metadata["aistudio.output"]["batch"] == 1
    assert metadata["aistudio.classes"] == ["0", "1", "2"]
    assert metadata["aistudio.confidence_threshold"]["value"] == 0.4


def _project(workspace: Workspace) -> str:
    (project,) = [p for p in (workspace.root / "projects").iterdir() if p.is_dir()]
    return project.name


def run_snippet(program: Path, image: Path, model: Path) -> subprocess.CompletedProcess[str]:
    """Run the Export page's program as a user would."""
    return subprocess.run(
        [sys.executable, str(program), str(image), str(model)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size
