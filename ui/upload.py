"""The Flask route that receives a zip for the Dataset page's import panel.

``POST /upload/<project_id>/zip`` takes the archive as the raw request body (the page's script
sends the file itself, not a form, so that it streams to disk in chunks with a progress bar),
unpacks it with :mod:`aistudio.uploads` and answers JSON: ``{"upload_id", "source", "filename",
"files", "unpacked_bytes", "archive_bytes"}``, or ``{"error": "one line"}`` with status 400
(refused archive), 403 (no ``X-Requested-With`` header), 404 (no such project) or 413 (too
large). Nothing is imported here: the page then appends ``ImportRequested`` naming ``source``.

The custom header makes a cross-site page's attempt to post here a non-simple request, which
the browser refuses without a CORS answer this server never gives (CSRF protection).
"""

from __future__ import annotations

import logging
from urllib.parse import unquote

from flask import Flask, Response, jsonify, request

from aistudio.settings import Settings, SettingsError
from aistudio.uploads import (
    UploadError,
    UploadLimits,
    UploadTooLargeError,
    format_size,
    receive_zip,
)
from ui.state import get_state

logger = logging.getLogger(__name__)

__all__ = ["format_size", "register_upload_routes", "upload_limits", "upload_url", "upload_zip"]

UPLOAD_HEADER = "X-Requested-With"
UPLOAD_HEADER_VALUE = "aistudio"
FILENAME_HEADER = "X-Filename"


def upload_url(project_id: str) -> str:
    """Where the page posts a zip for ``project_id``."""
    return f"/upload/{project_id}/zip"


def upload_limits() -> UploadLimits:
    """The upload limits of the app's workspace (read from its settings at each call)."""
    workspace = get_state().workspace
    try:
        settings = Settings.load(workspace.settings_path)
    except SettingsError:
        logger.warning("settings.json is invalid: using the default upload limits")
        settings = Settings()
    return UploadLimits.from_settings(settings)


def _error(message: str, status: int) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def upload_zip(project_id: str) -> tuple[Response, int]:
    """Receive, check and unpack one zip for ``project_id`` (the route's body)."""
    if request.headers.get(UPLOAD_HEADER) != UPLOAD_HEADER_VALUE:
        return _error("uploads are accepted from the app's own pages only", 403)
    state = get_state()
    if state.live_project(project_id) is None:
        return _error(f"no project {project_id!r}", 404)
    filename = unquote(request.headers.get(FILENAME_HEADER, "upload.zip"))
    try:
        uploaded = receive_zip(
            state.workspace,
            request.stream,
            filename=filename,
            content_length=request.content_length,
            limits=upload_limits(),
        )
    except UploadTooLargeError as exc:
        return _error(str(exc), 413)
    except UploadError as exc:
        logger.info("upload for %s refused: %s", project_id, exc)
        return _error(str(exc), 400)
    return (
        jsonify(
            {
                "upload_id": uploaded.upload_id,
                "source": str(uploaded.source),
                "filename": uploaded.filename,
                "files": uploaded.files,
                "unpacked_bytes": uploaded.unpacked_bytes,
                "archive_bytes": uploaded.archive_bytes,
            }
        ),
        200,
    )


def register_upload_routes(server: Flask) -> None:
    """Add ``POST /upload/<project_id>/zip`` to the Dash app's Flask server."""
    server.add_url_rule("/upload/<project_id>/zip", "upload_zip", upload_zip, methods=["POST"])
