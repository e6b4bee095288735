"""EXIF orientation at import: the decoded image and the thumbnail are upright, sizes as stored.

A photo stored sideways with an EXIF orientation is shown upright by browsers; the thumbnail
must match it. Orientations are applied as Pillow's ``ImageOps.exif_transpose`` does; an EXIF
block that cannot be read counts as no orientation, never as a refused image.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from aistudio.datasets.images import (
    ImageRefusedError,
    decode_image,
    exif_orientation,
    inspect_image,
    orient,
)
from aistudio.datasets.ingest import IngestConfig, Ingestor
from aistudio.workspace import Workspace
from tests.datasets.support import make_project, write
from tests.exif_images import (
    CORRUPTIONS,
    corrupt_orientation,
    mean_abs_diff,
    oriented_bytes,
    stored_pixels,
    upright_image,
)

LIMIT = 89_478_485
CLOSE = 6.0
"""Largest mean difference (0…255) of two decodes of the same picture through lossy JPEGs."""


def _plain(data: bytes) -> Image.Image:
    """The pixels as stored in the file, with no orientation applied."""
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def _far_from_every_other_turn(image: Image.Image, upright: Image.Image) -> None:
    for orientation in range(2, 9):
        wrong = stored_pixels(upright, orientation)
        if wrong.size == image.size:
            assert mean_abs_diff(image.convert("RGB"), wrong) > 40, orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_decode_turns_a_jpeg_upright_as_exif_transpose_does(orientation: int) -> None:
    upright = upright_image()
    data = oriented_bytes(upright, orientation)
    info, image = decode_image(data, LIMIT)
    assert info.orientation == orientation
    stored = stored_pixels(upright, orientation).size
    assert (info.width, info.height) == stored  # what the file holds, as recorded in events
    assert info.upright_size == upright.size == image.size
    with Image.open(io.BytesIO(data)) as reference:
        expected = ImageOps.exif_transpose(reference)
    assert image.tobytes() == expected.tobytes()  # the very same pixels
    assert mean_abs_diff(image.convert("RGB"), upright) < CLOSE
    _far_from_every_other_turn(image, upright)


def test_an_image_without_exif_is_unchanged() -> None:
    upright = upright_image()
    data = oriented_bytes(upright, None)
    info, image = decode_image(data, LIMIT)
    assert (info.orientation, info.width, info.height) == (1, 48, 32)
    assert info.upright_size == (48, 32)
    assert image.tobytes() == _plain(data).tobytes()


def test_inspect_reports_the_orientation_and_the_stored_size() -> None:
    info = inspect_image(oriented_bytes(upright_image(), 6), LIMIT)
    assert (info.orientation, info.width, info.height, info.upright_size) == (6, 32, 48, (48, 32))


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_corrupt_exif_block_counts_as_no_orientation(how: str) -> None:
    data = corrupt_orientation(oriented_bytes(upright_image(), 6), how)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns (UserWarning) about some of these
        info, image = decode_image(data, LIMIT)
        plain = _plain(data)
    assert info.orientation == 1
    assert image.tobytes() == plain.tobytes()


def test_corrupt_pixels_are_still_refused_whatever_the_exif() -> None:
    data = oriented_bytes(upright_image(), 6)
    with pytest.raises(ImageRefusedError, match="corrupt or truncated"):
        decode_image(data[: len(data) * 2 // 3], LIMIT)


def test_draft_decoding_turns_the_reduced_image() -> None:
    upright = upright_image(480, 320)
    info, image = decode_image(oriented_bytes(upright, 6), LIMIT, draft_size=(64, 64))
    assert (info.width, info.height, info.orientation) == (320, 480, 6)
    assert image.size == (120, 80)  # 1/4 scale, upright
    assert mean_abs_diff(image, upright.resize(image.size, Image.Resampling.BOX)) < CLOSE


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_other_formats_with_exif_are_turned_too(fmt: str) -> None:
    upright = upright_image()
    info, image = decode_image(oriented_bytes(upright, 8, fmt), LIMIT)
    assert (info.format, info.orientation, info.width, info.height) == (fmt, 8, 32, 48)
    assert image.convert("RGB").tobytes() == upright.tobytes()  # lossless


def test_a_tiff_is_turned_once() -> None:
    """Pillow turns a TIFF upright itself when it opens it; it must not be turned again."""
    upright = upright_image()
    info, image = decode_image(oriented_bytes(upright, 6, "TIFF"), LIMIT)
    assert (info.format, info.orientation) == ("TIFF", 1)
    assert (info.width, info.height) == upright.size  # Pillow reports TIFFs upright
    assert image.convert("RGB").tobytes() == upright.tobytes()


def test_orient_and_exif_orientation_match_exif_transpose() -> None:
    upright = upright_image()
    for orientation in range(1, 9):
        data = oriented_bytes(upright, orientation, "PNG")
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            mine = orient(image, exif_orientation(image))
            assert mine.tobytes() == ImageOps.exif_transpose(image).tobytes() == upright.tobytes()
    plain = upright_image()
    assert orient(plain, 1) is plain  # nothing to do costs nothing


def test_the_thumbnail_of_an_oriented_photo_is_upright(
    workspace: Workspace, tmp_path: Path
) -> None:
    upright = upright_image(96, 64)
    ingestor = Ingestor(
        IngestConfig(
            workspace_root=str(workspace.root),
            project_id=make_project(workspace),
            max_pixels=LIMIT,
            thumbnail_px=48,
            max_bytes=1_000_000,
        )
    )
    outcome = ingestor.ingest(write(tmp_path / "photo.jpg", oriented_bytes(upright, 6)))
    assert outcome.reason is None and outcome.sha256 is not None
    assert (outcome.width, outcome.height) == (64, 96)  # as stored in the file
    thumb_path = workspace.thumb_path(ingestor.config.project_id, outcome.sha256)
    with Image.open(thumb_path) as thumb:
        assert thumb.size == (48, 32)
        expected = upright.resize(thumb.size, Image.Resampling.BICUBIC)
        assert mean_abs_diff(thumb.convert("RGB"), expected) < 2 * CLOSE
        _far_from_every_other_turn(thumb, expected)
    stored = workspace.image_path(ingestor.config.project_id, outcome.sha256, "jpg")
    assert stored.read_bytes() == (tmp_path / "photo.jpg").read_bytes()  # original kept as is


def test_a_corrupt_exif_block_does_not_refuse_the_import(
    workspace: Workspace, tmp_path: Path
) -> None:
    ingestor = Ingestor(
        IngestConfig(
            workspace_root=str(workspace.root),
            project_id=make_project(workspace),
            max_pixels=LIMIT,
            thumbnail_px=48,
            max_bytes=1_000_000,
        )
    )
    for how in CORRUPTIONS:
        data = corrupt_orientation(oriented_bytes(upright_image(), 6), how)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcome = ingestor.ingest(write(tmp_path / f"{how}.jpg", data))
        assert outcome.reason is None, (how, outcome.reason)
        assert (outcome.width, outcome.height) == (32, 48)
