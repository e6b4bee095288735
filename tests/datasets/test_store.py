"""The content-addressed store: atomic originals and thumbnails at the workspace's paths."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from aistudio.datasets.store import ImageStore, encode_thumbnail, sha256_hex, to_rgb
from aistudio.workspace import Workspace
from tests.datasets.support import image_bytes, make_project


@pytest.fixture
def store(workspace: Workspace) -> ImageStore:
    return ImageStore(workspace, make_project(workspace))


def test_original_goes_to_its_content_address(workspace: Workspace, store: ImageStore) -> None:
    data = image_bytes("PNG")
    sha = sha256_hex(data)
    assert store.put_original(sha, "png", data) is True
    path = workspace.image_path(store.project_id, sha, "png")
    assert path.read_bytes() == data
    assert path.parent.name == sha[:2]
    assert list(workspace.tmp_dir(store.project_id).iterdir()) == []  # no temporary left


def test_storing_the_same_content_twice_writes_once(store: ImageStore) -> None:
    data = image_bytes("PNG")
    sha = sha256_hex(data)
    assert store.put_original(sha, "png", data) is True
    assert store.put_original(sha, "png", data) is False
    jpeg = encode_thumbnail(Image.open(io.BytesIO(data)), 16)
    assert store.put_thumbnail(sha, jpeg) is True
    assert store.put_thumbnail(sha, jpeg) is False


def test_a_damaged_stored_original_is_rewritten(store: ImageStore) -> None:
    data = image_bytes("PNG")
    sha = sha256_hex(data)
    store.put_original(sha, "png", data)
    path = store.original_path(sha, "png")
    path.write_bytes(data[:10])  # a copy cut short by someone else
    assert store.put_original(sha, "png", data) is True
    assert path.read_bytes() == data


def test_thumbnail_is_a_small_rgb_jpeg(workspace: Workspace, store: ImageStore) -> None:
    data = image_bytes("PNG", size=(64, 40))
    sha = sha256_hex(data)
    store.put_thumbnail(sha, encode_thumbnail(Image.open(io.BytesIO(data)), 16))
    path = workspace.thumb_path(store.project_id, sha)
    with Image.open(path) as thumb:
        assert (thumb.format, thumb.mode, thumb.size) == ("JPEG", "RGB", (16, 10))
    store.sync([sha])  # fsyncs the folders; nothing to see but it must not fail


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "1", "CMYK", "I;16", "I", "F", "L", "YCbCr"])
def test_every_mode_becomes_rgb(mode: str) -> None:
    rgb = to_rgb(Image.new(mode, (8, 6)))
    assert (rgb.mode, rgb.size) == ("RGB", (8, 6))


def test_transparency_is_shown_on_white() -> None:
    clear = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert to_rgb(clear).getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_images_are_stretched_not_clipped() -> None:
    pixels = np.array([[1000, 2000], [3000, 4000]], dtype=np.uint16)
    image = Image.fromarray(pixels)
    assert image.mode.startswith("I")
    values = sorted(np.asarray(to_rgb(image))[:, :, 0].ravel().tolist())
    assert values == [0, 85, 170, 255]
