"""The trained experiments the evaluation and export tests share are not degenerate.

Comparisons of outputs (ONNX vs PyTorch, the snippet vs the app, evaluation rows vs the model)
only prove something when the model's outputs depend on the image.
"""

from __future__ import annotations

import torch

from tests.export.support import dataset_images, pytorch_model
from tests.trained import Trained


def _outputs(trained: Trained) -> torch.Tensor:
    from aistudio.training.data import decode_image, to_model_input

    model, meta = pytorch_model(trained)
    size = int(meta["image_size"])
    images = torch.stack([decode_image(p, size) for p in dataset_images(trained, 40)])
    with torch.inference_mode():
        return model(to_model_input(images))


def test_the_trained_classifier_predicts_several_classes(
    trained_classification: Trained,
) -> None:
    outputs = _outputs(trained_classification)
    assert outputs.argmax(dim=1).unique().numel() >= 2
    assert float(outputs.std(dim=0).mean()) > 0.01


def test_the_trained_regressor_gives_different_values(trained_regression: Trained) -> None:
    assert float(_outputs(trained_regression).std()) > 0.01
