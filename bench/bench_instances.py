"""Instance segmentation: accuracy against a peer, training and evaluation speed, ONNX vs eager.

Run with ``python -m bench instances`` (``AISTUDIO_BENCH_QUICK=1`` for a short smoke run). The
data set (:mod:`aistudio.datasets.scenes`): 400 canvases of 128 px, each with 1 to 4 real scans of
handwritten digits (scikit-learn's; classes 0, 1 and 2) pasted 20 to 32 px square WITH overlap
allowed, imported as COCO polygons like a user's; 300 for training (255 train, 45 val) and 100
held out as test. Digits are pasted with ``max`` over the canvas, so where two overlap the image
shows the union of their ink; each object's mask (:meth:`SceneObject.mask`, the region of
:meth:`SceneObject.outline`) is the whole ink of its own scan, holes filled, whatever covers it:
two overlapping objects' masks share the pixels where their inks meet (no occlusion order), and a
model must tell them apart by their own shapes. An object's COCO ``bbox`` is its mask's tight box
(:meth:`SceneObject.mask_box`), its ``segmentation`` the outline's polygons. Figures:

* **accuracy**: the default model with the defaults a user gets (the training form's: CenterMask
  ResNet-18 from scratch, 128 px, 30 epochs, batch 16), trained by the real job, scored on the
  100 test canvases by the real evaluation (pycocotools, mask and box AP). The peer: Ultralytics
  YOLO11n-seg trained from scratch for 30 epochs at 128 px on such a set reached mask
  mAP@[.50:.95] 0.56 and mAP50 0.94 (box 0.74 / 0.96) in about 8 minutes on this kind of machine
  (the issue's measurement; Ultralytics is AGPL and is not installed here, so it is quoted, not
  re-run). Goal: mask mAP ≥ 0.9x the peer's within 2x its time. (The issue also quotes 0.77 /
  0.99 in 410 s for a foreground-inside-the-box head on a set whose digits never overlap: a
  bound on easier data, not a peer.)
* **training speed**: train images/s of the real job (no augmentation, 0 loader workers, as
  its epochs report) against a plain loop with the same decoded images, masks, model, losses,
  optimizer and batch size, in the same run; the two run in turn twice and each figure is its
  best. Goal ≥ 0.9.
* **evaluation**: images/s of the real evaluation job (decode, inference, COCO mask figures).
* **export**: per-image latency of the ONNX graph (onnxruntime, CPU) next to PyTorch eager
  running the same export module, on a held-out canvas (its detections' masks are part of the
  cost); skipped with a note where the instance export adapter is missing.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from aistudio import commands
from aistudio.datasets.scenes import Scene, write_scenes
from aistudio.tasks.registry import get_task
from aistudio.training.data import decode_all, labelled_entries, to_model_input
from aistudio.workspace import Workspace
from bench.bench_detection import (
    _project,
    app_rate,
    export_graph,
    onnx_and_eager_ms,
    train_and_evaluate,
)
from bench.common import Row, print_table

TASK = "instance_segmentation"
QUICK = os.environ.get("AISTUDIO_BENCH_QUICK") == "1"
CANVASES = 120 if QUICK else 400
HELD_OUT = 40 if QUICK else 100
QUICK_EPOCHS = 3
SIZE = 128
CLASSES = ("0", "1", "2")
YOLO11N_SEG = {
    "mask_map": 0.56,
    "mask_map50": 0.94,
    "box_map": 0.74,
    "box_map50": 0.96,
    "train_s": 480.0,
}
"""Ultralytics YOLO11n-seg from scratch, 30 epochs at 128 px (the issue's measurement here:
"about 8 minutes")."""
SPEED_EPOCHS = 2
SPEED_ROUNDS = 2
"""The loop and the job run in turn this many times; each figure is its best (a shared
machine's load comes and goes)."""
BATCH = 16


# ---------------------------------------------------------------------- data
def _coco(folder: Path) -> tuple[Path, list[Scene]]:
    """The benchmark's canvases as a COCO folder with polygon segmentation; also the scenes."""
    scenes = write_scenes(
        folder / "images",
        CANVASES,
        size=(SIZE, SIZE),
        classes=CLASSES,
        per_image=(1, 4),
        seed=11,
        digit_px=(20, 32),
        overlap=True,
    )
    ids = {c: i + 1 for i, c in enumerate(CLASSES)}
    annotations = []
    for n, scene in enumerate(scenes):
        for obj in scene.objects:
            x1, y1, x2, y2 = obj.mask_box()
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": n + 1,
                    "category_id": ids[obj.label],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "segmentation": obj.outline(),
                    "area": int(obj.mask(scene.width, scene.height).sum()),
                    "iscrowd": 0,
                }
            )
    doc = {
        "images": [
            {"id": n + 1, "file_name": f"images/{s.file_name}", "width": SIZE, "height": SIZE}
            for n, s in enumerate(scenes)
        ],
        "annotations": annotations,
        "categories": [{"id": i, "name": c} for c, i in ids.items()],
    }
    (folder / "instances.json").write_text(json.dumps(doc))
    return folder, scenes


def overlap_share(scenes: list[Scene]) -> tuple[int, int]:
    """How many objects there are, and how many share mask pixels with another of their
    canvas."""
    total = shared = 0
    for scene in scenes:
        masks = [o.mask(scene.width, scene.height) for o in scene.objects]
        for i, mask in enumerate(masks):
            total += 1
            if any((mask & other).any() for j, other in enumerate(masks) if j != i):
                shared += 1
    return total, shared


# ---------------------------------------------------------------------- figures
def accuracy(workspace: Workspace, project_id: str) -> dict[str, Any]:
    """Train with the defaults a user gets, evaluate on the held-out test canvases."""
    return train_and_evaluate(workspace, project_id, TASK, QUICK_EPOCHS if QUICK else None)


def plain_rate(workspace: Workspace, project_id: str) -> float:
    """Best images/s of a hand-written loop: same images, masks, model, losses, optimizer and
    batch; the masks are unpacked once, before the clock starts (the job unpacks them per
    sample, so this is the loop's best case)."""
    task = get_task(TASK)
    view = commands.dataset_view(workspace, project_id)
    entries = labelled_entries(view, "default", task)["train"]
    info = task.fit_state(entries)
    paths = [workspace.image_path(project_id, e.sha256, e.ext) for e in entries]
    images = decode_all(paths, SIZE, os.cpu_count() or 1)

    def files(sha256: str, ext: str) -> Path:
        return workspace.image_path(project_id, sha256, ext)

    samples = [(images[i], task.sample_target(e, info, SIZE, files)) for i, e in enumerate(entries)]
    _, targets = task.collate(samples)  # masks unpacked: uint8 M x S x S per image
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
) -> tuple[float, float, int] | None:
    """Median per-image latency (ms) of the exported ONNX graph and of PyTorch eager on the
    first held-out canvas, and how many objects the graph found there; None (with a note)
    where the instance export adapter is not there."""
    try:
        from aistudio.export.adapters import InstancesAdapter  # noqa: F401
    except ImportError:
        print(
            "\nnote: aistudio.export.adapters has no InstancesAdapter yet: export latency skipped"
        )
        return None
    graph, session = export_graph(workspace, project_id, experiment_id, TASK)
    view = commands.dataset_view(workspace, project_id)
    test = sorted(i for i, subset in view.splits["default"].items() if subset == "test")
    first = view.images[test[0]]
    image = decode_all([workspace.image_path(project_id, first.sha256, first.ext)], SIZE, 1)
    batch = to_model_input(image)
    with torch.inference_mode():
        found = len(session.run(None, {"input": batch.numpy()})[1])
    return (*onnx_and_eager_ms(session, graph, batch), found)


def main() -> None:
    """Print the instance segmentation figures (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="aistudio-bench-instances-") as tmp:
        root = Path(tmp)
        workspace = Workspace(root / "ws")
        workspace.ensure()
        source, scenes = _coco(root / "coco")
        objects, shared = overlap_share(scenes)
        project_id = _project(workspace, source, TASK, HELD_OUT, expected=CANVASES)
        result = accuracy(workspace, project_id)
        plain = app = 0.0
        for round_ in range(SPEED_ROUNDS):
            plain = max(plain, plain_rate(workspace, project_id))
            app = max(app, app_rate(workspace, project_id, TASK, f"speed {round_ + 1}"))
        export = export_latency(workspace, project_id, result["experiment_id"])
    peer = YOLO11N_SEG
    rows = [
        Row(
            f"mask mAP@[.50:.95], {HELD_OUT} held-out canvases",
            result["mask_map"],
            "",
            "YOLO11n-seg",
            peer["mask_map"],
            f">= 0.9 x YOLO11n-seg ({0.9 * peer['mask_map']:.3g})",
        ),
        Row("mask mAP50", result["mask_map50"], "", "YOLO11n-seg", peer["mask_map50"]),
        Row("box mAP@[.50:.95]", result["box_map"], "", "YOLO11n-seg", peer["box_map"]),
        Row("box mAP50", result["box_map50"], "", "YOLO11n-seg", peer["box_map50"]),
        Row(
            f"training time, {result['epochs']} epochs (defaults)",
            result["train_s"],
            "s",
            "YOLO11n-seg",
            peer["train_s"],
            "<= 2 x YOLO11n-seg",
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
    ]
    if export is not None:
        onnx_ms, eager_ms, found = export
        rows.append(
            Row(
                f"export latency per image (ONNX Runtime, {found} found)",
                onnx_ms,
                "ms",
                "PyTorch eager",
                eager_ms,
            )
        )
    title = (
        f"Instance segmentation ({CANVASES} canvases of {SIZE} px, {objects} objects, "
        f"{shared} sharing mask pixels with another; {result['model']}"
        f"{', quick' if QUICK else ''})"
    )
    print_table(title, rows)
    print(f"(the default run's weights: {result['weights']}; device: {result['device']})")
    if QUICK:
        print(
            f"(quick: {CANVASES} canvases, {QUICK_EPOCHS} epochs; the peer's figures are for "
            "300 training canvases and 30 epochs, so accuracy and time are not comparable)"
        )
