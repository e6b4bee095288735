"""Appending: validation, all-or-nothing batches, expected_seq, duplicate ids, reads (DESIGN §3)."""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

import events.log as log_module
from events import (
    ConcurrencyError,
    DurabilityError,
    EventLog,
    EventLogError,
    InvalidEventError,
    NewEvent,
    UnknownEventTypeError,
    new_event_id,
    verify_log,
)
from events.lock import LogLock, lock_path_for
from tests.events._support import JOB_ID, build_log, new_progress, progress


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "proj" / "events.jsonl"


@pytest.fixture
def filled(path: Path) -> Path:
    """A log of 4 events: two single appends and one batch of two."""
    build_log(path, [1, 2, 1])
    return path


def _snapshot(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


# ---------------------------------------------------------------- validation
INVALID_APPENDS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("unknown type", {"type": "NoSuchEvent", "data": {}}, UnknownEventTypeError, "NoSuchEvent"),
    ("missing field", {"data": {"job_id": JOB_ID}}, InvalidEventError, "done"),
    ("extra field", {"data": {**progress(1), "colour": "red"}}, InvalidEventError, "colour"),
    ("wrong type", {"data": {**progress(1), "done": "many"}}, InvalidEventError, "done"),
    ("out of range", {"data": {**progress(1), "done": -1}}, InvalidEventError, "done"),
    ("bad nested id", {"data": {**progress(1), "job_id": "job-1"}}, InvalidEventError, "job_id"),
    ("data not an object", {"data": [1, 2]}, InvalidEventError, "JSON object"),
    ("bad actor", {"actor": "admin"}, InvalidEventError, "actor"),
    ("bad causation", {"causation": "job-1"}, InvalidEventError, "causation"),
    ("uppercase causation", {"causation": "evt-0123456789ABCDEF"}, InvalidEventError, "causation"),
    ("malformed id", {"id": "evt-xyz"}, InvalidEventError, "id must"),
    ("id too long", {"id": "evt-0123456789abcdef0"}, InvalidEventError, "id must"),
    (
        "NaN in a float field",
        {
            "type": "ImportCompleted",
            "data": {
                "source": "/d",
                "format": "csv",
                "added": 1,
                "duplicates": 0,
                "skipped": 0,
                "duration_s": float("nan"),
            },
        },
        InvalidEventError,
        "duration_s",
    ),
    (
        "infinity in free-form options",
        {"type": "ImportRequested", "data": {"source": "/d", "options": {"x": [float("inf")]}}},
        InvalidEventError,
        "data.options.x.0",
    ),
    (
        "integer beyond 64 bits",
        {"type": "ImportRequested", "data": {"source": "/d", "options": {"n": 2**70}}},
        InvalidEventError,
        "64-bit",
    ),
    (
        "integer field beyond 64 bits",
        {"type": "JobStarted", "data": {"job_id": JOB_ID, "pid": 2**64}},
        InvalidEventError,
        "64-bit",
    ),
]


def _append(log: EventLog, spec: dict[str, Any]) -> None:
    kwargs = {"actor": "job", "causation": None, "id": None, **spec}
    log.append(kwargs.pop("type", "JobProgress"), kwargs.pop("data", progress(1)), **kwargs)


@pytest.mark.parametrize(
    ("spec", "error", "fragment"),
    [case[1:] for case in INVALID_APPENDS],
    ids=[case[0] for case in INVALID_APPENDS],
)
@pytest.mark.parametrize("start", ["missing log", "filled log"])
def test_an_invalid_append_is_refused_and_changes_nothing(
    path: Path, spec: dict[str, Any], error: type[Exception], fragment: str, start: str
) -> None:
    if start == "filled log":
        build_log(path, [1, 2])
    before = _snapshot(path)
    with pytest.raises(error, match=fragment):
        _append(EventLog(path), spec)
    assert _snapshot(path) == before
    if start == "missing log":
        assert not path.parent.exists()


def test_a_batch_with_one_invalid_event_appends_none(filled: Path) -> None:
    before = filled.read_bytes()
    log = EventLog(filled)
    good = [new_progress(10), new_progress(11)]
    with pytest.raises(InvalidEventError, match="done"):
        log.append_many([*good, NewEvent("JobProgress", {"job_id": JOB_ID, "done": -5})])
    with pytest.raises(InvalidEventError, match="actor"):
        log.append_many([*good, NewEvent("JobProgress", progress(3), actor="root")])
    with pytest.raises(UnknownEventTypeError):
        log.append_many([NewEvent("Nope", {}), *good])
    assert filled.read_bytes() == before
    assert [e.seq for e in log.append_many(good)] == [5, 6]


def test_the_same_id_twice_in_one_batch_is_refused(filled: Path) -> None:
    before = filled.read_bytes()
    event_id = new_event_id()
    with pytest.raises(InvalidEventError, match="twice"):
        EventLog(filled).append_many([new_progress(1, event_id), new_progress(2, event_id)])
    assert filled.read_bytes() == before


def test_an_empty_batch_appends_nothing(filled: Path) -> None:
    before = filled.read_bytes()
    assert EventLog(filled).append_many([]) == []
    assert filled.read_bytes() == before


def test_appended_data_is_stored_normalised_and_returned_as_stored(path: Path) -> None:
    log = EventLog(path)
    event = log.append(
        "ProjectCreated",
        {"project_id": "proj-0000abcd", "name": "  Cats  ", "task": "classification"},
        actor="cli",
    )
    assert event.data == {
        "project_id": "proj-0000abcd",
        "name": "Cats",
        "task": "classification",
        "description": "",
    }
    (stored,) = log.read()
    assert stored.to_dict() == event.to_dict()


def test_lines_are_compact_json_with_txn_marks_only_on_batches(path: Path) -> None:
    log = EventLog(path)
    log.append("JobProgress", progress(0), actor="job", causation=JOB_ID)
    log.append_many([new_progress(1), new_progress(2), new_progress(3)])
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    lines = raw.split(b"\n")[:-1]
    assert len(lines) == 4
    objs = [orjson.loads(line) for line in lines]
    assert list(objs[0]) == ["seq", "id", "ts", "type", "v", "actor", "causation", "data"]
    assert objs[0]["causation"] == JOB_ID
    assert "txn" not in objs[0]
    assert [o["txn"] for o in objs[1:]] == [[2, 4]] * 3
    assert [o["seq"] for o in objs] == [1, 2, 3, 4]
    assert all(line == orjson.dumps(obj) for line, obj in zip(lines, objs, strict=True))
    assert all(o["ts"].endswith("Z") and len(o["ts"]) == 24 for o in objs)


# ---------------------------------------------------------------- expected_seq
def test_expected_seq_must_match_the_last_seq(filled: Path) -> None:
    log = EventLog(filled)
    before = filled.read_bytes()
    for stale in (0, 3, 5):
        with pytest.raises(ConcurrencyError) as caught:
            log.append("JobProgress", progress(1), actor="worker", expected_seq=stale)
        assert (caught.value.expected_seq, caught.value.actual_seq) == (stale, 4)
    with pytest.raises(ConcurrencyError):
        log.append_many([new_progress(1), new_progress(2)], expected_seq=2)
    assert filled.read_bytes() == before
    assert log.append("JobProgress", progress(1), actor="worker", expected_seq=4).seq == 5
    assert [e.seq for e in log.append_many([new_progress(2)] * 2, expected_seq=5)] == [6, 7]


def test_expected_seq_zero_means_an_empty_log(path: Path) -> None:
    log = EventLog(path)
    assert log.append("JobProgress", progress(0), actor="job", expected_seq=0).seq == 1
    with pytest.raises(ConcurrencyError):
        log.append("JobProgress", progress(0), actor="job", expected_seq=0)


def test_expected_seq_sees_appends_of_other_instances(filled: Path) -> None:
    mine, theirs = EventLog(filled), EventLog(filled)
    assert mine.append("JobProgress", progress(1), actor="job", expected_seq=4).seq == 5
    theirs.append("JobProgress", progress(2), actor="job")
    with pytest.raises(ConcurrencyError):
        mine.append("JobProgress", progress(3), actor="job", expected_seq=5)


# ---------------------------------------------------------------- duplicate ids
def test_an_id_already_in_the_log_is_stored_once(filled: Path) -> None:
    event_id = new_event_id()
    first = EventLog(filled).append("JobProgress", progress(1), actor="job", id=event_id)
    after_first = filled.read_bytes()
    # A retry (even from another process, even with other data) returns the stored event.
    for log in (EventLog(filled), EventLog(filled)):
        again = log.append("JobProgress", progress(99), actor="job", id=event_id)
        assert again.to_dict() == first.to_dict()
    # Also when the retry's expected_seq has gone stale in the meantime: a safe retry.
    again = EventLog(filled).append(
        "JobProgress", progress(1), actor="job", id=event_id, expected_seq=4
    )
    assert again.seq == first.seq
    assert filled.read_bytes() == after_first
    assert [e.id for e in EventLog(filled).read()].count(event_id) == 1


def test_a_batch_retried_with_its_ids_is_stored_once(filled: Path) -> None:
    ids = [new_event_id() for _ in range(3)]
    batch = [new_progress(k, event_id) for k, event_id in enumerate(ids)]
    first = EventLog(filled).append_many(batch)
    stored = filled.read_bytes()
    assert [e.to_dict() for e in EventLog(filled).append_many(batch)] == [
        e.to_dict() for e in first
    ]
    assert filled.read_bytes() == stored
    # A batch that mixes stored and new ids is refused as a whole.
    with pytest.raises(InvalidEventError, match="already in the log"):
        EventLog(filled).append_many([new_progress(7, ids[0]), new_progress(8, new_event_id())])
    assert filled.read_bytes() == stored


def test_an_id_is_found_even_when_data_mentions_it(path: Path) -> None:
    log = EventLog(path)
    command = log.append("ImportRequested", {"source": "/data"}, actor="ui")
    # JobClaimed's data holds the command's id under "job_id": that is not the event's id.
    log.append(
        "JobClaimed",
        {
            "job_id": command.id,
            "command_type": "ImportRequested",
            "worker_id": "w",
            "host": "h",
            "pid": 1,
        },
        actor="worker",
        causation=command.id,
    )
    assert log.get(command.id).seq == 1
    assert log.append("ImportRequested", {"source": "/other"}, actor="ui", id=command.id).seq == 1


# ---------------------------------------------------------------- reading
def test_read_after_and_until(filled: Path) -> None:
    log = EventLog(filled)
    assert [e.seq for e in log.read()] == [1, 2, 3, 4]
    assert [e.seq for e in log.read(after_seq=1)] == [2, 3, 4]
    assert [e.seq for e in log.read(after_seq=1, until_seq=3)] == [2, 3]
    assert [e.seq for e in log.read(until_seq=1)] == [1]
    assert [e.seq for e in log.read(after_seq=4)] == []
    assert [e.seq for e in log.read(after_seq=3, until_seq=2)] == []
    assert [e.seq for e in log.read(after_seq=0, until_seq=0)] == []
    chunk = log.read_all()
    assert (chunk.last_seq, chunk.end_offset, chunk.tail_bytes) == (4, filled.stat().st_size, 0)


def test_last_seq_and_get(filled: Path, tmp_path: Path) -> None:
    log = EventLog(filled)
    events = list(log.read())
    assert log.last_seq() == 4
    for event in events:
        assert log.get(event.id).to_dict() == event.to_dict()
    assert log.get(new_event_id()) is None
    missing = EventLog(tmp_path / "nowhere" / "events.jsonl")
    assert missing.last_seq() == 0
    assert missing.get(new_event_id()) is None
    assert list(missing.read()) == []
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert EventLog(empty).last_seq() == 0
    assert EventLog(empty).append("JobProgress", progress(0), actor="job").seq == 1


def test_follow_yields_after_seq_then_stops(filled: Path) -> None:
    log = EventLog(filled)
    stop = threading.Event()
    seen = []
    for event in log.follow(after_seq=2, stop=stop):
        seen.append(event.seq)
        if event.seq == 4:
            stop.set()
    assert seen == [3, 4]


# ---------------------------------------------------------------- durability
def test_creating_the_log_fsyncs_its_folders_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    real = log_module._fsync_dir
    monkeypatch.setattr(log_module, "_fsync_dir", lambda p: (synced.append(p), real(p)))
    path = tmp_path / "projects" / "proj-00000001" / "events.jsonl"
    log = EventLog(path)
    log.append("JobProgress", progress(0), actor="job")
    log.append("JobProgress", progress(1), actor="job")
    EventLog(path).append("JobProgress", progress(2), actor="job")
    # The parent of each folder made for the log, then the folder holding the new file.
    assert synced == [tmp_path, path.parent.parent, path.parent]


def test_a_failed_fsync_fails_the_append_and_leaves_the_log_as_before(
    filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = filled.read_bytes()
    log = EventLog(filled)

    def broken_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(log_module, "_fsync", broken_fsync)
    with pytest.raises(DurabilityError, match="I/O error"):
        log.append_many([new_progress(1), new_progress(2)])
    monkeypatch.undo()
    assert filled.read_bytes() == before
    assert log.append("JobProgress", progress(3), actor="job").seq == 5
    assert verify_log(filled).ok


def test_a_short_write_is_finished_and_a_failed_one_rolled_back(
    filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    log_fd: list[int] = []

    def one_byte_at_a_time(fd: int, data: bytes) -> int:
        return real_write(fd, bytes(data[:1]))

    monkeypatch.setattr(log_module.os, "write", one_byte_at_a_time)
    EventLog(filled).append_many([new_progress(1), new_progress(2)])
    monkeypatch.undo()
    assert [e.seq for e in EventLog(filled).read()] == [1, 2, 3, 4, 5, 6]

    before = filled.read_bytes()

    def disk_full_after_some(fd: int, data: bytes) -> int:
        if log_fd:
            raise OSError(errno.ENOSPC, "No space left on device")
        log_fd.append(fd)
        return real_write(fd, bytes(data[:40]))

    monkeypatch.setattr(log_module.os, "write", disk_full_after_some)
    with pytest.raises(DurabilityError, match="No space"):
        EventLog(filled).append_many([new_progress(3), new_progress(4)])
    monkeypatch.undo()
    assert filled.read_bytes() == before
    assert verify_log(filled).problems == []


# ---------------------------------------------------------------- locking
def test_threads_with_their_own_log_objects_never_collide(path: Path) -> None:
    barrier = threading.Barrier(4)
    ids: list[list[str]] = [[new_event_id() for _ in range(40)] for _ in range(4)]

    def work(mine: list[str]) -> None:
        log = EventLog(path)
        barrier.wait()
        for k, event_id in enumerate(mine):
            if k % 5 == 0:
                log.append_many([new_progress(k, event_id), new_progress(k)])
            else:
                log.append("JobProgress", progress(k), actor="job", id=event_id)

    threads = [threading.Thread(target=work, args=(mine,)) for mine in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = list(EventLog(path).read())
    assert [e.seq for e in stored] == list(range(1, 4 * 48 + 1))
    stored_ids = [e.id for e in stored]
    assert len(set(stored_ids)) == len(stored_ids)
    assert set(stored_ids) >= {i for mine in ids for i in mine}
    assert verify_log(path).ok


def test_the_lock_times_out_with_a_clear_error(path: Path) -> None:
    path.parent.mkdir(parents=True)
    lock_file = lock_path_for(path)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another holder (a separate open file description)
        with pytest.raises(EventLogError, match="could not lock"), LogLock(path, timeout_s=0.05):
            pass
    finally:
        os.close(fd)
    with LogLock(path, timeout_s=0.05) as lock:
        assert lock.path == lock_file
    assert lock_file.exists()
