"""Every classification backbone family exports to ONNX and matches PyTorch on real digits.

Random weights (nothing can be downloaded), with the BatchNorm statistics recomputed on the
images so that the outputs depend on them (fresh statistics give near-constant outputs, which
would make the agreement trivially 1). 32 px, the smallest size every backbone runs at.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from aistudio.datasets.demo import write_digits_imagefolder
from aistudio.export.metadata import ExportSource, build_metadata, decode_metadata
from aistudio.export.onnx_export import export_onnx, onnx_runner, read_onnx_metadata
from aistudio.export.validate import compare, model_inputs, reference_outputs
from aistudio.tasks.base import TargetInfo
from aistudio.tasks.models import recalibrate_batchnorm
from aistudio.tasks.registry import get_task
from aistudio.training.checkpoints import sha256_of
from aistudio.training.data import IMAGENET_MEAN, IMAGENET_STD, decode_image, to_model_input

SIZE = 32
INFO = TargetInfo(classes=[str(d) for d in range(10)])


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> torch.Tensor:
    """Ten real digits (one per class), decoded as the pipeline decodes them."""
    paths = write_digits_imagefolder(tmp_path_factory.mktemp("digits"), n_per_class=1)
    return torch.stack([decode_image(path, SIZE) for path in paths])


def _source(model: str) -> ExportSource:
    return ExportSource(
        project_id="proj-0000abcd",
        project_name="families",
        experiment_id="exp-0000abcd",
        experiment_name=model,
        model=model,
        checkpoint="best",
        checkpoint_epoch=1,
        checkpoint_sha256="0" * 64,
        export_id="xpt-0000abcd",
        seq=1,
    )


@pytest.mark.parametrize("model_name", ["resnet18", "efficientnet_b0", "mobilenet_v3_small"])
def test_backbone_family_exports_with_parity(
    model_name: str, digits: torch.Tensor, tmp_path: Path
) -> None:
    task = get_task("classification")
    torch.manual_seed(0)
    model, _ = task.build_model(model_name, INFO, False)
    recalibrate_batchnorm(model, [to_model_input(digits)])
    model.eval()
    metadata = build_metadata(
        task=task.name,
        image_size=SIZE,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        output_shape=[10],
        task_metadata=task.export_metadata(INFO),
        source=_source(model_name),
    )
    path = tmp_path / "model.onnx"
    saved = export_onnx(model, SIZE, path, metadata, opset=17)
    assert saved.path == path and saved.sha256 == sha256_of(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no temp file left
    assert read_onnx_metadata(path) == metadata
    assert decode_metadata(read_onnx_metadata(path))["aistudio.source"]["model"] == model_name

    reference = reference_outputs(model, digits)
    assert len(np.unique(reference.argmax(axis=1))) >= 2  # the predictions depend on the image
    runner = onnx_runner(path)
    sizes: list[int] = []

    def recording(batch: np.ndarray) -> np.ndarray:
        sizes.append(len(batch))
        return runner(batch)

    result = compare(reference, recording, model_inputs(digits), task, INFO, 1e-3, chunk=5)
    assert sizes == [1, 5, 5]
    assert result.passed, result.describe()
    assert result.max_abs_diff <= 1e-3 and result.agreement == 1.0

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (node,) = session.get_inputs()
    assert (node.name, node.type, node.shape) == (
        "input",
        "tensor(float)",
        ["batch", 3, SIZE, SIZE],
    )
    assert [o.name for o in session.get_outputs()] == ["output"]
