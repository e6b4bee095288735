"""The pydantic schemas of every event type; importing this package registers them."""

from __future__ import annotations

from events.schemas import dataset, jobs, project, split, training

__all__ = ["dataset", "jobs", "project", "split", "training"]
