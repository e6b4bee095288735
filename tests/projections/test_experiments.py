"""The experiments view: tables of events in, experiments out (no torch, no files)."""

from __future__ import annotations

from typing import Any

import pytest

from events import Event, registry
from projections import experiments
from projections.experiments import (
    BestEpoch,
    CheckpointInfo,
    EpochRecord,
    ExperimentEntry,
    ExperimentsView,
    RunProgress,
)
from tests.projections.helpers import Events, snapshot

EXP = "exp-0000beef"
EXP2 = "exp-0000f00d"
SHA = "ab" * 32


def config(epochs: int = 3, **changes: Any) -> dict[str, Any]:
    """A full training configuration, as the commands store it."""
    return {"model": "resnet18", "image_size": 32, "epochs": epochs, "lr": 0.001, **changes}


def requested(
    exp: str = EXP, epochs: int = 3, resume: bool = False, name: str = "first"
) -> dict[str, Any]:
    return {
        "experiment_id": exp,
        "name": name,
        "split": "default",
        "config": config(epochs),
        "resume": resume,
    }


def started(exp: str = EXP, start: int = 0, epochs: int = 3) -> dict[str, Any]:
    return {
        "experiment_id": exp,
        "start_epoch": start,
        "epochs": epochs,
        "train_images": 40,
        "val_images": 10,
        "parameters": 11_200_000,
        "device": "cpu",
        "weights": "from scratch: no ImageNet weights in the local torch cache",
    }


def epoch(n: int, exp: str = EXP, epochs: int = 3, loss: float | None = None) -> dict[str, Any]:
    return {
        "experiment_id": exp,
        "epoch": n,
        "epochs": epochs,
        "train_loss": loss if loss is not None else 2.0 / n,
        "val_loss": 2.5 / n,
        "metrics": {"accuracy": 0.3 * n},
        "lr": 0.001,
        "duration_s": 10.0,
        "images_per_s": 4.0,
    }


def checkpoint(which: str, n: int, exp: str = EXP, value: float | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "experiment_id": exp,
        "which": which,
        "epoch": n,
        "sha256": SHA,
        "size_bytes": 1000 + n,
    }
    if which == "best":
        data |= {"metric": "accuracy", "value": value if value is not None else 0.3 * n}
    return data


def completed(epochs: int = 3, duration: float = 31.5, exp: str = EXP) -> dict[str, Any]:
    return {
        "experiment_id": exp,
        "epochs_completed": epochs,
        "best_epoch": epochs,
        "metric": "accuracy",
        "best_value": 0.3 * epochs,
        "stopped_early": False,
        "duration_s": duration,
    }


class Run:
    """Events of one training run, appended to ``log`` the way the worker and the job do."""

    def __init__(self, log: Events, exp: str = EXP, epochs: int = 3, resume: bool = False):
        self.log = log
        self.exp = exp
        self.command = log.add("TrainingRequested", requested(exp, epochs, resume), actor="cli")
        self.job = self.command.id

    def job_event(self, type: str, **data: Any) -> Event:
        return self.log.add(type, {"job_id": self.job, **data}, actor="job", causation=self.job)

    def training(self, type: str, data: dict[str, Any]) -> Event:
        return self.log.add(type, data, actor="job", causation=self.job)

    def begin(self, start: int = 0, epochs: int = 3) -> None:
        self.log.add(
            "JobClaimed",
            {"job_id": self.job, "command_type": "TrainingRequested", "worker_id": "w1"}
            | {"host": "h", "pid": 1},
            actor="worker",
            causation=self.job,
        )
        self.job_event("JobStarted", pid=2)
        self.training("TrainingStarted", started(self.exp, start, epochs))

    def epochs(self, *numbers: int, total: int = 3) -> None:
        for n in numbers:
            self.training("EpochCompleted", epoch(n, self.exp, total))
            self.training("CheckpointSaved", checkpoint("best", n, self.exp))
            self.training("CheckpointSaved", checkpoint("last", n, self.exp))


def view_of(log: Events, until: int | None = None) -> ExperimentsView:
    return experiments.rebuild(log, until)


def entry_of(log: Events, exp: str = EXP) -> ExperimentEntry:
    entry = view_of(log).get(exp)
    assert entry is not None
    return entry


def test_the_event_data_of_these_tables_is_valid() -> None:
    """The tables below use data the schemas accept (so they mirror what jobs append)."""
    registry.validate("TrainingRequested", requested() | {"config": {"model": "resnet18"}})
    registry.validate("TrainingStarted", started())
    registry.validate("EpochCompleted", epoch(1))
    registry.validate("CheckpointSaved", checkpoint("best", 1))
    registry.validate("CheckpointSaved", checkpoint("last", 1))
    registry.validate("TrainingCompleted", completed())


def test_requested_creates_a_queued_experiment() -> None:
    log = Events()
    run = Run(log)
    view = view_of(log)
    assert view.jobs == {run.job: EXP}
    assert view.experiments == {
        EXP: ExperimentEntry(
            experiment_id=EXP,
            name="first",
            split="default",
            config=config(3),
            created_seq=1,
            created_ts=run.command.ts,
            runs=(run.job,),
            status="queued",
            actor="cli",
            epochs=3,
            updated_seq=1,
        )
    }
    assert view.for_job(run.job) is view.get(EXP)
    assert view.named("first") == [view.get(EXP)] and view.active() == [view.get(EXP)]
    entry = view.experiments[EXP]
    assert entry.job_id == run.job and entry.is_active and not entry.resumable
    assert entry.epochs_done == 0


@pytest.mark.parametrize(
    ("steps", "status"),
    [
        (["JobClaimed"], "running"),
        (["JobStarted"], "running"),
        (["JobClaimed", "JobStarted", "JobSucceeded"], "completed"),
        (["JobClaimed", "JobStarted", "JobFailed"], "failed"),
        (["JobClaimed", "JobFailed:worker_lost"], "interrupted"),
        (["JobStarted", "JobCancelled"], "cancelled"),
        (["JobCancelled"], "cancelled"),
        (["JobStarted", "JobSucceeded", "JobFailed"], "completed"),  # an ended run stays ended
    ],
)
def test_status_follows_the_job_lifecycle(steps: list[str], status: str) -> None:
    log = Events()
    run = Run(log)
    for step in steps:
        kind, _, reason = step.partition(":")
        data: dict[str, Any] = {}
        if kind == "JobClaimed":
            data = {"command_type": "TrainingRequested", "worker_id": "w", "host": "h", "pid": 1}
        elif kind == "JobStarted":
            data = {"pid": 2}
        elif kind == "JobFailed":
            data = {"error": "boom", "reason": reason or "error"}
        run.job_event(kind, **data)
    assert entry_of(log).status == status


def test_a_full_run() -> None:
    log = Events()
    run = Run(log)
    run.begin()
    run.job_event("JobProgress", done=5, total=30, message="epoch 1/3")
    mid = entry_of(log)
    assert mid.status == "running"
    assert mid.progress == RunProgress(5, 30, "epoch 1/3")
    assert mid.weights is not None and mid.weights.startswith("from scratch")
    assert (mid.parameters, mid.device, mid.train_images, mid.val_images) == (
        11_200_000,
        "cpu",
        40,
        10,
    )
    run.epochs(1, 2, 3)
    done = run.training("TrainingCompleted", completed(3, 31.5))
    run.job_event("JobSucceeded", summary={"epochs": 3})
    entry = entry_of(log)
    assert entry.status == "completed" and not entry.is_active
    assert [r.epoch for r in entry.history] == [1, 2, 3]
    assert entry.history[0] == EpochRecord(
        epoch=1,
        train_loss=2.0,
        val_loss=2.5,
        metrics={"accuracy": 0.3},
        lr=0.001,
        duration_s=10.0,
        images_per_s=4.0,
        seq=entry.history[0].seq,
    )
    assert entry.best == BestEpoch(3, "accuracy", pytest.approx(0.9))
    assert entry.checkpoints["last"] == CheckpointInfo(
        3, SHA, 1003, None, None, entry.checkpoints["last"].seq
    )
    assert entry.checkpoints["best"].metric == "accuracy"
    assert entry.duration_s == 31.5  # TrainingCompleted's figure, not counted twice
    assert entry.ended_ts == done.ts and entry.started_ts is not None
    assert entry.progress is None and entry.epochs_done == 3
    assert entry.resumable  # completed with a last checkpoint: may be trained further
    assert entry.updated_seq == done.seq  # JobSucceeded after TrainingCompleted changes nothing


def test_failure_keeps_error_and_the_tail_of_the_traceback() -> None:
    log = Events()
    run = Run(log)
    run.begin()
    run.epochs(1)
    trace = "\n".join(f"line {i}" for i in range(100)) + "\nRuntimeError: out of memory"
    run.job_event("JobFailed", error="RuntimeError: out of memory", traceback=trace)
    entry = entry_of(log)
    assert entry.status == "failed" and entry.failure_reason == "error"
    assert entry.error == "RuntimeError: out of memory"
    assert entry.traceback_tail is not None
    tail = entry.traceback_tail.splitlines()
    assert len(tail) == experiments.TRACEBACK_TAIL_LINES
    assert tail[-1] == "RuntimeError: out of memory" and tail[0] == "line 71"
    assert entry.resumable  # failed after a last checkpoint
    assert entry.duration_s > 0  # from JobStarted to JobFailed


def test_failure_before_any_checkpoint_is_not_resumable() -> None:
    log = Events()
    run = Run(log)
    run.begin()
    run.job_event("JobFailed", error="no images", reason="error")
    entry = entry_of(log)
    assert entry.status == "failed" and not entry.resumable and entry.traceback_tail is None


def test_cancel_request_then_cancelled() -> None:
    log = Events()
    run = Run(log)
    run.begin()
    run.epochs(1)
    log.add("CancelRequested", {"job_id": run.job}, actor="ui")
    assert entry_of(log).cancel_requested and entry_of(log).status == "running"
    run.job_event("JobCancelled", reason="cancelled on request")
    entry = entry_of(log)
    assert entry.status == "cancelled" and not entry.cancel_requested
    assert entry.failure_reason == "cancelled on request"
    assert entry.resumable


def test_resume_after_a_lost_worker_continues_the_history() -> None:
    log = Events()
    first = Run(log)
    first.begin()
    first.epochs(1, 2)
    # Epoch 3 reported, but the worker died before its last checkpoint was written.
    first.training("EpochCompleted", epoch(3, loss=9.0))
    log.add("JobFailed", {"job_id": first.job, "error": "worker lost", "reason": "worker_lost"})
    interrupted = entry_of(log)
    assert interrupted.status == "interrupted" and interrupted.resumable
    assert interrupted.epochs_done == 3 and interrupted.checkpoints["last"].epoch == 2
    # A straggler of the lost run is ignored once the run has ended.
    first.training("EpochCompleted", epoch(4, loss=9.0))
    assert entry_of(log).epochs_done == 3

    second = Run(log, epochs=5, resume=True)
    queued = entry_of(log)
    assert queued.runs == (first.job, second.job) and queued.job_id == second.job
    assert queued.status == "queued" and queued.epochs == 5 and queued.config["epochs"] == 5
    assert queued.error is None and queued.failure_reason is None and queued.progress is None
    assert view_of(log).jobs == {first.job: EXP, second.job: EXP}
    second.begin(start=2, epochs=5)
    resumed = entry_of(log)
    assert [r.epoch for r in resumed.history] == [1, 2]  # epoch 3 had no checkpoint
    assert resumed.start_epoch == 2
    second.epochs(3, 4, 5, total=5)
    second.training("TrainingCompleted", completed(5, 20.0))
    second.job_event("JobSucceeded")
    entry = entry_of(log)
    assert [r.epoch for r in entry.history] == [1, 2, 3, 4, 5]
    assert entry.history[2].train_loss == pytest.approx(2.0 / 3)  # the re-run epoch 3
    assert entry.status == "completed" and entry.epochs == 5
    assert entry.duration_s > 20.0  # the lost run's time plus the resumed run's


def test_epoch_reported_again_replaces_the_old_record() -> None:
    log = Events()
    run = Run(log)
    run.begin()
    run.epochs(1, 2)
    run.training("EpochCompleted", epoch(2, loss=0.123))
    history = entry_of(log).history
    assert [r.epoch for r in history] == [1, 2] and history[1].train_loss == 0.123


def test_events_of_an_earlier_run_are_ignored() -> None:
    log = Events()
    first = Run(log)
    first.begin()
    first.epochs(1)
    first.job_event("JobCancelled")
    second = Run(log, epochs=4, resume=True)
    second.begin(start=1, epochs=4)
    before = entry_of(log)
    first.training("EpochCompleted", epoch(2, loss=7.0))  # late, from the first run's process
    first.job_event("JobProgress", done=1, total=2)
    first.job_event("JobFailed", error="late")
    assert entry_of(log) == before
    second.training("EpochCompleted", epoch(2, epochs=4, loss=1.0))
    assert entry_of(log).history[-1].train_loss == 1.0


def test_a_script_without_causation_is_taken_as_it_comes() -> None:
    log = Events()
    Run(log)
    log.add("TrainingStarted", started(), actor="script")
    log.add("EpochCompleted", epoch(1), actor="script")
    entry = entry_of(log)
    assert entry.status == "running" and entry.epochs_done == 1


def test_resume_while_running_and_a_taken_id_are_ignored() -> None:
    log = Events()
    run = Run(log)
    run.begin()
    ignored_resume = Run(log, epochs=9, resume=True)
    log.add("TrainingRequested", requested(name="other"), actor="script")  # same id, no resume
    entry = entry_of(log)
    assert entry.runs == (run.job,) and entry.epochs == 3 and entry.name == "first"
    assert ignored_resume.job not in view_of(log).jobs


def test_duplicate_command_and_events_of_unknown_experiments_or_jobs() -> None:
    log = Events()
    run = Run(log)
    log.add("TrainingRequested", requested(), id=run.job)  # a script's retry, same event id
    log.add("EpochCompleted", epoch(1, exp=EXP2))
    log.add("CheckpointSaved", checkpoint("last", 1, exp=EXP2))
    log.add("TrainingStarted", started(EXP2))
    log.add("TrainingCompleted", completed(exp=EXP2))
    log.add("JobStarted", {"job_id": "evt-00000000000000ff", "pid": 3})
    log.add("ImportRequested", {"source": "/x", "format": "auto", "options": {}})
    log.add("JobStarted", {"job_id": log.events[-1].id, "pid": 3})  # an import's job
    log.add("Mystery", {"job_id": run.job})
    view = view_of(log)
    assert list(view.experiments) == [EXP] and view.experiments[EXP].runs == (run.job,)
    assert view.experiments[EXP].status == "queued" and view.seq == len(log)


def test_two_experiments_in_creation_order() -> None:
    log = Events()
    a = Run(log)
    b = Run(log, exp=EXP2)
    a.begin()
    b.begin()
    b.epochs(1)
    a.job_event("JobFailed", error="x")
    view = view_of(log)
    assert list(view.experiments) == [EXP, EXP2]
    assert view.experiments[EXP].status == "failed"
    assert view.experiments[EXP2].status == "running" and view.active() == [view.get(EXP2)]
    assert view.experiments[EXP].history == ()


def test_time_travel() -> None:
    log = Events()
    run = Run(log)
    run.begin()
    run.epochs(1)
    middle = log.last_seq
    run.epochs(2, 3)
    run.training("TrainingCompleted", completed())
    assert view_of(log, until=1).experiments[EXP].status == "queued"
    past = view_of(log, until=middle)
    assert past.seq == middle and past.experiments[EXP].epochs_done == 1
    assert past.experiments[EXP].status == "running"
    assert view_of(log, until=0) == ExperimentsView()
    assert view_of(log).experiments[EXP].status == "completed"


def test_incremental_fold_equals_rebuild_and_copies_are_independent() -> None:
    log = Events()
    run = Run(log)
    run.begin()
    view = experiments.projection.initial()
    handed: list[tuple[ExperimentsView, Any]] = []
    for event in log:
        view = view.copy()
        view = experiments.projection.apply(view, event)
        handed.append((view, snapshot(view)))
    run.epochs(1)
    for event in log.events[len(handed) :]:
        view = experiments.projection.apply(view.copy(), event)
    assert view == view_of(log)
    for old, frozen in handed:
        assert snapshot(old) == frozen


def test_best_follows_checkpoints_and_training_completed() -> None:
    log = Events()
    run = Run(log)
    run.begin()
    run.training("EpochCompleted", epoch(1))
    run.training("CheckpointSaved", checkpoint("best", 1, value=0.5))
    run.training("EpochCompleted", epoch(2))
    run.training("CheckpointSaved", checkpoint("last", 2))
    assert entry_of(log).best == BestEpoch(1, "accuracy", 0.5)
    run.training("TrainingCompleted", completed(2) | {"best_epoch": 1, "best_value": 0.5})
    entry = entry_of(log)
    assert entry.best == BestEpoch(1, "accuracy", 0.5) and entry.epochs_done == 2
    assert set(entry.checkpoints) == {"best", "last"}


def test_stopped_early_is_reported_and_cleared_by_a_resume() -> None:
    log = Events()
    run = Run(log, epochs=10)
    run.begin(epochs=10)
    run.epochs(1, 2, total=10)
    run.training("TrainingCompleted", completed(2) | {"stopped_early": True})
    assert entry_of(log).stopped_early
    Run(log, epochs=12, resume=True)
    assert not entry_of(log).stopped_early and entry_of(log).status == "queued"
