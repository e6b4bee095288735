"""The Evaluation page of a semantic segmentation project: mIoU, pixel accuracy and Dice cards, the
per-class IoU bars, the pixel confusion matrix and the per-class table, per-image results worst
first with the truth beside the prediction, the filters, the error view and the detail.

No model runs: the project is built from events (:mod:`tests.ui.test_semantic_overlays`), the rows
and report are written in the format of the segmentation evaluation (``/tmp/helpers`` interfaces:
``target``, ``prediction`` as a base64 L PNG of S x S, ``miou``, ``pixel_accuracy``,
``classes_present``, ``classes_predicted``), then ``EvaluationCompleted``.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from PIL import Image

from aistudio import commands
from aistudio.workspace import Workspace
from events import Event, EventLog
from tests.projections.helpers import split_data
from tests.ui.layout_tree import components as walk
from tests.ui.layout_tree import find, rendered_text
from tests.ui.test_evaluation_detection import tile_ids, trained, write_file
from tests.ui.test_evaluation_page import page, start_job  # noqa: F401 - the page fixture
from tests.ui.test_semantic_overlays import CLASSES, SemanticProject, semantic_project
from ui.app import start_warm_up
from ui.components.annotation_overlay import class_color, color_code, semantic_url
from ui.components.evaluation_results import TILE_TYPE, ResultsQuery
from ui.components.semantic_masks import (
    ERROR_RGBA,
    decode_prediction,
    truth_at,
    wrong_pixels,
)
from ui.tasks import evaluated_tasks, ui_task
from ui.tasks.base import ERROR_VIEW_ID, MASK_OPACITY_ID
from ui.tasks.segmentation import PER_CLASS_COLUMNS

TASK = "segmentation"
S = 16
"""The model's input size in these rows."""


def text(tree: Any) -> str:
    return " ".join(rendered_text(tree).split())


# ---------------------------------------------------------------------- what the job wrote
def png_base64(values: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(values.astype(np.uint8), mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def predictions(made: SemanticProject) -> list[np.ndarray]:
    """Image 0 right everywhere, 1 all background, 2 its cat taken for a dog, 3 right but for a
    cat predicted in the top-left corner (which is background)."""
    out = []
    for n, mask in enumerate(made.masks):
        truth = truth_at(mask, S).copy()
        truth[truth == 255] = 0  # the model predicts a class everywhere
        if n == 1:
            truth[:] = 0
        elif n == 2:
            truth[truth == 1] = 2
        elif n == 3:
            truth[:3, :3] = 1
        out.append(truth)
    return out


ROW_FIGURES = {0: (1.0, 1.0), 1: (0.28, 0.71), 2: (0.41, 0.83), 3: (0.93, 0.97)}
"""image -> (mIoU, pixel accuracy) as the job would have measured them."""


def semantic_rows(made: SemanticProject) -> list[dict[str, Any]]:
    rows = []
    for n, (image_id, prediction) in enumerate(
        zip(made.image_ids, predictions(made), strict=False)
    ):
        present = [CLASSES[v] for v in sorted(set(np.unique(made.masks[n])) - {255})]
        predicted = [CLASSES[v] for v in sorted(set(np.unique(prediction)))]
        miou, accuracy = ROW_FIGURES[n]
        rows.append(
            {"image_id": image_id, "subset": "val" if n == 3 else "test", "label_changed": False}
            | {
                "target": {
                    "mask": {"sha256": made.mask_shas[n], "ext": "png"},
                    "classes": list(CLASSES),
                }
            }
            | {"prediction": {"png": png_base64(prediction), "size": S}}
            | {"miou": miou, "pixel_accuracy": accuracy}
            | {"classes_present": present, "classes_predicted": predicted}
        )
    return rows


def semantic_report() -> dict[str, Any]:
    matrix = [[900, 40, 10], [30, 200, 70], [5, 15, 180]]
    per_class = [
        {
            "class": "background",
            "iou": 0.91,
            "dice": 0.95,
            "accuracy": 0.95,
            "pixels": 950,
            "predicted": 935,
        },
        {
            "class": "cat",
            "iou": 0.62,
            "dice": 0.77,
            "accuracy": 0.67,
            "pixels": 300,
            "predicted": 255,
        },
        {
            "class": "dog",
            "iou": None,
            "dice": None,
            "accuracy": 0.9,
            "pixels": 200,
            "predicted": 260,
        },
    ]
    return {
        "task": TASK,
        "metrics": {"miou": 0.64, "pixel_accuracy": 0.88, "dice_macro": 0.76},
        "classes": list(CLASSES),
        "confusion_matrix": matrix,
        "per_class": per_class,
        "image_size": S,
        "ignore_index": 255,
    }


def append(workspace: Workspace, project: str, type: str, data: dict[str, Any], **kw: Any) -> Event:
    return EventLog(workspace.events_path(project)).append(type, data, **kw)


def evaluate(
    workspace: Workspace, project: str, exp: str, rows: list[dict], report: dict[str, Any]
) -> Event:
    """What a segmentation evaluation appends once done: files first, then EvaluationCompleted."""
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
    done = append(
        workspace,
        project,
        "EvaluationCompleted",
        {"experiment_id": exp, "checkpoint": "best", "checkpoint_epoch": 1}
        | {"checkpoint_sha256": "ab" * 32, "split": "default", "subsets": ["val", "test"]}
        | {"images": len(rows), "trained_seq": command.seq - 1, "primary_metric": "miou"}
        | {"metrics": report["metrics"], "results": results, "report": report_ref}
        | {"duration_s": 1.5},
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


def evaluated_project(workspace: Workspace, **kw: Any) -> tuple[SemanticProject, str]:
    """A segmentation project of four images, split, trained and evaluated."""
    made = semantic_project(workspace, 4, **kw)
    val = [made.image_ids[3]]
    test = made.image_ids[:3]
    append(workspace, made.project_id, "SplitCreated", split_data("default", [], val, test))
    exp = trained(workspace, made.project_id, "Masks model")
    report = semantic_report()
    evaluate(workspace, made.project_id, exp, semantic_rows(made), report)
    return made, exp


@pytest.fixture
def evaluated(ui_workspace: Workspace) -> tuple[SemanticProject, str]:
    start_warm_up().join()  # plotly meeting numpy half-imported fails (see the instance tests)
    return evaluated_project(ui_workspace)


def results(page: ModuleType, project: str, exp: str, **query: Any) -> dict[str, Any]:  # noqa: F811
    out = page.results_update(project, exp, None, TASK, ResultsQuery(**query), 0, None)
    names = ["grid", "count", "flags", "message", "pages", "page", "pager", "sig"]
    return dict(zip(names, out, strict=True))


def by_class(tree: Any, css: str) -> list[Any]:
    return [c for c in walk(tree) if css in str(getattr(c, "className", "") or "").split()]


def decode_uri(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as image:
        assert image.mode == "RGBA"
        return np.asarray(image)


# ---------------------------------------------------------------------- the registry
def test_segmentation_is_evaluated_and_keeps_no_threshold() -> None:
    spec = ui_task(TASK)
    assert spec.evaluates and not spec.uses_threshold and not spec.draws_objects
    assert TASK in evaluated_tasks()
    assert spec.headlines == ("miou", "pixel_accuracy", "dice_macro")
    assert all(spec.metric_help.get(name) for name in spec.headlines)
    assert spec.default_sort == "worst" and "name" in dict(spec.sorts)
    row = find(spec.result_controls(), f"{ERROR_VIEW_ID}-row")
    assert find(row, MASK_OPACITY_ID).value == 0.45 and find(row, ERROR_VIEW_ID).value is False


# ---------------------------------------------------------------------- order and filters
def _row(n: int, miou: float | None, accuracy: float | None, present=(), predicted=()) -> dict:
    return {
        "image_id": f"img-{n:08x}",
        "subset": "test",
        "miou": miou,
        "pixel_accuracy": accuracy,
    } | {"classes_present": list(present), "classes_predicted": list(predicted)}


def test_rows_are_sorted_worst_first_and_filtered_by_class_and_range() -> None:
    spec = ui_task(TASK)
    rows = [
        _row(1, 0.9, 0.95, ["background", "cat"], ["background", "cat"]),
        _row(2, 0.2, 0.8, ["background", "dog"], ["background", "cat"]),
        _row(3, None, None, [], ["background"]),  # every pixel ignored
        _row(4, 0.2, 0.6, ["background", "cat"], ["background"]),
        _row(5, 1.0, 1.0, ["background"], ["background"]),
    ]
    names = {r["image_id"]: f"f{6 - int(r['image_id'][-1])}" for r in rows}
    order = lambda key: [r["image_id"][-1] for r in spec.sort_rows(rows, key, names)]  # noqa: E731
    # Equal mIoU: the lower pixel accuracy first; no figure last.
    assert order("worst") == ["4", "2", "1", "5", "3"]
    assert order("accuracy") == ["4", "2", "1", "5", "3"]
    assert order("best") == ["5", "1", "4", "2", "3"]  # ties by file name: f2 (4) before f4 (2)
    assert order("name") == ["5", "4", "3", "2", "1"]

    def kept(**query: Any) -> list[str]:
        return [r["image_id"][-1] for r in spec.filter_rows(rows, ResultsQuery(**query))]

    assert kept(wrong_only=True) == ["1", "2", "4"]
    assert kept(true_class="cat") == ["1", "4"]
    assert kept(predicted_class="cat") == ["1", "2"]
    assert kept(true_class="dog", predicted_class="cat") == ["2"]
    assert kept(low=0.5) == ["1", "5"] and kept(high=0.5) == ["2", "4"]
    truth, predicted = spec.class_filter_options(rows, {"classes": list(CLASSES)})
    assert [o["label"] for o in truth] == ["background (4)", "cat (2)", "dog (1)"]
    assert [o["label"] for o in predicted] == ["background (5)", "cat (2)", "dog (0)"]
    assert spec.range_bounds(rows) == (0.0, 1.0, 0.01)


# ---------------------------------------------------------------------- figures
def test_cards_iou_bars_confusion_matrix_and_the_table(
    page: ModuleType,  # noqa: F811
    evaluated: tuple[SemanticProject, str],
) -> None:
    made, exp = evaluated
    project = made.project_id
    sig = page.refresh(1, 0, project, None, None)
    children, _ = page.render_metrics(sig, exp, "light", project, None, TASK, None)
    cards = find(children, "eval-cards")
    names = [c.id["index"] for c in walk(cards) if isinstance(getattr(c, "id", None), dict)]
    assert names == ["miou", "pixel_accuracy", "dice_macro"]
    card_text = text(cards)
    assert "mIoU" in card_text and "0.64" in card_text and "Dice (macro)" in card_text
    primary = next(c for c in walk(cards) if "eval-card-primary" in getattr(c, "className", ""))
    assert "mIoU" in text(primary)

    bars = find(children, "eval-fig-iou").figure.data[0]
    assert list(bars.x) == list(CLASSES) and list(bars.y) == [0.91, 0.62, None]
    assert list(bars.marker.color) == [class_color(c, CLASSES) for c in CLASSES]
    heat = find(children, "eval-fig-confusion").figure.data[0]
    assert list(heat.customdata[1]) == [30, 200, 70]  # counts on hover
    assert heat.z[1] == pytest.approx((0.1, 200 / 300, 70 / 300))  # shares of the true row
    assert "pixels" in heat.hovertemplate

    table = find(children, "eval-class-table")
    assert text(table.children[0]) == "Class IoU Dice Accuracy Truth pixels Predicted pixels"
    assert "0.620" in text(table) and "—" in text(table)
    data = page.table_download(project, exp, None, TASK)
    lines = list(csv.reader(io.StringIO(data["content"])))
    assert lines[0] == [key for key, _ in PER_CLASS_COLUMNS]
    assert lines[2] == ["cat", "0.62", "0.77", "0.67", "300", "255"] and lines[3][1] == ""


# ---------------------------------------------------------------------- tiles
def test_tiles_show_truth_beside_prediction_worst_first_with_the_errors(
    page: ModuleType,  # noqa: F811
    evaluated: tuple[SemanticProject, str],
) -> None:
    made, exp = evaluated
    project = made.project_id
    out = results(page, project, exp)
    ids = made.image_ids
    assert tile_ids(out["grid"]) == [ids[1], ids[2], ids[3], ids[0]]
    assert "eval-grid-segmentation" in str(page.layout(project_id=project))

    tile = find(out["grid"], {"type": TILE_TYPE, "index": ids[2]})
    assert "eval-tile-wrong" in tile.className  # 0.41 is below the evaluation's 0.64
    assert "mIoU 0.41" in text(tile)
    (truth,) = by_class(tile, "semantic-truth")
    assert truth.src == semantic_url(project, made.mask_shas[2], color_code(CLASSES, CLASSES))
    (prediction,) = by_class(tile, "semantic-prediction")
    pixels = decode_uri(prediction.src)
    assert pixels.shape == (S, S, 4)
    values = decode_prediction(semantic_rows(made)[2]["prediction"]["png"])
    dog = class_color("dog", CLASSES).lstrip("#")
    assert tuple(pixels[values == 2][0][:3]) == tuple(int(dog[i : i + 2], 16) for i in (0, 2, 4))
    assert (pixels[values == 0][:, 3] == 0).all()  # the background is transparent
    # The error view: red exactly where the prediction is wrong (the ignored band never is).
    (errors,) = by_class(tile, "semantic-errors")
    red = decode_uri(errors.src)
    expected = wrong_pixels(made.masks[2], CLASSES, values, CLASSES)
    assert expected.sum() > 0
    assert ((red[..., 3] > 0) == expected).all()
    assert tuple(red[expected][0]) == ERROR_RGBA
    assert "wrong pixels" in errors.title
    good = find(out["grid"], {"type": TILE_TYPE, "index": ids[0]})
    assert "eval-tile-ok" in good.className
    assert not decode_uri(by_class(good, "semantic-errors")[0].src)[..., 3].any()

    # Filters: the images predicting a dog (image 2 where there is none); the mIoU range.
    assert tile_ids(results(page, project, exp, predicted_class="dog")["grid"]) == [ids[2], ids[3]]
    assert tile_ids(results(page, project, exp, true_class="dog")["grid"]) == [ids[1], ids[3]]
    assert set(tile_ids(results(page, project, exp, low=0.9)["grid"])) == {ids[0], ids[3]}

    # The error view switch sets one class on the results (the tiles hold both pictures).
    assert page.error_view(True) == {"sections": "eval-sections shadow-sm mb-4 show-errors"}
    assert page.error_view(False) == {"sections": "eval-sections shadow-sm mb-4"}


def test_the_error_view_maps_the_truth_as_the_evaluation_does() -> None:
    truth = np.array([[0, 1], [3, 255]], dtype=np.uint8)
    legend = ["_background_", "cat", "dog", "zebra"]
    prediction = np.array([[0, 0], [0, 0]], dtype=np.uint8)
    wrong = wrong_pixels(truth, legend, prediction, ["background", "cat", "dog"])
    # Value 0 is the background whatever its name; the zebra, which the model lacks, is
    # ignored as the figures ignore it (value_table), as is 255; the cat is missed.
    assert wrong.tolist() == [[False, True], [False, False]]
    # A legend numbering its own way: value 1 is the dog.
    wrong = wrong_pixels(
        np.array([[1]], np.uint8), ["background", "dog"], np.array([[2]], np.uint8), CLASSES
    )
    assert wrong.tolist() == [[False]]


def test_the_detail_shows_truth_prediction_and_errors_large(
    page: ModuleType,  # noqa: F811
    evaluated: tuple[SemanticProject, str],
    ui_workspace: Workspace,
) -> None:
    made, exp = evaluated
    project = made.project_id
    trigger = {"type": TILE_TYPE, "index": made.image_ids[2]}
    is_open, title, body = page.detail_dialog(project, exp, None, TASK, trigger, 1, "light", None)
    assert is_open and title == "scene_02.png"
    truth = find(body, "eval-detail-truth")
    assert by_class(truth, "semantic-truth")[0].style["height"] == "100.000%"
    assert by_class(find(body, "eval-detail-prediction"), "semantic-prediction")
    errors = by_class(find(body, "eval-detail-errors"), "semantic-errors-shown")
    assert len(errors) == 1
    values = decode_prediction(semantic_rows(made)[2]["prediction"]["png"])
    wrong = int(wrong_pixels(made.masks[2], CLASSES, values, CLASSES).sum())
    table = text(find(body, "eval-detail-table"))
    assert f"Wrong pixels {wrong:,} of" in table and f"at {S}x{S}" in table
    assert "Image mIoU 0.410" in table and "In the truth background, cat" in table
    assert "cat" in text(body) and "ignored (255)" in text(body)

    # A mask changed after the evaluation is flagged.
    assert not results(page, project, exp)["flags"]
    other = made.mask_shas[1]  # (masks 0 and 2 are the same file)
    commands.change_annotation(
        ui_workspace,
        project,
        made.image_ids[2],
        {"kind": "semantic", "mask": {"sha256": other, "ext": "png"}, "classes": list(CLASSES)},
    )
    assert "1 relabelled after evaluation" in text(results(page, project, exp)["flags"])
