"""Generated datasets, and the demo digits shipped in the workspace template."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from PIL import Image

from aistudio.datasets.demo import write_digits_csv, write_digits_imagefolder, write_random_jpegs
from aistudio.workspace import Workspace


def _digest(paths: list[Path]) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in paths)).hexdigest()


def test_digits_imagefolder(tmp_path: Path) -> None:
    files = write_digits_imagefolder(tmp_path / "a", n_per_class=2)
    assert len(files) == 20
    assert sorted({p.parent.name for p in files}) == [str(d) for d in range(10)]
    with Image.open(files[0]) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "L", (32, 32))
    again = write_digits_imagefolder(tmp_path / "b", n_per_class=2)
    assert _digest(files) == _digest(again)  # deterministic


def test_digits_csv_variants(tmp_path: Path) -> None:
    path = write_digits_csv(tmp_path / "digit", n_per_class=1, column="value", value="digit")
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["filename", "value"]
    assert [float(v) for _, v in rows[1:]] == [float(d) for d in range(10)]
    assert all((path.parent / name).is_file() for name, _ in rows[1:])

    path = write_digits_csv(tmp_path / "mean", n_per_class=1, column="value", value="intensity")
    with path.open(newline="") as handle:
        values = [float(v) for _, v in list(csv.reader(handle))[1:]]
    assert all(0.0 < v < 1.0 for v in values)

    path = write_digits_csv(tmp_path / "label", n_per_class=1, column="label")
    assert path.read_text().splitlines()[:2] == ["filename,label", "images/0000.png,0"]


def test_random_jpegs_are_distinct(tmp_path: Path) -> None:
    files = write_random_jpegs(tmp_path, 6, size=48, classes=3)
    assert sorted({p.parent.name for p in files}) == ["class_0", "class_1", "class_2"]
    assert len({hashlib.sha256(p.read_bytes()).hexdigest() for p in files}) == 6
    with Image.open(files[0]) as image:
        assert (image.format, image.size) == ("JPEG", (48, 48))


def test_shipped_demo_dataset() -> None:
    source = Workspace.demo_source()
    files = sorted(source.rglob("*.png"))
    assert len(files) == 300
    assert sorted(p.name for p in source.iterdir()) == [str(d) for d in range(10)]
    assert all(len(list((source / str(d)).glob("*.png"))) == 30 for d in range(10))
    assert sum(p.stat().st_size for p in files) < 400_000  # small enough to commit
    with Image.open(files[0]) as image:
        assert (image.mode, image.size) == ("L", (32, 32))
