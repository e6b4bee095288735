"""The evaluation's files: complete, named by their sha256, relative to the experiment folder."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from aistudio.evaluation.plain import decimate_indices, finite_metrics, finite_or_none
from aistudio.evaluation.results import (
    clean_temp_files,
    file_ref,
    read_results,
    write_report,
    write_results,
)
from aistudio.workspace import Workspace

PROJECT = "proj-0000cafe"
EXP = "exp-0000beef"


def test_files_round_trip_and_are_named_by_their_hash(workspace: Workspace) -> None:
    rows = [{"image_id": "img-00000001", "score": 0.25, "ok": True}, {"image_id": "img-2"}]
    report = {"task": "classification", "matrix": [[1, 0], [0, 1]], "ap": None}
    results_path = workspace.evaluation_results_path(PROJECT, EXP)
    report_path = workspace.evaluation_report_path(PROJECT, EXP)
    saved = write_results(results_path, iter(rows))
    written = write_report(report_path, report)
    folder = workspace.experiment_dir(PROJECT, EXP)
    ref = file_ref(saved, folder)
    assert ref["name"] == "evaluation/results.jsonl"
    assert file_ref(written, folder)["name"] == "evaluation/report.json"
    data = workspace.read_experiment_file(PROJECT, EXP, ref["name"], ref["sha256"])
    assert ref["sha256"] == hashlib.sha256(data).hexdigest()
    assert ref["size_bytes"] == len(data)
    assert data.count(b"\n") == 2 and data.endswith(b"\n")
    assert read_results(data) == rows
    assert orjson.loads(report_path.read_bytes()) == report
    assert sorted(p.name for p in results_path.parent.iterdir()) == ["report.json", "results.jsonl"]


def test_numpy_values_are_refused_not_written_oddly(workspace: Workspace) -> None:
    import numpy as np

    path = workspace.evaluation_report_path(PROJECT, EXP)
    with pytest.raises(TypeError):
        write_report(path, {"x": np.arange(3)})
    assert not path.exists()


def test_leftover_temporary_files_are_removed(workspace: Workspace) -> None:
    folder = workspace.evaluation_dir(PROJECT, EXP)
    folder.mkdir(parents=True)
    (folder / ".results.jsonl.123.tmp").write_text("half")
    (folder / "report.json").write_text("{}")
    clean_temp_files(folder)
    assert [p.name for p in folder.iterdir()] == ["report.json"]


def test_plain_values() -> None:
    assert finite_or_none(float("nan")) is None
    assert finite_or_none(float("inf")) is None
    assert type(finite_or_none(np_float())) is float
    assert finite_metrics({"a": 1, "b": float("nan"), "c": 0.5}) == {"a": 1.0, "c": 0.5}


def np_float() -> object:
    import numpy as np

    return np.float32(0.5)


@pytest.mark.parametrize(("length", "most"), [(0, 5), (3, 5), (5, 5), (6, 5), (1000, 200)])
def test_decimation_keeps_the_ends(length: int, most: int) -> None:
    kept = decimate_indices(length, most)
    assert len(kept) == min(length, most)
    assert kept == sorted(set(kept))
    if length:
        assert kept[0] == 0 and kept[-1] == length - 1
    with pytest.raises(ValueError):
        decimate_indices(10, 1)
