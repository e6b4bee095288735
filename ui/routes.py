"""Flask routes that serve files by id: thumbnails and originals of images that exist.

They never take a path from the request: a project id and an image id are looked up in the
project's dataset view, and the file's path is built by :mod:`aistudio.workspace` from its hash.
Anything unknown is a 404.
"""

from __future__ import annotations

from flask import Flask, Response, abort, request, send_file

from ui.state import get_state


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


def register_routes(server: Flask) -> None:
    """Add the media routes to the Dash app's Flask server."""

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
