"""Train/val/test assignment of a dataset's images, stratified with scikit-learn.

Same dataset, ratios and seed give the same assignment. Classification stratifies by label,
regression by quantile bins of the value; images without a label form their own group, and
groups too small to be split are pooled so that stratification still works on small data.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from sklearn.model_selection import train_test_split

from events.schemas.split import MAX_SEED
from projections.dataset import DatasetView

SUBSETS: tuple[str, ...] = ("train", "val", "test")
_UNLABELED = "\x00unlabeled"
_RARE = "\x00rare"
_REGRESSION_BINS = 10


class SplitError(ValueError):
    """The split cannot be made; the message says why and what to do."""


def assign_subsets(
    view: DatasetView,
    train: float,
    val: float,
    test: float,
    seed: int,
    stratify: bool = True,
    strata: Callable[[DatasetView, list[str]], list[str] | None] | None = None,
) -> dict[str, list[str]]:
    """Assign every image of ``view`` to ``train``, ``val`` or ``test``.

    Args:
        view: the dataset as it is now.
        train: fraction for training (> 0).
        val: fraction for validation.
        test: fraction for testing.
        seed: random seed; the same inputs give the same assignment.
        stratify: keep class proportions (or value distribution) equal across subsets.
        strata: the task's groups of the images (``Task.strata``); None, or None returned:
            each image's label, or its value's quantile bin.

    Returns:
        Image ids per subset, each list in the dataset's import order.
    """
    for name, ratio in (("train", train), ("val", val), ("test", test)):
        if not 0 <= ratio <= 1:
            raise SplitError(f"{name}: must be at least 0, at most 1 (a share of the images)")
    if not math.isclose(train + val + test, 1.0, abs_tol=1e-6):
        raise SplitError(f"train + val + test must sum to 1, got {train + val + test:g}")
    if train <= 0:
        raise SplitError("train: must be greater than 0 (the model needs images to learn from)")
    if not 0 <= seed <= MAX_SEED:
        raise SplitError(f"seed: must be at least 0, at most {MAX_SEED}")
    ids = list(view.images)
    if not ids:
        raise SplitError("the dataset has no images yet: import a dataset first")
    groups = None
    if stratify:
        groups = strata(view, ids) if strata is not None else None
        if groups is None:
            groups = _strata(view, ids)
    holdout = val + test
    train_ids, rest_ids, rest_groups = _cut(ids, groups, holdout, seed)
    if rest_ids and val > 0 and test > 0:
        val_ids, test_ids, _ = _cut(rest_ids, rest_groups, test / holdout, seed + 1)
    elif val > 0:
        val_ids, test_ids = rest_ids, []
    else:
        val_ids, test_ids = [], rest_ids
    order = {image_id: i for i, image_id in enumerate(ids)}
    return {
        name: sorted(subset, key=order.__getitem__)
        for name, subset in zip(SUBSETS, (train_ids, val_ids, test_ids), strict=False)
    }


def _cut(
    ids: list[str], groups: list[str] | None, fraction: float, seed: int
) -> tuple[list[str], list[str], list[str] | None]:
    """Split ``ids`` into (keep, take) with about ``fraction`` of them taken."""
    if fraction <= 0 or len(ids) < 2:
        return ids, [], [] if groups is not None else None
    n_take = max(1, round(len(ids) * fraction))
    if n_take >= len(ids):
        return [], ids, groups
    strata = _pool_rare(groups, n_take, len(ids) - n_take) if groups is not None else None
    try:
        keep, take = train_test_split(
            np.arange(len(ids)), test_size=n_take, random_state=seed, shuffle=True, stratify=strata
        )
    except ValueError:
        # Too few images per group for the requested sizes: stratification is impossible here.
        keep, take = train_test_split(
            np.arange(len(ids)), test_size=n_take, random_state=seed, shuffle=True
        )
    keep_ids = [ids[i] for i in sorted(keep)]
    take_ids = [ids[i] for i in sorted(take)]
    take_groups = [groups[i] for i in sorted(take)] if groups is not None else None
    return keep_ids, take_ids, take_groups


def _pool_rare(groups: Sequence[str], n_take: int, n_keep: int) -> list[str] | None:
    """Pool groups with fewer than 2 members; None when stratification cannot work at all."""
    counts = Counter(groups)
    pooled = [g if counts[g] >= 2 else _RARE for g in groups]
    pooled_counts = Counter(pooled)
    if pooled_counts.get(_RARE, 2) < 2:
        # A single rare image: give it to the smallest real group.
        smallest = min(
            (g for g in pooled_counts if g != _RARE), key=pooled_counts.__getitem__, default=None
        )
        if smallest is None:
            return None
        pooled = [smallest if g == _RARE else g for g in pooled]
        pooled_counts = Counter(pooled)
    n_groups = len(pooled_counts)
    if n_groups < 2 or n_take < n_groups or n_keep < n_groups:
        return None
    return pooled


def _strata(view: DatasetView, ids: list[str]) -> list[str]:
    """The stratification group of every image: its label, or its value's quantile bin."""
    values = [view.images[i].value for i in ids]
    known = np.array([v for v in values if v is not None], dtype=float)
    if known.size:
        edges = np.unique(np.quantile(known, np.linspace(0, 1, _REGRESSION_BINS + 1)[1:-1]))
        return [
            _UNLABELED if v is None else f"bin{int(np.searchsorted(edges, v, side='right'))}"
            for v in values
        ]
    return [view.images[i].label or _UNLABELED for i in ids]
