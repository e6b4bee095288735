"""Callback bodies: deep nesting is a 400 (it was an HTML 500), oversized bodies a 413."""

from __future__ import annotations

import dash
import pytest

from ui.request_limits import MAX_BODY_BYTES


@pytest.mark.parametrize("depth", [2_000, 100_000])
def test_deeply_nested_callback_bodies_are_bad_requests(dash_app: dash.Dash, depth: int) -> None:
    body = '{"output": "x", "outputs": ' + "[" * depth + "]" * depth + "}"
    response = dash_app.server.test_client().post(
        "/_dash-update-component", data=body, content_type="application/json"
    )
    assert response.status_code == 400


def test_oversized_callback_bodies_are_refused_before_reading(dash_app: dash.Dash) -> None:
    response = dash_app.server.test_client().post(
        "/_dash-update-component",
        data=b" " * (MAX_BODY_BYTES + 1),
        content_type="application/json",
    )
    assert response.status_code == 413
    assert b"at most" in response.data


def test_ordinary_callback_bodies_still_work(dash_app: dash.Dash) -> None:
    response = dash_app.server.test_client().get("/_dash-layout")
    assert response.status_code == 200
    assert dash_app.server.json.loads('{"a": [1, [2]]}') == {"a": [1, [2]]}
