"""Detection scenes of real data: scikit-learn's handwritten digits pasted on textured canvases.

Every object's box is exact (the pasted digit's extent), so readers and metrics can be checked
against the truth. ``write_scenes`` draws them; the writers lay them out as a format would.
"""

from __future__ import annotations

import json
from pathlib import Path

from aistudio.datasets.scenes import DIGIT_PX, Scene, SceneObject, write_scenes

__all__ = ["DIGIT_PX", "Scene", "SceneObject", "write_scenes"]


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
