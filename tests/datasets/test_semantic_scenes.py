"""The semantic scenes generator: images, masks and classes.txt that a ``masks`` import reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from aistudio.datasets.semantic_scenes import scene_mask, write_semantic_scenes


def test_masks_are_the_scenes_objects_painted_in_order(tmp_path: Path) -> None:
    classes = ("3", "7")
    scenes = write_semantic_scenes(
        tmp_path / "s", 4, size=(64, 48), classes=classes, per_image=(2, 4), digit_px=(14, 24)
    )
    assert (tmp_path / "s" / "classes.txt").read_text() == "background\n3\n7\n"
    assert len(scenes) == 4 and all(len(s.objects) >= 2 for s in scenes)
    for scene in scenes:
        with Image.open(tmp_path / "s" / "images" / scene.file_name) as image:
            assert image.size == (64, 48)
        with Image.open(tmp_path / "s" / "masks" / scene.file_name) as png:
            assert (png.format, png.mode, png.size) == ("PNG", "L", (64, 48))
            mask = np.asarray(png)
        truth = np.zeros((48, 64), np.uint8)
        for obj in scene.objects:  # later objects over earlier ones
            truth[obj.mask(64, 48)] = 1 + classes.index(obj.label)
        assert (mask == truth).all() and (mask == scene_mask(scene, classes)).all()
        assert set(np.unique(mask)) <= {0, 1, 2} and (mask > 0).any()


def test_the_same_seed_gives_the_same_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_semantic_scenes(tmp_path / name, 2, size=(32, 32), digit_px=(10, 16), seed=3)
    for folder in ("images", "masks"):
        for path in (tmp_path / "a" / folder).iterdir():
            assert path.read_bytes() == (tmp_path / "b" / folder / path.name).read_bytes()
