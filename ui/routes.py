"""Flask routes that serve files by id: thumbnails and originals of images that exist, and the
files of completed exports.

They never take a path from the request: a project id and an image id are looked up in the
project's dataset view, and the file's path is built by :mod:`aistudio.workspace` from its hash;
an export id is looked up by :func:`aistudio.commands.export_file`, which hands out only the
file of a completed, validated export that is still the one its event recorded (sha256).
Anything unknown, malformed or not downloadable is a 404.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, abort, request, send_file

from aistudio import commands
from aistudio.commands import CommandError
from aistudio.workspace import WorkspaceError, check_id, is_within
from ui.state import get_state

logger = logging.getLogger(__name__)


def download_url(project_id: str, export_id: str) -> str:
    """The address that downloads the file of export ``export_id``."""
    return f"/download/{project_id}/export/{export_id}"


def _as_of(raw: str | None) -> int | None:
    """The ``?at=SEQ`` of a time-travel page's image address (None when absent or malformed)."""
    if raw is None or not raw.isdigit():
        return None
    seq = int(raw)
    return seq if seq >= 1 else None


def _image_file(project_id: str, image_id: str, kind: str) -> Response:
    state = get_state()
    dataset = state.view(project_id, "dataset")
    if dataset is None:
        abort(404)
    entry = dataset.images.get(image_id)
    at = _as_of(request.args.get("at"))
    if entry is None and at is not None:
        # A time-travel page shows images that may have been removed since: look them up in
        # the dataset as it was then (still only ids that the project's log has added).
        entry = state.view(project_id, "dataset", at=at).images.get(image_id)
    if entry is None:
        abort(404)
    workspace = state.workspace
    if kind == "thumb":
        path = workspace.thumb_path(project_id, entry.sha256)
        mimetype = "image/jpeg"
    else:
        path = workspace.image_path(project_id, entry.sha256, entry.ext)
        mimetype = None
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=mimetype, conditional=True, max_age=86400)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _export_download(project_id: str, export_id: str) -> Response:
    """The file of a completed export of a live project, as an attachment (404 otherwise)."""
    try:
        check_id("proj", project_id)
        check_id("xpt", export_id)
    except WorkspaceError:
        abort(404)
    state = get_state()
    if state.live_project(project_id) is None:
        abort(404)
    entry = state.view(project_id, "exports").get(export_id)
    if entry is None or not entry.downloadable:
        abort(404)
    workspace = state.workspace
    try:
        path, name = commands.export_file(workspace, project_id, export_id)
    except CommandError as exc:
        logger.warning("download of %s/%s refused: %s", project_id, export_id, exc)
        abort(404)
    if not is_within(path, workspace.project_dir(project_id)):
        abort(404)
    response = send_file(
        path,
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=name,
        conditional=True,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def register_routes(server: Flask) -> None:
    """Add the media and download routes to the Dash app's Flask server."""

    @server.get("/media/<project_id>/thumb/<image_id>")
    def thumbnail(project_id: str, image_id: str) -> Response:
        return _image_file(project_id, image_id, "thumb")

    @server.get("/media/<project_id>/image/<image_id>")
    def original(project_id: str, image_id: str) -> Response:
        return _image_file(project_id, image_id, "image")

    @server.get("/media/<path:_rest>")
    def media_not_found(_rest: str) -> Response:
        # Anything else under /media (malformed ids, traversal attempts) is a 404, not a page.
        abort(404)

    @server.get("/download/<project_id>/export/<export_id>")
    def export_download(project_id: str, export_id: str) -> Response:
        return _export_download(project_id, export_id)

    @server.get("/download/<path:_rest>")
    def download_not_found(_rest: str) -> Response:
        # Anything else under /download (malformed addresses, paths) is a 404, not a page.
        abort(404)
