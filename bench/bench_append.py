"""Durable appends per second, next to a bare ``os.write`` + ``fdatasync`` loop.

``python -m bench append`` prints, each beside a baseline measured in the same run:

- one process appending single events (``EventLog.append``) versus one process writing the
  same bytes to a plain file with ``os.write`` + ``os.fdatasync`` per line;
- four processes appending to one log at once versus four processes writing the same bytes to
  one plain ``O_APPEND`` file (no lock, no reading of the tail).

The ratio is ours / baseline (1.0 means the log costs nothing beyond the durable write itself).
Set ``AISTUDIO_BENCH_DIR`` to measure on another file system than the temporary folder's.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
import time
from collections.abc import Callable
from multiprocessing.synchronize import Barrier
from pathlib import Path

from bench.common import Row, print_table

SINGLE_APPENDS = 2000
PROCESSES = 4
APPENDS_PER_PROCESS = 500
ROUNDS = 2
_fsync = getattr(os, "fdatasync", os.fsync)

JOB_ID = "evt-0123456789abcdef"


def _payload(i: int) -> dict[str, object]:
    return {"job_id": JOB_ID, "done": i, "total": 10_000, "message": f"step {i}"}


def _sample_line() -> bytes:
    """A line as the log stores it, for the baseline to write the same number of bytes."""
    from events.envelope import Event, new_event_id, utc_timestamp

    event = Event(
        seq=123_456,
        id=new_event_id(),
        ts=utc_timestamp(),
        type="JobProgress",
        v=1,
        actor="job",
        causation=JOB_ID,
        data=_payload(1234),
    )
    return event.to_line()


def _append_events(path: Path, count: int) -> None:
    from events import EventLog

    log = EventLog(path)
    for i in range(count):
        log.append("JobProgress", _payload(i), actor="job", causation=JOB_ID)


def _write_lines(path: Path, count: int) -> None:
    line = _sample_line()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for _ in range(count):
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            _fsync(fd)
    finally:
        os.close(fd)


def _child(kind: str, path: str, count: int, barrier: Barrier) -> None:
    work = _append_events if kind == "log" else _write_lines
    if kind == "log":
        import events  # noqa: F401  (import pydantic and the schemas before the clock starts)
    barrier.wait()
    work(Path(path), count)


def _one_process(work: Callable[[Path, int], None], folder: Path, count: int) -> float:
    path = folder / f"single-{work.__name__}.jsonl"
    start = time.perf_counter()
    work(path, count)
    return count / (time.perf_counter() - start)


def _many_processes(kind: str, folder: Path, processes: int, count: int) -> float:
    ctx = mp.get_context("spawn")
    path = folder / f"many-{kind}.jsonl"
    barrier = ctx.Barrier(processes + 1)
    children = [
        ctx.Process(target=_child, args=(kind, str(path), count, barrier)) for _ in range(processes)
    ]
    for child in children:
        child.start()
    barrier.wait()
    start = time.perf_counter()
    for child in children:
        child.join()
    elapsed = time.perf_counter() - start
    failed = [c.exitcode for c in children if c.exitcode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} benchmark process(es) failed: exit codes {failed}")
    return processes * count / elapsed


def main() -> None:
    """Measure and print durable append rates beside the bare write + fdatasync baseline."""
    import events  # noqa: F401  (warm the imports before timing)

    root = os.environ.get("AISTUDIO_BENCH_DIR")
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-append-", dir=root) as tmp:
        folder = Path(tmp)
        _one_process(_append_events, folder, 20)  # warm the file system and the code, untimed
        # Ours and the baselines alternate, best of ROUNDS, so that a slow moment of the disk
        # does not land on one side only.
        for _ in range(ROUNDS):
            for name, measure in (
                ("single base", lambda: _one_process(_write_lines, folder, SINGLE_APPENDS)),
                ("single", lambda: _one_process(_append_events, folder, SINGLE_APPENDS)),
                ("many base", lambda: _many("plain", folder)),
                ("many", lambda: _many("log", folder)),
            ):
                best[name] = max(best.get(name, 0.0), measure())
                for leftover in folder.glob("*.jsonl*"):
                    leftover.unlink()
    rows = [
        Row(
            f"EventLog.append, 1 process x {SINGLE_APPENDS}",
            best["single"],
            "ev/s",
            "write+fdatasync",
            best["single base"],
            "ratio >= 0.7",
        ),
        Row(
            f"EventLog.append, {PROCESSES} processes x {APPENDS_PER_PROCESS}",
            best["many"],
            "ev/s",
            f"{PROCESSES} procs write+fdatasync",
            best["many base"],
            "ratio >= 0.5",
        ),
    ]
    print_table(f"durable appends (best of {ROUNDS})", rows)


def _many(kind: str, folder: Path) -> float:
    return _many_processes(kind, folder, PROCESSES, APPENDS_PER_PROCESS)


if __name__ == "__main__":
    main()
