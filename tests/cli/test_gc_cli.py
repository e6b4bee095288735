"""``aistudio gc``: removes unreferenced image files, lists them with --dry-run, refuses while
an import holds the project's images lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from aistudio.datasets.store import ImageStore, sha256_hex
from aistudio.workspace import Workspace
from tests.datasets.support import image_bytes, images_lock_held_elsewhere, write
from tests.helpers import make_project


@pytest.fixture
def project(run, workspace: Workspace, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    """A project 'Cats' with two imported images."""
    project_id = make_project(workspace, "Cats")
    for i in range(2):
        write(tmp_path / "src" / "cat" / f"{i}.png", image_bytes("PNG", color=i))
    assert "added 2, duplicates 0, skipped 0" in run(
        "import", "Cats", str(tmp_path / "src"), "--wait"
    )
    return project_id


def _leave_leftovers(workspace: Workspace, project_id: str) -> list[Path]:
    """What a killed import leaves: an original, its thumbnail, a .part (3 files)."""
    store = ImageStore(workspace, project_id)
    data = image_bytes("PNG", color=99)
    sha = sha256_hex(data)
    store.put_original(sha, "png", data)
    store.put_thumbnail(sha, image_bytes("JPEG", (8, 8), color=99))
    part = write(workspace.tmp_dir(project_id) / "leftover.part", b"12345")
    return [store.original_path(sha, "png"), store.thumbnail_path(sha), part]


def _files(workspace: Workspace, project_id: str) -> set[Path]:
    return {p for p in workspace.project_dir(project_id).rglob("*") if p.is_file()}


def test_gc_removes_leftovers_and_keeps_the_dataset(
    run, workspace: Workspace, project: str
) -> None:  # type: ignore[no-untyped-def]
    kept = _files(workspace, project)
    left = _leave_leftovers(workspace, project)
    out = run("gc", "Cats")
    assert out.startswith("removed 1 original (")
    assert "1 thumbnail (" in out and "1 temporary file (5 bytes): 3 files," in out
    assert not any(p.exists() for p in left)
    assert _files(workspace, project) == kept
    assert "would remove nothing" in run("gc", project, "--dry-run")
    assert "removed nothing" in run("gc", project)


def test_dry_run_lists_and_deletes_nothing(run, workspace: Workspace, project: str) -> None:  # type: ignore[no-untyped-def]
    left = _leave_leftovers(workspace, project)
    out = run("gc", "Cats", "--dry-run")
    root = workspace.project_dir(project)
    for path in left:
        assert str(path.relative_to(root)) in out
    assert out.splitlines()[-1].startswith("would remove 1 original (")
    assert all(p.exists() for p in left)


def test_gc_refuses_while_an_import_holds_the_lock(  # type: ignore[no-untyped-def]
    run, workspace: Workspace, project: str
) -> None:
    left = _leave_leftovers(workspace, project)
    with images_lock_held_elsewhere(workspace, project):
        for args in (("gc", "Cats"), ("gc", "Cats", "--dry-run")):
            out = run(*args, code=2)
            assert out.count("\n") == 1 and out.startswith("error: project ")
            assert "is importing images: nothing was removed" in out
        assert all(p.exists() for p in left)
    assert run("gc", "Cats").startswith("removed 1 original")


def test_gc_of_a_project_that_does_not_exist(run) -> None:  # type: ignore[no-untyped-def]
    out = run("gc", "Nope", code=2)
    assert out == "error: no project 'Nope': see `aistudio project list`\n"
    assert run("gc", "proj-0000abcd", code=2).count("\n") == 1
