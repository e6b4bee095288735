"""The ``yolo`` reader: Ultralytics layouts, good and bad, and its security traps."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from aistudio.datasets.formats import yolo
from aistudio.datasets.formats.base import Candidate, ReadResult, SourceError
from aistudio.datasets.formats.boxes import finish_boxes
from aistudio.datasets.formats.registry import FORMATS
from aistudio.datasets.formats.yolo import label_name, labels_folder, looks_like_yolo, read_yolo
from tests.datasets.support import write, write_png

W, H = 64, 32
"""The size of every test image."""

DATA = "names: [cat, dog, bird]\ntrain: images/train\nval: images/val\ntest: images/test\n"


def _yaml(root: Path, text: str = DATA, name: str = "data.yaml") -> Path:
    return write(root / name, text.encode())


def _image(root: Path, name: str, color: int = 0) -> Path:
    return write_png(root / name, color, size=(W, H))


def _label(root: Path, name: str, text: str) -> Path:
    return write(root / name, text.encode())


def _skips(result: ReadResult) -> dict[str, str]:
    return {s.path: s.reason for s in result.skipped}


def _by_name(result: ReadResult) -> dict[str, Candidate]:
    return {c.name: c for c in result.candidates}


def _annotation(result: ReadResult, name: str) -> dict[str, Any] | None:
    candidate = _by_name(result)[name]
    assert candidate.objects is not None
    finished = finish_boxes(candidate.objects(W, H), W, H, result.classes or [])
    assert finished.refused is None, finished.refused
    return finished.annotation


def _boxes(result: ReadResult, name: str) -> list[tuple[str, list[float]]]:
    annotation = _annotation(result, name)
    assert annotation is not None
    return [(o["class"], o["box"]) for o in annotation["objects"]]


@pytest.fixture
def good(tmp_path: Path) -> Path:
    """A dataset with train, val and test, boxes, a negative and an empty label file."""
    root = tmp_path / "ds"
    _yaml(root)
    _image(root, "images/train/a.png", 1)
    _label(root, "labels/train/a.txt", "0 0.5 0.5 0.5 0.25\n2 0.25 0.25 0.25 0.5\n")
    _image(root, "images/train/sub/b.png", 2)
    _label(root, "labels/train/sub/b.txt", "1 0.5 0.5 1 1\n")
    _image(root, "images/val/c.png", 3)  # no label file: a negative
    _image(root, "images/test/d.png", 4)
    _label(root, "labels/test/d.txt", "")  # empty: a negative
    return root


# ---------------------------------------------------------------------------- good samples
def test_good_sample_subsets_classes_and_boxes(good: Path) -> None:
    result = read_yolo(good)
    assert result.format == "yolo"
    assert result.target == "boxes"
    assert result.classes == ["cat", "dog", "bird"]
    assert result.skipped == []
    assert [(c.name, c.subset) for c in result.candidates] == [
        ("images/train/a.png", "train"),
        ("images/train/sub/b.png", "train"),
        ("images/val/c.png", "val"),
        ("images/test/d.png", "test"),
    ]
    assert result.candidates[0].path == (good / "images/train/a.png").resolve()
    # cx=0.5 cy=0.5 w=0.5 h=0.25 on 64x32 -> [16, 12, 48, 20], exactly
    assert _annotation(result, "images/train/a.png") == {
        "kind": "boxes",
        "objects": [
            {"class": "cat", "box": [16.0, 12.0, 48.0, 20.0]},
            {"class": "bird", "box": [8.0, 0.0, 24.0, 16.0]},
        ],
    }
    assert _boxes(result, "images/train/sub/b.png") == [("dog", [0.0, 0.0, 64.0, 32.0])]


def test_raw_boxes_name_their_line(good: Path) -> None:
    candidate = _by_name(read_yolo(good))["images/train/a.png"]
    assert candidate.objects is not None
    boxes = candidate.objects(W, H)
    assert [(b.label, b.x1, b.y1, b.x2, b.y2, b.where) for b in boxes] == [
        ("cat", 16.0, 12.0, 48.0, 20.0, "labels/train/a.txt line 1"),
        ("bird", 8.0, 0.0, 24.0, 16.0, "labels/train/a.txt line 2"),
    ]


def test_images_without_labels_are_negatives(good: Path) -> None:
    result = read_yolo(good)
    for name in ("images/val/c.png", "images/test/d.png"):
        candidate = _by_name(result)[name]
        assert candidate.objects is not None
        assert list(candidate.objects(W, H)) == []
        assert _annotation(result, name) == {"kind": "boxes", "objects": []}


def test_objects_can_be_pickled_for_worker_processes(good: Path) -> None:
    candidate = _by_name(read_yolo(good))["images/train/a.png"]
    assert candidate.objects is not None
    again = pickle.loads(pickle.dumps(candidate.objects))
    assert again(W, H) == candidate.objects(W, H)


def test_the_yaml_file_itself_can_be_the_source(good: Path) -> None:
    assert read_yolo(good / "data.yaml").candidates == read_yolo(good).candidates


def test_data_yml_is_found_too(tmp_path: Path) -> None:
    _yaml(tmp_path, "names: [cat]\ntrain: images\n", name="data.yml")
    _image(tmp_path, "images/a.png")
    assert [c.name for c in read_yolo(tmp_path).candidates] == ["images/a.png"]


@pytest.mark.parametrize(
    "names",
    [
        "{0: cat, 1: dog, 2: bird}",
        "{2: bird, 0: cat, 1: dog}",
        "{'0': cat, '1': dog, '2': bird}",
        "\n  0: cat\n  1: dog\n  2: bird",
    ],
)
def test_names_as_a_mapping_of_indices(tmp_path: Path, names: str) -> None:
    _yaml(tmp_path, f"names: {names}\ntrain: images\n")
    _image(tmp_path, "images/a.png")
    _label(tmp_path, "labels/a.txt", "2 0.5 0.5 0.5 0.25\n")
    result = read_yolo(tmp_path)
    assert result.classes == ["cat", "dog", "bird"]
    assert _boxes(result, "images/a.png") == [("bird", [16.0, 12.0, 48.0, 20.0])]


def test_numbers_as_names_become_text_and_nc_alone_names_classes(tmp_path: Path) -> None:
    _yaml(tmp_path, "names: [0, 1, 2]\nnc: 3\ntrain: images\n")
    _image(tmp_path, "images/a.png")
    assert read_yolo(tmp_path).classes == ["0", "1", "2"]
    _yaml(tmp_path, "nc: 2\ntrain: images\n")
    assert read_yolo(tmp_path).classes == ["class_0", "class_1"]


def test_polygon_lines_give_their_bounding_box(tmp_path: Path) -> None:
    _yaml(tmp_path, "names: [cat, dog]\ntrain: images\n")
    _image(tmp_path, "images/a.png")
    # a triangle, and YOLO-OBB's four corners of a rotated square
    _label(
        tmp_path,
        "labels/a.txt",
        "0 0.25 0.25 0.75 0.5 0.5 0.75\n1 0.5 0.0 1.0 0.5 0.5 1.0 0.0 0.5\n",
    )
    assert _boxes(read_yolo(tmp_path), "images/a.png") == [
        ("cat", [16.0, 8.0, 48.0, 24.0]),
        ("dog", [0.0, 0.0, 64.0, 32.0]),
    ]


def test_pose_lines_give_their_box(tmp_path: Path) -> None:
    _yaml(tmp_path, "names: [person]\nkpt_shape: [2, 3]\ntrain: images\n")
    _image(tmp_path, "images/a.png")
    _image(tmp_path, "images/b.png", 1)
    _label(tmp_path, "labels/a.txt", "0 0.5 0.5 0.5 0.25 0.4 0.5 2 0.6 0.5 1\n")
    _label(tmp_path, "labels/b.txt", "0 0.5 0.5 0.5 0.25\n")
    result = read_yolo(tmp_path)
    assert _boxes(result, "images/a.png") == [("person", [16.0, 12.0, 48.0, 20.0])]
    assert _skips(result) == {
        "images/b.png": "labels/b.txt line 1: expected 11 numbers (cls cx cy w h and the "
        "keypoints of kpt_shape), found 5"
    }


def test_label_files_beside_images_without_an_images_folder(tmp_path: Path) -> None:
    _yaml(tmp_path, "names: [cat]\ntrain: train\n")
    _image(tmp_path, "train/a.png")
    _label(tmp_path, "train/a.txt", "0 0.5 0.5 0.5 0.25\n")
    _label(tmp_path, "train/orphan.txt", "0 0.5 0.5 0.5 0.25\n")
    result = read_yolo(tmp_path)
    assert _boxes(result, "train/a.png") == [("cat", [16.0, 12.0, 48.0, 20.0])]
    assert _skips(result) == {"train/orphan.txt": "label file has no image"}


def test_roboflow_parent_paths_are_read_inside_the_folder(tmp_path: Path) -> None:
    _yaml(tmp_path, "names: [cat]\ntrain: ../train/images\nval: ../valid/images\n")
    _image(tmp_path, "train/images/a.png")
    _label(tmp_path, "train/labels/a.txt", "0 0.5 0.5 0.5 0.25\n")
    _image(tmp_path, "valid/images/b.png", 1)
    result = read_yolo(tmp_path)
    assert [(c.name, c.subset) for c in result.candidates] == [
        ("train/images/a.png", "train"),
        ("valid/images/b.png", "val"),
    ]
    assert _boxes(result, "train/images/a.png") == [("cat", [16.0, 12.0, 48.0, 20.0])]


def test_path_key_and_lists_of_folders(tmp_path: Path) -> None:
    _yaml(tmp_path, "path: data\nnames: [cat]\ntrain: [images/a, images/b]\n")
    _image(tmp_path, "data/images/a/1.png")
    _image(tmp_path, "data/images/b/2.png", 1)
    _label(tmp_path, "data/labels/b/2.txt", "0 0.5 0.5 0.5 0.25\n")
    result = read_yolo(tmp_path)
    assert [(c.name, c.subset) for c in result.candidates] == [
        ("data/images/a/1.png", "train"),
        ("data/images/b/2.png", "train"),
    ]
    assert _boxes(result, "data/images/b/2.png") == [("cat", [16.0, 12.0, 48.0, 20.0])]


def test_txt_lists_of_images(tmp_path: Path) -> None:
    _yaml(tmp_path, "names: [cat]\ntrain: train.txt\nval: lists/val.txt\n")
    _image(tmp_path, "images/a.png")
    _image(tmp_path, "images/b.png", 1)
    _label(tmp_path, "labels/b.txt", "0 0.5 0.5 0.5 0.25\n")
    _image(tmp_path, "images/c.png", 2)
    outside = _image(tmp_path.parent, "outside.png", 3)
    write(
        tmp_path / "train.txt",
        f"./images/a.png\r\nimages/b.png\n\n{tmp_path}/images/c.png\n".encode(),
    )
    write(
        tmp_path / "lists/val.txt",
        f"../images/a.png\n../../outside.png\n{outside}\n../images/missing.png\n"
        "../data.yaml\n".encode(),
    )
    result = read_yolo(tmp_path)
    assert [(c.name, c.subset) for c in result.candidates] == [
        ("images/a.png", "train"),
        ("images/b.png", "train"),
        ("images/c.png", "train"),
    ]
    assert _boxes(result, "images/b.png") == [("cat", [16.0, 12.0, 48.0, 20.0])]
    assert _skips(result) == {
        "images/a.png": "also listed by `train` (as images/a.png), which keeps it",
        "../../outside.png": "lists/val.txt line 2: the path leaves the source folder",
        str(outside): "lists/val.txt line 3: the path leaves the source folder",
        "../images/missing.png": "lists/val.txt line 4: file not found",
        "data.yaml": "not an image file (extension .yaml)",
    }


def test_unlabelled_reads_list_images_only(tmp_path: Path) -> None:
    _yaml(tmp_path, "train: images/train\nval: images/val\n")  # no names: fine unlabelled
    _image(tmp_path, "images/train/a.png")
    _label(tmp_path, "labels/train/a.txt", "not a label line\n")
    _label(tmp_path, "labels/train/orphan.txt", "0 0.5 0.5 0.5 0.25\n")
    _image(tmp_path, "images/val/b.png", 1)
    result = read_yolo(tmp_path, labelled=False)
    assert result.target is None
    assert result.classes is None
    assert [(c.name, c.subset, c.objects) for c in result.candidates] == [
        ("images/train/a.png", "train", None),
        ("images/val/b.png", "val", None),
    ]
    assert result.skipped == []


def test_the_registry_reads_and_sniffs_yolo(good: Path) -> None:
    spec = FORMATS["yolo"]
    assert spec.sniff(good)
    assert spec.read(good, True).candidates == read_yolo(good).candidates


def test_looks_like_yolo(tmp_path: Path, good: Path) -> None:
    assert looks_like_yolo(good)
    assert looks_like_yolo(good / "data.yaml")
    assert looks_like_yolo(_yaml(tmp_path, name="coco8.YML"))
    assert not looks_like_yolo(tmp_path)  # a folder without data.yaml
    assert not looks_like_yolo(write(tmp_path / "x.json", b"{}"))
    assert not looks_like_yolo(tmp_path / "missing")


@pytest.mark.parametrize(
    ("image", "label"),
    [
        ("images/train/a.jpg", "labels/train/a.txt"),
        ("data/images/images/a.b.png", "data/images/labels/a.b.txt"),
        ("images/a.png", "labels/a.txt"),
        ("train/a.png", "train/a.txt"),
        ("Images/a.png", "Images/a.txt"),  # case matters, as in Ultralytics
        ("myimages/a.png", "myimages/a.txt"),
    ],
)
def test_label_name(image: str, label: str) -> None:
    assert label_name(image) == label


def test_labels_folder() -> None:
    assert labels_folder("images/train") == "labels/train"
    assert labels_folder("images") == "labels"
    assert labels_folder("x/images") == "x/labels"
    assert labels_folder("train") is None
    assert labels_folder("") is None


# ---------------------------------------------------------------------------- download trap
@pytest.mark.parametrize(
    "download",
    [
        "\"bash -c 'touch /tmp/pwned'\"",
        "\"bash -c 'touch {marker}'\"",
        "\"import pathlib; pathlib.Path('{marker}').touch()\"",
        "https://example.invalid/dataset.zip",
        "|\n  import os\n  os.system('touch {marker}')",
    ],
)
def test_download_is_ignored_never_executed(
    good: Path, download: str, caplog: pytest.LogCaptureFixture
) -> None:
    marker = good.parent / "pwned"
    existed = Path("/tmp/pwned").exists()
    without = read_yolo(good)
    _yaml(good, DATA + "download: " + download.format(marker=marker) + "\n")
    with caplog.at_level(logging.WARNING, logger=yolo.__name__):
        trapped = read_yolo(good)
    assert not marker.exists()
    assert existed or not Path("/tmp/pwned").exists()
    assert "`download` key is ignored" in caplog.text
    # identical: the same files, subsets, skips, classes and objects (YoloObjects compare)
    assert trapped == without
    for before, after in zip(without.candidates, trapped.candidates, strict=True):
        assert before.objects is not None and after.objects is not None
        assert before.objects(W, H) == after.objects(W, H)


# ---------------------------------------------------------------------------- path traversal
@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("path: ..\ntrain: images\n", "path"),
        ("path: ../outside\ntrain: images\n", "path"),
        ("path: /etc\ntrain: images\n", "path"),
        ("train: ../outside/images\n", "train"),
        ("train: images\nval: ../../etc\n", "val"),
        ("train: images\ntest: /etc\n", "test"),
        ("train: [images, ../outside/images]\n", "train"),
        ("train: 'C:\\data\\images'\n", "train"),
        ("path: data\ntrain: ../../outside/images\n", "train"),
    ],
)
def test_paths_leaving_the_folder_are_refused(tmp_path: Path, text: str, key: str) -> None:
    root = tmp_path / "ds"
    _yaml(root, "names: [cat]\n" + text)
    _image(root, "images/a.png")
    (root / "data").mkdir()
    _image(tmp_path, "outside/images/secret.png")
    with pytest.raises(SourceError, match=f"`{key}`") as info:
        read_yolo(root)
    assert "\n" not in str(info.value)


def test_an_absolute_path_inside_the_folder_is_fine(tmp_path: Path) -> None:
    _yaml(tmp_path, f"path: {tmp_path}\nnames: [cat]\ntrain: {tmp_path / 'images'}\n")
    _image(tmp_path, "images/a.png")
    assert [c.name for c in read_yolo(tmp_path).candidates] == ["images/a.png"]


def test_symbolic_links_leaving_the_folder_are_skipped(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _yaml(root, "names: [cat]\ntrain: images\n")
    _image(root, "images/a.png")
    _image(root, "images/b.png", 1)
    outside = _image(tmp_path, "secret.png", 2)
    secret_label = _label(tmp_path, "secret.txt", "0 0.5 0.5 0.5 0.25\n")
    (root / "images/link.png").symlink_to(outside)
    (root / "images/folder").symlink_to(tmp_path, target_is_directory=True)
    (root / "labels").mkdir()
    (root / "labels/b.txt").symlink_to(secret_label)
    result = read_yolo(root)
    assert [c.name for c in result.candidates] == ["images/a.png"]
    assert _skips(result) == {
        "images/b.png": "labels/b.txt is a symbolic link pointing outside the source folder",
        "images/folder": "symbolic link to a folder (not followed)",
        "images/link.png": "symbolic link pointing outside the source folder",
    }


def test_a_data_yaml_linking_outside_is_refused(tmp_path: Path) -> None:
    elsewhere = _yaml(tmp_path / "elsewhere")
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds/data.yaml").symlink_to(elsewhere)
    with pytest.raises(SourceError, match="pointing outside"):
        read_yolo(tmp_path / "ds")


# ---------------------------------------------------------------------------- bad label lines
BAD_LINES = {
    "three.txt": ("0 0.5 0.5\n", "line 1: expected 5 numbers (cls cx cy w h), found 3"),
    "six.txt": (
        "0 0.5 0.5 0.5 0.25\n0 0.5 0.5 0.5 0.25 0.9\n",
        "line 2: found 6 numbers: a box has 5 (cls cx cy w h), a polygon a class and pairs "
        "of x y (an odd count, at least 7)",
    ),
    "word.txt": ("0 0.5 zero 0.5 0.25\n", "line 1: 'zero' is not a number"),
    "nan.txt": ("0 nan 0.5 0.5 0.25\n", "line 1: 'nan' is not a number"),
    "inf.txt": ("0 1e999 0.5 0.5 0.25\n", "line 1: '1e999' is not a finite number"),
    "comma.txt": ("0,0.5,0.5,0.5,0.25\n", "line 1: expected 5 numbers (cls cx cy w h), found 1"),
    "underscore.txt": ("0 0.5 0.5 0.5 1_0\n", "line 1: '1_0' is not a number"),
    "range.txt": (
        "\n\n3 0.5 0.5 0.5 0.25\n",
        "line 3: class 3 is out of range (data.yaml names 3: 0-2)",
    ),
    "two.txt": (
        "0 0.5 0.5 0.5\n0 0.5 0.5 0.5 0.25 1\n",
        "line 1: expected 5 numbers (cls cx cy w h), found 4 (and 1 more bad line)",
    ),
    "negative.txt": ("-1 0.5 0.5 0.5 0.25\n", "line 1: class -1 is negative"),
    "fraction.txt": ("1.5 0.5 0.5 0.5 0.25\n", "line 1: class 1.5 is not an integer"),
    "many.txt": (
        "x\n0 0.5 0.5 0.5 0.25\n9 0.5 0.5 0.5 0.25\ny 1 2 3 4\n",
        "line 1: expected 5 numbers (cls cx cy w h), found 1 (and 2 more bad lines)",
    ),
    "binary.txt": ("0 0.5\xff 0.5 0.5 0.25\n", "line 1: '0.5\ufffd' is not a number"),
}


def test_every_bad_line_kind_skips_its_image(tmp_path: Path) -> None:
    _yaml(tmp_path, "names: [cat, dog, bird]\ntrain: images/train\n")
    _image(tmp_path, "images/train/good.png")
    _label(tmp_path, "labels/train/good.txt", "1.0 0.5 0.5 0.5 0.25\n")  # 1.0: class 1
    for index, (name, (text, _)) in enumerate(BAD_LINES.items()):
        stem = name.removesuffix(".txt")
        _image(tmp_path, f"images/train/{stem}.png", index + 1)
        write(tmp_path / "labels/train" / name, text.encode("latin-1"))
    result = read_yolo(tmp_path)
    assert [c.name for c in result.candidates] == ["images/train/good.png"]
    assert _boxes(result, "images/train/good.png") == [("dog", [16.0, 12.0, 48.0, 20.0])]
    assert _skips(result) == {
        f"images/train/{name.removesuffix('.txt')}.png": f"labels/train/{name} {reason}"
        for name, (_, reason) in BAD_LINES.items()
    }


def test_crlf_bom_blank_lines_and_repeats(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _yaml(tmp_path, "names: [cat]\ntrain: images\n")
    _image(tmp_path, "images/a.png")
    text = "\ufeff0 0.5 0.5 0.5 0.25\r\n\r\n   \r\n0 0.5 0.5 0.5 0.25\r\n0 .5 .5 5e-1 .25"
    _label(tmp_path, "labels/a.txt", text)
    with caplog.at_level(logging.WARNING, logger=yolo.__name__):
        result = read_yolo(tmp_path)
    assert _boxes(result, "images/a.png") == [("cat", [16.0, 12.0, 48.0, 20.0])]
    assert "labels/a.txt: 2 repeated line(s) dropped" in caplog.text


def test_geometry_is_left_to_finish_boxes(tmp_path: Path) -> None:
    _yaml(tmp_path, "names: [cat]\ntrain: images\n")
    _image(tmp_path, "images/slightly.png")
    _label(tmp_path, "labels/slightly.txt", "0 0.5 0.5 1.04 0.5\n")
    _image(tmp_path, "images/pixels.png", 1)
    _label(tmp_path, "labels/pixels.txt", "0 32 16 10 10\n")  # pixels, not normalised
    _image(tmp_path, "images/flat.png", 2)
    _label(tmp_path, "labels/flat.txt", "0 0.5 0.5 0.0 0.5\n")
    result = read_yolo(tmp_path)
    assert result.skipped == []  # the reader does not judge geometry
    by_name = _by_name(result)
    outcome = {}
    for name in ("slightly", "pixels", "flat"):
        objects = by_name[f"images/{name}.png"].objects
        assert objects is not None
        outcome[name] = finish_boxes(objects(W, H), W, H, result.classes or [])
    assert outcome["slightly"].annotation == {
        "kind": "boxes",
        "objects": [{"class": "cat", "box": [0.0, 8.0, 64.0, 24.0]}],
    }
    assert outcome["slightly"].clipped == 1
    assert outcome["pixels"].refused == (
        "labels/pixels.txt line 1: box [1728, 352, 2368, 672] lies outside the 64x32 image"
    )
    assert outcome["flat"].refused == "labels/flat.txt line 1: box [32, 8, 32, 24] has no area"


def test_a_label_file_over_the_limit_is_skipped(tmp_path: Path) -> None:
    _yaml(tmp_path, "names: [cat]\ntrain: images\n")
    _image(tmp_path, "images/a.png")
    _image(tmp_path, "images/b.png", 1)
    _label(tmp_path, "labels/a.txt", "0 0.5 0.5 0.5 0.25\n" * 4)
    with (tmp_path / "labels/b.txt").open("wb") as handle:  # 10 MiB and one byte, sparse
        handle.truncate(yolo.MAX_LABEL_BYTES + 1)
    result = read_yolo(tmp_path)
    assert [c.name for c in result.candidates] == ["images/a.png"]
    assert _skips(result) == {"images/b.png": "labels/b.txt is larger than 10 MiB"}


def test_label_files_without_image_and_odd_label_paths(tmp_path: Path) -> None:
    _yaml(tmp_path)
    _image(tmp_path, "images/train/a.png")
    _label(tmp_path, "labels/train/x.txt", "0 0.5 0.5 0.5 0.25\n")
    _label(tmp_path, "labels/train/deep/y.txt", "0 0.5 0.5 0.5 0.25\n")
    _label(tmp_path, "labels/train/.hidden.txt", "")
    write(tmp_path / "labels/train.cache", b"ultralytics cache")
    write(tmp_path / "labels/train/notes.md", b"ignored")
    _image(tmp_path, "images/train/dir.png", 1)
    (tmp_path / "labels/train/dir.txt").mkdir()
    _image(tmp_path, "images/train/dangling.png", 2)
    (tmp_path / "labels/train/dangling.txt").symlink_to(tmp_path / "missing.txt")
    _image(tmp_path, "images/val/b.png", 3)
    _image(tmp_path, "images/test/c.png", 4)
    result = read_yolo(tmp_path)
    assert [c.name for c in result.candidates] == [
        "images/train/a.png",
        "images/val/b.png",
        "images/test/c.png",
    ]
    assert _skips(result) == {
        "images/train/dangling.png": "labels/train/dangling.txt is a broken symbolic link",
        "images/train/dir.png": "labels/train/dir.txt is not a regular file",
        "labels/train/x.txt": "label file has no image",
        "labels/train/deep/y.txt": "label file has no image",
    }


def test_other_files_in_image_folders_are_listed(tmp_path: Path) -> None:
    _yaml(tmp_path, "names: [cat]\ntrain: images\n")
    _image(tmp_path, "images/a.png")
    write(tmp_path / "images/notes.txt", b"not a label: it is under images/")
    write(tmp_path / "images/README", b"hello")
    write(tmp_path / "images/.DS_Store", b"hidden")
    (tmp_path / "images/broken.png").symlink_to(tmp_path / "missing.png")
    result = read_yolo(tmp_path)
    assert [c.name for c in result.candidates] == ["images/a.png"]
    assert _skips(result) == {
        "images/notes.txt": "not an image file (extension .txt)",
        "images/README": "not an image file (no extension)",
        "images/broken.png": "broken symbolic link",
    }


def test_an_image_listed_twice_is_kept_once(tmp_path: Path) -> None:
    _yaml(tmp_path, "names: [cat]\ntrain: images\nval: images\ntest: [images/sub]\n")
    _image(tmp_path, "images/a.png")
    _image(tmp_path, "images/sub/b.png", 1)
    result = read_yolo(tmp_path)
    assert [(c.name, c.subset) for c in result.candidates] == [
        ("images/a.png", "train"),
        ("images/sub/b.png", "train"),
    ]
    assert _skips(result) == {
        "images/a.png": "also listed by `train` (as images/a.png), which keeps it",
        "images/sub/b.png": "also listed by `train` (as images/sub/b.png), which keeps it",
    }
    assert len(result.skipped) == 3  # b.png is listed again by val and by test


def test_two_images_sharing_a_label_file(tmp_path: Path) -> None:
    _yaml(tmp_path, "names: [cat]\ntrain: images\n")
    _image(tmp_path, "images/a.jpg")
    _image(tmp_path, "images/a.png", 1)
    _label(tmp_path, "labels/a.txt", "0 0.5 0.5 0.5 0.25\n")
    result = read_yolo(tmp_path)
    assert [c.name for c in result.candidates] == ["images/a.jpg"]
    assert _skips(result) == {
        "images/a.png": "labels/a.txt is also the label file of images/a.jpg, which keeps it"
    }


def test_names_that_are_not_utf8_are_escaped(tmp_path: Path) -> None:
    _yaml(tmp_path, "names: [cat]\ntrain: images\n")
    _image(tmp_path, "images/a.png")
    raw = os.fsencode(tmp_path)
    write(Path(os.fsdecode(raw + b"/images/caf\xe9.png")), b"")
    write(Path(os.fsdecode(raw + b"/labels/caf\xe9.txt")), b"0 0.5 0.5 0.5 0.25\n")
    write(Path(os.fsdecode(raw + b"/labels/na\xefve.txt")), b"0 0.5 0.5 0.5 0.25\n")
    result = read_yolo(tmp_path)
    assert [c.name for c in result.candidates] == ["images/a.png"]
    assert _skips(result) == {
        "images/caf\\xe9.png": "file name is not valid UTF-8 (shown with \\x escapes; "
        "rename it to import it)",
        "labels/na\\xefve.txt": "file name is not valid UTF-8 (shown with \\x escapes; "
        "rename it to import it)",
    }
    assert all(s.as_data()["path"] == s.path for s in result.skipped)


# ---------------------------------------------------------------------------- bad sources
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "names: [cat\ntrain: images\n",
            "data.yaml is not valid YAML (line 2: expected ',' or ']'",
        ),
        ("- names\n- train\n", "data.yaml is not a YAML mapping"),
        (
            "just text\n",
            "data.yaml is not a YAML mapping (expected keys names, train, val), found 'just text'",
        ),
        ("", "data.yaml is not a YAML mapping"),
        (
            "names: !!python/object/apply:os.system ['touch pwned']\ntrain: images\n",
            "could not determine a constructor",
        ),
        ("train: images\n", "data.yaml has no `names`"),
        ("names: cat\ntrain: images\n", "`names` must be a list or a mapping"),
        ("names: []\ntrain: images\n", "`names` is empty"),
        (
            "names: {0: cat, 2: dog}\ntrain: images\n",
            "the indices of `names` must be 0-1, found 0, 2",
        ),
        ("names: {0: cat, '0': dog}\ntrain: images\n", "`names` gives class 0 twice"),
        ("names: {a: cat}\ntrain: images\n", "`names` key 'a' is not a class index"),
        ("names: [cat, cat]\ntrain: images\n", "classes 0 and 1 are both named 'cat'"),
        (
            "names: [cat, yes]\ntrain: images\n",
            "class 1 is True, not a name (quote it in the YAML)",
        ),
        ("names: [cat, [a]]\ntrain: images\n", "class 1 is a list, not a name"),
        ("names: [cat, '']\ntrain: images\n", "class 1 is not a valid label: empty label"),
        ("names: [cat]\nnc: 2\ntrain: images\n", "`nc` is 2 but `names` has 1"),
        ("names: [cat]\ntrain: missing\n", "`train` names 'missing', which does not exist"),
        ("names: [cat]\ntrain: images\nval: images/missing\n", "`val` names 'images/missing'"),
        ("names: [cat]\n", "data.yaml names no images: give `train`, `val` or `test`"),
        ("names: [cat]\ntrain:\nval: ''\n", "data.yaml names no images"),
        ("names: [cat]\ntrain: 3\n", "`train` must be a folder (or .txt list) name"),
        (
            "names: [cat]\ntrain: images/a.png\n",
            "`train` 'images/a.png' is neither a folder nor a .txt list",
        ),
        ("names: [cat]\npath: images/a.png\ntrain: .\n", "`path` 'images/a.png' is not a folder"),
        ("names: [cat]\npath: [a]\ntrain: .\n", "`path` must be a folder name, not a list"),
        ('names: [cat]\ntrain: "images\\0"\n', "`train` contains control characters"),
        (
            "names: [cat]\nkpt_shape: [17, 4]\ntrain: images\n",
            "`kpt_shape` must be [keypoints, 2 or 3]",
        ),
    ],
)
def test_bad_yaml_is_a_source_error(tmp_path: Path, text: str, message: str) -> None:
    _yaml(tmp_path, text)
    _image(tmp_path, "images/a.png")
    with pytest.raises(SourceError) as info:
        read_yolo(tmp_path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "pwned").exists()


def test_a_yaml_over_one_mib_is_refused(tmp_path: Path) -> None:
    _yaml(tmp_path, "names: [cat]\ntrain: images\n# " + "x" * (1 << 20) + "\n")
    with pytest.raises(SourceError, match="larger than 1 MiB"):
        read_yolo(tmp_path)


def test_a_deeply_nested_yaml_is_refused(tmp_path: Path) -> None:
    _yaml(tmp_path, "names: " + "[" * 100_000 + "\n")
    with pytest.raises(SourceError, match="not valid YAML"):
        read_yolo(tmp_path)


def test_a_yaml_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "data.yaml", b"names: [caf\xe9]\ntrain: images\n")
    with pytest.raises(SourceError, match="not valid YAML") as info:
        read_yolo(tmp_path)
    assert "\n" not in str(info.value)


def test_missing_or_wrong_sources(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"no data\.yaml in"):
        read_yolo(tmp_path)
    with pytest.raises(SourceError, match="neither a file nor a folder"):
        read_yolo(tmp_path / "missing")
    with pytest.raises(SourceError, match="is not a YAML file"):
        read_yolo(write(tmp_path / "data.json", b"{}"))


def test_a_list_over_the_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _yaml(tmp_path, "names: [cat]\ntrain: train.txt\n")
    _image(tmp_path, "images/a.png")
    write(tmp_path / "train.txt", b"images/a.png\n" * 10)
    monkeypatch.setattr(yolo, "MAX_LIST_BYTES", 64)
    with pytest.raises(SourceError, match=r"train\.txt is larger than"):
        read_yolo(tmp_path)
