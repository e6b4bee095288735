"""Splits: compute and append, preview, delete."""

from __future__ import annotations

from collections.abc import Callable

from aistudio.commands.base import (
    CommandError,
    append_event,
    log_of,
    project_task,
)
from aistudio.commands.datasets import dataset_view
from aistudio.workspace import Workspace
from events import (
    ConcurrencyError,
    Event,
)
from projections.dataset import DatasetView
from projections.dataset import rebuild as rebuild_dataset


def create_split(
    workspace: Workspace,
    project_id: str,
    name: str = "default",
    train: float = 0.7,
    val: float = 0.15,
    test: float = 0.15,
    seed: int = 0,
    stratify: bool = True,
    actor: str = "cli",
    dataset: DatasetView | None = None,
) -> Event:
    """Assign every image to a subset and append ``SplitCreated``.

    The assignment is computed from the dataset as it is at the log's last seq, and the append
    insists on that seq (``expected_seq``), so the split always matches a known dataset state.
    ``dataset`` may be given as the caller's current view (used first; rebuilt on a conflict).
    """
    from aistudio.datasets.splits import SplitError, assign_subsets  # scikit-learn: lazy

    log = log_of(workspace, project_id)
    for attempt in range(5):
        view = dataset if (dataset is not None and attempt == 0) else rebuild_dataset(log.read())
        if name.strip() in view.splits:
            raise CommandError(f"a split named {name.strip()!r} already exists: delete it first")
        try:
            assignments = assign_subsets(
                view,
                train,
                val,
                test,
                seed,
                stratify,
                _task_strata(project_task(workspace, project_id)),
            )
        except SplitError as exc:
            raise CommandError(str(exc)) from None
        data = {
            "name": name,
            "ratios": {"train": train, "val": val, "test": test},
            "seed": seed,
            "stratify": stratify,
            "dataset_seq": view.seq,
            "assignments": assignments,
        }
        try:
            return append_event(
                workspace, project_id, "SplitCreated", data, actor, expected_seq=view.seq
            )
        except ConcurrencyError:
            continue
    raise CommandError("the dataset kept changing while the split was computed; try again")


def _task_strata(task: str | None) -> Callable[[DatasetView, list[str]], list[str] | None] | None:
    """The task's :meth:`~aistudio.tasks.base.Task.strata` (None: a task that cannot be
    trained yet, or none given)."""
    from aistudio.tasks.registry import get_task  # torch-free

    if task is None:
        return None
    try:
        return get_task(task).strata
    except ValueError:
        return None


def preview_split(
    dataset: DatasetView,
    train: float,
    val: float,
    test: float,
    seed: int = 0,
    stratify: bool = True,
    task: str | None = None,
) -> dict[str, dict[str, int]]:
    """What a split would look like, appending nothing: ``{subset: {class: images}}``.

    Images without a label are counted under ``"(unlabeled)"``. ``task`` (the project's)
    stratifies as :func:`create_split` does, and its groups are what is counted when it has
    its own (detection: each image under its rarest class, negatives under "(no object)").
    """
    from aistudio.datasets.splits import SplitError, assign_subsets  # scikit-learn: lazy

    strata = _task_strata(task)
    try:
        assignments = assign_subsets(dataset, train, val, test, seed, stratify, strata)
    except SplitError as exc:
        raise CommandError(str(exc)) from None
    ids = list(dataset.images)
    groups = strata(dataset, ids) if strata is not None else None
    group_of = dict(zip(ids, groups, strict=True)) if groups is not None else {}
    counts: dict[str, dict[str, int]] = {}
    for subset, members in assignments.items():
        per_class: dict[str, int] = dict.fromkeys(dataset.classes, 0)
        for image_id in members:
            label = group_of.get(image_id) or dataset.images[image_id].label or "(unlabeled)"
            per_class[label] = per_class.get(label, 0) + 1
        counts[subset] = per_class
    return counts


def delete_split(
    workspace: Workspace,
    project_id: str,
    name: str,
    actor: str = "cli",
    dataset: DatasetView | None = None,
) -> Event:
    """Delete a named split (``dataset``: the current view, if the caller has it)."""
    view = dataset if dataset is not None else dataset_view(workspace, project_id)
    if name not in view.splits:
        raise CommandError(f"no split named {name!r}")
    return append_event(workspace, project_id, "SplitDeleted", {"name": name}, actor)
