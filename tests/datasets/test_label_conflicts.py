"""The same content with different labels (or values): the later copy is a listed skip that
names the kept file and label; with the same label it stays a plain duplicate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aistudio.datasets.importer import ImportResult, run_import
from aistudio.worker.context import JobContext
from aistudio.workspace import Workspace
from events import EventLog
from projections.dataset import rebuild
from tests.datasets.support import (
    events_of,
    image_bytes,
    make_project,
    request_import,
    write,
    write_png,
)


def _import(
    workspace: Workspace, source: Path, project_id: str, **kw: Any
) -> tuple[ImportResult, JobContext]:
    ctx = request_import(workspace, project_id, source)
    return run_import(ctx, **kw), ctx


def _commit(ctx: JobContext, result: ImportResult) -> ImportResult:
    assert result.rebase is not None
    seq = ctx.log.last_seq()
    final = result.rebase(seq)
    ctx.log.append_many(final.events, expected_seq=seq)
    result.release()
    return ImportResult(events=final.events, summary=final.summary)


def _records(result: ImportResult) -> list[tuple[str, str | None, float | None]]:
    return [
        (r["filename"], r["label"], r["value"])
        for e in result.events
        if e.type == "ImagesAdded"
        for r in e.data["images"]
    ]


def _skipped(result: ImportResult) -> dict[str, str]:
    return {
        item["path"]: item["reason"]
        for e in result.events
        if e.type == "ImportSkipped"
        for item in e.data["items"]
    }


def _counts(result: ImportResult) -> tuple[int, int, int, int]:
    """(added, duplicates, skipped, conflicts); ImportCompleted agrees with the summary."""
    [done] = [e.data for e in result.events if e.type == "ImportCompleted"]
    summary = result.summary
    assert (done["added"], done["duplicates"], done["skipped"]) == (
        summary["added"],
        summary["duplicates"],
        summary["skipped"],
    )
    return summary["added"], summary["duplicates"], summary["skipped"], summary["conflicts"]


# ---------------------------------------------------------------------------- within one import
@pytest.mark.parametrize(("workers", "executor"), [(1, "thread"), (2, "thread"), (2, "process")])
def test_the_same_file_in_two_class_folders(
    ws: Workspace, src: Path, workers: int, executor: str
) -> None:
    data = image_bytes("PNG", color=5)
    write(src / "cat" / "a.png", data)
    write(src / "dog" / "copy.png", data)
    write_png(src / "dog" / "other.png", 6)
    result, _ = _import(ws, src, make_project(ws), workers=workers, executor=executor)
    assert _records(result) == [("cat/a.png", "cat", None), ("dog/other.png", "dog", None)]
    assert _skipped(result) == {
        "dog/copy.png": (
            "same image as cat/a.png, which is labelled 'cat'; this copy says 'dog' (kept 'cat')"
        )
    }
    assert _counts(result) == (2, 0, 1, 1)


def test_the_same_content_with_the_same_label_is_a_plain_duplicate(
    ws: Workspace, src: Path
) -> None:
    data = image_bytes("PNG", color=5)
    write(src / "cat" / "a.png", data)
    write(src / "cat" / "b.png", data)
    write(src / "dog" / "c.png", data)  # a conflict, counted once
    result, _ = _import(ws, src, make_project(ws))
    assert _records(result) == [("cat/a.png", "cat", None)]
    assert list(_skipped(result)) == ["dog/c.png"]
    assert _counts(result) == (1, 1, 1, 1)


def test_two_csv_rows_with_the_same_content(ws: Workspace, src: Path) -> None:
    data = image_bytes("PNG", color=3)
    write(src / "x.png", data)
    write(src / "y.png", data)
    write(src / "z.png", data)
    write(src / "labels.csv", b"filename,label\nx.png,cat\ny.png,dog\nz.png,cat\n")
    result, _ = _import(ws, src / "labels.csv", make_project(ws))
    assert _records(result) == [("x.png", "cat", None)]
    assert _skipped(result) == {
        "y.png": "same image as x.png, which is labelled 'cat'; this copy says 'dog' (kept 'cat')"
    }
    assert _counts(result) == (1, 1, 1, 1)


def test_regression_values_conflict_too(ws: Workspace, src: Path) -> None:
    data = image_bytes("PNG", color=3)
    write(src / "a.png", data)
    write(src / "b.png", data)
    write(src / "c.png", data)
    write(src / "values.csv", b"filename,value\na.png,1.5\nb.png,2\nc.png,1.50\n")
    result, _ = _import(ws, src / "values.csv", make_project(ws, "regression"))
    assert _records(result) == [("a.png", None, 1.5)]
    assert _skipped(result) == {
        "b.png": "same image as a.png, which has the value 1.5; this copy says 2.0 (kept 1.5)"
    }
    assert _counts(result) == (1, 1, 1, 1)


def test_tasks_without_labels_have_no_conflicts(ws: Workspace, src: Path) -> None:
    data = image_bytes("PNG", color=3)
    write(src / "cat" / "a.png", data)
    write(src / "dog" / "b.png", data)
    result, _ = _import(ws, src, make_project(ws, "anomaly_detection"))
    assert _counts(result) == (1, 1, 0, 0)


# ---------------------------------------------------------------------------- across imports
def test_content_already_in_the_dataset_with_another_label(ws: Workspace, src: Path) -> None:
    project_id = make_project(ws)
    data = image_bytes("PNG", color=5)
    write(src / "first" / "cat" / "a.png", data)
    first, ctx = _import(ws, src / "first", project_id)
    _commit(ctx, first)
    [image_id] = rebuild(events_of(ws, project_id)).images

    write(src / "second" / "dog" / "again.png", data)
    write(src / "second" / "cat" / "same.png", data)
    second, ctx2 = _import(ws, src / "second", project_id)
    assert _records(second) == []
    assert _skipped(second) == {
        "dog/again.png": (
            f"same image as cat/a.png (already in the dataset as {image_id}), which is labelled "
            "'cat'; this copy says 'dog' (kept 'cat')"
        )
    }
    assert _counts(second) == (0, 1, 1, 1)  # only conflicts and duplicates: not a failure
    _commit(ctx2, second)
    view = rebuild(events_of(ws, project_id))
    assert [(e.filename, e.label) for e in view.images.values()] == [("cat/a.png", "cat")]


def test_the_current_label_is_the_one_compared(ws: Workspace, src: Path) -> None:
    project_id = make_project(ws)
    data = image_bytes("PNG", color=5)
    write(src / "first" / "cat" / "a.png", data)
    first, ctx = _import(ws, src / "first", project_id)
    _commit(ctx, first)
    [image_id] = rebuild(events_of(ws, project_id)).images
    EventLog(ws.events_path(project_id)).append(
        "LabelChanged", {"image_id": image_id, "label": "dog"}
    )
    write(src / "second" / "dog" / "again.png", data)
    write(src / "second" / "cat" / "old.png", data)
    second, _ = _import(ws, src / "second", project_id)
    assert _skipped(second) == {
        "cat/old.png": (
            f"same image as cat/a.png (already in the dataset as {image_id}), which is labelled "
            "'dog'; this copy says 'cat' (kept 'dog')"
        )
    }
    assert _counts(second) == (0, 1, 1, 1)


def test_a_concurrent_import_of_the_same_content_is_found_at_the_commit(
    ws: Workspace, src: Path
) -> None:
    project_id = make_project(ws)
    data = image_bytes("PNG", color=5)
    write(src / "a" / "cat" / "x.png", data)
    write(src / "b" / "dog" / "y.png", data)
    write_png(src / "b" / "dog" / "z.png", 9)
    first, ctx_a = _import(ws, src / "a", project_id)
    second, ctx_b = _import(ws, src / "b", project_id)
    assert _counts(second) == (2, 0, 0, 0)  # neither saw the other
    _commit(ctx_a, first)
    final = _commit(ctx_b, second)
    [image_id] = [
        i for i, e in rebuild(events_of(ws, project_id)).images.items() if e.label == "cat"
    ]
    assert _records(final) == [("dog/z.png", "dog", None)]
    assert _skipped(final) == {
        "dog/y.png": (
            f"same image as cat/x.png (already in the dataset as {image_id}), which is labelled "
            "'cat'; this copy says 'dog' (kept 'cat')"
        )
    }
    assert _counts(final) == (1, 0, 1, 1)
