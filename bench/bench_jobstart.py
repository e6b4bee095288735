"""How fast a command's job starts and ends: the warm job runner next to a cold start.

Run with ``python -m bench jobstart``. A temporary workspace with a classification project of 90
handwritten digits (32 px PNGs, 9 per class, the default 70/15/15 split) and one experiment
trained for an epoch (MobileNetV3-Small, from scratch). A real
:class:`~aistudio.worker.service.Worker` runs in a thread, first with its warm runner (jobs
forked from a server that has torch and Lightning imported), then, as the baseline measured in
the same run, with ``warm=False`` (every job a new ``python -m aistudio.worker.runner``). Each
figure is the time between the command's event and a later event of its job (the events' own
timestamps, ms), the best of ``ROUNDS``:

* evaluation of all 90 images: command → ``JobStarted``, → its log read (the "loading the
  checkpoint" progress), → first image (the "evaluating: 0/90" progress), → ``JobSucceeded``
  (goal: under 1.5 s), and the decoding + inference inside it (from its ``images_per_s``);
* ONNX export: command → its first progress (its work starts; goal: under 1 s), → "exporting"
  (the checkpoint is loaded), → ``JobSucceeded``;
* training: command → ``TrainingStarted``.

The warm runner's own start (worker start → ready, without the few seconds a worker lets pass
before it, ``START_DELAY_S``) is shown next to a cold evaluation's start.
The two workers serve two copies of the workspace side by side, their rounds interleaved, each
worker idle (its previous job reaped) before each command. This machine's speed drifts (2 shared
cores): compare the ratios of one run, not the seconds of two.
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from aistudio import commands
from aistudio.datasets.demo import write_digits_imagefolder
from aistudio.worker.runner import run_job
from aistudio.worker.service import Worker
from aistudio.worker.warm import WarmRunner
from aistudio.workspace import Workspace
from bench.common import Row, print_table
from events import Event, EventLog

N_PER_CLASS = 9
ROUNDS = 3
TRAIN_CONFIG: dict[str, Any] = {
    "model": "mobilenet_v3_small",
    "image_size": 32,
    "batch_size": 16,
    "num_workers": 0,
    "epochs": 1,
    "pretrained": False,
    "seed": 0,
}
ENDS = frozenset({"JobSucceeded", "JobFailed", "JobCancelled"})


def _project(root: Path) -> tuple[Workspace, str, str]:
    """The workspace, project and trained experiment the figures are measured on."""
    workspace = Workspace(root / "workspace")
    workspace.ensure()
    project_id = str(
        commands.create_project(workspace, "bench", "classification").data["project_id"]
    )
    write_digits_imagefolder(root / "digits", n_per_class=N_PER_CLASS)
    commands.request_import(workspace, project_id, root / "digits", "imagefolder")
    Worker(workspace, warm=False).run(once=True)
    commands.create_split(workspace, project_id, "default")
    command = commands.request_training(workspace, project_id, "bench", "default", TRAIN_CONFIG)
    if run_job(workspace, project_id, command.id) != "succeeded":
        raise RuntimeError("the benchmark's training run did not succeed")
    return workspace, project_id, str(command.data["experiment_id"])


def _when(event: Event) -> float:
    return datetime.fromisoformat(event.ts.replace("Z", "+00:00")).timestamp()


class _Session:
    """A worker thread serving the benchmark's project, and the waits on its jobs."""

    def __init__(self, workspace: Workspace, project_id: str, warm: bool) -> None:
        self.workspace = workspace
        self.project_id = project_id
        self.log = EventLog(workspace.events_path(project_id))
        started = time.perf_counter()
        # No start delay: the figure is the server's own start (a worker waits START_DELAY_S).
        self.worker = Worker(workspace, warm=WarmRunner(start_delay_s=0) if warm else False)
        self.thread = threading.Thread(target=self.worker.run, name="bench-worker", daemon=True)
        self.thread.start()
        self.ready_s: float | None = None
        if warm:
            while self.worker.warm is None:
                time.sleep(0.01)
            if not self.worker.warm.wait_ready(600):
                raise RuntimeError(f"the warm runner did not start: {self.worker.warm.state}")
            self.ready_s = time.perf_counter() - started

    def run(self, request: Callable[[], Event]) -> tuple[Event, list[Event]]:
        """Append a command, wait for its job's end and for the worker to be idle again."""
        while self.worker.running:
            time.sleep(0.01)
        command = request()
        while True:
            events = [e for e in self.log.read(after_seq=command.seq) if e.causation == command.id]
            if events and events[-1].type in ENDS:
                break
            time.sleep(0.01)
        if events[-1].type != "JobSucceeded":
            raise RuntimeError(f"{command.type} ended {events[-1].type}: {events[-1].data}")
        while command.id in self.worker.running:
            time.sleep(0.01)
        return command, events

    def stop(self) -> None:
        self.worker.stop()
        self.thread.join(120)


def _after(command: Event, events: list[Event], found: Callable[[Event], bool]) -> float:
    """Seconds from the command to the first of its job's events that ``found`` accepts."""
    event = next(e for e in events if found(e))
    return _when(event) - _when(command)


def _message(prefix: str) -> Callable[[Event], bool]:
    def found(event: Event) -> bool:
        return event.type == "JobProgress" and str(event.data.get("message", "")).startswith(prefix)

    return found


def _is(event_type: str) -> Callable[[Event], bool]:
    return lambda event: event.type == event_type


def _round(session: _Session, experiment_id: str, best: dict[str, float], name: str) -> None:
    """One evaluation, one export and one training start through ``session``; keeps the best
    of every figure in ``best``."""
    workspace, project_id = session.workspace, session.project_id

    def keep(figure: str, seconds: float) -> None:
        best[figure] = min(best.get(figure, float("inf")), seconds)

    command, events = session.run(
        lambda: commands.request_evaluation(
            workspace, project_id, experiment_id, subsets=("train", "val", "test")
        )
    )
    keep("evaluation started", _after(command, events, _is("JobStarted")))
    keep("evaluation log read", _after(command, events, _message("preparing: loading")))
    keep("evaluation first image", _after(command, events, _message("evaluating: 0/")))
    keep("evaluation result", _after(command, events, _is("JobSucceeded")))
    done = next(e for e in events if e.type == "EvaluationCompleted").data
    keep("evaluation inference", float(done["images"]) / float(done["images_per_s"]))
    commands.reset_evaluation(workspace, project_id, experiment_id)

    command, events = session.run(
        lambda: commands.request_export(workspace, project_id, experiment_id)
    )
    keep("export work starts", _after(command, events, _is("JobProgress")))
    keep("export checkpoint loaded", _after(command, events, _message("exporting")))
    keep("export result", _after(command, events, _is("JobSucceeded")))

    command, events = session.run(
        functools.partial(
            commands.request_training, workspace, project_id, name, "default", TRAIN_CONFIG
        )
    )
    keep("training started", _after(command, events, _is("TrainingStarted")))


def _copy(workspace: Workspace, target: Path) -> Workspace:
    """A copy of ``workspace`` (runtime state left out), served by the other worker."""
    shutil.copytree(workspace.root, target, ignore=shutil.ignore_patterns(".run", ".tmp"))
    return Workspace(target)


def main() -> None:
    """Measure and print the table."""
    for name in ("aistudio", "pytorch_lightning", "lightning", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # A worker's observer stopping may log "queue_events() called when the thread is inactive".
    logging.getLogger("watchdog").setLevel(logging.CRITICAL)
    warm: dict[str, float] = {}
    cold: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-jobstart-") as tmp:
        workspace, project_id, experiment_id = _project(Path(tmp))
        cold_workspace = _copy(workspace, Path(tmp) / "cold-workspace")
        # Both workers live side by side, their rounds interleaved (the machine's speed drifts).
        warm_session = _Session(workspace, project_id, warm=True)
        cold_session = _Session(cold_workspace, project_id, warm=False)
        try:
            for round_ in range(ROUNDS):
                _round(warm_session, experiment_id, warm, f"warm-{round_}")
                _round(cold_session, experiment_id, cold, f"cold-{round_}")
        finally:
            warm_session.stop()
            cold_session.stop()
        warm["runner ready"] = warm_session.ready_s or 0.0
    images = 10 * N_PER_CLASS

    def row(label: str, key: str, goal: str = "") -> Row:
        return Row(label, warm[key], "s", "cold start", cold[key], goal)

    rows = [
        row(f"evaluation ({images} images): command → JobStarted", "evaluation started"),
        row("evaluation: command → log read", "evaluation log read"),
        row("evaluation: command → first image", "evaluation first image"),
        row("evaluation: command → result", "evaluation result", "< 1.5 s"),
        row("evaluation: its decoding + inference", "evaluation inference"),
        row("ONNX export: command → its work starts", "export work starts", "< 1 s"),
        row("ONNX export: command → checkpoint loaded", "export checkpoint loaded"),
        row("ONNX export: command → result", "export result"),
        row("training: command → TrainingStarted", "training started"),
        Row(
            "warm runner's own start (worker start → ready)",
            warm["runner ready"],
            "s",
            "cold evaluation's start",
            cold["evaluation started"],
        ),
    ]
    print_table(f"Job start: warm runner vs cold start, best of {ROUNDS} (event timestamps)", rows)


if __name__ == "__main__":
    main()
