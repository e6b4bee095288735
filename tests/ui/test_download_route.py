"""The download route of exports: ``/download/<project>/export/<export>``.

It hands out the file of a completed, validated export of a live project, exactly as the export
recorded it (sha256), as an attachment named like the Export page says. Anything else (unknown
or malformed ids, a pending, failed or cancelled export, a file changed or removed since, another
project's export, paths instead of ids) is a 404.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

import dash
import pytest
from flask.testing import FlaskClient

from aistudio import commands
from aistudio.workspace import Workspace
from events import Event, EventLog, NewEvent
from ui.components.export_results import download_name
from ui.routes import download_url
from ui.state import AppState

EXP = "exp-0badcafe"
MODEL_BYTES = b"\x08\x07ONNX model bytes \x00\xff" * 100


@pytest.fixture
def client(dash_app: dash.Dash, ui_state: AppState) -> FlaskClient:
    """A test client of the app, its state pointed at this test's fresh workspace."""
    return dash_app.server.test_client()


def new_project(workspace: Workspace, name: str = "Digits") -> str:
    """A project with one experiment named ``Digits resnet`` (its log only)."""
    project_id = str(commands.create_project(workspace, name, "classification").data["project_id"])
    data = {
        "experiment_id": EXP,
        "name": "Digits resnet",
        "split": "default",
        "config": {"model": "resnet18", "epochs": 1},
    }
    EventLog(workspace.events_path(project_id)).append("TrainingRequested", data, actor="ui")
    return project_id


def request(workspace: Workspace, project_id: str, xpt: str, fmt: str = "onnx") -> Event:
    data = {"experiment_id": EXP, "export_id": xpt, "checkpoint": "best", "format": fmt}
    return EventLog(workspace.events_path(project_id)).append(
        "ExportRequested", data, actor="script"
    )


def export(
    workspace: Workspace,
    project_id: str,
    xpt: str,
    passed: bool = True,
    payload: bytes = MODEL_BYTES,
    fmt: str = "onnx",
) -> Event:
    """An export whose job wrote ``payload`` and recorded it (passed or failed validation)."""
    command = request(workspace, project_id, xpt, fmt)
    path = workspace.export_path(project_id, EXP, xpt, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    completed = {
        "export_id": xpt,
        "experiment_id": EXP,
        "checkpoint": "best",
        "checkpoint_epoch": 1,
        "checkpoint_sha256": "ab" * 32,
        "format": fmt,
        "file": {
            "name": f"exports/{xpt}/{path.name}",
            "sha256": hashlib.sha256(payload).hexdigest(),
            "size_bytes": len(payload),
        },
        "validation": {
            "images": 8,
            "max_abs_diff": 1e-6 if passed else 0.5,
            "agreement": 1.0,
            "tolerance": 1e-3,
            "passed": passed,
        },
        "duration_s": 1.5,
    }
    end = (
        ("JobSucceeded", {"job_id": command.id})
        if passed
        else (
            "JobFailed",
            {
                "job_id": command.id,
                "error": "validation failed",
            },
        )
    )
    EventLog(workspace.events_path(project_id)).append_many(
        [
            NewEvent("ExportCompleted", completed, "job", command.id),
            NewEvent(end[0], end[1], "job", command.id),
        ]
    )
    return command


def test_a_completed_export_is_served_as_an_attachment(
    client: FlaskClient, ui_workspace: Workspace
) -> None:
    project_id = new_project(ui_workspace)
    export(ui_workspace, project_id, "xpt-0c0ffee1")
    response = client.get(download_url(project_id, "xpt-0c0ffee1"))
    assert response.status_code == 200
    assert response.data == MODEL_BYTES
    assert response.mimetype == "application/octet-stream"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    disposition = response.headers["Content-Disposition"]
    name = "Digits-resnet-xpt-0c0ffee1.onnx"
    assert disposition == f"attachment; filename={name}"
    # The name the Export page shows (and puts in the snippet) is the one the browser saves.
    assert download_name("Digits resnet", "xpt-0c0ffee1", "onnx") == name
    response.close()
    export(ui_workspace, project_id, "xpt-0c0ffee2", fmt="torchscript", payload=b"PK torchscript")
    script = client.get(f"/download/{project_id}/export/xpt-0c0ffee2")
    assert script.status_code == 200 and script.data == b"PK torchscript"
    assert script.headers["Content-Disposition"].endswith("Digits-resnet-xpt-0c0ffee2.pt")
    script.close()


def test_unknown_projects_and_exports_are_404(client: FlaskClient, ui_workspace: Workspace) -> None:
    project_id = new_project(ui_workspace)
    other_id = new_project(ui_workspace, "Other")
    export(ui_workspace, project_id, "xpt-0c0ffee1")
    assert client.get(download_url(project_id, "xpt-0c0ffee1")).status_code == 200
    for url in (
        download_url("proj-00000000", "xpt-0c0ffee1"),
        download_url(project_id, "xpt-00000000"),
        download_url(other_id, "xpt-0c0ffee1"),  # another project's export
    ):
        assert client.get(url).status_code == 404, url
    commands.delete_project(ui_workspace, project_id)
    assert client.get(download_url(project_id, "xpt-0c0ffee1")).status_code == 404


@pytest.mark.parametrize(
    "bad",
    [
        "xpt-xyz",
        "XPT-0C0FFEE1",
        "xpt-0c0ffee10",
        "xpt-0c0ffee",
        " xpt-0c0ffee1",
        "xpt-0c0ffee1.onnx",
        "exp-0badcafe",
        "..",
    ],
)
def test_malformed_ids_are_404(client: FlaskClient, ui_workspace: Workspace, bad: str) -> None:
    project_id = new_project(ui_workspace)
    export(ui_workspace, project_id, "xpt-0c0ffee1")
    assert client.get(f"/download/{project_id}/export/{quote(bad)}").status_code == 404
    assert client.get(f"/download/{quote(bad)}/export/xpt-0c0ffee1").status_code == 404


def test_paths_instead_of_ids_are_404(client: FlaskClient, ui_workspace: Workspace) -> None:
    project_id = new_project(ui_workspace)
    export(ui_workspace, project_id, "xpt-0c0ffee1")
    secrets = [(ui_workspace.root / "settings.json").read_bytes(), MODEL_BYTES]
    for url in (
        "/download/../settings.json",
        "/download/%2e%2e/%2e%2e/settings.json",
        f"/download/{project_id}/export/..%2f..%2fevents.jsonl",
        f"/download/{project_id}/export/xpt-0c0ffee1/model.onnx",
        f"/download/{project_id}/export/exports%2fxpt-0c0ffee1%2fmodel.onnx",
        f"/download/{project_id}/exports/xpt-0c0ffee1",
        f"/download/{project_id}/{EXP}/xpt-0c0ffee1",
        f"/download/{project_id}/export/",
        f"/download/{project_id}",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert not any(secret in response.data for secret in secrets), url


def test_exports_that_are_not_downloadable_are_404(
    client: FlaskClient, ui_workspace: Workspace
) -> None:
    project_id = new_project(ui_workspace)
    log = EventLog(ui_workspace.events_path(project_id))
    pending = request(ui_workspace, project_id, "xpt-00000001")
    # Even with a file already where the job writes it (mid-write), a pending export is 404.
    path = ui_workspace.export_path(project_id, EXP, "xpt-00000001")
    path.parent.mkdir(parents=True)
    path.write_bytes(MODEL_BYTES)
    assert client.get(download_url(project_id, pending.data["export_id"])).status_code == 404
    export(ui_workspace, project_id, "xpt-00000002", passed=False)  # over tolerance: failed
    assert ui_workspace.export_path(project_id, EXP, "xpt-00000002").is_file()
    assert client.get(download_url(project_id, "xpt-00000002")).status_code == 404
    cancelled = request(ui_workspace, project_id, "xpt-00000003")
    log.append("JobCancelled", {"job_id": cancelled.id}, actor="job", causation=cancelled.id)
    assert client.get(download_url(project_id, "xpt-00000003")).status_code == 404
    view = commands.exports_view(ui_workspace, project_id)
    statuses = {x: view.exports[x].status for x in view.exports}
    assert statuses == {
        "xpt-00000001": "pending",
        "xpt-00000002": "failed",
        "xpt-00000003": "cancelled",
    }


def test_a_file_changed_or_removed_after_the_event_is_404(
    client: FlaskClient, ui_workspace: Workspace
) -> None:
    project_id = new_project(ui_workspace)
    export(ui_workspace, project_id, "xpt-0c0ffee1")
    url = download_url(project_id, "xpt-0c0ffee1")
    response = client.get(url)
    assert response.status_code == 200
    response.close()
    path = ui_workspace.export_path(project_id, EXP, "xpt-0c0ffee1")
    changed = bytearray(MODEL_BYTES)
    changed[5] ^= 0xFF  # same size, other bytes
    path.write_bytes(bytes(changed))
    assert client.get(url).status_code == 404
    path.write_bytes(MODEL_BYTES + b"more")
    assert client.get(url).status_code == 404
    path.write_bytes(MODEL_BYTES)  # the recorded bytes again: served again
    again = client.get(url)
    assert again.status_code == 200 and again.data == MODEL_BYTES
    again.close()
    path.unlink()
    assert client.get(url).status_code == 404


def test_the_route_is_registered_on_the_app(dash_app: dash.Dash) -> None:
    rules = {str(rule) for rule in dash_app.server.url_map.iter_rules()}
    assert "/download/<project_id>/export/<export_id>" in rules
    assert "/download/<path:_rest>" in rules
