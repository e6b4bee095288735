"""The decompression-bomb skip quotes the limit in force: the workspace's ``max_image_pixels``
(issue 9, item 9), never Pillow's own (``2 * Image.MAX_IMAGE_PIXELS`` = 178,956,970)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from PIL import Image

from aistudio.datasets.images import ImageRefusedError, decode_image, inspect_image
from aistudio.datasets.importer import run_import
from aistudio.workspace import Workspace
from tests.datasets.support import image_bytes, make_project, request_import, write, write_png
from tests.datasets.test_images import _png_header_only

WORKSPACE_LIMIT = 89_478_485
PILLOW_ERROR_LIMIT = 2 * 89_478_485  # 178,956,970: Pillow raises above it while opening


def _refusal(data: bytes, max_pixels: int) -> str:
    with pytest.raises(ImageRefusedError) as caught:
        inspect_image(data, max_pixels)
    return str(caught.value)


def test_beyond_pillows_own_guard_the_workspace_limit_is_quoted() -> None:
    data = _png_header_only(20_000, 10_000)  # 200,000,000 pixels: Pillow refuses it itself
    assert PILLOW_ERROR_LIMIT < 20_000 * 10_000
    reason = _refusal(data, WORKSPACE_LIMIT)
    assert reason == (
        "too many pixels: 200,000,000 exceeds the limit of 89,478,485 (decompression-bomb guard)"
    )
    assert "178" not in reason
    assert "exceeds the limit of 2,000 " in _refusal(data, 2000)


def test_pillows_warning_turned_into_an_error_quotes_the_workspace_limit() -> None:
    data = _png_header_only(10_000, 10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        reason = _refusal(data, WORKSPACE_LIMIT)
    assert reason == (
        "too many pixels: 100,000,000 exceeds the limit of 89,478,485 (decompression-bomb guard)"
    )


def test_a_workspace_limit_above_pillows_is_the_one_in_force(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses above 2,000
    data = image_bytes("PNG", (64, 64), color=3)  # 4,096 pixels
    info, image = decode_image(data, 10_000)
    image.close()
    assert (info.width, info.height) == (64, 64)
    reason = _refusal(data, 3000)
    assert reason == (
        "too many pixels: 64x64 = 4,096 exceeds the limit of 3,000 (decompression-bomb guard)"
    )


def test_import_skip_quotes_the_workspace_setting(workspace: Workspace, src: Path) -> None:
    write_png(src / "cat" / "ok.png", 1)
    write(src / "cat" / "huge.png", _png_header_only(20_000, 10_000))
    project_id = make_project(workspace)
    ctx = request_import(workspace, project_id, src)
    assert ctx.settings.max_image_pixels == WORKSPACE_LIMIT
    result = run_import(ctx)
    result.release()
    skipped = {
        item["path"]: item["reason"]
        for e in result.events
        if e.type == "ImportSkipped"
        for item in e.data["items"]
    }
    assert skipped == {
        "cat/huge.png": (
            "too many pixels: 200,000,000 exceeds the limit of 89,478,485 "
            "(decompression-bomb guard)"
        )
    }
