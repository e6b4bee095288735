"""One file into the store (ingest), and the ordered parallel map the import runs it on."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from aistudio.datasets import importer
from aistudio.datasets.ingest import IngestConfig, Ingestor
from aistudio.datasets.parallel import map_batches
from aistudio.datasets.store import sha256_hex
from aistudio.workspace import Workspace
from tests.datasets.support import image_bytes, make_project, write, write_png


def _ingestor(workspace: Workspace, **overrides: object) -> Ingestor:
    values: dict[str, object] = {
        "workspace_root": str(workspace.root),
        "project_id": make_project(workspace),
        "max_pixels": 10_000,
        "thumbnail_px": 16,
        "max_bytes": 1_000_000,
    }
    values.update(overrides)
    return Ingestor(IngestConfig(**values))  # type: ignore[arg-type]


def test_ingest_stores_original_and_thumbnail(workspace: Workspace, tmp_path: Path) -> None:
    ingestor = _ingestor(workspace)
    path = write(tmp_path / "a.bin", image_bytes("JPEG", (40, 32)))  # the name does not matter
    outcome = ingestor.ingest(path)
    assert (outcome.ext, outcome.width, outcome.height, outcome.reason) == ("jpg", 40, 32, None)
    assert outcome.sha256 == sha256_hex(path.read_bytes())
    project = ingestor.config.project_id
    assert workspace.image_path(project, outcome.sha256, "jpg").is_file()
    assert workspace.thumb_path(project, outcome.sha256).is_file()


def test_known_content_is_not_inspected_again(workspace: Workspace, tmp_path: Path) -> None:
    path = write_png(tmp_path / "a.png")
    ingestor = _ingestor(workspace, known_sha256=frozenset({sha256_hex(path.read_bytes())}))
    outcome = ingestor.ingest(path)
    assert outcome.known and outcome.reason is None
    assert not (workspace.project_dir(ingestor.config.project_id) / "images").exists()


def test_too_large_and_unreadable_files_are_refused(workspace: Workspace, tmp_path: Path) -> None:
    ingestor = _ingestor(workspace, max_bytes=100)
    big = write(tmp_path / "big.png", image_bytes("PNG", (40, 32)).ljust(281, b"\x00"))
    assert ingestor.ingest(big).reason == "file too large: 281 bytes (the limit is 100 bytes)"
    missing = ingestor.ingest(tmp_path / "gone.png")
    assert missing.reason == "cannot read the file: No such file or directory"
    assert ingestor.ingest(tmp_path).reason is not None  # a folder cannot be read as a file


def test_default_workers() -> None:
    assert importer.default_workers(importer.PARALLEL_MIN_FILES - 1, "thread") == 1
    many = importer.PARALLEL_MIN_FILES
    assert importer.default_workers(many, "thread") == importer.default_workers(many, "process") + 1


@pytest.mark.parametrize("workers", [1, 3])
def test_map_batches_keeps_the_order(workers: int) -> None:
    def square(batch: list[int]) -> list[int]:
        return [i * i for i in batch]

    out = list(map_batches(square, list(range(50)), batch_size=4, workers=workers))
    assert out == [i * i for i in range(50)]


def test_map_batches_stops_its_threads_when_closed_early() -> None:
    started = threading.active_count()
    results = map_batches(lambda b: b, list(range(1000)), batch_size=1, workers=3)
    assert next(results) == 0
    results.close()
    assert threading.active_count() == started


def test_map_batches_passes_a_worker_error_on() -> None:
    def fail(batch: list[int]) -> list[int]:
        if 7 in batch:
            raise OSError("disk full")
        return batch

    results = map_batches(fail, list(range(20)), batch_size=2, workers=2)
    with pytest.raises(OSError, match="disk full"):
        list(results)
