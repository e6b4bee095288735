"""The History page's event index, read with the lean envelope reader, equals a full read.

However writes and refreshes interleave (appends of single events and of several at once,
written in pieces so that a refresh meets torn lines and half-written multi-event appends), the
index equals what the normal reader reads of the log at that moment; a damaged log raises and
leaves the index as it was.
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import events.index
from events import EventLog, LogCorruptedError, NewEvent
from ui.components.history_log import EventIndex, Query

_names = itertools.count()
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _progress(job: str, k: int) -> NewEvent:
    data = {"job_id": job, "done": k, "total": 9, "message": f"step {k}"}
    return NewEvent("JobProgress", data, actor="job", causation=job)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("history-index")


@pytest.fixture(scope="module")
def reference(folder: Path) -> bytes:
    """A log with commands, their jobs' events (some appended several at once), relabels."""
    path = folder / "reference.jsonl"
    log = EventLog(path)
    log.append(
        "ProjectCreated",
        {"project_id": "proj-0000abcd", "name": "Index", "task": "classification"},
        actor="ui",
    )
    for round_no in range(3):
        command = log.append(
            "ImportRequested", {"source": f"/d{round_no}", "format": "imagefolder"}, actor="ui"
        )
        job = command.id
        claimed = {
            "job_id": job,
            "command_type": "ImportRequested",
            "worker_id": "wrk-1",
            "host": "h",
            "pid": 1,
        }
        log.append("JobClaimed", claimed, actor="worker", causation=job)
        log.append_many([_progress(job, k) for k in range(3)])
        for k in range(2):
            log.append("LabelChanged", {"image_id": f"img-{k:08x}", "label": "a"}, actor="cli")
        log.append_many(
            [
                _progress(job, 9),
                NewEvent("ProjectRenamed", {"name": f"r{round_no}"}, actor="job", causation=job),
            ]
        )
    return path.read_bytes()


def check_equals_full_read(index: EventIndex, path: Path) -> None:
    """The index holds what the normal reader reads of the log now, and nothing else."""
    events = EventLog(path).read_all().events if path.exists() else []
    assert index.last_seq == len(events)
    assert index.type_counts() == dict(sorted(Counter(e.type for e in events).items()))
    assert index.actor_counts() == dict(sorted(Counter(e.actor for e in events).items()))
    assert [index.type_of(e.seq) for e in events] == [e.type for e in events]
    for event in events:
        assert index.event(event.seq).to_dict() == event.to_dict()  # type: ignore[union-attr]
        assert index.effects(event.id) == [e.seq for e in events if e.causation == event.id]
        if event.is_command:
            assert index.seq_of(event.id) == event.seq
    assert index.event(len(events) + 1) is None
    assert list(index.query(Query(actors=frozenset({"job"})))) == [
        e.seq for e in reversed(events) if e.actor == "job"
    ]


@SETTINGS
@given(data=st.data())
def test_refreshes_between_partial_writes_equal_a_full_read(
    folder: Path, reference: bytes, data: st.DataObject
) -> None:
    path = folder / f"partial-{next(_names)}.jsonl"
    cuts = sorted(data.draw(st.sets(st.integers(0, len(reference)), max_size=12), label="cuts"))
    index = EventIndex(path)
    index.refresh()  # no file yet
    written = 0
    for cut in [*cuts, len(reference)]:
        with path.open("ab") as file:
            file.write(reference[written:cut])
        written = cut
        if data.draw(st.booleans(), label="refresh"):
            index.refresh()
            check_equals_full_read(index, path)
    index.refresh()
    check_equals_full_read(index, path)
    assert index.last_seq == reference.count(b"\n")


def test_a_half_written_append_is_indexed_once_whole(tmp_path: Path, reference: bytes) -> None:
    path = tmp_path / "events.jsonl"
    lines = reference.splitlines(keepends=True)
    # Lines 4-6 are one append (three JobProgress events); write all but its last line.
    assert [line.count(b'"txn":[4,6]') for line in lines[3:6]] == [1, 1, 1]
    path.write_bytes(b"".join(lines[:5]))
    index = EventIndex(path)
    assert index.refresh() == 3
    check_equals_full_read(index, path)
    with path.open("ab") as file:
        file.write(lines[5][:-1])  # all but its newline
    assert index.refresh() == 0
    assert index.last_seq == 3
    with path.open("ab") as file:
        file.write(b"\n" + b"".join(lines[6:]))
    assert index.refresh() == len(lines) - 3
    check_equals_full_read(index, path)


def test_damage_raises_and_leaves_the_index_as_it_was(tmp_path: Path, reference: bytes) -> None:
    path = tmp_path / "events.jsonl"
    lines = reference.splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3]))
    index = EventIndex(path)
    index.refresh()
    types_before = index.type_counts()
    with path.open("ab") as file:
        file.write(b"".join(lines[3:6]) + b"not an event\n" + b"".join(lines[6:]))
    with pytest.raises(LogCorruptedError, match="line 7"):
        index.refresh()
    assert index.last_seq == 3 and index.type_counts() == types_before
    # Repaired (the damaged line removed by hand): the index goes on from where it was.
    path.write_bytes(reference)
    index.refresh()
    check_equals_full_read(index, path)


def test_a_fresh_index_read_in_many_batches_equals_an_incremental_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Many batches of the lean reader (of about 1 kB), appends of several events among them.
    monkeypatch.setattr(events.index, "BATCH_BYTES", 1000)
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    incremental = EventIndex(path)
    source = {"source": "/d", "format": "imagefolder"}
    command = log.append("ImportRequested", source, actor="ui")
    for k in range(40):
        log.append_many([_progress(command.id, k * 100 + j) for j in range(1 + k % 4)])
        log.append("LabelChanged", {"image_id": f"img-{k:08x}", "label": "b"}, actor="script")
        if k % 9 == 0:
            incremental.refresh()
    incremental.refresh()
    fresh = EventIndex(path)
    fresh.refresh()
    for index in (incremental, fresh):
        check_equals_full_read(index, path)
    assert fresh._offsets == incremental._offsets
