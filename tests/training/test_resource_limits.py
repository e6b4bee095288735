"""A training job on a machine too small for it, one that runs out of memory, a slow step cancelled.

The machine is made small with the documented knobs of :mod:`aistudio.training.resources`
(``AISTUDIO_MEMORY_LIMIT_MB``: 23 GB, the machine of issue 11; ``AISTUDIO_MEMORY_FLOOR_MB``).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from aistudio import commands
from aistudio.commands import TrainingConfigError
from aistudio.tasks.classification import ClassificationTask
from aistudio.training.resources import FLOOR_ENV, LIMIT_ENV
from aistudio.worker.runner import run_job
from aistudio.workspace import Workspace, new_id
from events import EventLog
from tests.helpers import events_of, job_events
from tests.training.support import TINY, digits_project, of_job

ISSUE_MACHINE_MB = "23000"
"""The 2-core machine of issue 11 had 23 GB."""
TOO_BIG = {**TINY, "model": "resnet18", "image_size": 1024, "batch_size": 32}
"""The run of issue 11: accepted without a word, it took the machine's memory from 2.3 to 17 GB."""


def _raw_request(workspace: Workspace, project_id: str, config: dict[str, Any]) -> str:
    """A ``TrainingRequested`` appended as a script would, past the command's checks."""
    log = EventLog(workspace.events_path(project_id))
    data = {"experiment_id": new_id("exp"), "name": "raw", "split": "default", "config": config}
    return log.append("TrainingRequested", data, actor="script").id


def test_a_run_that_cannot_fit_is_refused_by_the_command_and_by_the_job(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_id = digits_project(workspace, tmp_path, n_per_class=6)  # whole batches of 32
    monkeypatch.setenv(LIMIT_ENV, ISSUE_MACHINE_MB)
    before = len(events_of(workspace, project_id))
    with pytest.raises(TrainingConfigError, match="more than this machine can give it") as info:
        commands.request_training(workspace, project_id, "huge", "default", TOO_BIG)
    assert "choose a smaller image size (now 1024 px) or batch size (now 32)" in str(info.value)
    assert "fits (about" in str(info.value)  # it names a setting that fits
    assert len(events_of(workspace, project_id)) == before  # nothing appended

    job = _raw_request(workspace, project_id, TOO_BIG)
    started = time.monotonic()
    assert run_job(workspace, project_id, job) == "failed"
    assert time.monotonic() - started < 30  # refused before decoding any 1024 px image
    (failed,) = of_job(workspace, project_id, job, "JobFailed")
    assert failed.data["reason"] == "bad_input"
    assert "this training needs about" in failed.data["error"]
    assert "now 1024 px" in failed.data["error"]
    assert failed.data.get("traceback") is None
    messages = [e.data["message"] for e in of_job(workspace, project_id, job, "JobProgress")]
    assert not any("decoding" in m for m in messages), messages  # nothing was allocated
    assert not of_job(workspace, project_id, job, "TrainingStarted")


def test_a_run_stops_itself_when_the_machine_runs_out_of_memory(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_id = digits_project(workspace, tmp_path, n_per_class=2)
    command = commands.request_training(workspace, project_id, "tight", "default", TINY)
    monkeypatch.setenv(FLOOR_ENV, "1000000000")  # any free memory is under this floor
    assert run_job(workspace, project_id, command.id) == "failed"
    (failed,) = of_job(workspace, project_id, command.id, "JobFailed")
    assert failed.data["reason"] == "bad_input"
    assert "stopped to keep the machine responsive" in failed.data["error"]
    assert "smaller image size (now 32 px) or batch size (now 16)" in failed.data["error"]
    assert failed.data.get("traceback") is None


def test_the_first_steps_are_measured_and_the_estimate_shown(
    workspace: Workspace, tmp_path: Path
) -> None:
    project_id = digits_project(workspace, tmp_path, n_per_class=4)
    config = {**TINY, "batch_size": 4, "epochs": 1}
    command = commands.request_training(workspace, project_id, "measured", "default", config)
    assert run_job(workspace, project_id, command.id) == "succeeded"
    messages = [e.data["message"] for e in of_job(workspace, project_id, command.id, "JobProgress")]
    assert any(m.startswith("preparing: estimated about ") for m in messages), messages
    (measured,) = [m for m in messages if "measured:" in m]
    assert " s a step, about " in measured and " per epoch of training steps, " in measured
    assert "GB in use (estimated about " in measured
    (started,) = of_job(workspace, project_id, command.id, "TrainingStarted")
    assert started.data["device"].endswith(", 32-bit precision")


def test_a_cancel_ends_a_run_within_seconds_even_in_a_long_step(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step of a minute (as a 1024 px step is on 2 CPUs): the cancel ends it in seconds, as
    ``JobCancelled``, without waiting for the batch to end."""
    project_id = digits_project(workspace, tmp_path, n_per_class=4)
    original = ClassificationTask.training_losses
    steps: list[float] = []

    def slow_losses(self: ClassificationTask, *args: Any) -> Any:
        steps.append(time.monotonic())
        losses = original(self, *args)
        if len(steps) == 2:
            time.sleep(60)  # the second step never ends by itself within the test
        return losses

    monkeypatch.setattr(ClassificationTask, "training_losses", slow_losses)
    config = {**TINY, "batch_size": 4, "epochs": 3}
    command = commands.request_training(workspace, project_id, "slow", "default", config)
    asked: list[float] = []

    def cancel_in_the_slow_step() -> None:
        deadline = time.monotonic() + 120
        while len(steps) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        asked.append(time.monotonic())
        commands.request_cancel(workspace, project_id, command.id)

    helper = threading.Thread(target=cancel_in_the_slow_step, daemon=True)
    helper.start()
    assert run_job(workspace, project_id, command.id) == "cancelled"
    ended = time.monotonic()
    helper.join(timeout=5)
    assert asked, "the run never reached its slow step"
    took = ended - asked[0]
    assert took < 6, f"the cancel took {took:.1f} s to end the run"
    ends = [e for e in job_events(workspace, project_id, command.id) if e.type.startswith("Job")]
    assert ends[-1].type == "JobCancelled"
    assert ends[-1].data["reason"] == "cancelled on request"
