"""Trained experiments for the evaluation and export tests: trained once per test session.

Training even a tiny run takes seconds, so each kind of experiment is trained once into a
template workspace; every test gets its own copy (``copytree``), which it may change freely.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aistudio import commands
from aistudio.worker.service import Worker
from aistudio.workspace import Workspace
from tests.training.support import TINY, digits_project


@dataclass(frozen=True)
class Trained:
    """A workspace holding one project with one completed experiment."""

    workspace: Workspace
    project_id: str
    experiment_id: str
    task: str


def train_template(
    root: Path,
    task: str,
    model: str = "resnet18",
    epochs: int = 3,
    batch_size: int = 8,
    **config: Any,
) -> Trained:
    """A workspace under ``root`` with a digits project of ``task`` and one trained experiment.

    The split is the default 70/15/15 of 4 digits per class (40 images; 30 for regression's
    CSV digits), so every subset has images. ResNet-18, 3 epochs of batches of 8: the model's
    outputs differ from image to image (a MobileNetV3-Small trained this briefly gives nearly
    the same output for every image in eval mode, which would let output comparisons pass
    trivially).
    """
    workspace = Workspace(root / "workspace")
    workspace.ensure()
    project_id = digits_project(workspace, root, task, n_per_class=4)
    event = commands.request_training(
        workspace,
        project_id,
        "tiny",
        "default",
        {**TINY, "model": model, "epochs": epochs, "batch_size": batch_size, **config},
    )
    Worker(workspace).run(once=True)
    experiment_id = str(event.data["experiment_id"])
    entry = commands.experiments_view(workspace, project_id).get(experiment_id)
    assert entry is not None and entry.status == "completed", entry
    return Trained(workspace, project_id, experiment_id, task)


def copy_of(template: Trained, root: Path) -> Trained:
    """A private copy of ``template``'s workspace under ``root`` (runtime state left out)."""
    target = root / "workspace"
    shutil.copytree(template.workspace.root, target, ignore=shutil.ignore_patterns(".run", ".tmp"))
    return Trained(Workspace(target), template.project_id, template.experiment_id, template.task)
