"""A self-contained Python program that runs an exported ONNX model on one image.

The Export page shows it next to the download. The program needs only onnxruntime, numpy and
Pillow (:data:`REQUIREMENTS`): it reads the model's ``aistudio.*`` metadata (every value JSON),
preprocesses the image as ``aistudio.input`` says (RGB, bilinear resize to S x S without keeping
the aspect ratio, scale, mean and std, NCHW), runs the model and prints the prediction: the class
and its probability (``aistudio.classes``), or the value (``aistudio.target_scaling``).

Its last line of output is ``prediction: <class> (probability 0.9876)`` or
``prediction: <value>`` (:data:`PREDICTION_PREFIX`). Pure text: no torch, no onnx here.
"""

from __future__ import annotations

REQUIREMENTS: tuple[str, ...] = ("onnxruntime", "numpy", "Pillow")
"""The packages the program needs (``pip install onnxruntime numpy Pillow``)."""
INSTALL_COMMAND = "pip install " + " ".join(REQUIREMENTS)
PREDICTION_PREFIX = "prediction: "
"""What the line with the prediction starts with."""

_TEMPLATE = '''"""Run an AI Studio ONNX export on one image: python predict.py [IMAGE] [MODEL]."""

import json
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

IMAGE = sys.argv[1] if len(sys.argv) > 1 else {image_file}
MODEL = sys.argv[2] if len(sys.argv) > 2 else {model_file}

session = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
props = session.get_modelmeta().custom_metadata_map
meta = {{key: json.loads(value) for key, value in props.items() if key.startswith("aistudio.")}}
spec = meta["aistudio.input"]
size = spec["image_size"]

# Preprocess exactly as AI Studio does: RGB, bilinear resize to size x size (aspect ratio not
# kept, EXIF orientation ignored), scale to 0..1, subtract the mean, divide by the std, NCHW.
with Image.open(IMAGE) as image:
    image.draft("RGB", (size, size))  # JPEG only: decode at a reduced scale, as the app does
    rgb = image.convert("RGB")
if rgb.size != (size, size):
    rgb = rgb.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
pixels = np.asarray(rgb, dtype=np.float32) * np.float32(spec["scale"])
pixels = (pixels - np.asarray(spec["mean"], np.float32)) / np.asarray(spec["std"], np.float32)
batch = np.ascontiguousarray(pixels.transpose(2, 0, 1)[np.newaxis])  # HWC -> NCHW, batch of 1

output_name = meta["aistudio.output"]["name"]
output = session.run([output_name], {{spec["name"]: batch}})[0][0]

if "aistudio.classes" in meta:
    logits = output.astype(np.float64)
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    best = int(probabilities.argmax())
    name = meta["aistudio.classes"][best]
    print(f"prediction: {{name}} (probability {{probabilities[best]:.4f}})")
elif "aistudio.target_scaling" in meta:
    scaling = meta["aistudio.target_scaling"]
    print(f"prediction: {{float(output[0]) * scaling['std'] + scaling['mean']:.6g}}")
else:
    print(f"prediction: {{output.tolist()}}")
'''


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
