"""The exports view: tables of events in, exports out (no torch, no files)."""

from __future__ import annotations

from typing import Any

from events import registry
from projections import exports
from projections.evaluations import FileInfo
from projections.exports import ValidationInfo
from tests.projections.helpers import Events

EXP = "exp-0000beef"
XPT = "xpt-0000cafe"
XPT2 = "xpt-0000d00d"


def requested(export_id: str = XPT, fmt: str = "onnx") -> dict[str, Any]:
    return {
        "experiment_id": EXP,
        "export_id": export_id,
        "checkpoint": "best",
        "format": fmt,
        "options": {"opset": 17, "validation_images": 8, "tolerance": 0.001},
    }


def completed(export_id: str = XPT, diff: float = 2e-6, passed: bool = True) -> dict[str, Any]:
    data = {
        "export_id": export_id,
        "experiment_id": EXP,
        "checkpoint": "best",
        "checkpoint_epoch": 3,
        "checkpoint_sha256": "ab" * 32,
        "format": "onnx",
        "file": {"name": f"exports/{export_id}/model.onnx", "sha256": "12" * 32, "size_bytes": 9},
        "validation": {
            "images": 8,
            "max_abs_diff": diff,
            "agreement": 1.0 if passed else 0.875,
            "tolerance": 0.001,
            "passed": passed,
        },
        "metadata": {"aistudio.task": '"classification"'},
        "duration_s": 2.0,
    }
    registry.validate("ExportCompleted", data)
    return data


def test_an_export_that_passes_validation_is_downloadable() -> None:
    log = Events()
    command = log.add("ExportRequested", requested())
    pending = exports.rebuild(log).get(XPT)
    assert pending is not None and pending.status == "pending" and not pending.downloadable
    assert pending.options["validation_images"] == 8 and pending.job_id == command.id
    log.add("ExportCompleted", completed(), actor="job", causation=command.id)
    log.add("JobSucceeded", {"job_id": command.id}, actor="job", causation=command.id)
    entry = exports.rebuild(log).get(XPT)
    assert entry is not None and entry.status == "completed" and entry.downloadable
    assert entry.file == FileInfo(f"exports/{XPT}/model.onnx", "12" * 32, 9)
    assert entry.validation == ValidationInfo(8, 2e-6, 1.0, 0.001, True)
    assert entry.metadata == {"aistudio.task": '"classification"'} and entry.checkpoint_epoch == 3


def test_an_export_over_tolerance_is_failed_with_its_figures() -> None:
    log = Events()
    command = log.add("ExportRequested", requested())
    log.add("ExportCompleted", completed(diff=0.5, passed=False), actor="job", causation=command.id)
    log.add(
        "JobFailed",
        {"job_id": command.id, "error": "max abs diff 0.5 over tolerance 0.001"},
        actor="job",
        causation=command.id,
    )
    entry = exports.rebuild(log).get(XPT)
    assert entry is not None and entry.status == "failed" and not entry.downloadable
    assert entry.validation is not None and entry.validation.max_abs_diff == 0.5
    assert entry.error == "max abs diff 0.5 over tolerance 0.001"


def test_failed_and_cancelled_jobs_end_pending_exports() -> None:
    log = Events()
    one = log.add("ExportRequested", requested(XPT))
    two = log.add("ExportRequested", requested(XPT2, "torchscript"))
    log.add("JobFailed", {"job_id": one.id, "error": "no best checkpoint"}, causation=one.id)
    log.add("JobCancelled", {"job_id": two.id}, causation=two.id)
    view = exports.rebuild(log)
    assert view.get(XPT).status == "failed" and view.get(XPT).error == "no best checkpoint"
    assert view.get(XPT2).status == "cancelled" and view.get(XPT2).format == "torchscript"
    assert [e.export_id for e in view.of_experiment(EXP)] == [XPT2, XPT]  # newest first
    assert view.of_experiment("exp-00000000") == []
    # a completion arriving after the end changes nothing
    log.add("ExportCompleted", completed(), actor="job", causation=one.id)
    assert exports.rebuild(log).get(XPT).status == "failed"


def test_a_repeated_export_id_is_ignored() -> None:
    log = Events()
    first = log.add("ExportRequested", requested())
    second = log.add("ExportRequested", requested(fmt="torchscript"))
    view = exports.rebuild(log)
    assert view.get(XPT).job_id == first.id and view.for_job(second.id) is None
    assert len(view.exports) == 1
