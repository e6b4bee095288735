"""TorchScript: write a traced network as ``model.pt`` with its metadata, and run the written file.

The network is traced (``torch.jit.trace``) on a float32 batch of 2 x 3 x S x S; every backbone
offered is a plain feed-forward network, so the trace holds for any batch size (validation
proves it with batches of 1 and N). The ``aistudio.*`` metadata is stored as the archive's extra
file ``aistudio.json`` (:func:`aistudio.export.metadata.extra_file_text`); read it back with
``torch.jit.load(path, _extra_files={"aistudio.json": ""})``.

torch 2.14 marks TorchScript as deprecated (in favour of ``torch.export``); its warnings are
silenced here because the format is still what C++/LibTorch deployments load.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aistudio.export.metadata import TORCHSCRIPT_EXTRA_FILE, extra_file_text, props_of_extra_file
from aistudio.export.validate import NamedRunner, Runner
from aistudio.training.checkpoints import SavedFile, save_atomically

logger = logging.getLogger(__name__)


@contextmanager
def _quiet_deprecation() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit.*")
        yield


def to_torchscript(
    model: nn.Module, image_size: int, batch: int | None = None
) -> torch.jit.ScriptModule:
    """``model`` (put in eval mode, on the CPU) traced on a float32 B x 3 x S x S batch
    (B = ``batch``, default 2)."""
    model = model.eval().cpu()
    example = torch.zeros((batch or 2, 3, image_size, image_size), dtype=torch.float32)
    with _quiet_deprecation(), torch.no_grad():
        traced: torch.jit.ScriptModule = torch.jit.trace(model, example, check_trace=False)
    return traced


def export_torchscript(
    model: nn.Module,
    image_size: int,
    path: Path,
    metadata: Mapping[str, str],
    batch: int | None = None,
) -> SavedFile:
    """Trace ``model`` (on a batch of ``batch`` images) and write it to ``path`` with
    ``metadata``, atomically."""
    traced = to_torchscript(model, image_size, batch)
    extra = {TORCHSCRIPT_EXTRA_FILE: extra_file_text(metadata)}

    def write(tmp: Path) -> None:
        with _quiet_deprecation():
            torch.jit.save(traced, str(tmp), _extra_files=extra)

    saved = save_atomically(write, [path])
    logger.info("wrote %s (%.1f MB)", path, saved.size_bytes / 1e6)
    return saved


def load_torchscript(path: Path) -> tuple[torch.jit.ScriptModule, dict[str, str]]:
    """The module of a TorchScript file written by :func:`export_torchscript` and its metadata
    (string form, like ONNX ``metadata_props``)."""
    extra = {TORCHSCRIPT_EXTRA_FILE: ""}
    with _quiet_deprecation():
        module: torch.jit.ScriptModule = torch.jit.load(
            str(path), map_location="cpu", _extra_files=extra
        )
    module.eval()
    return module, props_of_extra_file(extra[TORCHSCRIPT_EXTRA_FILE])


def torchscript_runner(path: Path) -> Runner:
    """A function running float32 NCHW batches through the TorchScript file (CPU)."""
    module, _metadata = load_torchscript(path)

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = module(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))
        return out.float().numpy()

    return run


def torchscript_named_runner(path: Path, output_names: Sequence[str]) -> NamedRunner:
    """A function running float32 NCHW batches through the TorchScript file and returning its
    outputs (a tuple, in the order of ``output_names``) as numpy arrays (CPU)."""
    module, _metadata = load_torchscript(path)
    count = len(output_names)

    def run(batch: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            out = module(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))
        values = list(out) if isinstance(out, tuple | list) else [out]
        if len(values) != count:
            raise ValueError(f"{path.name} returned {len(values)} outputs, expected {count}")
        return [value.numpy() for value in values]

    return run
