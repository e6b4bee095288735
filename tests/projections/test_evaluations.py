"""The evaluations view: tables of events in, evaluations out (no torch, no files)."""

from __future__ import annotations

from typing import Any

import pytest

from events import registry
from projections import evaluations
from projections.evaluations import EvaluationsView, FileInfo
from tests.projections.helpers import Events, snapshot

EXP = "exp-0000beef"
EXP2 = "exp-0000f00d"
SHA = "ab" * 32


def requested(exp: str = EXP, subsets: list[str] | None = None) -> dict[str, Any]:
    return {"experiment_id": exp, "checkpoint": "best", "subsets": subsets or ["val", "test"]}


def completed(exp: str = EXP, accuracy: float = 0.9) -> dict[str, Any]:
    data = {
        "experiment_id": exp,
        "checkpoint": "best",
        "checkpoint_epoch": 2,
        "checkpoint_sha256": SHA,
        "split": "default",
        "subsets": ["val", "test"],
        "images": 20,
        "skipped": 1,
        "trained_seq": 3,
        "primary_metric": "accuracy",
        "metrics": {"accuracy": accuracy, "f1_macro": 0.8},
        "results": {"name": "evaluation/results.jsonl", "sha256": "cd" * 32, "size_bytes": 100},
        "report": {"name": "evaluation/report.json", "sha256": "ef" * 32, "size_bytes": 50},
        "duration_s": 1.5,
        "images_per_s": 13.3,
    }
    registry.validate("EvaluationCompleted", data)  # the table holds real payloads
    return data


def test_request_then_completion_fills_in_the_figures_and_files() -> None:
    log = Events()
    command = log.add("EvaluationRequested", requested())
    log.add("JobClaimed", {"job_id": command.id}, causation=command.id)
    pending = evaluations.rebuild(log)
    entry = pending.get(EXP)
    assert entry is not None and entry.is_pending and entry.job_id == command.id
    assert entry.subsets == ("val", "test") and entry.checkpoint == "best"
    done = log.add("EvaluationCompleted", completed(), actor="job", causation=command.id)
    log.add("JobSucceeded", {"job_id": command.id}, actor="job", causation=command.id)
    view = evaluations.rebuild(log)
    entry = view.get(EXP)
    assert entry is not None and entry.status == "completed"
    assert entry.metrics == {"accuracy": 0.9, "f1_macro": 0.8}
    assert entry.results == FileInfo("evaluation/results.jsonl", "cd" * 32, 100)
    assert entry.report == FileInfo("evaluation/report.json", "ef" * 32, 50)
    assert (entry.images, entry.skipped, entry.trained_seq) == (20, 1, 3)
    assert entry.completed_seq == done.seq and entry.split == "default"
    assert view.completed() == [entry]
    assert pending.get(EXP).is_pending  # the earlier view is a different object


@pytest.mark.parametrize(
    ("end", "data", "status", "error"),
    [
        ("JobFailed", {"error": "no best checkpoint"}, "failed", "no best checkpoint"),
        ("JobCancelled", {}, "cancelled", None),
    ],
)
def test_a_job_that_ends_without_results(
    end: str, data: dict[str, Any], status: str, error: str | None
) -> None:
    log = Events()
    command = log.add("EvaluationRequested", requested())
    log.add(end, {"job_id": command.id, **data}, actor="job", causation=command.id)
    entry = evaluations.rebuild(log).get(EXP)
    assert entry is not None and entry.status == status and entry.error == error
    assert entry.results is None and entry.metrics == {}
    # a new request after a failure or cancel replaces it
    again = log.add("EvaluationRequested", requested(subsets=["test"]))
    entry = evaluations.rebuild(log).get(EXP)
    assert entry is not None and entry.job_id == again.id and entry.is_pending
    assert entry.subsets == ("test",)


def test_a_second_request_while_one_is_pending_or_completed_is_ignored() -> None:
    log = Events()
    first = log.add("EvaluationRequested", requested())
    log.add("EvaluationRequested", requested(subsets=["train"]))
    assert evaluations.rebuild(log).get(EXP).job_id == first.id
    log.add("EvaluationCompleted", completed(), actor="job", causation=first.id)
    second = log.add("EvaluationRequested", requested(subsets=["train"]))
    # the second job's failure and a straggling completion of it change nothing
    log.add("JobFailed", {"job_id": second.id, "error": "already evaluated"}, causation=second.id)
    log.add("EvaluationCompleted", completed(accuracy=0.1), actor="job", causation=second.id)
    entry = evaluations.rebuild(log).get(EXP)
    assert entry is not None and entry.job_id == first.id and entry.status == "completed"
    assert entry.metrics["accuracy"] == 0.9


def test_reset_removes_the_evaluation_and_a_new_one_can_follow() -> None:
    log = Events()
    first = log.add("EvaluationRequested", requested())
    log.add("EvaluationCompleted", completed(), actor="job", causation=first.id)
    other = log.add("EvaluationRequested", requested(EXP2))
    reset = log.add("EvaluationReset", {"experiment_id": EXP})
    view = evaluations.rebuild(log)
    assert view.get(EXP) is None and view.get(EXP2) is not None
    assert view.for_job(first.id) is None and view.for_job(other.id) is not None
    # time travel: right before the reset, the evaluation is there
    before = evaluations.rebuild(log, until_seq=reset.seq - 1)
    assert before.get(EXP) is not None and before.get(EXP).status == "completed"
    second = log.add("EvaluationRequested", requested(subsets=["test"]))
    log.add("EvaluationCompleted", completed(accuracy=0.5), actor="job", causation=second.id)
    entry = evaluations.rebuild(log).get(EXP)
    assert entry is not None and entry.job_id == second.id and entry.metrics["accuracy"] == 0.5


def test_a_late_completion_after_reset_is_ignored() -> None:
    log = Events()
    first = log.add("EvaluationRequested", requested())
    log.add("JobCancelled", {"job_id": first.id}, causation=first.id)
    log.add("EvaluationReset", {"experiment_id": EXP})
    log.add("EvaluationCompleted", completed(), actor="job", causation=first.id)
    assert evaluations.rebuild(log).get(EXP) is None


def test_folding_never_changes_a_view_handed_out_by_copy() -> None:
    log = Events()
    command = log.add("EvaluationRequested", requested())
    view = evaluations.rebuild(log)
    frozen = snapshot(view)
    working: EvaluationsView = view.copy()
    event = log.add("EvaluationCompleted", completed(), actor="job", causation=command.id)
    evaluations.projection.apply(working, event)
    assert snapshot(view) == frozen and working.get(EXP).status == "completed"
