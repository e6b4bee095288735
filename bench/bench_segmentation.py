"""Semantic segmentation: accuracy and time against a plain U-Net loop, job speed, ONNX vs eager.

Run with ``python -m bench segmentation`` (``AISTUDIO_BENCH_QUICK=1`` for a short smoke run). The
data set (:mod:`aistudio.datasets.semantic_scenes`): 400 canvases of 128 px, each with 1 to 4 real
scans of handwritten digits (scikit-learn's; classes 0, 1 and 2, so 3 classes + background)
pasted 24 to 40 px square, overlaps allowed; a pixel's class is the digit whose ink covers it
(the later one on top), background elsewhere. Imported with the ``masks`` format like a user's;
300 for training (255 train, 45 val) and 100 held out as test. Figures:

* **accuracy and time**: the default model with the defaults a user gets (the training form's:
  U-Net ResNet-18 from scratch, 128 px, 30 epochs, batch 16, CE + Dice, augmentations), trained
  by the real job, scored on the 100 test canvases by the real evaluation (mIoU of the
  dataset-level confusion matrix). Next to it, in the same run, a plain PyTorch loop of
  segmentation-models-pytorch's ``Unet("resnet18", encoder_weights=None)`` on the same 255 train
  images (decoded once), same epochs, size and batch, Adam at 1e-3 and cross-entropy (what its
  examples do), no augmentation, scored by the same figures on the same test images. Goal:
  mIoU >= the plain loop's, in no more time. Without smp installed (``pip install
  segmentation-models-pytorch``: it is a benchmark's dependency, not the app's), the plain loop
  trains our own U-Net (the same architecture) and says so.
* **training speed**: train images/s of the real job (no augmentation, 0 loader workers, as its
  epochs report) against a plain loop with the same decoded images, masks, model, losses,
  optimizer and batch size, in the same run; the two run in turn twice and each figure is its
  best. Goal >= 0.9.
* **evaluation**: images/s of the real evaluation job (decode, masks, inference, figures).
* **export**: per-image latency of the ONNX graph (onnxruntime, CPU) next to PyTorch eager.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from aistudio import commands
from aistudio.datasets.semantic_scenes import write_semantic_scenes
from aistudio.evaluation.segmentation_figures import segmentation_figures
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

TASK = "segmentation"
QUICK = os.environ.get("AISTUDIO_BENCH_QUICK") == "1"
CANVASES = 120 if QUICK else 400
HELD_OUT = 40 if QUICK else 100
QUICK_EPOCHS = 3
SIZE = 128
CLASSES = ("0", "1", "2")
SPEED_EPOCHS = 2
SPEED_ROUNDS = 2
BATCH = 16
PLAIN_LR = 1e-3


# ---------------------------------------------------------------------- data
def _subset(
    workspace: Workspace, project_id: str, subset: str
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Decoded images (uint8 N x 3 x S x S) and masks (uint8 N x S x S) of a subset of the
    ``default`` split, as the task builds them; also the model classes."""
    task = get_task(TASK)
    view = commands.dataset_view(workspace, project_id)
    entries = labelled_entries(view, "default", task)
    info = task.fit_state(entries["train"])
    chosen = entries[subset]
    paths = [workspace.image_path(project_id, e.sha256, e.ext) for e in chosen]
    images = decode_all(paths, SIZE, os.cpu_count() or 1)

    def files(sha256: str, ext: str) -> Path:
        return workspace.image_path(project_id, sha256, ext)

    masks = torch.stack([task.sample_target(e, info, SIZE, files) for e in chosen])
    return images, masks, info.classes


# ---------------------------------------------------------------------- figures
def accuracy(workspace: Workspace, project_id: str) -> dict[str, Any]:
    """Train with the defaults a user gets, evaluate on the held-out test canvases."""
    return train_and_evaluate(workspace, project_id, TASK, QUICK_EPOCHS if QUICK else None)


def _plain_unet(classes: int) -> tuple[torch.nn.Module, str]:
    """smp's ``Unet("resnet18", encoder_weights=None)``, or ours where smp is not installed."""
    try:
        import segmentation_models_pytorch as smp
    except ImportError:
        from aistudio.tasks.segmentation_models.unet import UNet

        return UNet(classes, "resnet18"), "own U-Net (smp not installed)"
    model = smp.Unet("resnet18", encoder_weights=None, classes=classes)
    return model, f"smp {smp.__version__} Unet(resnet18)"


def plain_unet_loop(workspace: Workspace, project_id: str, epochs: int) -> dict[str, Any]:
    """A plain PyTorch loop of a U-Net (see the module docstring): its time and test figures."""
    images, masks, classes = _subset(workspace, project_id, "train")
    test_images, test_masks, _ = _subset(workspace, project_id, "test")
    torch.manual_seed(0)
    model, name = _plain_unet(len(classes))
    optimizer = torch.optim.Adam(model.parameters(), lr=PLAIN_LR)
    criterion = torch.nn.CrossEntropyLoss(ignore_index=255)
    start = time.perf_counter()
    for _epoch in range(epochs):
        model.train()
        order = torch.randperm(len(images))
        for first in range(0, len(order), BATCH):
            index = order[first : first + BATCH]
            loss = criterion(model(to_model_input(images[index])), masks[index].long())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    train_s = time.perf_counter() - start
    model.eval()
    predicted = []
    with torch.inference_mode():
        for first in range(0, len(test_images), BATCH):
            batch = to_model_input(test_images[first : first + BATCH])
            predicted.append(model(batch).argmax(1).to(torch.uint8))
    metrics, _, _ = segmentation_figures(torch.cat(predicted).numpy(), test_masks.numpy(), classes)
    return {"name": name, "train_s": train_s, **metrics}


def plain_rate(workspace: Workspace, project_id: str) -> float:
    """Best images/s of a hand-written loop with the job's model, losses and optimizer on the
    same decoded images and masks (built once, before the clock starts)."""
    task = get_task(TASK)
    images, masks, classes = _subset(workspace, project_id, "train")
    info = task.fit_state(
        labelled_entries(commands.dataset_view(workspace, project_id), "default", task)["train"]
    )
    torch.manual_seed(0)
    model, _ = task.build_model(task.default_model, info, False, SIZE)
    criterion = task.loss_fn(task.options_model(), info, [1] * len(classes))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    model.train()
    best = 0.0
    for _epoch in range(SPEED_EPOCHS):
        order = torch.randperm(len(images))
        start = time.perf_counter()
        for first in range(0, len(order), BATCH):
            index = order[first : first + BATCH]
            losses = criterion(model(to_model_input(images[index])), masks[index])
            loss = sum(losses.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[union-attr]
            optimizer.step()
        best = max(best, len(order) / (time.perf_counter() - start))
    return best


def export_latency(
    workspace: Workspace, project_id: str, experiment_id: str
) -> tuple[float, float] | None:
    """Median per-image latency (ms) of the exported ONNX graph and of PyTorch eager on one
    held-out canvas; None (with a note) where the semantic export adapter is missing."""
    try:
        from aistudio.export.adapters import SemanticAdapter  # noqa: F401
    except ImportError:
        print("\nnote: aistudio.export.adapters has no SemanticAdapter yet: latency skipped")
        return None
    graph, session = export_graph(workspace, project_id, experiment_id, TASK)
    images, _, _ = _subset(workspace, project_id, "test")
    return onnx_and_eager_ms(session, graph, to_model_input(images[:1]))


def main() -> None:
    """Print the semantic segmentation figures (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="aistudio-bench-segmentation-") as tmp:
        root = Path(tmp)
        workspace = Workspace(root / "ws")
        workspace.ensure()
        source = root / "masks"
        write_semantic_scenes(
            source, CANVASES, size=(SIZE, SIZE), classes=CLASSES, seed=11, digit_px=(24, 40)
        )
        project_id = _project(workspace, source, TASK, HELD_OUT, expected=CANVASES, fmt="masks")
        result = accuracy(workspace, project_id)
        plain_loop = plain_unet_loop(workspace, project_id, int(result["epochs"]))
        plain = app = 0.0
        for round_ in range(SPEED_ROUNDS):
            plain = max(plain, plain_rate(workspace, project_id))
            app = max(app, app_rate(workspace, project_id, TASK, f"speed {round_ + 1}"))
        export = export_latency(workspace, project_id, result["experiment_id"])
    loop = plain_loop["name"]
    rows = [
        Row(
            f"mIoU, {HELD_OUT} held-out canvases",
            result["miou"],
            "",
            loop,
            plain_loop.get("miou", float("nan")),
            ">= the plain loop's",
        ),
        Row("pixel accuracy", result["pixel_accuracy"], "", loop, plain_loop["pixel_accuracy"]),
        Row("Dice (macro)", result["dice_macro"], "", loop, plain_loop["dice_macro"]),
        Row(
            f"training time, {result['epochs']} epochs (defaults)",
            result["train_s"],
            "s",
            loop,
            plain_loop["train_s"],
            "<= the plain loop's",
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
        onnx_ms, eager_ms = export
        rows.append(
            Row("export latency per image (ONNX Runtime)", onnx_ms, "ms", "PyTorch eager", eager_ms)
        )
    title = (
        f"Semantic segmentation ({CANVASES} canvases of {SIZE} px, 3 classes + background; "
        f"{result['model']}{', quick' if QUICK else ''})"
    )
    print_table(title, rows)
    print(f"(the default run's weights: {result['weights']})")
