"""The metadata stored in every exported model: how to feed it, how to read it, where it is from.

Every key starts with ``aistudio.`` and every value is a JSON text, so that any consumer (in any
language) can ``json.loads`` each value. ONNX files carry them as ``metadata_props`` (onnxruntime:
``session.get_modelmeta().custom_metadata_map``); TorchScript files carry the same mapping, with
the values decoded, as the extra file ``aistudio.json``. ``ExportCompleted.metadata`` records the
string form. The keys:

* ``aistudio.format_version``: ``1``, the version of this layout.
* ``aistudio.task``: the task, e.g. ``"classification"``.
* ``aistudio.input``: the input tensor and the preprocessing (:func:`input_spec`).
* ``aistudio.output``: the output tensor and what it means (:func:`output_spec`).
* ``aistudio.<key>`` for each key of the task's ``export_metadata`` other than ``output``:
  ``aistudio.classes`` (classification), ``aistudio.target_scaling`` (regression).
* ``aistudio.source``: the project, experiment, model and checkpoint it was exported from.

This module is torch-free.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

FORMAT_VERSION = 1
PREFIX = "aistudio."
INPUT_NAME = "input"
OUTPUT_NAME = "output"
BATCH_AXIS = "batch"
SCALE = 1.0 / 255.0
"""Factor turning 0…255 pixel values into 0…1 before the mean and std are applied."""
TORCHSCRIPT_EXTRA_FILE = "aistudio.json"
"""Name of the extra file holding the metadata in a TorchScript archive."""
RESERVED = frozenset({"format_version", "task", "input", "output", "source"})
COLOR: dict[str, str] = {
    "result": "RGB, 8 bits per channel (0..255); to_rgb in resize.pillow",
    "rgb": "8-bit RGB as is (Pillow reads a 16-bit colour PNG as its high bytes)",
    "grayscale": "8-bit grey repeated on the 3 channels",
    "high_bit_depth": (
        "one-channel 16-bit, 32-bit and float images (Pillow modes I;16, I;16B, I, F) are "
        "stretched per image from their minimum to their maximum: "
        "round((v - min) * (255 / (max - min))), rounding half to even, NaN and infinities "
        "counted as 0, a constant image 0; then repeated on the 3 channels"
    ),
    "alpha": (
        "transparency (RGBA, LA, a palette with a transparent entry) composited on opaque white "
        "(Image.alpha_composite)"
    ),
    "other": "Pillow's convert('RGB') (palette, CMYK, YCbCr, 1-bit)",
}
"""``aistudio.input.color``: how an image becomes 8-bit RGB, as
:func:`aistudio.datasets.images.to_rgb` does (for thumbnails too; the Export page's snippet repeats
it)."""
_TASK_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class MetadataError(ValueError):
    """Metadata that cannot be built or read (a bad key, a value that is not JSON)."""


@dataclass(frozen=True)
class ExportSource:
    """Where an export comes from (``aistudio.source``).

    Attributes:
        project_id: the project's id.
        project_name: its name when the export was requested.
        experiment_id: the experiment's id.
        experiment_name: its name.
        model: the backbone (``resnet18``, ``mobilenet_v3_small``, …).
        checkpoint: ``best`` or ``last``.
        checkpoint_epoch: the epoch the weights are from.
        checkpoint_sha256: the checkpoint file's sha256 (as ``CheckpointSaved`` recorded it).
        export_id: the export's ``xpt-`` id.
        seq: the log seq of the ``ExportRequested`` event.
    """

    project_id: str
    project_name: str
    experiment_id: str
    experiment_name: str
    model: str
    checkpoint: str
    checkpoint_epoch: int
    checkpoint_sha256: str
    export_id: str
    seq: int


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise MetadataError(f"metadata value is not plain JSON: {exc}") from None


def input_spec(image_size: int, mean: Sequence[float], std: Sequence[float]) -> dict[str, Any]:
    """``aistudio.input``: the input tensor and how to make it from an image file.

    Args:
        image_size: side S of the square input.
        mean: per-channel mean (RGB) of pixel values scaled to 0…1.
        std: per-channel standard deviation (RGB) of pixel values scaled to 0…1.
    """
    if len(mean) != 3 or len(std) != 3:
        raise MetadataError("mean and std need one value per RGB channel")
    size = int(image_size)
    return {
        "name": INPUT_NAME,
        "shape": [BATCH_AXIS, 3, size, size],
        "dtype": "float32",
        "layout": "NCHW",
        "channel_order": "RGB",
        "image_size": size,
        "resize": {
            "width": size,
            "height": size,
            "interpolation": "bilinear",
            "antialias": True,
            "keep_aspect_ratio": False,
            "pillow": (
                f"image.draft('RGB', ({size}, {size})); image = ImageOps.exif_transpose(image); "
                f"to_rgb(image).resize(({size}, {size}), Image.Resampling.BILINEAR, "
                "reducing_gap=3.0)  # to_rgb: see color"
            ),
        },
        "exif_orientation": "applied",
        "color": dict(COLOR),
        "scale": SCALE,
        "mean": [float(m) for m in mean],
        "std": [float(s) for s in std],
        "formula": "input[c] = (pixel[c] * scale - mean[c]) / std[c], pixel in 0..255",
    }


def output_spec(output_shape: Sequence[int], meaning: str) -> dict[str, Any]:
    """``aistudio.output``: the float32 output (``batch`` x ``output_shape``) and its meaning."""
    return {
        "name": OUTPUT_NAME,
        "shape": [BATCH_AXIS, *(int(d) for d in output_shape)],
        "dtype": "float32",
        "meaning": meaning,
    }


def build_metadata(
    *,
    task: str,
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    task_metadata: Mapping[str, Any],
    source: ExportSource,
    output_shape: Sequence[int] = (),
    output: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Every ``aistudio.*`` key of an export, with JSON text values.

    Args:
        task: the task's name.
        image_size: side of the square input.
        mean: per-channel normalisation mean (0…1 scale).
        std: per-channel normalisation standard deviation (0…1 scale).
        output_shape: the output's shape for one image (``[classes]``, ``[1]``, …), for a
            single output ``output`` (when ``output`` is not given).
        output: ``aistudio.output`` as the export adapter describes its outputs.
        task_metadata: :meth:`aistudio.tasks.base.Task.export_metadata`; its ``output`` entry
            becomes ``aistudio.output``'s ``meaning``, every other key becomes ``aistudio.<key>``.
        source: where the export comes from.

    Raises:
        MetadataError: a task key is reserved or malformed, or a value is not plain JSON.
    """
    meaning = str(task_metadata.get("output", ""))
    props: dict[str, str] = {
        f"{PREFIX}format_version": _json(FORMAT_VERSION),
        f"{PREFIX}task": _json(task),
        f"{PREFIX}input": _json(input_spec(image_size, mean, std)),
        f"{PREFIX}output": _json(
            dict(output) if output is not None else output_spec(output_shape, meaning)
        ),
    }
    for key, value in task_metadata.items():
        if key == "output":
            continue
        if key in RESERVED or not _TASK_KEY.match(key):
            raise MetadataError(f"the task's export metadata cannot use the key {key!r}")
        props[f"{PREFIX}{key}"] = _json(value)
    props[f"{PREFIX}source"] = _json(asdict(source))
    return props


def decode_metadata(props: Mapping[str, str]) -> dict[str, Any]:
    """The ``aistudio.*`` entries of ``props`` with their JSON values decoded (others dropped).

    Raises:
        MetadataError: a value is not valid JSON.
    """
    out: dict[str, Any] = {}
    for key, text in props.items():
        if not key.startswith(PREFIX):
            continue
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MetadataError(f"metadata {key} is not JSON: {exc}") from None
    return out


def extra_file_text(props: Mapping[str, str]) -> str:
    """The TorchScript extra file :data:`TORCHSCRIPT_EXTRA_FILE`: one JSON object of the keys."""
    return _json(decode_metadata(props))


def props_of_extra_file(text: str | bytes) -> dict[str, str]:
    """The string form of the metadata stored in a TorchScript extra file.

    Raises:
        MetadataError: the text is not a JSON object.
    """
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MetadataError(f"{TORCHSCRIPT_EXTRA_FILE} is not JSON: {exc}") from None
    if not isinstance(decoded, dict):
        raise MetadataError(f"{TORCHSCRIPT_EXTRA_FILE} does not hold a JSON object")
    return {str(key): _json(value) for key, value in decoded.items()}
