"""Who may talk to the web app (ui/security.py), over HTTP: the Flask test client for each route,
and one real ``aistudio serve --host 0.0.0.0`` reached with urllib on 127.0.0.1.

- Beyond loopback a token is required: every page, Dash endpoint, component suite, media,
  download and upload route answers 401 without it and 200 with it (cookie, header, or once in
  the address, after which the cookie is set: HTTP-only, SameSite=Strict).
- On loopback no token, but only loopback ``Host`` names (DNS rebinding), and state-changing
  requests only from the app's own origin.
- Dash's component suites answer 404, never 500, for paths that climb or name nothing known.
"""

from __future__ import annotations

import http.cookiejar
import io
import json
import re
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import dash
import pytest
from flask.testing import FlaskClient

from aistudio import commands
from aistudio.datasets.demo import write_digits_imagefolder
from aistudio.workspace import Workspace
from tests.ui.browser import ServeProcess, aistudio_executable, start_serve
from tests.ui.test_download_route import export
from tests.ui.test_download_route import new_project as project_with_experiment
from ui.routes import download_url
from ui.security import (
    CONFIG_KEY,
    TOKEN_HEADER,
    Security,
    TokenError,
    bad_suite_path,
    check_token,
    is_loopback_bind,
    is_loopback_host_header,
)
from ui.state import init_state
from ui.upload import FILENAME_HEADER, UPLOAD_HEADER, upload_url

TOKEN = "test-token-0123456789abcdef"
COOKIE = "aistudio_token_test"
XPT = "xpt-5ecc0de1"


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, str, str]:
    """A workspace with a project of imported digits and one with a completed export."""
    from aistudio.worker.service import Worker

    root = tmp_path_factory.mktemp("security")
    workspace = Workspace(root / "workspace")
    workspace.ensure()
    project_id = str(
        commands.create_project(workspace, "Digits", "classification").data["project_id"]
    )
    source = root / "digits"
    write_digits_imagefolder(source, n_per_class=1)
    commands.request_import(workspace, project_id, source)
    Worker(workspace).run(once=True)
    image_id = next(iter(commands.dataset_view(workspace, project_id).images))
    exported = project_with_experiment(workspace, "Exported")
    export(workspace, exported, XPT)
    return workspace, project_id, image_id


@pytest.fixture
def rules(dash_app: dash.Dash) -> Iterator[dict[str, Security]]:
    """Swap the app's access rules for a test (``rules["now"] = …``), restored afterwards."""
    config = dash_app.server.config
    before = config[CONFIG_KEY]

    class _Rules(dict[str, Security]):
        def __setitem__(self, key: str, value: Security) -> None:
            super().__setitem__(key, value)
            config[CONFIG_KEY] = value

    holder = _Rules()
    try:
        yield holder
    finally:
        config[CONFIG_KEY] = before


@pytest.fixture
def token_client(
    dash_app: dash.Dash, imported: tuple[Workspace, str, str], rules: dict[str, Security]
) -> FlaskClient:
    """A client of the app as served beyond loopback, with the token ``TOKEN``."""
    init_state(imported[0])
    rules["now"] = Security(token=TOKEN, loopback_only=False, cookie_name=COOKIE)
    return dash_app.server.test_client()


@pytest.fixture
def loopback_client(
    dash_app: dash.Dash, imported: tuple[Workspace, str, str], rules: dict[str, Security]
) -> FlaskClient:
    """A client of the app as served on loopback (no token: serve's default)."""
    init_state(imported[0])
    rules["now"] = Security.for_bind("127.0.0.1", 8050)
    return dash_app.server.test_client()


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("set/a/1.png", b"1")
    return buf.getvalue()


def _upload_headers() -> dict[str, str]:
    return {
        UPLOAD_HEADER: "aistudio",
        FILENAME_HEADER: quote("x.zip"),
        "Content-Type": "application/zip",
    }


def _callback_body(output: str, inputs: list[dict[str, object]]) -> dict[str, object]:
    component, prop = output.split(".")
    return {
        "output": output,
        "outputs": {"id": component, "property": prop},
        "inputs": inputs,
        "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"],
        "state": [],
    }


SIDEBAR_CALLBACK = _callback_body(
    "sidebar.children",
    [
        {"id": "url", "property": "pathname", "value": "/"},
        {"id": "tick", "property": "n_intervals", "value": 1},
    ],
)


def _suite_url(client: FlaskClient, headers: dict[str, str] | None = None) -> str:
    """The address of one script the index page loads from Dash's component suites."""
    page = client.get("/", headers=headers or {}).get_data(as_text=True)
    found = re.findall(r'src="(/_dash-component-suites/[^"]+)"', page)
    assert found, page[:2000]
    return found[0]


def _routes(workspace: Workspace, project_id: str, image_id: str) -> dict[str, tuple[str, str]]:
    """``name: (method, url)`` of every kind of route the app serves."""
    exported = next(
        v.project_id for v in commands.project_views(workspace).values() if v.name == "Exported"
    )
    return {
        "page /": ("GET", "/"),
        "project page": ("GET", f"/project/{project_id}/dataset"),
        "layout": ("GET", "/_dash-layout"),
        "dependencies": ("GET", "/_dash-dependencies"),
        "callback": ("POST", "/_dash-update-component"),
        "thumbnail": ("GET", f"/media/{project_id}/thumb/{image_id}"),
        "original": ("GET", f"/media/{project_id}/image/{image_id}"),
        "download": ("GET", download_url(exported, XPT)),
        "upload": ("POST", upload_url(project_id)),
        "asset": ("GET", "/assets/app.css"),
    }


def _send(client: FlaskClient, method: str, url: str, headers: dict[str, str] | None = None) -> int:
    headers = dict(headers or {})
    if method == "GET":
        return client.get(url, headers=headers).status_code
    if url == "/_dash-update-component":
        return client.post(url, json=SIDEBAR_CALLBACK, headers=headers).status_code
    headers.update(_upload_headers())
    return client.post(url, data=_zip(), headers=headers).status_code


# ---------------------------------------------------------------------- the token
def test_without_the_token_every_route_is_401(
    token_client: FlaskClient, imported: tuple[Workspace, str, str]
) -> None:
    """Pages, Dash's endpoints, media, download and upload: 401, and nothing of theirs."""
    workspace, project_id, image_id = imported
    statuses = {
        name: _send(token_client, method, url)
        for name, (method, url) in _routes(workspace, project_id, image_id).items()
    }
    statuses["component suite"] = token_client.get(
        "/_dash-component-suites/dash/deps/react@18.3.1.min.js"
    ).status_code
    assert statuses == dict.fromkeys(statuses, 401)
    wrong = {TOKEN_HEADER: TOKEN[:-1] + "x"}
    assert token_client.get("/_dash-layout", headers=wrong).status_code == 401
    assert token_client.get("/_dash-layout?token=nope").status_code == 401
    page = token_client.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 401 and 'action="/login"' in page.get_data(as_text=True)
    assert TOKEN not in page.get_data(as_text=True)


def test_with_the_token_every_route_answers(
    token_client: FlaskClient, imported: tuple[Workspace, str, str]
) -> None:
    """The same requests with the token in the header: 200 each, the component suite too."""
    workspace, project_id, image_id = imported
    auth = {TOKEN_HEADER: TOKEN}
    statuses = {
        name: _send(token_client, method, url, auth)
        for name, (method, url) in _routes(workspace, project_id, image_id).items()
    }
    statuses["component suite"] = token_client.get(
        _suite_url(token_client, auth), headers=auth
    ).status_code
    assert statuses == dict.fromkeys(statuses, 200)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert token_client.get("/_dash-layout", headers=bearer).status_code == 200


def test_the_token_in_the_address_sets_an_http_only_strict_cookie(
    token_client: FlaskClient,
) -> None:
    """``/?token=…`` (the address serve prints): cookie set, the page reloads without it."""
    response = token_client.get(f"/project/x/dataset?at=3&token={TOKEN}")
    assert response.status_code == 200
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}={TOKEN};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    body = response.get_data(as_text=True)
    assert 'url=/project/x/dataset?at=3"' in body and f"token={TOKEN}" not in body
    # The cookie alone is enough from now on, for pages, callbacks and files alike.
    assert token_client.get("/_dash-layout").status_code == 200
    assert token_client.post("/_dash-update-component", json=SIDEBAR_CALLBACK).status_code == 200


def test_the_login_form(token_client: FlaskClient) -> None:
    """``/login`` is reachable without the token; a right one sets the cookie and goes on."""
    form = token_client.get("/login?next=/project/p/split")
    assert form.status_code == 200 and 'name="token"' in form.get_data(as_text=True)
    wrong = token_client.post("/login", data={"token": "not-it-at-all", "next": "/"})
    assert wrong.status_code == 401
    assert token_client.get("/_dash-layout").status_code == 401
    right = token_client.post("/login", data={"token": TOKEN, "next": "/project/p/split"})
    assert right.status_code == 303 and right.headers["Location"] == "/project/p/split"
    assert "HttpOnly" in right.headers["Set-Cookie"]
    assert token_client.get("/_dash-layout").status_code == 200
    # No open redirect: only local paths.
    away = token_client.post("/login", data={"token": TOKEN, "next": "//evil.example/x"})
    assert away.headers["Location"] == "/"


def test_a_cookie_of_another_server_is_not_the_token(token_client: FlaskClient) -> None:
    token_client.set_cookie(COOKIE, "someone-elses-token-123")
    assert token_client.get("/_dash-layout").status_code == 401


# ---------------------------------------------------------------------- loopback
def test_loopback_needs_no_token_but_a_loopback_host(loopback_client: FlaskClient) -> None:
    """DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends its own Host name."""
    for host in ("localhost", "localhost:8050", "127.0.0.1:8050", "127.1.2.3", "[::1]:8050"):
        assert loopback_client.get("/_dash-layout", headers={"Host": host}).status_code == 200
    for host in ("evil.example", "evil.example:8050", "localhost.evil.example", "0.0.0.0:8050"):
        for url in ("/", "/_dash-layout", "/media/x/thumb/y", "/login"):
            response = loopback_client.get(url, headers={"Host": host})
            assert response.status_code == 403, (host, url)
    response = loopback_client.post(
        "/_dash-update-component", json=SIDEBAR_CALLBACK, headers={"Host": "evil.example"}
    )
    assert response.status_code == 403


def test_state_changes_only_from_the_apps_own_origin(
    loopback_client: FlaskClient, imported: tuple[Workspace, str, str]
) -> None:
    """A POST (a callback, an upload) whose Origin or Referer names another site is refused."""
    _workspace, project_id, _image = imported
    own = {"Host": "127.0.0.1:8050"}

    def callback(**headers: str) -> int:
        return loopback_client.post(
            "/_dash-update-component", json=SIDEBAR_CALLBACK, headers={**own, **headers}
        ).status_code

    assert callback(Origin="http://127.0.0.1:8050") == 200
    assert callback(Referer="http://127.0.0.1:8050/project/x/dataset") == 200
    assert callback() == 200  # a script: no Origin, no Referer
    assert callback(Origin="http://evil.example") == 403
    assert callback(Origin="http://localhost:8050") == 403  # another origin, though loopback
    assert callback(Origin="http://127.0.0.1:8051") == 403
    assert callback(Origin="https://127.0.0.1:8050") == 403
    assert callback(Origin="null") == 403
    assert callback(Referer="http://evil.example/page") == 403
    upload = loopback_client.post(
        upload_url(project_id),
        data=_zip(),
        headers={**own, **_upload_headers(), "Origin": "http://evil.example"},
    )
    assert upload.status_code == 403
    # A GET changes nothing: it may come from anywhere (a link), Host permitting.
    assert (
        loopback_client.get("/", headers={**own, "Origin": "http://evil.example"}).status_code
        == 200
    )


def test_with_a_token_a_cross_origin_post_is_refused_even_with_the_cookie(
    token_client: FlaskClient,
) -> None:
    token_client.get(f"/?token={TOKEN}", headers={"Host": "studio.lan:8050"})
    headers = {"Host": "studio.lan:8050", "Origin": "http://evil.example"}
    response = token_client.post("/_dash-update-component", json=SIDEBAR_CALLBACK, headers=headers)
    assert response.status_code == 403
    headers["Origin"] = "http://studio.lan:8050"
    response = token_client.post("/_dash-update-component", json=SIDEBAR_CALLBACK, headers=headers)
    assert response.status_code == 200


# ---------------------------------------------------------------------- item 9: suites
SUITE_ATTACKS = (
    "/_dash-component-suites/..%2f..%2f..%2fetc/passwd",
    "/_dash-component-suites/dash/..%2f..%2f__init__.py",
    "/_dash-component-suites/dash/..%252f..%252f__init__.py",
    "/_dash-component-suites/dash/dash_table/../__init__.py",
    "/_dash-component-suites/dash/%5c..%5c__init__.py",
    "/_dash-component-suites/dash/deps/%2e%2e/__init__.py",
    "/_dash-component-suites/nosuchpackage/x.js",
    "/_dash-component-suites/dash/nosuch.js",
    "/_dash-component-suites/dash/deps/react@18.v9_9_9m1.min.js",
)


@pytest.mark.parametrize("url", SUITE_ATTACKS)
def test_component_suite_paths_that_name_nothing_are_404(
    loopback_client: FlaskClient, url: str
) -> None:
    """Dash raised DependencyException (a 500, with its registry in the log) for each of these."""
    response = loopback_client.get(url)
    assert response.status_code == 404, response.get_data(as_text=True)[:500]


def test_a_real_component_suite_script_is_still_served(loopback_client: FlaskClient) -> None:
    response = loopback_client.get(_suite_url(loopback_client))
    assert response.status_code == 200 and len(response.data) > 1000


# ---------------------------------------------------------------------- helpers, one by one
def test_loopback_names() -> None:
    assert all(map(is_loopback_bind, ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost")))
    assert not any(map(is_loopback_bind, ("0.0.0.0", "::", "192.168.1.2", "studio.lan", "")))
    good = ("localhost", "LOCALHOST:80", "127.0.0.1", "127.0.0.1:8050", "[::1]", "[::1]:8050")
    assert all(map(is_loopback_host_header, good))
    bad = (None, "", "evil.example", "127.0.0.1.evil.example", "::1", "[::1", "localhost:x")
    assert not any(map(is_loopback_host_header, bad))
    assert not is_loopback_host_header("localhost.")
    assert not is_loopback_host_header("localhost:80:80")


def test_security_for_each_bind() -> None:
    loopback = Security.for_bind("127.0.0.1", 8050)
    assert loopback.token is None and loopback.loopback_only
    anywhere = Security.for_bind("0.0.0.0", 8050)
    assert anywhere.token and len(anywhere.token) >= 40 and not anywhere.loopback_only
    assert Security.for_bind("0.0.0.0", 8050).token != anywhere.token  # generated afresh
    assert anywhere.cookie_name == "aistudio_token_8050"
    chosen = Security.for_bind("127.0.0.1", 8050, TOKEN)
    assert chosen.token == TOKEN and chosen.loopback_only  # a chosen token is always asked for
    for unusable in ("short", "has space 1234567", "semi;colon123456", "é" * 20):
        with pytest.raises(TokenError):
            check_token(unusable)


def test_bad_suite_paths() -> None:
    assert not bad_suite_path("/_dash-component-suites/dash/deps/react@18.v4_4_1m1.3.1.min.js")
    for url in SUITE_ATTACKS[:6]:
        assert bad_suite_path(url), url
    assert bad_suite_path("/_dash-component-suites/dash/%25252525252e%25252525252e/x.js")


# ---------------------------------------------------------------------- a real server
def _wait_for_token(server: ServeProcess, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = re.search(r"\?token=([A-Za-z0-9_.~-]+)", server.output())
        if found:
            return found.group(1)
        if server.process.poll() is not None:
            pytest.fail(f"serve exited ({server.process.returncode}):\n{server.output()}")
        time.sleep(0.05)
    pytest.fail(f"serve printed no token within {timeout_s:.0f} s:\n{server.output()}")


def _status(
    url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_listening(base: str, server: ServeProcess, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            _status(base + "_dash-layout")
            return
        except (urllib.error.URLError, OSError):
            if server.process.poll() is not None:
                pytest.fail(f"serve exited ({server.process.returncode}):\n{server.output()}")
            time.sleep(0.05)
    pytest.fail(f"serve did not listen within {timeout_s:.0f} s:\n{server.output()}")


def test_serve_on_all_addresses_asks_for_the_printed_token(tmp_path: Path) -> None:
    """``aistudio serve --host 0.0.0.0``: 401 without the printed token, 200 with it; the worker
    banner of --no-worker reaches the page through a real callback."""
    server = start_serve(
        tmp_path / "workspace", tmp_path / "serve.log", "--no-worker", "--host", "0.0.0.0"
    )
    try:
        token = _wait_for_token(server)
        base = server.url  # http://127.0.0.1:<port>/
        _wait_listening(base, server)
        workspace = Workspace(tmp_path / "workspace")
        project_id = next(iter(workspace.project_ids()))
        banner_call = json.dumps(
            _callback_body(
                "app-banner.children",
                [
                    {"id": "url", "property": "pathname", "value": "/"},
                    {"id": "tick", "property": "n_intervals", "value": 1},
                ],
            )
        ).encode()
        json_post = {"Content-Type": "application/json"}
        targets = {
            "/": None,
            "_dash-layout": None,
            "_dash-dependencies": None,
            f"project/{project_id}/dataset": None,
            "_dash-update-component": banner_call,
            f"media/{project_id}/thumb/img-00000000": None,
        }
        for path, data in targets.items():
            status, _body = _status(base + path.lstrip("/"), data=data, headers=json_post)
            assert status == 401, (path, status)
        auth = {TOKEN_HEADER: token, **json_post}
        for path, data in targets.items():
            status, body = _status(base + path.lstrip("/"), data=data, headers=auth)
            expected = 404 if path.startswith("media/") else 200  # no such image: only a 404
            assert status == expected, (path, status, body[:300])
        status, body = _status(base + "_dash-update-component", data=banner_call, headers=auth)
        assert "no worker is running: start `aistudio worker`" in body.decode()

        # A browser's way in: the printed address once, then the cookie.
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(f"{base}?token={token}", timeout=10) as response:
            assert response.status == 200
        assert [c.name for c in jar] == [f"aistudio_token_{base.rsplit(':', 1)[1].strip('/')}"]
        with opener.open(base + "_dash-layout", timeout=10) as response:
            assert response.status == 200
    except BaseException:
        server.kill()
        raise
    code = server.stop()
    assert code == 0, server.output()
    assert "?token=" in server.output() and "every request needs this token" in server.output()


def test_serve_refuses_an_unusable_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            str(aistudio_executable()),
            "--workspace",
            str(tmp_path / "workspace"),
            "serve",
            "--token",
            "short",
            "--no-worker",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "token" in result.stderr
