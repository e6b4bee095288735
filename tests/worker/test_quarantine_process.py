"""A real ``aistudio worker`` keeps training in one project while another is damaged by hand."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from aistudio import commands
from aistudio.worker.quarantine import read_quarantine
from aistudio.workspace import Workspace
from events import EventLog
from tests.helpers import digits_folder, make_project, terminal_events, wait_until
from tests.training.support import TINY, digits_project, kill_group, of_experiment, of_job
from tests.worker.test_quarantine import GARBAGE, end_types, raw_import_line, repair

LONG = {**TINY, "epochs": 200}
"""A run that is still going when the test is done with the other project."""


@pytest.mark.slow
def test_worker_process_sets_a_hand_damaged_project_aside_and_keeps_training(
    workspace: Workspace, tmp_path: Path
) -> None:
    training = digits_project(workspace, tmp_path / "train")
    damaged = make_project(workspace, "Damaged by hand")
    folder = digits_folder(tmp_path / "import", n_per_class=1)
    run = commands.request_training(workspace, training, "long", "default", LONG)
    exp = run.data["experiment_id"]
    log_file = tmp_path / "worker.log"
    with log_file.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "aistudio.cli", "worker", "--workspace", str(workspace.root)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    job_pid: int | None = None
    try:
        wait_until(
            lambda: bool(of_experiment(workspace, training, exp, "EpochCompleted")),
            timeout_s=90,
            what="the first epoch",
        )
        job_pid = int(of_job(workspace, training, run.id, "JobStarted")[0].data["pid"])
        # By hand, as in the issue: a garbage line, then a command after it.
        path = workspace.events_path(damaged)
        command_line = raw_import_line(workspace, damaged, folder, "evt-00000000000000d1")
        with path.open("ab") as handle:
            handle.write(GARBAGE + command_line)
        wait_until(lambda: damaged in read_quarantine(workspace), what="the project set aside")
        reason = read_quarantine(workspace)[damaged]
        assert "line 2" in reason and "damaged" in reason
        epochs = len(of_experiment(workspace, training, exp, "EpochCompleted"))
        wait_until(
            lambda: len(of_experiment(workspace, training, exp, "EpochCompleted")) > epochs + 1,
            what="training to go on",
        )
        assert worker.poll() is None
        assert terminal_events(workspace, training, run.id) == []

        repair(path)  # the command after the garbage now reads: the worker serves it again
        wait_until(lambda: damaged not in read_quarantine(workspace), what="the project served")
        assert EventLog(path).read_all().events  # reads cleanly again
        assert terminal_events(workspace, training, run.id) == []

        # One job at a time: the repaired project's command runs once the training has ended.
        commands.request_cancel(workspace, training, run.id)
        wait_until(
            lambda: bool(terminal_events(workspace, damaged, "evt-00000000000000d1")),
            what="the repaired project's command",
        )
        assert end_types(workspace, damaged, "evt-00000000000000d1") == ["JobSucceeded"]
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            kill_group(worker.pid)
            worker.wait(timeout=30)
        if job_pid is not None:
            kill_group(job_pid)
    assert end_types(workspace, training, run.id) == ["JobCancelled"]
    logged = log_file.read_text(errors="replace")
    assert logged.count(f"project {damaged} set aside") == 1, logged[-4000:]
    assert f"project {damaged} is served again" in logged
