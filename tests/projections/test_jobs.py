"""The jobs view: commands become jobs; their lifecycle, progress and end."""

from __future__ import annotations

import pytest

from projections import jobs
from projections.jobs import JobEntry
from tests.projections.helpers import Events

TRAIN = {"experiment_id": "exp-00000001", "name": "r", "config": {}}


def _command(log: Events, type: str = "TrainingRequested", data: dict | None = None) -> str:
    return log.add(type, TRAIN if data is None else data, actor="cli").id


def _job_event(log: Events, type: str, job_id: str, **data: object) -> None:
    log.add(type, {"job_id": job_id, **data}, actor="worker", causation=job_id)


def _claim(log: Events, job_id: str) -> None:
    _job_event(log, "JobClaimed", job_id, command_type="X", worker_id="w1", host="h", pid=10)


def test_every_requested_type_but_cancel_is_a_pending_job() -> None:
    log = Events()
    train = _command(log)
    imp = _command(log, "ImportRequested", {"source": "/d", "format": "auto", "options": {}})
    future = _command(log, "FutureThingRequested", {"x": 1})
    log.add("CancelRequested", {"job_id": train})
    log.add("ProjectRenamed", {"name": "x"})
    view = jobs.rebuild(log)
    assert list(view.jobs) == [train, imp, future]
    assert view.jobs[train] == JobEntry(
        job_id=train,
        command_type="TrainingRequested",
        command_seq=1,
        requested_ts=log.events[0].ts,
        actor="cli",
        data=TRAIN,
        cancel_requested=True,
    )
    assert view.jobs[future].command_type == "FutureThingRequested"
    assert [j.job_id for j in view.pending()] == [train, imp, future]
    assert view.active() == []
    assert view.get(imp) is view.jobs[imp]
    assert view.get("evt-ffffffffffffffff") is None
    assert view.seq == 5


def test_lifecycle_to_success() -> None:
    log = Events()
    job = _command(log)
    _claim(log, job)
    view = jobs.rebuild(log)
    claimed = view.jobs[job]
    assert (claimed.status, claimed.worker_id, claimed.host, claimed.pid) == (
        "claimed",
        "w1",
        "h",
        10,
    )
    assert claimed.claimed_seq == 2
    assert view.active() == [claimed] and view.pending() == []
    _job_event(log, "JobStarted", job, pid=42)
    _job_event(log, "JobProgress", job, done=3, total=10, message="epoch 3")
    view = jobs.rebuild(log)
    running = view.jobs[job]
    assert (running.status, running.pid, running.started_ts) == ("running", 42, log.events[2].ts)
    assert (running.progress_done, running.progress_total, running.progress_message) == (
        3,
        10,
        "epoch 3",
    )
    _job_event(log, "JobProgress", job, done=4)
    _job_event(log, "JobSucceeded", job, summary={"best": 0.9})
    done = jobs.rebuild(log).jobs[job]
    assert done.status == "succeeded" and done.is_terminal
    assert done.summary == {"best": 0.9}
    assert done.ended_ts == log.events[-1].ts
    assert (done.progress_done, done.progress_total, done.progress_message) == (4, None, "")
    assert jobs.rebuild(log).active() == []


def test_failure_keeps_error_reason_and_traceback() -> None:
    log = Events()
    job = _command(log)
    _claim(log, job)
    _job_event(log, "JobFailed", job, error="boom", reason="worker_lost", traceback="tb")
    failed = jobs.rebuild(log).jobs[job]
    assert (failed.status, failed.error, failed.reason, failed.traceback) == (
        "failed",
        "boom",
        "worker_lost",
        "tb",
    )
    assert failed.started_ts is None and failed.ended_ts == log.events[-1].ts


def test_cancel_of_a_pending_job() -> None:
    log = Events()
    job = _command(log)
    other = _command(log)
    log.add("CancelRequested", {"job_id": job})
    view = jobs.rebuild(log)
    assert view.jobs[job].status == "pending" and view.jobs[job].cancel_requested
    assert not view.jobs[other].cancel_requested
    _job_event(log, "JobCancelled", job, reason="cancelled before it started")
    cancelled = jobs.rebuild(log).jobs[job]
    assert cancelled.status == "cancelled"
    assert cancelled.reason == "cancelled before it started"
    assert [j.job_id for j in jobs.rebuild(log).pending()] == [other]


def test_cancel_of_a_running_job() -> None:
    log = Events()
    job = _command(log)
    _claim(log, job)
    _job_event(log, "JobStarted", job, pid=5)
    log.add("CancelRequested", {"job_id": job})
    view = jobs.rebuild(log)
    assert view.jobs[job].status == "running" and view.jobs[job].cancel_requested
    _job_event(log, "JobCancelled", job)
    assert jobs.rebuild(log).jobs[job].status == "cancelled"
    assert jobs.rebuild(log).jobs[job].reason == "cancelled on request"


@pytest.mark.parametrize("end", ["JobSucceeded", "JobFailed", "JobCancelled"])
def test_terminal_stays_terminal(end: str) -> None:
    log = Events()
    job = _command(log)
    _claim(log, job)
    extra = {"error": "e"} if end == "JobFailed" else {}
    _job_event(log, end, job, **extra)
    ended = jobs.rebuild(log).jobs[job]
    _claim(log, job)
    _job_event(log, "JobStarted", job, pid=1)
    _job_event(log, "JobProgress", job, done=9)
    log.add("CancelRequested", {"job_id": job})
    _job_event(log, "JobSucceeded", job)
    _job_event(log, "JobFailed", job, error="late")
    _job_event(log, "JobCancelled", job)
    assert jobs.rebuild(log).jobs[job] == ended


def test_second_claim_is_ignored_and_unknown_jobs_too() -> None:
    log = Events()
    job = _command(log)
    _claim(log, job)
    _job_event(log, "JobClaimed", job, command_type="X", worker_id="w2", host="h2", pid=11)
    for event_type in (
        "JobClaimed",
        "JobStarted",
        "JobProgress",
        "JobSucceeded",
        "CancelRequested",
    ):
        data = {"command_type": "X", "worker_id": "w", "host": "h", "pid": 1, "done": 1}
        log.add(event_type, {"job_id": "evt-0123456789abcdef", **data})
    view = jobs.rebuild(log)
    assert list(view.jobs) == [job]
    assert view.jobs[job].worker_id == "w1"


def test_time_travel_and_copy() -> None:
    log = Events()
    job = _command(log)
    _claim(log, job)
    _job_event(log, "JobSucceeded", job)
    assert jobs.rebuild(log, until_seq=1).jobs[job].status == "pending"
    assert jobs.rebuild(log, until_seq=2).jobs[job].status == "claimed"
    view = jobs.rebuild(log, until_seq=1)
    copied = jobs.projection.fold(view.copy(), log.events[1:])
    assert view.jobs[job].status == "pending" and copied.jobs[job].status == "succeeded"
    assert jobs.projection.apply(view, log.events[1]).jobs[job].status == "claimed"
