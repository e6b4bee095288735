"""Training speed of the app's pipeline next to a plain PyTorch loop; time to first progress.

Run with ``python -m bench training``. On a few hundred generated 64 px JPEGs (a temporary
workspace, imported and split like a user's), ResNet-18 from scratch, batch 32, AdamW:

* **app**: the real job (the runner and ``run_training``: the DataModule with its decoded-image
  cache, the LightningModule, the trainer and the event callback, which appends progress, epochs
  and checkpoints); its train images per second as ``EpochCompleted`` reports them (training
  batches only; validation and checkpoint writing are timed apart), with 0 and 2 data loader
  workers;
* **plain loop**, the baseline, in the same run: the same decoded ``uint8`` images in one tensor,
  the same network, loss, optimizer, batch size and normalisation, a hand-written loop with
  ``randperm`` batches. Goal: the app reaches at least 0.9 of it.

Both run without augmentation (the same work); each figure is the best epoch of ``ROUNDS``
interleaved runs (this kind of machine's speed drifts). Then, through a real worker in a child
process: the time from appending ``TrainingRequested`` to the job's start, its first progress
event, ``TrainingStarted`` and the first training step, next to the floor every job process
pays: starting Python and importing torch and Lightning.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from aistudio import commands
from aistudio.datasets.demo import write_random_jpegs
from aistudio.tasks.registry import get_task
from aistudio.training.data import (
    build_augmentation,
    cpu_count,
    decode_all,
    labelled_entries,
    to_model_input,
)
from aistudio.worker.runner import run_job
from aistudio.worker.service import Worker
from aistudio.workspace import Workspace
from bench.common import Row, print_table
from events import Event, EventLog
from events.schemas.training import Augmentations

N_IMAGES = 320
IMAGE_SIZE = 64
BATCH = 32
EPOCHS = 2
ROUNDS = 3
GOAL = ">= 0.9 x plain"
NO_AUGMENTATION = {
    "random_resized_crop": False,
    "horizontal_flip": False,
    "vertical_flip": False,
    "rotation_degrees": 0.0,
    "color_jitter": 0.0,
}
CONFIG: dict[str, Any] = {
    "model": "resnet18",
    "image_size": IMAGE_SIZE,
    "batch_size": BATCH,
    "epochs": EPOCHS,
    "optimizer": "adamw",
    "lr": 1e-3,
    "scheduler": "none",
    "pretrained": False,
    "seed": 0,
}


def _project(workspace: Workspace, source: Path, name: str = "bench") -> str:
    created = commands.create_project(workspace, name, "classification")
    project_id = str(created.data["project_id"])
    commands.request_import(workspace, project_id, source, "imagefolder")
    Worker(workspace).run(once=True)
    commands.create_split(workspace, project_id, "default", 0.8, 0.2, 0.0)
    return project_id


def app_rate(
    workspace: Workspace, project_id: str, name: str, augment: dict[str, Any] | None
) -> float:
    """Best train images/s of one run of the real job (2 loader workers), as its epochs report.

    ``augment``: the augmentations (None: the task's defaults).
    """
    config = {**CONFIG, "num_workers": 2, "augmentations": augment}
    command = commands.request_training(workspace, project_id, name, "default", config)
    if run_job(workspace, project_id, command.id) != "succeeded":
        raise RuntimeError(f"the benchmark's training run {name!r} did not succeed")
    rates = [
        e.data["images_per_s"]
        for e in EventLog(workspace.events_path(project_id)).read()
        if e.type == "EpochCompleted" and e.causation == command.id
    ]
    return max(rates)


def plain_rate(workspace: Workspace, project_id: str, augment: dict[str, Any] | None) -> float:
    """Best images/s of a hand-written loop over the same decoded images, model and settings.

    With ``augment`` (None: the task's defaults), each image of a batch goes through the same
    torchvision transforms as in the app, in the loop itself.
    """
    task = get_task("classification")
    view = commands.dataset_view(workspace, project_id)
    train = labelled_entries(view, "default", task)["train"]
    info = task.target_info([e.label for e in train], [e.value for e in train])
    paths = [workspace.image_path(project_id, e.sha256, e.ext) for e in train]
    images = decode_all(paths, IMAGE_SIZE, cpu_count())
    targets = torch.stack([task.target(e.label, e.value, info) for e in train])
    counts = [sum(1 for e in train if e.label == c) for c in info.classes]
    chosen = task.default_augmentations if augment is None else augment
    transform = build_augmentation(Augmentations.model_validate(chosen), IMAGE_SIZE)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model, _ = task.build_model("resnet18", info, False)
    model.to(device).train()
    loss_fn = task.loss_fn(task.validate_options({}), info, counts).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    best = 0.0
    for _epoch in range(EPOCHS):
        start = time.perf_counter()
        order = torch.randperm(len(train))
        for i in range(0, len(train), BATCH):
            index = order[i : i + BATCH]
            batch = images[index]
            if transform is not None:
                batch = torch.stack([transform(image) for image in batch])
            inputs = to_model_input(batch.to(device, non_blocking=True))
            loss = loss_fn(model(inputs), targets[index].to(device, non_blocking=True))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, len(train) / (time.perf_counter() - start))
    return best


def _first_events(workspace: Workspace, project_id: str) -> dict[str, float]:
    """Seconds from appending ``TrainingRequested`` to the job's first events (real worker)."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "aistudio.cli", "worker", "--workspace", str(workspace.root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not workspace.worker_lock_paths() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # the worker is up and idle
        log = EventLog(workspace.events_path(project_id))
        config = {**CONFIG, "epochs": 1, "num_workers": 0}
        command = commands.request_training(workspace, project_id, "latency", "default", config)
        start = time.monotonic()
        seen: dict[str, float] = {}
        tail = log.tail()
        ended = False
        while not ended and time.monotonic() - start < 300:
            for event in tail.poll():
                if event.causation != command.id:
                    continue
                now = time.monotonic() - start
                for key in _milestones(event):
                    seen.setdefault(key, now)
                ended = ended or event.type in ("JobSucceeded", "JobFailed", "JobCancelled")
            time.sleep(0.01)
        return seen
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def _milestones(event: Event) -> list[str]:
    if event.type == "JobStarted":
        return ["JobStarted"]
    if event.type == "TrainingStarted":
        return ["TrainingStarted"]
    if event.type == "JobProgress":
        keys = ["first JobProgress"]
        if str(event.data.get("message", "")).startswith("epoch"):
            keys.append("first step")
        return keys
    return []


def _import_floor() -> float:
    """Seconds to start Python and import torch, torchvision and Lightning (best of two)."""
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "import torch, torchvision, pytorch_lightning"], check=True
        )
        best = min(best, time.perf_counter() - start)
    return best


def main(n_images: int = N_IMAGES) -> None:
    """Measure and print the table."""
    logging.getLogger("aistudio").setLevel(logging.WARNING)
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        root = Path(tmp)
        write_random_jpegs(root / "source", n_images, size=IMAGE_SIZE, classes=4)
        workspace = Workspace(root / "workspace")
        workspace.ensure()
        project_id = _project(workspace, root / "source")
        best = dict.fromkeys(("plain", "app", "plain aug", "app aug"), 0.0)
        for round_ in range(ROUNDS):  # interleaved: the machine's speed drifts
            plain = plain_rate(workspace, project_id, NO_AUGMENTATION)
            best["plain"] = max(best["plain"], plain)
            app = app_rate(workspace, project_id, f"plain {round_}", NO_AUGMENTATION)
            best["app"] = max(best["app"], app)
            plain_aug = plain_rate(workspace, project_id, None)
            best["plain aug"] = max(best["plain aug"], plain_aug)
            app_aug = app_rate(workspace, project_id, f"augmented {round_}", None)
            best["app aug"] = max(best["app aug"], app_aug)
        latency = _first_events(workspace, _project(workspace, root / "source", "latency"))
        floor = _import_floor()
    rows = [
        Row(
            "app, no augmentation",
            best["app"],
            "img/s",
            "plain loop",
            best["plain"],
            GOAL,
        ),
        Row(
            "app, flip+rotation in 2 loader workers",
            best["app aug"],
            "img/s",
            "plain loop, same in loop",
            best["plain aug"],
            GOAL,
        ),
    ]
    for key in ("JobStarted", "first JobProgress", "TrainingStarted", "first step"):
        if key in latency:
            rows.append(
                Row(
                    f"TrainingRequested -> {key}",
                    latency[key],
                    "s",
                    "python+torch+lightning import",
                    floor,
                )
            )
    device = "cuda" if torch.cuda.is_available() else f"cpu, {torch.get_num_threads()} threads"
    train = int(n_images * 0.8)
    print_table(f"Training: {train} JPEG {IMAGE_SIZE}px, ResNet-18, batch {BATCH} ({device})", rows)
