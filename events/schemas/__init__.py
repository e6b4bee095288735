"""The pydantic schemas of every event type; importing this package registers them."""

from __future__ import annotations

from events.schemas import (
    annotation,
    dataset,
    evaluation,
    export,
    jobs,
    project,
    split,
    training,
)

__all__ = ["annotation", "dataset", "evaluation", "export", "jobs", "project", "split", "training"]
