"""Semantic masks on the Dataset page and the route that colours them.

The projects are built by appending events directly (``ImagesAdded``, ``ClassesDefined``,
``AnnotationsSet``) after writing the images, their thumbnails and the masks into the content
store, as an import would. The route serves a mask only when the project's log names it, coloured
by the colour code in its address: each class in its colour by its place in the project's list,
the background transparent, ignored pixels (255) a faint grey.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import dash
import numpy as np
import pytest
from PIL import Image

from aistudio import commands
from aistudio.datasets.store import encode_thumbnail
from aistudio.workspace import Workspace
from events import EventLog
from tests.ui.layout_tree import text_of, walk
from tests.ui.test_dataset_page import grid, page  # noqa: F401 - the page fixture
from ui.components.annotation_overlay import (
    PALETTE,
    annotated,
    class_color,
    color_code,
    object_summary,
    semantic_url,
)
from ui.components.dataset_charts import histogram_figure
from ui.components.dataset_detail import detail_body
from ui.components.dataset_grid import UNLABELED_OPTION
from ui.components.semantic_masks import IGNORE_RGBA, MaskError, color_table
from ui.state import AppState
from ui.tasks import segmentation

CLASSES = ("background", "cat", "dog")
LEGEND: list[str] = list(CLASSES)
W, H = 40, 30


# ---------------------------------------------------------------------- building a project
def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def store(workspace: Workspace, project_id: str, data: bytes) -> str:
    """Write ``data`` into the project's content store (as a PNG); its sha256."""
    sha = hashlib.sha256(data).hexdigest()
    path = workspace.image_path(project_id, sha, "png")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return sha


def scene_mask(n: int, width: int = W, height: int = H) -> np.ndarray:
    """Image ``n``'s mask: a cat square (1) on the left, a dog square (2) on the right for odd
    ``n``, an ignored band (255) along the bottom; the rest background (0)."""
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[height // 5 : height // 2, width // 10 : width * 4 // 10] = 1
    if n % 2:
        mask[height // 5 : height * 3 // 5, width * 6 // 10 : width * 9 // 10] = 2
    mask[height - 3 :, :] = 255
    return mask


def scene_image(n: int, width: int = W, height: int = H) -> Image.Image:
    """A plain mid-grey picture (its pixels do not matter, only that it is one)."""
    return Image.new("RGB", (width, height), (120 + n, 120, 120))


@dataclass
class SemanticProject:
    project_id: str
    image_ids: list[str]
    masks: list[np.ndarray]
    mask_shas: list[str]
    classes: tuple[str, ...]


def semantic_project(
    workspace: Workspace,
    count: int = 4,
    *,
    legend: list[str] | None = LEGEND,
    classes: tuple[str, ...] = CLASSES,
    unannotated: int = 0,
    size: tuple[int, int] = (W, H),
    name: str = "Masks",
) -> SemanticProject:
    """A segmentation project of ``count`` annotated images (and ``unannotated`` more)."""
    project_id = str(commands.create_project(workspace, name, "segmentation").data["project_id"])
    log = EventLog(workspace.events_path(project_id))
    width, height = size
    records, masks, shas, ids = [], [], [], []
    for n in range(count + unannotated):
        image = scene_image(n, width, height)
        data = png_bytes(image)
        sha = store(workspace, project_id, data)
        thumb = workspace.thumb_path(project_id, sha)
        thumb.parent.mkdir(parents=True, exist_ok=True)
        thumb.write_bytes(encode_thumbnail(image, 256))
        image_id = f"img-{n + 1:08x}"
        ids.append(image_id)
        records.append(
            {"image_id": image_id, "sha256": sha, "ext": "png", "filename": f"scene_{n:02d}.png"}
            | {"width": width, "height": height, "size_bytes": len(data)}
            | {"label": None, "value": None}
        )
    log.append("ImagesAdded", {"images": records})
    log.append("ClassesDefined", {"classes": list(classes)})
    annotations: dict[str, Any] = {}
    for n in range(count):
        mask = scene_mask(n, width, height)
        sha = store(workspace, project_id, png_bytes(Image.fromarray(mask, mode="L")))
        masks.append(mask)
        shas.append(sha)
        annotation: dict[str, Any] = {"kind": "semantic", "mask": {"sha256": sha, "ext": "png"}}
        if legend is not None:
            annotation["classes"] = legend
        annotations[ids[n]] = annotation
    log.append("AnnotationsSet", {"annotations": annotations})
    return SemanticProject(project_id, ids, masks, shas, classes)


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == "RGBA"
        return np.asarray(image)


def rgba(color: str) -> tuple[int, int, int, int]:
    value = color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16), 255


def overlays(tree: Any) -> list[Any]:
    return [
        n for n in walk(tree) if "overlay-semantic" in (getattr(n, "className", "") or "").split()
    ]


# ---------------------------------------------------------------------- colour codes
def test_the_colour_code_names_each_value_by_the_projects_classes() -> None:
    classes = ["background", "cat", "dog", "bird"]
    assert color_code(["background", "cat", "dog"], classes) == "-12"
    # A legend numbers classes its own way: value 1 is the dog, coloured as the dog everywhere.
    assert color_code(["background", "dog"], classes) == "-2"
    table = color_table("-2")
    assert tuple(table[0]) == (0, 0, 0, 0)
    assert tuple(table[1]) == rgba(class_color("dog", classes))
    assert tuple(table[2]) == (0, 0, 0, 0)  # a value past the legend: transparent
    assert tuple(table[255]) == IGNORE_RGBA
    for bad in ("", "-A", "-1 ", "x" * 256, "-?"):
        with pytest.raises(MaskError):
            color_table(bad)
    assert len(PALETTE) == 10
    with pytest.raises(MaskError, match="palette"):
        color_table("-z")  # base 36 allows it, the palette has 10 colours


def test_a_semantic_annotation_is_one_picture_over_the_image() -> None:
    sha = "ab" * 32
    annotation = {"kind": "semantic", "mask": {"sha256": sha, "ext": "png"}, "classes": ["bg", "b"]}
    drawn = annotated(dash.html.Img(), annotation, 64, 48, ["bg", "a", "b"], project_id="proj-1")
    (element,) = overlays(drawn)
    assert (
        element.src == semantic_url("proj-1", sha, "-2") == f"/media/proj-1/semantic/{sha}.png?c=-2"
    )
    assert "overlay-mask" in element.className and element.alt == ""
    # Over the thumbnails' letterboxed square: the image's rectangle, as instance shapes.
    assert element.style["top"] == "12.500%" and element.style["height"] == "75.000%"
    full = overlays(annotated(dash.html.Img(), annotation, 64, 48, ["bg"], "image", project_id="p"))
    assert full[0].style == {
        "left": "0.000%",
        "top": "0.000%",
        "width": "100.000%",
        "height": "100.000%",
    }
    # Without the project, nothing to fetch it from; hidden with the switch.
    assert overlays(annotated(dash.html.Img(), annotation, 64, 48, ["bg"])) == []
    assert (
        overlays(annotated(dash.html.Img(), annotation, 64, 48, ["bg"], show=False, project_id="p"))
        == []
    )
    # Without a legend, values are the project's classes.
    plain = {"kind": "semantic", "mask": {"sha256": sha, "ext": "png"}}
    (element,) = overlays(annotated(dash.html.Img(), plain, 8, 8, ["bg", "a", "b"], project_id="p"))
    assert element.src.endswith("?c=-12")
    assert object_summary(plain) == "mask"


# ---------------------------------------------------------------------- the route
def test_the_route_colours_a_named_mask_and_serves_nothing_else(
    dash_app: dash.Dash, ui_workspace: Workspace, tmp_path: Path
) -> None:
    # The project's list has a class the legend lacks: the legend's dog is value 1.
    made = semantic_project(
        ui_workspace, 2, legend=["background", "dog", "cat"], classes=("background", "cat", "dog")
    )
    project_id, sha, mask = made.project_id, made.mask_shas[1], made.masks[1]
    code = color_code(["background", "dog", "cat"], made.classes)
    assert code == "-21"
    client = dash_app.server.test_client()
    response = client.get(semantic_url(project_id, sha, code))
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "immutable" in response.headers["Cache-Control"]
    pixels = decode(response.data)
    response.close()
    assert pixels.shape == (H, W, 4)
    expected = {
        0: (0, 0, 0, 0),
        1: rgba(class_color("dog", made.classes)),  # value 1 is the legend's dog
        2: rgba(class_color("cat", made.classes)),
        255: IGNORE_RGBA,
    }
    for value, colour in expected.items():
        ys, xs = np.nonzero(mask == value)
        assert len(ys), value
        assert tuple(pixels[ys[0], xs[0]]) == colour, value
        assert (pixels[mask == value] == colour).all(), value
    # The same file, another code: other colours (cached per code).
    again = client.get(semantic_url(project_id, sha, "-11"))
    assert tuple(decode(again.data)[mask == 2][0]) == rgba(PALETTE[1])
    again.close()

    # A mask of the store that no event names, an original, another project's mask, malformed
    # hashes, codes and names: 404.
    flipped = Image.fromarray(np.ascontiguousarray(mask[::-1]), mode="L")
    loose = store(ui_workspace, project_id, png_bytes(flipped))
    other = semantic_project(ui_workspace, 1, name="Other", size=(W + 2, H))
    original = commands.dataset_view(ui_workspace, project_id).images[made.image_ids[0]].sha256
    for bad in (
        semantic_url(project_id, loose, code),
        semantic_url(project_id, original, code),
        semantic_url(project_id, other.mask_shas[0], code),
        semantic_url(project_id, "0" * 64, code),
        semantic_url(project_id, sha.upper(), code),
        semantic_url("proj-zz", sha, code),
        semantic_url(project_id, sha, "-Q"),
        semantic_url(project_id, sha, ""),
        f"/media/{project_id}/semantic/{sha}.png",
        f"/media/{project_id}/semantic/{sha}.jpg?c={code}",
        f"/media/{project_id}/semantic/{sha}?c={code}",
        f"/media/{project_id}/semantic/..%2F..%2Fevents.jsonl?c={code}",
    ):
        assert client.get(bad).status_code == 404, bad
    assert client.get(semantic_url(other.project_id, other.mask_shas[0], code)).status_code == 200


def test_a_named_file_that_is_no_index_mask_is_not_served(
    dash_app: dash.Dash, ui_workspace: Workspace
) -> None:
    made = semantic_project(ui_workspace, 1)
    # An RGB PNG named as a mask (an import would refuse it; the route must not crash on it).
    rgb = store(ui_workspace, made.project_id, png_bytes(Image.new("RGB", (W, H), (9, 9, 9))))
    EventLog(ui_workspace.events_path(made.project_id)).append(
        "AnnotationChanged",
        {
            "image_id": made.image_ids[0],
            "annotation": {"kind": "semantic", "mask": {"sha256": rgb, "ext": "png"}},
        },
    )
    client = dash_app.server.test_client()
    assert client.get(semantic_url(made.project_id, rgb, "-12")).status_code == 404
    # The earlier mask is still named by the log (time travel shows it).
    assert client.get(semantic_url(made.project_id, made.mask_shas[0], "-12")).status_code == 200


# ---------------------------------------------------------------------- the Dataset page
def test_thumbnails_detail_legend_filter_and_histogram(
    page: ModuleType,  # noqa: F811
    ui_workspace: Workspace,
    ui_state: AppState,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = semantic_project(ui_workspace, 4, unannotated=1)
    project_id = made.project_id
    out = grid(project_id, task="segmentation")
    thumbs = out["children"]
    assert len(thumbs) == 5
    drawn = [overlays(t) for t in thumbs]
    assert [len(d) for d in drawn] == [1, 1, 1, 1, 0]
    assert drawn[0][0].src == semantic_url(project_id, made.mask_shas[0], "-12")
    assert "mask" in text_of(thumbs[0]) and "unlabeled" in text_of(thumbs[4])

    # The legend: every class in its colour, the background not drawn, ignore grey.
    legend = next(n for n in walk(out["stats"]) if getattr(n, "id", None) == "dataset-class-legend")
    words = text_of(legend)
    assert "background: not drawn" in words and "cat" in words and "ignored (255)" in words
    swatches = [n.style["background"] for n in walk(legend) if getattr(n, "style", None)]
    assert class_color("cat", CLASSES) in swatches and class_color("dog", CLASSES) in swatches

    # The class filter counts and finds the images whose mask holds a class (read from them).
    options = {o["value"]: o["label"] for o in out["class_options"]}
    assert options["cat"] == "cat (4 images)" and options["dog"] == "dog (2 images)"
    assert options["background"] == "background (4 images)"
    assert options[UNLABELED_OPTION] == "Not annotated (1)"
    dogs = grid(project_id, label="dog", task="segmentation")
    assert dogs["count"].startswith("2 images match")
    assert [len(overlays(t)) for t in dogs["children"]] == [1, 1]
    assert grid(project_id, label=UNLABELED_OPTION, task="segmentation")["count"].startswith(
        "1 image"
    )

    # The histogram: images whose mask holds each class, in the classes' colours.
    dataset = ui_state.view(project_id, "dataset")
    figure = histogram_figure(dataset, "segmentation", "light", None, project_id)
    bars = figure.data[0]
    assert list(bars.y) == [*CLASSES, "(not annotated)"] and list(bars.x) == [4, 4, 2, 1]
    assert bars.marker.color[1] == class_color("cat", CLASSES)
    assert "mask" in figure.layout.title.text
    # A dataset too large to read every mask here keeps the "Not annotated" filter only.
    monkeypatch.setattr(segmentation, "SCAN_LIMIT", 3)
    too_many = histogram_figure(dataset, "segmentation", "light", None, project_id)
    assert "too many" in too_many.layout.annotations[0].text
    assert [o["value"] for o in grid(project_id, task="segmentation")["class_options"]] == [
        UNLABELED_OPTION
    ]
    monkeypatch.undo()

    # The detail: the mask over the image at its own aspect ratio.
    body = detail_body(project_id, dataset, made.image_ids[1], "segmentation", True)
    (element,) = overlays(body)
    assert element.style["height"] == "100.000%"
    assert element.src == semantic_url(project_id, made.mask_shas[1], "-12")
