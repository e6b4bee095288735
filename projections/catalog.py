"""Every projection of a project, by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from projections import dataset, evaluations, experiments, exports, jobs, project, splits
from projections.base import Projection

ALL_PROJECTIONS: Mapping[str, Projection[Any]] = MappingProxyType(
    {
        "project": project.projection,
        "dataset": dataset.projection,
        "splits": splits.projection,
        "jobs": jobs.projection,
        "experiments": experiments.projection,
        "evaluation": evaluations.projection,
        "exports": exports.projection,
    }
)
"""name -> projection, for :class:`projections.projector.ProjectProjector`."""
