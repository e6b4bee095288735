"""Import throughput: generated JPEGs through ``run_import`` on a temporary workspace.

Run with ``python -m bench import``. The baseline, measured in the same run on the same files,
is a bare loop that only reads and sha256s each file: the floor any import pays. Each import
goes into a fresh project, so every image is inspected, stored and thumbnailed (nothing is a
duplicate); the best of two runs counts. Goal: at least 200 images/s on 2 cores.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from pathlib import Path

from aistudio.datasets.demo import write_random_jpegs
from aistudio.datasets.importer import run_import
from aistudio.datasets.parallel import ExecutorKind, available_cpus
from aistudio.worker.context import JobContext, JobResult
from aistudio.workspace import Workspace, new_id
from bench.common import Row, print_table, timed
from events import EventLog

N_IMAGES = 2000
IMAGE_SIZE = 256
GOAL = ">= 200 images/s"
REPEAT = 2
"""Each way is timed this many times (each into a fresh project); the best time counts."""


def _import_once(
    workspace: Workspace,
    source: Path,
    workers: int | None = None,
    executor: ExecutorKind | None = None,
) -> tuple[float, JobResult]:
    """Seconds to import ``source`` into a fresh project, and the job's result."""
    project_id = new_id("proj")
    log = EventLog(workspace.events_path(project_id))
    log.append(
        "ProjectCreated", {"project_id": project_id, "name": "bench", "task": "classification"}
    )
    command = log.append("ImportRequested", {"source": str(source), "format": "imagefolder"})
    ctx = JobContext(workspace, project_id, command)
    start = time.perf_counter()
    result = run_import(ctx, workers=workers, executor=executor)
    elapsed = time.perf_counter() - start
    added = result.summary["added"]
    if added != N_IMAGES:
        raise RuntimeError(f"the benchmark import added {added} images, expected {N_IMAGES}")
    return elapsed, result


def main(n_images: int = N_IMAGES, size: int = IMAGE_SIZE) -> None:
    """Generate the images, measure the baseline and each way of importing, print the table."""
    logging.getLogger("aistudio").setLevel(logging.WARNING)
    cpus = available_cpus()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        root = Path(tmp)
        source = root / "source"
        files = write_random_jpegs(source, n_images, size=size, classes=4)
        mean_kib = sum(f.stat().st_size for f in files) / len(files) / 1024
        workspace = Workspace(root / "workspace")
        workspace.ensure()

        def read_and_hash() -> None:
            for path in files:
                hashlib.sha256(path.read_bytes()).hexdigest()

        read_and_hash()  # warm the page cache, as the imports will find it
        baseline = n_images / timed(read_and_hash, repeat=3)
        label = f"{n_images} JPEG {size}px"
        rows: list[Row] = []
        ways: list[tuple[str, int | None, ExecutorKind | None]] = [
            ("1 thread", 1, "thread"),
            (f"{cpus} threads", cpus, "thread"),
            (f"{cpus + 1} threads", cpus + 1, "thread"),
            (f"{cpus} processes", cpus, "process"),
            (f"{cpus + 1} processes", cpus + 1, "process"),
            ("defaults", None, None),
        ]
        for name, workers, executor in ways:
            elapsed = min(
                _import_once(workspace, source, workers, executor)[0] for _ in range(REPEAT)
            )
            rows.append(
                Row(
                    name=f"import {label}, {name}",
                    value=n_images / elapsed,
                    unit="img/s",
                    baseline_name="read+sha256",
                    baseline=baseline,
                    goal=GOAL,
                )
            )
    title = f"dataset import: {n_images} JPEGs of {size}x{size} px, {mean_kib:.0f} KiB on average"
    print_table(title, rows)


if __name__ == "__main__":
    main()
