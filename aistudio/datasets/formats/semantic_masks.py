"""The ``masks`` format: images and their class masks side by side (semantic segmentation).

```
source/
  images/a.jpg             any image format the import stores (sub-folders allowed)
  images/sub/b.png
  masks/a.png              the mask of images/a.*: same name inside masks/, a PNG
  masks/sub/b.png
  classes.txt              optional: one class a line, line 1 the background
```

**Masks.** A mask is an 8-bit grey (``L``) or palette (``P``) PNG of its image's upright size
whose values are class indices (255 = ignore), or an RGB PNG when ``classes.txt`` gives each
class its colour. :func:`~aistudio.datasets.formats.semantic.finish_semantic` checks and stores
it (a JPEG, a mask of another size, a 16-bit PNG, values past the classes, colours that are no
class's: the image is a listed skip naming the mask and the reason).

**classes.txt.** Line ``n`` names the class of value ``n - 1``: line 1 is the background
(value 0). A line may end with the class's colour for RGB masks, ``road 128,64,128`` (three
numbers 0..255 after the name and a space); colours are given for every class or for none.
Trailing empty lines are ignored, an empty line between classes is refused (the source as a
whole). Without ``classes.txt`` each mask's legend is ``background``, ``1``, ``2``, … up to its
largest value, and the project's classes gain ``1``, ``2``, … in that order.

**Skips.** An image without a mask ("no mask"), a mask without an image, a second image or
mask of one name (``a.jpg`` and ``a.png``: the first in name order is kept; for masks the
``.png``), names that are not UTF-8, files that are symbolic links leading out of the source.
``images/`` or ``masks/`` being a link out of the source refuses the source.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aistudio.datasets.formats.base import ReadResult, SourceError
from aistudio.datasets.formats.semantic import (
    layout_folder,
    list_images,
    pair_masks,
    read_classes_txt,
)

logger = logging.getLogger(__name__)

FORMAT = "masks"
IMAGES = "images"
MASKS = "masks"
CLASSES = "classes.txt"
LAYOUT = "images/<name>.* with masks/<name>.png, and optionally classes.txt"


def looks_like_masks(source: Path) -> bool:
    """Whether ``source`` is a folder holding ``images/`` and ``masks/`` folders."""
    try:
        return (source / IMAGES).is_dir() and (source / MASKS).is_dir()
    except OSError:
        return False


def read_masks(source: Path, labelled: bool = True) -> ReadResult:
    """List the images of a ``masks`` source and, when ``labelled``, each one's mask.

    Args:
        source: the folder holding ``images/`` and ``masks/``.
        labelled: False: every image of ``images/`` is listed, no mask is read.

    Returns:
        Candidates (``target="semantic"``) in the images' name order, the skips, and the
        classes of ``classes.txt`` (None without it: the masks' values name them).

    Raises:
        SourceError: not a folder, no ``images/`` (or ``masks/``, when labelled), or an
            unusable ``classes.txt``.
    """
    root = source.resolve()
    if not root.is_dir():
        raise SourceError(f"{source} is not a folder ({LAYOUT})")
    layout_folder(source, root, IMAGES, LAYOUT)
    result = ReadResult(format=FORMAT, target="semantic" if labelled else None)
    if not labelled:
        list_images(result, root, IMAGES)
        return result
    layout_folder(source, root, MASKS, LAYOUT)
    legend, palette = None, None
    if (root / CLASSES).exists() or (root / CLASSES).is_symlink():
        legend, palette = read_classes_txt(root / CLASSES, CLASSES)
        result.classes = list(legend)
    pair_masks(result, root, IMAGES, MASKS, legend, palette, CLASSES)
    logger.info(
        "masks %s: %d images with masks, %d skipped, %s",
        source,
        len(result.candidates),
        len(result.skipped),
        f"{len(legend)} classes" if legend else "no classes.txt",
    )
    return result
