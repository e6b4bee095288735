"""Helpers of the event log tests, and the code their child processes run.

The child processes are started with ``spawn`` (``multiprocessing``) or as
``python -m tests.events._support crash LOG SEED`` (the kill -9 trials), so everything they run
lives at module level here.
"""

from __future__ import annotations

import os
import random
import signal
import sys
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from events import ConcurrencyError, Event, EventLog, NewEvent

REPO_ROOT = Path(__file__).resolve().parents[2]
JOB_ID = "evt-00000000000000aa"


def progress(i: int) -> dict[str, Any]:
    """Valid ``JobProgress`` data."""
    return {"job_id": JOB_ID, "done": i, "total": 1000, "message": f"step {i}"}


def images(first: int, count: int) -> dict[str, Any]:
    """Valid ``ImagesAdded`` data with ``count`` images (about 200 bytes each)."""
    return {
        "images": [
            {
                "image_id": f"img-{first + k:08x}",
                "sha256": f"{first + k:064x}",
                "ext": "png",
                "filename": f"class_{k % 3}/image_{first + k:06d}.png",
                "width": 32,
                "height": 32,
                "size_bytes": 1000 + k,
                "label": f"class_{k % 3}",
            }
            for k in range(count)
        ]
    }


def new_progress(i: int, event_id: str | None = None) -> NewEvent:
    """A ``JobProgress`` event to append."""
    return NewEvent("JobProgress", progress(i), actor="job", id=event_id)


def build_log(path: Path, units: list[int]) -> list[Event]:
    """Append one unit per entry of ``units``: 1 is a single append, n > 1 a batch of n."""
    log = EventLog(path)
    appended: list[Event] = []
    for size in units:
        if size == 1:
            appended.append(log.append("JobProgress", progress(len(appended)), actor="job"))
        else:
            batch = [new_progress(len(appended) + k) for k in range(size)]
            appended.extend(log.append_many(batch))
    return appended


def line_ends(buf: bytes) -> list[int]:
    """Offsets just past each ``\\n`` of ``buf``."""
    ends = []
    pos = buf.find(b"\n")
    while pos != -1:
        ends.append(pos + 1)
        pos = buf.find(b"\n", pos + 1)
    return ends


def dicts(events: list[Event]) -> list[dict[str, Any]]:
    """Events as comparable plain data."""
    return [event.to_dict() for event in events]


def assert_is_committed_prefix(events: list[Event]) -> None:
    """Seqs run 1..N and every multi-event append in ``events`` is complete."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    last = len(events)
    for event in events:
        if event.txn is not None:
            first, end = event.txn
            assert first <= event.seq <= end <= last, f"incomplete txn {event.txn} was read"
            assert all(events[s - 1].txn == event.txn for s in range(first, end + 1))


# ---------------------------------------------------------------- child processes (spawn)
def append_plan(path: str, plan: list[list[str]], barrier: Barrier) -> None:
    """Append ``plan`` (one list of event ids per append; several ids make a batch)."""
    log = EventLog(path)
    barrier.wait()
    for number, ids in enumerate(plan):
        if len(ids) == 1:
            log.append("JobProgress", progress(number), actor="job", id=ids[0])
        else:
            log.append_many([new_progress(number, event_id) for event_id in ids])


def race_on_expected_seq(path: str, trials: int, barrier: Barrier, who: int) -> list[int]:
    """For each trial t, append with ``expected_seq=t`` right after the barrier; 1 = won."""
    log = EventLog(path)
    outcomes = []
    for trial in range(trials):
        barrier.wait()
        try:
            log.append("JobProgress", progress(who), actor="worker", expected_seq=trial)
        except ConcurrencyError:
            outcomes.append(0)
        else:
            outcomes.append(1)
    return outcomes


def _race_entry(path: str, trials: int, barrier: Barrier, who: int, results: Any) -> None:
    results.put((who, race_on_expected_seq(path, trials, barrier, who)))


# ---------------------------------------------------------------- the kill -9 child
def crash_child(path: Path, seed: int) -> None:
    """Append single events and batches of random sizes forever, reporting each one returned.

    Each append that returned is written to stdout as ``first_seq last_seq`` (one small
    ``os.write`` to a pipe, which is atomic), so the parent knows what must survive a kill.
    ``seed % 3`` picks how writes behave: 0, as they are (the parent kills at random); 1, at
    most 4 kB per ``os.write`` (short writes, as on some file systems), so the parent's kill
    often lands inside a batch's bytes; 2, short writes too, and after a random number of them
    the child kills itself with SIGKILL right after a partial write: a torn tail every time.
    """
    rng = random.Random(seed)
    out = sys.stdout.fileno()
    mode = seed % 3
    if mode:
        real_write = os.write
        writes_left = rng.randint(1, 80)

        def short_write(fd: int, data: bytes) -> int:
            nonlocal writes_left
            if fd == out:
                return real_write(fd, data)
            written = real_write(fd, memoryview(data)[: rng.randint(1, 4096)])
            writes_left -= 1
            if mode == 2 and writes_left == 0:
                os.kill(os.getpid(), signal.SIGKILL)
            return written

        os.write = short_write  # the log module calls os.write through the os module
    log = EventLog(path)
    os.write(out, b"ready\n")
    counter = 0
    while True:
        size = rng.choice([1, 1, 1, 2, 3, 7, 25])
        batch = [new_progress(counter + k) for k in range(size)]
        if rng.random() < 0.3:
            # A big batch (tens of kB), so that a kill can land in the middle of its write.
            count = rng.randint(50, 400)
            position = rng.randrange(len(batch) + 1)
            batch.insert(position, NewEvent("ImagesAdded", images(counter, count), actor="job"))
        counter += len(batch)
        events = log.append_many(batch)
        os.write(out, f"{events[0].seq} {events[-1].seq}\n".encode())


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "crash":
        crash_child(Path(sys.argv[2]), int(sys.argv[3]))
