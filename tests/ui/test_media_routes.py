"""The Flask routes of the web app that touch files: media by id, and zip uploads.

Media routes serve only images that exist in the project named; anything else (unknown or
malformed ids, traversal attempts, another project's image) is a 404. The upload route streams
a zip to disk and unpacks it with :mod:`aistudio.uploads`, refusing what that refuses.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from urllib.parse import quote

import dash
import flask
import pytest
from flask.testing import FlaskClient
from PIL import Image

from aistudio import commands
from aistudio.datasets.demo import write_digits_imagefolder
from aistudio.uploads import uploads_dir
from aistudio.workspace import Workspace
from ui.state import AppState
from ui.upload import FILENAME_HEADER, UPLOAD_HEADER, register_upload_routes, upload_url


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, str, str]:
    """A workspace with two projects, one with 10 imported digits (run once: it takes a worker)."""
    from aistudio.worker.service import Worker

    root = tmp_path_factory.mktemp("media")
    workspace = Workspace(root / "workspace")
    workspace.ensure()
    project_id = str(
        commands.create_project(workspace, "Digits", "classification").data["project_id"]
    )
    other_id = str(commands.create_project(workspace, "Other", "classification").data["project_id"])
    source = root / "digits"
    write_digits_imagefolder(source, n_per_class=1)
    commands.request_import(workspace, project_id, source)
    Worker(workspace).run(once=True)
    return workspace, project_id, other_id


@pytest.fixture
def client(dash_app: dash.Dash, imported: tuple[Workspace, str, str]) -> FlaskClient:
    """A test client of the app, its state pointed at the imported workspace."""
    from ui.state import init_state

    init_state(imported[0])
    return dash_app.server.test_client()


def first_image(workspace: Workspace, project_id: str) -> tuple[str, str]:
    dataset = commands.dataset_view(workspace, project_id)
    image_id = next(iter(dataset.images))
    return image_id, dataset.images[image_id].sha256


# ---------------------------------------------------------------------- media
def test_thumbnail_and_original_are_served(
    client: FlaskClient, imported: tuple[Workspace, str, str]
) -> None:
    workspace, project_id, _ = imported
    image_id, sha = first_image(workspace, project_id)
    thumb = client.get(f"/media/{project_id}/thumb/{image_id}")
    assert thumb.status_code == 200
    assert thumb.mimetype == "image/jpeg"
    assert thumb.headers["X-Content-Type-Options"] == "nosniff"
    assert thumb.data == workspace.thumb_path(project_id, sha).read_bytes()
    assert Image.open(io.BytesIO(thumb.data)).format == "JPEG"
    original = client.get(f"/media/{project_id}/image/{image_id}")
    assert original.status_code == 200
    assert original.mimetype == "image/png"
    assert original.data == workspace.image_path(project_id, sha, "png").read_bytes()
    assert "max-age" in original.headers["Cache-Control"]
    thumb.close()
    original.close()


def test_unknown_project_and_image_are_404(
    client: FlaskClient, imported: tuple[Workspace, str, str]
) -> None:
    workspace, project_id, _ = imported
    image_id, _ = first_image(workspace, project_id)
    for url in (
        f"/media/proj-00000000/thumb/{image_id}",
        f"/media/proj-00000000/image/{image_id}",
        f"/media/{project_id}/thumb/img-00000000",
        f"/media/{project_id}/image/img-00000000",
    ):
        assert client.get(url).status_code == 404, url


@pytest.mark.parametrize(
    "bad_id",
    [
        "img-xyz",
        "IMG-00000000",
        "img-000000000",
        "img-0000000",
        " img-00000000",
        "img-00000000.png",
    ],
)
def test_malformed_ids_are_404(
    client: FlaskClient, imported: tuple[Workspace, str, str], bad_id: str
) -> None:
    _, project_id, _ = imported
    assert client.get(f"/media/{project_id}/thumb/{quote(bad_id)}").status_code == 404
    assert client.get(f"/media/{quote(bad_id)}/thumb/img-00000000").status_code == 404
    assert client.get(f"/media/proj-{quote(bad_id)}/image/img-00000000").status_code == 404


def traversal_urls(workspace: Workspace, project_id: str) -> list[str]:
    """Requests that try to reach a file by path rather than by id."""
    image_id, sha = first_image(workspace, project_id)
    return [
        "/media/../../settings.json",
        "/media/../settings.json",
        "/media/%2e%2e/%2e%2e/settings.json",
        "/media/%2e%2e/thumb/settings.json",
        f"/media/{project_id}/thumb/..%2f..%2f..%2fsettings.json",
        f"/media/{project_id}/image/%2e%2e%2f%2e%2e%2fevents.jsonl",
        f"/media/{project_id}/thumb/../../events.jsonl",
        f"/media/{project_id}/image/..%5c..%5csettings.json",
        f"/media/{project_id}/thumb/{sha}",
        f"/media/{project_id}/thumb/{sha}.jpg",
        f"/media/{project_id}/image/images%2f{sha[:2]}%2f{sha}.png",
        f"/media/projects%2f{project_id}/thumb/{image_id}",
        f"/media/{project_id}%2f..%2f{project_id}/thumb/{image_id}",
        f"/media/{project_id}/thumb/{image_id}%00",
        f"/media/{project_id}/thumb/{image_id}/..",
        f"/media/{project_id}/other/{image_id}",
        f"/media/{project_id}/thumb/",
    ]


def is_app_page(response: flask.Response) -> bool:
    """Whether the response is the Dash app's own HTML page (its catch-all route)."""
    return response.mimetype == "text/html" and b"react-entry-point" in response.data


def test_traversal_attempts_never_reach_a_file(
    client: FlaskClient, imported: tuple[Workspace, str, str]
) -> None:
    workspace, project_id, _ = imported
    secrets = [
        (workspace.root / "settings.json").read_bytes(),
        workspace.events_path(project_id).read_bytes()[:200],
    ]
    for url in traversal_urls(workspace, project_id):
        response = client.get(url)
        assert response.status_code == 404 or is_app_page(response), (url, response.status_code)
        assert not any(secret in response.data for secret in secrets), url
        assert not response.mimetype.startswith("image/"), url


def test_traversal_attempts_are_404(
    dash_app: dash.Dash, client: FlaskClient, imported: tuple[Workspace, str, str]
) -> None:
    """Every ``/media/...`` address that is not a known image is a 404, not the app's page."""
    if not any(
        str(rule).startswith("/media/<path:") for rule in dash_app.server.url_map.iter_rules()
    ):
        pytest.xfail(
            "unmatched /media/ paths fall through to Dash's catch-all page (200): "
            "ui/routes.py needs a `/media/<path:rest>` route answering 404"
        )
    workspace, project_id, _ = imported
    for url in traversal_urls(workspace, project_id):
        assert client.get(url).status_code == 404, url


def test_an_image_of_another_project_is_404(
    client: FlaskClient, imported: tuple[Workspace, str, str]
) -> None:
    workspace, project_id, other_id = imported
    image_id, _ = first_image(workspace, project_id)
    assert client.get(f"/media/{project_id}/thumb/{image_id}").status_code == 200
    assert client.get(f"/media/{other_id}/thumb/{image_id}").status_code == 404
    assert client.get(f"/media/{other_id}/image/{image_id}").status_code == 404


def test_a_removed_image_is_no_longer_served(
    client: FlaskClient, imported: tuple[Workspace, str, str]
) -> None:
    workspace, project_id, _ = imported
    dataset = commands.dataset_view(workspace, project_id)
    image_id = list(dataset.images)[-1]
    assert client.get(f"/media/{project_id}/image/{image_id}").status_code == 200
    removal = commands.remove_image(workspace, project_id, image_id, actor="ui")
    assert client.get(f"/media/{project_id}/image/{image_id}").status_code == 404
    # A time-travel page (dataset as of before the removal) still shows it...
    before = removal.seq - 1
    for kind in ("image", "thumb"):
        answer = client.get(f"/media/{project_id}/{kind}/{image_id}?at={before}")
        assert answer.status_code == 200, kind
    # ...but not as of the removal or later, nor with a malformed seq.
    for at in (str(removal.seq), "0", "-1", "x", "1e3"):
        assert client.get(f"/media/{project_id}/image/{image_id}?at={at}").status_code == 404


# ---------------------------------------------------------------------- uploads
@pytest.fixture
def upload_client(ui_state: AppState) -> FlaskClient:
    """A Flask app with only the upload route, the app's state pointed at a fresh workspace.

    (The route is registered on the real app by ``ui.app.create_app``; a separate app lets the
    tests add it whatever the session's app has already served.)
    """
    server = flask.Flask(__name__)
    register_upload_routes(server)
    return server.test_client()


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def post_zip(
    client: FlaskClient, project_id: str, payload: bytes, *, header: bool = True
) -> flask.Response:
    headers = {FILENAME_HEADER: quote("my photos.zip"), "Content-Type": "application/zip"}
    if header:
        headers[UPLOAD_HEADER] = "aistudio"
    return client.post(upload_url(project_id), data=payload, headers=headers)


def test_upload_unpacks_a_zip_and_names_the_folder_to_import(
    upload_client: FlaskClient, ui_workspace: Workspace
) -> None:
    project_id = str(
        commands.create_project(ui_workspace, "P", "classification").data["project_id"]
    )
    response = post_zip(
        upload_client, project_id, zip_bytes({"set/a/1.png": b"1", "set/b/2.png": b"22"})
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["filename"] == "my photos.zip"
    assert body["files"] == 2 and body["unpacked_bytes"] == 3
    source = Path(body["source"])
    assert source.name == "set" and (source / "b" / "2.png").read_bytes() == b"22"
    assert source.is_relative_to(uploads_dir(ui_workspace))
    # The folder can be imported as it is.
    event = commands.request_import(ui_workspace, project_id, body["source"], actor="ui")
    assert event.data["source"] == str(source)


def test_upload_refusals(upload_client: FlaskClient, ui_workspace: Workspace) -> None:
    project_id = str(
        commands.create_project(ui_workspace, "P", "classification").data["project_id"]
    )
    slip = post_zip(upload_client, project_id, zip_bytes({"../../evil.png": b"x"}))
    assert slip.status_code == 400
    assert "points outside it" in slip.json["error"]
    corrupt = post_zip(upload_client, project_id, b"PK\x03\x04 definitely not a zip")
    assert corrupt.status_code == 400 and "not a zip archive" in corrupt.json["error"]
    no_header = post_zip(upload_client, project_id, zip_bytes({"a.png": b"x"}), header=False)
    assert no_header.status_code == 403
    unknown = post_zip(upload_client, "proj-00000000", zip_bytes({"a.png": b"x"}))
    assert unknown.status_code == 404 and "no project" in unknown.json["error"]
    assert upload_client.get(upload_url(project_id)).status_code == 405
    leftovers = [p.name for p in uploads_dir(ui_workspace).iterdir()]
    assert leftovers == [".incoming"] and not any(
        (uploads_dir(ui_workspace) / ".incoming").iterdir()
    )


def test_upload_over_the_size_limit_is_413(
    upload_client: FlaskClient, ui_workspace: Workspace
) -> None:
    project_id = str(
        commands.create_project(ui_workspace, "P", "classification").data["project_id"]
    )
    settings = ui_workspace.settings_path
    settings.write_text(settings.read_text().replace('"max_upload_mb": 1024', '"max_upload_mb": 1'))
    big = zip_bytes({"a/noise.png": bytes(range(256)) * 5000})
    payload = big + b"\0" * (2**20 + 1 - len(big)) if len(big) <= 2**20 else big
    response = post_zip(upload_client, project_id, payload)
    assert response.status_code == 413
    assert "uploads are limited to 1.0 MB (settings.json: max_upload_mb)" in response.json["error"]
    assert not uploads_dir(ui_workspace).exists() or not any(
        p.name != ".incoming" for p in uploads_dir(ui_workspace).iterdir()
    )
