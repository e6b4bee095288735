r"""The upload route with hostile zips (issue 9, item 7), and odd entry names (item 3).

A zip entry flagged UTF-8 whose name holds invalid bytes made zipfile raise
``UnicodeDecodeError`` and the route answer an HTML 500; every archive zipfile cannot read is a
400 with a JSON reason, and nothing of the upload stays on disk. An entry name that is not UTF-8
and not flagged (legacy archivers) is read as code page 437 by zipfile: it unpacks and imports.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from urllib.parse import quote

import flask
import pytest
from flask.testing import FlaskClient

from aistudio import commands
from aistudio.uploads import uploads_dir
from aistudio.workspace import Workspace
from events import EventLog
from tests.datasets.support import image_bytes
from tests.test_uploads import make_zip
from tests.test_uploads_hostile import forge, set_method
from ui.state import AppState
from ui.upload import FILENAME_HEADER, UPLOAD_HEADER, register_upload_routes, upload_url


@pytest.fixture
def client(ui_state: AppState) -> FlaskClient:
    """A Flask app with only the upload route, the app's state at a fresh workspace."""
    server = flask.Flask(__name__)
    register_upload_routes(server)
    return server.test_client()


@pytest.fixture
def project_id(ui_workspace: Workspace) -> str:
    return str(commands.create_project(ui_workspace, "P", "classification").data["project_id"])


def post(client: FlaskClient, project_id: str, payload: bytes) -> flask.Response:
    headers = {
        FILENAME_HEADER: quote("photos.zip"),
        UPLOAD_HEADER: "aistudio",
        "Content-Type": "application/zip",
    }
    return client.post(upload_url(project_id), data=payload, headers=headers)


def assert_nothing_left(workspace: Workspace) -> None:
    root = uploads_dir(workspace)
    left = sorted(p.name for p in root.iterdir()) if root.exists() else []
    assert left in ([], [".incoming"]), left
    if left:
        assert not any((root / ".incoming").iterdir())


PNG = image_bytes(color=1)
ENTRIES = {"set/blue/ok.png": PNG, "set/blue/cafe.png": image_bytes(color=2)}


def _lzma_damaged() -> bytes:
    data = bytearray(make_zip({"a/1.png": bytes(range(256)) * 40}, compression=14))
    start = data.find(b"a/1.png") + len(b"a/1.png") + 20
    data[start : start + 16] = b"\xff" * 16
    return bytes(data)


HOSTILE: dict[str, tuple[bytes, str]] = {
    "utf8-flag-invalid-bytes": (
        forge(make_zip(ENTRIES), b"set/blue/cafe.png", b"set/blue/caf\xe9.png"),
        "marked as UTF-8 but is not valid UTF-8 (set/blue/caf\\xe9.png)",
    ),
    "utf8-flag-invalid-local-header": (
        forge(
            make_zip({"set/blue/ok.png": PNG, "set/blue/café.png": PNG}),
            "set/blue/café.png".encode(),
            b"set/blue/caf\xe9\xe9.png",
            central=False,
        ),
        "marked as UTF-8 but is not valid UTF-8",
    ),
    "unsupported-compression": (
        set_method(make_zip(ENTRIES, compression=zipfile.ZIP_STORED), 98),
        "uses a compression this app cannot read",
    ),
    "lzma-damaged": (_lzma_damaged(), "is damaged"),
    "truncated": (make_zip(ENTRIES)[:-30], "not a zip archive or is damaged"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_zip_is_a_400_with_the_reason_and_leaves_nothing(
    client: FlaskClient, ui_workspace: Workspace, project_id: str, case: str
) -> None:
    payload, fragment = HOSTILE[case]
    response = post(client, project_id, payload)
    assert response.status_code == 400, response.data[:300]
    assert response.is_json
    error = response.json["error"]
    assert fragment in error and "\n" not in error, error
    assert error.startswith("photos.zip ")
    assert_nothing_left(ui_workspace)


def test_unflagged_non_utf8_names_unpack_and_import(
    client: FlaskClient, ui_workspace: Workspace, project_id: str
) -> None:
    """Bytes that are not UTF-8 in an entry without the flag are code page 437 to zipfile (as
    the zip format says): the file unpacks under a valid name and the import takes it."""
    from aistudio.worker.runner import run_job

    payload = forge(make_zip(ENTRIES), b"set/blue/cafe.png", b"set/blue/caf\xe9.png", flag=False)
    response = post(client, project_id, payload)
    assert response.status_code == 200, response.json
    source = Path(response.json["source"])
    assert sorted(p.name for p in (source / "blue").iterdir()) == ["caf\u0398.png", "ok.png"]
    event = commands.request_import(ui_workspace, project_id, str(source), actor="ui")
    assert run_job(ui_workspace, project_id, event.id) == "succeeded"
    log = EventLog(ui_workspace.events_path(project_id))
    names = sorted(
        record["filename"]
        for e in log.read()
        if e.type == "ImagesAdded"
        for record in e.data["images"]
    )
    assert names == ["blue/caf\u0398.png", "blue/ok.png"]
