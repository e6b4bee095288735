"""The aistudio.* metadata: every key present, every value JSON, task keys merged safely."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aistudio.export.metadata import (
    ExportSource,
    MetadataError,
    build_metadata,
    decode_metadata,
    extra_file_text,
    props_of_extra_file,
)
from aistudio.tasks.base import TargetInfo
from aistudio.tasks.registry import get_task

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
SOURCE = ExportSource(
    project_id="proj-0000abcd",
    project_name="Digits",
    experiment_id="exp-0000abcd",
    experiment_name="tiny",
    model="resnet18",
    checkpoint="best",
    checkpoint_epoch=3,
    checkpoint_sha256="a" * 64,
    export_id="xpt-0c0ffee1",
    seq=42,
)


def _metadata(task_name: str, info: TargetInfo, shape: list[int]) -> dict[str, str]:
    task = get_task(task_name)
    return build_metadata(
        task=task_name,
        image_size=64,
        mean=MEAN,
        std=STD,
        output_shape=shape,
        task_metadata=task.export_metadata(info),
        source=SOURCE,
    )


def test_classification_metadata_has_every_key_as_json() -> None:
    props = _metadata("classification", TargetInfo(classes=["cat", "dog"]), [2])
    assert set(props) == {
        "aistudio.format_version",
        "aistudio.task",
        "aistudio.input",
        "aistudio.output",
        "aistudio.classes",
        "aistudio.source",
    }
    decoded = {key: json.loads(value) for key, value in props.items()}
    assert decoded["aistudio.format_version"] == 1
    assert decoded["aistudio.task"] == "classification"
    assert decoded["aistudio.classes"] == ["cat", "dog"]
    spec = decoded["aistudio.input"]
    assert spec["name"] == "input"
    assert spec["shape"] == ["batch", 3, 64, 64]
    assert (spec["dtype"], spec["layout"], spec["channel_order"]) == ("float32", "NCHW", "RGB")
    assert spec["image_size"] == 64
    assert spec["resize"]["interpolation"] == "bilinear"
    assert spec["resize"]["keep_aspect_ratio"] is False
    assert (spec["resize"]["width"], spec["resize"]["height"]) == (64, 64)
    assert spec["scale"] == pytest.approx(1 / 255)
    assert spec["mean"] == list(MEAN)
    assert spec["std"] == list(STD)
    output = decoded["aistudio.output"]
    assert output["name"] == "output"
    assert output["shape"] == ["batch", 2]
    assert "logits" in output["meaning"]
    assert decoded["aistudio.source"] == {
        "project_id": "proj-0000abcd",
        "project_name": "Digits",
        "experiment_id": "exp-0000abcd",
        "experiment_name": "tiny",
        "model": "resnet18",
        "checkpoint": "best",
        "checkpoint_epoch": 3,
        "checkpoint_sha256": "a" * 64,
        "export_id": "xpt-0c0ffee1",
        "seq": 42,
    }
    assert decode_metadata(props) == decoded


def test_regression_metadata_carries_the_target_scaling() -> None:
    props = _metadata("regression", TargetInfo(mean=4.5, std=2.25), [1])
    decoded = decode_metadata(props)
    assert "aistudio.classes" not in decoded
    assert decoded["aistudio.target_scaling"] == {"mean": 4.5, "std": 2.25}
    assert decoded["aistudio.output"]["shape"] == ["batch", 1]
    assert "output * std + mean" in decoded["aistudio.output"]["meaning"]


@pytest.mark.parametrize("key", ["input", "source", "Bad-Key", ""])
def test_task_keys_cannot_clash_or_be_malformed(key: str) -> None:
    with pytest.raises(MetadataError, match="cannot use the key"):
        build_metadata(
            task="classification",
            image_size=32,
            mean=MEAN,
            std=STD,
            output_shape=[2],
            task_metadata={key: 1},
            source=SOURCE,
        )


def test_values_that_are_not_plain_json_are_refused() -> None:
    with pytest.raises(MetadataError, match="not plain JSON"):
        _metadata("regression", TargetInfo(mean=float("nan"), std=1.0), [1])


def test_torchscript_extra_file_round_trips() -> None:
    props = _metadata("classification", TargetInfo(classes=["a", "b", "ç"]), [3])
    text = extra_file_text(props)
    assert json.loads(text)["aistudio.classes"] == ["a", "b", "ç"]
    assert props_of_extra_file(text.encode()) == props
    with pytest.raises(MetadataError):
        props_of_extra_file("[1, 2]")


def test_decode_reports_values_that_are_not_json() -> None:
    with pytest.raises(MetadataError, match=r"aistudio\.task"):
        decode_metadata({"aistudio.task": "classification"})
    assert decode_metadata({"other": "not json"}) == {}


def test_metadata_module_is_torch_free() -> None:
    code = "import sys, aistudio.export.metadata; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_row(key: str) -> str:
    """The README's table row documenting the metadata key ``key``."""
    rows = [line for line in README.read_text().splitlines() if line.startswith(f"| `{key}` |")]
    assert len(rows) == 1, f"README.md has {len(rows)} table rows for {key}"
    return rows[0]


@pytest.mark.parametrize(
    ("task_name", "info", "shape"),
    [
        ("classification", TargetInfo(classes=["cat", "dog"]), [2]),
        ("regression", TargetInfo(mean=1.5, std=0.5), [1]),
    ],
)
def test_the_readme_documents_every_key_and_entry(
    task_name: str, info: TargetInfo, shape: list[int]
) -> None:
    """Consumers preprocess from the README: each key has a row, and each entry of an object
    value is named in it (so a new entry such as ``input.color`` cannot go undocumented)."""
    for key, text in _metadata(task_name, info, shape).items():
        row = _readme_row(key)
        value = json.loads(text)
        if isinstance(value, dict):
            missing = [entry for entry in value if f'"{entry}"' not in row]
            assert not missing, f"README's row for {key} does not name {missing}"
