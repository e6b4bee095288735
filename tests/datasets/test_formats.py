"""Format readers: image folders, CSV files and format detection, good and bad samples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aistudio.datasets.formats import (
    ReadResult,
    SourceError,
    check_label,
    detect_format,
    read_csv,
    read_imagefolder,
    read_source,
)
from tests.datasets.support import write, write_png


def _skips(result: ReadResult) -> dict[str, str]:
    return {s.path: s.reason for s in result.skipped}


# ---------------------------------------------------------------------------- imagefolder
def test_imagefolder_labels_come_from_the_top_level_folder(tmp_path: Path) -> None:
    write_png(tmp_path / "cat" / "a.png", 1)
    write_png(tmp_path / "cat" / "indoor" / "deep" / "b.png", 2)
    write_png(tmp_path / "dog" / "c.jpg", 3)
    result = read_imagefolder(tmp_path)
    assert result.format == "imagefolder"
    assert result.target == "label"
    assert [(c.name, c.label) for c in result.candidates] == [
        ("cat/a.png", "cat"),
        ("cat/indoor/deep/b.png", "cat"),
        ("dog/c.jpg", "dog"),
    ]
    assert result.candidates[0].path == (tmp_path / "cat" / "a.png").resolve()
    assert result.skipped == []


def test_imagefolder_skips_root_files_and_other_extensions(tmp_path: Path) -> None:
    write_png(tmp_path / "root.png", 1)
    write(tmp_path / "cat" / "notes.txt", b"hello")
    write(tmp_path / "cat" / "README", b"hello")
    write_png(tmp_path / "cat" / "ok.png", 2)
    result = read_imagefolder(tmp_path)
    assert [c.name for c in result.candidates] == ["cat/ok.png"]
    assert _skips(result) == {
        "root.png": "not inside a class folder",
        "cat/notes.txt": "not an image file (extension .txt)",
        "cat/README": "not an image file (no extension)",
    }


def test_imagefolder_ignores_hidden_files_and_folders(tmp_path: Path) -> None:
    write_png(tmp_path / "cat" / ".hidden.png", 1)
    write_png(tmp_path / ".cache" / "x.png", 2)
    write_png(tmp_path / "cat" / ".ipynb_checkpoints" / "y.png", 3)
    write(tmp_path / ".DS_Store", b"\x00")
    write_png(tmp_path / "cat" / "ok.png", 4)
    result = read_imagefolder(tmp_path)
    assert [c.name for c in result.candidates] == ["cat/ok.png"]
    assert result.skipped == []


def test_imagefolder_symlinks_inside_are_taken_outside_are_skipped(tmp_path: Path) -> None:
    outside = write_png(tmp_path / "outside" / "secret.png", 1)
    source = tmp_path / "source"
    inside = write_png(source / "cat" / "a.png", 2)
    (source / "cat" / "escape.png").symlink_to(outside)
    (source / "cat" / "alias.png").symlink_to(inside)
    (source / "dog").symlink_to(outside.parent, target_is_directory=True)
    (source / "cat" / "dangling.png").symlink_to(source / "missing.png")
    result = read_imagefolder(source)
    assert [c.name for c in result.candidates] == ["cat/a.png", "cat/alias.png"]
    assert _skips(result) == {
        "cat/escape.png": "symbolic link pointing outside the source folder",
        "cat/dangling.png": "broken symbolic link",
        "dog": "symbolic link pointing outside the source folder",
    }


def test_imagefolder_class_folders_must_be_valid_labels(tmp_path: Path) -> None:
    write_png(tmp_path / ("x" * 101) / "a.png", 1)
    write_png(tmp_path / "tab\there" / "b.png", 2)
    result = read_imagefolder(tmp_path)
    assert result.candidates == []
    reasons = sorted(s.reason for s in result.skipped)
    assert reasons[0].startswith("class folder name is not a valid label: label 'tab")
    assert reasons[1] == (
        "class folder name is not a valid label: label longer than 100 characters (101)"
    )


def test_imagefolder_without_labels_takes_root_files(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", 1)
    write_png(tmp_path / "sub" / "b.png", 2)
    result = read_imagefolder(tmp_path, labelled=False)
    assert result.target is None
    assert [(c.name, c.label) for c in result.candidates] == [("a.png", None), ("sub/b.png", None)]


def test_imagefolder_source_must_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is not a folder"):
        read_imagefolder(write_png(tmp_path / "a.png"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_imagefolder_unreadable_subfolder_is_a_skip(tmp_path: Path) -> None:
    write_png(tmp_path / "cat" / "a.png", 1)
    locked = tmp_path / "dog"
    write_png(locked / "b.png", 2)
    locked.chmod(0)
    try:
        result = read_imagefolder(tmp_path)
    finally:
        locked.chmod(0o755)
    assert _skips(result)["dog/"].startswith("cannot list folder")


# ---------------------------------------------------------------------------- csv
def _csv(folder: Path, text: str, name: str = "labels.csv") -> Path:
    return write(folder / name, text.encode("utf-8"))


def test_csv_classification(tmp_path: Path) -> None:
    write_png(tmp_path / "images" / "a.png", 1)
    write_png(tmp_path / "b.png", 2)
    path = _csv(tmp_path, "filename,label\nimages/a.png,cat\n./b.png, dog \n\n")
    result = read_csv(path)
    assert (result.format, result.target) == ("csv", "label")
    assert [(c.name, c.label, c.value) for c in result.candidates] == [
        ("images/a.png", "cat", None),
        ("b.png", "dog", None),
    ]


def test_csv_regression_with_bom_crlf_and_quotes(tmp_path: Path) -> None:
    write_png(tmp_path / "a b.png", 1)
    write_png(tmp_path / "c.png", 2)
    text = '\ufeffFilename,Value\r\n"a b.png",1.5\r\nc.png,-2e-3\r\n'
    result = read_csv(_csv(tmp_path, text))
    assert result.target == "value"
    assert [(c.name, c.value) for c in result.candidates] == [("a b.png", 1.5), ("c.png", -0.002)]


def test_csv_source_may_be_the_folder_holding_it(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", 1)
    _csv(tmp_path, "filename,label\na.png,cat\n")
    assert [c.name for c in read_csv(tmp_path).candidates] == ["a.png"]


def test_csv_folder_with_several_csvs_is_refused(tmp_path: Path) -> None:
    _csv(tmp_path, "filename,label\n", "a.csv")
    _csv(tmp_path, "filename,label\n", "b.csv")
    with pytest.raises(SourceError, match=r"2 \.csv files .*a\.csv, b\.csv"):
        read_csv(tmp_path)


def test_csv_folder_without_csv_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"no \.csv file"):
        read_csv(tmp_path)


def test_csv_rows_that_cannot_be_taken_are_skipped_with_reasons(tmp_path: Path) -> None:
    outside = write_png(tmp_path / "outside.png", 1)
    source = tmp_path / "source"
    write_png(source / "ok.png", 2)
    write_png(source / "badlabel.png", 3)
    write_png(source / "nul.png", 4)
    (source / "sub").mkdir()
    (source / "link.png").symlink_to(outside)
    text = (
        "filename,label\n"
        "ok.png,cat\n"  # line 2
        "../outside.png,cat\n"  # line 3
        f"{outside},cat\n"  # line 4
        "link.png,cat\n"  # line 5
        "missing.png,cat\n"  # line 6
        "./ok.png,dog\n"  # line 7
        "badlabel.png,\n"  # line 8
        "sub,cat\n"  # line 9
        "C:\\images\\x.png,cat\n"  # line 10
        "ok\x00.png,cat\n"  # line 11
        "nul.png\t,cat\x00\n"  # line 12: the tab is stripped, the NUL is not
    )
    result = read_csv(_csv(source, text))
    assert [c.name for c in result.candidates] == ["ok.png"]
    assert _skips(result) == {
        "../outside.png": "line 3: path leaves the CSV's folder (..)",
        str(outside): "line 4: absolute paths are not allowed (give a path relative to the CSV)",
        "link.png": "line 5: path resolves outside the CSV's folder (symbolic link)",
        "missing.png": "line 6: file not found",
        "./ok.png": "line 7: duplicate row: same file as line 2",
        "badlabel.png": "line 8: invalid label: empty label",
        "sub": "line 9: not a file",
        "C:\\images\\x.png": (
            "line 10: absolute paths are not allowed (give a path relative to the CSV)"
        ),
        "ok\x00.png": "line 11: file name contains control characters",
        "nul.png": "line 12: invalid label: label 'cat\\x00' contains control characters",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "labels.csv is empty"),
        ("\n\n", "labels.csv is empty"),
        ("a.png,cat\n", "labels.csv, line 1: the header must be"),
        ("filename,class\na.png,cat\n", "line 1: the header must be .* found `filename,class`"),
        ("filename,label,extra\n", "line 1: the header must be"),
        ("filename\n", "line 1: the header must be"),
        (
            "filename,label\na.png,cat,x\n",
            r"line 2: expected 2 columns \(filename,label\), found 3",
        ),
        ("filename,label\na.png\n", "line 2: expected 2 columns"),
        ('filename,label\n"a.png"x,cat\n', "line 2: bad CSV syntax"),
        ('filename,label\na.png,"cat\n', "bad CSV syntax"),
        ("filename,value\na.png,abc\n", "line 2: value 'abc' is not a number"),
        ("filename,value\na.png,\n", "line 2: value '' is not a number"),
        ("filename,value\na.png,nan\n", "line 2: value 'nan' is not a finite number"),
        ("filename,value\na.png,-inf\n", "line 2: value '-inf' is not a finite number"),
        ("filename,label\n ,cat\n", "line 2: the filename is empty"),
    ],
)
def test_malformed_csv_is_an_error_naming_the_line(tmp_path: Path, text: str, message: str) -> None:
    write_png(tmp_path / "a.png", 1)
    with pytest.raises(SourceError, match=message):
        read_csv(_csv(tmp_path, text))


def test_csv_row_that_is_not_utf8_is_a_skip_naming_the_line(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", 1)
    write_png(tmp_path / "b.png", 2)
    path = write(tmp_path / "labels.csv", b"filename,label\na.png,caf\xe9\nb.png,tea\n")
    result = read_csv(path)
    assert [c.name for c in result.candidates] == ["b.png"]
    assert _skips(result) == {"a.png": "line 2: not UTF-8 text (save the CSV as UTF-8)"}


def test_csv_read_without_labels_ignores_the_label_column(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", 1)
    result = read_csv(_csv(tmp_path, "filename,label\na.png,\n"), labelled=False)
    assert result.target is None
    assert [(c.name, c.label) for c in result.candidates] == [("a.png", None)]


# ---------------------------------------------------------------------------- detection
def test_detect_format(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    write_png(folder / "cat" / "a.png")
    assert detect_format(folder) == "imagefolder"
    with_csv = tmp_path / "with_csv"
    _csv(with_csv, "filename,label\n")
    assert detect_format(with_csv) == "csv"
    assert detect_format(with_csv / "labels.csv") == "csv"
    with pytest.raises(SourceError, match=r"a COCO \.json, a \.csv or a YOLO data\.yaml"):
        detect_format(write_png(tmp_path / "x.png"))
    two = tmp_path / "two"
    _csv(two, "filename,label\n", "a.csv")
    _csv(two, "filename,label\n", "b.csv")
    with pytest.raises(SourceError, match=r"2 \.csv files"):
        detect_format(two)
    (tmp_path / "empty").mkdir()
    assert detect_format(tmp_path / "empty") == "imagefolder"


def test_read_source_refuses_an_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="unknown format 'dota'"):
        read_source(tmp_path, "dota")


def test_detect_format_recognises_every_layout_of_the_registry(tmp_path: Path) -> None:
    from tests.datasets.scenes import write_coco

    coco, _ = write_coco(tmp_path / "coco", 1)
    assert detect_format(coco) == detect_format(coco.parent) == "coco"
    voc = tmp_path / "voc"
    write_png(voc / "JPEGImages" / "a.png")
    (voc / "Annotations").mkdir()
    (voc / "Annotations" / "a.xml").write_text("<annotation/>")
    assert detect_format(voc) == "voc"
    yolo = tmp_path / "yolo"
    write_png(yolo / "images" / "train" / "a.png")
    (yolo / "data.yaml").write_text("names: [a]\ntrain: images/train\n")
    assert detect_format(yolo) == detect_format(yolo / "data.yaml") == "yolo"
    stray = tmp_path / "stray"
    write_png(stray / "cat" / "a.png")
    (stray / "notes.json").write_text('{"author": "me"}')
    assert detect_format(stray) == "imagefolder", "a JSON that is not COCO's is not COCO"


@pytest.mark.parametrize(
    ("raw", "label", "reason"),
    [
        ("cat", "cat", None),
        ("  cat ", "cat", None),
        ("", None, "empty label"),
        ("   ", None, "empty label"),
        ("a" * 100, "a" * 100, None),
        ("a" * 101, None, "label longer than 100 characters (101)"),
        ("a\x07b", None, "label 'a\\x07b' contains control characters"),
    ],
)
def test_check_label(raw: str, label: str | None, reason: str | None) -> None:
    assert check_label(raw) == (label, reason)
