"""Flask routes that serve files by id: thumbnails and originals of images that exist, mask files
that the project's log names (as stored, or a semantic mask coloured by class), and the files of
completed exports.

They never take a path from the request: a project id and an image id are looked up in the
project's dataset view, and the file's path is built by :mod:`aistudio.workspace` from its hash;
a mask's sha256 must be one that an annotation event of the project's log named (its current
annotations, earlier ones shown in time travel, the ground truth of an evaluation);
an export id is looked up by :func:`aistudio.commands.export_file`, which hands out only the
file of a completed, validated export that is still the one its event recorded (sha256).
Anything unknown, malformed or not downloadable is a 404.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

from flask import Flask, Response, abort, request, send_file

from aistudio import commands
from aistudio.commands import CommandError
from aistudio.workspace import WorkspaceError, check_id, is_within
from events import EventLogError, LogCorruptedError, LogTail
from events.schemas.annotation import files_named
from ui.components.semantic_masks import CODE_PATTERN, MaskError, colored_mask_png
from ui.state import get_state

logger = logging.getLogger(__name__)
_SHA256 = re.compile(r"[0-9a-f]{64}")
MASK_MAX_AGE_S = 86400
"""Mask files are content-addressed: a sha256 always names the same bytes."""


class MaskIndex:
    """The mask files each project's log names, read incrementally (only the bytes appended
    since the last look, and only when a file is not known yet: a log never forgets a name).

    Thread-safe: the web server answers requests on several threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[Path, tuple[LogTail, set[str]]] = {}

    def names(self, log_path: Path, sha256: str) -> bool:
        """Whether an event of the log at ``log_path`` names the mask file ``sha256``.

        Raises:
            LogCorruptedError: the log is damaged.
        """
        with self._lock:
            tail, named = self._logs.get(log_path) or (LogTail(log_path), set())
            if sha256 in named:
                return True
            try:
                events = tail.poll()
            except LogCorruptedError:
                raise
            except EventLogError:  # the log was replaced or shrank: read it afresh
                tail, named = LogTail(log_path), set()
                events = tail.poll()
            for event in events:
                named.update(files_named(event.type, event.data))
            self._logs[log_path] = (tail, named)
            return sha256 in named


_MASKS = MaskIndex()


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


def _named_mask_path(project_id: str, sha256: str) -> Path:
    """The path of a mask PNG of a live project's content store that its log names (404
    otherwise: a malformed id or hash, a project that is not live, a file no event names)."""
    try:
        check_id("proj", project_id)
    except WorkspaceError:
        abort(404)
    if not _SHA256.fullmatch(sha256):
        abort(404)
    state = get_state()
    if state.live_project(project_id) is None:
        abort(404)
    workspace = state.workspace
    try:
        named = _MASKS.names(workspace.events_path(project_id), sha256)
    except LogCorruptedError as exc:
        logger.warning("mask %s of %s not served: %s", sha256, project_id, exc)
        abort(404)
    if not named:
        abort(404)
    path = workspace.image_path(project_id, sha256, "png")
    if not path.is_file():
        abort(404)
    return path


def _mask_file(project_id: str, sha256: str) -> Response:
    """A mask PNG of a live project's content store that its log names (404 otherwise)."""
    path = _named_mask_path(project_id, sha256)
    response = send_file(path, mimetype="image/png", conditional=True, max_age=MASK_MAX_AGE_S)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _semantic_file(project_id: str, name: str) -> Response:
    """A semantic mask that the project's log names (``<sha256>.png``), coloured by the colour
    code ``?c=`` (:func:`ui.components.annotation_overlay.color_code`) as an RGBA PNG; 404 for
    anything else, a malformed code included, and for a file that is no index mask."""
    sha256, dot, ext = name.partition(".")
    if not dot or ext != "png":
        abort(404)
    code = request.args.get("c", "")
    if not CODE_PATTERN.fullmatch(code):
        abort(404)
    path = _named_mask_path(project_id, sha256)
    try:
        data = colored_mask_png(path, code)
    except MaskError as exc:
        logger.warning("semantic mask %s of %s not served: %s", sha256, project_id, exc)
        abort(404)
    response = Response(data, mimetype="image/png")
    # The address names the file (by its hash) and every colour: it always means these bytes.
    response.headers["Cache-Control"] = f"public, max-age={MASK_MAX_AGE_S}, immutable"
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

    @server.get("/media/<project_id>/mask/<sha256>")
    def mask(project_id: str, sha256: str) -> Response:
        return _mask_file(project_id, sha256)

    @server.get("/media/<project_id>/semantic/<name>")
    def semantic(project_id: str, name: str) -> Response:
        return _semantic_file(project_id, name)

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
