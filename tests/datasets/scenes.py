"""Detection and instance scenes of real data: scikit-learn's handwritten digits pasted on
textured canvases.

Every object's box is exact (the pasted digit's extent), and so is its shape (the digit's ink),
so readers and metrics can be checked against the truth. ``write_scenes`` draws them; the
writers lay them out as a format would (COCO with boxes, polygons or RLE; YOLO-seg).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pycocotools import mask as coco_mask

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


# ---------------------------------------------------------------------- instance segmentation
def rle_of(mask: np.ndarray, compressed: bool = True) -> dict:
    """COCO's RLE of a boolean ``height x width`` mask: compressed (``counts`` a string, by
    pycocotools) or uncompressed (``counts`` the runs, column by column, zeros first)."""
    height, width = mask.shape
    if compressed:
        encoded = coco_mask.encode(np.asfortranarray(mask, dtype=np.uint8))
        return {"size": [height, width], "counts": encoded["counts"].decode("ascii")}
    flat = mask.ravel(order="F").astype(np.int8)
    edges = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], edges, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs = [0, *runs]
    return {"size": [height, width], "counts": runs}


def instances_document(
    scenes: list[Scene],
    classes: tuple[str, ...],
    segmentation: str = "polygons",
    prefix: str = "",
) -> dict:
    """A COCO dictionary of ``scenes`` with each object's shape: ``polygons`` (its outline),
    ``rle`` (uncompressed) or ``compressed`` (RLE string); ``bbox`` is the ink's tight box."""
    doc = coco_document(scenes, classes, prefix)
    objects = [(scene, obj) for scene in scenes for obj in scene.objects]
    for annotation, (scene, obj) in zip(doc["annotations"], objects, strict=True):
        x1, y1, x2, y2 = obj.mask_box()
        annotation["bbox"] = [x1, y1, x2 - x1, y2 - y1]
        if segmentation == "polygons":
            annotation["segmentation"] = obj.outline()
        else:
            mask = obj.mask(scene.width, scene.height)
            annotation["segmentation"] = rle_of(mask, compressed=segmentation == "compressed")
        annotation["area"] = int(obj.mask(scene.width, scene.height).sum())
    return doc


def write_instances_coco(
    root: Path,
    count: int,
    segmentation: str = "polygons",
    classes: tuple[str, ...] = ("0", "1", "2"),
    **kwargs: object,
) -> tuple[Path, list[Scene]]:
    """``root/images/*.png`` and ``root/instances.json`` with shapes (see
    :func:`instances_document`); returns the JSON's path and the scenes."""
    scenes = write_scenes(root / "images", count, classes=classes, **kwargs)  # type: ignore[arg-type]
    path = root / "instances.json"
    path.write_text(json.dumps(instances_document(scenes, classes, segmentation)))
    return path, scenes


def expected_instances(scene: Scene) -> dict:
    """The ``instances`` annotation an import of ``scene``'s outlines must give."""
    return {
        "kind": "instances",
        "objects": [
            {"class": o.label, "box": list(o.mask_box()), "polygons": o.outline()}
            for o in scene.objects
        ],
    }


def write_yolo_seg(
    root: Path, per_subset: dict[str, int], classes: tuple[str, ...] = ("0", "1", "2")
) -> dict[str, list[Scene]]:
    """An Ultralytics segmentation dataset: ``data.yaml``, ``images/<subset>/*.png`` and
    ``labels/<subset>/*.txt`` with one normalised outline line per object (its largest part:
    see :func:`expected_yolo_instances`)."""
    by_subset = {}
    for seed, (subset, count) in enumerate(per_subset.items()):
        scenes = write_scenes(root / "images" / subset, count, classes=classes, seed=seed)
        labels = root / "labels" / subset
        labels.mkdir(parents=True, exist_ok=True)
        for scene in scenes:
            lines = []
            for obj in scene.objects:
                part = obj.outline()[0]
                xs = [x / scene.width for x in part[0::2]]
                ys = [y / scene.height for y in part[1::2]]
                points = " ".join(f"{x!r} {y!r}" for x, y in zip(xs, ys, strict=True))
                lines.append(f"{classes.index(obj.label)} {points}")
            (labels / scene.file_name.replace(".png", ".txt")).write_text("\n".join(lines))
        by_subset[subset] = scenes
    entries = "".join(f"{s}: images/{s}\n" for s in per_subset)
    (root / "data.yaml").write_text(f"names: {list(classes)}\n{entries}")
    return by_subset


def expected_yolo_instances(scene: Scene) -> dict:
    """The ``instances`` annotation an import of :func:`write_yolo_seg`'s labels of ``scene``
    must give (each object's largest part, its box derived from it)."""
    objects = []
    for obj in scene.objects:
        part = obj.outline()[0]
        xs, ys = part[0::2], part[1::2]
        box = [min(xs), min(ys), max(xs), max(ys)]
        objects.append({"class": obj.label, "box": box, "polygons": [part]})
    return {"kind": "instances", "objects": objects}
