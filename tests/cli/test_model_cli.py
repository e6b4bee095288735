"""`aistudio evaluate` and `aistudio export` end to end, with no worker: --wait runs the job."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner

from aistudio.cli import cli
from tests.trained import Trained


def _cli(trained: Trained, *args: str) -> object:
    return CliRunner().invoke(cli, ["--workspace", str(trained.workspace.root), *args])


def test_evaluate_then_export_to_a_file(trained_classification: Trained, tmp_path: Path) -> None:
    t = trained_classification
    result = _cli(t, "evaluate", t.project_id, "tiny", "--subsets", "val,test", "--wait")
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith(f"{t.experiment_id}: ") and "accuracy" in last
    shown = json.loads(_cli(t, "show", t.project_id, "evaluation").stdout)
    entry = shown["evaluations"][t.experiment_id]
    assert entry["status"] == "completed" and entry["subsets"] == ["val", "test"]

    target = tmp_path / "out" / "digits.onnx"
    result = _cli(t, "export", t.project_id, "tiny", "--output", str(target))
    assert result.exit_code == 0, result.output
    export_id = json.loads(_cli(t, "show", t.project_id, "exports").stdout)["exports"]
    (entry,) = export_id.values()
    assert entry["status"] == "completed" and entry["validation"]["passed"] is True
    assert hashlib.sha256(target.read_bytes()).hexdigest() == entry["file"]["sha256"]
    assert "agreement 100.0%" in result.stdout and f"wrote {target}" in result.stderr
