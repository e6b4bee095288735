"""Requesting exports in the tests, and reading what they left."""

from __future__ import annotations

import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aistudio.worker.runner import run_job
from aistudio.worker.service import Worker
from events import Event, EventLog
from projections.dataset import rebuild as rebuild_dataset
from tests.helpers import job_events
from tests.trained import Trained
from ui.components.export_snippet import PREDICTION_PREFIX, onnx_snippet


@dataclass(frozen=True)
class ExportRun:
    """One export job and the events it caused."""

    trained: Trained
    command: Event
    events: list[Event]

    @property
    def export_id(self) -> str:
        return str(self.command.data["export_id"])

    def of_type(self, type_: str) -> list[Event]:
        return [e for e in self.events if e.type == type_]

    @property
    def completed(self) -> Event | None:
        found = self.of_type("ExportCompleted")
        assert len(found) <= 1, found
        return found[0] if found else None

    @property
    def end(self) -> Event:
        ends = [e for e in self.events if e.type in ("JobSucceeded", "JobFailed", "JobCancelled")]
        assert len(ends) == 1, [e.type for e in self.events]
        return ends[0]

    def export_dir(self) -> Path:
        t = self.trained
        return t.workspace.export_dir(t.project_id, t.experiment_id, self.export_id)

    def file(self) -> Path:
        """The file ``ExportCompleted`` names."""
        assert self.completed is not None
        t = self.trained
        name = self.completed.data["file"]["name"]
        return t.workspace.experiment_file(t.project_id, t.experiment_id, name)


def request_export(trained: Trained, **data: Any) -> Event:
    """Append ``ExportRequested`` for the trained experiment (a fresh export id)."""
    payload: dict[str, Any] = {
        "experiment_id": trained.experiment_id,
        "export_id": f"xpt-{secrets.token_hex(4)}",
        **data,
    }
    log = EventLog(trained.workspace.events_path(trained.project_id))
    return log.append("ExportRequested", payload, actor="script")


def export_with_worker(trained: Trained, **data: Any) -> ExportRun:
    """Request an export and let a worker run it (in a job process), to its end."""
    command = request_export(trained, **data)
    Worker(trained.workspace).run(once=True)
    events = job_events(trained.workspace, trained.project_id, command.id)
    return ExportRun(trained, command, events)


def export_in_process(trained: Trained, **data: Any) -> ExportRun:
    """Request an export and run its job in this process (so tests can monkeypatch it)."""
    command = request_export(trained, **data)
    run_job(trained.workspace, trained.project_id, command.id)
    events = job_events(trained.workspace, trained.project_id, command.id)
    return ExportRun(trained, command, events)


def dataset_images(trained: Trained, n: int) -> list[Path]:
    """The files of ``n`` real images of the project's dataset (by image id)."""
    view = rebuild_dataset(EventLog(trained.workspace.events_path(trained.project_id)).read())
    entries = sorted(view.images.values(), key=lambda entry: entry.image_id)[:n]
    return [trained.workspace.image_path(trained.project_id, e.sha256, e.ext) for e in entries]


def pytorch_model(trained: Trained, which: str = "best") -> tuple[Any, dict[str, Any]]:
    """The trained network in eval mode, as the app loads it, and its checkpoint metadata."""
    from aistudio.tasks.registry import get_task
    from aistudio.training.checkpoints import load_model

    path = trained.workspace.checkpoint_path(trained.project_id, trained.experiment_id, which)
    return load_model(path, get_task(trained.task))


def pytorch_outputs(trained: Trained, paths: list[Path], which: str = "best") -> np.ndarray:
    """The app's (PyTorch eager) raw outputs for image files, decoded as the pipeline does."""
    import torch

    from aistudio.training.data import decode_image, to_model_input

    model, meta = pytorch_model(trained, which)
    images = torch.stack([decode_image(path, int(meta["image_size"])) for path in paths])
    with torch.inference_mode():
        return model(to_model_input(images)).numpy()


def run_snippet(folder: Path, image: Path) -> str:
    """Run the Export page's snippet on ``image`` with ``folder/model.onnx``; what it predicted."""
    script = folder / "predict.py"
    script.write_text(onnx_snippet("model.onnx", image.name), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines and lines[-1].startswith(PREDICTION_PREFIX), done.stdout
    return lines[-1].removeprefix(PREDICTION_PREFIX)


def assert_same_prediction(
    run: ExportRun, target: dict[str, Any], printed: str, output: np.ndarray
) -> None:
    """The snippet's printed prediction is the app's ``output`` for that image."""
    if run.trained.task == "classification":
        probabilities = np.exp(output - output.max())
        probabilities /= probabilities.sum()
        best = int(probabilities.argmax())
        name, _, rest = printed.partition(" (probability ")
        assert name == target["classes"][best]
        assert float(rest.rstrip(")")) == pytest.approx(probabilities[best], abs=2e-4)
    else:
        value = float(output[0]) * target["std"] + target["mean"]
        assert float(printed) == pytest.approx(value, rel=1e-5, abs=1e-5)
