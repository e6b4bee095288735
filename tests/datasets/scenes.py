"""Detection scenes of real data: scikit-learn's handwritten digits pasted on textured canvases.

Every object's box is exact (the pasted digit's extent), so readers and metrics can be checked
against the truth. ``write_scenes`` draws them; the writers lay them out as a format would.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DIGIT_PX = 16


@dataclass(frozen=True)
class SceneObject:
    """One pasted digit: its class name and its box ``[x1, y1, x2, y2]`` in pixels."""

    label: str
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class Scene:
    """One canvas: its file name (relative to the images folder), size and objects."""

    file_name: str
    width: int
    height: int
    objects: tuple[SceneObject, ...]


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images, digits.target


def write_scenes(
    folder: Path,
    count: int,
    size: tuple[int, int] = (64, 48),
    classes: tuple[str, ...] = ("0", "1", "2"),
    per_image: tuple[int, int] = (0, 3),
    seed: int = 0,
) -> list[Scene]:
    """Draw ``count`` PNG canvases into ``folder`` with 0-3 digits each (none: a negative)."""
    images, targets = _digits()
    rng = random.Random(seed)
    wanted = [int(c) for c in classes]
    pool = [i for i, t in enumerate(targets) if int(t) in wanted]
    folder.mkdir(parents=True, exist_ok=True)
    scenes = []
    width, height = size
    for n in range(count):
        canvas = np.full((height, width), rng.randint(20, 90), dtype=np.uint8)
        canvas += np.asarray(
            [[rng.randint(0, 25) for _ in range(width)] for _ in range(height)], dtype=np.uint8
        )
        objects = []
        for _ in range(rng.randint(*per_image)):
            index = rng.choice(pool)
            digit = Image.fromarray((images[index] * 16).clip(0, 255).astype(np.uint8))
            digit = digit.resize((DIGIT_PX, DIGIT_PX), Image.Resampling.NEAREST)
            x, y = rng.randint(0, width - DIGIT_PX), rng.randint(0, height - DIGIT_PX)
            patch = np.asarray(digit)
            region = canvas[y : y + DIGIT_PX, x : x + DIGIT_PX]
            canvas[y : y + DIGIT_PX, x : x + DIGIT_PX] = np.maximum(region, patch)
            objects.append(SceneObject(str(targets[index]), (x, y, x + DIGIT_PX, y + DIGIT_PX)))
        name = f"scene_{n:03d}.png"
        Image.fromarray(canvas).convert("RGB").save(folder / name)
        scenes.append(Scene(name, width, height, tuple(objects)))
    return scenes


def coco_document(scenes: list[Scene], classes: tuple[str, ...], prefix: str = "") -> dict:
    """A COCO dictionary of ``scenes`` (category ids 1, 3, 5, …: not contiguous)."""
    category_ids = {c: 2 * i + 1 for i, c in enumerate(classes)}
    annotations = []
    for image_id, scene in enumerate(scenes, start=1):
        for obj in scene.objects:
            x1, y1, x2, y2 = obj.box
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category_ids[obj.label],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    return {
        "images": [
            {"id": i, "file_name": prefix + s.file_name, "width": s.width, "height": s.height}
            for i, s in enumerate(scenes, start=1)
        ],
        "annotations": annotations,
        "categories": [{"id": category_ids[c], "name": c} for c in classes],
    }


def write_coco(
    root: Path, count: int, classes: tuple[str, ...] = ("0", "1", "2"), **kwargs: object
) -> tuple[Path, list[Scene]]:
    """``root/images/*.png`` and ``root/instances.json``; returns the JSON's path and scenes."""
    scenes = write_scenes(root / "images", count, classes=classes, **kwargs)  # type: ignore[arg-type]
    path = root / "instances.json"
    path.write_text(json.dumps(coco_document(scenes, classes)))
    return path, scenes


def expected_annotation(scene: Scene) -> dict:
    """The ``boxes`` annotation an import of ``scene`` must give."""
    return {
        "kind": "boxes",
        "objects": [{"class": o.label, "box": [float(v) for v in o.box]} for o in scene.objects],
    }


def coco_source(tmp_path: Path, count: int = 4, **kwargs: object) -> tuple[Path, dict, list]:
    """A COCO folder under ``tmp_path/coco``: the JSON's path, its document and the scenes."""
    path, scenes = write_coco(tmp_path / "coco", count, **kwargs)
    return path, json.loads(path.read_text()), scenes


def rewrite_json(path: Path, doc: dict) -> Path:
    """Write ``doc`` back to ``path`` (after a test changed it); returns ``path``."""
    path.write_text(json.dumps(doc))
    return path
