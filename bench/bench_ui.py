"""The web app: server-side time of the Dataset page at 100,000 images, and start-up time.

The project: 100,000 fake images (10 classes, no files: thumbnails are loaded by the browser,
not by the page's callbacks) appended with ``EventLog.append_many`` in ``ImagesAdded`` batches
of 500, and a 70/15/15 split of them.

Figures (the projector warm, i.e. after the first load, which ``bench_projections`` measures):
    (a) the page's first grid page: the layout function (grid, histogram, jobs), and the same
        through HTTP (Dash's page-content callback via Flask's test client: routing, JSON,
        serialisation included); goal < 300 ms each. Baseline: iterating the 100,000 images
        of the view's dict once.
    (b) a filter change: the grid callback for a class, a file-name part, a split subset and
        the last page, as a function and through HTTP; goal < 300 ms. Baseline: the same
        ``DatasetView.filter`` alone.
    (c) the tick of a page whose log did not change (once a second per open tab).
    (d) start-up: ``create_app`` in a fresh process until the app object exists, and
        ``aistudio serve --no-worker`` until it answers HTTP; baseline: ``python -c "import
        dash"`` in the same run.
    (e) the History page's first read of a 200,000-event log (``bench_projections``' log: 100k
        images in batches of 500, then single relabels): its event index built from the file,
        and the page's first visit (layout and first table page with progress events hidden,
        as the page's switch is by default; the projector warm); goal
        <= 3x the baseline, a bare orjson parse of the same file line by line, measured
        alternately in the same run. Also: the normal events reader of the same file; the
        first visit of a web process whose state is cold (through HTTP: the page then loads
        the project's views too, as any first page does) and that first load of the views
        alone; a refresh of the index after one appended event.
"""

from __future__ import annotations

import logging
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.common import Row, print_table, timed

logger = logging.getLogger(__name__)

N_IMAGES = 100_000
BATCH = 500
HISTORY_EVENTS = 200_000
CLASSES = [f"class_{i:02d}" for i in range(10)]
REPEAT = 5
START_REPEAT = 3
ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------- the project
def build_project(workspace: Any, n_images: int = N_IMAGES) -> str:
    """Create a project with ``n_images`` fake images and a split; its id."""
    from aistudio import commands
    from events import EventLog, NewEvent

    project_id = str(
        commands.create_project(workspace, "Bench", "classification").data["project_id"]
    )
    new = [NewEvent("ClassesDefined", {"classes": CLASSES}, actor="job")]
    for start in range(0, n_images, BATCH):
        records = [
            {
                "image_id": f"img-{n:08x}",
                "sha256": f"{n * 2654435761 % (1 << 64):064x}",
                "ext": "png",
                "filename": f"{CLASSES[n % 10]}/image_{n:06d}.png",
                "width": 64,
                "height": 48,
                "size_bytes": 1000 + n % 5000,
                "label": CLASSES[n % 10],
            }
            for n in range(start, min(start + BATCH, n_images))
        ]
        new.append(NewEvent("ImagesAdded", {"images": records}, actor="job"))
    log = EventLog(workspace.events_path(project_id))
    log.append_many(new)
    ids = [f"img-{n:08x}" for n in range(n_images)]
    subsets = ["train"] * 14 + ["val"] * 3 + ["test"] * 3  # 70/15/15, interleaved
    assignments: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for n, image_id in enumerate(ids):
        assignments[subsets[n % 20]].append(image_id)
    last = log.last_seq()
    log.append(
        "SplitCreated",
        {
            "name": "default",
            "ratios": {"train": 0.7, "val": 0.15, "test": 0.15},
            "seed": 0,
            "stratify": False,
            "dataset_seq": last,
            "assignments": assignments,
        },
        actor="ui",
        expected_seq=last,
    )
    return project_id


def dataset_page(app: Any) -> ModuleType:
    """The Dataset page's module as Dash loaded it."""
    import dash

    for entry in dash.page_registry.values():
        if entry.get("path_template") == "/project/<project_id>/dataset":
            return sys.modules[entry["module"]]
    raise RuntimeError("the dataset page is not registered")


# ---------------------------------------------------------------------- HTTP callbacks
class DashClient:
    """Calls a Dash callback the way the browser does (POST ``/_dash-update-component``)."""

    def __init__(self, app: Any) -> None:
        self.client = app.server.test_client()
        self.client.get("/")  # the first request sets the server up (page callbacks)
        self.deps = {d["output"]: d for d in self.client.get("/_dash-dependencies").json}

    def find(self, fragment: str) -> dict[str, Any]:
        """The callback whose output spec contains ``fragment``."""
        return next(d for out, d in self.deps.items() if fragment in out)

    def call(self, dep: dict[str, Any], values: dict[str, Any], changed: list[str]) -> Any:
        """Call ``dep`` with ``values`` (``"id.prop" -> value``) for inputs and states."""
        output = dep["output"]
        parts = output.strip(".").split("...") if output.startswith("..") else [output]
        outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in parts]

        def with_value(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{**i, "value": values.get(f"{i['id']}.{i['property']}")} for i in items]

        payload = {
            "output": output,
            "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": with_value(dep["inputs"]),
            "state": with_value(dep["state"]),
            "changedPropIds": changed,
        }
        response = self.client.post("/_dash-update-component", json=payload)
        if response.status_code != 200:
            raise RuntimeError(f"callback {output} answered {response.status_code}")
        return response.json


# ---------------------------------------------------------------------- start-up
def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_python(code: str) -> float:
    """Wall time of ``python -c code`` in a fresh process, exit included (must succeed)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True)
    return time.perf_counter() - start


def run_python_until(code: str, marker: str = "READY") -> float:
    """Seconds from starting ``python -c code`` until it prints ``marker`` (then it is ended)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.decode().strip() == marker:
                return time.perf_counter() - start
        raise RuntimeError(f"the process exited with {process.wait()} before {marker}")
    finally:
        process.kill()
        process.wait()


def serve_until_http(workspace_root: Path, timeout_s: float = 60.0) -> float:
    """Seconds from starting ``aistudio serve --no-worker`` to its first HTTP answer."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "aistudio.cli",
        "--workspace",
        str(workspace_root),
        "serve",
        "--no-worker",
        "--port",
        str(port),
    ]
    start = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < timeout_s:
            if process.poll() is not None:
                raise RuntimeError(f"aistudio serve exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"aistudio serve did not answer within {timeout_s:.0f} s")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def best_of(func: Callable[[], float], repeat: int) -> float:
    return min(func() for _ in range(repeat))


# ---------------------------------------------------------------------- history
def history_figures(root: Path, http: DashClient) -> list[Row]:
    """(e) The History page's first read of a 200,000-event log, beside a bare orjson parse.

    The project gets a workspace of its own under ``root``, which the app's state is pointed
    at (the Dataset figures are done by then).
    """
    from aistudio.workspace import Workspace
    from bench import bench_projections
    from events import EventLog, LogTail
    from ui.components import history_log
    from ui.components import history_view as hv
    from ui.components.history_log import EventIndex
    from ui.state import init_state

    workspace = Workspace(root)
    workspace.ensure()
    project_id = "proj-0badcafe"  # the id in the log's ProjectCreated
    path = workspace.events_path(project_id)
    path.parent.mkdir(parents=True)
    before_relabels = bench_projections.N_IMAGES // bench_projections.BATCH + 4
    last_seq = bench_projections.build_log(path, n_relabels=HISTORY_EVENTS - before_relabels)
    assert last_seq == HISTORY_EVENTS
    size_mb = path.stat().st_size / 1e6

    # What a first visit asks for: no filter, progress events hidden (the switch's default).
    first_query = hv.build_query(None, None, hide_progress=True)
    # A web process's first visit: no view loaded yet, no index; through HTTP, then the table.
    init_state(workspace)
    history_log._indexes.clear()
    start = time.perf_counter()
    http.call(
        http.find("_pages_content.children"),
        {
            "_pages_location.pathname": f"/project/{project_id}/history",
            "_pages_location.search": "",
        },
        ["_pages_location.pathname"],
    )
    hv.table_update(project_id, None, first_query, 1, None, None)
    cold_s = time.perf_counter() - start
    state = init_state(workspace)  # cold again: the views' first load alone
    start = time.perf_counter()
    assert state.live_project(project_id) is not None
    projector_s = time.perf_counter() - start

    def first_index() -> None:
        index = EventIndex(path)
        index.refresh()
        assert index.last_seq == HISTORY_EVENTS

    def first_visit() -> None:
        history_log._indexes.clear()  # a web process that never showed this log's History
        hv.history_layout(project_id)
        out = hv.table_update(project_id, None, first_query, 1, None, None)
        assert len(out[0]) == hv.PAGE_SIZE and out[-1][0] == HISTORY_EVENTS

    parse_s = index_s = page_s = float("inf")
    for _ in range(REPEAT):  # alternately, so that both see the same machine
        parse_s = min(parse_s, timed(lambda: bench_projections.parse_lines(path)))
        index_s = min(index_s, timed(first_index))
        page_s = min(page_s, timed(first_visit))
    reader_s = timed(lambda: LogTail(path).poll())

    index = history_log.event_index(path)
    log = EventLog(path)
    refresh_times = []
    for n in range(20):
        log.append("LabelChanged", {"image_id": f"img-{n:08x}", "label": "class_01"}, actor="ui")
        start = time.perf_counter()
        assert index.refresh() == 1
        refresh_times.append(time.perf_counter() - start)

    return [
        Row("(e) History: log events", HISTORY_EVENTS, "events"),
        Row("    History: log size", size_mb, "MB"),
        Row(
            "    first read: event index from file", index_s, "s", "orjson parse", parse_s, "<= 3x"
        ),
        Row(
            "    first visit: layout + table, projector warm",
            page_s,
            "s",
            "orjson parse",
            parse_s,
            "<= 3x",
        ),
        Row("    normal events reader (LogTail.poll)", reader_s, "s", "orjson parse", parse_s),
        Row("    first visit over HTTP, web state cold", cold_s, "s", "orjson parse", parse_s),
        Row("    of which: the views' first load", projector_s, "s", "orjson parse", parse_s),
        Row(
            "    index refresh after 1 new event (median)",
            statistics.median(refresh_times) * 1e3,
            "ms",
            goal="< 5 ms",
        ),
    ]


# ---------------------------------------------------------------------- main
def main() -> None:
    """Build the project in a temporary workspace, measure, print the table."""
    from dash.exceptions import PreventUpdate

    from aistudio import commands
    from aistudio.workspace import Workspace
    from ui.app import create_app
    from ui.state import get_state

    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp:
        workspace = Workspace(Path(tmp) / "workspace")
        workspace.ensure()
        start = time.perf_counter()
        project_id = build_project(workspace)
        build_s = time.perf_counter() - start

        app = create_app(workspace)
        page = dataset_page(app)
        state = get_state()
        start = time.perf_counter()
        dataset = state.view(project_id, "dataset")
        load_s = time.perf_counter() - start
        assert len(dataset.images) == N_IMAGES
        meta = {"project_id": project_id, "task": "classification", "at": None}
        seq = dataset.seq

        def grid(
            label: Any = None,
            split: Any = None,
            subset: Any = None,
            name: Any = None,
            page_no: int = 1,
        ) -> Any:
            return page.update_grid(seq, label, split, subset, name, page_no, meta)

        baseline_iter = timed(lambda: [e for e in dataset.images.values()], REPEAT)
        layout_s = timed(lambda: page.layout(project_id=project_id), REPEAT)
        first_s = timed(grid, REPEAT)
        last_page = -(-N_IMAGES // 60)
        last_s = timed(lambda: grid(page_no=last_page), REPEAT)
        class_s = timed(lambda: grid(label="class_03"), REPEAT)
        class_base = timed(lambda: dataset.filter(label="class_03"), REPEAT)
        name_s = timed(lambda: grid(name="_04242"), REPEAT)
        name_base = timed(lambda: dataset.filter(name_contains="_04242"), REPEAT)
        subset_s = timed(lambda: grid(label="class_07", split="default", subset="val"), REPEAT)
        subset_base = timed(
            lambda: dataset.filter(label="class_07", split="default", subset="val"), REPEAT
        )
        histogram_s = timed(lambda: page.update_histogram(seq, "dark", None, meta), REPEAT)
        stacked_s = timed(lambda: page.update_histogram(seq, "dark", "default", meta), REPEAT)

        def tick() -> None:
            try:
                page.on_tick(1, meta, seq)
            except PreventUpdate:  # nothing changed, as expected
                return
            raise AssertionError("the tick saw a change in an unchanged log")

        tick_s = timed(tick, REPEAT * 20)

        http = DashClient(app)
        pages_dep = http.find("_pages_content.children")
        grid_dep = http.find("dataset-grid.children")
        path = f"/project/{project_id}/dataset"
        http_page_s = timed(
            lambda: http.call(
                pages_dep,
                {"_pages_location.pathname": path, "_pages_location.search": ""},
                ["_pages_location.pathname"],
            ),
            REPEAT,
        )
        grid_values = {
            "dataset-seq.data": seq,
            "dataset-filter-class.value": "class_03",
            "dataset-filter-split.value": None,
            "dataset-filter-subset.value": None,
            "dataset-filter-name.value": None,
            "dataset-page.active_page": 7,
            "dataset-meta.data": meta,
        }
        http_filter_s = timed(
            lambda: http.call(grid_dep, grid_values, ["dataset-filter-class.value"]), REPEAT
        )
        answer = http.call(grid_dep, grid_values, ["dataset-filter-class.value"])
        assert answer["response"]["dataset-page"]["active_page"] == 1

        history_rows = history_figures(Path(tmp) / "history", http)

        # Start-up, in fresh processes; a workspace with one small project (no demo import).
        startup_ws = Path(tmp) / "startup"
        small = Workspace(startup_ws)
        small.ensure()
        commands.create_project(small, "Small", "classification")
        env_code = (
            "from aistudio.workspace import Workspace; from ui.app import create_app; "
            f"app = create_app(Workspace({str(startup_ws)!r}))"
        )
        import_dash_s = best_of(
            lambda: run_python_until("import dash; print('READY', flush=True)"), START_REPEAT
        )
        create_app_s = best_of(
            lambda: run_python_until(env_code + "; print('READY', flush=True)"), START_REPEAT
        )
        # The web process never imports torch (this run fails if it does).
        run_python(env_code + "; import sys; assert 'torch' not in sys.modules")
        serve_s = best_of(lambda: serve_until_http(startup_ws), START_REPEAT)

    ms = 1e3
    rows = [
        Row("project: images", N_IMAGES, "images"),
        Row("project: log written in (append_many)", build_s, "s"),
        Row("projector: first load of the views", load_s, "s"),
        Row(
            "(a) first grid page: layout()",
            layout_s * ms,
            "ms",
            "dict iteration",
            baseline_iter * ms,
            "< 300 ms",
        ),
        Row(
            "    first grid page: HTTP page callback",
            http_page_s * ms,
            "ms",
            "dict iteration",
            baseline_iter * ms,
            "< 300 ms",
        ),
        Row(
            "    grid callback, page 1, no filter",
            first_s * ms,
            "ms",
            "dict iteration",
            baseline_iter * ms,
            "< 300 ms",
        ),
        Row(
            f"    grid callback, last page ({last_page})",
            last_s * ms,
            "ms",
            "dict iteration",
            baseline_iter * ms,
            "< 300 ms",
        ),
        Row(
            "(b) filter change: class",
            class_s * ms,
            "ms",
            "filter() alone",
            class_base * ms,
            "< 300 ms",
        ),
        Row(
            "    filter change: class, HTTP",
            http_filter_s * ms,
            "ms",
            "filter() alone",
            class_base * ms,
            "< 300 ms",
        ),
        Row(
            "    filter change: file name part",
            name_s * ms,
            "ms",
            "filter() alone",
            name_base * ms,
            "< 300 ms",
        ),
        Row(
            "    filter change: split subset + class",
            subset_s * ms,
            "ms",
            "filter() alone",
            subset_base * ms,
            "< 300 ms",
        ),
        Row(
            "    histogram callback (10 classes)",
            histogram_s * ms,
            "ms",
            "dict iteration",
            baseline_iter * ms,
            "< 300 ms",
        ),
        Row(
            "    histogram callback, stacked by subset",
            stacked_s * ms,
            "ms",
            "dict iteration",
            baseline_iter * ms,
            "< 300 ms",
        ),
        Row("(c) tick, log unchanged", tick_s * ms, "ms", goal="< 5 ms"),
        Row(
            "(d) start: create_app() returned, new process",
            create_app_s,
            "s",
            "import dash",
            import_dash_s,
            "~1 s",
        ),
        Row(
            "    start: `aistudio serve` answers HTTP",
            serve_s,
            "s",
            "import dash",
            import_dash_s,
            "< 2 s",
        ),
    ]
    rows += history_rows
    print_table(
        f"web app: Dataset page at {N_IMAGES:,} images, start-up, History at "
        f"{HISTORY_EVENTS:,} events",
        rows,
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
