"""The resources of a run: the machine's memory, the estimate's verdict, and the run guard.

The guard tests run a step made artificially slow in this process's main thread and stop it from
the guard's thread: by its module hooks (a slow step of many modules), and by its signal (a step
that stays in one call).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from aistudio.tasks.base import TargetInfo
from aistudio.tasks.registry import get_task
from aistudio.training import resources
from aistudio.training.resources import (
    GB,
    LIMIT_ENV,
    MachineFacts,
    MemoryLimitError,
    MemoryState,
    RunGuard,
    check_run,
    estimate_run,
    memory_state,
)
from aistudio.worker.context import JobCancelledError
from events import EventLog

CLASSES = TargetInfo(classes=["cat", "dog"])
CONFIG = {"model": "resnet18", "image_size": 128, "batch_size": 16, "epochs": 10, "num_workers": 0}


def machine(total_gb: float, available_gb: float, threads: int = 2) -> MachineFacts:
    memory = MemoryState(total=int(total_gb * GB), available=int(available_gb * GB))
    return MachineFacts("cpu", threads, memory)


# ---------------------------------------------------------------------- the machine's memory
def test_memory_comes_from_meminfo_and_a_configured_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LIMIT_ENV, raising=False)
    real = memory_state()
    meminfo = Path("/proc/meminfo").read_text()
    total_kb = int(
        next(line for line in meminfo.splitlines() if line.startswith("MemTotal")).split()[1]
    )
    assert 0 < real.available <= real.total <= total_kb * 1024
    monkeypatch.setenv(LIMIT_ENV, "700")
    limited = memory_state()
    assert limited.total == limited.available == limited.limit == 700_000_000
    assert limited.source == LIMIT_ENV
    monkeypatch.setenv(LIMIT_ENV, "lots")
    assert memory_state().limit == real.limit  # not a number: ignored (with a warning)


def test_a_cgroup_limit_lowers_what_the_machine_can_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LIMIT_ENV, raising=False)
    (tmp_path / "memory.max").write_text(f"{2 * GB}\n")
    (tmp_path / "memory.current").write_text(f"{GB}\n")
    (tmp_path / "memory.stat").write_text(f"anon 1\ninactive_file {GB // 2}\n")
    monkeypatch.setattr(resources, "_CGROUP_V2", tmp_path)
    monkeypatch.setattr(resources, "_CGROUP_V1", tmp_path / "none")
    state = memory_state()
    assert state.total == 2 * GB and state.limit == 2 * GB
    # page cache that can be reclaimed counts as free: 2 GB - (1 GB - 0.5 GB)
    assert state.available == min(memory_state().available, GB + GB // 2)
    (tmp_path / "memory.max").write_text("max\n")
    assert memory_state().limit is None


# ---------------------------------------------------------------------- the verdict
def test_a_run_that_cannot_fit_is_refused_with_what_fits() -> None:
    task = get_task("classification")
    big = {**CONFIG, "image_size": 1024, "batch_size": 32}
    check = check_run(task, big, 200, 50, CLASSES, machine(23, 20))
    assert not check.fits_machine and not check.fits_now
    assert check.refusal is not None and check.refusal_now == check.refusal
    assert "more than this machine can give it" in check.refusal
    assert "now 1024 px" in check.refusal and "now 32" in check.refusal
    assert "fits (about" in check.advice
    # what the advice names does fit
    words = check.advice.split()
    if words[0] == "batch":
        smaller = {**big, "batch_size": int(words[2])}
    else:
        smaller = {**big, "image_size": int(words[2])}
    assert check_run(task, smaller, 200, 50, CLASSES, machine(23, 20)).fits_machine


def test_memory_that_is_not_free_now_is_a_warning_for_the_command_and_a_refusal_for_the_job() -> (
    None
):
    task = get_task("classification")
    need = estimate_run(task, CONFIG, 200, 50, CLASSES, machine(64, 64)).peak_bytes
    assert need is not None
    check = check_run(task, CONFIG, 200, 50, CLASSES, machine(64, need / GB * 0.8))
    assert check.fits_machine and not check.fits_now
    assert check.refusal is None
    assert check.refusal_now is not None and "is free on this machine" in check.refusal_now
    assert any("free now" in w for w in check.warnings)
    roomy = check_run(task, CONFIG, 200, 50, CLASSES, machine(64, 64))
    assert roomy.fits_now and roomy.refusal_now is None and roomy.warnings == []


def test_a_run_of_hours_is_announced() -> None:
    task = get_task("classification")
    long_run = {**CONFIG, "epochs": 500}
    check = check_run(task, long_run, 2000, 500, CLASSES, machine(64, 64))
    assert check.run_s is not None and check.run_s > resources.LONG_RUN_S
    assert check.refusal is None
    (warning,) = check.warnings
    assert "500 epochs would take about" in warning and " h" in warning


# ---------------------------------------------------------------------- the guard
class SlowSteps(nn.Module):
    """A step of many small modules, each slow (Python code between them)."""

    def __init__(self, layers: int = 200, pause_s: float = 0.05) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(4, 4) for _ in range(layers))
        self.pause_s = pause_s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            time.sleep(self.pause_s)
            x = layer(x)
        return x


def _free(gb: float) -> MemoryState:
    return MemoryState(total=16 * GB, available=int(gb * GB))


def test_the_guard_stops_a_slow_step_when_memory_runs_out() -> None:
    samples = iter([_free(8), _free(8)])

    def probe() -> MemoryState:
        return next(samples, _free(0.1))  # then the machine runs out

    model = SlowSteps()
    started = time.monotonic()
    with (
        RunGuard("evt-0000000000000001", None, memory=probe, floor=GB // 2, poll_s=0.05) as guard,
        pytest.raises(MemoryLimitError, match=r"only about 0\.1 GB of memory was left"),
    ):
        model(torch.zeros(2, 4)).sum().backward()
    took = time.monotonic() - started
    assert took < 2.0, f"the step went on for {took:.1f} s after memory ran out"
    assert guard.peak_bytes > 0
    # once the guard is closed its hooks are gone: the model runs again
    model.pause_s = 0.0
    model(torch.zeros(2, 4))


def test_the_guard_stops_a_backward_pass_too() -> None:
    stop = threading.Event()

    def probe() -> MemoryState:
        return _free(0.1) if stop.is_set() else _free(8)

    model = SlowSteps(layers=20, pause_s=0.0)
    with RunGuard("evt-0000000000000001", None, memory=probe, floor=GB // 2, poll_s=0.02):
        loss = model(torch.zeros(2, 4)).sum()
        stop.set()
        time.sleep(0.3)  # the guard has decided; the next gradient raises
        with pytest.raises(MemoryLimitError):
            loss.backward()


def test_a_cancel_ends_a_long_step_within_seconds(tmp_path: Path) -> None:
    """A step that stays in one call (no module, no batch end) for a minute: the guard sees the
    cancel in the log and interrupts the main thread with its signal."""
    log = EventLog(tmp_path / "events.jsonl")
    job = log.append("ProjectCreated", _project(), actor="cli")

    def cancel_soon() -> None:
        time.sleep(0.5)
        log.append("CancelRequested", {"job_id": job.id}, actor="ui")

    threading.Thread(target=cancel_soon, daemon=True).start()
    started = time.monotonic()
    with (
        RunGuard(job.id, log, memory=lambda: _free(8), poll_s=0.05, cancel_poll_s=0.1),
        pytest.raises(JobCancelledError),
    ):
        time.sleep(60)  # the artificially slow step
    took = time.monotonic() - started
    assert took < 0.5 + resources.SIGNAL_AFTER_S + 2.0, f"the cancel took {took:.1f} s"


def test_a_signal_waits_for_a_deferred_block(tmp_path: Path) -> None:
    """An event being appended is never interrupted: the stop waits for the next check."""
    with RunGuard(
        "evt-0000000000000001", None, memory=lambda: _free(0.1), floor=GB, poll_s=0.02
    ) as guard:
        with guard.deferred():
            deadline = time.monotonic() + resources.SIGNAL_AFTER_S + 1.0
            while time.monotonic() < deadline:  # the guard's signal arrives in here
                time.sleep(0.05)
        assert guard.stop_requested
        with pytest.raises(MemoryLimitError):
            guard.check()


def _project() -> dict[str, str]:
    return {
        "project_id": "proj-0000cafe",
        "name": "Pets",
        "task": "classification",
        "description": "",
    }
