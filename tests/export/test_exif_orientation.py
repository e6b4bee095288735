"""The export metadata says that the EXIF orientation is applied, and how (the Pillow calls)."""

from __future__ import annotations

from aistudio.export.metadata import input_spec
from ui.components.export_snippet import onnx_snippet


def test_input_spec_says_the_orientation_is_applied_before_the_resize() -> None:
    spec = input_spec(64, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert spec["exif_orientation"] == "applied"
    pillow = spec["resize"]["pillow"]
    draft = pillow.index("image.draft('RGB', (64, 64))")
    turn = pillow.index("image = ImageOps.exif_transpose(image)")
    convert = pillow.index("to_rgb(image).resize((64, 64), Image.Resampling.BILINEAR")
    assert draft < turn < convert


def test_snippet_turns_the_image_before_converting_it() -> None:
    source = onnx_snippet()
    assert "from PIL import Image, ImageOps" in source
    draft = source.index('image.draft("RGB", (size, size))')
    turn = source.index("to_rgb(ImageOps.exif_transpose(image))")
    assert draft < turn
    assert "ignored" not in source
