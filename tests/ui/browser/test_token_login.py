"""Logging in to ``aistudio serve --host 0.0.0.0`` in headless Chromium: the form and the printed
address both set the HTTP-only, SameSite=Strict cookie, after which the pages and their
callbacks work (the banner says no worker runs: ``--no-worker``).
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    from playwright.sync_api import Browser, ConsoleMessage, Page, expect
except ImportError as exc:  # a clear reason instead of a bare collection error
    raise ImportError("playwright is not installed: run `make test` (dev dependencies)") from exc

from tests.ui.browser import ServeProcess, start_serve
from tests.ui.browser.conftest import DEFAULT_TIMEOUT_MS

pytestmark = pytest.mark.browser


def _token(server: ServeProcess, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = re.search(r"\?token=([A-Za-z0-9_.~-]+)", server.output())
        if found:
            return found.group(1)
        assert server.process.poll() is None, server.output()
        time.sleep(0.05)
    raise AssertionError(f"serve printed no token:\n{server.output()}")


def _wait_listening(server: ServeProcess, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(server.url + "_dash-layout", timeout=1).close()
        except urllib.error.HTTPError:
            return  # it answers (401 without the token)
        except (urllib.error.URLError, OSError):
            assert server.process.poll() is None, server.output()
            time.sleep(0.05)
            continue
        return
    raise AssertionError(f"serve did not listen:\n{server.output()}")


@pytest.fixture
def served_with_token(tmp_path: Path) -> Iterator[tuple[ServeProcess, str]]:
    server = start_serve(
        tmp_path / "workspace", tmp_path / "serve.log", "--host", "0.0.0.0", "--no-worker"
    )
    try:
        token = _token(server)
        _wait_listening(server)
    except BaseException:
        server.kill()
        raise
    yield server, token
    code = server.stop()
    assert code == 0, server.output()


def _errors_from_now(page: Page) -> list[str]:
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def _app_works(page: Page) -> None:
    expect(page.locator("#projects-create")).to_be_visible()
    expect(page.locator(".app-banner-worker")).to_contain_text("no worker is running")


def test_the_login_form_then_the_app(
    chromium: Browser, served_with_token: tuple[ServeProcess, str]
) -> None:
    server, token = served_with_token
    context = chromium.new_context()
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        page = context.new_page()
        response = page.goto(server.url)
        assert response is not None and response.status == 401
        page.locator("#token").fill("not-the-token-at-all")
        page.locator("button[type=submit]").click()
        expect(page.locator(".error")).to_contain_text("not this server's token")
        page.locator("#token").fill(token)
        # The refused attempt's own 401 is reported on the console a moment after it loads:
        # let it arrive before listening for errors of the login that follows.
        page.wait_for_load_state("networkidle")
        errors = _errors_from_now(page)
        page.locator("button[type=submit]").click()
        _app_works(page)
        cookies = {c["name"]: c for c in context.cookies()}
        cookie = next(c for name, c in cookies.items() if name.startswith("aistudio_token_"))
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert cookie["value"] == token
        assert errors == []
    finally:
        context.close()


def test_the_printed_address_logs_in_once(
    chromium: Browser, served_with_token: tuple[ServeProcess, str]
) -> None:
    server, token = served_with_token
    context = chromium.new_context()
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        page = context.new_page()
        errors = _errors_from_now(page)
        page.goto(f"{server.url}?token={token}")
        _app_works(page)
        assert "token=" not in page.url
        other = context.new_page()  # the cookie serves every later visit
        response = other.goto(server.url)
        assert response is not None and response.status == 200
        expect(other.locator("#projects-create")).to_be_visible()
        assert errors == []
    finally:
        context.close()
