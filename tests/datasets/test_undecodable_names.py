r"""File and folder names that are not UTF-8 (issue 9, item 3).

On Linux a name is bytes: ``blue/caf\xe9.png`` (Latin-1 ``café``) is a valid file name that
the UTF-8 log cannot hold. Such a file is a listed skip, its name shown with ``\xNN`` escapes;
every file of such a folder likewise (one skip per file, naming the folder); the rest is
imported. The same holds for CSV sources (a row that is not UTF-8 text, a CSV file or source
folder whose own name is not UTF-8).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from aistudio.datasets.formats import (
    SourceError,
    escape_text,
    log_name,
    read_csv,
    read_imagefolder,
    read_source,
)
from aistudio.datasets.importer import run_import
from aistudio.worker.context import JobContext, JobInputError, JobResult
from aistudio.workspace import Workspace
from tests.datasets.support import (
    events_of,
    image_bytes,
    make_project,
    request_import,
    write,
    write_png,
)

CAFE = "caf\udce9.png"  # the name b"caf\xe9.png" as Python gives it (surrogateescape)
GRUEN = "gr\udcfcn"  # the folder b"gr\xfcn"
CAFE_SHOWN = "caf\\xe9.png"
GRUEN_SHOWN = "gr\\xfcn"


def raw_png(folder: Path, name: bytes, color: int) -> Path:
    """A PNG at ``folder / name``, the name given as bytes (folders created)."""
    path = os.path.join(os.fsencode(folder), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        out.write(image_bytes(color=color))
    return Path(os.fsdecode(path))


def _run(workspace: Workspace, source: Path, fmt: str = "auto") -> tuple[JobResult, JobContext]:
    project_id = make_project(workspace)
    ctx = request_import(workspace, project_id, source, fmt)
    result = run_import(ctx)
    ctx.log.append_many(result.events)  # validated and encoded as the runner would
    result.release()
    return result, ctx


def _filenames(ctx: JobContext) -> list[str]:
    return [
        record["filename"]
        for event in events_of(ctx.workspace, ctx.project_id)
        if event.type == "ImagesAdded"
        for record in event.data["images"]
    ]


def _skipped(ctx: JobContext) -> dict[str, str]:
    return {
        item["path"]: item["reason"]
        for event in events_of(ctx.workspace, ctx.project_id)
        if event.type == "ImportSkipped"
        for item in event.data["items"]
    }


def _completed(ctx: JobContext) -> dict[str, Any]:
    [event] = [e for e in events_of(ctx.workspace, ctx.project_id) if e.type == "ImportCompleted"]
    return event.data


# ---------------------------------------------------------------------- the helper
def test_log_name_keeps_utf8_names_and_escapes_the_others() -> None:
    assert log_name("grün/café.png") == ("grün/café.png", None)
    shown, reason = log_name(f"blue/{CAFE}")
    assert shown == f"blue/{CAFE_SHOWN}"
    assert reason is not None and reason.startswith("file name is not valid UTF-8")
    shown, reason = log_name(f"{GRUEN}/{CAFE}")
    assert shown == f"{GRUEN_SHOWN}/{CAFE_SHOWN}"
    assert reason is not None and reason.startswith(f"folder name {GRUEN_SHOWN} is not valid")
    assert log_name(f"{GRUEN}/")[0] == f"{GRUEN_SHOWN}/"
    assert escape_text("x\ud800y") == "x\\ud800y"  # a surrogate no byte stands for
    for text in (shown, escape_text("x\ud800y")):
        text.encode("utf-8")  # storable
    # The escape is the one Python's backslashreplace shows for the bytes.
    assert escape_text(CAFE) == os.fsencode(CAFE).decode("utf-8", "backslashreplace")


# ---------------------------------------------------------------------- imagefolder
def test_reader_skips_a_file_whose_name_is_not_utf8(tmp_path: Path) -> None:
    write_png(tmp_path / "blue" / "ok.png", 1)
    raw_png(tmp_path, b"blue/caf\xe9.png", 2)
    result = read_imagefolder(tmp_path)
    assert [(c.name, c.label) for c in result.candidates] == [("blue/ok.png", "blue")]
    [skip] = result.skipped
    assert skip.path == f"blue/{CAFE_SHOWN}"
    assert skip.reason.startswith("file name is not valid UTF-8")


def test_import_skips_a_file_whose_name_is_not_utf8(workspace: Workspace, src: Path) -> None:
    write_png(src / "blue" / "ok.png", 1)
    write_png(src / "red" / "ok.png", 3)
    raw_png(src, b"blue/caf\xe9.png", 2)
    _, ctx = _run(workspace, src)
    assert sorted(_filenames(ctx)) == ["blue/ok.png", "red/ok.png"]
    skipped = _skipped(ctx)
    assert list(skipped) == [f"blue/{CAFE_SHOWN}"]
    assert "not valid UTF-8" in skipped[f"blue/{CAFE_SHOWN}"]
    assert _completed(ctx)["added"] == 2 and _completed(ctx)["skipped"] == 1


def test_import_skips_every_file_of_a_folder_whose_name_is_not_utf8(
    workspace: Workspace, src: Path
) -> None:
    write_png(src / "blue" / "ok.png", 1)
    raw_png(src, b"gr\xfcn/a.png", 2)
    raw_png(src, b"gr\xfcn/deeper/b.png", 3)
    raw_png(src, b"blue/caf\xe9/c.png", 4)  # a sub-folder of a good class folder
    _, ctx = _run(workspace, src)
    assert _filenames(ctx) == ["blue/ok.png"]
    skipped = _skipped(ctx)
    assert sorted(skipped) == [
        "blue/caf\\xe9/c.png",
        f"{GRUEN_SHOWN}/a.png",
        f"{GRUEN_SHOWN}/deeper/b.png",
    ]
    assert skipped[f"{GRUEN_SHOWN}/a.png"].startswith(f"folder name {GRUEN_SHOWN} is not valid")
    assert skipped["blue/caf\\xe9/c.png"].startswith("folder name caf\\xe9 is not valid")
    classes = [e for e in events_of(workspace, ctx.project_id) if e.type == "ClassesDefined"]
    assert classes[-1].data["classes"] == ["blue"]


def test_unlabelled_import_skips_such_names_too(workspace: Workspace, src: Path) -> None:
    write_png(src / "ok.png", 1)
    raw_png(src, b"caf\xe9.png", 2)
    project_id = make_project(workspace, "anomaly_detection")
    ctx = request_import(workspace, project_id, src)
    result = run_import(ctx)
    ctx.log.append_many(result.events)
    result.release()
    assert _filenames(ctx) == ["ok.png"]
    assert list(_skipped(ctx)) == [CAFE_SHOWN]


def test_only_such_names_is_a_clear_input_error(workspace: Workspace, src: Path) -> None:
    raw_png(src, b"gr\xfcn/a.png", 2)
    project_id = make_project(workspace)
    ctx = request_import(workspace, project_id, src)
    with pytest.raises(JobInputError) as caught:
        run_import(ctx)
    message = str(caught.value)
    assert f"{GRUEN_SHOWN}/a.png: folder name {GRUEN_SHOWN} is not valid UTF-8" in message
    message.encode("utf-8")  # a JobFailed can carry it


def test_source_folder_whose_own_name_is_not_utf8(workspace: Workspace, src: Path) -> None:
    folder = raw_png(src, b"caf\xe9/blue/a.png", 1).parent.parent
    link = src / "link"
    link.symlink_to(folder)  # the command names a UTF-8 path; it resolves to the odd one
    result, ctx = _run(workspace, link)
    assert _filenames(ctx) == ["blue/a.png"]
    assert _completed(ctx)["source"] == os.fsdecode(os.fsencode(src)) + "/caf\\xe9"
    assert result.summary["source"] == _completed(ctx)["source"]
    for event in events_of(workspace, ctx.project_id):
        if event.type == "JobProgress":
            event.data["message"].encode("utf-8")


def test_runner_ends_such_an_import_with_job_succeeded(workspace: Workspace, src: Path) -> None:
    from aistudio.worker.runner import run_job

    write_png(src / "blue" / "ok.png", 1)
    raw_png(src, b"blue/caf\xe9.png", 2)
    raw_png(src, b"gr\xfcn/a.png", 3)
    project_id = make_project(workspace)
    ctx = request_import(workspace, project_id, src)
    assert run_job(workspace, project_id, ctx.job_id) == "succeeded"
    [end] = [e for e in events_of(workspace, project_id) if e.type == "JobSucceeded"]
    assert end.data["summary"]["added"] == 1 and end.data["summary"]["skipped"] == 2


# ---------------------------------------------------------------------- csv
def test_csv_rows_that_are_not_utf8_are_skipped(workspace: Workspace, src: Path) -> None:
    write_png(src / "ok.png", 1)
    raw_png(src, b"caf\xe9.png", 2)
    write_png(src / "other.png", 3)
    text = b"filename,label\nok.png,cat\ncaf\xe9.png,cat\nother.png,caf\xe9\n"
    write(src / "labels.csv", text)  # a Latin-1 CSV naming the Latin-1 file
    _, ctx = _run(workspace, src)
    assert _filenames(ctx) == ["ok.png"]
    assert _skipped(ctx) == {
        CAFE_SHOWN: "line 3: not UTF-8 text (save the CSV as UTF-8)",
        "other.png": "line 4: not UTF-8 text (save the CSV as UTF-8)",
    }


def test_csv_whose_header_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "labels.csv", b"filen\xe4me,label\na.png,cat\n")
    with pytest.raises(SourceError, match=r"labels\.csv, line 1: not UTF-8 text"):
        read_csv(path)


@pytest.mark.parametrize("bom", [b"\xff\xfe", b"\xfe\xff"])
def test_utf16_csv_is_refused_with_the_reason(tmp_path: Path, bom: bytes) -> None:
    codec = "utf-16-le" if bom == b"\xff\xfe" else "utf-16-be"
    path = write(tmp_path / "labels.csv", bom + "filename,label\na.png,cat\n".encode(codec))
    with pytest.raises(SourceError, match="UTF-16: save it as UTF-8"):
        read_csv(path)


def test_csv_whose_own_name_is_not_utf8(workspace: Workspace, src: Path) -> None:
    write_png(src / "ok.png", 1)
    csv_path = Path(os.fsdecode(os.path.join(os.fsencode(src), b"lab\xe9ls.csv")))
    write(csv_path, b"filename,label\nok.png,cat\n")
    assert read_source(src, "auto").candidates[0].name == "ok.png"
    _, ctx = _run(workspace, src)
    assert _filenames(ctx) == ["ok.png"]
    # A malformed one: the error names it with escapes, so the JobFailed can be stored.
    write(csv_path, b"filename,label\nok.png\n")
    project_id = make_project(workspace)
    bad = request_import(workspace, project_id, src)
    with pytest.raises(JobInputError, match=r"lab\\xe9ls\.csv, line 2: expected 2 columns"):
        run_import(bad)


def test_import_guards_against_a_reader_that_lets_such_a_name_through(
    workspace: Workspace, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aistudio.datasets import importer
    from aistudio.datasets.formats import Candidate, ReadResult

    good = write_png(src / "blue" / "ok.png", 1)
    odd = raw_png(src, b"blue/caf\xe9.png", 2)
    listing = ReadResult(
        format="imagefolder",
        target="label",
        candidates=[
            Candidate(path=good, name="blue/ok.png", label="blue"),
            Candidate(path=odd, name=f"blue/{CAFE}", label="blue"),
            Candidate(path=odd, name="blue/x.png", label=GRUEN),
        ],
    )
    monkeypatch.setattr(importer, "read_source", lambda *args, **kwargs: listing)
    _, ctx = _run(workspace, src)
    assert _filenames(ctx) == ["blue/ok.png"]
    assert _skipped(ctx) == {
        f"blue/{CAFE_SHOWN}": (
            "file name is not valid UTF-8 (shown with \\x escapes; rename it to import it)"
        ),
        "blue/x.png": "the label is not valid UTF-8",
    }


def test_regression_csv_row_with_a_value_that_is_not_utf8_is_skipped(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", 1)
    write_png(tmp_path / "b.png", 2)
    path = write(tmp_path / "values.csv", b"filename,value\na.png,1\xa02\nb.png,3.5\n")
    result = read_csv(path)
    assert [(c.name, c.value) for c in result.candidates] == [("b.png", 3.5)]
    assert [(s.path, s.reason) for s in result.skipped] == [
        ("a.png", "line 2: not UTF-8 text (save the CSV as UTF-8)")
    ]
