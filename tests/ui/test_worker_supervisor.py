"""Serve's worker supervisor (aistudio/serve.py) and the banner it feeds (ui/app.py,
ui/components/worker_banner.py), with stand-in worker processes: fast, no real worker.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dash
import pytest

from aistudio.serve import (
    NO_WORKER,
    Backoff,
    WorkerStatus,
    WorkerSupervisor,
    describe_exit,
    worker_lock_held,
)
from aistudio.worker.locks import try_lock
from aistudio.workspace import Workspace
from tests.ui.layout_tree import text_of as text
from ui import app as ui_app
from ui.components.worker_banner import damage_sentence, quarantine_sentence, worker_banner

FAST = Backoff(first_s=0.05, factor=2.0, max_s=0.2, stable_s=100.0)


def _wait(what: str, check: Callable[[], object], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    pytest.fail(f"no {what} within {timeout_s:.0f} s")


def _zombie_children() -> list[int]:
    """Children of this process that exited and were never reaped."""
    zombies: list[int] = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for pid in children:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[-1].split()[0] == "Z":
                zombies.append(int(pid))
    return zombies


@pytest.fixture
def supervisors() -> Iterator[list[WorkerSupervisor]]:
    """Supervisors a test started; each is stopped afterwards, whatever happened."""
    started: list[WorkerSupervisor] = []
    yield started
    for supervisor in started:
        supervisor.stop(timeout_s=5)


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


# ---------------------------------------------------------------------- backoff
def test_backoff_doubles_up_to_a_minute() -> None:
    delays = [Backoff().delay(n) for n in range(1, 10)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert Backoff().delay(10_000) == 60


def test_exits_in_words() -> None:
    assert describe_exit(1) == "the worker exited (code 1)"
    assert describe_exit(-9) == "the worker was killed by SIGKILL"
    assert describe_exit(None, "OSError: nope") == "the worker could not be started (OSError: nope)"


# ---------------------------------------------------------------------- supervisor
def test_a_dying_worker_is_reaped_and_restarted(
    supervisors: list[WorkerSupervisor], caplog: pytest.LogCaptureFixture
) -> None:
    """Before: serve never looked at its worker again (a defunct child, no jobs ever after)."""
    supervisor = WorkerSupervisor(_python("import sys; sys.exit(3)"), FAST, grace_s=0.01)
    supervisors.append(supervisor)
    supervisor.start()
    _wait("fourth start", lambda: supervisor.starts >= 4)
    last = supervisor.last_exit
    assert last is not None and last.code == 3
    assert "the worker exited (code 3); restarting it in" in caplog.text
    supervisor.stop(timeout_s=5)
    starts = supervisor.starts
    time.sleep(0.5)
    assert supervisor.starts == starts, "a worker was started after stop()"
    assert not supervisor.running
    assert _zombie_children() == []


def test_the_banner_says_when_and_how_the_worker_died(supervisors: list[WorkerSupervisor]) -> None:
    slow = Backoff(first_s=30.0, max_s=60.0)
    supervisor = WorkerSupervisor(_python("import sys; sys.exit(1)"), slow, grace_s=0.01)
    supervisors.append(supervisor)
    supervisor.start()
    _wait("an exit", lambda: supervisor.last_exit is not None)
    message = supervisor.down_message()
    assert message is not None
    assert message.startswith("jobs are not running: the worker exited (code 1) at ")
    assert re.search(r"at \d\d:\d\d:\d\d, restarting in (29|30) s$", message), message
    began = time.monotonic()
    supervisor.stop(timeout_s=5)
    assert time.monotonic() - began < 2, "stop() waited for the backoff"
    assert supervisor.starts == 1


def test_a_worker_that_stayed_up_starts_the_backoff_over(
    supervisors: list[WorkerSupervisor],
) -> None:
    """Without the reset the third start would wait 0.05 * 100 * 100 s."""
    backoff = Backoff(first_s=0.05, factor=100.0, max_s=500.0, stable_s=0.2)
    code = "import sys, time; time.sleep(0.3); sys.exit(1)"
    supervisor = WorkerSupervisor(_python(code), backoff, grace_s=0.01)
    supervisors.append(supervisor)
    supervisor.start()
    _wait("third start", lambda: supervisor.starts >= 3, timeout_s=5)


def test_stop_ends_the_worker_with_sigterm(
    supervisors: list[WorkerSupervisor], tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    code = (
        "import pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "time.sleep(60)\n"
    )
    supervisor = WorkerSupervisor(_python(code), FAST)
    supervisors.append(supervisor)
    supervisor.start()
    _wait("the worker's readiness", ready.exists)
    pid = supervisor.pid
    assert pid is not None and supervisor.running
    supervisor.stop(timeout_s=10)
    assert not supervisor.running and supervisor.starts == 1
    assert not Path(f"/proc/{pid}").exists() or pid not in _zombie_children()


def test_stop_kills_a_worker_that_ignores_sigterm(
    supervisors: list[WorkerSupervisor], tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    code = (
        "import pathlib, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "time.sleep(60)\n"
    )
    supervisor = WorkerSupervisor(_python(code), FAST)
    supervisors.append(supervisor)
    supervisor.start()
    _wait("the worker's readiness", ready.exists)
    began = time.monotonic()
    supervisor.stop(timeout_s=0.5)
    assert time.monotonic() - began < 5
    assert not supervisor.running and supervisor.starts == 1
    assert _zombie_children() == []


def test_a_worker_that_cannot_start_is_retried(
    supervisors: list[WorkerSupervisor], tmp_path: Path
) -> None:
    supervisor = WorkerSupervisor([str(tmp_path / "no-such-program")], FAST, grace_s=0.01)
    supervisors.append(supervisor)
    supervisor.start()
    _wait("a failed start", lambda: supervisor.last_exit is not None)
    message = supervisor.down_message() or ""
    assert "the worker could not be started (FileNotFoundError" in message


# ---------------------------------------------------------------------- liveness, banner
def test_worker_status_counts_any_live_worker(workspace: Workspace) -> None:
    status = WorkerStatus(workspace, None)
    assert status() == NO_WORKER
    path = workspace.worker_lock_path("worker-elsewhere-1")
    lock = try_lock(path)
    assert lock is not None
    try:
        assert worker_lock_held(workspace)
        old = time.time() - 60
        os.utime(path, (old, old))  # past the start-up grace: the flock itself decides
        assert worker_lock_held(workspace) and status() is None
    finally:
        lock.release()
    assert not worker_lock_held(workspace) and status() == NO_WORKER
    assert path.exists(), "the web process's check removed a lock file"


def test_worker_status_of_serves_own_worker(
    workspace: Workspace, supervisors: list[WorkerSupervisor]
) -> None:
    supervisor = WorkerSupervisor(
        _python("import sys; sys.exit(2)"), Backoff(first_s=30.0), grace_s=0.01
    )
    supervisors.append(supervisor)
    status = WorkerStatus(workspace, supervisor)
    supervisor.start()
    _wait("an exit", lambda: supervisor.last_exit is not None)
    assert (status() or "").startswith("jobs are not running: the worker exited (code 2)")


def test_banner_alerts() -> None:
    assert worker_banner() == []
    alerts = worker_banner(
        worker=NO_WORKER,
        damage=damage_sentence(7),
        quarantine=quarantine_sentence("line 7 of its log is damaged"),
    )
    kinds = [a.className.split()[-1] for a in alerts]
    assert kinds == ["app-banner-damage", "app-banner-quarantine", "app-banner-worker"]
    assert "this project's log is damaged at line 7: run `aistudio verify`" in text(alerts[0])
    assert "the worker has set this project aside: line 7" in text(alerts[1])
    assert NO_WORKER in text(alerts[2])


def test_the_shell_shows_the_banner(dash_app: dash.Dash) -> None:
    """The shell has the banner area; its callback asks serve's status at every tick."""
    assert "app-banner.children" in dash_app.callback_map
    calls: list[str] = []

    def status() -> str:
        calls.append("asked")
        return "jobs are not running: the worker exited (code 1) at 12:03:00, restarting in 4 s"

    ui_app.set_worker_status(status)
    try:
        children = ui_app.banner_children("/project/proj-0000abcd/dataset")
    finally:
        ui_app.set_worker_status(None)
    assert calls == ["asked"]
    assert len(children) == 1 and "restarting in 4 s" in text(children[0])
    assert ui_app.banner_children("/") == []


def test_the_banner_names_a_project_a_live_worker_set_aside(
    ui_workspace: Workspace, dash_app: dash.Dash
) -> None:
    """The reason a worker wrote to its quarantine list shows on that project's pages only."""
    from aistudio.worker.quarantine import Quarantine

    worker_id = "worker-test-quarantine"
    lock = try_lock(ui_workspace.worker_lock_path(worker_id))
    assert lock is not None
    quarantine = Quarantine(ui_workspace, worker_id)
    try:
        quarantine.set_aside("proj-0000abcd", "line 2 of its log is damaged", (), retry=False)
        on_it = ui_app.banner_children("/project/proj-0000abcd/training")
        assert len(on_it) == 1
        assert "the worker has set this project aside: line 2 of its log is damaged" in text(
            on_it[0]
        )
        assert ui_app.banner_children("/project/proj-0000beef/training") == []
        assert ui_app.banner_children("/") == []
    finally:
        quarantine.close()
        lock.release()
    assert ui_app.banner_children("/project/proj-0000abcd/training") == []


def test_the_banner_names_the_damaged_line_of_the_project_shown(
    ui_workspace: Workspace,
) -> None:
    """A project whose log is damaged mid-file shows it on its pages; others show nothing."""
    from aistudio import commands
    from ui.state import get_state

    damaged = commands.create_project(ui_workspace, "Damaged", "classification")
    healthy = commands.create_project(ui_workspace, "Healthy", "classification")
    damaged_id = damaged.data["project_id"]
    commands.rename_project(ui_workspace, damaged_id, "Damaged 2")
    path = ui_workspace.events_path(damaged_id)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"garbage\n" + lines[1])
    get_state().project_list()  # a refresh: the damage is found
    children = ui_app.banner_children(f"/project/{damaged_id}/dataset")
    assert len(children) == 1
    assert "this project's log is damaged at line 2" in text(children[0])
    assert "run `aistudio verify`" in text(children[0])
    assert ui_app.banner_children(f"/project/{healthy.data['project_id']}/dataset") == []


def test_the_banner_says_when_events_are_not_read_by_this_version(
    ui_workspace: Workspace,
) -> None:
    from aistudio import commands
    from events import EventLog

    created = commands.create_project(ui_workspace, "Newer", "classification")
    project_id = created.data["project_id"]
    path = ui_workspace.events_path(project_id)
    last = EventLog(path).last_seq()
    with path.open("a", encoding="utf-8") as handle:
        handle.write(
            f'{{"seq": {last + 1}, "id": "evt-00000000000000bb", "ts": "2026-11-28T00:00:00.000Z",'
            ' "type": "TrainingRequested", "v": 2, "actor": "script", "causation": null,'
            ' "data": {"experiment_id": "exp-0000beef", "name": "x", "config": {}}}\n'
        )
    children = ui_app.banner_children(f"/project/{project_id}/train")
    assert [c.className.split()[-1] for c in children] == ["app-banner-skipped"]
    assert "1 event of this log is not read by this version" in text(children[0])


def test_the_page_of_a_damaged_project_names_the_damage_not_a_missing_project(
    ui_workspace: Workspace,
) -> None:
    from aistudio import commands
    from ui.components.empty_state import project_not_found
    from ui.state import get_state

    created = commands.create_project(ui_workspace, "Broken", "classification")
    project_id = created.data["project_id"]
    path = ui_workspace.events_path(project_id)
    path.write_bytes(b"garbage\n" + path.read_bytes())
    get_state().project_list()
    page = text(project_not_found(project_id))
    assert "This project's log is damaged" in page and "line 1" in page
    assert "No such project" in text(project_not_found("proj-00000000"))
