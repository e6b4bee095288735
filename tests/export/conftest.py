"""Exports made once for the whole package (tests only read them), on private workspace copies.

The session's trained experiments give outputs that differ from image to image (see
:func:`tests.trained.train_template`), so parity means something.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.export.support import ExportRun, export_with_worker


def _exported(templates: dict[str, Any], factory: pytest.TempPathFactory, task: str) -> ExportRun:
    from tests.trained import copy_of, train_template

    if task not in templates:  # the session's template, shared with trained_<task> fixtures
        templates[task] = train_template(factory.mktemp(f"trained-{task}"), task)
    trained = copy_of(templates[task], factory.mktemp(f"exported-{task}"))
    return export_with_worker(trained, format="onnx", checkpoint="best")


@pytest.fixture(scope="package")
def onnx_classification(
    _trained_templates: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> ExportRun:
    """The ONNX export (through a worker) of the trained digits classification experiment."""
    return _exported(_trained_templates, tmp_path_factory, "classification")


@pytest.fixture(scope="package")
def onnx_regression(
    _trained_templates: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> ExportRun:
    """The ONNX export (through a worker) of the trained digits regression experiment."""
    return _exported(_trained_templates, tmp_path_factory, "regression")
