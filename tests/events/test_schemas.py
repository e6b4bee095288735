"""Golden lines of every event version, upcasting, unknown types (DESIGN §3, 8; §5).

``golden/v<N>.jsonl`` holds one real line of every event type that has (or had) version N.
Those files are frozen: a line, once there, never changes. Adding an event type, or a new
version of one, means appending a line (with the next seq) to the matching file; the test
``test_every_registered_type_and_version_has_a_golden_line`` fails until that is done.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from events import (
    EventData,
    EventLog,
    InvalidEventError,
    SchemaRegistry,
    registry,
    verify_log,
)
from events.envelope import EVENT_ID_PATTERN, decode_line

GOLDEN = Path(__file__).parent / "golden"


def _golden_lines() -> list[tuple[str, int, bytes]]:
    lines = []
    for file in sorted(GOLDEN.glob("v*.jsonl")):
        for number, line in enumerate(file.read_bytes().splitlines(), start=1):
            lines.append((file.name, number, line))
    return lines


GOLDEN_LINES = _golden_lines()


def test_golden_files_exist() -> None:
    assert (GOLDEN / "v1.jsonl").is_file()
    assert len(GOLDEN_LINES) >= len(registry.names())


@pytest.mark.parametrize(
    ("file", "number", "line"), GOLDEN_LINES, ids=[f"{f}:{n}" for f, n, _ in GOLDEN_LINES]
)
def test_each_golden_line_decodes_upcasts_and_validates(
    file: str, number: int, line: bytes
) -> None:
    event = decode_line(line)
    assert event is not None, f"{file}:{number} is not a valid event line"
    assert f"v{event.v}.jsonl" == file, "a golden line sits in the file of its version"
    assert event.to_line() == line + b"\n", "the envelope's encoding changed"
    assert EVENT_ID_PATTERN.match(event.id)
    assert event.type in registry, f"{event.type} is no longer registered: keep reading it"
    version, data = registry.upcast(event.type, event.v, event.data)
    assert version == registry.get(event.type).version
    normalised = registry.validate(event.type, data)
    if event.v == version:
        assert normalised == event.data, "a current-version golden line must already be normal"


def test_every_registered_type_and_version_has_a_golden_line() -> None:
    have = set()
    for _, _, line in GOLDEN_LINES:
        obj = orjson.loads(line)
        have.add((obj["type"], obj["v"]))
    need = {
        (name, version)
        for name in registry.names()
        for version in range(1, registry.get(name).version + 1)
    }
    missing = sorted(need - have)
    assert not missing, f"add golden lines to tests/events/golden/ for {missing}"


@pytest.mark.parametrize("file", sorted(GOLDEN.glob("v*.jsonl")), ids=lambda p: p.name)
def test_golden_files_read_as_logs_and_verify_clean(file: Path, tmp_path: Path) -> None:
    copy = tmp_path / "events.jsonl"
    shutil.copyfile(file, copy)
    log = EventLog(copy)
    stored = list(log.read())
    assert len(stored) == len(file.read_bytes().splitlines())
    assert stored[0].seq == 1 and any(e.txn for e in stored), "keep a batch among the lines"
    report = verify_log(copy)
    assert report.ok and report.problems == [], report.problems
    # An old log goes on growing with current versions.
    log.append("ProjectRenamed", {"name": "Digits again"}, actor="cli")
    assert verify_log(copy).problems == []


# ---------------------------------------------------------------- upcasting
def _registries() -> tuple[SchemaRegistry, SchemaRegistry, SchemaRegistry]:
    """The same ``Thing`` type at v1, at v2 with an upcaster, and at v2 without one."""
    v1 = SchemaRegistry()

    @v1.register("ThingHappened")
    class ThingV1(EventData):
        name: str

    v2 = SchemaRegistry()

    @v2.register("ThingHappened", version=2)
    class ThingV2(EventData):
        title: str
        tags: list[str]

    @v2.upcaster("ThingHappened", 1)
    def _v1_to_v2(data: dict) -> dict:
        return {"title": data["name"].title(), "tags": []}

    broken = SchemaRegistry()
    broken.register("ThingHappened", version=2)(ThingV2)
    return v1, v2, broken


def test_old_versions_are_upcast_on_read_never_rewritten(tmp_path: Path) -> None:
    v1, v2, _ = _registries()
    path = tmp_path / "events.jsonl"
    old = EventLog(path, registry=v1).append(
        "ThingHappened", {"name": "first thing"}, actor="script"
    )
    before = path.read_bytes()

    log = EventLog(path, registry=v2)
    (read,) = log.read()
    assert (read.v, read.data) == (2, {"title": "First Thing", "tags": []})
    (polled,) = log.tail().poll()
    assert (polled.v, polled.data) == (2, {"title": "First Thing", "tags": []})
    got = log.get(old.id)
    assert (got.v, got.data) == (2, {"title": "First Thing", "tags": []})
    # A retry of the old append (same id) returns the stored event, upcast.
    retried = log.append("ThingHappened", {"title": "x", "tags": []}, actor="script", id=old.id)
    assert (retried.seq, retried.v, retried.data["title"]) == (1, 2, "First Thing")
    assert path.read_bytes() == before, "upcasting never rewrites the log"

    new = log.append("ThingHappened", {"title": "Second", "tags": ["b"]}, actor="script")
    assert new.v == 2
    assert [(e.v, e.data["title"]) for e in log.read()] == [(2, "First Thing"), (2, "Second")]
    assert [orjson.loads(line)["v"] for line in path.read_bytes().splitlines()] == [1, 2]
    report = verify_log(path, registry=v2)
    assert report.ok and report.problems == []


def test_verify_reports_an_old_version_it_cannot_upcast(tmp_path: Path) -> None:
    v1, _, broken = _registries()
    path = tmp_path / "events.jsonl"
    EventLog(path, registry=v1).append("ThingHappened", {"name": "thing"}, actor="script")
    report = verify_log(path, registry=broken)
    assert not report.ok
    assert [(p.severity, p.line) for p in report.problems] == [("error", 1)]
    assert "upcaster" in report.problems[0].message
    with pytest.raises(InvalidEventError, match="upcaster"):
        list(EventLog(path, registry=broken).read())


def test_verify_validates_upcast_data(tmp_path: Path) -> None:
    """An upcaster that produces invalid data is caught by verify."""
    v1, _, _ = _registries()
    bad = SchemaRegistry()

    @bad.register("ThingHappened", version=2)
    class ThingV2(EventData):
        title: str

    bad.upcaster("ThingHappened", 1)(lambda data: {"heading": data["name"]})
    path = tmp_path / "events.jsonl"
    EventLog(path, registry=v1).append("ThingHappened", {"name": "thing"}, actor="script")
    report = verify_log(path, registry=bad)
    assert [(p.severity, p.line) for p in report.problems] == [("error", 1)]
    assert "title" in report.problems[0].message


# ---------------------------------------------------------------- unknown types and versions
def test_unknown_types_and_newer_versions_are_kept_and_read(tmp_path: Path) -> None:
    newer = SchemaRegistry()

    @newer.register("ModelDistilled")
    class Distilled(EventData):
        teacher: str

    @newer.register("ProjectRenamed", version=3)
    class RenamedV3(EventData):
        name: str
        reason: str

    path = tmp_path / "events.jsonl"
    EventLog(path).append("ProjectRenamed", {"name": "Old"}, actor="cli")
    future = EventLog(path, registry=newer)
    distilled = future.append("ModelDistilled", {"teacher": "exp-00000001"}, actor="job")
    renamed = future.append("ProjectRenamed", {"name": "New", "reason": "typo"}, actor="ui")

    log = EventLog(path)  # this version knows neither
    events = list(log.read())
    assert [(e.type, e.v) for e in events] == [
        ("ProjectRenamed", 1),
        ("ModelDistilled", 1),
        ("ProjectRenamed", 3),
    ]
    assert events[1].data == {"teacher": "exp-00000001"}
    assert events[2].data == {"name": "New", "reason": "typo"}
    assert [e.type for e in log.tail().poll()] == [e.type for e in events]
    assert log.get(distilled.id).data == distilled.data
    assert log.get(renamed.id).v == 3
    # A current writer appends after them.
    assert log.append("ProjectRenamed", {"name": "Newer"}, actor="cli").seq == 4

    report = verify_log(path)
    assert report.ok
    warnings = [(p.severity, p.line) for p in report.problems]
    assert warnings == [("warning", 2), ("warning", 3)]
    assert "unknown event type 'ModelDistilled'" in report.problems[0].message
    assert "newer" in report.problems[1].message
    assert report.types == {"ModelDistilled": 1, "ProjectRenamed": 3}
