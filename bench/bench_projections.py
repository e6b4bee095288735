"""Projections: full rebuild, incremental refresh and memory of the dataset view at 100k images.

The log: a project with 100,000 images imported in ``ImagesAdded`` batches of 500, then
100,000 single-image ``LabelChanged`` events (written directly as lines, no per-event fsync).

Figures:
    (a) full rebuild of the dataset view from the file (read + decode + fold, what a
        ``ProjectProjector`` does on its first load), beside parsing the same file with orjson
        line by line (goal <= 2x); the events reader alone is shown too. ``refresh()`` returns
        the events it read, so it keeps them all; ``update()`` folds them batch by batch as
        they are decoded and drops them.
    (b) refresh after one appended event, with the view handed out before (goal < 5 ms).
    (c) peak memory while rebuilding the dataset view, and what the view keeps (goal < 300 MB).
"""

from __future__ import annotations

import gc
import random
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.common import Row, print_table, timed
from events import EventLog, LogTail
from events.envelope import Event
from projections import ALL_PROJECTIONS, ProjectProjector, dataset
from projections.projector import gc_paused

N_IMAGES = 100_000
BATCH = 500
N_RELABELS = 100_000
CLASSES = [f"class_{i:02d}" for i in range(10)]
TS = "2026-01-01T00:00:00.000Z"
REPEAT = 3


def build_log(path: Path, n_images: int = N_IMAGES, n_relabels: int = N_RELABELS) -> int:
    """Write the benchmark's log to ``path``; returns its last seq."""
    rnd = random.Random(0)
    seq = 0
    chunk: list[bytes] = []

    def add(event_type: str, data: dict[str, Any], actor: str = "job") -> None:
        nonlocal seq
        seq += 1
        chunk.append(Event(seq, f"evt-{seq:016x}", TS, event_type, 1, actor, None, data).to_line())

    with path.open("wb") as f:
        add(
            "ProjectCreated",
            {"project_id": "proj-0badcafe", "name": "bench", "task": "classification"},
            "cli",
        )
        add("ImportRequested", {"source": "/data/bench", "format": "imagefolder", "options": {}})
        add("ClassesDefined", {"classes": CLASSES})
        for start in range(0, n_images, BATCH):
            records = [
                {
                    "image_id": f"img-{n:08x}",
                    "sha256": f"{n * 2654435761 % (1 << 64):064x}",
                    "ext": "png",
                    "filename": f"{CLASSES[n % 10]}/image_{n:06d}.png",
                    "width": 64,
                    "height": 48,
                    "size_bytes": 1000 + n % 5000,
                    "label": CLASSES[n % 10],
                    "value": None,
                }
                for n in range(start, min(start + BATCH, n_images))
            ]
            add("ImagesAdded", {"images": records})
        add(
            "ImportCompleted",
            {
                "source": "/data/bench",
                "format": "imagefolder",
                "added": n_images,
                "duplicates": 0,
                "skipped": 0,
                "duration_s": 1.0,
            },
        )
        f.write(b"".join(chunk))
        chunk.clear()
        for i in range(n_relabels):
            image_id = f"img-{rnd.randrange(n_images):08x}"
            add("LabelChanged", {"image_id": image_id, "label": rnd.choice(CLASSES), "value": None})
            if len(chunk) >= 10_000 or i == n_relabels - 1:
                f.write(b"".join(chunk))
                chunk.clear()
    return seq


def parse_lines(path: Path) -> int:
    """The baseline: decode every line of ``path`` with orjson, nothing else."""
    count = 0
    loads = orjson.loads
    with path.open("rb") as f:
        for line in f:
            loads(line)
            count += 1
    return count


def parse_lines_kept(path: Path) -> list[Any]:
    """The baseline keeping what it decodes, as any reader that returns the events must."""
    loads = orjson.loads
    with path.open("rb") as f:
        return [loads(line) for line in f]


def first_load(path: Path, names: tuple[str, ...] = ("dataset",)) -> Any:
    """What a projector does on its first load: read, decode and fold the whole log."""
    projector = ProjectProjector(path, {n: ALL_PROJECTIONS[n] for n in names})
    projector.refresh()
    return projector.view(names[0])


def first_update(path: Path, names: tuple[str, ...] = ("dataset",)) -> Any:
    """The same by ``update()``: the events are folded batch by batch, none returned."""
    projector = ProjectProjector(path, {n: ALL_PROJECTIONS[n] for n in names})
    projector.update()
    return projector.view(names[0])


def _refresh_times(path: Path, rounds: int = 20) -> tuple[list[float], list[float]]:
    """Seconds of one refresh after one appended event: (every view handed out before, none)."""
    projector = ProjectProjector(path)
    projector.refresh()
    log = EventLog(path)
    rnd = random.Random(1)
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(2 * rounds):
        handed_out = i % 2 == 0
        if handed_out:
            projector.views()
        log.append(
            "LabelChanged",
            {"image_id": f"img-{rnd.randrange(N_IMAGES):08x}", "label": rnd.choice(CLASSES)},
            actor="ui",
        )
        start = time.perf_counter()
        fresh = projector.refresh()
        elapsed = time.perf_counter() - start
        assert len(fresh) == 1
        times[0 if handed_out else 1].append(elapsed)
    return times


def _fold_time(path: Path) -> float:
    """Best seconds to fold the decoded events into a dataset view (collector paused)."""
    events = LogTail(path).poll()
    with gc_paused():
        return timed(lambda: dataset.rebuild(events), REPEAT)


def _time_travel_time(path: Path, seq: int) -> float:
    """Best seconds of ``at("dataset", seq)`` on a loaded projector (a rebuild: nothing cached)."""
    best = float("inf")
    for _ in range(REPEAT):
        projector = ProjectProjector(path, {"dataset": ALL_PROJECTIONS["dataset"]})
        projector.refresh()
        start = time.perf_counter()
        view = projector.at("dataset", seq)
        best = min(best, time.perf_counter() - start)
        assert view.seq == seq
    return best


def _memory(path: Path, load: Callable[[Path], Any] = first_load) -> tuple[float, float]:
    """MB: (peak while loading the dataset view from the file, kept by the view afterwards)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        view = load(path)
        gc.collect()
        peak = tracemalloc.get_traced_memory()[1] - before
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(view.images) == N_IMAGES
    return peak / 1e6, kept / 1e6


def main() -> None:
    """Build the log in a temporary folder, measure, print the table."""
    with tempfile.TemporaryDirectory(prefix="bench-projections-") as tmp:
        path = Path(tmp) / "events.jsonl"
        start = time.perf_counter()
        last_seq = build_log(path)
        build_s = time.perf_counter() - start
        size_mb = path.stat().st_size / 1e6

        parse_s = timed(lambda: parse_lines(path), REPEAT)
        kept_s = timed(lambda: parse_lines_kept(path), REPEAT)
        reader_s = timed(lambda: LogTail(path).poll(), REPEAT)
        fold_s = _fold_time(path)
        rebuild_s = timed(lambda: first_load(path), REPEAT)
        update_s = timed(lambda: first_update(path), REPEAT)
        all_s = timed(lambda: first_load(path, tuple(ALL_PROJECTIONS)), REPEAT)
        all_update_s = timed(lambda: first_update(path, tuple(ALL_PROJECTIONS)), REPEAT)
        view = first_load(path)
        assert view.seq == last_seq and len(view.images) == N_IMAGES
        del view

        at_s = _time_travel_time(path, last_seq // 2)
        handed, quiet = _refresh_times(path)
        peak_mb, kept_mb = _memory(path)
        update_peak_mb, _ = _memory(path, first_update)

        n_views = len(ALL_PROJECTIONS)
        rows = [
            Row("log: events", last_seq, "events"),
            Row("log: size", size_mb, "MB"),
            Row("log: written in", build_s, "s"),
            Row(
                "(a) dataset view, full rebuild from file",
                rebuild_s,
                "s",
                "orjson",
                parse_s,
                "<= 2x",
            ),
            Row("    the same", rebuild_s, "s", "orjson, kept", kept_s, "<= 2x"),
            Row("    the same by update() (events not kept)", update_s, "s", "orjson", parse_s),
            Row("    events reader alone (LogTail.poll)", reader_s, "s", "orjson", parse_s),
            Row("    dataset fold alone (decoded events)", fold_s, "s", "orjson", parse_s),
            Row(f"    all {n_views} views, full rebuild", all_s, "s", "orjson", parse_s),
            Row(f"    all {n_views} views by update()", all_update_s, "s", "orjson", parse_s),
            Row(
                "(b) refresh, 1 new event, views handed out",
                statistics.median(handed) * 1e3,
                "ms",
                "max",
                max(handed) * 1e3,
                "< 5 ms",
            ),
            Row(
                "    refresh, 1 new event, views not handed out",
                statistics.median(quiet) * 1e3,
                "ms",
                "max",
                max(quiet) * 1e3,
                "< 5 ms",
            ),
            Row("    at(seq) halfway, dataset view (no cache)", at_s, "s", "full", rebuild_s),
            Row("(c) peak memory, dataset view load (tracemalloc)", peak_mb, "MB", goal="< 300 MB"),
            Row("    peak memory, the same by update()", update_peak_mb, "MB", goal="< 300 MB"),
            Row("    memory kept by the dataset view", kept_mb, "MB", goal="< 300 MB"),
        ]
        print_table("projections: 100k images + 100k relabels", rows)


if __name__ == "__main__":
    main()
