"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aistudio.workspace import Workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """A fresh workspace created from the template in a temporary folder."""
    ws = Workspace(tmp_path / "workspace")
    ws.ensure()
    return ws


@pytest.fixture(scope="session")
def _trained_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {}


def _trained(templates: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, task: str) -> Any:
    from tests.trained import train_template

    if task not in templates:
        templates[task] = train_template(tmp_path_factory.mktemp(f"trained-{task}"), task)
    return templates[task]


@pytest.fixture
def trained_classification(
    _trained_templates: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> Any:
    """A private workspace with a digits classification project and one trained experiment
    (ResNet-18, 3 epochs at 32 px; trained once per session, copied per test)."""
    from tests.trained import copy_of

    return copy_of(_trained(_trained_templates, tmp_path_factory, "classification"), tmp_path)


@pytest.fixture
def trained_regression(
    _trained_templates: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> Any:
    """Like ``trained_classification``, for a regression project (the digit as a value)."""
    from tests.trained import copy_of

    return copy_of(_trained(_trained_templates, tmp_path_factory, "regression"), tmp_path)
