"""Fuzzed command payloads: appended and valid on re-read, or refused cleanly (DESIGN §9).

For every command type, random JSON-like data (mostly golden payloads with fields dropped,
replaced or added, sometimes anything at all) is either appended, and then validates when read
back, or refused with ``InvalidEventError`` / ``UnknownEventTypeError`` leaving the log as it was.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import EventLog, InvalidEventError, NewEvent, UnknownEventTypeError, registry
from events.envelope import ACTORS

GOLDEN = Path(__file__).parent / "golden"
COMMANDS = registry.commands()
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_names = itertools.count()

EDGES = st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**30, float("nan"), float("-inf"), "\x00"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | EDGES | EDGES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
"""JSON-like values, with what Python callers may pass too: NaN, infinities, huge integers."""


def _golden_payloads() -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for file in GOLDEN.glob("v*.jsonl"):
        for line in file.read_bytes().splitlines():
            obj = orjson.loads(line)
            found.setdefault(obj["type"], []).append(obj["data"])
    return found


SEEDS = _golden_payloads()


def _paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every position inside ``value``, deepest first."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*here, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*here, index))
    return [*found, here]


def _change(value: Any, path: tuple[Any, ...], action: str, new: Any, key: str) -> Any:
    """``value`` with the item at ``path`` replaced by ``new``, dropped, or given a new item."""
    if path:
        head, rest = path[0], path[1:]
        changed = dict(value) if isinstance(value, dict) else list(value)
        if action == "drop" and not rest:
            del changed[head]
        else:
            changed[head] = _change(value[head], rest, action, new, key)
        return changed
    if action == "add" and isinstance(value, dict):
        return {**value, key: new}
    if action == "add" and isinstance(value, list):
        return [*value, new]
    return new


@st.composite
def payloads(draw: st.DrawFn, command: str) -> Any:
    """A golden payload of ``command`` changed at up to two random places; or any JSON at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    data = draw(st.sampled_from(SEEDS[command]))
    for _ in range(draw(st.integers(0, 2))):
        path = draw(st.sampled_from(_paths(data)))
        action = draw(st.sampled_from(["replace", "add", "drop"]))
        data = _change(data, path, action, draw(JSON), draw(st.text(max_size=8)))
    return data


ACTOR = st.sampled_from([*sorted(ACTORS), "admin", "", "UI"])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _snapshot(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def _check_appended(path: Path, appended: list[Any], before: int) -> None:
    stored = EventLog(path).read_all().events
    assert len(stored) == before + len(appended)
    for event, read_back in zip(appended, stored[before:], strict=True):
        assert read_back.to_dict() == event.to_dict()
        assert registry.validate(read_back.type, read_back.data) == read_back.data


def test_every_command_type_has_golden_payloads_to_start_from() -> None:
    assert COMMANDS, "no command types registered"
    assert not [c for c in COMMANDS if c not in SEEDS]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_fuzzed_command_is_appended_valid_or_refused_cleanly(folder: Path, command: str) -> None:
    path = folder / f"{command}-{next(_names)}.jsonl"
    outcomes = {"appended": 0, "refused": 0}

    @FUZZ
    @given(data=payloads(command), actor=ACTOR)
    def check(data: Any, actor: str) -> None:
        log = EventLog(path)
        before, count = _snapshot(path), log.last_seq()
        try:
            event = log.append(command, data, actor=actor)
        except (InvalidEventError, UnknownEventTypeError):
            assert _snapshot(path) == before
            outcomes["refused"] += 1
            return
        outcomes["appended"] += 1
        _check_appended(path, [event], count)

    check()
    # The fuzzing reached both sides (otherwise it proves little).
    assert outcomes["appended"] and outcomes["refused"], outcomes


@FUZZ
@given(
    batch=st.lists(
        st.sampled_from(COMMANDS).flatmap(lambda c: st.tuples(st.just(c), payloads(c))),
        min_size=2,
        max_size=4,
    )
)
def test_a_fuzzed_batch_is_appended_whole_or_not_at_all(
    folder: Path, batch: list[tuple[str, Any]]
) -> None:
    path = folder / "batches.jsonl"
    log = EventLog(path)
    before, count = _snapshot(path), log.last_seq()
    try:
        events = log.append_many([NewEvent(c, d, actor="script") for c, d in batch])
    except (InvalidEventError, UnknownEventTypeError):
        assert _snapshot(path) == before
        return
    assert [e.seq for e in events] == list(range(count + 1, count + len(batch) + 1))
    assert all(e.txn == (count + 1, count + len(batch)) for e in events)
    _check_appended(path, events, count)


@FUZZ
@given(event_type=st.text(max_size=20), data=JSON)
def test_a_fuzzed_type_name_is_refused_unless_registered(
    folder: Path, event_type: str, data: Any
) -> None:
    path = folder / "types.jsonl"
    before = _snapshot(path)
    try:
        EventLog(path).append(event_type, data, actor="script")
    except UnknownEventTypeError:
        assert event_type not in registry
        assert _snapshot(path) == before
    except InvalidEventError:
        assert event_type in registry
        assert _snapshot(path) == before
