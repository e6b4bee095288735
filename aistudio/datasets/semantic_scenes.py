"""Semantic segmentation scenes: the digit canvases of :mod:`aistudio.datasets.scenes` with a
class mask each, laid out as the ``masks`` import format reads them.

```
root/images/scene_000.png   the canvas (RGB)
root/masks/scene_000.png    8-bit grey: 0 = background, 1 + i = a digit of classes[i]
root/classes.txt            background, then the classes, one a line
```

Each object's pixels are exactly :meth:`~aistudio.datasets.scenes.SceneObject.mask` (its ink,
holes filled), painted in the scene's order: a later digit covers an earlier one where they
overlap. Tests, benchmarks and browser tests draw their data here, so a reader, a model or a
metric can be checked against the truth (:func:`scene_mask`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from aistudio.datasets.scenes import Scene, write_scenes

IMAGES = "images"
MASKS = "masks"
CLASSES = "classes.txt"
BACKGROUND = "background"


def scene_mask(scene: Scene, classes: tuple[str, ...]) -> np.ndarray:
    """The ``height x width`` uint8 class mask of ``scene``: 0 background, ``1 + i`` where a
    digit of ``classes[i]`` is (the later object on top)."""
    mask = np.zeros((scene.height, scene.width), dtype=np.uint8)
    for obj in scene.objects:
        mask[obj.mask(scene.width, scene.height)] = 1 + classes.index(obj.label)
    return mask


def write_semantic_scenes(
    root: Path,
    count: int,
    size: tuple[int, int] = (128, 128),
    classes: tuple[str, ...] = ("0", "1", "2"),
    per_image: tuple[int, int] = (1, 4),
    seed: int = 0,
    digit_px: tuple[int, int] = (24, 40),
) -> list[Scene]:
    """Draw ``count`` scenes into ``root`` (``images/``, ``masks/``, ``classes.txt``).

    Args:
        root: the source folder (created).
        count: how many images.
        size: ``(width, height)`` of every image.
        classes: the digits drawn, as class names (``"0"`` … ``"9"``); value ``1 + i`` in the
            masks is ``classes[i]``.
        per_image: how many digits an image has (a range).
        seed: the draw's seed (the same seed, the same files).
        digit_px: a digit's square size in pixels (a range).

    Returns:
        The scenes, in file order (``scene.file_name`` names both the image and its mask).
    """
    scenes = write_scenes(
        root / IMAGES,
        count,
        size=size,
        classes=classes,
        per_image=per_image,
        seed=seed,
        digit_px=digit_px,
    )
    masks = root / MASKS
    masks.mkdir(parents=True, exist_ok=True)
    for scene in scenes:
        Image.fromarray(scene_mask(scene, classes)).save(masks / scene.file_name)
    (root / CLASSES).write_text("\n".join((BACKGROUND, *classes)) + "\n", encoding="utf-8")
    return scenes


__all__ = ["CLASSES", "IMAGES", "MASKS", "scene_mask", "write_semantic_scenes"]
