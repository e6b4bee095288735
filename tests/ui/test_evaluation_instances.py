"""The Evaluation page of an instance segmentation project: mask and box mAP cards, the per-class
table and its CSV, the predicted masks filled over the thumbnails at the threshold, worst first,
the detail with the ground truth and the predictions side by side, and the opacity slider.

No model runs: rows and report are written in the format of the instance evaluation (detection's
rows, matched by mask IoU, each truth object with its ``polygons`` or ``mask``, each prediction
with its ``polygons``), then ``EvaluationCompleted``, as ``test_evaluation_detection`` does.
"""

from __future__ import annotations

import csv
import io
import json
from types import ModuleType
from typing import Any

import pytest

from aistudio import commands
from aistudio.workspace import Workspace
from events import Event, EventLog
from tests.projections.helpers import image, split_data
from tests.ui.layout_tree import components as walk
from tests.ui.layout_tree import find, rendered_text
from tests.ui.test_evaluation_detection import (
    detection_report,
    detection_row,
    img,
    prediction,
    tile_ids,
    trained,
    truth,
    write_file,
)
from tests.ui.test_evaluation_page import page, start_job  # noqa: F401 - the page fixture
from ui.app import start_warm_up
from ui.components.annotation_overlay import mask_url, opacity_style
from ui.components.evaluation_results import TILE_TYPE, ResultsQuery
from ui.tasks import ui_task
from ui.tasks.instance_segmentation import MASK_OPACITY_ID, PER_CLASS_COLUMNS

TASK = "instance_segmentation"
CLASSES = ("cat", "dog")
CAT = [2.0, 2.0, 12.0, 12.0]
DOG = [14.0, 4.0, 28.0, 20.0]
CAT_RING = [2.0, 2.0, 12.0, 2.0, 7.0, 12.0]
DOG_RING = [14.0, 4.0, 28.0, 4.0, 28.0, 20.0, 14.0, 20.0]
DOG_MASK = {"sha256": "d0" * 32, "ext": "png"}


def text(tree: Any) -> str:
    return " ".join(rendered_text(tree).split())


def shaped(entry: dict[str, Any], **shape: Any) -> dict[str, Any]:
    return entry | shape


def instance_rows() -> list[dict[str, Any]]:
    """Five images; at 0.5: image 0 has a FP and a FN, image 2 a FN, the others no error.

    * 0: a cat (outline) found at 0.9, a dog (mask file) found only at 0.3, a false cat at 0.6;
    * 1: a cat found at 0.8;
    * 2: a dog never detected;
    * 3: no object, a false dog at 0.4;
    * 4: a crowd of cats (ignored), a prediction on it at 0.7.
    """
    false_ring = [16.0, 14.0, 30.0, 14.0, 30.0, 23.0]
    return [
        detection_row(
            0,
            [
                shaped(truth(CAT, "cat", 0.9), polygons=[CAT_RING]),
                shaped(truth(DOG, "dog", 0.3), mask=DOG_MASK),
            ],
            [
                shaped(prediction(CAT, "cat", 0.9, "tp", 0), polygons=[CAT_RING]),
                shaped(prediction(DOG, "dog", 0.3, "tp", 1), polygons=[DOG_RING]),
                shaped(
                    prediction([16.0, 14.0, 30.0, 23.0], "cat", 0.6, "fp", None),
                    polygons=[false_ring],
                ),
            ],
        ),
        detection_row(
            1,
            [shaped(truth(CAT, "cat", 0.8), polygons=[CAT_RING])],
            [shaped(prediction(CAT, "cat", 0.8, "tp", 0), polygons=[CAT_RING])],
        ),
        detection_row(2, [shaped(truth(DOG, "dog", None), polygons=[DOG_RING])], [], "val"),
        detection_row(
            3, [], [shaped(prediction(DOG, "dog", 0.4, "fp", None), polygons=[DOG_RING])]
        ),
        detection_row(
            4,
            [shaped(truth(CAT, "cat", 0.7, ignore=True), polygons=[CAT_RING])],
            [shaped(prediction(CAT, "cat", 0.7, "ignored", 0), polygons=[CAT_RING])],
        ),
    ]


def instance_report() -> dict[str, Any]:
    """Detection's report with the instance figures: mask and box mAP, per class both."""
    report = detection_report()
    report["task"] = TASK
    report["metrics"] = {
        "mask_map": 0.37,
        "mask_map50": 0.58,
        "mask_map75": 0.31,
        "box_map": 0.41,
        "box_map50": 0.62,
        "box_map75": 0.38,
        "mask_mar100": 0.5,
        "precision": 0.6,
        "recall": 0.5,
        "f1": 0.545,
        "confidence_threshold": 0.5,
    }
    for row, (mask_ap, box_ap) in zip(
        report["per_class"], [(0.45, 0.5), (0.29, None)], strict=True
    ):
        for key in ("ap", "ap50", "ap75"):
            row.pop(key)
        row.update(mask_ap=mask_ap, mask_ap50=0.66, box_ap=box_ap, box_ap50=0.7)
    return report


def annotations(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for row in rows:
        objects = []
        for t in row["truth"]:
            obj: dict[str, Any] = {"class": t["class"], "box": t["box"]}
            obj.update({k: t[k] for k in ("polygons", "mask") if k in t})
            if t.get("ignore"):
                obj["crowd"] = True
            objects.append(obj)
        out[row["image_id"]] = {"kind": "instances", "objects": objects}
    return out


def append(workspace: Workspace, project: str, type: str, data: dict[str, Any], **kw: Any) -> Event:
    return EventLog(workspace.events_path(project)).append(type, data, **kw)


def instance_project(workspace: Workspace, rows: list[dict[str, Any]]) -> str:
    pid = str(commands.create_project(workspace, "Shapes", TASK).data["project_id"])
    append(workspace, pid, "ImagesAdded", {"images": [image(n) for n in range(len(rows))]})
    append(workspace, pid, "ClassesDefined", {"classes": list(CLASSES)})
    append(workspace, pid, "AnnotationsSet", {"annotations": annotations(rows)})
    val = [r["image_id"] for r in rows if r["subset"] == "val"]
    test = [r["image_id"] for r in rows if r["subset"] != "val"]
    append(workspace, pid, "SplitCreated", split_data("default", [], val, test))
    return pid


def evaluate(
    workspace: Workspace, project: str, exp: str, rows: list[dict], report: dict[str, Any]
) -> Event:
    """What an instance evaluation appends once done: files first, then EvaluationCompleted."""
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
        | {"images": len(rows), "trained_seq": command.seq - 1, "primary_metric": "mask_map"}
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


@pytest.fixture
def evaluated(ui_workspace: Workspace) -> tuple[str, str]:
    # The app's warm-up thread imports numpy; plotly meeting it half-imported fails, so a test
    # that draws a figure at once waits for it (see the report: the web process has that race).
    start_warm_up().join()
    rows = instance_rows()
    project = instance_project(ui_workspace, rows)
    exp = trained(ui_workspace, project, "Shapes model")
    evaluate(ui_workspace, project, exp, rows, instance_report())
    return project, exp


def masks(tree: Any, css: str = "overlay-mask") -> list[Any]:
    return [c for c in walk(tree) if css in str(getattr(c, "className", "") or "").split()]


def results(page: ModuleType, project: str, exp: str, **query: Any) -> dict[str, Any]:  # noqa: F811
    out = page.results_update(project, exp, None, TASK, ResultsQuery(**query), 0, None)
    names = ["grid", "count", "flags", "message", "pages", "page", "pager", "sig"]
    return dict(zip(names, out, strict=True))


# ---------------------------------------------------------------------- figures
def test_cards_show_mask_and_box_map_and_the_table_both(
    page: ModuleType,  # noqa: F811
    evaluated: tuple[str, str],
) -> None:
    project, exp = evaluated
    sig = page.refresh(1, 0, project, None, None)
    children, _ = page.render_metrics(sig, exp, "light", project, None, TASK, None)
    cards = find(children, "eval-cards")
    names = [c.id["index"] for c in walk(cards) if isinstance(getattr(c, "id", None), dict)]
    assert names[:4] == ["mask_map", "mask_map50", "box_map", "box_map50"]
    card_text = text(cards)
    assert "Mask mAP@[.50:.95]" in card_text and "0.37" in card_text
    assert "Box mAP50" in card_text and "0.62" in card_text
    primary = next(c for c in walk(cards) if "eval-card-primary" in getattr(c, "className", ""))
    assert "Mask mAP@[.50:.95]" in text(primary)
    table = find(children, "eval-class-table")
    head = text(table.children[0])
    assert head.startswith("Class Mask AP Mask AP50 Box AP Box AP50")
    assert "0.450" in text(table) and "—" in text(table)  # dog's box AP is undefined
    assert find(children, "eval-fig-pr") is not None and find(children, "eval-class-csv")
    data = page.table_download(project, exp, None, TASK)
    lines = list(csv.reader(io.StringIO(data["content"])))
    assert lines[0] == [key for key, _ in PER_CLASS_COLUMNS]
    assert lines[1][:5] == ["cat", "0.45", "0.66", "0.5", "0.7"] and lines[2][3] == ""


# ---------------------------------------------------------------------- tiles
def test_tiles_fill_the_masks_kept_at_the_threshold_worst_first(
    page: ModuleType,  # noqa: F811
    evaluated: tuple[str, str],
) -> None:
    project, exp = evaluated
    out = results(page, project, exp, threshold=0.5)
    # Most errors first, then the least confident: 0 (FP + FN), 2 (FN), then 3, 4, 1 by score.
    assert tile_ids(out["grid"]) == [img(0), img(2), img(3), img(4), img(1)]
    tile0 = find(out["grid"], {"type": TILE_TYPE, "index": img(0)})
    # At 0.5: the cat (0.9) and the false cat (0.6) are filled, the dog (0.3) is not.
    filled = masks(tile0, "overlay-prediction")
    assert [m.title for m in filled] == ["cat 0.60", "cat 0.90"]
    assert all(m.children and "clipPath" in m.children[0].style for m in filled)
    # Under detection's boxes: the shapes come right after the image in the frame.
    frame = next(c for c in walk(tile0) if "annotated" in str(getattr(c, "className", "")).split())
    kinds = [c.className.split()[0] for c in frame.children[1:]]
    assert kinds[: len(filled)] == ["overlay-mask"] * len(filled)
    assert set(kinds[len(filled) :]) == {"overlay-box"}
    # The crowd region of image 4 is hatched.
    tile4 = find(out["grid"], {"type": TILE_TYPE, "index": img(4)})
    assert [m.title for m in masks(tile4, "overlay-crowd")] == ["cat (ignored)"]
    low = results(page, project, exp, threshold=0.3)
    tile0 = find(low["grid"], {"type": TILE_TYPE, "index": img(0)})
    assert [m.title for m in masks(tile0, "overlay-prediction")] == [
        "dog 0.30",
        "cat 0.60",
        "cat 0.90",
    ]
    assert "eval-grid-instance_segmentation" in str(page.layout(project_id=project))


def test_the_detail_shows_the_truth_beside_the_predictions(
    page: ModuleType,  # noqa: F811
    evaluated: tuple[str, str],
) -> None:
    project, exp = evaluated
    trigger = {"type": TILE_TYPE, "index": img(0)}
    is_open, _, body = page.detail_dialog(project, exp, None, TASK, trigger, 1, "light", 0.5)
    assert is_open
    truth_frame = find(body, "eval-detail-truth")
    truth_shapes = masks(truth_frame)
    assert [m.title for m in truth_shapes] == ["cat", "dog"]
    # The dog's mask file is painted through the mask route.
    assert truth_shapes[1].style["maskImage"] == f"url({mask_url(project, DOG_MASK['sha256'])})"
    predicted = find(body, "eval-detail-boxes")
    assert [m.title for m in masks(predicted, "overlay-prediction")] == ["cat 0.60", "cat 0.90"]
    assert len(masks(predicted, "overlay-fn")) == 1  # the dog, missed at 0.5: its box only
    assert "Predictions at 0.50" in text(body) and "Ground truth" in text(body)
    assert "mask, in its class's colour" in text(body)
    assert "1 found (TP) · 1 false (FP) · 1 missed (FN)" in text(find(body, "eval-detail-table"))


def test_an_outline_changed_after_the_evaluation_is_flagged(
    page: ModuleType,  # noqa: F811
    evaluated: tuple[str, str],
    ui_workspace: Workspace,
) -> None:
    project, exp = evaluated
    assert not results(page, project, exp, threshold=0.5)["flags"]
    moved = {
        "kind": "instances",
        "objects": [{"class": "dog", "box": [14.0, 4.0, 29.5, 20.0], "polygons": [DOG_RING]}],
    }
    commands.change_annotation(ui_workspace, project, img(2), moved)
    assert "1 relabelled after evaluation" in text(results(page, project, exp)["flags"])


# ---------------------------------------------------------------------- opacity
def test_the_opacity_slider_sets_one_variable() -> None:
    (control,) = ui_task(TASK).result_controls()
    slider = find(control, MASK_OPACITY_ID)
    assert (slider.min, slider.max, slider.value) == (0, 1, 0.45)
    assert opacity_style(slider.value) == {"--mask-opacity": "0.45"}
