"""Object detection: accuracy against a peer, training and evaluation speed, ONNX vs eager.

Run with ``python -m bench detection`` (``AISTUDIO_BENCH_QUICK=1`` for a short smoke run). The
data set (:mod:`aistudio.datasets.scenes`): 400 canvases of 128 px, each with 1 to 4 real scans of
handwritten digits (scikit-learn's; classes 0, 1 and 2) pasted 20 to 32 px square without
overlap, imported as COCO like a user's; 300 for training (255 train, 45 val) and 100 held out
as test. Figures:

* **accuracy**: the default model with the defaults a user gets (the training form's: CenterNet
  ResNet-18 from scratch, 128 px, 30 epochs, batch 16), trained by the real job, scored on the
  100 test canvases by the real evaluation (pycocotools). The peer: Ultralytics YOLO11n trained
  from scratch for 30 epochs at 128 px on such a set reached mAP@[.50:.95] 0.80 and mAP50 0.99
  in about 300 s on this kind of machine (the issue's measurement; Ultralytics is AGPL and is
  not installed here, so it is quoted, not re-run). Goal: mAP ≥ 0.75 within 2x its time.
* **training speed**: train images/s of the real job (no augmentation, 0 loader workers, as
  its epochs report) against a plain loop with the same decoded images, model, losses,
  optimizer and batch size, in the same run. Goal ≥ 0.9.
* **evaluation**: images/s of the real evaluation job (decode, inference, COCO figures).
* **export**: per-image latency of the ONNX graph (onnxruntime, CPU) next to PyTorch eager
  running the same export module.
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aistudio import commands
from aistudio.commands.base import append_event
from aistudio.datasets.scenes import write_scenes
from aistudio.tasks.registry import get_task
from aistudio.training.data import decode_all, labelled_entries, to_model_input
from aistudio.worker.runner import run_job
from aistudio.worker.service import Worker
from aistudio.workspace import Workspace
from bench.bench_training import NO_AUGMENTATION
from bench.common import Row, print_table
from events import EventLog

logger = logging.getLogger(__name__)

QUICK = os.environ.get("AISTUDIO_BENCH_QUICK") == "1"
CANVASES = 120 if QUICK else 400
HELD_OUT = 40 if QUICK else 100
SIZE = 128
CLASSES = ("0", "1", "2")
YOLO11N = {"map": 0.80, "map50": 0.99, "train_s": 300.0}
"""Ultralytics YOLO11n from scratch, 30 epochs at 128 px (the issue's measurement here)."""
SPEED_EPOCHS = 2
BATCH = 16


def _coco(folder: Path) -> Path:
    """The benchmark's canvases as a COCO folder."""
    import json

    scenes = write_scenes(
        folder / "images",
        CANVASES,
        size=(SIZE, SIZE),
        classes=CLASSES,
        per_image=(1, 4),
        seed=11,
        digit_px=(20, 32),
        overlap=False,
    )
    ids = {c: i + 1 for i, c in enumerate(CLASSES)}
    annotations = [
        {
            "id": len(scenes) * 10 + n * 5 + k,
            "image_id": n + 1,
            "category_id": ids[o.label],
            "bbox": [o.box[0], o.box[1], o.box[2] - o.box[0], o.box[3] - o.box[1]],
            "area": (o.box[2] - o.box[0]) * (o.box[3] - o.box[1]),
            "iscrowd": 0,
        }
        for n, s in enumerate(scenes)
        for k, o in enumerate(s.objects)
    ]
    doc = {
        "images": [
            {"id": n + 1, "file_name": f"images/{s.file_name}", "width": SIZE, "height": SIZE}
            for n, s in enumerate(scenes)
        ],
        "annotations": annotations,
        "categories": [{"id": i, "name": c} for c, i in ids.items()],
    }
    (folder / "instances.json").write_text(json.dumps(doc))
    return folder


def _project(
    workspace: Workspace,
    source: Path,
    task: str = "detection",
    held_out: int = HELD_OUT,
    expected: int | None = None,
    fmt: str = "coco",
) -> str:
    """Import the canvases (a ``fmt`` source) into a ``task`` project and split them: the last
    ``held_out`` (by file name) are test. With ``expected``, that many images must come out
    annotated.

    Raises:
        RuntimeError: the import annotated another number of images than ``expected``.
    """
    created = commands.create_project(workspace, f"bench {task}", task)
    project_id = str(created.data["project_id"])
    commands.request_import(workspace, project_id, source, fmt)
    Worker(workspace).run(once=True)
    view = commands.dataset_view(workspace, project_id)
    annotated = sum(1 for e in view.images.values() if e.structured)
    if expected is not None and annotated != expected:
        raise RuntimeError(f"the import annotated {annotated} of {expected} canvases")
    ordered = sorted(view.images.values(), key=lambda e: e.filename)
    test = [e.image_id for e in ordered[-held_out:]]
    rest = [e.image_id for e in ordered[:-held_out]]
    random.Random(0).shuffle(rest)
    n_val = len(rest) * 15 // 100
    assignments = {"train": sorted(rest[n_val:]), "val": sorted(rest[:n_val]), "test": test}
    data = {
        "name": "default",
        "ratios": {"train": 0.6375, "val": 0.1125, "test": 0.25},
        "seed": 0,
        "stratify": False,
        "dataset_seq": view.seq,
        "assignments": assignments,
    }
    append_event(workspace, project_id, "SplitCreated", data, "script", expected_seq=view.seq)
    return project_id


def _run(workspace: Workspace, project_id: str, event_type: str, event_id: str) -> None:
    if run_job(workspace, project_id, event_id) != "succeeded":
        raise RuntimeError(f"the benchmark's {event_type} did not succeed")


def accuracy(workspace: Workspace, project_id: str) -> dict[str, Any]:
    """Train with the defaults a user gets, evaluate on the held-out test canvases."""
    return train_and_evaluate(workspace, project_id, "detection", 3 if QUICK else None)


def app_rate(
    workspace: Workspace, project_id: str, task: str = "detection", name: str = "speed"
) -> float:
    """Best train images/s of the real job without augmentation (0 loader workers)."""
    config = {
        **commands.default_training_config(task),
        "epochs": SPEED_EPOCHS,
        "batch_size": BATCH,
        "num_workers": 0,
        "augmentations": NO_AUGMENTATION,
        "scheduler": "none",
        "pretrained": False,
    }
    command = commands.request_training(workspace, project_id, name, "default", config)
    _run(workspace, project_id, "training", command.id)
    rates = [
        e.data["images_per_s"]
        for e in EventLog(workspace.events_path(project_id)).read()
        if e.type == "EpochCompleted" and e.causation == command.id
    ]
    return max(rates)


def plain_rate(workspace: Workspace, project_id: str) -> float:
    """Best images/s of a hand-written loop: same images, model, losses, optimizer, batch."""
    task = get_task("detection")
    view = commands.dataset_view(workspace, project_id)
    entries = labelled_entries(view, "default", task)["train"]
    info = task.fit_state(entries)
    paths = [workspace.image_path(project_id, e.sha256, e.ext) for e in entries]
    images = decode_all(paths, SIZE, os.cpu_count() or 1)
    targets = [task.sample_target(e, info, SIZE) for e in entries]
    torch.manual_seed(0)
    model, _ = task.build_model(task.default_model, info, False, SIZE)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    model.train()
    best = 0.0
    for _epoch in range(SPEED_EPOCHS):
        order = torch.randperm(len(images))
        start = time.perf_counter()
        for first in range(0, len(order), BATCH):
            index = order[first : first + BATCH]
            batch = to_model_input(images[index])
            losses = model.losses(batch, [targets[int(i)] for i in index])  # type: ignore[operator]
            loss = sum(losses.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[union-attr]
            optimizer.step()
        best = max(best, len(order) / (time.perf_counter() - start))
    return best


def export_latency(
    workspace: Workspace, project_id: str, experiment_id: str
) -> tuple[float, float]:
    """Median per-image latency (ms) of the exported ONNX graph and of PyTorch eager."""
    graph, session = export_graph(workspace, project_id, experiment_id, "detection")
    return onnx_and_eager_ms(session, graph, torch.randn(1, 3, SIZE, SIZE))


def export_graph(
    workspace: Workspace, project_id: str, experiment_id: str, task_name: str
) -> tuple[Any, Any]:
    """The export module of an experiment's best checkpoint and an ONNX Runtime session of its
    graph (CPU), as the export job builds them."""
    import onnxruntime as ort

    from aistudio.export.onnx_export import to_onnx
    from aistudio.training.checkpoints import load_model

    task = get_task(task_name)
    path = workspace.checkpoint_path(project_id, experiment_id, "best")
    model, meta = load_model(path, task)
    options = task.validate_options(meta["config"]["task_options"])
    adapter = task.export_adapter(info=_info(meta), options=options, settings=_settings())
    graph = adapter.graph(model).eval()
    proto = to_onnx(graph, SIZE, 17, adapter.output_names, adapter.dynamic_axes(), 1)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return graph, session


def onnx_and_eager_ms(session: Any, graph: Any, batch: torch.Tensor) -> tuple[float, float]:
    """Median latency (ms) of ONNX Runtime and of PyTorch eager on ``batch`` (after a warm-up,
    30 runs each, in turn)."""
    feed = {"input": batch.numpy()}
    onnx_ms: list[float] = []
    eager_ms: list[float] = []
    with torch.inference_mode():
        for _ in range(5):  # warm-up
            session.run(None, feed)
            graph(batch)
        for _ in range(30):
            start = time.perf_counter()
            session.run(None, feed)
            onnx_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            graph(batch)
            eager_ms.append((time.perf_counter() - start) * 1000)
    return float(np.median(onnx_ms)), float(np.median(eager_ms))


def train_and_evaluate(
    workspace: Workspace, project_id: str, task_name: str, epochs: int | None = None
) -> dict[str, Any]:
    """Train with the defaults a user gets (``epochs`` instead of the default's, when given),
    evaluate the best checkpoint on the held-out test images; the run's figures."""
    task = get_task(task_name)
    config = commands.default_training_config(task_name)
    if epochs is not None:
        config["epochs"] = epochs
    command = commands.request_training(workspace, project_id, "defaults", "default", config)
    _run(workspace, project_id, "training", command.id)
    log = EventLog(workspace.events_path(project_id))
    (started,) = [e for e in log.read() if e.type == "TrainingStarted"]
    (done,) = [e for e in log.read() if e.type == "TrainingCompleted"]
    exp = done.data["experiment_id"]
    evaluation = commands.request_evaluation(workspace, project_id, exp, "best", ["test"])
    _run(workspace, project_id, "evaluation", evaluation.id)
    (evaluated,) = [e for e in log.read() if e.type == "EvaluationCompleted"]
    metrics = evaluated.data["metrics"]
    return {
        "experiment_id": exp,
        "model": config["model"],
        "epochs": config["epochs"],
        "weights": str(started.data["weights"]),
        "device": str(started.data["device"]),
        "train_s": float(done.data["duration_s"]),
        **{name: float(metrics[name]) for name in task.metric_names},
        "eval_images_per_s": float(evaluated.data["images_per_s"]),
    }


def _info(meta: dict[str, Any]) -> Any:
    from aistudio.training.checkpoints import target_info_of

    return target_info_of(meta)


def _settings() -> Any:
    from aistudio.tasks.base import ExportSettings

    return ExportSettings()


def main() -> None:
    """Print the detection figures (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="aistudio-bench-detection-") as tmp:
        root = Path(tmp)
        workspace = Workspace(root / "ws")
        workspace.ensure()
        project_id = _project(workspace, _coco(root / "coco"))
        result = accuracy(workspace, project_id)
        plain = plain_rate(workspace, project_id)
        app = app_rate(workspace, project_id)
        onnx_ms, eager_ms = export_latency(workspace, project_id, result["experiment_id"])
    rows = [
        Row(
            f"mAP@[.50:.95], {HELD_OUT} held-out canvases",
            result["map"],
            "",
            "YOLO11n",
            YOLO11N["map"],
            ">= 0.75",
        ),
        Row("mAP50", result["map50"], "", "YOLO11n", YOLO11N["map50"]),
        Row(
            f"training time, {result['epochs']} epochs (defaults)",
            result["train_s"],
            "s",
            "YOLO11n",
            YOLO11N["train_s"],
            "<= 2 x YOLO11n",
        ),
        Row(
            "train images/s (job, no augmentation)",
            app,
            "img/s",
            "plain loop",
            plain,
            ">= 0.9 x plain",
        ),
        Row("evaluation images/s (job, test subset)", result["eval_images_per_s"], "img/s"),
        Row("export latency per image (ONNX Runtime)", onnx_ms, "ms", "PyTorch eager", eager_ms),
    ]
    print_table(f"Detection ({CANVASES} canvases of {SIZE} px{', quick' if QUICK else ''})", rows)
