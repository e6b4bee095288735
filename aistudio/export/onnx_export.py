"""ONNX: write a network as ``model.onnx`` with its metadata, and run the written file.

The network is exported with PyTorch's TorchScript-based ("legacy") exporter,
``torch.onnx.export(..., dynamo=False)``: torch 2.14's default (dynamo) exporter needs
``onnxscript``, which AI Studio does not depend on, and the legacy one handles every backbone
offered (DESIGN §10). The graph has one input, ``input`` (float32, N x 3 x S x S, N named
``batch`` and dynamic), and one output, ``output`` (float32, N x outputs). The ``aistudio.*``
metadata (:mod:`aistudio.export.metadata`) goes into ``metadata_props``; the model is checked
with ``onnx.checker`` (with shape inference) and written completely (temporary file, fsync,
rename) before any event names it.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from aistudio.export.metadata import BATCH_AXIS, INPUT_NAME, OUTPUT_NAME
from aistudio.export.validate import NamedRunner, Runner
from aistudio.training.checkpoints import SavedFile, save_atomically

logger = logging.getLogger(__name__)

DEFAULT_OPSET = 17
PROVIDERS = ["CPUExecutionProvider"]


def to_onnx(
    model: nn.Module,
    image_size: int,
    opset: int = DEFAULT_OPSET,
    output_names: Sequence[str] = (OUTPUT_NAME,),
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None,
    batch: int | None = None,
) -> onnx.ModelProto:
    """``model`` (put in eval mode, on the CPU) as an ONNX model.

    Args:
        model: the network; it takes float32 N x 3 x S x S.
        image_size: S.
        opset: the ONNX opset to target.
        output_names: the graph's outputs, in the order the network returns them.
        dynamic_axes: the dynamic axes by input/output name (default: a dynamic batch axis on
            the input and the single output).
        batch: the example's batch size (default 2; 1 for graphs of one image).
    """
    model = model.eval().cpu()
    if dynamic_axes is None:
        dynamic_axes = {INPUT_NAME: {0: BATCH_AXIS}, OUTPUT_NAME: {0: BATCH_AXIS}}
    example = torch.randn((batch or 2, 3, image_size, image_size), dtype=torch.float32)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The legacy exporter warns that it is deprecated; it is chosen on purpose (see above).
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        torch.onnx.export(
            model,
            (example,),
            buffer,
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=list(output_names),
            dynamic_axes={name: dict(axes) for name, axes in dynamic_axes.items()},
            opset_version=opset,
            do_constant_folding=True,
        )
    proto = onnx.load_model_from_string(buffer.getvalue())
    with torch.inference_mode():
        outputs = model(example)
    _fix_output_dims(proto, outputs, dynamic_axes)
    return proto


def _fix_output_dims(
    proto: onnx.ModelProto, outputs: object, dynamic_axes: Mapping[str, Mapping[int, str]]
) -> None:
    """Give the graph's outputs the sizes of the example's outputs on every axis that is not
    declared dynamic and that the exporter left symbolic (after a ``Resize`` to the input's size
    it writes names such as ``Resizelogits_dim_1`` where the size is fixed)."""
    found = list(outputs) if isinstance(outputs, tuple | list) else [outputs]
    if len(found) != len(proto.graph.output) or not all(
        isinstance(tensor, torch.Tensor) for tensor in found
    ):
        return
    for graph_output, tensor in zip(proto.graph.output, found, strict=True):
        declared = dynamic_axes.get(graph_output.name, {})
        dims = graph_output.type.tensor_type.shape.dim
        if len(dims) != tensor.ndim:
            continue
        for axis, dim in enumerate(dims):
            if axis not in declared and dim.HasField("dim_param"):
                dim.dim_value = int(tensor.shape[axis])  # clears dim_param (a oneof)


def add_metadata(proto: onnx.ModelProto, metadata: Mapping[str, str]) -> None:
    """Set ``metadata`` as the model's ``metadata_props`` (replacing keys already there)."""
    current = {prop.key: prop.value for prop in proto.metadata_props}
    current.update(metadata)
    onnx.helper.set_model_props(proto, current)


def export_onnx(
    model: nn.Module,
    image_size: int,
    path: Path,
    metadata: Mapping[str, str],
    opset: int = DEFAULT_OPSET,
    output_names: Sequence[str] = (OUTPUT_NAME,),
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None,
    batch: int | None = None,
) -> SavedFile:
    """Export ``model`` to ``path`` with ``metadata``, checked, written atomically (see
    :func:`to_onnx` for the outputs, axes and batch).

    Raises:
        onnx.checker.ValidationError: the exported graph is not valid ONNX (a bug).
    """
    proto = to_onnx(model, image_size, opset, output_names, dynamic_axes, batch)
    add_metadata(proto, metadata)
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()
    saved = save_atomically(lambda tmp: tmp.write_bytes(data), [path])
    logger.info("wrote %s (%.1f MB, opset %d)", path, saved.size_bytes / 1e6, opset)
    return saved


def read_onnx_metadata(path: Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file (every key, not only ``aistudio.*``)."""
    proto = onnx.load_model(str(path), load_external_data=False)
    return {prop.key: prop.value for prop in proto.metadata_props}


def onnx_runner(path: Path) -> Runner:
    """A function running float32 NCHW batches through the ONNX file with onnxruntime (CPU).

    Raises:
        ValueError: the file's input or output is not the one AI Studio writes.
    """
    session = ort.InferenceSession(str(path), providers=PROVIDERS)
    inputs = [node.name for node in session.get_inputs()]
    outputs = [node.name for node in session.get_outputs()]
    if inputs != [INPUT_NAME] or outputs != [OUTPUT_NAME]:
        raise ValueError(f"{path.name} has inputs {inputs} and outputs {outputs}")

    def run(batch: np.ndarray) -> np.ndarray:
        feed = {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)}
        result = session.run([OUTPUT_NAME], feed)[0]
        return np.asarray(result)

    return run


def onnx_named_runner(path: Path, output_names: Sequence[str]) -> NamedRunner:
    """A function running float32 NCHW batches through the ONNX file and returning its outputs
    ``output_names``, in that order (onnxruntime, CPU).

    Raises:
        ValueError: the file's input or outputs are not these.
    """
    session = ort.InferenceSession(str(path), providers=PROVIDERS)
    inputs = [node.name for node in session.get_inputs()]
    outputs = [node.name for node in session.get_outputs()]
    if inputs != [INPUT_NAME] or outputs != list(output_names):
        raise ValueError(f"{path.name} has inputs {inputs} and outputs {outputs}")
    names = list(output_names)

    def run(batch: np.ndarray) -> list[np.ndarray]:
        feed = {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)}
        return [np.asarray(out) for out in session.run(names, feed)]

    return run
