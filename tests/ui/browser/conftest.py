"""Fixtures of the browser tests: a real ``aistudio serve`` and Debian's headless Chromium.

* ``served``: ``aistudio --workspace <tmp> serve --port <free>`` (web app and worker) in its own
  process group; stopped with Ctrl-C (SIGINT to the group) after the test, which must exit cleanly.
* ``chromium``: one Playwright browser for the session, launched from the system's Chromium (no
  browser download). Missing Chromium fails the tests: ``make test`` installs it.
* ``browser_session`` / ``app_page``: a fresh browser context per test. Any console error or
  uncaught page error (Dash reports failed callbacks there) fails the test; when a test fails, a
  screenshot of each open tab and the console errors are saved in the test's tmp folder.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.trained import Trained
from tests.ui.browser import BrowserSession, ServeProcess, start_serve

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

logger = logging.getLogger(__name__)

CHROMIUM_ARGS: list[str] = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_TIMEOUT_MS = 10_000  # actions and expect(...): generous for a loaded CI machine
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures know whether the test failed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _test_failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_REPORTS, {})
    return any(r.failed for r in reports.values())


# ---------------------------------------------------------------------- the server
@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServeProcess]:
    """``aistudio serve`` (web app and worker) on a fresh workspace, answering HTTP.

    The workspace is new, so serve creates the demo project on start. After the test, Ctrl-C
    must stop serve (and its worker) with exit code 0 and no traceback in their output.
    """
    server = start_serve(tmp_path / "workspace", tmp_path / "serve.log")
    try:
        server.wait_until_serving()
    except BaseException:
        server.kill()
        raise
    yield server
    code = server.stop()
    output = server.output()
    assert code == 0, f"`aistudio serve` exited with code {code} after Ctrl-C:\n{output}"
    assert "Traceback (most recent call last)" not in output, (
        f"the server or its worker logged a traceback:\n{output}"
    )


@pytest.fixture
def served_trained(trained_classification: Trained, tmp_path: Path) -> Iterator[ServeProcess]:
    """Like ``served``, on a workspace with a trained digits experiment (``tests/trained.py``).

    The project id and experiment id are ``trained_classification``'s.
    """
    server = start_serve(trained_classification.workspace.root, tmp_path / "serve.log")
    try:
        server.wait_until_serving()
    except BaseException:
        server.kill()
        raise
    yield server
    code = server.stop()
    output = server.output()
    assert code == 0, f"`aistudio serve` exited with code {code} after Ctrl-C:\n{output}"
    assert "Traceback (most recent call last)" not in output, (
        f"the server or its worker logged a traceback:\n{output}"
    )


# ---------------------------------------------------------------------- the browser
@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    """Playwright's sync driver for the session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "playwright is not installed: run `make test` (it installs the dev dependencies, "
            "Debian's chromium and chromium-driver)"
        )
    driver = sync_playwright().start()
    yield driver
    driver.stop()


@pytest.fixture(scope="session")
def chromium(playwright_driver: Playwright) -> Iterator[Browser]:
    """Headless Chromium from the system (Debian's ``chromium`` package)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "the browser tests need Debian's Chromium, which is not installed: run `make test` "
            "(it installs chromium and chromium-driver when missing)"
        )
    from playwright.sync_api import expect

    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    browser = playwright_driver.chromium.launch(
        executable_path=executable, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def browser_session(
    chromium: Browser, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[BrowserSession]:
    """A fresh browser context; the test fails if any of its pages logs an error."""
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    session = BrowserSession(context)
    context.on("console", session.on_console)
    context.on("weberror", session.on_web_error)
    yield session
    if _test_failed(request) or session.errors:
        files = session.save_artifacts(tmp_path)
        logger.error("browser artifacts saved: %s", ", ".join(str(f) for f in files))
    context.close()
    if session.errors and not _test_failed(request):
        first_lines = [error.splitlines()[0] for error in session.errors]
        pytest.fail(
            "the browser console showed errors:\n  "
            + "\n  ".join(first_lines)
            + f"\n(in full, with screenshots: {tmp_path})"
        )


@pytest.fixture
def app_page(browser_session: BrowserSession) -> Page:
    """One tab of a fresh browser context."""
    return browser_session.new_page()
