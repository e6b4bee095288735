"""``AnnotationChanged``: the annotation must suit the task, the project's classes and the image."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from aistudio import commands
from aistudio.commands import CommandError
from aistudio.workspace import Workspace
from events import EventLog

WIDTH, HEIGHT = 64, 48


def _project(workspace: Workspace, task: str, classes: list[str]) -> tuple[str, str]:
    """A project of ``task`` with one 64x48 image (``img-00000001``) and ``classes``."""
    project_id = str(commands.create_project(workspace, f"P {task}", task).data["project_id"])
    log = EventLog(workspace.events_path(project_id))
    record = {
        "image_id": "img-00000001",
        "sha256": "1" * 64,
        "ext": "png",
        "filename": "scene.png",
        "width": WIDTH,
        "height": HEIGHT,
        "size_bytes": 100,
    }
    log.append("ImagesAdded", {"images": [record]}, actor="job")
    if classes:
        log.append("ClassesDefined", {"classes": classes}, actor="job")
    return project_id, "img-00000001"


def _stored_mask(workspace: Workspace, project_id: str, size: tuple[int, int]) -> dict[str, str]:
    """A mask PNG written into the project's content store; its reference."""
    tmp = workspace.root / "mask.png"
    Image.new("L", size).save(tmp)
    sha = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path = workspace.image_path(project_id, sha, "png")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.replace(path)
    return {"sha256": sha, "ext": "png"}


def _refused(workspace: Workspace, project_id: str, match: str, call: Callable[[], Any]) -> None:
    before = workspace.events_path(project_id).read_bytes()
    with pytest.raises(CommandError, match=match):
        call()
    assert workspace.events_path(project_id).read_bytes() == before


def _boxes(*objects: tuple[str, list[float]]) -> dict[str, Any]:
    return {"kind": "boxes", "objects": [{"class": c, "box": b} for c, b in objects]}


def test_a_box_annotation_is_stored_normalised_and_shown(workspace: Workspace) -> None:
    project_id, image = _project(workspace, "detection", ["cat", "dog"])
    event = commands.change_annotation(
        workspace, project_id, image, _boxes(("cat", [1, 2, 30, 40]), ("dog", [0, 0, 64, 48]))
    )
    assert event.data["annotation"]["objects"][0] == {"class": "cat", "box": [1.0, 2.0, 30.0, 40.0]}
    entry = commands.dataset_view(workspace, project_id).images[image]
    assert entry.annotation == event.data["annotation"]
    commands.change_annotation(workspace, project_id, image, None)
    assert not commands.dataset_view(workspace, project_id).images[image].annotated


def test_a_detection_image_takes_objects_not_a_label(workspace: Workspace) -> None:
    project_id, image = _project(workspace, "detection", ["cat", "dog"])
    _refused(
        workspace,
        project_id,
        "annotated with boxes, not a label or a value: change their objects instead",
        lambda: commands.change_label(workspace, project_id, image, "cat"),
    )


@pytest.mark.parametrize(
    ("annotation", "match"),
    [
        ({"kind": "label", "label": "cat"}, "take a 'boxes' annotation, not 'label'"),
        (_boxes(("emu", [1, 1, 5, 5])), "scene.png: object 1: class 'emu' is not one of"),
        (_boxes(("cat", [1, 1, 65, 5])), "object 1: box .* reaches outside the 64x48 image"),
        (_boxes(("cat", [5, 1, 5, 5])), "no zero area"),
        (_boxes(("cat", [1, 1, 2, 2]), ("emu", [1, 1, 99, 5])), r"\(and 1 more\)"),
        ({"kind": "boxes", "objects": [{"class": "cat"}]}, "box: is required"),
    ],
)
def test_a_detection_annotation_that_does_not_fit_is_refused(
    workspace: Workspace, annotation: dict[str, Any], match: str
) -> None:
    project_id, image = _project(workspace, "detection", ["cat", "dog"])
    _refused(
        workspace,
        project_id,
        match,
        lambda: commands.change_annotation(workspace, project_id, image, annotation),
    )


def test_submit_applies_the_same_rules(workspace: Workspace) -> None:
    project_id, image = _project(workspace, "detection", ["cat"])
    outside = {"image_id": image, "annotation": _boxes(("cat", [0, 0, 100, 100]))}
    _refused(
        workspace,
        project_id,
        "reaches outside",
        lambda: commands.submit(workspace, project_id, "AnnotationChanged", outside),
    )
    _refused(
        workspace,
        project_id,
        "no image",
        lambda: commands.submit(
            workspace,
            project_id,
            "AnnotationChanged",
            {"image_id": "img-0000beef", "annotation": None},
        ),
    )
    _refused(
        workspace,
        project_id,
        "appended by jobs",
        lambda: commands.submit(workspace, project_id, "AnnotationsSet", {"annotations": {}}),
    )
    inside = {"image_id": image, "annotation": _boxes(("cat", [0, 0, 64, 48]))}
    assert commands.submit(workspace, project_id, "AnnotationChanged", inside).actor == "script"


def test_masks_must_be_stored_pngs_of_the_image_size(workspace: Workspace) -> None:
    project_id, image = _project(workspace, "segmentation", ["background", "road"])
    wrong = _stored_mask(workspace, project_id, (WIDTH, HEIGHT + 1))
    for ref, match in (
        ({"sha256": "f" * 64, "ext": "png"}, "no such file in the project's store"),
        (wrong, "mask: 64x49, not the image's 64x48"),
    ):
        _refused(
            workspace,
            project_id,
            match,
            lambda r=ref: commands.change_annotation(
                workspace, project_id, image, {"kind": "semantic", "mask": r}
            ),
        )
    right = _stored_mask(workspace, project_id, (WIDTH, HEIGHT))
    event = commands.change_annotation(
        workspace, project_id, image, {"kind": "semantic", "mask": right}
    )
    assert event.data["annotation"] == {"kind": "semantic", "mask": right}


def test_rotated_boxes_and_polygons_are_checked_against_the_image(
    workspace: Workspace, tmp_path: Path
) -> None:
    obb, image = _project(workspace, "obb", ["plane"])
    rbox = {"class": "plane", "cx": 70.0, "cy": 10.0, "w": 5.0, "h": 2.0, "angle": 10.0}
    _refused(
        workspace,
        obb,
        r"centre \(70, 10\) lies outside",
        lambda: commands.change_annotation(
            workspace, obb, image, {"kind": "rboxes", "objects": [rbox]}
        ),
    )
    inst, image = _project(workspace, "instance_segmentation", ["cell"])
    polygon = {"class": "cell", "box": [0, 0, 10, 10], "polygons": [[0, 0, 10, 0, 10, 90]]}
    _refused(
        workspace,
        inst,
        "a polygon reaches outside",
        lambda: commands.change_annotation(
            workspace, inst, image, {"kind": "instances", "objects": [polygon]}
        ),
    )


def _stored_png(workspace: Workspace, project_id: str, image: Image.Image) -> dict[str, str]:
    """``image`` written as a PNG into the project's content store; its reference."""
    tmp = workspace.root / "mask.png"
    image.save(tmp)
    sha = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path = workspace.image_path(project_id, sha, "png")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.replace(path)
    return {"sha256": sha, "ext": "png"}


def test_a_class_mask_s_values_must_name_its_legend(workspace: Workspace) -> None:
    import numpy as np

    project_id, image = _project(workspace, "segmentation", ["background", "road", "car"])
    values = np.zeros((HEIGHT, WIDTH), np.uint8)
    values[0, :3] = [1, 2, 255]
    good = _stored_png(workspace, project_id, Image.fromarray(values))
    legend = {"kind": "semantic", "mask": good, "classes": ["background", "road"]}
    _refused(
        workspace,
        project_id,
        r"scene.png: mask: values 2 name no class: its legend names 2 \(values 0 to 1; 255",
        lambda: commands.change_annotation(workspace, project_id, image, legend),
    )
    event = commands.change_annotation(
        workspace, project_id, image, {**legend, "classes": ["background", "road", "car"]}
    )
    assert event.data["annotation"]["classes"] == ["background", "road", "car"]
    values[1, 1] = 3  # past the project's list, for a mask without a legend
    beyond = _stored_png(workspace, project_id, Image.fromarray(values))
    _refused(
        workspace,
        project_id,
        "values 3 name no class: the project's class list names 3",
        lambda: commands.change_annotation(
            workspace, project_id, image, {"kind": "semantic", "mask": beyond}
        ),
    )


def test_a_class_mask_must_be_an_8_bit_grey_png(workspace: Workspace) -> None:
    import numpy as np

    project_id, image = _project(workspace, "segmentation", ["background", "road"])
    palette = Image.new("P", (WIDTH, HEIGHT))
    rgb = Image.new("RGB", (WIDTH, HEIGHT))
    deep = Image.fromarray(np.zeros((HEIGHT, WIDTH), np.uint16))
    for mask, kind in ((palette, "palette"), (rgb, r"RGB \(8-bit\)"), (deep, r"grey \(16-bit")):
        ref = _stored_png(workspace, project_id, mask)
        _refused(
            workspace,
            project_id,
            f"mask: a {kind}.* PNG: a class mask is an 8-bit single-channel",
            lambda r=ref: commands.change_annotation(
                workspace, project_id, image, {"kind": "semantic", "mask": r}
            ),
        )
