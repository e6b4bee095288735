"""The content-store files annotations name (what a sweep of unreferenced files must keep), and
the ``instances`` wire format an import writes, which old logs share."""

from __future__ import annotations

from pathlib import Path

import orjson

from events import EventLog
from events.envelope import decode_line
from events.schemas.annotation import annotation_files, files_named

GOLDEN = Path(__file__).parent / "golden" / "v1.jsonl"
A, B, C = "a" * 64, "b" * 64, "c" * 64


def test_masks_of_every_kind_are_named() -> None:
    instances = {
        "kind": "instances",
        "objects": [
            {"class": "x", "box": [0, 0, 2, 2], "polygons": [[0, 0, 2, 0, 2, 2]]},
            {"class": "x", "box": [0, 0, 2, 2], "crowd": True, "mask": {"sha256": A, "ext": "png"}},
        ],
    }
    semantic = {"kind": "semantic", "mask": {"sha256": B, "ext": "png"}}
    anomaly = {"kind": "anomaly", "state": "defect", "mask": {"sha256": C, "ext": "png"}}
    assert list(annotation_files(instances)) == [A]
    assert list(annotation_files(semantic)) == [B]
    assert list(annotation_files(anomaly)) == [C]
    assert list(annotation_files({"kind": "boxes", "objects": []})) == []
    assert list(annotation_files(None)) == []
    batch = {"annotations": {"img-00000001": instances, "img-00000002": semantic}}
    assert sorted(files_named("AnnotationsSet", batch)) == [A, B]
    assert list(files_named("AnnotationChanged", {"image_id": "i", "annotation": anomaly})) == [C]
    assert list(files_named("AnnotationChanged", {"image_id": "i", "annotation": None})) == []
    assert list(files_named("ImagesAdded", {"images": []})) == []


def test_the_golden_annotations_line_reads_and_names_its_masks(tmp_path: Path) -> None:
    line = next(raw for raw in GOLDEN.read_bytes().splitlines() if b'"instances"' in raw)
    event = decode_line(line)
    named = list(files_named(event.type, event.data))
    assert named == ["c" * 64, "d" * 64, "e" * 64], "an instance's, a semantic and a defect mask"
    log = EventLog(tmp_path / "events.jsonl")
    appended = log.append(event.type, event.data, actor="job")
    assert appended.data == event.data, "the instances wire format is unchanged"
    assert orjson.loads(line)["data"] == event.data
