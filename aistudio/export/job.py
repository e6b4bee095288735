"""The ``ExportRequested`` job: export one checkpoint of an experiment and validate it.

Flow (a forced ``JobProgress`` at each stage): **loading** — the experiment and its checkpoint
from the log as of the command, the checkpoint file checked against the sha256 of its
``CheckpointSaved``, the network loaded, the validation images decoded; **exporting** — the file
written completely with its ``aistudio.*`` metadata (:mod:`aistudio.export.metadata`);
**validating** — the written file and PyTorch run the same real images
(:mod:`aistudio.export.validate`).

Outcomes: within tolerance, ``ExportCompleted`` (``validation.passed`` true) goes with
``JobSucceeded``. Beyond it, the file is kept (it is what was measured) and
``ExportCompleted`` with ``passed`` false goes with ``JobFailed``, whose error gives the figures.
Bad input (no such experiment or checkpoint, a changed checkpoint) fails before anything is
written; a failure or cancel after the file was written removes it, so no file is left that no
event names.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aistudio.export.metadata import build_metadata
from aistudio.worker.context import JobCheckFailedError, JobContext, JobInputError, JobResult
from events.schemas.export import ExportRequested

if TYPE_CHECKING:  # torch-side modules: imported when the job runs
    from torch import nn

    from aistudio.export.adapters import ExportAdapter
    from aistudio.export.samples import Samples
    from aistudio.export.source import LoadedSource
    from aistudio.export.validate import NamedRunner, Runner, Validation
    from aistudio.training.checkpoints import SavedFile

logger = logging.getLogger(__name__)

STAGES = 3


@dataclass(frozen=True)
class _Format:
    """How to write one export format and how to run the written file."""

    label: str
    write: Callable[[nn.Module, int, Path, Mapping[str, str], int, ExportAdapter], SavedFile]
    open: Callable[[Path], Runner]
    open_named: Callable[[Path, list[str]], NamedRunner]


def _format(name: str) -> _Format:
    if name == "onnx":
        from aistudio.export import onnx_export

        def write_onnx(
            model: nn.Module,
            size: int,
            path: Path,
            metadata: Mapping[str, str],
            opset: int,
            adapter: ExportAdapter,
        ) -> SavedFile:
            return onnx_export.export_onnx(
                model,
                size,
                path,
                metadata,
                opset,
                adapter.output_names,
                adapter.dynamic_axes(),
                adapter.batch,
            )

        # looked up when called, so tests can stand in for the runners
        return _Format(
            "ONNX",
            write_onnx,
            lambda path: onnx_export.onnx_runner(path),
            lambda path, names: onnx_export.onnx_named_runner(path, names),
        )
    if name != "torchscript":
        raise JobInputError(f"this version of AI Studio cannot export to {name!r}")
    from aistudio.export import torchscript_export

    def write(
        model: nn.Module,
        size: int,
        path: Path,
        metadata: Mapping[str, str],
        _opset: int,
        adapter: ExportAdapter,
    ) -> SavedFile:
        return torchscript_export.export_torchscript(model, size, path, metadata, adapter.batch)

    return _Format(
        "TorchScript",
        write,
        lambda path: torchscript_export.torchscript_runner(path),
        lambda path, names: torchscript_export.torchscript_named_runner(path, names),
    )


def _discard(path: Path) -> None:
    """Remove an export file that no event will name, and its folder when left empty."""
    path.unlink(missing_ok=True)
    folder = path.parent
    if folder.is_dir():
        for leftover in folder.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            folder.rmdir()


def run_export(ctx: JobContext) -> JobResult:
    """Job handler of ``ExportRequested`` (see the module's docstring).

    Raises:
        JobInputError: the command cannot be exported (the message says why), or the export
            failed validation (the message gives the figures; ``ExportCompleted`` with
            ``passed`` false goes with it).
        JobCancelledError: the export was cancelled (nothing is left written).
    """
    started = time.monotonic()
    command = ExportRequested.model_validate(ctx.command.data)
    fmt = _format(command.format)
    ctx.progress(0, STAGES, "loading the checkpoint", force=True)
    loaded, samples = _load(ctx, command)
    adapter = _adapter(loaded)
    graph = adapter.graph(loaded.model)
    reference = _reference(adapter, graph, samples)
    ctx.check_cancelled()
    path = ctx.workspace.export_path(
        ctx.project_id, command.experiment_id, command.export_id, command.format
    )
    task_metadata = loaded.task.export_metadata(loaded.info)
    metadata = build_metadata(
        task=loaded.task.name,
        image_size=loaded.image_size,
        mean=loaded.mean,
        std=loaded.std,
        output=adapter.output(reference, str(task_metadata.get("output", ""))),
        task_metadata={**task_metadata, **adapter.extra_metadata()},
        source=loaded.source,
    )
    ctx.progress(1, STAGES, f"exporting to {fmt.label}", force=True)
    _discard(path)  # the remains of an attempt that was killed
    try:
        saved = fmt.write(graph, loaded.image_size, path, metadata, command.options.opset, adapter)
        ctx.check_cancelled()
        ctx.progress(2, STAGES, f"validating on {len(samples)} images", force=True)
        validation = _validate(
            ctx, fmt, path, adapter, samples, reference, command.options.tolerance
        )
    except BaseException:
        _discard(path)
        raise
    root = ctx.workspace.experiment_dir(ctx.project_id, command.experiment_id)
    data: dict[str, Any] = {
        "export_id": command.export_id,
        "experiment_id": command.experiment_id,
        "checkpoint": command.checkpoint,
        "checkpoint_epoch": loaded.source.checkpoint_epoch,
        "checkpoint_sha256": loaded.source.checkpoint_sha256,
        "format": command.format,
        "file": {
            "name": path.relative_to(root).as_posix(),
            "sha256": saved.sha256,
            "size_bytes": saved.size_bytes,
        },
        "validation": validation.event_data(),
        "metadata": metadata,
        "duration_s": round(time.monotonic() - started, 3),
    }
    event = ctx.new_event("ExportCompleted", data)
    if not validation.passed:
        raise JobCheckFailedError(
            f"the {fmt.label} export differs from PyTorch: {validation.describe()}",
            events=[event],
        )
    summary = {
        "export_id": command.export_id,
        "format": command.format,
        "file": data["file"]["name"],
        "max_abs_diff": validation.max_abs_diff,
        "agreement": validation.agreement,
        "images": validation.images,
    }
    return JobResult(events=[event], summary=summary)


def _load(ctx: JobContext, command: ExportRequested) -> tuple[LoadedSource, Samples]:
    from aistudio.export.samples import candidate_entries, decode_samples
    from aistudio.export.source import load_source

    loaded = load_source(ctx, command)
    entries = candidate_entries(loaded.dataset, loaded.split, loaded.task)

    def image_path(sha: str, ext: str) -> Path:
        return ctx.workspace.image_path(ctx.project_id, sha, ext)

    samples = decode_samples(
        entries, image_path, loaded.image_size, command.options.validation_images
    )
    if len(samples) == 0:
        raise JobInputError(
            "the export cannot be validated: the dataset has no readable image with "
            f"{loaded.task.target_noun}"
        )
    return loaded, samples


def _adapter(loaded: LoadedSource) -> ExportAdapter:
    from aistudio.tasks.base import ExportSettings

    settings = ExportSettings(chosen_threshold=loaded.threshold)
    adapter: ExportAdapter = loaded.task.export_adapter(loaded.info, loaded.options, settings)
    return adapter


def _reference(adapter: ExportAdapter, graph: nn.Module, samples: Samples) -> Any:
    """PyTorch's outputs of the validation images (their shape also goes in the metadata)."""
    from aistudio.export.validate import ValidationError

    try:
        return adapter.reference(graph, samples.images)
    except ValidationError as exc:
        raise JobInputError(
            f"the checkpoint cannot be exported: {exc} on the dataset's images"
        ) from None


def _validate(
    ctx: JobContext,
    fmt: _Format,
    path: Path,
    adapter: ExportAdapter,
    samples: Samples,
    reference: Any,
    tolerance: float,
) -> Validation:
    from aistudio.export.adapters import Opened
    from aistudio.export.validate import ValidationError

    opened = Opened(single=lambda: fmt.open(path), named=lambda names: fmt.open_named(path, names))

    def on_batch(done: int, total: int) -> None:
        ctx.check_cancelled()
        ctx.progress(2, STAGES, f"validating on {len(samples)} images: run {done}/{total}")

    try:
        return adapter.compare(reference, opened, samples.images, tolerance, on_batch=on_batch)
    except ValidationError as exc:
        raise JobCheckFailedError(f"the {fmt.label} export cannot be validated: {exc}") from None
