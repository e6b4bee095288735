"""Limits on what a request body may hold: callbacks get at most a few MiB of shallow JSON.

Dash parses a callback's body with Flask's ``request.get_json()``: a body of 100,000 nested
``[`` made the standard library's decoder raise ``RecursionError``, answered as an HTML 500. The
server's JSON provider here turns too-deep nesting into a ``ValueError``, which Flask answers as
400, and bodies over :data:`MAX_BODY_BYTES` are refused with 413 before they are read. Uploads
have their own route and limit (``ui/upload.py``, the workspace's upload setting).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider

MAX_BODY_BYTES = 16 << 20
"""Largest request body outside the upload route (a callback's inputs and states)."""
UPLOAD_PREFIX = "/upload/"


class ShallowJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, refusing nesting too deep for the decoder with a ``ValueError``."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse ``s``; nesting deeper than the interpreter can decode is a ``ValueError``."""
        try:
            return json.loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON body is nested too deeply") from None


def _refuse_large_bodies() -> Response | None:
    if request.path.startswith(UPLOAD_PREFIX):
        return None
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        return Response(
            f"request body of {length:,} bytes refused: at most {MAX_BODY_BYTES:,}\n",
            status=413,
            mimetype="text/plain",
        )
    return None


def install_request_limits(server: Flask) -> None:
    """Give ``server`` the shallow JSON provider and the body size limit."""
    server.json = ShallowJSONProvider(server)
    server.before_request(_refuse_large_bodies)
