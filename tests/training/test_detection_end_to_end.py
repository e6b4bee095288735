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

from aistudio import commands
from aistudio.cli import cli
from aistudio.workspace import Workspace
from projections.dataset import ImageEntry
from tests.datasets.scenes import coco_source
from tests.helpers import events_of
from ui.components.export_snippet import onnx_snippet

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

    # Two epochs at 64 px find objects with low scores: the threshold a person would set here.
    project_id = _project(workspace)
    rows = [json.loads(line) for line in _results(workspace, project_id, experiment)]
    top = max(p["score"] for r in rows for p in r["predictions"])
    chosen = round(max(0.06, top * 0.8), 2)
    _cli(workspace, "threshold", "Scenes", experiment, str(chosen))
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
    assert metadata["aistudio.confidence_threshold"]["value"] == chosen

    # The Export page's program draws, on a test image, the boxes the evaluation found there.
    model = workspace.experiment_dir(project_id, experiment) / export.data["file"]["name"]
    row = max(rows, key=lambda r: sum(p["score"] >= chosen for p in r["predictions"]))
    entry = _entry(workspace, project_id, row["image_id"])
    image = tmp_path / "user image.png"
    image.write_bytes(workspace.image_path(project_id, entry.sha256, entry.ext).read_bytes())
    program = tmp_path / "predict.py"
    program.write_text(onnx_snippet(model.name, image.name))
    ran = run_snippet(program, image, model)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.strip().splitlines()
    expected = [p for p in row["predictions"] if p["score"] >= chosen]
    assert lines[-1].startswith(f"prediction: {len(expected)} objects at confidence >= {chosen:g}")
    printed = [line.split() for line in lines[:-1]]
    assert len(printed) == len(expected) > 0
    for got, want in zip(printed, expected, strict=True):
        assert got[0] == want["class"]
        assert float(got[1]) == pytest.approx(want["score"], abs=2e-3)
        assert [float(v) for v in got[2:]] == pytest.approx(want["box"], abs=0.2)
    drawn = tmp_path / "user image_boxes.png"
    assert _size(drawn) == (entry.width, entry.height)

    scripted = _cli(workspace, "export", "Scenes", experiment, "--format", "torchscript", "--wait")
    assert "agreement 100.0%" in scripted.output


def _results(workspace: Workspace, project_id: str, experiment: str) -> list[str]:
    path = workspace.evaluation_results_path(project_id, experiment)
    return path.read_text().splitlines()


def _entry(workspace: Workspace, project_id: str, image_id: str) -> ImageEntry:
    return commands.dataset_view(workspace, project_id).images[image_id]


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
