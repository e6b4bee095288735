"""Every writer under random and hostile data: refused in one line, or a clear JobFailed.

``commands.submit`` (``aistudio submit``, the pages' path), ``EventLog.append`` (scripts) and raw
lines written into the log by hand get data of every event type, random and hostile; each is
either stored (and then valid for its schema) or refused with one line, and nothing else is
appended. Commands that reach the log are then run by one worker, next to a healthy project:
each ends in exactly one end event with a reason, the worker carries on, and the healthy
project's import succeeds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aistudio import commands
from aistudio.commands import CommandError
from aistudio.worker.service import Worker
from aistudio.workspace import Workspace
from events import EventLog, EventLogError, registry
from tests.helpers import digits_folder, events_of, make_project, terminal_events

HOSTILE_TEXT = [
    "",
    " ",
    ".",
    "..",
    "../../etc/passwd",
    "/nonexistent/place",
    "relative/dir",
    "\x00",
    "\ud800",
    "caf\udce9",
    "a" * 5000,
    "exp-00000000",
    "evt-0000000000000000",
    "img-00000000",
    "xpt-00000000",
    "default",
    "best",
    "onnx",
    "{}",
    "\n",
]
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(HOSTILE_TEXT)
    | st.text(max_size=20).filter(lambda s: not s.startswith("/"))  # never import "/" itself
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@st.composite
def event_data(draw: st.DrawFn, event_type: str) -> dict[str, Any]:
    """Data for ``event_type``: its own field names (some) with random values, and sometimes a
    key it does not have or a value nested far too deep."""
    fields = list(registry.get(event_type).model.model_fields)
    chosen = draw(st.lists(st.sampled_from(fields), unique=True)) if fields else []
    data = {name: draw(JSON_VALUES) for name in chosen}
    extra = draw(st.sampled_from(["none", "unknown key", "deep"]))
    if extra == "unknown key":
        data[draw(st.text(min_size=1, max_size=8))] = draw(JSON_VALUES)
    elif extra == "deep" and fields:
        data[fields[0]] = _deep(draw(st.sampled_from([40, 300, 5000])))
    return data


TYPES = sorted(registry.names())
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def project(workspace: Workspace) -> str:
    return make_project(workspace)


def _one_line(message: str) -> None:
    assert message and "\n" not in message.strip() and "Traceback" not in message, message


@pytest.mark.parametrize("event_type", TYPES)
def test_submit_refuses_in_one_line_or_stores_valid_data(
    workspace: Workspace, project: str, event_type: str
) -> None:
    log = EventLog(workspace.events_path(project))

    @FUZZ
    @given(data=event_data(event_type))
    def check(data: dict[str, Any]) -> None:
        before = log.last_seq()
        try:
            event = commands.submit(workspace, project, event_type, data)
        except CommandError as exc:
            _one_line(str(exc))
            assert log.last_seq() == before
            return
        assert event.seq == before + 1
        registry.validate(event.type, event.data)  # what was stored is valid for its schema

    check()


@pytest.mark.parametrize("event_type", TYPES)
def test_event_log_append_refuses_in_one_line_or_stores_valid_data(
    workspace: Workspace, project: str, event_type: str
) -> None:
    log = EventLog(workspace.events_path(project))

    @FUZZ
    @given(data=event_data(event_type))
    def check(data: dict[str, Any]) -> None:
        before = log.last_seq()
        try:
            event = log.append(event_type, data, actor="script")
        except EventLogError as exc:
            _one_line(str(exc))
            assert log.last_seq() == before
            return
        registry.validate(event.type, event.data)
        assert [e.seq for e in log.read(after_seq=before)] == [before + 1]

    check()


def _raw_line(seq: int, event_type: str, data: Any, index: int) -> bytes:
    envelope = {
        "seq": seq,
        "id": f"evt-{index:016x}",
        "ts": "2026-12-01T00:00:00.000Z",
        "type": event_type,
        "v": 1,
        "actor": "script",
        "causation": None,
        "data": data,
    }
    return orjson.dumps(envelope, option=orjson.OPT_APPEND_NEWLINE)


@FUZZ
@given(
    raw=st.lists(
        st.sampled_from(registry.commands()).flatmap(
            lambda t: st.tuples(st.just(t), event_data(t))
        ),
        min_size=3,
        max_size=8,
    )
)
def test_raw_commands_end_clearly_and_the_worker_carries_on(
    tmp_path_factory: pytest.TempPathFactory, raw: list[tuple[str, dict[str, Any]]]
) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    workspace = Workspace(root / "workspace")
    workspace.ensure()
    hostile = make_project(workspace, "Hostile")
    healthy = make_project(workspace, "Healthy")
    path = workspace.events_path(hostile)
    seq = EventLog(path).last_seq()
    written: list[str] = []
    with path.open("ab") as handle:
        for index, (event_type, data) in enumerate(raw, start=1):
            try:
                line = _raw_line(seq + 1, event_type, data, index)
            except (TypeError, orjson.JSONEncodeError):
                continue  # not even JSON: a script could not have written it either
            handle.write(line)
            seq += 1
            written.append(f"evt-{index:016x}")
        handle.flush()
        os.fsync(handle.fileno())
    folder = digits_folder(Path(root), 1)
    good = commands.request_import(workspace, healthy, folder, "imagefolder")

    Worker(workspace).run(once=True)

    assert [e.type for e in terminal_events(workspace, healthy, good.id)] == ["JobSucceeded"]
    for job_id in written:
        ends = terminal_events(workspace, hostile, job_id)
        command = EventLog(path).get(job_id)
        assert command is not None, job_id
        if command.type == "CancelRequested":
            continue  # a cancel is not a job: it ends nothing of its own
        assert len(ends) == 1, (command.type, command.data, ends)
        if ends[0].type == "JobFailed":
            _one_line(ends[0].data["error"])
    assert not [e for e in events_of(workspace, hostile) if e.type == "ImagesAdded"]
