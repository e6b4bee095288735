"""Evaluation speed of the app's job next to a plain PyTorch loop over the same images.

Run with ``python -m bench evaluation``. A few hundred generated 64 px JPEGs (a temporary
workspace, imported and split like a user's), ResNet-18 trained one epoch from scratch, then
every image of the split evaluated with batch 64:

* **job**: the real ``EvaluationRequested`` handler run by the job runner (log fold, checks,
  checkpoint hash and load, chunked decoding and batched inference with the next chunk decoded
  in the background, scikit-learn figures, results and report written and fsynced); its
  ``images_per_s`` (decoding and inference, as ``EvaluationCompleted`` reports it) and its whole
  ``duration_s``;
* **plain loop**, the baseline, in the same run: the same checkpoint loaded with ``load_model``,
  the same images decoded with ``decode_all`` into one tensor, then a hand-written
  ``inference_mode`` loop over batches of 64. Goal: the job's decoding + inference reaches at
  least 0.9 of the plain loop's.
* **forward only**: the job's batch loop (``forward_batches``) over the already decoded tensor,
  next to the plain loop over the same tensor (the overhead of progress and cancel checks).

Each figure is the best of ``ROUNDS`` interleaved runs (this kind of machine's speed drifts).
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from aistudio import commands
from aistudio.datasets.demo import write_random_jpegs
from aistudio.evaluation.inference import default_device, forward_batches
from aistudio.tasks.registry import get_task
from aistudio.training.checkpoints import load_model
from aistudio.training.data import cpu_count, decode_all, labelled_entries, to_model_input
from aistudio.worker.runner import run_job
from aistudio.worker.service import Worker
from aistudio.workspace import Workspace
from bench.common import Row, print_table, timed
from events import EventLog

N_IMAGES = 384
IMAGE_SIZE = 64
BATCH = 64
ROUNDS = 3
GOAL = ">= 0.9 x plain"
SUBSETS = ["train", "val", "test"]
CONFIG: dict[str, Any] = {
    "model": "resnet18",
    "image_size": IMAGE_SIZE,
    "batch_size": 32,
    "epochs": 1,
    "scheduler": "none",
    "pretrained": False,
    "num_workers": 0,
    "seed": 0,
}


def _trained(workspace: Workspace, source: Path) -> tuple[str, str]:
    """A project of ``source`` with one experiment trained for an epoch: (project, experiment)."""
    created = commands.create_project(workspace, "bench", "classification")
    project_id = str(created.data["project_id"])
    commands.request_import(workspace, project_id, source, "imagefolder")
    Worker(workspace).run(once=True)
    commands.create_split(workspace, project_id, "default", 0.5, 0.25, 0.25)
    command = commands.request_training(workspace, project_id, "bench", "default", CONFIG)
    if run_job(workspace, project_id, command.id) != "succeeded":
        raise RuntimeError("the benchmark's training run did not succeed")
    return project_id, str(command.data["experiment_id"])


def job_figures(workspace: Workspace, project_id: str, experiment_id: str) -> dict[str, float]:
    """``images_per_s`` and ``duration_s`` of one evaluation job (then reset, for the next)."""
    log = EventLog(workspace.events_path(project_id))
    data = {"experiment_id": experiment_id, "subsets": SUBSETS, "batch_size": BATCH}
    command = log.append("EvaluationRequested", data, actor="script")
    if run_job(workspace, project_id, command.id) != "succeeded":
        raise RuntimeError("the benchmark's evaluation did not succeed")
    done = next(
        e.data
        for e in log.read(after_seq=command.seq)
        if e.type == "EvaluationCompleted" and e.causation == command.id
    )
    log.append("EvaluationReset", {"experiment_id": experiment_id}, actor="script")
    return {
        "images_per_s": float(done["images_per_s"]),
        "duration_s": float(done["duration_s"]),
        "images": float(done["images"]),
    }


def _paths(workspace: Workspace, project_id: str) -> list[Path]:
    task = get_task("classification")
    entries = labelled_entries(commands.dataset_view(workspace, project_id), "default", task)
    return [workspace.image_path(project_id, e.sha256, e.ext) for s in SUBSETS for e in entries[s]]


def plain_loop(model: torch.nn.Module, images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The baseline: a hand-written batched ``inference_mode`` loop."""
    outputs = []
    with torch.inference_mode():
        for i in range(0, len(images), BATCH):
            outputs.append(model(to_model_input(images[i : i + BATCH].to(device))).cpu())
    return torch.cat(outputs)


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else 0.0


def main(n_images: int = N_IMAGES) -> None:
    """Measure and print the table."""
    logging.getLogger("aistudio").setLevel(logging.WARNING)
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-evaluation-") as tmp:
        root = Path(tmp)
        write_random_jpegs(root / "source", n_images, size=IMAGE_SIZE, classes=4)
        workspace = Workspace(root / "workspace")
        workspace.ensure()
        project_id, experiment_id = _trained(workspace, root / "source")
        paths = _paths(workspace, project_id)
        device = default_device()
        checkpoint = workspace.checkpoint_path(project_id, experiment_id, "best")
        model, _meta = load_model(checkpoint, get_task("classification"))
        model.to(device)
        best = dict.fromkeys(("job", "plain", "job forward", "plain forward"), 0.0)
        duration = float("inf")
        for _round in range(ROUNDS):  # interleaved: the machine's speed drifts
            job = job_figures(workspace, project_id, experiment_id)
            best["job"] = max(best["job"], job["images_per_s"])
            duration = min(duration, job["duration_s"])
            start = time.perf_counter()
            images = decode_all(paths, IMAGE_SIZE, cpu_count())
            plain_loop(model, images, device)
            best["plain"] = max(best["plain"], _rate(len(paths), time.perf_counter() - start))
            start = time.perf_counter()
            forward_batches(model, images, BATCH, device, lambda: None, lambda _done: None)
            elapsed = time.perf_counter() - start
            best["job forward"] = max(best["job forward"], _rate(len(paths), elapsed))
            start = time.perf_counter()
            plain_loop(model, images, device)
            elapsed = time.perf_counter() - start
            best["plain forward"] = max(best["plain forward"], _rate(len(paths), elapsed))
    rows = [
        Row("job: decoding + inference", best["job"], "img/s", "plain loop", best["plain"], GOAL),
        Row(
            "job's batch loop over decoded images",
            best["job forward"],
            "img/s",
            "plain loop, decoded",
            best["plain forward"],
            GOAL,
        ),
        Row(
            "job: whole duration (log to files)",
            duration,
            "s",
            "plain decode + inference",
            len(paths) / best["plain"] if best["plain"] else None,
        ),
    ]
    where = "cuda" if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    title = f"Evaluation: {len(paths)} JPEG {IMAGE_SIZE}px, ResNet-18, batch {BATCH} ({where})"
    print_table(title, rows)
    print_table(f"Evaluation page: {RESULT_ROWS:,} per-image results", results_page_rows())


RESULT_ROWS = 100_000


def results_page_rows() -> list[Row]:
    """The Evaluation page's grid over 100k result rows (10 classes, 80 % right), each figure
    next to one plain ``sorted()`` of the rows by confidence in the same run."""
    import operator
    import random

    from projections.dataset import DatasetView
    from ui.components import evaluation_results as results

    rnd = random.Random(0)
    classes = [str(i) for i in range(10)]
    rows: list[dict[str, object]] = []
    for i in range(RESULT_ROWS):
        target = rnd.choice(classes)
        predicted = target if rnd.random() < 0.8 else rnd.choice(classes)
        rows.append(
            {
                "image_id": f"img-{i:08x}",
                "subset": rnd.choice(("train", "val", "test")),
                "target": target,
                "prediction": predicted,
                "confidence": rnd.random(),
                "correct": target == predicted,
                "scores": [0.1] * 10,
                "label_changed": False,
            }
        )
    dataset = DatasetView()
    by_confidence = operator.itemgetter("confidence")
    plain = timed(lambda: sorted(rows, key=by_confidence), 3)

    def page(**query: object) -> float:
        chosen = results.ResultsQuery(**query)  # type: ignore[arg-type]
        return timed(lambda: results.results_page(rows, "classification", chosen, dataset), 3)

    goal = "< 0.3 s"
    return [
        Row("first page (mistakes first, all rows)", page(), "s", "plain sort", plain, goal),
        Row("mistakes only", page(wrong_only=True), "s", "plain sort", plain, goal),
        Row(
            "one true class, by confidence",
            page(true_class="3", sort="confidence_desc", page=5),
            "s",
            "plain sort",
            plain,
            goal,
        ),
        Row(
            "flag summary",
            timed(lambda: results.flag_summary(rows, dataset, "classification"), 3),
            "s",
            "plain sort",
            plain,
            goal,
        ),
    ]
