"""What an evaluation starts from, folded from tables of events (no torch, no files)."""

from __future__ import annotations

from typing import Any

import pytest

from aistudio.evaluation.plan import has_evaluation, plan_evaluation, training_seq
from aistudio.tasks.registry import get_task
from aistudio.worker.context import JobInputError
from events import Event
from events.schemas.evaluation import EvaluationRequested
from tests.projections.helpers import Events, image, image_id, project_created, split_data

EXP = "exp-0000beef"
OTHER = "exp-0000f00d"
SHA_1 = "1" * 64
SHA_2 = "2" * 64


def _command(exp: str = EXP, checkpoint: str = "best") -> EvaluationRequested:
    return EvaluationRequested.model_validate({"experiment_id": exp, "checkpoint": checkpoint})


def _requested(exp: str, resume: bool = False) -> dict[str, Any]:
    config = {"model": "resnet18", "image_size": 32, "epochs": 2}
    return {"experiment_id": exp, "name": exp, "split": "default", "config": config} | {
        "resume": resume
    }


class Runs:
    """A classification project (images 1-6: train 1-4, val 5, test 6) and training runs."""

    def __init__(self, task: str = "classification") -> None:
        self.log = Events()
        self.log.add("ProjectCreated", project_created(task=task))
        if task == "classification":
            records = [image(n, "cat" if n % 2 else "dog") for n in range(1, 7)]
        else:
            records = [image(n, value=float(n)) for n in range(1, 7)]
        self.log.add("ImagesAdded", {"images": records})
        ids = [image_id(n) for n in range(1, 7)]
        self.log.add("SplitCreated", split_data("default", ids[:4], ids[4:5], ids[5:]))

    def run(self, exp: str = EXP, resume: bool = False, checkpoints: tuple[str, ...] = ()) -> int:
        """One run that saves ``checkpoints`` and succeeds; returns its TrainingStarted seq."""
        job = self.log.add("TrainingRequested", _requested(exp, resume), actor="cli").id
        self.job(job, "JobStarted", pid=1)
        started = self.log.add(
            "TrainingStarted",
            {"experiment_id": exp, "start_epoch": 0, "epochs": 2, "train_images": 4}
            | {"val_images": 1, "parameters": 1, "device": "cpu", "weights": "scratch"},
            actor="job",
            causation=job,
        )
        for n, which in enumerate(checkpoints, start=1):
            sha = SHA_1 if which == "best" else SHA_2
            self.log.add(
                "CheckpointSaved",
                {"experiment_id": exp, "which": which, "epoch": n, "sha256": sha}
                | {"size_bytes": 10},
                actor="job",
                causation=job,
            )
        self.job(job, "JobSucceeded", summary={})
        return started.seq

    def job(self, job_id: str, type_: str, **data: Any) -> Event:
        return self.log.add(type_, {"job_id": job_id, **data}, actor="job", causation=job_id)

    def relabel(self, n: int, label: str | None = None, value: float | None = None) -> None:
        self.log.add("LabelChanged", {"image_id": image_id(n), "label": label, "value": value})

    @property
    def events(self) -> list[Event]:
        return list(self.log)


def test_the_checkpoint_knows_the_labels_its_run_started_with() -> None:
    runs = Runs()
    runs.relabel(5, "dog")  # before any training: the model learnt with "dog"
    first = runs.run(checkpoints=("best", "last"))
    runs.relabel(4, "cat")  # between the runs: changed for best, not for last
    second = runs.run(resume=True, checkpoints=("last",))
    runs.relabel(6, "cat")  # after both
    runs.relabel(2, "dog")  # the same label again: no change
    runs.log.add("ImagesAdded", {"images": [image(7, "cat")]})
    ids = [image_id(n) for n in range(1, 8)]

    best = plan_evaluation(runs.events, _command(checkpoint="best"))
    assert (best.trained_seq, best.checkpoint.epoch, best.checkpoint.sha256) == (first, 1, SHA_1)
    assert best.split == "default"
    assert best.task == "classification"
    assert best.label_changed(ids, get_task("classification")) == {image_id(4), image_id(6)}

    last = plan_evaluation(runs.events, _command(checkpoint="last"))
    assert last.trained_seq == second > first
    assert last.checkpoint.sha256 == SHA_2
    assert last.label_changed(ids, get_task("classification")) == {image_id(6)}


def test_values_changed_since_training_for_regression() -> None:
    runs = Runs("regression")
    runs.run(checkpoints=("best",))
    runs.relabel(3, value=3.5)
    runs.relabel(5, value=5.0)  # the same value
    plan = plan_evaluation(runs.events, _command())
    assert plan.task == "regression"
    assert plan.label_changed([image_id(n) for n in range(1, 7)], get_task("regression")) == {
        image_id(3)
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("unknown", f"there is no experiment {OTHER}"),
        ("no_best", f"experiment {OTHER} has no best checkpoint"),
        ("training", f"experiment {OTHER} is still training"),
        ("evaluated", f"experiment {OTHER} already has an evaluation: reset it"),
        ("split_gone", f"split 'default' of experiment {OTHER} no longer exists"),
    ],
)
def test_refusals_say_why(change: str, message: str) -> None:
    runs = Runs()
    if change == "no_best":
        runs.run(OTHER, checkpoints=("last",))
    elif change == "training":
        runs.run(OTHER, checkpoints=("best",))
        runs.log.add("TrainingRequested", _requested(OTHER, resume=True), actor="cli")
    elif change == "evaluated":
        runs.run(OTHER, checkpoints=("best",))
        runs.log.add("EvaluationCompleted", {"experiment_id": OTHER})
    elif change == "split_gone":
        runs.run(OTHER, checkpoints=("best",))
        runs.log.add("SplitDeleted", {"name": "default"})
    with pytest.raises(JobInputError, match=message):
        plan_evaluation(runs.events, _command(OTHER))


def test_a_reset_evaluation_can_be_done_again() -> None:
    runs = Runs()
    runs.run(checkpoints=("best",))
    runs.log.add("EvaluationCompleted", {"experiment_id": OTHER})  # another experiment's
    assert not has_evaluation(runs.events, EXP)
    runs.log.add("EvaluationCompleted", {"experiment_id": EXP})
    assert has_evaluation(runs.events, EXP)
    runs.log.add("EvaluationReset", {"experiment_id": EXP})
    assert not has_evaluation(runs.events, EXP)
    assert plan_evaluation(runs.events, _command()).experiment.experiment_id == EXP


def test_training_seq_is_zero_without_training_started() -> None:
    runs = Runs()
    assert training_seq(runs.events, EXP, checkpoint_seq=runs.log.last_seq) == 0
    started = runs.run(checkpoints=("best",))
    assert training_seq(runs.events, EXP, checkpoint_seq=started) == started
    assert training_seq(runs.events, EXP, checkpoint_seq=started - 1) == 0
    assert training_seq(runs.events, OTHER, checkpoint_seq=runs.log.last_seq) == 0
