"""What evaluation and export commands share: the views they check, checkpoints."""

from __future__ import annotations

from typing import NamedTuple

from aistudio.commands.base import (
    CommandError,
    events_of,
    log_of,
)
from aistudio.workspace import Workspace
from projections.dataset import DatasetView
from projections.dataset import rebuild as rebuild_dataset
from projections.evaluations import EvaluationsView
from projections.evaluations import rebuild as rebuild_evaluations
from projections.experiments import ExperimentEntry, ExperimentsView
from projections.experiments import rebuild as rebuild_experiments
from projections.exports import ExportsView
from projections.exports import rebuild as rebuild_exports

EVALUATION_SUBSETS: tuple[str, ...] = ("train", "val", "test")
CHECKPOINTS: tuple[str, ...] = ("best", "last")


def evaluations_view(workspace: Workspace, project_id: str) -> EvaluationsView:
    """The project's evaluations view, rebuilt from its log."""
    return rebuild_evaluations(log_of(workspace, project_id).read())


def exports_view(workspace: Workspace, project_id: str) -> ExportsView:
    """The project's exports view, rebuilt from its log."""
    return rebuild_exports(log_of(workspace, project_id).read())


class ModelViews(NamedTuple):
    """The views the evaluation and export commands check, all as of the same event.

    The web app passes its incremental views (a click costs no replay of the log); the commands
    append with ``expected_seq`` equal to their seq, and replay the log only when it moved on.
    """

    dataset: DatasetView
    experiments: ExperimentsView
    evaluations: EvaluationsView
    exports: ExportsView

    @property
    def seq(self) -> int:
        """The seq the views were folded to (-1 when they disagree)."""
        seqs = {self.dataset.seq, self.experiments.seq, self.evaluations.seq, self.exports.seq}
        return seqs.pop() if len(seqs) == 1 else -1


def current_model_views(
    workspace: Workspace, project_id: str, given: ModelViews | None = None
) -> tuple[int, DatasetView, ExperimentsView, EvaluationsView, ExportsView]:
    """The last seq and the views a model command checks: ``given`` when they agree on one
    seq, else from one read of the log."""
    if given is not None and given.seq >= 0:
        return (given.seq, *given)
    events = events_of(workspace, project_id)
    seq = events[-1].seq if events else 0
    return (
        seq,
        rebuild_dataset(events),
        rebuild_experiments(events),
        rebuild_evaluations(events),
        rebuild_exports(events),
    )


def require_checkpoint(
    workspace: Workspace, project_id: str, entry: ExperimentEntry, checkpoint: str
) -> None:
    """Refuse a checkpoint the experiment does not have (in its log, or on disk)."""
    if checkpoint not in CHECKPOINTS:
        raise CommandError(f"checkpoint must be best or last, not {checkpoint!r}")
    if entry.is_active:
        raise CommandError(
            f"experiment {entry.name!r} is still {entry.status}: wait for it to end or cancel it"
        )
    if checkpoint not in entry.checkpoints:
        have = ", ".join(entry.checkpoints) or "none"
        raise CommandError(
            f"experiment {entry.name!r} has no {checkpoint} checkpoint (it has: {have})"
        )
    if not workspace.checkpoint_path(project_id, entry.experiment_id, checkpoint).is_file():
        raise CommandError(
            f"the {checkpoint} checkpoint file of {entry.name!r} is missing from the workspace"
        )
