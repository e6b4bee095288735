"""Memory and time of a training step for every model offered: the table behind the estimate.

Run with ``python -m bench resources`` (``AISTUDIO_BENCH_QUICK=1``: two models only;
``python -m bench.bench_resources --check``: only the last two tables, with the table as it is
in the code). For each
model of every task's catalogue (``aistudio.tasks.models`` backbones, the detection catalogue),
at a few image sizes and batch sizes, a fresh Python process (so that its peak RSS is its own)
imports what a job imports, builds the model through the task contract (``build_model``, from
scratch), and runs real training steps (``training_losses``, backward, AdamW) on random images
with targets made by ``sample_target``, then a few validation batches (``validation_batch``).
It reports:

* the peak RSS increase over the process before the model was built (``ru_maxrss``), i.e.
  weights, gradients, optimizer state and the activations one step keeps for backward;
* seconds per training image and per validation image (the fastest of the timed steps, after
  a warm-up step: the one least disturbed by other work on a shared machine), and the fixed
  part of a step (the optimizer);
* the exact parameter count with one and with two head outputs.

Then it fits, per model, ``memory = fixed + per_image x batch x (S / S0)^2`` and ``step time =
step + per_image x batch x (S / S0)^2`` (least squares over the grid; S0 =
:data:`aistudio.tasks.costs.REFERENCE_SIZE`), prints each figure next to what the table in
:mod:`aistudio.tasks.costs` predicts for it (the baseline: the figures the app uses now), and
prints the fitted table as Python to paste into that module.

Last, the whole estimate (:func:`aistudio.training.resources.estimate_run`) against real jobs
(the runner, Lightning, the decoded-image cache, the event callback) on generated images: the
job process's peak RSS and its first epoch's duration, next to the estimate for the same run.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Row, print_table

QUICK = os.environ.get("AISTUDIO_BENCH_QUICK") == "1"
ONLY = {m for m in os.environ.get("AISTUDIO_BENCH_MODELS", "").split(",") if m}
"""Measure only these models (comma-separated names; empty: every model offered)."""
TIMED_STEPS = 4
VALIDATION_BATCHES = 3
CLASSES = 4
"""Classes of the generated targets (heads of this size; the table's parameters are exact)."""


# ---------------------------------------------------------------------- one measurement (child)
def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _fake_entries(n: int, size: int, kind: str = "boxes") -> list[Any]:
    """Entries that every task accepts: a label, a value and an annotation of ``kind`` each
    (boxes; instances, each box's rectangle as its polygon; or a semantic mask and legend)."""
    from projections.dataset import ImageEntry

    entries = []
    for i in range(n):
        cls = f"c{i % CLASSES}"
        objects: list[dict[str, Any]] = [
            {"class": f"c{(i + k) % CLASSES}", "box": [4.0 + 9 * k, 5.0, 30.0 + 9 * k, 40.0]}
            for k in range(3)
        ]
        if kind == "instances":
            for obj in objects:
                x1, y1, x2, y2 = obj["box"]
                obj["polygons"] = [[x1, y1, x2, y1, x2, y2, x1, y2]]
        annotation: dict[str, Any] = {"kind": kind, "objects": objects}
        if kind == "semantic":
            legend = ["background", *(f"c{k}" for k in range(CLASSES))]
            annotation = {"kind": kind, "mask": {"sha256": f"{i:064x}", "ext": "png"}}
            annotation["classes"] = legend
        entries.append(
            ImageEntry(
                image_id=f"img-{i:08x}",
                sha256=f"{i:064x}",
                ext="png",
                filename=f"{i}.png",
                width=64,
                height=64,
                size_bytes=1,
                label=cls,
                value=float(i % 7),
                added_seq=1,
                structured=annotation,
            )
        )
    return entries


def _measure_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Measure one (task, model, size, batch) in this process; see the module's docstring."""
    import pytorch_lightning  # noqa: F401  (a job process holds it before its model)
    import torch

    from aistudio.tasks.registry import get_task
    from aistudio.training.data import to_model_input

    task = get_task(spec["task"])
    size, batch = int(spec["size"]), int(spec["batch"])
    kind = task.label_kind if task.label_kind in ("instances", "semantic") else "boxes"
    entries = _fake_entries(max(batch, 2 * CLASSES), size, kind)
    info = task.fit_state(entries)
    options = task.options_model()
    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)
    if kind == "semantic":  # index masks of the image's size (no file to read them from)
        masks = torch.randint(0, len(info.classes), (batch, size, size), dtype=torch.uint8)
        samples = [(images[i], masks[i]) for i in range(batch)]
    else:
        samples = [
            (images[i], task.sample_target(e, info, size)) for i, e in enumerate(entries[:batch])
        ]
    _, targets = task.collate(samples)  # as a loader's batch (masks unpacked)
    torch.manual_seed(0)
    rss_before = _rss_bytes()
    model, _ = task.build_model(spec["model"], info, False, size)
    criterion = task.loss_fn(options, info, task.class_counts(entries, info))
    parameters = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    steps: list[float] = []
    for _ in range(1 + TIMED_STEPS):
        start = time.perf_counter()
        losses = task.training_losses(model, criterion, to_model_input(images), targets)
        loss = sum(losses.values())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        steps.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    model.eval()
    evals: list[float] = []
    with torch.no_grad():
        for _ in range(1 + VALIDATION_BATCHES):
            start = time.perf_counter()
            task.validation_batch(model, criterion, to_model_input(images), targets, options)
            evals.append(time.perf_counter() - start)
    # The parameter count with one class more: what each head output adds.
    params_wider = None
    if spec["widen"] and info.classes:
        wider = type(info)(classes=[*info.classes, "extra"], mean=info.mean, std=info.std)
        other, _ = task.build_model(spec["model"], wider, False, size)
        added = task.head_outputs(wider) - task.head_outputs(info)
        if added:
            params_wider = (sum(p.numel() for p in other.parameters()) - parameters) // added
    return {
        **spec,
        "threads": torch.get_num_threads(),
        "rss_before": rss_before,
        "peak_increase": max(0, peak - rss_before),
        "step_s": min(steps[1:]),  # the least disturbed by other work on the machine
        "eval_s": min(evals[1:]),
        "parameters": parameters,
        "outputs": task.head_outputs(info),
        "parameters_per_output": params_wider,
    }


def measure(task: str, model: str, size: int, batch: int, widen: bool = False) -> dict[str, Any]:
    """:func:`_measure_child` in a fresh process (its peak RSS is its own)."""
    spec = {"task": task, "model": model, "size": size, "batch": batch, "widen": widen}
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_resources", "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"measuring {spec} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- the sweep (parent)
def _grid(task_name: str) -> list[tuple[int, int]]:
    """(image size, batch) pairs measured: two batch sizes at S0 and sizes around it."""
    from aistudio.tasks.costs import REFERENCE_SIZE

    if task_name == "detection_grid":
        return [(96, 2), (REFERENCE_SIZE, 2), (REFERENCE_SIZE, 6), (2 * REFERENCE_SIZE, 2)]
    return [(64, 16), (REFERENCE_SIZE, 4), (REFERENCE_SIZE, 16), (2 * REFERENCE_SIZE, 4)]


def _models() -> list[tuple[str, str, str]]:
    """(task, model, grid) for every model offered, each model once (tasks share backbones)."""
    from aistudio.tasks.registry import available_tasks, get_task

    seen: set[str] = set()
    out: list[tuple[str, str, str]] = []
    for name in available_tasks():
        task = get_task(name)
        for spec in task.models:
            if spec.name in seen:
                continue
            seen.add(spec.name)
            grid = "detection_grid" if spec.min_image_size > 32 else "backbone_grid"
            out.append((name, spec.name, grid))
    if QUICK:
        return [out[0], next(m for m in out if m[2] == "detection_grid")]
    if ONLY:
        return [m for m in out if m[1] in ONLY]
    return out


def _least_squares(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Intercept and slope of the least-squares line through (xs, ys), slope at least 0."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = 0.0 if sxx == 0 else sxy / sxx
    slope = max(slope, 0.0)
    return max(my - slope * mx, 0.0), slope


def fit(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The table's constants of one model from its measured points."""
    from aistudio.tasks.costs import REFERENCE_SIZE

    load = [p["batch"] * (p["size"] / REFERENCE_SIZE) ** 2 for p in points]
    fixed, per_image = _least_squares(load, [p["peak_increase"] / 1e6 for p in points])
    step, train = _least_squares(load, [p["step_s"] * 1000 for p in points])
    _, evaluate = _least_squares(load, [p["eval_s"] * 1000 for p in points])
    first = points[0]
    per_output = first.get("parameters_per_output") or 0
    return {
        "fixed_mb": round(fixed, 1),
        "per_image_mb": round(per_image, 2),
        "step_ms": round(step, 1),
        "train_ms": round(train, 2),
        "eval_ms": round(evaluate, 2),
        "params_base": first["parameters"] - per_output * first["outputs"],
        "params_per_output": per_output,
    }


def _sweep() -> tuple[list[Row], dict[str, dict[str, Any]], list[dict[str, Any]]]:
    from aistudio.tasks.base import ModelCost
    from aistudio.tasks.costs import MODEL_COSTS, REFERENCE_SIZE

    rows: list[Row] = []
    fitted: dict[str, dict[str, Any]] = {}
    every: list[dict[str, Any]] = []
    for task, model, grid in _models():
        points = []
        for index, (size, batch) in enumerate(_grid(grid)):
            points.append(measure(task, model, size, batch, widen=index == 0))
        every.extend(points)
        fitted[model] = fit(points)
        now = MODEL_COSTS.get(model)
        cost = ModelCost(**fitted[model])
        for p in points:
            load = p["batch"] * (p["size"] / REFERENCE_SIZE) ** 2
            table = now.step_memory_mb(p["size"], p["batch"]) if now else None
            rows.append(
                Row(
                    f"{model} {p['size']}px b{p['batch']} memory",
                    p["peak_increase"] / 1e6,
                    "MB",
                    "table",
                    table,
                    f"fit {cost.fixed_mb + cost.per_image_mb * load:.0f}",
                )
            )
            table_s = now.step_seconds(p["size"], p["batch"]) if now else None
            rows.append(
                Row(
                    f"{model} {p['size']}px b{p['batch']} step",
                    p["step_s"],
                    "s",
                    "table",
                    table_s,
                    f"fit {cost.step_seconds(p['size'], p['batch']):.3g}",
                )
            )
    return rows, fitted, every


# ---------------------------------------------------------------------- the whole estimate
def _job_check() -> list[Row]:
    """Real jobs: peak RSS and first-epoch time next to the estimate of the same run."""
    from aistudio import commands
    from aistudio.datasets.demo import write_random_jpegs
    from aistudio.worker.service import Worker
    from aistudio.workspace import Workspace
    from events import EventLog

    rows: list[Row] = []
    cases = [
        {"model": "resnet18", "image_size": 128, "batch_size": 16, "num_workers": 0},
        {"model": "mobilenet_v3_small", "image_size": 192, "batch_size": 32, "num_workers": 2},
    ]
    if QUICK:
        cases = cases[:1]
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Workspace(Path(tmp) / "ws")
        source = Path(tmp) / "images"
        write_random_jpegs(source, 96, size=256)
        created = commands.create_project(workspace, "resources", "classification")
        project_id = str(created.data["project_id"])
        commands.request_import(workspace, project_id, source, "imagefolder")
        Worker(workspace).run(once=True)
        commands.create_split(workspace, project_id, "default")
        for case in cases:
            config = {**case, "epochs": 1, "pretrained": False, "augmentations": {}}
            plan = commands.check_training(workspace, project_id, None, "default", config)
            if plan.resources is None:
                raise RuntimeError(f"no figures for {case['model']}: fill the table first")
            estimate = plan.resources.estimate
            event = commands.request_training(workspace, project_id, None, "default", config)
            started = time.monotonic()
            job = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.bench_resources",
                    "--job",
                    str(workspace.root),
                    project_id,
                    event.id,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if job.returncode != 0:
                raise RuntimeError(f"job failed:\n{job.stderr[-3000:]}")
            peak = int(job.stdout.strip().splitlines()[-1])
            epochs = [
                e
                for e in EventLog(workspace.events_path(project_id)).read()
                if e.type == "EpochCompleted" and e.causation == event.id
            ]
            label = f"job {case['model']} {case['image_size']}px b{case['batch_size']}"
            rows.append(
                Row(
                    f"{label} peak RSS",
                    peak / 1e9,
                    "GB",
                    "estimate",
                    estimate.peak_bytes / 1e9,
                    "estimate >= measured",
                )
            )
            if epochs and estimate.epoch_s is not None:
                rows.append(
                    Row(
                        f"{label} epoch",
                        epochs[0].data["duration_s"],
                        "s",
                        "estimate",
                        estimate.epoch_s,
                        f"(job took {time.monotonic() - started:.0f} s in all)",
                    )
                )
    return rows


def _guard_overhead() -> list[Row]:
    """Step time with the run guard's hooks (a check before every module and every gradient)
    next to the same steps without them: MobileNetV3-Small at 32 px, the most module calls per
    second of work of any model offered; interleaved rounds, the best of each."""
    import torch

    from aistudio.tasks.registry import get_task
    from aistudio.training.data import to_model_input
    from aistudio.training.resources import RunGuard

    task = get_task("classification")
    entries = _fake_entries(16, 32)
    info = task.fit_state(entries)
    model, _ = task.build_model("mobilenet_v3_small", info, False, 32)
    criterion = task.loss_fn(task.options_model(), info, task.class_counts(entries, info))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    targets = task.stack_targets([task.sample_target(e, info, 32) for e in entries])

    def steps(n: int = 10) -> float:
        start = time.perf_counter()
        for _ in range(n):
            losses = task.training_losses(model, criterion, to_model_input(images), targets)
            sum(losses.values()).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return (time.perf_counter() - start) / n

    steps(3)
    plain: list[float] = []
    guarded: list[float] = []
    for _ in range(5):
        plain.append(steps())
        with RunGuard("evt-0000000000000000", None, interrupt=False):
            guarded.append(steps())
    return [
        Row(
            "step with the guard's hooks (mobilenet_v3_small 32px b16)",
            min(guarded) * 1000,
            "ms",
            "no hooks",
            min(plain) * 1000,
            "<= 1.05 x no hooks",
        )
    ]


def _run_job_child(workspace: str, project_id: str, job_id: str) -> None:
    """Claim-free run of one job in this process; prints the peak memory of its processes: its
    own peak RSS plus the most its data loader workers held together (their proportional share,
    PSS, sampled every 0.2 s). A process's ``RUSAGE_CHILDREN`` would count short-lived helpers
    that never run beside the training."""
    import threading

    from aistudio.training.resources import job_memory_bytes
    from aistudio.worker.runner import run_job
    from aistudio.workspace import Workspace

    stop = threading.Event()
    workers_peak = [0]

    def sample() -> None:
        own = Path("/proc/self/status")
        while not stop.wait(0.2):
            rss = next(
                int(x.split()[1]) * 1024
                for x in own.read_text().splitlines()
                if x.startswith("VmRSS:")
            )
            workers_peak[0] = max(workers_peak[0], job_memory_bytes(precise=True) - rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    run_job(Workspace(workspace), project_id, job_id)
    stop.set()
    sampler.join()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(own + workers_peak[0])


def _print_table_code(fitted: dict[str, dict[str, Any]], threads: int) -> None:
    day = time.strftime("%Y-%m-%d")
    print(f"\n# measured {day} by `python -m bench resources`, {threads} threads")
    print("MODEL_COSTS: dict[str, ModelCost] = {")
    for name, values in fitted.items():
        args = ", ".join(f"{k}={v!r}" for k, v in values.items())
        print(f"    {name!r}: ModelCost({args}),")
    print("}")


def main() -> None:
    """Measure the grid, fit the table, check the estimate against real jobs."""
    logging.getLogger("aistudio").setLevel(logging.WARNING)
    rows, fitted, every = _sweep()
    print_table("Training step memory and time per model (measured vs table)", rows)
    threads = every[0]["threads"] if every else 0
    base = statistics.median(p["rss_before"] for p in every) / 1e6 if every else 0
    print(f"\njob process before its model (median RSS): {base:.0f} MB")
    _print_table_code(fitted, threads)
    print("\nraw points:")
    for point in every:
        print(json.dumps(point))
    print_table("Whole estimate vs real jobs", _job_check())
    print_table("Run guard overhead", _guard_overhead())


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--child":
        logging.basicConfig(level=logging.ERROR)
        print(json.dumps(_measure_child(json.loads(sys.argv[2]))))
    elif len(sys.argv) >= 2 and sys.argv[1] == "--check":  # the table as it is, against jobs
        logging.basicConfig(level=logging.WARNING)
        print_table("Whole estimate vs real jobs", _job_check())
        print_table("Run guard overhead", _guard_overhead())
    elif len(sys.argv) >= 5 and sys.argv[1] == "--job":
        logging.basicConfig(level=logging.WARNING)
        _run_job_child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()
