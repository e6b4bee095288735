"""Every page of a realistic demo workspace: its server time and, in Chromium, its time to content.

The workspace is built the way a user builds it, with the CLI (``--wait`` runs each job itself):
the digits demo (300 PNGs, imported and split), a 2-epoch ResNet-18 trained from scratch at 32 px,
its evaluation and an ONNX export; and a detection project (36 canvases of pasted digits,
``aistudio/datasets/scenes.py``, imported as COCO) trained 2 epochs at 64 px, evaluated and
exported, since detection pages draw heavier figures. About two minutes to build; set
``BENCH_PAGES_WORKSPACE=DIR`` to keep it in ``DIR`` and reuse it on the next run (the pages are
measured on a copy either way).

Figures, for each page of both projects, the Projects page, and a baseline measured in the same
run (the "page not found" page: the same shell and its callbacks around a trivial page):

    (a) browser, first visit: ``aistudio serve --no-worker`` just started (a process of its own
        for each visit; the page is opened a second after serve answers, as a person opens the
        address it prints) and a fresh Chromium context (empty cache), from the navigation's
        start until the page's main content is visible (every selector below has a box); best
        of ``FIRST_VISITS``;
    (b) browser, warm: the same page loaded again in that tab (median of ``WARM_VISITS``);
    (c) browser, in the app: from the lifecycle's previous page, a click on the page's link in
        the sidebar (Dash changes the page without reloading; median of ``IN_APP_VISITS``);
    (d) server, first visit: the requests the browser made for that first load (the page's
        HTML, ``_dash-layout``, ``_dash-dependencies`` and every ``_dash-update-component``
        call until the first tick of the ``tick`` interval), replayed one after the other with
        Flask's test client in a fresh process, once its warm-up is done; best of
        ``FIRST_VISITS`` processes; goal < 1 s;
    (e) server, warm: the same replay again in that process (median of ``SERVER_WARM``);
        goal < 300 ms.

The browser pays for the JavaScript bundles on a first visit (Dash's renderer, React, the
components; plotly.js once a page draws a figure), which the server figures leave out. The
machine's load moves the browser figures most: compare them with the baseline page's.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bench_ui import free_port
from bench.common import machine

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
REUSE_ENV = "BENCH_PAGES_WORKSPACE"
DIGITS = "Digits demo"
SCENES = "Scenes"
FIRST_VISITS = 3
WARM_VISITS = 5
IN_APP_VISITS = 3
SERVER_WARM = 5
ARRIVAL_S = 1.0  # from serve's first answer to the first visit
SERVE_TIMEOUT_S = 60.0
VISIBLE_TIMEOUT_MS = 60_000
QUIET_S = 1.5  # after the content shows, how long requests are still recorded
MEDIA = ("/assets/", "/_dash-component-suites/", "/media/", "/_favicon")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]

# Each page's main content: every selector must match an element with a box.
PROJECT_PAGES: dict[str, tuple[str, ...]] = {
    "dataset": ("#dataset-grid .thumb img", "#dataset-histogram .main-svg"),
    "split": ("#split-list .card", "#split-preview .main-svg"),
    "train": ("#train-experiments .list-group-item", "#train-curves .main-svg"),
    "evaluate": ("#eval-cards", "#eval-grid .eval-tile", "#eval-metrics .main-svg"),
    "export": ("#export-experiments .list-group-item",),
    "history": ("#history-tbody .history-row",),
}
BASELINE = "not found (baseline)"


@dataclass(frozen=True)
class PageSpec:
    """One page to measure: a name for the table, its path and what shows its content."""

    name: str
    path: str
    selectors: tuple[str, ...]
    came_from: str | None = None
    """The page whose sidebar link leads here, for (c) (None: not measured)."""
    step: str | None = None
    """The id of that link."""


@dataclass
class PageTimes:
    """What was measured of one page."""

    spec: PageSpec
    browser_cold_s: float = float("nan")
    browser_warm_s: float = float("nan")
    browser_in_app_s: float = float("nan")
    server_cold_s: float = float("nan")
    server_warm_s: float = float("nan")
    requests: list[dict[str, Any]] = field(default_factory=list)
    slowest: list[tuple[str, float]] = field(default_factory=list)


# ---------------------------------------------------------------------- the workspace
def aistudio(workspace: Path, *args: str) -> str:
    """Run the ``aistudio`` command of this virtual environment; its standard output."""
    command = [str(Path(sys.executable).with_name("aistudio")), "--workspace", str(workspace)]
    done = subprocess.run(
        [*command, *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=1800
    )
    if done.returncode != 0:
        raise RuntimeError(f"aistudio {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done.stdout


def write_scenes_coco(folder: Path, count: int = 36) -> Path:
    """``count`` 64 px canvases of pasted digits as a COCO folder (``instances.json``)."""
    from aistudio.datasets.scenes import write_scenes

    scenes = write_scenes(folder / "images", count, size=(64, 64), per_image=(0, 2))
    classes = ("0", "1", "2")
    ids = {name: n + 1 for n, name in enumerate(classes)}
    annotations = []
    for n, scene in enumerate(scenes):
        for obj in scene.objects:
            x1, y1, x2, y2 = obj.box
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": n + 1,
                    "category_id": ids[obj.label],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    document = {
        "images": [
            {"id": n + 1, "file_name": f"images/{s.file_name}", "width": 64, "height": 64}
            for n, s in enumerate(scenes)
        ],
        "annotations": annotations,
        "categories": [{"id": i, "name": name} for name, i in ids.items()],
    }
    (folder / "instances.json").write_text(json.dumps(document))
    return folder


def first_experiment(workspace: Path, project: str) -> str:
    """The id of the project's first experiment (from ``aistudio show``)."""
    shown = json.loads(aistudio(workspace, "show", project, "experiments"))
    return next(iter(shown["experiments"]))


def build_demo(workspace: Path) -> None:
    """The demo workspace: both projects imported, split, trained, evaluated and exported."""
    aistudio(workspace, "demo")
    aistudio(workspace, "train", DIGITS, "--model", "resnet18", "--epochs", "2",
             "--image-size", "32", "--wait")  # fmt: skip
    digits_exp = first_experiment(workspace, DIGITS)
    aistudio(workspace, "evaluate", DIGITS, digits_exp, "--wait")
    aistudio(workspace, "export", DIGITS, digits_exp, "--wait")
    source = write_scenes_coco(workspace.parent / "scenes-source")
    aistudio(workspace, "project", "create", SCENES, "--task", "detection")
    aistudio(workspace, "import", SCENES, str(source), "--wait")
    aistudio(workspace, "split", SCENES)
    aistudio(workspace, "train", SCENES, "--epochs", "2", "--image-size", "64",
             "--batch-size", "8", "--wait")  # fmt: skip
    scenes_exp = first_experiment(workspace, SCENES)
    aistudio(workspace, "evaluate", SCENES, scenes_exp, "--subsets", "val,test", "--wait")
    aistudio(workspace, "export", SCENES, scenes_exp, "--wait")


def project_ids(workspace: Path) -> dict[str, str]:
    """Project name -> id of the workspace's live projects."""
    from aistudio import commands
    from aistudio.workspace import Workspace

    views = commands.project_views(Workspace(workspace))
    return {v.name: pid for pid, v in views.items() if not v.deleted}


def demo_workspace(tmp: Path) -> Path:
    """A copy of the demo workspace under ``tmp``: built, or reused from the folder that
    ``$BENCH_PAGES_WORKSPACE`` names (built there first when it holds no demo workspace)."""
    kept = os.environ.get(REUSE_ENV)
    source = Path(kept) if kept else tmp / "built" / "workspace"
    if not {DIGITS, SCENES} <= set(project_ids(source) if source.is_dir() else {}):
        if source.exists():
            shutil.rmtree(source)
        source.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        build_demo(source)
        print(f"demo workspace built in {time.perf_counter() - start:.0f} s: {source}")
    copy = tmp / "measured" / "workspace"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(".run", ".tmp", "*.ckpt"))
    return copy


def page_specs(workspace: Path) -> list[PageSpec]:
    """The pages measured, the baseline first."""
    ids = project_ids(workspace)
    specs = [
        PageSpec(BASELINE, "/no-such-page", (".empty-state h4",)),
        PageSpec("projects", "/", (".projects-card",)),
    ]
    pages = list(PROJECT_PAGES)
    for label, name in (("digits", DIGITS), ("scenes", SCENES)):
        base = f"/project/{ids[name]}"
        for n, (page, selectors) in enumerate(PROJECT_PAGES.items()):
            previous = pages[n - 1] if n else pages[1]  # the Dataset page: from the Split page
            specs.append(
                PageSpec(
                    f"{label} {page}",
                    f"{base}/{page}",
                    selectors,
                    f"{base}/{previous}",
                    f"#step-{page}",
                )
            )
    return specs


# ---------------------------------------------------------------------- serve
@contextmanager
def served(workspace: Path) -> Iterator[str]:
    """``aistudio serve --no-worker`` on ``workspace`` until the block ends; its base URL."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("aistudio")), "--workspace", str(workspace),
               "serve", "--no-worker", "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVE_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"aistudio serve exited with {process.returncode}")
            try:
                with urllib.request.urlopen(url + "/", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("aistudio serve did not answer") from None
                time.sleep(0.05)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# ---------------------------------------------------------------------- the browser
VISIBLE_JS = """(selectors) => {
  const shown = selectors.every((s) => {
    const el = document.querySelector(s);
    if (!el) return false;
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  });
  if (shown && window.__contentVisible === undefined) window.__contentVisible = performance.now();
  return shown;
}"""


def load_page(page: Any, url: str, selectors: tuple[str, ...]) -> float:
    """Navigate ``page`` to ``url``; seconds from the navigation's start to content visible."""
    page.goto(url, wait_until="commit")
    page.wait_for_function(
        VISIBLE_JS, arg=list(selectors), polling="raf", timeout=VISIBLE_TIMEOUT_MS
    )
    return float(page.evaluate("window.__contentVisible")) / 1e3


def follow_link(page: Any, spec: PageSpec, base: str, came_from: PageSpec) -> float:
    """From ``came_from`` (loaded), click the sidebar link to ``spec``; seconds to content."""
    load_page(page, base + came_from.path, came_from.selectors)
    page.wait_for_timeout(300)  # let the page settle, as a person reads it before clicking
    start = float(page.evaluate("window.__contentVisible = undefined; performance.now()"))
    page.click(str(spec.step))
    page.wait_for_function(
        VISIBLE_JS, arg=list(spec.selectors), polling="raf", timeout=VISIBLE_TIMEOUT_MS
    )
    return (float(page.evaluate("window.__contentVisible")) - start) / 1e3


def first_load_requests(log: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    """The app's requests of the last navigation to ``path``: its HTML, Dash's and every
    callback the first load fired, once each (a callback the ``tick`` fired is left out, and so
    is a callback already kept: a tick's consequences, such as a redraw, come later)."""
    start = max(i for i, r in enumerate(log) if r["method"] == "GET" and r["path"] == path)
    kept, outputs = [], set()
    for request in log[start:]:
        if request["path"].startswith(MEDIA):
            continue
        body = request["body"]
        if body:
            call = json.loads(body)
            if "tick.n_intervals" in call.get("changedPropIds", []) or call["output"] in outputs:
                continue
            outputs.add(call["output"])
        elif request["method"] == "GET" and any(r["path"] == request["path"] for r in kept):
            continue
        kept.append(request)
    return kept


def record_requests(page: Any, base: str) -> list[dict[str, Any]]:
    """The list every request ``page`` makes from now on is appended to (method, path, body)."""
    log: list[dict[str, Any]] = []

    def add(request: Any) -> None:
        path = request.url.removeprefix(base)
        log.append({"method": request.method, "path": path, "body": request.post_data})

    page.on("request", add)
    return log


def measure_page(
    browser: Any, workspace: Path, spec: PageSpec, came_from: PageSpec | None
) -> PageTimes:
    """(a), (b) and (c) of one page; (a) against a serve of its own for each visit."""
    times = PageTimes(spec)
    cold = []
    for visit in range(FIRST_VISITS):
        with served(workspace) as base:
            time.sleep(ARRIVAL_S)
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            try:
                page = context.new_page()
                log = record_requests(page, base)
                cold.append(load_page(page, base + spec.path, spec.selectors))
                if visit < FIRST_VISITS - 1:
                    continue
                page.wait_for_timeout(QUIET_S * 1e3)  # Playwright delivers events while it waits
                times.requests = first_load_requests(log, spec.path)
                warm = [
                    load_page(page, base + spec.path, spec.selectors) for _ in range(WARM_VISITS)
                ]
                times.browser_warm_s = statistics.median(warm)
                if came_from is not None:
                    in_app = [
                        follow_link(page, spec, base, came_from) for _ in range(IN_APP_VISITS)
                    ]
                    times.browser_in_app_s = statistics.median(in_app)
            finally:
                context.close()
    times.browser_cold_s = min(cold)
    return times


def browser_figures(workspace: Path, specs: list[PageSpec]) -> list[PageTimes]:
    """(a), (b) and (c) of every page."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("Chromium is missing: run `make browser-deps`")
    by_path = {spec.path: spec for spec in specs}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            return [
                measure_page(browser, workspace, spec, by_path.get(spec.came_from or ""))
                for spec in specs
            ]
        finally:
            browser.close()


# ---------------------------------------------------------------------- the server
def replay(workspace: Path, requests: list[dict[str, Any]], warm: int) -> dict[str, Any]:
    """Replay ``requests`` with Flask's test client in this (fresh) process: first, then warm.

    Returns ``{"cold": s, "warm": [s, ...], "slowest": [[name, s], ...]}`` (the cold replay's
    three slowest requests).
    """
    from aistudio.serve import prepare_before_serving
    from aistudio.workspace import Workspace
    from ui.app import create_app, wait_for_warm_up

    app = create_app(Workspace(workspace))
    prepare_before_serving(app)
    wait_for_warm_up()  # done within a second of serve's start, before anyone visits
    client = app.server.test_client()

    def once() -> tuple[float, list[tuple[str, float]]]:
        parts = []
        for request in requests:
            start = time.perf_counter()
            if request["method"] == "POST":
                answer = client.post(
                    request["path"], data=request["body"], content_type="application/json"
                )
                name = json.loads(request["body"])["output"].strip(".").split("...")[0]
            else:
                answer = client.get(request["path"])
                name = request["path"].split("?")[0]
            parts.append((name, time.perf_counter() - start))
            if answer.status_code not in (200, 204):
                raise RuntimeError(f"{name} answered {answer.status_code}")
        return sum(s for _n, s in parts), parts

    cold, parts = once()
    return {
        "cold": cold,
        "warm": [once()[0] for _ in range(warm)],
        "slowest": sorted(parts, key=lambda p: -p[1])[:3],
    }


def server_figures(workspace: Path, results: list[PageTimes], tmp: Path) -> None:
    """(d) and (e) of every page, each first visit replayed in a fresh process."""
    for times in results:
        recorded = tmp / "requests.json"
        recorded.write_text(json.dumps(times.requests))
        answers = []
        for _ in range(FIRST_VISITS):
            done = subprocess.run(
                [sys.executable, "-m", "bench.bench_pages", "--replay", str(workspace),
                 str(recorded)],
                cwd=ROOT, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"the replay of {times.spec.name} failed:\n{done.stderr}")
            answers.append(json.loads(done.stdout.strip().splitlines()[-1]))
        best = min(answers, key=lambda a: a["cold"])
        times.server_cold_s = best["cold"]
        times.server_warm_s = statistics.median(s for a in answers for s in a["warm"])
        times.slowest = [(name, s) for name, s in best["slowest"]]


# ---------------------------------------------------------------------- main
COLUMNS: tuple[tuple[str, str, float | None], ...] = (
    ("browser first", "browser_cold_s", None),
    ("browser warm", "browser_warm_s", None),
    ("in the app", "browser_in_app_s", None),
    ("server first", "server_cold_s", 1.0),
    ("server warm", "server_warm_s", 0.3),
)
"""(title, attribute, goal in seconds) of each column."""


def print_pages(results: list[PageTimes]) -> None:
    """One line per page: each figure in ms and, in brackets, its ratio to the baseline page's
    (the in-app figure: to the baseline's warm load); then the goals and the slowest requests."""
    base = next(t for t in results if t.spec.name == BASELINE)
    print(
        f"\n## pages of the demo workspace, times in ms (ratio to the baseline page)  ({machine()})"
    )
    header = f"{'page':<22}" + "".join(f"{title:>19}" for title, _a, _g in COLUMNS)
    print(header)
    print("-" * len(header))
    for t in results:
        cells = []
        for _title, attr, _goal in COLUMNS:
            value = getattr(t, attr)
            reference = getattr(base, "browser_warm_s" if attr == "browser_in_app_s" else attr)
            if value != value:  # NaN: not measured
                cells.append(f"{'—':>19}")
                continue
            ratio = f"({value / reference:.1f}x)" if reference == reference and reference else ""
            cells.append(f"{value * 1e3:>11.0f} {ratio:>7}")
        print(f"{t.spec.name:<22}" + "".join(cells))
    for title, attr, goal in COLUMNS:
        if goal is not None:
            worst = max(getattr(t, attr) for t in results)
            verdict = "met" if worst < goal else "NOT met"
            print(f"goal: {title} < {goal * 1e3:.0f} ms: worst {worst * 1e3:.0f} ms, {verdict}")
    print("\nslowest requests of each first visit (server):")
    for t in results:
        slowest = ", ".join(f"{n} {s * 1e3:.0f} ms" for n, s in t.slowest)
        calls = sum(1 for r in t.requests if r["body"])
        print(f"  {t.spec.name:<22} {calls:>2} callbacks; {slowest}")


def main() -> None:
    """Build (or reuse) the demo workspace, measure every page, print the table."""
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as name:
        tmp = Path(name)
        workspace = demo_workspace(tmp)
        specs = page_specs(workspace)
        results = browser_figures(workspace, specs)
        server_figures(workspace, results, tmp)
    print_pages(results)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    if sys.argv[1:2] == ["--replay"]:
        recorded = json.loads(Path(sys.argv[3]).read_text())
        print(json.dumps(replay(Path(sys.argv[2]), recorded, SERVER_WARM)))
    else:
        main()
