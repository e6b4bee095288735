"""``aistudio thumbnails``: rebuilds missing thumbnails (all with --all), lists the failures and
exits 1 when some failed, 2 for a project that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aistudio.workspace import Workspace
from tests.datasets.support import image_bytes, write
from tests.helpers import events_of, make_project

SUMMARY = re.compile(r"rebuilt (\d+) thumbnails?, (\d+) already there, (\d+) failed \(\d+\.\d s\)")


@pytest.fixture
def project(run, workspace: Workspace, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    """A project 'Cats' with three imported images."""
    project_id = make_project(workspace, "Cats")
    for i in range(3):
        write(tmp_path / "src" / "cat" / f"{i}.png", image_bytes("PNG", color=i))
    assert "added 3, duplicates 0, skipped 0" in run(
        "import", "Cats", str(tmp_path / "src"), "--wait"
    )
    return project_id


def _records(workspace: Workspace, project_id: str) -> list[dict[str, str]]:
    return [
        r
        for e in events_of(workspace, project_id)
        if e.type == "ImagesAdded"
        for r in e.data["images"]
    ]


def _counts(out: str) -> tuple[int, int, int]:
    match = SUMMARY.fullmatch(out.splitlines()[0])
    assert match, out
    return int(match[1]), int(match[2]), int(match[3])


def test_missing_thumbnails_are_rebuilt(run, workspace: Workspace, project: str) -> None:  # type: ignore[no-untyped-def]
    thumbs = [workspace.thumb_path(project, r["sha256"]) for r in _records(workspace, project)]
    imported = [p.read_bytes() for p in thumbs]
    thumbs[0].unlink()
    out = run("thumbnails", "Cats")
    assert out.count("\n") == 1 and _counts(out) == (1, 2, 0)
    assert out.startswith("rebuilt 1 thumbnail, 2 already there, 0 failed (")
    assert [p.read_bytes() for p in thumbs] == imported
    assert _counts(run("thumbnails", project)) == (0, 3, 0)
    assert _counts(run("thumbnails", project, "--all")) == (3, 0, 0)
    assert [p.read_bytes() for p in thumbs] == imported


def test_failures_are_listed_and_exit_1(run, workspace: Workspace, project: str) -> None:  # type: ignore[no-untyped-def]
    records = _records(workspace, project)
    original = workspace.image_path(project, records[0]["sha256"], records[0]["ext"])
    original.unlink()
    out = run("thumbnails", "Cats", "--all", code=1)
    lines = out.splitlines()
    assert _counts(out) == (2, 0, 1) and len(lines) == 2
    relative = original.relative_to(workspace.project_dir(project))
    assert lines[1] == f"  {relative} ({records[0]['filename']}): the original is missing"


def test_at_most_50_failures_are_listed(run, workspace: Workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project_id = make_project(workspace, "Many")
    for i in range(53):
        write(tmp_path / "many" / "x" / f"{i}.png", image_bytes("PNG", (8, 8), color=i))
    run("import", "Many", str(tmp_path / "many"), "--wait")
    for record in _records(workspace, project_id):
        workspace.image_path(project_id, record["sha256"], record["ext"]).unlink()
    lines = run("thumbnails", "Many", "--all", code=1).splitlines()
    assert len(lines) == 1 + 50 + 1
    assert lines[-1] == "  … and 3 more"


def test_a_project_that_does_not_exist(run) -> None:  # type: ignore[no-untyped-def]
    out = run("thumbnails", "Nope", code=2)
    assert out == "error: no project 'Nope': see `aistudio project list`\n"
    assert run("thumbnails", "proj-0000abcd", "--all", code=2).count("\n") == 1
