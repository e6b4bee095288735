"""The Evaluation page's configuration and actions: which checkpoint, on which subsets, and the
Run, Cancel and Reset commands (through :mod:`aistudio.commands`, ``actor="ui"``).

The form follows the selected experiment: the checkpoints it has, the subsets of its split with
their labelled images. While an evaluation is pending or completed the form shows its settings,
locked (a completed evaluation is reset before it can run again, as the commands require).
A detection experiment's confidence threshold is chosen here too (``ThresholdSet``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aistudio import commands
from aistudio.commands import CommandError, ModelViews
from aistudio.workspace import Workspace
from projections.dataset import SUBSETS, DatasetView
from projections.evaluations import EvaluationEntry
from projections.experiments import ExperimentEntry
from projections.jobs import JobEntry
from ui.components.evaluation_runs import SUBSET_TITLES
from ui.components.training_charts import checkpoint_figure
from ui.tasks import ui_task

CHECKPOINT_ORDER: tuple[str, ...] = ("best", "last")


def sentence(message: str) -> str:
    """A command's one-line reason as a sentence: capitalised."""
    message = message.strip()
    return message[:1].upper() + message[1:]


# ---------------------------------------------------------------------- the controls
def subset_counts(dataset: DatasetView, split: str, task: str) -> dict[str, int] | None:
    """Images that can be scored (labelled, valued, annotated: the task says) per subset of
    ``split`` (None when the split is gone)."""
    members = dataset.splits.get(split)
    if members is None:
        return None
    scorable = ui_task(task).has_target
    images = dataset.images
    counts = dict.fromkeys(SUBSETS, 0)
    for image_id, subset in members.items():
        entry = images.get(image_id)
        if entry is None:
            continue
        if scorable(entry):
            counts[subset] = counts.get(subset, 0) + 1
    return counts


def checkpoint_options(entry: ExperimentEntry) -> list[dict[str, Any]]:
    """``best`` and ``last``, those the experiment has, with their epoch (and metric)."""
    options: list[dict[str, Any]] = []
    for which in CHECKPOINT_ORDER:
        checkpoint = entry.checkpoints.get(which)
        if checkpoint is None:
            continue
        label = f"{which.capitalize()} · epoch {checkpoint.epoch}"
        if checkpoint.metric and checkpoint.value is not None:
            label += f" ({checkpoint_figure(checkpoint.metric, checkpoint.value)})"
        options.append({"label": label, "value": which})
    return options


def subset_options(counts: dict[str, int] | None) -> list[dict[str, Any]]:
    """Train, validation and test with their labelled images (disabled when empty)."""
    counts = counts or {}
    options: list[dict[str, Any]] = []
    for subset in SUBSETS:
        n = counts.get(subset, 0)
        options.append(
            {
                "label": f"{SUBSET_TITLES[subset]} · {n:,} image{'s' if n != 1 else ''}",
                "value": subset,
                "disabled": n == 0,
            }
        )
    return options


def locked(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same options, every one disabled (a form that only shows)."""
    return [{**option, "disabled": True} for option in options]


def default_subsets(counts: dict[str, int] | None) -> list[str]:
    """Test when it has images, else validation, else train (none when all are empty)."""
    counts = counts or {}
    for subset in ("test", "val", "train"):
        if counts.get(subset, 0) > 0:
            return [subset]
    return []


@dataclass(frozen=True, slots=True)
class FormState:
    """What the configuration controls show for the selected experiment.

    Attributes:
        checkpoint_options: the checkpoints the experiment has.
        checkpoint: the checkpoint chosen.
        subset_options: train, val, test with their labelled images.
        subsets: the subsets chosen.
        locked: the controls are read-only (an evaluation exists, or the past is shown).
        run_disabled: Run cannot be pressed (see ``hint`` for why).
        hint: a sentence on what the user can do now.
        signature: what the state depends on (the form is re-filled only when it changes,
            so a refresh never undoes the user's choices).
    """

    checkpoint_options: list[dict[str, Any]]
    checkpoint: str | None
    subset_options: list[dict[str, Any]]
    subsets: list[str]
    locked: bool
    run_disabled: bool
    hint: str
    signature: list[Any] = field(default_factory=list)


def form_state(
    entry: ExperimentEntry | None,
    evaluation: EvaluationEntry | None,
    dataset: DatasetView,
    task: str,
    read_only: bool,
) -> FormState:
    """The controls' options, values and lock for ``entry`` and its ``evaluation``."""
    if entry is None:
        return FormState(
            [], None, locked(subset_options(None)), [], True, True, "", [None, read_only]
        )
    counts = subset_counts(dataset, entry.split, task)
    options = checkpoint_options(entry)
    signature: list[Any] = [
        entry.experiment_id,
        sorted(entry.checkpoints),
        counts,
        evaluation.job_id if evaluation else None,
        evaluation.status if evaluation else None,
        entry.is_active,
        read_only,
    ]
    if evaluation is not None and evaluation.status in ("pending", "completed"):
        hint = (
            "Being evaluated: its figures appear below when it finishes."
            if evaluation.is_pending
            else "Evaluated with these settings. Reset the evaluation to run it again."
        )
        return FormState(
            locked(options),
            evaluation.checkpoint,
            locked(subset_options(counts)),
            list(evaluation.subsets),
            True,
            True,
            "" if read_only else hint,
            signature,
        )
    checkpoint = "best" if "best" in entry.checkpoints else next(iter(entry.checkpoints), None)
    subsets = default_subsets(counts)
    hint = "Choose a checkpoint and the subsets to pool, then run."
    blocked = False
    if counts is None:
        hint, blocked = f"The split {entry.split!r} it was trained on no longer exists.", True
    elif not subsets:
        hint, blocked = f"The split {entry.split!r} has no labelled image to evaluate on.", True
    elif entry.is_active:
        hint, blocked = "It is still training: wait for it to end (or cancel it) first.", True
    if read_only:
        hint = ""
    return FormState(
        locked(options) if read_only else options,
        checkpoint,
        locked(subset_options(counts)) if read_only else subset_options(counts),
        subsets,
        read_only,
        read_only or blocked,
        hint,
        signature,
    )


# ---------------------------------------------------------------------- actions
def run_evaluation(
    workspace: Workspace,
    project_id: str,
    experiment_id: str | None,
    checkpoint: str | None,
    subsets: Sequence[str] | None,
    views: ModelViews | None = None,
) -> str | None:
    """Append ``EvaluationRequested``; the reason it was refused, or None.

    ``views``: the page's current views (checked instead of a replay of the log).
    """
    if not experiment_id:
        return "Select an experiment to evaluate."
    if not checkpoint:
        return "Choose a checkpoint."
    if not subsets:
        return "Choose at least one subset to evaluate on."
    try:
        commands.request_evaluation(
            workspace,
            project_id,
            experiment_id,
            checkpoint,
            list(subsets),
            actor="ui",
            views=views,
        )
    except CommandError as exc:
        return sentence(str(exc))
    return None


def cancel_evaluation(
    workspace: Workspace,
    project_id: str,
    evaluation: EvaluationEntry | None,
    job: JobEntry | None,
) -> str | None:
    """Ask the pending evaluation's job to stop; the reason it was refused, or None."""
    if evaluation is None or not evaluation.is_pending:
        return "No evaluation of this experiment is running."
    if job is not None and job.cancel_requested:
        return "A cancel was already requested: the job stops after its current batch."
    try:
        commands.request_cancel(workspace, project_id, evaluation.job_id, actor="ui")
    except CommandError as exc:
        return sentence(str(exc))
    return None


def reset_evaluation(
    workspace: Workspace,
    project_id: str,
    experiment_id: str,
    views: ModelViews | None = None,
) -> str | None:
    """Append ``EvaluationReset`` (its files are then deleted); the reason it was refused."""
    try:
        commands.reset_evaluation(
            workspace,
            project_id,
            experiment_id,
            actor="ui",
            views=views,
        )
    except CommandError as exc:
        return sentence(str(exc))
    return None


def choose_threshold(
    workspace: Workspace,
    project_id: str,
    experiment_id: str | None,
    threshold: float | None,
) -> str | None:
    """Append ``ThresholdSet`` (the experiment's confidence threshold); the reason it was
    refused, or None."""
    if not experiment_id:
        return "Select an experiment first."
    if threshold is None:
        return "Move the confidence slider to the threshold to choose."
    try:
        commands.set_threshold(workspace, project_id, experiment_id, float(threshold), actor="ui")
    except CommandError as exc:
        return sentence(str(exc))
    return None
