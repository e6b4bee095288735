"""A self-contained Python program that runs an exported ONNX model on one image.

The Export page shows it next to the download. The program needs only onnxruntime, numpy and
Pillow (:data:`REQUIREMENTS`): it reads the model's ``aistudio.*`` metadata (every value JSON),
preprocesses the image as ``aistudio.input`` says (EXIF orientation applied with Pillow's
``ImageOps.exif_transpose``; RGB by a small ``to_rgb`` that repeats the app's
:func:`aistudio.datasets.images.to_rgb`, so 16-bit, float and transparent images give the app's
input too; bilinear resize to S x S without keeping the aspect ratio; scale, mean and std;
NCHW), runs the model and prints the prediction: the class
and its probability (``aistudio.classes``), or the value (``aistudio.target_scaling``); for a
detector (``aistudio.output`` with ``names``), one line per object at the chosen confidence
threshold (``aistudio.confidence_threshold``, else 0.5) — class, score, box in the image's
pixels — and the image with the boxes drawn, saved as ``<image>_boxes.png``; for instance
segmentation (a ``masks`` output), each line also gives the mask's area in the image's pixels,
and the masks are drawn under the boxes — filled, semi-transparent, coloured by class like the
app's pages — after mapping them back onto the image as ``aistudio.masks`` says (each S x S mask
stretched bilinearly to the upright image's width x height, pixels at or above the threshold
kept), saved as ``<image>_masks.png``; for semantic segmentation (``aistudio.task``
``segmentation``), the argmax of ``logits`` mapped back onto the upright image as
``aistudio.class_mask`` says (nearest neighbour at pixel centres), one line per class found with
its share of the pixels (largest first), and the mask saved as ``<image>_mask.png``, a palette
PNG whose values are the class indices and whose colours are the classes' (background black).

Its last line of output is ``prediction: <class> (probability 0.9876)``,
``prediction: <value>``, ``prediction: <n> objects at confidence >= <t>, drawn in <file>`` or
``prediction: <n> classes, mask in <file>`` (:data:`PREDICTION_PREFIX`). Pure text: no torch,
no onnx here.
"""

from __future__ import annotations

from pathlib import Path

REQUIREMENTS: tuple[str, ...] = ("onnxruntime", "numpy", "Pillow")
"""The packages the program needs (``pip install onnxruntime numpy Pillow``)."""
INSTALL_COMMAND = "pip install " + " ".join(REQUIREMENTS)
PREDICTION_PREFIX = "prediction: "
"""What the line with the prediction starts with."""

_TEMPLATE = (Path(__file__).with_name("export_snippet.txt")).read_text(encoding="utf-8")
"""The program, with ``{model_file}`` and ``{image_file}`` to fill in (``str.format``).

It lives in a text file next to this module: it is a program to show, not code of the app.
"""


def onnx_snippet(model_file: str = "model.onnx", image_file: str = "image.png") -> str:
    """The program's source, reading ``model_file`` and ``image_file`` unless given on the
    command line (``python predict.py IMAGE MODEL``).

    Args:
        model_file: the ONNX file's path, as the program should open it.
        image_file: the image's path.

    Returns:
        Python source text (UTF-8, ending with a newline).
    """
    return _TEMPLATE.format(model_file=_literal(model_file), image_file=_literal(image_file))


def _literal(text: str) -> str:
    """``text`` as a Python string literal (double quotes when that needs no escape)."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return repr(text)
