"""Rebuilding thumbnails from the originals: missing ones only, or all; the import's own bytes;
removed images too; bad originals listed; under the images lock held shared."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from aistudio.datasets.importer import run_import
from aistudio.datasets.orphans import ImagesLock
from aistudio.datasets.store import encode_thumbnail
from aistudio.datasets.thumbnails import rebuild_thumbnails
from aistudio.workspace import Workspace
from events import EventLog
from tests.datasets.support import events_of, make_project, request_import, set_settings, write
from tests.exif_images import mean_abs_diff, oriented_bytes, stored_pixels, upright_image

N = 20
"""Images of the test project: more than one batch of 8, so that 3 threads share them."""


def _import(ws: Workspace, source: Path, project_id: str | None = None) -> str:
    """Import ``source`` into a (new) project and commit it as the runner would."""
    project_id = project_id or make_project(ws)
    ctx = request_import(ws, project_id, source)
    result = run_import(ctx)
    ctx.log.append_many(result.events)
    result.release()
    return project_id


def _records(ws: Workspace, project_id: str) -> list[dict[str, object]]:
    return [
        r for e in events_of(ws, project_id) if e.type == "ImagesAdded" for r in e.data["images"]
    ]


def _thumbs(ws: Workspace, project_id: str) -> dict[str, Path]:
    return {
        str(r["sha256"]): ws.thumb_path(project_id, str(r["sha256"]))
        for r in _records(ws, project_id)
    }


def _photos(src: Path, n: int) -> Path:
    """``n`` distinct JPEGs (noisy, so that thumbnails are not trivial) in two classes."""
    for i in range(n):
        pixels = Image.effect_noise((40, 30), 40 + i).convert("RGB")
        buffer = io.BytesIO()
        pixels.save(buffer, format="JPEG", quality=90)
        write(src / ("cat" if i % 2 else "dog") / f"{i}.jpg", buffer.getvalue())
    return src


def _state(paths: dict[str, Path]) -> dict[str, tuple[int, bytes]]:
    return {sha: (p.stat().st_mtime_ns, p.read_bytes()) for sha, p in paths.items()}


@pytest.fixture
def project(ws: Workspace, src: Path) -> str:
    return _import(ws, _photos(src, N))


def test_only_missing_thumbnails_are_written(ws: Workspace, project: str) -> None:
    thumbs = _thumbs(ws, project)
    assert len(thumbs) == N and all(p.is_file() for p in thumbs.values())
    imported = {sha: p.read_bytes() for sha, p in thumbs.items()}
    deleted = sorted(thumbs)[:2]
    for sha in deleted:
        thumbs[sha].unlink()
    kept = {sha: p for sha, p in thumbs.items() if sha not in deleted}
    before = _state(kept)

    report = rebuild_thumbnails(ws, project)

    assert (report.rebuilt, report.skipped, report.failed) == (2, N - 2, [])
    assert report.summary().startswith(f"rebuilt 2 thumbnails, {N - 2} already there, 0 failed (")
    assert _state(kept) == before  # untouched: same mtime, same bytes
    for sha in deleted:
        assert thumbs[sha].read_bytes() == imported[sha]
    assert not list(ws.tmp_dir(project).glob("*.part"))
    again = rebuild_thumbnails(ws, project)
    assert (again.rebuilt, again.skipped) == (0, N)


@pytest.mark.parametrize("workers", [1, 3])
def test_everything_rewrites_all_with_the_imports_bytes(
    ws: Workspace, project: str, workers: int
) -> None:
    thumbs = _thumbs(ws, project)
    imported = {sha: p.read_bytes() for sha, p in thumbs.items()}
    for path in thumbs.values():
        path.write_bytes(b"stale")
        os.utime(path, ns=(1, 1))

    report = rebuild_thumbnails(ws, project, everything=True, workers=workers)

    assert (report.rebuilt, report.skipped, report.failed) == (N, 0, [])
    for sha, path in thumbs.items():
        assert path.read_bytes() == imported[sha]  # the same code path and settings
        assert path.stat().st_mtime_ns != 1
    assert not list(ws.tmp_dir(project).glob("*.part"))


def test_the_thumbnail_size_comes_from_the_settings(ws: Workspace, project: str) -> None:
    set_settings(ws, thumbnail_px=24)
    rebuild_thumbnails(ws, project, everything=True)
    for path in _thumbs(ws, project).values():
        with Image.open(path) as thumb:
            assert thumb.format == "JPEG" and max(thumb.size) == 24


def test_a_removed_images_thumbnail_is_rebuilt_too(ws: Workspace, project: str) -> None:
    record = _records(ws, project)[0]
    EventLog(ws.events_path(project)).append("ImageRemoved", {"image_id": record["image_id"]})
    thumbs = _thumbs(ws, project)
    for path in thumbs.values():
        path.unlink()

    report = rebuild_thumbnails(ws, project)

    assert (report.rebuilt, report.failed) == (N, [])
    assert thumbs[str(record["sha256"])].is_file()


def test_bad_originals_are_listed_and_the_rest_rebuilt(ws: Workspace, project: str) -> None:
    records = _records(ws, project)
    corrupt, missing = records[0], records[1]
    corrupt_path = ws.image_path(project, str(corrupt["sha256"]), str(corrupt["ext"]))
    corrupt_path.write_bytes(corrupt_path.read_bytes()[:40])  # truncated
    ws.image_path(project, str(missing["sha256"]), str(missing["ext"])).unlink()
    thumbs = _thumbs(ws, project)
    for path in thumbs.values():
        path.unlink()

    report = rebuild_thumbnails(ws, project, workers=3)

    assert (report.rebuilt, report.skipped) == (N - 2, 0)
    reasons = {f.image.sha256: f.reason for f in report.failed}
    assert set(reasons) == {corrupt["sha256"], missing["sha256"]}
    assert "corrupt or truncated" in reasons[str(corrupt["sha256"])]
    assert reasons[str(missing["sha256"])] == "the original is missing"
    failure = next(f for f in report.failed if f.image.sha256 == corrupt["sha256"])
    assert failure.original == corrupt_path and failure.image.filename == corrupt["filename"]
    for sha, path in thumbs.items():
        assert path.is_file() == (sha not in reasons)
    assert report.summary().startswith(f"rebuilt {N - 2} thumbnails, 0 already there, 2 failed (")


def test_the_images_lock_is_held_shared_meanwhile(ws: Workspace, project: str) -> None:
    seen: list[tuple[int, int, bool]] = []

    def progress(done: int, total: int) -> None:
        exclusive = ImagesLock.try_acquire(ws, project, exclusive=True)
        seen.append((done, total, exclusive is None))
        if exclusive is not None:
            exclusive.release()
        shared = ImagesLock.try_acquire(ws, project, exclusive=False)  # imports may run along
        assert shared is not None
        shared.release()

    rebuild_thumbnails(ws, project, everything=True, progress=progress)

    assert seen == [(i, N, True) for i in range(1, N + 1)]
    after = ImagesLock.try_acquire(ws, project, exclusive=True)
    assert after is not None
    after.release()


def test_a_project_without_images(ws: Workspace) -> None:
    report = rebuild_thumbnails(ws, make_project(ws), everything=True)
    assert (report.rebuilt, report.skipped, report.failed) == (0, 0, [])


def test_a_sideways_thumbnail_of_an_oriented_jpeg_is_upright_after_all(
    ws: Workspace, src: Path
) -> None:
    set_settings(ws, thumbnail_px=48)
    upright = upright_image()  # 48 x 32
    write(src / "cat" / "photo.jpg", oriented_bytes(upright, 6))
    project = _import(ws, src)
    (path,) = _thumbs(ws, project).values()
    imported = path.read_bytes()
    # What an import made before EXIF orientations were honoured: the stored pixels, turned.
    path.write_bytes(encode_thumbnail(stored_pixels(upright, 6), 48))
    with Image.open(path) as old:
        assert old.size == (32, 48)

    report = rebuild_thumbnails(ws, project)  # present: left alone without everything
    assert (report.rebuilt, report.skipped) == (0, 1)
    report = rebuild_thumbnails(ws, project, everything=True)

    assert (report.rebuilt, report.failed) == (1, [])
    assert path.read_bytes() == imported
    with Image.open(path) as thumb:
        assert thumb.size == upright.size
        assert mean_abs_diff(thumb.convert("RGB"), upright) < 8
