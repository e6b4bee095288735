"""Many processes appending at once; two racing on one expected_seq (DESIGN §3, 2 and 4)."""

from __future__ import annotations

import multiprocessing as mp
import random
from pathlib import Path

from events import EventLog, new_event_id, verify_log
from tests.events import _support
from tests.events._support import assert_is_committed_prefix

PROCESSES = 4
APPENDS_PER_PROCESS = 250


def test_processes_appending_at_once_get_seqs_1_to_n_and_every_id_once(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    rng = random.Random(7)
    # One id list per append: a third of the appends are batches of 2 to 5 events.
    plans = [
        [
            [new_event_id() for _ in range(rng.choice([1, 1, 2, 5]))]
            for _ in range(APPENDS_PER_PROCESS)
        ]
        for _ in range(PROCESSES)
    ]
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES + 1)
    children = [
        ctx.Process(target=_support.append_plan, args=(str(path), plan, barrier)) for plan in plans
    ]
    for child in children:
        child.start()
    barrier.wait()
    # Meanwhile, a tailing reader sees lines being written: it must never read a partial batch.
    tail = EventLog(path).tail()
    polled = []
    while any(child.is_alive() for child in children):
        polled.extend(tail.poll())
        assert_is_committed_prefix(polled)
    for child in children:
        child.join()
        assert child.exitcode == 0
    polled.extend(tail.poll())

    raw = path.read_bytes()
    lines = raw.split(b"\n")
    assert lines[-1] == b"", "the log must end with a newline"
    stored = list(EventLog(path).read())
    total = sum(len(ids) for plan in plans for ids in plan)
    assert len(lines) - 1 == total
    assert [e.seq for e in stored] == list(range(1, total + 1))
    assert_is_committed_prefix(stored)
    assert [e.to_dict() for e in polled] == [e.to_dict() for e in stored]

    position = {e.id: e for e in stored}
    assert len(position) == total, "an id is stored twice"
    for plan in plans:
        last_seq = 0
        for ids in plan:
            seqs = [position[event_id].seq for event_id in ids]
            # A batch is contiguous and in order; each process's appends keep their order.
            assert seqs == list(range(seqs[0], seqs[0] + len(ids)))
            assert seqs[0] > last_seq
            last_seq = seqs[-1]
            txn = (seqs[0], seqs[-1]) if len(ids) > 1 else None
            assert all(position[event_id].txn == txn for event_id in ids)
    report = verify_log(path)
    assert report.ok and report.problems == [], report.problems


def test_of_two_appenders_expecting_the_same_seq_exactly_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    trials = 200
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    racers = [
        ctx.Process(target=_support._race_entry, args=(str(path), trials, barrier, who, results))
        for who in (1, 2)
    ]
    for racer in racers:
        racer.start()
    outcomes = dict(results.get(timeout=120) for _ in racers)
    for racer in racers:
        racer.join()
        assert racer.exitcode == 0
    wins = [a + b for a, b in zip(outcomes[1], outcomes[2], strict=True)]
    assert wins == [1] * trials, f"trials without exactly one winner: {wins}"
    stored = list(EventLog(path).read())
    assert [e.seq for e in stored] == list(range(1, trials + 1))
    # The stored events are those of the winners, in trial order.
    winners = [1 if outcomes[1][t] else 2 for t in range(trials)]
    assert [e.data["done"] for e in stored] == winners
