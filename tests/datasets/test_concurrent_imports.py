"""Two imports running at once: the later commit rebases on the earlier one's images."""

from __future__ import annotations

from pathlib import Path

from aistudio.datasets.importer import run_import
from aistudio.workspace import Workspace
from events import EventLog
from tests.datasets.support import events_of, make_project, request_import, write_png


def _commit(log: EventLog, result) -> None:  # type: ignore[no-untyped-def]
    seq = log.last_seq()
    final = result.rebase(seq)
    log.append_many(final.events, expected_seq=seq)


def test_overlapping_imports_add_each_image_once(workspace: Workspace, tmp_path: Path) -> None:
    project_id = make_project(workspace)
    for i in range(6):
        write_png(tmp_path / "a" / "cat" / f"{i}.png", color=i)
    for i in range(3, 9):  # three images in common with the first folder
        write_png(tmp_path / "b" / "cat" / f"{i}.png", color=i)
    first = run_import(request_import(workspace, project_id, tmp_path / "a"))
    second = run_import(request_import(workspace, project_id, tmp_path / "b"))
    assert first.summary["added"] == 6 and second.summary["added"] == 6  # neither saw the other

    log = EventLog(workspace.events_path(project_id))
    _commit(log, first)
    final_second = second.rebase(log.last_seq())
    assert final_second.summary["added"] == 3 and final_second.summary["duplicates"] == 3
    log.append_many(final_second.events, expected_seq=log.last_seq())

    images = [
        r
        for e in events_of(workspace, project_id)
        if e.type == "ImagesAdded"
        for r in e.data["images"]
    ]
    assert len(images) == 9
    assert len({r["sha256"] for r in images}) == 9
    assert len({r["image_id"] for r in images}) == 9
