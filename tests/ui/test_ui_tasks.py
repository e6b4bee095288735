"""The UI side of each task (``ui/tasks``): the registry, each task's pieces, the detection
overlay at thresholds, and the rule that no page or component asks which task it shows."""

from __future__ import annotations

import ast
import random
from pathlib import Path
from typing import Any

import pytest

from aistudio.evaluation.detection_matching import counts_at as reference_counts_at
from events.schemas.common import TASKS
from projections.dataset import DatasetView, ImageEntry
from tests.ui.layout_tree import text_of, walk
from ui.components.annotation_overlay import MATCH_COLORS, match_boxes
from ui.components.dataset_grid import UNLABELED_OPTION
from ui.components.evaluation_results import ResultsQuery
from ui.tasks import evaluated_tasks, ui_task
from ui.tasks.base import LabelInput, UiTask
from ui.tasks.classification import ClassificationUi
from ui.tasks.detection import (
    DetectionUi,
    boxes_at,
    clamp_threshold,
    counts_at,
    prf,
    same_objects,
    totals_at,
)
from ui.tasks.regression import RegressionUi

UI_DIR = Path(__file__).resolve().parents[2] / "ui"


def entry(n: int = 0, **fields: Any) -> ImageEntry:
    """An image of the dataset view."""
    base: dict[str, Any] = {
        "image_id": f"img-{n:08x}",
        "sha256": f"{n:064x}",
        "ext": "png",
        "filename": f"image_{n}.png",
        "width": 40,
        "height": 30,
        "size_bytes": 100,
        "label": None,
        "value": None,
        "added_seq": 1,
    }
    return ImageEntry(**(base | fields))


# ---------------------------------------------------------------------- the registry
def test_every_task_has_a_ui_side() -> None:
    assert isinstance(ui_task("classification"), ClassificationUi)
    assert isinstance(ui_task("regression"), RegressionUi)
    assert isinstance(ui_task("detection"), DetectionUi)
    assert ui_task("detection") is ui_task("detection")
    for name in TASKS:
        spec = ui_task(name)
        assert spec.name == name and spec.sorts and spec.default_sort in dict(spec.sorts)
    other = ui_task("anomaly_detection")
    assert type(other) is UiTask and not other.evaluates and not other.uses_threshold
    assert evaluated_tasks() == [
        "classification",
        "regression",
        "detection",
        "instance_segmentation",
        "segmentation",
    ]
    assert [n for n in TASKS if ui_task(n).uses_threshold] == ["detection", "instance_segmentation"]
    drawn = {n for n in TASKS if ui_task(n).draws_objects}
    assert drawn == {"detection", "instance_segmentation", "obb"}


def _task_like(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in TASKS
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return name == "task" or name.endswith("_task")


def _names_tasks(node: ast.expr) -> bool:
    """A literal holding a task's name, or a constant listing tasks (``SUPPORTED_TASKS``)."""
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(isinstance(e, ast.Constant) and e.value in TASKS for e in node.elts)
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return name.isupper() and name.endswith("TASKS")


def _asks_for_a_task(node: ast.Compare) -> bool:
    """``task == "regression"``, ``meta.task != …``, ``task in SUPPORTED_TASKS``, ``x in
    ("classification", …)``; not ``task in commands.trainable_tasks()`` (the commands say)."""
    sides = [node.left, *node.comparators]
    for op, left, right in zip(node.ops, sides[:-1], sides[1:], strict=True):
        if isinstance(op, (ast.In, ast.NotIn)):
            if _names_tasks(right):
                return True
        elif _task_like(left) or _task_like(right):
            return True
    return False


def test_no_page_or_component_asks_which_task_it_shows() -> None:
    """What differs by task lives in ``ui/tasks``: no comparison with a task elsewhere in ui/."""
    problems = []
    for path in sorted(UI_DIR.rglob("*.py")):
        if path.is_relative_to(UI_DIR / "tasks"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Compare) and _asks_for_a_task(node):
                problems.append(f"{path.relative_to(UI_DIR.parent)}:{node.lineno}")
    assert not problems, "task branches outside ui/tasks:\n" + "\n".join(problems)


# ---------------------------------------------------------------------- the dataset page
def _dataset(**fields: Any) -> DatasetView:
    view = DatasetView()
    for key, value in fields.items():
        setattr(view, key, value)
    return view


def test_class_filters_and_placeholders() -> None:
    labelled = _dataset(classes=["cat", "dog"], label_counts={"cat": 3, "dog": 1}, unlabeled=2)
    options = ui_task("classification").class_options(labelled)
    assert [o["label"] for o in options] == ["cat (3)", "dog (1)", "Unlabeled (2)"]
    assert options[-1]["value"] == UNLABELED_OPTION
    cars = {"kind": "boxes", "objects": [{"class": "car", "box": [0, 0, 2, 2]}] * 4}
    images = {
        "a": ImageEntry("a", "0" * 64, "png", "a.png", 8, 8, 1, None, None, 1, cars),
        "b": ImageEntry("b", "1" * 64, "png", "b.png", 8, 8, 1, None, None, 1, cars),
    }
    boxed = _dataset(classes=["car"], object_counts={"car": 8}, unlabeled=1, images=images)
    assert [o["label"] for o in ui_task("detection").class_options(boxed)] == [
        "car (2 images, 8 objects)",
        "Not annotated (1)",
    ], "the count the filter finds (images) comes first"
    values = ui_task("regression").class_options(_dataset(unlabeled=4))
    assert values == [{"label": "Without a value (4)", "value": UNLABELED_OPTION}]
    assert ui_task("regression").class_filter_placeholder == "All values"
    assert ui_task("detection").class_filter_placeholder == "All classes"
    assert ui_task("regression").histogram == "values"
    assert ui_task("detection").histogram == "classes"
    assert ui_task("classification").always_counts_classes
    assert not ui_task("detection").always_counts_classes


def test_label_editors() -> None:
    classification, regression = ui_task("classification"), ui_task("regression")
    assert (classification.label_editor, regression.label_editor) == ("label", "value")
    assert ui_task("detection").label_editor is None  # objects have their own editor
    assert classification.parse_label("cat", "  new ", None) == LabelInput(label="new")
    assert classification.parse_label("cat", "", None) == LabelInput(label="cat")
    assert classification.parse_label(UNLABELED_OPTION, None, None) == LabelInput()
    assert "Choose a class" in str(classification.parse_label(None, None, None))
    assert regression.parse_label(None, None, "2.5") == LabelInput(value=2.5)
    assert regression.parse_label(None, None, "") == "Enter a number."
    assert regression.parse_label(None, None, "x") == "'x' is not a number."
    assert "finite" in str(regression.parse_label(None, None, "inf"))


# ---------------------------------------------------------------------- per-image tasks
def test_what_each_task_scores_and_flags() -> None:
    classification, regression = ui_task("classification"), ui_task("regression")
    detection = ui_task("detection")
    labelled, valued = entry(label="cat"), entry(value=1.0)
    boxed = entry(structured={"kind": "boxes", "objects": []})
    assert classification.has_target(labelled) and not classification.has_target(valued)
    assert regression.has_target(valued) and not regression.has_target(boxed)
    assert detection.has_target(boxed) and not detection.has_target(labelled)
    assert classification.target_differs({"target": "dog"}, labelled)
    assert not regression.target_differs({"target": 0.99999984}, valued)  # float32 rounding
    assert regression.target_differs({"target": 1.1}, valued)
    assert detection.target_differs({"truth": []}, labelled)  # not annotated with boxes now
    assert not detection.target_differs({"truth": []}, boxed)


def test_per_image_orders_and_filters() -> None:
    rows = [
        {"image_id": "a", "target": "cat", "prediction": "dog", "confidence": 0.6},
        {"image_id": "b", "target": "cat", "prediction": "cat", "confidence": 0.9},
        {"image_id": "c", "target": "dog", "prediction": "cat", "confidence": 0.8},
    ]
    spec = ui_task("classification")
    assert [r["image_id"] for r in spec.sort_rows(rows, "mistakes", {})] == ["c", "a", "b"]
    assert [r["image_id"] for r in spec.sort_rows(rows, "confidence_asc", {})] == ["a", "c", "b"]
    wrong = spec.filter_rows(rows, ResultsQuery(wrong_only=True, low=0.7))
    assert [r["image_id"] for r in wrong] == ["c"]
    values = [
        {"image_id": "a", "target": 1.0, "prediction": 1.5},
        {"image_id": "b", "target": 2.0, "prediction": 0.0},
    ]
    regression = ui_task("regression")
    assert [r["image_id"] for r in regression.sort_rows(values, "error_desc", {})] == ["b", "a"]
    assert regression.range_bounds(values) == (0.0, 2.0, 0.02)
    assert regression.value_text(0.99999984, 0.1) == "1"
    assert regression.measure_text(values[1]) == "err -2"
    assert ui_task("classification").measure_text(rows[0]) == "60%"


# ---------------------------------------------------------------------- detection
def _row(truth: list[dict[str, Any]], predictions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"image_id": "img", "truth": truth, "predictions": predictions, "display_floor": 0.05}


def _random_row(rng: random.Random) -> dict[str, Any]:
    truth = []
    for _ in range(rng.randint(0, 4)):
        found = rng.random() < 0.6
        box: dict[str, Any] = {
            "box": [0.0, 0.0, 1.0, 1.0],
            "class": "a",
            "matched_score": round(rng.uniform(0.05, 1.0), 4) if found else None,
        }
        if rng.random() < 0.15:
            box["ignore"] = True
        truth.append(box)
    predictions = [
        {
            "box": [0.0, 0.0, 1.0, 1.0],
            "class": "a",
            "score": round(rng.uniform(0.05, 1.0), 4),
            "match": rng.choice(["tp", "fp", "fp", "ignored"]),
        }
        for _ in range(rng.randint(0, 6))
    ]
    return _row(truth, sorted(predictions, key=lambda p: -p["score"]))


def test_counts_at_agrees_with_the_evaluations_rule() -> None:
    rng = random.Random(7)
    for _ in range(300):
        row = _random_row(rng)
        for threshold in (0.05, 0.2, 0.35, 0.5, 0.5001, 0.73, 0.95):
            assert counts_at(row, threshold) == reference_counts_at(row, threshold)


def _statuses(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(item["status"], item["tag"]) for item in items]


def test_boxes_kept_and_dropped_and_missed_at_each_threshold() -> None:
    row = _row(
        [
            {"box": [0, 0, 10, 10], "class": "car", "matched_score": 0.8},
            {"box": [20, 0, 30, 10], "class": "bus", "matched_score": 0.3},
            {"box": [0, 20, 10, 30], "class": "car", "matched_score": None},
            {"box": [20, 20, 30, 30], "class": "car", "matched_score": 0.6, "ignore": True},
        ],
        [
            {"box": [0, 0, 10, 11], "class": "car", "score": 0.8, "match": "tp"},
            {"box": [20, 20, 30, 31], "class": "car", "score": 0.6, "match": "ignored"},
            {"box": [40, 0, 50, 10], "class": "bus", "score": 0.45, "match": "fp"},
            {"box": [20, 0, 30, 11], "class": "bus", "score": 0.3, "match": "tp"},
        ],
    )
    assert _statuses(boxes_at(row, 0.25)) == [
        ("truth", "car"),
        ("truth", "bus"),
        ("ignored", "car (ignored)"),
        ("fn", "car"),
        ("tp", "bus 0.30"),
        ("fp", "bus 0.45"),
        ("ignored", "car 0.60"),
        ("tp", "car 0.80"),
    ]
    assert counts_at(row, 0.25) == (2, 1, 1)
    # At 0.5 the bus detections are dropped: the bus becomes a missed object.
    assert _statuses(boxes_at(row, 0.5)) == [
        ("truth", "car"),
        ("ignored", "car (ignored)"),
        ("fn", "bus"),
        ("fn", "car"),
        ("ignored", "car 0.60"),
        ("tp", "car 0.80"),
    ]
    assert counts_at(row, 0.5) == (1, 0, 2)
    assert counts_at(row, 0.9) == (0, 0, 3)
    assert [item["status"] for item in boxes_at(row, 0.9)] == ["ignored", "fn", "fn", "fn"]
    assert totals_at([row, row], 0.5) == (2, 0, 4)
    assert prf(2, 0, 4) == (1.0, pytest.approx(1 / 3), 0.5)
    assert prf(0, 0, 0) == (None, None, None)


def test_match_boxes_draw_each_status_its_own_way() -> None:
    items = [
        {"box": [0, 0, 10, 10], "status": "truth", "tag": "car"},
        {"box": [0, 0, 10, 10], "status": "fn", "tag": "car"},
        {"box": [0, 0, 10, 10], "status": "tp", "tag": "car 0.80"},
    ]
    drawn = match_boxes(items, 20, 10)
    assert [d.className for d in drawn] == [
        "overlay-box overlay-truth",
        "overlay-box overlay-fn",
        "overlay-box overlay-tp",
    ]
    assert [d.style["borderColor"] for d in drawn] == [
        MATCH_COLORS["truth"],
        MATCH_COLORS["fn"],
        MATCH_COLORS["tp"],
    ]
    assert [text_of(d) for d in drawn] == ["", "car", "car 0.80"]  # a found truth has no tag
    assert drawn[1].title == "car · missed (false negative)"
    assert drawn[2].style["top"] == "25.000%"  # a 20x10 image letterboxed in its square
    assert not any(text_of(d) for d in match_boxes(items, 20, 10, labels=False))
    assert match_boxes(items, 0, 10) == []
    tags = [n for n in walk(drawn) if "overlay-tag" in (getattr(n, "className", "") or "")]
    assert all(
        t.style["background"] == MATCH_COLORS[s] for t, s in zip(tags, ["fn", "tp"], strict=True)
    )


def test_same_objects_tolerates_rounding_and_order() -> None:
    objects = [
        {"class": "car", "box": [1.04, 2.0, 10.0, 12.0]},
        {"class": "bus", "box": [5.0, 5.0, 9.0, 9.0], "difficult": True},
    ]
    truth = [
        {"class": "bus", "box": [5.0, 5.0, 9.0, 9.0], "matched_score": None, "ignore": True},
        {"class": "car", "box": [1.0, 2.0, 10.0, 12.0], "matched_score": 0.5},
    ]
    assert same_objects(truth, objects)
    assert not same_objects(truth[:1], objects)
    assert not same_objects([{**truth[0], "ignore": False}, truth[1]], objects)
    assert not same_objects(truth, [{**objects[0], "box": [1.2, 2.0, 10.0, 12.0]}, objects[1]])
    assert not same_objects(truth, [{**objects[0], "class": "van"}, objects[1]])


def test_the_thresholds_the_slider_starts_at() -> None:
    spec = ui_task("detection")
    report = {"threshold": {"value": 0.4237, "source": "f1_optimal_val"}}
    assert spec.initial_threshold(report, None) == 0.4237
    assert spec.initial_threshold(report, 0.3) == 0.3  # the chosen one wins
    assert spec.initial_threshold({}, None) == 0.5
    assert spec.initial_threshold({"threshold": {"value": 0.01}}, None) == 0.05
    assert clamp_threshold(0.99) == 0.95
    assert spec.card_note("confidence_threshold", report) == "F1-optimal on the validation images"
    assert spec.card_note("map", report) is None
    assert spec.metric_title("map") == "mAP@[.50:.95]" and spec.metric_title("mar100") == "AR@100"
    assert ui_task("classification").metric_title("f1_macro") == "F1 macro"
    assert ui_task("classification").initial_threshold(report, 0.3) is None
    assert ui_task("classification").threshold_patch(report, 0.3) is None
    assert spec.threshold_patch({}, 0.3) is None  # no F1 curve to mark
    assert spec.table_csv({}) is None
