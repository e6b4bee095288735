"""The Evaluation page of a detection project: cards, plots, per-class table and its CSV, boxes
drawn over the thumbnails at the confidence slider's threshold, worst first, the detail view,
Set threshold (kept by the experiments view, so a reload shows it), and the wide layout.

No model runs: the tests append what training and evaluation jobs would (raw events, result
files written first) and call the page's callbacks and functions directly, as
``test_evaluation_page`` does for classification.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from types import ModuleType
from typing import Any

import dash
import pytest
from dash.exceptions import PreventUpdate

from aistudio import commands
from aistudio.workspace import Workspace
from events import Event, EventLog
from tests.projections.helpers import image, split_data
from tests.ui.layout_tree import components as walk
from tests.ui.layout_tree import find, has, rendered_text, text_of
from tests.ui.test_evaluation_page import page, start_job  # noqa: F401 - the page fixture
from ui.components.evaluation_results import TILE_TYPE, ResultsQuery
from ui.state import AppState

CLASSES = ("cat", "dog")
HIDDEN = {"display": "none"}
EVALUATED_AT = 0.5


def text(tree: Any) -> str:
    """A tree's text (children, labels, titles), runs of spaces as one."""
    return " ".join(rendered_text(tree).split())


def img(n: int) -> str:
    return str(image(n)["image_id"])


# ---------------------------------------------------------------------- what the jobs wrote
def truth(box: list[float], name: str, score: float | None, ignore: bool = False) -> dict:
    entry: dict[str, Any] = {"box": box, "class": name, "matched_score": score}
    if ignore:
        entry["ignore"] = True
    return entry


def prediction(box: list[float], name: str, score: float, match: str, gt: int | None) -> dict:
    return {
        "box": box,
        "class": name,
        "score": score,
        "match": match,
        "iou": 0.8 if gt is not None else None,
        "matched_truth": gt,
    }


def detection_row(n: int, objects: list[dict], predictions: list[dict], subset: str = "test"):
    """A row as the evaluation job writes it, its counts at :data:`EVALUATED_AT`."""
    tp = sum(1 for p in predictions if p["score"] >= EVALUATED_AT and p["match"] == "tp")
    fp = sum(1 for p in predictions if p["score"] >= EVALUATED_AT and p["match"] == "fp")
    fn = sum(
        1
        for t in objects
        if not t.get("ignore") and (t["matched_score"] is None or t["matched_score"] < 0.5)
    )
    return {
        "image_id": img(n),
        "subset": subset,
        "label_changed": False,
        "width": 32,
        "height": 24,
        "objects": sum(1 for t in objects if not t.get("ignore")),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "errors": fp + fn,
        "max_score": max((p["score"] for p in predictions), default=None),
        "display_floor": 0.05,
        "truth": objects,
        "predictions": sorted(predictions, key=lambda p: -p["score"]),
    }


def detection_rows() -> list[dict[str, Any]]:
    """Five images; at 0.5: image 0 has a FP and a FN, image 2 a FN, the others no error.

    * 0: a cat found at 0.9, a dog found only at 0.3, a false cat at 0.6;
    * 1: a cat found at 0.8;
    * 2: a dog never detected;
    * 3: no object (a negative), a false dog at 0.4;
    * 4: a difficult (ignored) cat, a detection on it at 0.7.
    """
    cat, dog = [2.0, 2.0, 12.0, 12.0], [14.0, 4.0, 28.0, 20.0]
    return [
        detection_row(
            0,
            [truth(cat, "cat", 0.9), truth(dog, "dog", 0.3)],
            [
                prediction(cat, "cat", 0.9, "tp", 0),
                prediction(dog, "dog", 0.3, "tp", 1),
                prediction([16.0, 14.0, 30.0, 23.0], "cat", 0.6, "fp", None),
            ],
        ),
        detection_row(1, [truth(cat, "cat", 0.8)], [prediction(cat, "cat", 0.8, "tp", 0)]),
        detection_row(2, [truth(dog, "dog", None)], [], subset="val"),
        detection_row(3, [], [prediction(dog, "dog", 0.4, "fp", None)]),
        detection_row(
            4, [truth(cat, "cat", 0.7, ignore=True)], [prediction(cat, "cat", 0.7, "ignored", 0)]
        ),
    ]


def annotations(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The dataset's annotations the rows were evaluated on."""
    out = {}
    for row in rows:
        objects = []
        for t in row["truth"]:
            obj: dict[str, Any] = {"class": t["class"], "box": t["box"]}
            if t.get("ignore"):
                obj["difficult"] = True
            objects.append(obj)
        out[row["image_id"]] = {"kind": "boxes", "objects": objects}
    return out


def detection_report() -> dict[str, Any]:
    recall = [i / 100 for i in range(101)]
    return {
        "task": "detection",
        "metrics": {
            "map": 0.41,
            "map50": 0.62,
            "map75": 0.38,
            "map_small": None,
            "mar100": 0.55,
            "precision": 0.6,
            "recall": 0.5,
            "f1": 0.545,
            "confidence_threshold": EVALUATED_AT,
        },
        "classes": list(CLASSES),
        "iou": 0.5,
        "threshold": {"value": EVALUATED_AT, "source": "f1_optimal_this_subset"},
        "per_class": [
            {"class": "cat", "ap": 0.5, "ap50": 0.7, "ap75": 0.45, "precision": 0.5}
            | {"recall": 1.0, "f1": 0.667, "objects": 2, "detections": 2, "tp": 2, "fp": 1}
            | {"fn": 0},
            {"class": "dog", "ap": 0.32, "ap50": 0.54, "ap75": None, "precision": None}
            | {"recall": 0.0, "f1": None, "objects": 2, "detections": 0, "tp": 0, "fp": 0}
            | {"fn": 2},
        ],
        "pr_curves": [
            {"class": "cat", "ap50": 0.7, "recall": recall, "precision": [1.0] * 60 + [None] * 41},
            {"class": "dog", "ap50": 0.54, "recall": recall, "precision": [0.5] * 101},
        ],
        "pr_curve_mean": {"recall": recall, "precision": [0.75] * 101, "map50": 0.62},
        "f1_curve": {
            "thresholds": [0.1, 0.3, 0.5, 0.7, 0.9],
            "precision": [0.4, 0.5, 0.6, 0.7, 1.0],
            "recall": [0.75, 0.75, 0.5, 0.5, 0.25],
            "f1": [0.52, 0.6, 0.545, 0.58, 0.4],
        },
        "confusion": {
            "labels": [*CLASSES, "background"],
            "matrix": [[1, 0, 1], [0, 0, 2], [1, 0, 0]],
            "iou": 0.5,
            "threshold": EVALUATED_AT,
        },
        "totals": {"images": 5, "objects": 4, "ignored_objects": 1, "detections": 6},
        "notes": ["The model detected few dogs."],
    }


# ---------------------------------------------------------------------- the project
def append(workspace: Workspace, project: str, type: str, data: dict[str, Any], **kw: Any) -> Event:
    return EventLog(workspace.events_path(project)).append(type, data, **kw)


def detection_project(workspace: Workspace, rows: list[dict[str, Any]]) -> str:
    """A detection project of the rows' images, annotated as they were evaluated, and a split
    whose test and val subsets hold them."""
    pid = str(commands.create_project(workspace, "Boxes", "detection").data["project_id"])
    ids = [row["image_id"] for row in rows]
    append(workspace, pid, "ImagesAdded", {"images": [image(n) for n in range(len(rows) + 2)]})
    append(workspace, pid, "ClassesDefined", {"classes": list(CLASSES)})
    extra = {img(len(rows)): {"kind": "boxes", "objects": []}}
    extra[img(len(rows) + 1)] = {"kind": "boxes", "objects": []}
    append(workspace, pid, "AnnotationsSet", {"annotations": annotations(rows) | extra})
    val = [r["image_id"] for r in rows if r["subset"] == "val"]
    test = [i for i in ids if i not in val]
    append(workspace, pid, "SplitCreated", split_data("default", list(extra), val, test))
    return pid


def trained(workspace: Workspace, project: str, name: str = "Boxes model") -> str:
    """An experiment trained as a job would record it (checkpoint file too), from raw events."""
    exp = "exp-0000de70"
    request = append(
        workspace,
        project,
        "TrainingRequested",
        {"experiment_id": exp, "name": name, "split": "default"}
        | {"config": {"model": "fasterrcnn_mobilenet_v3", "epochs": 1, "image_size": 64}},
        actor="ui",
    )
    job = request.id

    def job_event(type: str, data: dict[str, Any], actor: str = "job") -> None:
        append(workspace, project, type, data, actor=actor, causation=job)

    claim = {"job_id": job, "command_type": "TrainingRequested", "worker_id": "w", "host": "h"}
    job_event("JobClaimed", claim | {"pid": 1}, actor="worker")
    job_event("JobStarted", {"job_id": job, "pid": 2})
    job_event(
        "TrainingStarted",
        {"experiment_id": exp, "start_epoch": 0, "epochs": 1, "train_images": 2}
        | {"val_images": 1, "parameters": 1000, "device": "cpu", "weights": "from scratch"},
    )
    path = workspace.checkpoint_path(project, exp, "best")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"weights")
    job_event(
        "CheckpointSaved",
        {"experiment_id": exp, "which": "best", "epoch": 1}
        | {"sha256": hashlib.sha256(b"weights").hexdigest(), "size_bytes": 7}
        | {"metric": "map", "value": 0.4},
    )
    job_event("TrainingCompleted", {"experiment_id": exp, "epochs_completed": 1, "duration_s": 1.0})
    job_event("JobSucceeded", {"job_id": job})
    return exp


def write_file(workspace: Workspace, project: str, exp: str, name: str, data: bytes) -> dict:
    path = workspace.experiment_file(project, exp, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)}


def evaluate(
    workspace: Workspace, project: str, exp: str, rows: list[dict], report: dict[str, Any]
) -> Event:
    """What a detection evaluation appends once done: files first, then EvaluationCompleted."""
    command = append(
        workspace,
        project,
        "EvaluationRequested",
        {"experiment_id": exp, "checkpoint": "best", "subsets": ["val", "test"]},
        actor="ui",
    )
    start_job(workspace, project, command)
    lines = b"".join(json.dumps(r).encode() + b"\n" for r in rows)
    results = write_file(workspace, project, exp, "evaluation/results.jsonl", lines)
    report_ref = write_file(
        workspace, project, exp, "evaluation/report.json", json.dumps(report).encode()
    )
    metrics = {k: v for k, v in report["metrics"].items() if v is not None}
    done = append(
        workspace,
        project,
        "EvaluationCompleted",
        {"experiment_id": exp, "checkpoint": "best", "checkpoint_epoch": 1}
        | {"checkpoint_sha256": "ab" * 32, "split": "default", "subsets": ["val", "test"]}
        | {"images": len(rows), "trained_seq": command.seq - 1, "primary_metric": "map"}
        | {"metrics": metrics, "results": results, "report": report_ref, "duration_s": 1.5},
        actor="job",
        causation=command.id,
    )
    append(
        workspace,
        project,
        "JobSucceeded",
        {"job_id": command.id},
        actor="job",
        causation=command.id,
    )
    return done


@pytest.fixture
def evaluated(ui_workspace: Workspace) -> tuple[str, str]:
    """``(project, experiment)``: a detection experiment evaluated on :func:`detection_rows`."""
    rows = detection_rows()
    project = detection_project(ui_workspace, rows)
    exp = trained(ui_workspace, project)
    evaluate(ui_workspace, project, exp, rows, detection_report())
    return project, exp


# ---------------------------------------------------------------------- reading the page
def tile_ids(grid: Any) -> list[str]:
    return [
        c.id["index"]
        for c in walk(grid)
        if isinstance(getattr(c, "id", None), dict) and c.id.get("type") == TILE_TYPE
    ]


def boxes(tree: Any, status: str | None = None) -> list[Any]:
    """The overlay boxes of a tree (of one match status)."""
    wanted = "overlay-box" if status is None else f"overlay-{status}"
    return [
        c
        for c in walk(tree)
        if "overlay-box" in (getattr(c, "className", None) or "")
        and wanted in (c.className or "").split()
    ]


def results(page: ModuleType, project: str, exp: str, **query: Any) -> dict[str, Any]:  # noqa: F811
    out = page.results_update(project, exp, None, "detection", ResultsQuery(**query), 0, None)
    names = ["grid", "count", "flags", "message", "pages", "page", "pager", "sig"]
    return dict(zip(names, out, strict=True))


def tile_of(grid: Any, n: int) -> Any:
    return find(grid, {"type": TILE_TYPE, "index": img(n)})


# ---------------------------------------------------------------------- layout
def test_the_page_lays_out_the_threshold_controls_and_uses_the_width(
    page: ModuleType,  # noqa: F811
    evaluated: tuple[str, str],
) -> None:
    project, _ = evaluated
    layout = page.layout(project_id=project)
    assert not has(layout, "eval-unsupported")
    assert find(layout, "eval-threshold-row").style == {}
    slider = find(layout, "eval-threshold")
    assert (slider.min, slider.max) == (0.05, 0.95)
    assert find(layout, "eval-f-range-col").style == HIDDEN  # no range filter for boxes
    assert "With errors only" in text(find(layout, "eval-f-wrong-col"))
    assert find(layout, "eval-f-sort").value == "worst"
    assert has(layout, "eval-class-download")
    # The list sits next to the configuration; the figures and results span the full width.
    main = find(layout, "eval-main")
    top, sections = main.children
    assert sections.id == "eval-sections" and has(top, "eval-experiments")
    assert has(top, "eval-config-section") and not has(top, "eval-grid")
    assert has(sections, "eval-metrics") and has(sections, "eval-grid")


def test_classification_pages_hide_the_threshold(
    page: ModuleType,  # noqa: F811
    ui_workspace: Workspace,
) -> None:
    pid = str(commands.create_project(ui_workspace, "Pets", "classification").data["project_id"])
    layout = page.layout(project_id=pid)
    assert find(layout, "eval-threshold-row").style == HIDDEN
    assert find(layout, "eval-f-range-col").style == {}
    assert "green: right, red: wrong · click one" in text(find(layout, "eval-legend"))
    with pytest.raises(PreventUpdate):
        page.threshold_setup(pid, None, None, "classification", None)


# ---------------------------------------------------------------------- figures
def test_cards_plots_and_the_per_class_table(
    page: ModuleType,  # noqa: F811
    evaluated: tuple[str, str],
) -> None:
    project, exp = evaluated
    sig = page.refresh(1, 0, project, None, None)
    children, _ = page.render_metrics(sig, exp, "dark", project, None, "detection", None)
    cards = find(children, "eval-cards")
    names = [c.id["index"] for c in walk(cards) if isinstance(getattr(c, "id", None), dict)]
    assert names == [
        "map",
        "map50",
        "map75",
        "mar100",
        "f1",
        "precision",
        "recall",
        "confidence_threshold",
    ]
    card_text = text(cards)
    assert "mAP@[.50:.95]" in card_text and "0.41" in card_text and "AR@100" in card_text
    assert "F1 at the threshold" in card_text and "F1-optimal on these images" in card_text
    assert "The model detected few dogs" in text(find(children, "eval-notes"))
    pr = find(children, "eval-fig-pr").figure
    assert [t.name for t in pr.data] == [
        "cat (AP50 0.700)",
        "dog (AP50 0.540)",
        "mean (mAP50 0.620)",
    ]
    assert pr.data[0].y[-1] is None  # undefined precision stays a gap
    f1 = find(children, "eval-fig-f1").figure
    assert [t.name for t in f1.data] == ["precision", "recall", "F1"]
    assert [s.x0 for s in f1.layout.shapes] == [0.5, 0.5]  # shown, evaluated at
    confusion = find(children, "eval-fig-confusion").figure.data[0]
    assert list(confusion.x) == ["cat", "dog", "background"]
    assert [list(r) for r in confusion.text] == [[1, 0, 1], [0, 0, 2], [1, 0, 0]]
    table = text(find(children, "eval-class-table"))
    assert "AP50" in table and "0.700" in table and "—" in table
    assert has(children, "eval-class-csv")


def test_the_per_class_csv_downloads(
    page: ModuleType,  # noqa: F811
    evaluated: tuple[str, str],
) -> None:
    project, exp = evaluated
    data = page.table_download(project, exp, None, "detection")
    assert data["filename"] == f"{exp}-per-class.csv" and data["type"] == "text/csv"
    lines = list(csv.reader(io.StringIO(data["content"])))
    assert lines[0] == [
        "class",
        "ap",
        "ap50",
        "ap75",
        "precision",
        "recall",
        "f1",
        "objects",
        "detections",
        "tp",
        "fp",
        "fn",
    ]
    assert lines[1] == ["cat", "0.5", "0.7", "0.45", "0.5", "1.0", "0.667", "2", "2", "2", "1", "0"]
    assert lines[2][3] == "" and lines[2][4] == "" and lines[2][0] == "dog"  # undefined: empty
    with pytest.raises(PreventUpdate):
        page.download_table(0, exp, project, None, "detection")


# ---------------------------------------------------------------------- the grid at a threshold
def test_boxes_and_counts_follow_the_threshold(
    page: ModuleType,  # noqa: F811
    evaluated: tuple[str, str],
) -> None:
    project, exp = evaluated
    at_half = results(page, project, exp, threshold=0.5)
    # Worst first: most errors at 0.5, then the least confident.
    assert tile_ids(at_half["grid"]) == [img(0), img(2), img(3), img(4), img(1)]
    first = tile_of(at_half["grid"], 0)
    assert "eval-tile-wrong" in first.className and "2 errors" in text(first)
    assert "1 TP · 1 FP · 1 FN" in text(first)
    assert len(boxes(first, "tp")) == 1 and len(boxes(first, "fp")) == 1
    assert len(boxes(first, "fn")) == 1 and len(boxes(first, "truth")) == 1
    tags = [text_of(b) for b in boxes(first) if text_of(b)]
    assert "cat 0.90" in tags and "cat 0.60" in tags and "dog" in tags
    thumb = next(c for c in walk(first) if type(c).__name__ == "Img")
    assert thumb.src == f"/media/{project}/thumb/{img(0)}"
    assert "eval-tile-ok" in tile_of(at_half["grid"], 1).className
    assert len(boxes(tile_of(at_half["grid"], 4), "ignored")) == 2  # the box and its detection
    # Lower: the dog of image 0 is found, the false dog of image 3 appears.
    low = results(page, project, exp, threshold=0.3)
    zero = tile_of(low["grid"], 0)
    assert len(boxes(zero, "tp")) == 2 and not boxes(zero, "fn") and len(boxes(zero, "fp")) == 1
    assert len(boxes(tile_of(low["grid"], 3), "fp")) == 1
    assert "eval-tile-wrong" in tile_of(low["grid"], 3).className
    assert tile_ids(low["grid"]) == [img(2), img(3), img(0), img(4), img(1)]
    # Higher: the false cat of image 0 is dropped; only the missed dog is left.
    high = results(page, project, exp, threshold=0.7)
    zero = tile_of(high["grid"], 0)
    assert not boxes(zero, "fp") and len(boxes(zero, "fn")) == 1 and len(boxes(zero, "tp")) == 1
    assert not boxes(tile_of(high["grid"], 3))
    # The threshold is part of what the grid was drawn for.
    query = ResultsQuery(threshold=0.5)
    out = page.results_update(project, exp, None, "detection", query, 0, None)
    with pytest.raises(PreventUpdate):
        page.results_update(project, exp, None, "detection", query, 0, out[-1])
    moved = ResultsQuery(threshold=0.6)
    assert page.results_update(project, exp, None, "detection", moved, 0, out[-1])[-1] != out[-1]


def test_filters_at_the_threshold(
    page: ModuleType,  # noqa: F811
    evaluated: tuple[str, str],
) -> None:
    project, exp = evaluated
    cases: list[tuple[dict[str, Any], list[int]]] = [
        ({"wrong_only": True, "threshold": 0.5}, [0, 2]),
        ({"wrong_only": True, "threshold": 0.3}, [2, 3, 0]),
        ({"true_class": "dog", "threshold": 0.5}, [0, 2]),
        ({"predicted_class": "dog", "threshold": 0.5}, []),
        ({"predicted_class": "dog", "threshold": 0.3}, [3, 0]),
        ({"subset": "val", "threshold": 0.5}, [2]),
        ({"sort": "missed", "threshold": 0.5}, [0, 2, 1, 3, 4]),
        ({"sort": "false", "threshold": 0.3}, [0, 3, 1, 2, 4]),
        ({"sort": "objects", "threshold": 0.5}, [0, 1, 2, 3, 4]),
        ({"sort": "name", "threshold": 0.5}, [0, 1, 2, 3, 4]),
    ]
    for query, expected in cases:
        out = results(page, project, exp, **query)
        assert tile_ids(out["grid"]) == [img(n) for n in expected], query
    setup = page.filters_setup(project, exp, None, "detection")
    assert setup["true"] == [
        {"label": "cat (3)", "value": "cat"},
        {"label": "dog (2)", "value": "dog"},
    ]
    assert setup["pred"][1] == {"label": "dog (2)", "value": "dog"}


def test_the_detail_shows_the_same_boxes_large(
    page: ModuleType,  # noqa: F811
    evaluated: tuple[str, str],
) -> None:
    project, exp = evaluated
    trigger = {"type": TILE_TYPE, "index": img(0)}
    is_open, title, body = page.detail_dialog(
        project, exp, None, "detection", trigger, 1, "light", 0.5
    )
    assert is_open and title == image(0)["filename"]
    frame = find(body, "eval-detail-boxes")
    assert len(boxes(frame, "fn")) == 1 and len(boxes(frame, "fp")) == 1
    full = next(c for c in walk(frame) if type(c).__name__ == "Img")
    assert full.src == f"/media/{project}/image/{img(0)}"
    table = text(find(body, "eval-detail-table"))
    assert "1 found (TP) · 1 false (FP) · 1 missed (FN)" in table and "0.900" in table
    listing = text(find(body, "eval-detail-box-list"))
    assert "missed (false negative)" in listing and "false detection" in listing
    _, _, low = page.detail_dialog(project, exp, None, "detection", trigger, 1, "light", 0.3)
    assert not boxes(find(low, "eval-detail-boxes"), "fn")


def test_an_annotation_changed_after_the_evaluation_is_flagged(
    page: ModuleType,  # noqa: F811
    evaluated: tuple[str, str],
    ui_workspace: Workspace,
) -> None:
    project, exp = evaluated
    assert not results(page, project, exp, threshold=0.5)["flags"]
    before = page.page_signature(*page.views(project))["labels"]
    moved = {"kind": "boxes", "objects": [{"class": "dog", "box": [14.0, 4.0, 29.5, 20.0]}]}
    commands.change_annotation(ui_workspace, project, img(2), moved)
    assert page.page_signature(*page.views(project))["labels"] != before
    out = results(page, project, exp, threshold=0.5)
    assert "1 relabelled after evaluation" in text(out["flags"])
    assert "relabelled after evaluation" in text(tile_of(out["grid"], 2))
    _, _, body = page.detail_dialog(
        project, exp, None, "detection", {"type": TILE_TYPE, "index": img(2)}, 1, None, 0.5
    )
    assert "Annotation now 1 object" in text(find(body, "eval-detail-table"))


# ---------------------------------------------------------------------- the threshold
def test_the_slider_starts_at_the_evaluations_threshold_and_sums_the_counts(
    page: ModuleType,  # noqa: F811
    evaluated: tuple[str, str],
) -> None:
    project, exp = evaluated
    sig = page.refresh(1, 0, project, None, None)
    value, known = page.init_threshold(sig, exp, project, None, "detection", None)
    assert value == 0.5
    with pytest.raises(PreventUpdate):  # a refresh never moves the slider
        page.init_threshold(sig, exp, project, None, "detection", known)
    view = page.render_threshold(
        signature=sig, selected=exp, value=0.5, project_id=project, at=None, task="detection"
    )
    summary = text(view["summary"])
    assert "At 0.50, over 5 images" in summary
    assert "2 found (TP)" in summary and "1 false (FP)" in summary and "2 missed (FN)" in summary
    assert "F1 0.571" in summary  # 2·2 / (2·2 + 1 + 2)
    assert "No threshold chosen yet" in text(view["chosen"]) and not view["disabled"]
    assert "F1-optimal on these images" in text(view["chosen"])
    patch = page.mark_threshold(0.3, exp, project, None, "detection")
    assert isinstance(patch, dash.Patch)
    shapes = patch.to_plotly_json()["operations"][0]
    assert shapes["location"] == ["layout", "shapes"] and shapes["params"]["value"][0]["x0"] == 0.3


def test_set_threshold_is_kept_by_the_experiment(
    page: ModuleType,  # noqa: F811
    evaluated: tuple[str, str],
    ui_workspace: Workspace,
    ui_state: AppState,
) -> None:
    project, exp = evaluated
    before = page.refresh(1, 0, project, None, None)
    out = page.on_set_threshold(
        clicks=1, value=0.35, selected=exp, project_id=project, at=None, version=0
    )
    assert out["version"] == 1 and "is now 0.35" in text(out["status"])
    last = commands.events_of(ui_workspace, project)[-1]
    assert last.type == "ThresholdSet" and last.actor == "ui"
    assert last.data == {"experiment_id": exp, "threshold": 0.35}
    sig = page.refresh(2, 1, project, None, before)
    assert sig != before  # the page follows the experiment
    view = page.render_threshold(
        signature=sig, selected=exp, value=0.35, project_id=project, at=None, task="detection"
    )
    assert "Chosen threshold: 0.35" in text(view["chosen"]) and view["disabled"]
    # A reload starts the slider at the chosen threshold.
    value, _ = page.init_threshold(sig, exp, project, None, "detection", None)
    assert value == 0.35
    # The past is read-only, and shows the threshold as it was then.
    past = page.on_set_threshold(
        clicks=1, value=0.6, selected=exp, project_id=project, at=last.seq - 1, version=1
    )
    assert "view of the past" in text(past["status"]) and past["version"] is dash.no_update
    then, _ = page.init_threshold(sig, exp, project, last.seq - 1, "detection", None)
    assert then == 0.5
    with pytest.raises(PreventUpdate):
        page.on_set_threshold(
            clicks=0, value=0.6, selected=exp, project_id=project, at=None, version=1
        )
