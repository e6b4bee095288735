"""Events of named train/val/test splits."""

from __future__ import annotations

import math

from pydantic import Field, model_validator

from events.registry import EventData, registry
from events.schemas.common import ImageId, Name, NonNegativeInt

SUBSETS: tuple[str, ...] = ("train", "val", "test")

MAX_SEED = 2**32 - 2
"""The largest split seed: scikit-learn takes seeds up to 2**32 - 1, and val/test are cut with
seed + 1. (Not in the schema: a log is never refused for a seed; the split command checks it.)"""


class SplitRatios(EventData):
    """Fractions of the dataset per subset; they sum to 1."""

    train: float = Field(ge=0, le=1)
    val: float = Field(ge=0, le=1)
    test: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitRatios:
        total = self.train + self.val + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"train + val + test must sum to 1, got {total:g}")
        if self.train <= 0:
            raise ValueError("train must be greater than 0")
        return self


class SplitAssignments(EventData):
    """Image ids per subset."""

    train: list[ImageId]
    val: list[ImageId]
    test: list[ImageId]


@registry.register("SplitCreated")
class SplitCreated(EventData):
    """A named split was created from the dataset as it was at ``dataset_seq``."""

    name: Name
    ratios: SplitRatios
    seed: int
    stratify: bool
    dataset_seq: NonNegativeInt
    assignments: SplitAssignments


@registry.register("SplitDeleted")
class SplitDeleted(EventData):
    """A named split was deleted."""

    name: Name
