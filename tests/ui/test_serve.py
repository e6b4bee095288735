"""``aistudio serve``: the web process stays free of torch, starts fast, runs the demo import
through the worker it starts, and Ctrl-C stops everything with no job left without an end.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from aistudio import commands
from aistudio.datasets.demo import write_digits_imagefolder
from aistudio.demo_project import DEMO_NAME
from aistudio.worker.service import Worker, any_worker_alive
from aistudio.workspace import Workspace
from events import Event
from tests.ui.browser import ServeProcess, process_alive, project_events, start_serve

REPO = Path(__file__).resolve().parents[2]
UI_DIR = REPO / "ui"
HEAVY_MODULES = ("torch", "torchvision", "pytorch_lightning", "lightning", "onnxruntime")
ALLOWED_AISTUDIO = frozenset(
    {
        "aistudio.commands",
        "aistudio.workspace",
        "aistudio.settings",
        "aistudio.demo_project",
        "aistudio.uploads",
    }
)
END_TYPES = frozenset({"JobSucceeded", "JobFailed", "JobCancelled"})


# ---------------------------------------------------------------------- helpers
def _wait_for(
    what: str, check: Callable[[], object], server: ServeProcess, timeout_s: float = 60.0
) -> object:
    """Poll ``check`` until it returns something truthy; fail with serve's output otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        if server.process.poll() is not None:
            pytest.fail(f"serve exited ({server.process.returncode}) while waiting for {what}")
        time.sleep(0.02)
    pytest.fail(f"no {what} within {timeout_s:.0f} s; serve's output:\n{server.output()}")


def _of_job(events: list[Event], job_id: str, *types: str) -> list[Event]:
    return [e for e in events if e.causation == job_id and e.type in types]


def _parent_pid(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    return None


def _children(pid: int) -> list[int] | None:
    """Child process ids (None where /proc does not tell)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return None
    return [int(p) for p in text.split()]


def _stop_cleanly(server: ServeProcess) -> None:
    code = server.stop()
    assert code == 0, f"serve exited with code {code} after Ctrl-C:\n{server.output()}"


# ---------------------------------------------------------------------- (a) no torch in the web
_WEB_PROCESS_PROBE = r"""
import json, sys
from aistudio.workspace import Workspace
from ui.app import create_app

root, pid, image_id, at_seq, heavy_names = sys.argv[1:6]
app = create_app(Workspace(root))
client = app.server.test_client()
statuses = {}
for url in ("/", "/_dash-layout", "/_dash-dependencies", f"/media/{pid}/thumb/{image_id}"):
    statuses[url] = client.get(url).status_code
router = next(k for k in app.callback_map if "_pages_content.children" in k)
pages = [
    ("/", ""),
    (f"/project/{pid}/dataset", ""),
    (f"/project/{pid}/split", ""),
    (f"/project/{pid}/history", ""),
    (f"/project/{pid}/dataset", f"?at={at_seq}"),
    (f"/project/{pid}/split", f"?at={at_seq}"),
]
for pathname, search in pages:
    body = {
        "output": router,
        "outputs": [{"id": "_pages_content", "property": "children"},
                    {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": pathname},
                   {"id": "_pages_location", "property": "search", "value": search}],
        "changedPropIds": ["_pages_location.pathname"],
        "state": [],
    }
    response = client.post("/_dash-update-component", json=body)
    statuses[f"page {pathname}{search}"] = response.status_code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in json.loads(heavy_names))
print(json.dumps({"statuses": statuses, "heavy": heavy}))
"""


def test_web_process_never_imports_torch(workspace: Workspace, tmp_path: Path) -> None:
    """Building the app and rendering every page of a real project loads no deep-learning module."""
    source = tmp_path / "digits"
    write_digits_imagefolder(source, n_per_class=2)
    project_id = str(
        commands.create_project(workspace, "probe", "classification").data["project_id"]
    )
    commands.request_import(workspace, project_id, str(source), "imagefolder")
    Worker(workspace).run(once=True)
    before_split = commands.dataset_view(workspace, project_id).seq
    commands.create_split(workspace, project_id, "default")
    image_id = next(iter(commands.dataset_view(workspace, project_id).images))

    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            _WEB_PROCESS_PROBE,
            str(workspace.root),
            project_id,
            image_id,
            str(before_split),
            json.dumps(HEAVY_MODULES),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], f"the web process imported {result['heavy']}"
    bad = {url: code for url, code in result["statuses"].items() if code != 200}
    assert not bad, f"requests that did not answer 200: {bad}\n{probe.stderr[-4000:]}"


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for every import in a Python file (``from a import b`` gives a.b too)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def _allowed(module: str) -> bool:
    """Whether ui/ may import ``module``: no deep-learning module, only allowed aistudio ones."""
    top = module.split(".")[0]
    if top in HEAVY_MODULES:
        return False
    if top != "aistudio" or module == "aistudio":
        return True
    return any(module == ok or module.startswith(f"{ok}.") for ok in ALLOWED_AISTUDIO)


def test_ui_imports_only_the_allowed_aistudio_modules() -> None:
    """ui/ may use aistudio's commands, workspace, settings, demo project, uploads, the tasks'
    metadata through commands, nothing heavier."""
    files = sorted(UI_DIR.rglob("*.py"))
    assert files, f"no Python files under {UI_DIR}"
    problems: list[str] = []
    for path in files:
        for line, module in _imported_modules(path):
            if not _allowed(module):
                problems.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert not problems, "the web app must not import these:\n" + "\n".join(problems)


# ---------------------------------------------------------------------- (b) start time
def test_serve_no_worker_answers_fast(tmp_path: Path) -> None:
    """``serve --no-worker`` answers HTTP within seconds, and starts no worker."""
    server = start_serve(tmp_path / "workspace", tmp_path / "serve.log", "--no-worker")
    try:
        elapsed = server.wait_until_serving()
        children = _children(server.pid)
    except BaseException:
        server.kill()
        raise
    _stop_cleanly(server)
    print(f"`aistudio serve --no-worker` answered HTTP {elapsed:.2f} s after it was started")
    assert elapsed < 10.0, f"serve took {elapsed:.1f} s to answer (goal: about 2 s)"
    if children is not None:
        assert children == [], f"--no-worker started processes {children}"


# ---------------------------------------------------------------------- (c) demo through worker
def test_serve_creates_the_demo_and_its_worker_imports_it(tmp_path: Path) -> None:
    """On a fresh workspace serve creates the demo project; its own worker runs the import."""
    workspace = Workspace(tmp_path / "workspace")
    server = start_serve(workspace.root, tmp_path / "serve.log")
    try:
        server.wait_until_serving()
        views = [v for v in commands.project_views(workspace).values() if not v.deleted]
        assert [v.name for v in views] == [DEMO_NAME]
        project_id = views[0].project_id
        events = project_events(workspace.root, project_id)
        requested = [e for e in events if e.type == "ImportRequested"]
        assert len(requested) == 1
        job_id = requested[0].id
        claimed = _wait_for(
            "JobClaimed",
            lambda: _of_job(project_events(workspace.root, project_id), job_id, "JobClaimed"),
            server,
        )
        worker_pid = int(claimed[0].data["pid"])  # type: ignore[index]
        assert worker_pid != server.pid
        assert _parent_pid(worker_pid) in (server.pid, None), "the job was claimed elsewhere"
        ended = _wait_for(
            "end of the demo import",
            lambda: _of_job(project_events(workspace.root, project_id), job_id, *END_TYPES),
            server,
        )
        assert [e.type for e in ended] == ["JobSucceeded"], ended  # type: ignore[union-attr]
        assert len(commands.dataset_view(workspace, project_id).images) > 0
    except BaseException:
        server.kill()
        raise
    _stop_cleanly(server)
    assert not process_alive(worker_pid), "the worker outlived serve"


# ---------------------------------------------------------------------- (d) Ctrl-C mid-job
def test_ctrl_c_stops_the_worker_and_ends_the_running_job(tmp_path: Path) -> None:
    """Ctrl-C while an import runs: serve and its worker exit, and the job has exactly one end."""
    source = tmp_path / "digits"
    write_digits_imagefolder(source, n_per_class=150)
    workspace = Workspace(tmp_path / "workspace")
    workspace.ensure()
    project_id = str(commands.create_project(workspace, "big", "classification").data["project_id"])

    server = start_serve(workspace.root, tmp_path / "serve.log")
    try:
        server.wait_until_serving()
        job_id = commands.request_import(workspace, project_id, str(source), "imagefolder").id
        started = _wait_for(
            "JobStarted",
            lambda: _of_job(project_events(workspace.root, project_id), job_id, "JobStarted"),
            server,
        )
        _wait_for(  # the import itself is under way (it reports progress as it goes)
            "JobProgress",
            lambda: _of_job(project_events(workspace.root, project_id), job_id, "JobProgress"),
            server,
        )
        server.interrupt()  # Ctrl-C: SIGINT to serve's process group, as a terminal sends it
        code = server.process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        job_pids = [int(e.data["pid"]) for e in started]  # type: ignore[union-attr]
        server.dump_stacks(*job_pids)
        server.kill()
        job_logs = "\n".join(
            path.read_text(errors="replace")[-6000:]
            for path in workspace.project_dir(project_id).glob(".run/*.log")
        )
        pytest.fail(
            "serve did not exit within 90 s of Ctrl-C (serve waits 60 s for its worker); "
            f"serve's output, with stacks:\n{server.output()}\njob logs:\n{job_logs}"
        )
    except BaseException:
        server.kill()
        raise
    assert code == 0, f"serve exited with code {code} after Ctrl-C:\n{server.output()}"

    events = project_events(workspace.root, project_id)
    worker_pids = {int(e.data["pid"]) for e in _of_job(events, job_id, "JobClaimed")}
    job_pids = {int(e.data["pid"]) for e in started}  # type: ignore[union-attr]
    assert worker_pids, "no worker claimed the job"
    for pid in sorted(worker_pids):
        assert not process_alive(pid), f"the worker (pid {pid}) is still running"
    for pid in sorted(job_pids):
        assert not process_alive(pid), f"the job process (pid {pid}) was left running"
    ends = _of_job(events, job_id, *END_TYPES)
    assert len(ends) == 1, f"the job has {len(ends)} end events: {[e.type for e in ends]}"
    end = ends[0]
    assert end.type == "JobSucceeded" or (
        end.type == "JobFailed" and end.data.get("reason") == "worker_lost"
    ), f"unexpected end of the interrupted job: {end.type} {end.data}"
    print(f"the import interrupted by Ctrl-C ended with {end.type} {end.data.get('reason', '')}")


def test_serve_started_with_sigint_ignored_still_stops_on_ctrl_c(tmp_path: Path) -> None:
    """A script's background `aistudio serve &` inherits an ignored SIGINT: Ctrl-C (SIGINT to
    its group) must still stop serve and its worker, not the worker alone."""
    server = start_serve(tmp_path / "workspace", tmp_path / "serve.log", sigint_ignored=True)
    try:
        server.wait_until_serving()
        workers = _wait_for("a worker", lambda: _worker_children(server), server)
        code = server.stop()
    except BaseException:
        server.kill()
        raise
    assert code == 0, f"serve exited with code {code} after Ctrl-C:\n{server.output()}"
    for pid in workers:
        assert not process_alive(pid), f"the worker (pid {pid}) is still running"


# ---------------------------------------------------------------------- (e) a dead worker
def _banner(server: ServeProcess) -> str:
    """What the banner of every page says right now (a real callback over HTTP)."""
    body = {
        "output": "app-banner.children",
        "outputs": {"id": "app-banner", "property": "children"},
        "inputs": [
            {"id": "url", "property": "pathname", "value": "/"},
            {"id": "tick", "property": "n_intervals", "value": 1},
        ],
        "changedPropIds": ["tick.n_intervals"],
        "state": [],
    }
    request = urllib.request.Request(
        server.url + "_dash-update-component",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


def _banner_if(server: ServeProcess, wanted: str) -> str:
    """The banner's text when it holds ``wanted``, else ''."""
    banner = _banner(server)
    return banner if wanted in banner else ""


def _all_children(pid: int) -> list[int]:
    """Children of every thread of ``pid`` (serve's supervisor thread starts the restarts)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found.extend(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def _worker_children(server: ServeProcess) -> list[int]:
    return [pid for pid in _all_children(server.pid) if process_alive(pid)]


def test_serve_restarts_its_worker_when_it_dies(tmp_path: Path) -> None:
    """Kill serve's worker: the banner says so, serve reaps it and starts another, which runs
    the next command. Before: a defunct child, no banner, commands pending forever."""
    source = tmp_path / "digits"
    write_digits_imagefolder(source, n_per_class=2)
    workspace = Workspace(tmp_path / "workspace")
    workspace.ensure()
    project_id = str(commands.create_project(workspace, "p", "classification").data["project_id"])
    server = start_serve(workspace.root, tmp_path / "serve.log")
    try:
        server.wait_until_serving()
        first = _wait_for("serve's worker", lambda: _worker_children(server), server)
        assert len(first) == 1  # type: ignore[arg-type]
        old_pid = first[0]  # type: ignore[index]
        _wait_for("the worker's lock", lambda: any_worker_alive(workspace), server)
        assert "jobs are not running" not in _banner(server)
        os.kill(old_pid, signal.SIGKILL)
        banner = _wait_for(
            "the banner about the dead worker",
            lambda: _banner_if(server, "jobs are not running"),
            server,
            timeout_s=5,
        )
        assert "the worker was killed by SIGKILL at " in banner  # type: ignore[operator]
        assert "restarting in 1 s" in banner or "restarting now" in banner  # type: ignore[operator]
        new = _wait_for(
            "a new worker",
            lambda: [p for p in _worker_children(server) if p != old_pid],
            server,
            timeout_s=15,
        )
        new_pid = new[0]  # type: ignore[index]
        assert old_pid not in _all_children(server.pid), "the dead worker was not reaped"
        assert "jobs are not running" not in _banner(server)
        job_id = commands.request_import(workspace, project_id, str(source), "imagefolder").id
        ended = _wait_for(
            "the import's end",
            lambda: _of_job(project_events(workspace.root, project_id), job_id, *END_TYPES),
            server,
        )
        assert [e.type for e in ended] == ["JobSucceeded"]  # type: ignore[union-attr]
        claimed = _of_job(project_events(workspace.root, project_id), job_id, "JobClaimed")
        assert int(claimed[0].data["pid"]) == new_pid
    except BaseException:
        server.kill()
        raise
    _stop_cleanly(server)
    assert not process_alive(new_pid), "the restarted worker outlived serve"
    assert "the worker was killed by SIGKILL; restarting it in 1 s" in server.output()


_SETUP_PROBE = r"""
import sys
from aistudio.serve import prepare_before_serving
from aistudio.workspace import Workspace
from ui.app import create_app

app = create_app(Workspace(sys.argv[1]))
before = app._got_first_request["setup_server"]
prepare_before_serving(app)
client = app.server.test_client()
codes = [client.get(url).status_code for url in ("/_dash-layout", "/_dash-dependencies")]
print(before, app._got_first_request["setup_server"], len(app.callback_map) > 0, codes)
"""


def test_dash_is_set_up_before_the_first_request(tmp_path: Path) -> None:
    """Serve runs Dash's first-request setup before serving, so two first requests at once
    cannot race it (a clean CI run once got a 500: "dictionary changed size during
    iteration"); a request afterwards finds it done and the app answers. In a process of its
    own: the setup takes the callbacks every app of a process shares."""
    workspace = Workspace(tmp_path / "workspace")
    workspace.ensure()
    probe = subprocess.run(
        [sys.executable, "-c", _SETUP_PROBE, str(workspace.root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().splitlines()[-1] == "False True True [200, 200]"
