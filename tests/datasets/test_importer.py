"""The import job, called directly: events returned, files stored, every bad input handled."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from aistudio.datasets import importer
from aistudio.datasets.importer import run_import
from aistudio.datasets.store import sha256_hex
from aistudio.worker.context import JobCancelledError, JobContext, JobInputError, JobResult
from aistudio.workspace import Workspace
from events import EventLog
from projections.dataset import rebuild
from tests.datasets.support import (
    events_of,
    image_bytes,
    make_project,
    request_import,
    set_settings,
    write,
    write_png,
)


def _import(
    workspace: Workspace,
    source: Path | str,
    task: str = "classification",
    fmt: str = "auto",
    project_id: str | None = None,
    **kwargs: Any,
) -> tuple[JobResult, JobContext]:
    project_id = project_id or make_project(workspace, task)
    ctx = request_import(workspace, project_id, source, fmt)
    return run_import(ctx, **kwargs), ctx


def _commit(ctx: JobContext, result: JobResult) -> None:
    """Append the job's events as the runner would (validating them)."""
    ctx.log.append_many(result.events)


def _types(result: JobResult) -> list[str]:
    return [e.type for e in result.events]


def _records(result: JobResult) -> list[dict[str, Any]]:
    return [r for e in result.events if e.type == "ImagesAdded" for r in e.data["images"]]


def _skipped(result: JobResult) -> dict[str, str]:
    return {
        item["path"]: item["reason"]
        for e in result.events
        if e.type == "ImportSkipped"
        for item in e.data["items"]
    }


def _completed(result: JobResult) -> dict[str, Any]:
    [event] = [e for e in result.events if e.type == "ImportCompleted"]
    return event.data


def _expect_input_error(
    workspace: Workspace, source: Path | str, match: str, task: str = "classification", **kw: Any
) -> str:
    project_id = make_project(workspace, task)
    ctx = request_import(workspace, project_id, source, **kw)
    with pytest.raises(JobInputError, match=match) as caught:
        run_import(ctx)
    types = {e.type for e in events_of(workspace, project_id)}
    assert types <= {"ProjectCreated", "ImportRequested", "JobProgress"}  # nothing imported
    return str(caught.value)


# ---------------------------------------------------------------------------- good sources
def test_imagefolder_import(workspace: Workspace, src: Path) -> None:
    set_settings(workspace, thumbnail_px=16)
    source = src / "src"
    for i, label in enumerate(["cat", "cat", "dog", "bird"]):
        write_png(source / label / f"{i}.png", color=i)
    jpeg = write(source / "dog" / "deep" / "x.jpg", image_bytes("JPEG", (64, 48), color=9))
    result, ctx = _import(workspace, source)

    assert _types(result) == ["ImagesAdded", "ClassesDefined", "ImportCompleted"]
    records = _records(result)
    assert [(r["filename"], r["label"], r["ext"]) for r in records] == [
        ("bird/3.png", "bird", "png"),
        ("cat/0.png", "cat", "png"),
        ("cat/1.png", "cat", "png"),
        ("dog/2.png", "dog", "png"),
        ("dog/deep/x.jpg", "dog", "jpg"),
    ]
    assert [(r["width"], r["height"]) for r in records] == [(40, 32)] * 4 + [(64, 48)]
    assert len({r["image_id"] for r in records}) == 5
    assert result.events[1].data == {"classes": ["bird", "cat", "dog"]}
    completed = _completed(result)
    assert completed["source"] == str(source.resolve())
    assert (completed["format"], completed["added"], completed["duplicates"]) == (
        "imagefolder",
        5,
        0,
    )
    assert completed["skipped"] == 0
    assert result.summary["added"] == 5
    assert all(e.causation == ctx.job_id and e.actor == "job" for e in result.events)

    jpeg_record = records[-1]
    original = workspace.image_path(ctx.project_id, jpeg_record["sha256"], "jpg")
    assert original.read_bytes() == jpeg.read_bytes()
    assert jpeg_record["size_bytes"] == jpeg.stat().st_size
    assert jpeg_record["sha256"] == sha256_hex(jpeg.read_bytes())
    for record in records:
        assert workspace.image_path(ctx.project_id, record["sha256"], record["ext"]).is_file()
        with Image.open(workspace.thumb_path(ctx.project_id, record["sha256"])) as thumb:
            assert thumb.format == "JPEG" and thumb.mode == "RGB"
            assert max(thumb.size) == 16
    assert list(workspace.tmp_dir(ctx.project_id).iterdir()) == []

    _commit(ctx, result)  # the events are valid and fold into the dataset view
    view = rebuild(events_of(workspace, ctx.project_id))
    assert view.classes == ["bird", "cat", "dog"]
    assert view.label_counts == {"bird": 1, "cat": 2, "dog": 2}


def test_csv_classification_import(workspace: Workspace, src: Path) -> None:
    write_png(src / "img" / "a.png", 1)
    write_png(src / "img" / "b.png", 2)
    write(src / "labels.csv", b"filename,label\nimg/b.png,two\nimg/a.png,one\n")
    result, _ = _import(workspace, src / "labels.csv")
    assert [(r["filename"], r["label"], r["value"]) for r in _records(result)] == [
        ("img/b.png", "two", None),
        ("img/a.png", "one", None),
    ]
    assert result.events[1].data == {"classes": ["one", "two"]}
    assert _completed(result)["format"] == "csv"


def test_csv_regression_import(workspace: Workspace, src: Path) -> None:
    write_png(src / "a.png", 1)
    write_png(src / "b.png", 2)
    write(src / "values.csv", b"filename,value\na.png,0.25\nb.png,-3\n")
    result, ctx = _import(workspace, src, task="regression")
    assert [(r["filename"], r["label"], r["value"]) for r in _records(result)] == [
        ("a.png", None, 0.25),
        ("b.png", None, -3.0),
    ]
    assert "ClassesDefined" not in _types(result)
    _commit(ctx, result)


def test_other_tasks_import_unlabelled_images(workspace: Workspace, src: Path) -> None:
    write_png(src / "a.png", 1)
    write_png(src / "sub" / "b.png", 2)
    result, ctx = _import(workspace, src, task="anomaly_detection")  # no reader gives its kind
    assert [(r["filename"], r["label"], r["value"]) for r in _records(result)] == [
        ("a.png", None, None),
        ("sub/b.png", None, None),
    ]
    assert _types(result) == ["ImagesAdded", "ImportCompleted"]
    _commit(ctx, result)


def test_demo_digits_import(workspace: Workspace) -> None:
    result, ctx = _import(workspace, Workspace.demo_source())
    assert _completed(result)["added"] == 300
    assert result.events[-2].data == {"classes": [str(d) for d in range(10)]}
    _commit(ctx, result)
    assert rebuild(events_of(workspace, ctx.project_id)).label_counts == {
        str(d): 30 for d in range(10)
    }


# ---------------------------------------------------------------------------- duplicates
def test_duplicates_within_one_import(workspace: Workspace, src: Path) -> None:
    """A copy with the same label is a duplicate; one with another label a listed conflict."""
    data = image_bytes("PNG", color=5)
    write(src / "cat" / "a.png", data)
    write(src / "cat" / "copy.png", data)
    write(src / "dog" / "copy.png", data)
    write_png(src / "dog" / "other.png", 6)
    result, _ = _import(workspace, src)
    assert [r["filename"] for r in _records(result)] == ["cat/a.png", "dog/other.png"]
    completed = _completed(result)
    assert (completed["added"], completed["duplicates"], completed["skipped"]) == (2, 1, 1)
    assert _skipped(result) == {
        "dog/copy.png": "same image as cat/a.png, which is labelled 'cat'; this copy says 'dog' "
        "(kept 'cat')"
    }


def test_duplicates_against_an_earlier_import(workspace: Workspace, src: Path) -> None:
    first = src / "first"
    write_png(first / "zebra" / "a.png", 1)
    write_png(first / "cat" / "b.png", 2)
    result, ctx = _import(workspace, first)
    _commit(ctx, result)

    second = src / "second"
    write(second / "cat" / "again.png", (first / "cat" / "b.png").read_bytes())
    write_png(second / "apple" / "c.png", 3)
    write_png(second / "zebra" / "d.png", 4)
    again, ctx2 = _import(workspace, second, project_id=ctx.project_id)
    assert [r["filename"] for r in _records(again)] == ["apple/c.png", "zebra/d.png"]
    # existing classes first (in their order), then the new ones sorted
    assert again.events[1].data == {"classes": ["cat", "zebra", "apple"]}
    assert (_completed(again)["added"], _completed(again)["duplicates"]) == (2, 1)
    _commit(ctx2, again)

    same, _ = _import(workspace, first, project_id=ctx.project_id)
    assert _types(same) == ["ImportCompleted"]  # nothing new: no image, no class change
    assert (_completed(same)["added"], _completed(same)["duplicates"]) == (0, 2)


def test_image_ids_of_removed_images_are_not_reused(
    workspace: Workspace, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_png(src / "cat" / "a.png", 1)
    result, ctx = _import(workspace, src)
    _commit(ctx, result)
    [old] = _records(result)
    ctx.log.append("ImageRemoved", {"image_id": old["image_id"]})
    proposals = iter([old["image_id"], "img-0000abcd"])

    def fake_new_id(prefix: str, taken: Callable[[str], bool] | None = None) -> str:
        assert prefix == "img" and taken is not None
        return next(p for p in proposals if not taken(p))

    monkeypatch.setattr(importer, "new_id", fake_new_id)
    again, _ = _import(workspace, src, project_id=ctx.project_id)
    assert [r["image_id"] for r in _records(again)] == ["img-0000abcd"]


# ---------------------------------------------------------------------------- bad files
def test_bad_files_are_listed_skips(workspace: Workspace, src: Path) -> None:
    set_settings(workspace, max_image_pixels=2000)  # 40x32 passes, 64x64 does not
    write_png(src / "cat" / "good.png", 1)
    write(src / "cat" / "corrupt.png", b"\x89PNG\r\n\x1a\n this is not a PNG at all")
    jpeg = image_bytes("JPEG", (40, 32), color=3)
    write(src / "cat" / "truncated.jpg", jpeg[: len(jpeg) // 2])
    png = image_bytes("PNG", (40, 32), color=4)
    write(src / "cat" / "truncated.png", png[:-20])
    write(src / "cat" / "bomb.png", image_bytes("PNG", (64, 64), color=5))
    write(src / "cat" / "notes.txt", b"not an image")
    write(src / "cat" / "anim.gif", image_bytes("GIF"))
    write(src / "cat" / "empty.jpg", b"")
    write_png(src / "root.png", 6)
    result, ctx = _import(workspace, src)

    assert [r["filename"] for r in _records(result)] == ["cat/good.png"]
    skipped = _skipped(result)
    assert skipped["cat/corrupt.png"] == "not a recognised image file"
    assert skipped["cat/truncated.jpg"].startswith("corrupt or truncated image")
    assert skipped["cat/truncated.png"].startswith("corrupt or truncated image")
    assert skipped["cat/bomb.png"] == (
        "too many pixels: 64x64 = 4,096 exceeds the limit of 2,000 (decompression-bomb guard)"
    )
    assert skipped["cat/notes.txt"] == "not an image file (extension .txt)"
    assert skipped["cat/anim.gif"] == "unsupported format GIF"
    assert skipped["cat/empty.jpg"] == "empty file"
    assert skipped["root.png"] == "not inside a class folder"
    assert _completed(result)["skipped"] == len(skipped) == 8
    assert _types(result) == ["ImagesAdded", "ClassesDefined", "ImportSkipped", "ImportCompleted"]
    _commit(ctx, result)


def test_bad_csv_rows_are_listed_skips(workspace: Workspace, src: Path) -> None:
    outside = write_png(src / "outside.png", 1)
    source = src / "source"
    write_png(source / "ok.png", 2)
    (source / "link.png").symlink_to(outside)
    rows = [
        "ok.png,cat",
        "../outside.png,cat",
        f"{outside},cat",
        "link.png,cat",
        "missing.png,cat",
        "ok.png,dog",
    ]
    write(source / "labels.csv", ("filename,label\n" + "\n".join(rows) + "\n").encode())
    result, _ = _import(workspace, source)
    assert [r["filename"] for r in _records(result)] == ["ok.png"]
    assert _skipped(result) == {
        "../outside.png": "line 3: path leaves the CSV's folder (..)",
        str(outside): "line 4: absolute paths are not allowed (give a path relative to the CSV)",
        "link.png": "line 5: path resolves outside the CSV's folder (symbolic link)",
        "missing.png": "line 6: file not found",
        "ok.png": "line 7: duplicate row: same file as line 2",
    }


def test_events_are_batched(
    workspace: Workspace, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "IMAGES_PER_EVENT", 3)
    monkeypatch.setattr(importer, "SKIPS_PER_EVENT", 2)
    for i in range(7):
        write_png(src / "cat" / f"{i}.png", i)
    for i in range(5):
        write(src / "cat" / f"{i}.txt", b"x")
    result, ctx = _import(workspace, src)
    assert _types(result) == ["ImagesAdded"] * 3 + ["ClassesDefined"] + ["ImportSkipped"] * 3 + [
        "ImportCompleted"
    ]
    assert [len(e.data["images"]) for e in result.events[:3]] == [3, 3, 1]
    assert [len(e.data["items"]) for e in result.events[4:7]] == [2, 2, 1]
    _commit(ctx, result)


# ---------------------------------------------------------------------------- bad sources
def test_source_with_no_importable_image(workspace: Workspace, src: Path) -> None:
    write(src / "cat" / "a.png", b"garbage")
    write(src / "cat" / "b.txt", b"text")
    message = _expect_input_error(workspace, src, "no importable image")
    assert message == (
        f"no importable image in {src.resolve()}: 2 files skipped, first reasons: "
        "cat/b.txt: not an image file (extension .txt); cat/a.png: not a recognised image file"
    )


def test_empty_folder(workspace: Workspace, src: Path) -> None:
    (src / "empty").mkdir()
    _expect_input_error(workspace, src / "empty", "no importable image in .*: no image file")


def test_missing_source(workspace: Workspace, src: Path) -> None:
    _expect_input_error(workspace, src / "nope", "source '.*nope' does not exist")


def test_csv_with_only_a_header(workspace: Workspace, src: Path) -> None:
    write(src / "labels.csv", b"filename,label\n")
    _expect_input_error(workspace, src, "no importable image")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (b"", "labels.csv is empty"),
        (b"a.png,cat\n", "line 1: the header must be"),
        (b"filename,label\na.png,cat,extra\n", "line 2: expected 2 columns"),
        (b'filename,label\n"a.png"x,cat\n', "line 2: bad CSV syntax"),
        (b"filename,value\na.png,many\n", "line 2: value 'many' is not a number"),
        (b"filename,value\na.png,inf\n", "line 2: value 'inf' is not a finite number"),
    ],
)
def test_malformed_csv(workspace: Workspace, src: Path, text: bytes, match: str) -> None:
    write_png(src / "a.png")
    write(src / "labels.csv", text)
    _expect_input_error(
        workspace, src, match, task="regression" if b"value" in text else "classification"
    )


@pytest.mark.parametrize(
    ("task", "kind", "match"),
    [
        ("regression", "folder", "regression project needs a CSV .* imagefolder .* class names"),
        ("regression", "label", r"regression project needs .*this one has `filename,label`"),
        ("classification", "value", r"classification project needs .*`filename,value`"),
    ],
)
def test_task_and_format_must_fit(
    workspace: Workspace, src: Path, task: str, kind: str, match: str
) -> None:
    write_png(src / "cat" / "a.png")
    if kind != "folder":
        write(src / "labels.csv", f"filename,{kind}\ncat/a.png,1\n".encode())
    _expect_input_error(workspace, src, match, task=task)


def test_explicit_format_is_used(workspace: Workspace, src: Path) -> None:
    write_png(src / "cat" / "a.png")
    write(src / "labels.csv", b"filename,label\n")
    result, _ = _import(workspace, src, fmt="imagefolder")
    assert [r["filename"] for r in _records(result)] == ["cat/a.png"]
    assert _skipped(result) == {"labels.csv": "not an image file (extension .csv)"}


def test_project_without_project_created(workspace: Workspace, src: Path) -> None:
    project_id = "proj-00000001"
    ctx = request_import(workspace, project_id, src)
    with pytest.raises(JobInputError, match="no ProjectCreated"):
        run_import(ctx)


# ---------------------------------------------------------------------------- jobs
def test_cancel_requested_before_the_start(workspace: Workspace, src: Path) -> None:
    write_png(src / "cat" / "a.png")
    project_id = make_project(workspace)
    ctx = request_import(workspace, project_id, src)
    EventLog(workspace.events_path(project_id)).append("CancelRequested", {"job_id": ctx.job_id})
    with pytest.raises(JobCancelledError):
        run_import(ctx)
    assert not any(e.type == "ImagesAdded" for e in events_of(workspace, project_id))


class _CancelAfter(JobContext):
    """A context whose cancel arrives after ``n`` checks."""

    n = 5

    def cancel_requested(self) -> bool:
        self.n -= 1
        return self.n < 0


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_cancel_in_the_middle_stops_the_workers(
    workspace: Workspace, src: Path, executor: str
) -> None:
    for i in range(60):
        write_png(src / "cat" / f"{i}.png", i)
    project_id = make_project(workspace)
    command = request_import(workspace, project_id, src).command
    ctx = _CancelAfter(workspace, project_id, command)
    threads_before = threading.active_count()
    with pytest.raises(JobCancelledError):
        run_import(ctx, workers=2, executor=executor)  # type: ignore[arg-type]
    assert threading.active_count() == threads_before


@pytest.mark.parametrize(("workers", "executor"), [(2, "thread"), (2, "process")])
def test_parallel_imports_equal_the_serial_one(
    workspace: Workspace, src: Path, workers: int, executor: str
) -> None:
    for i in range(40):
        write_png(src / f"c{i % 3}" / f"{i}.png", i % 36)  # 4 duplicates, each in its class
    write(src / "c0" / "bad.png", b"bad")

    def key(result: JobResult) -> list[tuple[Any, ...]]:
        return [(r["filename"], r["sha256"], r["label"], r["width"]) for r in _records(result)]

    serial, _ = _import(workspace, src, workers=1)
    parallel, _ = _import(workspace, src, workers=workers, executor=executor)
    assert key(parallel) == key(serial)
    assert len(key(serial)) == 36
    assert _skipped(parallel) == _skipped(serial) == {"c0/bad.png": "not a recognised image file"}
    assert _completed(parallel)["duplicates"] == 4


def test_progress_is_reported(workspace: Workspace, src: Path) -> None:
    write_png(src / "cat" / "a.png")
    _, ctx = _import(workspace, src)
    progress = [e for e in events_of(workspace, ctx.project_id) if e.type == "JobProgress"]
    assert progress and progress[0].data["job_id"] == ctx.job_id
    assert progress[0].data["total"] == 1


def test_runner_appends_the_import_with_job_succeeded(workspace: Workspace, src: Path) -> None:
    from aistudio.worker.runner import run_job

    write_png(src / "cat" / "a.png")
    project_id = make_project(workspace)
    ctx = request_import(workspace, project_id, src)
    assert run_job(workspace, project_id, ctx.job_id) == "succeeded"
    tail = events_of(workspace, project_id)[-4:]
    assert [e.type for e in tail] == [
        "ImagesAdded",
        "ClassesDefined",
        "ImportCompleted",
        "JobSucceeded",
    ]
    assert len({e.txn for e in tail}) == 1  # one all-or-nothing append
