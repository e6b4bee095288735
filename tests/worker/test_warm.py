"""The warm job runner: jobs forked from a server that has imported what jobs need.

The runners here preload :mod:`tests.worker.warm_light` (no torch: a server is ready in about a
second), whose ``ImportRequested`` handler can hold a job until the test releases it; one slow
test runs a real evaluation through the production preload (torch, Lightning).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aistudio import commands
from aistudio.worker import supervisor, warm
from aistudio.worker.locks import is_held
from aistudio.worker.service import Worker
from aistudio.worker.warm import WarmProcess, WarmRunner
from aistudio.workspace import Workspace
from tests.helpers import digits_folder, job_events, make_project, terminal_events, wait_until

LIGHT = "tests.worker.warm_light"

pytestmark = pytest.mark.skipif(
    warm.unsupported_reason() is not None, reason=str(warm.unsupported_reason())
)


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture
def runner() -> Iterator[WarmRunner]:
    """A ready warm runner with the light preload, stopped after the test."""
    started = WarmRunner(preload_module=LIGHT, start_delay_s=0)
    started.start()
    try:
        assert started.wait_ready(60), f"the warm runner did not get ready: {started.state}"
        yield started
    finally:
        started.stop()


def _held_source(root: Path) -> Path:
    source = root / "held"
    source.mkdir()
    (source / "HOLD").write_text("")
    return source


def _claimed(workspace: Workspace, project_id: str, job_id: str) -> Any:
    projector = supervisor.jobs_projector(workspace, project_id)
    lock = supervisor.claim(workspace, projector, project_id, job_id, "test-worker")
    assert lock is not None
    return projector, lock


def _start_held(
    workspace: Workspace, tmp_path: Path, runner: WarmRunner
) -> tuple[str, str, Path, Any, supervisor.RunningJob]:
    project_id = make_project(workspace)
    source = _held_source(tmp_path)
    job_id = commands.request_import(workspace, project_id, source, "imagefolder").id
    projector, lock = _claimed(workspace, project_id, job_id)
    running = supervisor.start(workspace, project_id, job_id, lock, warm=runner)
    assert isinstance(running.process, WarmProcess)
    wait_until(lambda: (source / "started.json").exists(), 30, "the held job to start")
    return project_id, job_id, source, projector, running


def _facts(source: Path) -> dict[str, Any]:
    facts: dict[str, Any] = json.loads((source / "started.json").read_text())
    return facts


def test_a_warm_job_is_a_process_of_its_own_holding_its_lock(
    workspace: Workspace, tmp_path: Path, runner: WarmRunner
) -> None:
    """The forked job is a session of its own writing to its log, with the runner's signal
    handlers and the worker's current environment, holding the job lock through the claim: the
    lock stays held when the worker lets go of it, so orphan recovery leaves the job alone."""
    os.environ["AISTUDIO_TEST_MARK"] = "set after the server started"
    try:
        project_id, job_id, source, projector, running = _start_held(workspace, tmp_path, runner)
    finally:
        del os.environ["AISTUDIO_TEST_MARK"]
    facts = _facts(source)
    pid = running.process.pid
    assert facts["pid"] == facts["pgid"] == facts["sid"] == pid
    assert facts["sigterm"] == facts["sigint"] == "_on_sigterm"
    assert facts["sigchld"] == str(signal.SIG_DFL) and facts["wakeup_fd"] == -1
    log_path = str(workspace.job_log_path(project_id, job_id))
    assert facts["stdout"] == facts["stderr"] == log_path
    assert facts["stdin"] == os.devnull
    assert facts["environ_mark"] == "set after the server started"
    assert facts["cwd"] == str(Path.cwd())
    assert facts["start_method"] == multiprocessing.get_start_method()
    assert facts["main"] is None, "the job re-ran the worker's __main__"
    # Nothing of the worker leaks in: no worker lock, no other project file but the job's own.
    lock_path = workspace.job_lock_path(project_id, job_id)
    assert str(lock_path) in facts["fd_targets"]
    assert not [t for t in facts["fd_targets"] if t.endswith(".lock") and t != str(lock_path)]

    running.lock.release()  # the worker is gone: only the job holds the lock now
    assert is_held(lock_path)
    assert supervisor.recover_orphans(workspace, projector, project_id, mine=set()) == []
    assert terminal_events(workspace, project_id, job_id) == []

    (source / "RELEASE").write_text("")
    assert running.process.wait(timeout=30) == 0
    assert [e.type for e in terminal_events(workspace, project_id, job_id)] == ["JobSucceeded"]
    wait_until(lambda: not is_held(lock_path), 10, "the job lock to be released")


def test_warm_and_cold_jobs_end_with_the_same_events(workspace: Workspace, tmp_path: Path) -> None:
    """The same import run by a worker with a warm runner and by one without: the same events,
    and the warm one was forked (its JobStarted pid is not a new Python's)."""
    folder = digits_folder(tmp_path, n_per_class=1)
    cold_project = make_project(workspace, "cold")
    cold = commands.request_import(workspace, cold_project, folder, "imagefolder")
    Worker(workspace, warm=False).run(once=True)

    warm_project = make_project(workspace, "warm")
    runner = WarmRunner(preload_module=LIGHT, start_delay_s=0)
    worker = Worker(workspace, warm=runner)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        assert runner.wait_ready(60)
        job = commands.request_import(workspace, warm_project, folder, "imagefolder")
        wait_until(lambda: bool(terminal_events(workspace, warm_project, job.id)), 60, "the end")
        wait_until(lambda: job.id not in worker.running, 10, "the job to be reaped")
    finally:
        worker.stop()
        thread.join(30)

    def shape(project_id: str, job_id: str) -> list[tuple[str, Any]]:
        return [
            (e.type, e.data.get("summary", {}).get("added"))
            for e in job_events(workspace, project_id, job_id)
            if e.type != "JobProgress"
        ]

    assert shape(warm_project, job.id) == shape(cold_project, cold.id)
    assert shape(warm_project, job.id)[-1] == ("JobSucceeded", 10)
    started = next(e for e in job_events(workspace, warm_project, job.id) if e.type == "JobStarted")
    assert runner.server_pid is not None
    assert started.data["pid"] != runner.server_pid
    assert not process_alive(runner.server_pid), "the warm runner outlived its worker"


def test_a_killed_server_is_started_again_and_its_running_job_lives_on(
    workspace: Workspace, tmp_path: Path, runner: WarmRunner
) -> None:
    """SIGKILL the server while a job runs: the job is not taken for ended (multiprocessing
    would say exit code 255), it ends on its own; the runner starts a new server and the next
    job is forked from it."""
    project_id, job_id, source, projector, running = _start_held(workspace, tmp_path, runner)
    old = runner.server_pid
    assert old is not None
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: not process_alive(old), 10, "the server to die")
    time.sleep(0.1)
    assert running.process.poll() is None, "a running job was taken for ended"
    runner.tend()
    assert runner.state == "warming"
    assert runner.wait_ready(60), runner.state
    assert runner.server_pid not in (None, old) and runner.starts == 2

    (source / "RELEASE").write_text("")
    running.process.wait(timeout=30)
    supervisor.reap(workspace, projector, running)
    assert [e.type for e in terminal_events(workspace, project_id, job_id)] == ["JobSucceeded"]

    again = commands.request_import(workspace, project_id, source, "imagefolder").id
    (source / "started.json").unlink()
    _projector, lock = _claimed(workspace, project_id, again)
    second = supervisor.start(workspace, project_id, again, lock, warm=runner)
    assert isinstance(second.process, WarmProcess)
    assert second.process.wait(timeout=30) == 0
    supervisor.reap(workspace, projector, second)
    assert [e.type for e in terminal_events(workspace, project_id, again)] == ["JobSucceeded"]


def test_sigterm_of_a_warm_job_ends_it_worker_lost(
    workspace: Workspace, tmp_path: Path, runner: WarmRunner
) -> None:
    """``supervisor.stop`` (SIGTERM to the job) interrupts a forked job as it does a cold one."""
    project_id, job_id, _source, projector, running = _start_held(workspace, tmp_path, runner)
    supervisor.stop(running, grace_s=20)
    assert running.process.returncode == 0
    supervisor.reap(workspace, projector, running)
    ends = terminal_events(workspace, project_id, job_id)
    assert [(e.type, e.data["reason"]) for e in ends] == [("JobFailed", "worker_lost")]


def test_a_job_killed_by_a_signal_is_reaped_with_its_exit_code(
    workspace: Workspace, tmp_path: Path, runner: WarmRunner
) -> None:
    """SIGKILL to a forked job: its exit code comes back (-9) and the supervisor records the
    death, as for a cold job."""
    project_id, job_id, _source, projector, running = _start_held(workspace, tmp_path, runner)
    os.killpg(running.process.pid, signal.SIGKILL)
    assert running.process.wait(timeout=30) == -signal.SIGKILL
    supervisor.reap(workspace, projector, running)
    ends = terminal_events(workspace, project_id, job_id)
    assert [(e.type, e.data["reason"]) for e in ends] == [("JobFailed", "process_died")]
    assert "exit code -9" in ends[0].data["error"]


def test_a_worker_with_a_warm_runner_stops_without_leftovers(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Stopping the worker while a forked job runs: the job ends (worker_lost), and neither it
    nor the server is left running."""
    project_id = make_project(workspace)
    source = _held_source(tmp_path)
    runner = WarmRunner(preload_module=LIGHT, start_delay_s=0)
    worker = Worker(workspace, warm=runner)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        assert runner.wait_ready(60)
        job_id = commands.request_import(workspace, project_id, source, "imagefolder").id
        wait_until(lambda: (source / "started.json").exists(), 30, "the held job to start")
    finally:
        worker.stop()
        thread.join(60)
    assert not thread.is_alive()
    server = runner.server_pid
    assert server is not None and not process_alive(server)
    assert not process_alive(_facts(source)["pid"])
    assert runner.state == "stopped"
    assert multiprocessing.active_children() == []
    ends = terminal_events(workspace, project_id, job_id)
    assert [(e.type, e.data["reason"]) for e in ends] == [("JobFailed", "worker_lost")]


def _forkserver_children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            with contextlib.suppress(OSError):
                if b"multiprocessing.forkserver" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(int(child))
    return found


def test_a_killed_worker_takes_its_warming_server_with_it(workspace: Workspace) -> None:
    """``kill -9`` of an ``aistudio worker`` whose warm runner is still importing torch: the
    server is killed with it, not left importing for seconds (the CPU a restarted worker and the
    web app need)."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "aistudio.cli", "worker", "--workspace", str(workspace.root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        servers: list[int] = []

        def found() -> bool:
            servers[:] = _forkserver_children(worker.pid)
            return bool(servers)

        wait_until(found, 60, "the worker's warm runner")
        time.sleep(1.0)  # past its first milliseconds (see aistudio.worker.warm_preload)
        assert process_alive(servers[0])
    finally:
        worker.kill()
        worker.wait(timeout=30)
    wait_until(lambda: not process_alive(servers[0]), 5, "the server to die with its worker")


def test_while_the_runner_warms_torch_jobs_wait_and_others_start_cold(
    workspace: Workspace, tmp_path: Path
) -> None:
    """A runner still importing: an import starts cold at once, a torch job waits for it; a
    runner stopped then is killed at once (it runs no job)."""
    runner = WarmRunner(preload_module="tests.worker.warm_slow", start_delay_s=0)
    runner.start()
    try:
        assert runner.state == "warming"
        assert runner.should_wait("EvaluationRequested")
        assert not runner.should_wait("ImportRequested")
        project_id = make_project(workspace)
        folder = digits_folder(tmp_path, n_per_class=1)
        job_id = commands.request_import(workspace, project_id, folder, "imagefolder").id
        worker = Worker(workspace, warm=runner)
        worker.warm = runner  # as run() sets it
        worker.step()
        running = worker.running[job_id]
        assert not isinstance(running.process, WarmProcess)  # cold
        running.process.wait(timeout=120)
    finally:
        started = time.monotonic()
        runner.stop()
        stop_s = time.monotonic() - started
    assert stop_s < 5, f"stopping a warming runner took {stop_s:.1f} s"
    assert not runner.should_wait("EvaluationRequested")


def test_a_ctrl_c_while_the_server_starts_does_not_reach_it() -> None:
    """The server shares the worker's process group: a Ctrl-C in the worker's terminal in the
    first milliseconds of the server's interpreter (before it ignores SIGINT) used to print a
    KeyboardInterrupt traceback and kill it. It is spawned with SIGINT blocked."""
    runner = WarmRunner(preload_module="tests.worker.warm_slow", start_delay_s=0)
    runner.start()
    try:
        servers = _forkserver_children(os.getpid())
        assert len(servers) == 1, servers
        os.kill(servers[0], signal.SIGINT)  # at once: the interpreter is still starting
        time.sleep(1.0)
        assert process_alive(servers[0]), "a Ctrl-C killed the starting server"
        assert runner.state == "warming"
    finally:
        runner.stop()
    wait_until(lambda: not process_alive(servers[0]), 5, "the stopped server to end")


def test_the_server_starts_after_a_delay_or_at_once_for_a_job_that_waits() -> None:
    """Started by a worker, the server begins importing only after ``start_delay_s`` (what
    starts with the worker gets the CPU first), unless a torch job comes first."""
    runner = WarmRunner(preload_module=LIGHT, start_delay_s=60)
    runner.start()
    try:
        runner.tend()
        assert runner.state == "scheduled" and not runner.ready
        assert not runner.should_wait("ImportRequested")
        assert runner.state == "scheduled"
        assert runner.should_wait("EvaluationRequested")
        assert runner.state == "warming"
        assert runner.wait_ready(60)
    finally:
        runner.stop()
    later = WarmRunner(preload_module=LIGHT, start_delay_s=0.2)
    later.start()
    try:
        time.sleep(0.3)
        later.tend()
        assert later.state == "warming"
        assert later.wait_ready(60)
    finally:
        later.stop()
    scheduled = WarmRunner(preload_module=LIGHT, start_delay_s=60)
    scheduled.start()
    scheduled.stop()
    assert scheduled.state == "stopped" and scheduled.starts == 0


def test_where_the_runner_cannot_work_jobs_start_cold(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No warm runner possible (no forkserver, no pidfd): the worker runs its jobs cold."""
    monkeypatch.setattr(warm, "unsupported_reason", lambda: "not here")
    runner = WarmRunner(preload_module=LIGHT, start_delay_s=0)
    project_id = make_project(workspace)
    job_id = commands.request_import(
        workspace, project_id, digits_folder(tmp_path, n_per_class=1), "imagefolder"
    ).id
    Worker(workspace, warm=runner).run(once=True)
    assert runner.state == "stopped"
    assert [e.type for e in terminal_events(workspace, project_id, job_id)] == ["JobSucceeded"]


def test_a_server_that_cannot_preload_means_cold_starts_and_a_few_retries(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A preload module that does not exist (multiprocessing ignores the ImportError): the probe
    tells, the runner fails, jobs start cold; it is tried again RETRIES times, then left."""
    monkeypatch.setattr(warm, "RETRY_AFTER_S", 0.0)
    runner = WarmRunner(preload_module="tests.worker.no_such_module", start_delay_s=0)
    runner.start()
    try:
        assert not runner.wait_ready(60)
        assert runner.state == "failed"
        project_id = make_project(workspace)
        job_id = commands.request_import(
            workspace, project_id, digits_folder(tmp_path, n_per_class=1), "imagefolder"
        ).id
        projector, lock = _claimed(workspace, project_id, job_id)
        running = supervisor.start(workspace, project_id, job_id, lock, warm=runner)
        assert not isinstance(running.process, WarmProcess)
        running.process.wait(timeout=120)
        supervisor.reap(workspace, projector, running)
        assert [e.type for e in terminal_events(workspace, project_id, job_id)] == ["JobSucceeded"]
        for _retry in range(warm.RETRIES):
            runner.tend()
            assert runner.state == "warming"
            assert not runner.wait_ready(60)
        runner.tend()
        assert runner.state == "failed" and runner.starts == 1 + warm.RETRIES
    finally:
        runner.stop()


@pytest.mark.slow
def test_the_real_preload_runs_an_evaluation_warm(trained_classification: Any) -> None:
    """The production preload: every module imports, a forked job gets the torch threads a cold
    process gets, and an evaluation forked from it succeeds without re-running ``__main__``."""
    trained = trained_classification
    workspace, project_id = trained.workspace, trained.project_id
    worker = Worker(workspace, warm=True)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: worker.warm is not None, 10, "the warm runner")
        runner = worker.warm
        assert runner is not None and runner.wait_ready(240), runner.state if runner else None
        facts = runner.facts
        assert facts["failed"] == {}
        assert set(facts["preloaded"]) >= {"torch", "pytorch_lightning", "aistudio.evaluation.job"}
        cold_threads = subprocess.run(
            [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert facts["torch_threads"] == int(cold_threads), "a forked job has other threads"
        job = commands.request_evaluation(
            workspace, project_id, trained.experiment_id, subsets=("train", "val", "test")
        )
        wait_until(lambda: bool(terminal_events(workspace, project_id, job.id)), 120, "the end")
    finally:
        worker.stop()
        thread.join(60)
    assert [e.type for e in terminal_events(workspace, project_id, job.id)] == ["JobSucceeded"]
    started = next(e for e in job_events(workspace, project_id, job.id) if e.type == "JobStarted")
    assert started.data["pid"] != facts["server_pid"]
    log = workspace.job_log_path(project_id, job.id).read_text()
    assert "RuntimeWarning" not in log, log
