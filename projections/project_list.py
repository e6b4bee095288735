"""The workspace's project list, built from every project's view."""

from __future__ import annotations

from collections.abc import Mapping

from projections.project import ProjectView


def project_list(views: Mapping[str, ProjectView]) -> list[ProjectView]:
    """The live projects, oldest first.

    Args:
        views: project id -> that project's view (deleted ones and empty logs included).

    Returns:
        The views of the created, not deleted projects, sorted by creation time (then id).
    """
    live = [v for v in views.values() if v.created_ts is not None and not v.deleted]
    live.sort(key=lambda v: (v.created_ts or "", v.project_id))
    return live
