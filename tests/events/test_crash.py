"""A crash at any moment leaves a log that reads as a prefix of the appends (DESIGN §3, 1, 3, 5)."""

from __future__ import annotations

import logging
import random
import subprocess
import sys
import time
from pathlib import Path

from events import EventLog, verify_log
from tests.events._support import (
    REPO_ROOT,
    assert_is_committed_prefix,
    build_log,
    dicts,
    line_ends,
    progress,
)

logger = logging.getLogger(__name__)
KILL_TRIALS = 24


def _check_after_crash(path: Path, returned: list[tuple[int, int]]) -> int:
    """The log is a committed prefix holding every returned append; a new append cuts the tail."""
    chunk = EventLog(path).read_all()
    stored = chunk.events
    assert_is_committed_prefix(stored)
    for first, last in returned:
        assert last <= len(stored), f"the returned append {first}..{last} was lost"
        txn = (first, last) if last > first else None
        assert all(stored[seq - 1].txn == txn for seq in range(first, last + 1))
    assert EventLog(path).last_seq() == len(stored)
    report = verify_log(path)
    assert report.ok, report.problems
    assert report.torn_tail_bytes == chunk.tail_bytes

    marker = EventLog(path).append("JobProgress", progress(999), actor="script")
    assert marker.seq == len(stored) + 1
    assert path.stat().st_size == chunk.end_offset + len(marker.to_line())
    after = verify_log(path)
    assert after.ok and after.torn_tail_bytes == 0 and after.last_seq == marker.seq
    return chunk.tail_bytes


def test_kill_9_at_random_moments_leaves_a_readable_prefix(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    rng = random.Random(2024)
    returned: list[tuple[int, int]] = []
    torn = 0
    for trial in range(KILL_TRIALS):
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.events._support", "crash", str(path), str(trial)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
        )
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        reports = [child.stdout.readline() for _ in range(rng.randint(0, 12))]
        # A random pause of up to 3 ms puts the kill at a random point of the next append.
        time.sleep(rng.random() * 0.003)
        child.kill()
        child.wait(timeout=30)
        reports += child.stdout.read().splitlines()
        child.stdout.close()
        for report in filter(None, (line.strip() for line in reports)):  # b"" once it died
            first, last = map(int, report.split())
            returned.append((first, last))
        torn += bool(_check_after_crash(path, returned))
    logger.info("%d of %d kills left a torn tail", torn, KILL_TRIALS)
    assert torn >= 1, "no kill left a torn tail: the cutting of one was not exercised"
    assert len(returned) >= KILL_TRIALS // 2, "the children hardly appended anything"


def test_every_truncation_reads_as_a_prefix_and_accepts_an_append(tmp_path: Path) -> None:
    """Cut a copy of a small log at every byte offset: it reads as a prefix, never an error."""
    original_path = tmp_path / "original.jsonl"
    appended = build_log(original_path, [2, 1, 3, 2, 1, 1, 4, 1])
    original = original_path.read_bytes()
    ends = line_ends(original)
    # committed_at[k] = number of events readable once line k (0-based) is complete.
    committed_at = []
    for index, event in enumerate(appended):
        done = event.txn is None or event.seq == event.txn[1]
        committed_at.append(index + 1 if done else (committed_at[-1] if committed_at else 0))
    path = tmp_path / "events.jsonl"
    for cut in range(len(original) + 1):
        path.write_bytes(original[:cut])
        complete_lines = sum(1 for end in ends if end <= cut)
        expected = committed_at[complete_lines - 1] if complete_lines else 0
        log = EventLog(path)
        chunk = log.read_all()
        assert dicts(chunk.events) == dicts(appended[:expected]), f"cut at byte {cut}"
        assert chunk.end_offset == (ends[expected - 1] if expected else 0)
        assert log.last_seq() == expected
        tail = log.tail()
        assert dicts(tail.poll()) == dicts(appended[:expected])
        report = verify_log(path)
        assert report.ok and report.events == expected, (cut, report.problems)

        new = log.append("JobProgress", progress(cut % 1000), actor="script")
        assert new.seq == expected + 1
        assert dicts(tail.poll()) == [new.to_dict()]
        report = verify_log(path)
        assert report.ok and report.problems == [] and report.last_seq == expected + 1, cut


def test_a_power_loss_hole_inside_the_last_batch_is_a_torn_tail(tmp_path: Path) -> None:
    """Blocks may reach the disk out of order: a batch's last line can survive a lost middle."""
    path = tmp_path / "events.jsonl"
    build_log(path, [1, 1, 3])
    raw = path.read_bytes()
    ends = line_ends(raw)
    holed = raw[: ends[2]] + b"\0" * (ends[3] - ends[2] - 1) + b"\n" + raw[ends[3] :]
    path.write_bytes(holed)
    log = EventLog(path)
    assert [e.seq for e in log.read()] == [1, 2]
    assert log.last_seq() == 2
    report = verify_log(path)
    assert report.ok and report.torn_tail_bytes == len(raw) - ends[1]
    assert log.append("JobProgress", progress(3), actor="script").seq == 3
    assert path.read_bytes().startswith(raw[: ends[1]])
    assert verify_log(path).problems == []


def test_no_reader_accepts_a_prefix_that_ends_inside_a_batch(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    build_log(path, [1, 3])
    raw = path.read_bytes()
    ends = line_ends(raw)
    for cut in ends[1:3]:  # one or two complete lines of the batch of three
        path.write_bytes(raw[:cut])
        assert [e.seq for e in EventLog(path).read()] == [1]
        tail = EventLog(path).tail()
        assert [e.seq for e in tail.poll()] == [1]
        path.write_bytes(raw)
        assert [e.seq for e in tail.poll()] == [2, 3, 4]
