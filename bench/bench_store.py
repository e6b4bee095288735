"""Store upkeep: the orphan sweep (``aistudio gc``) and the thumbnail rebuild.

Run with ``python -m bench store``.

(a) ``collect_garbage(dry_run=True)`` on a project whose log names 10,000 stored images (plus
    their thumbnails) and whose store holds 100 orphans, beside a bare ``os.scandir`` listing of
    the same folders in the same run: the sweep reads the log's references and lists the store;
    it is what every import does when it starts, so it must stay a small fraction of an import.
(b) ``aistudio thumbnails --all`` over 1,000 imported 256 px JPEGs, beside the import of the same
    files in the same run (which makes the same thumbnails, and more).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

from aistudio.datasets.demo import write_random_jpegs
from aistudio.datasets.importer import run_import
from aistudio.datasets.orphans import collect_garbage
from aistudio.datasets.store import sha256_hex
from aistudio.datasets.thumbnails import rebuild_thumbnails
from aistudio.worker.context import JobContext
from aistudio.workspace import Workspace, new_id
from bench.common import Row, print_table, timed
from events import EventLog, NewEvent

N_STORED = 10_000
N_ORPHANS = 100
N_JPEGS = 1_000
BATCH = 500


def _project(workspace: Workspace) -> tuple[str, EventLog]:
    project_id = new_id("proj")
    log = EventLog(workspace.events_path(project_id))
    log.append(
        "ProjectCreated", {"project_id": project_id, "name": "bench", "task": "classification"}
    )
    return project_id, log


def _fake_store(workspace: Workspace) -> str:
    """A project whose log names ``N_STORED`` tiny stored files, with ``N_ORPHANS`` more."""
    project_id, log = _project(workspace)
    records = []
    for i in range(N_STORED + N_ORPHANS):
        data = f"image {i}".encode()
        sha = sha256_hex(data)
        for path in (
            workspace.image_path(project_id, sha, "png"),
            workspace.thumb_path(project_id, sha),
        ):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if i < N_STORED:
            records.append(
                {
                    "image_id": new_id("img"),
                    "sha256": sha,
                    "ext": "png",
                    "filename": f"c/{i}.png",
                    "width": 8,
                    "height": 8,
                    "size_bytes": len(data),
                    "label": "c",
                    "value": None,
                }
            )
    log.append_many(
        [
            NewEvent("ImagesAdded", {"images": records[i : i + BATCH]}, actor="job")
            for i in range(0, len(records), BATCH)
        ]
    )
    return project_id


def _listing(workspace: Workspace, project_id: str) -> int:
    count = 0
    roots = [
        workspace.project_dir(project_id) / "images",
        workspace.project_dir(project_id) / "thumbs",
    ]
    for root in roots:
        for entry in os.scandir(root):
            if entry.is_dir():
                count += sum(1 for _ in os.scandir(entry.path))
            else:
                count += 1
    return count


def main() -> None:
    logging.getLogger("aistudio").setLevel(logging.WARNING)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        root = Path(tmp)
        workspace = Workspace(root / "workspace")
        workspace.ensure()

        project_id = _fake_store(workspace)
        found = collect_garbage(workspace, project_id, dry_run=True)
        if found.files != 2 * N_ORPHANS:
            raise RuntimeError(f"the sweep found {found.files} files, expected {2 * N_ORPHANS}")
        listing = timed(lambda: _listing(workspace, project_id), repeat=5)
        sweep = timed(lambda: collect_garbage(workspace, project_id, dry_run=True), repeat=5)
        rows.append(
            Row(
                f"(a) gc sweep, {N_STORED:,} images named",
                sweep * 1e3,
                "ms",
                "scandir",
                listing * 1e3,
            )
        )

        source = root / "source"
        write_random_jpegs(source, N_JPEGS, size=256, classes=4)
        imported, log = _project(workspace)
        command = log.append("ImportRequested", {"source": str(source), "format": "imagefolder"})
        start = time.perf_counter()
        result = run_import(JobContext(workspace, imported, command))
        log.append_many(result.events)
        result.release()
        import_s = time.perf_counter() - start
        rebuild_s = timed(lambda: rebuild_thumbnails(workspace, imported, everything=True), 2)
        rows.append(
            Row(
                f"(b) thumbnails --all, {N_JPEGS:,} JPEGs 256 px",
                rebuild_s,
                "s",
                "import",
                import_s,
            )
        )
    print_table("Store upkeep: orphan sweep and thumbnail rebuild", rows)


if __name__ == "__main__":
    main()
