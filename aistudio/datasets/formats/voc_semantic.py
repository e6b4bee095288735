"""The ``voc`` format read for semantic segmentation: ``SegmentationClass/`` masks.

```
source/
  JPEGImages/2007_000032.jpg
  SegmentationClass/2007_000032.png    palette PNG: value = class index, 255 = void
  labelmap.txt                         optional (CVAT / Datumaro): name:r,g,b:parts:actions
  classes.txt                          optional, when there is no labelmap.txt
  Annotations/ ImageSets/ SegmentationObject/   not read by this reader
```

An image of ``JPEGImages/`` is paired with the mask of its name in ``SegmentationClass/`` (any
sub-folder the same on both sides); images without one are listed skips ("no mask"), as are
masks without an image. Masks are checked and stored by
:func:`~aistudio.datasets.formats.semantic.finish_semantic`: palette indices are read as they
are (never converted to RGB: the void border stays 255, ignored by training and scoring).

**Classes.** ``labelmap.txt`` when present (CVAT's and Datumaro's export; a class line is
``name:r,g,b:parts:actions``, value = order of the class lines, ``#`` lines skipped), else
``classes.txt`` (as the ``masks`` format's: one name a line, line 1 the background, an optional
``r,g,b`` after each), else VOC's 21 classes (``background``, ``aeroplane``, …,
``tvmonitor``).

**RGB masks** (CVAT exports colour masks) map each colour to its class: the labelmap's colours,
classes.txt's when it gives them, else VOC's colour map; VOC's void colour (224, 224, 192) is
255 unless a class has it. A colour that is no class's refuses the mask, naming a few.

The detection reader (:mod:`aistudio.datasets.formats.voc`) is unchanged; ``Annotations/`` is
not needed here.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aistudio.datasets.formats.base import ReadResult, SourceError
from aistudio.datasets.formats.semantic import (
    VOC_CLASSES,
    VOID_COLOUR,
    Palette,
    layout_folder,
    list_images,
    pair_masks,
    read_classes_txt,
    read_labelmap,
    voc_palette,
)
from aistudio.datasets.formats.voc import FORMAT, IMAGES, SEGMENTATION

logger = logging.getLogger(__name__)

MASKS = SEGMENTATION
LABELMAP = "labelmap.txt"
CLASSES = "classes.txt"
LAYOUT = "a Pascal VOC segmentation source holds JPEGImages/ and SegmentationClass/*.png"


def legend_of(root: Path) -> tuple[tuple[str, ...], Palette, str]:
    """The classes and colours of a VOC segmentation source, and where they come from.

    Raises:
        SourceError: an unusable ``labelmap.txt`` or ``classes.txt``.
    """
    for name in (LABELMAP, CLASSES):
        path = root / name
        if not (path.exists() or path.is_symlink()):
            continue
        if name == LABELMAP:
            legend, palette = read_labelmap(path, name)
        else:
            legend, given = read_classes_txt(path, name)
            palette = given if given is not None else voc_palette(len(legend))
        palette = dict(palette)
        palette.setdefault(VOID_COLOUR, 255)
        return legend, palette, name
    return VOC_CLASSES, voc_palette(len(VOC_CLASSES)), "VOC's 21 classes"


def read_voc_semantic(source: Path, labelled: bool = True) -> ReadResult:
    """List the images of a VOC segmentation source and, when ``labelled``, their masks.

    Raises:
        SourceError: not a folder, no ``JPEGImages/`` (or no ``SegmentationClass/`` when
            labelled), or an unusable class list.
    """
    root = source.resolve()
    if not root.is_dir():
        raise SourceError(f"{source} is not a folder ({LAYOUT})")
    layout_folder(source, root, IMAGES, LAYOUT)
    result = ReadResult(format=FORMAT, target="semantic" if labelled else None)
    if not labelled:
        list_images(result, root, IMAGES)
        return result
    if not (root / MASKS).is_dir():
        raise SourceError(
            f"{source} has no {MASKS}/ folder: a semantic segmentation project needs each "
            f"image's class mask ({LAYOUT}); Annotations/ gives boxes, for a detection project"
        )
    layout_folder(source, root, MASKS, LAYOUT)
    legend, palette, origin = legend_of(root)
    result.classes = list(legend)
    pair_masks(result, root, IMAGES, MASKS, legend, palette, origin)
    logger.info(
        "voc segmentation %s: %d images with masks, %d skipped, classes from %s",
        source,
        len(result.candidates),
        len(result.skipped),
        origin,
    )
    return result
