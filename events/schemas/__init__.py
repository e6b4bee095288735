"""The pydantic schemas of every event type; importing this package registers them."""

from __future__ import annotations

from events.schemas import dataset, evaluation, export, jobs, project, split, training

__all__ = ["dataset", "evaluation", "export", "jobs", "project", "split", "training"]
