"""Batched inference over image files, a chunk at a time, so memory stays bounded.

A chunk of images is decoded (threads, :func:`~aistudio.training.data.decode_all`) into one
``uint8`` tensor, then fed to the model ``batch_size`` images at a time under
``torch.inference_mode``, normalised on the device (:func:`~aistudio.training.data.to_model_input`,
as in training). Only the outputs of every image are kept, on the CPU. While the model runs on a
chunk, the next chunk is decoded by a background thread, so decoding and inference overlap.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import torch
from torch import nn

from aistudio.training.data import cpu_count, decode_all, to_model_input

logger = logging.getLogger(__name__)

CHUNK_BYTES = 128 << 20
"""Decoded bytes of one chunk at most (two chunks are in memory while the next decodes)."""

CANCEL_POLL_S = 0.5
"""How often a wait for a decoded chunk looks for a cancel."""

ProgressFn = Callable[[int, int], None]
CancelCheck = Callable[[], None]
BatchFn = Callable[[nn.Module, torch.Tensor], Any]
"""Runs the model on one normalised batch and returns that batch's outputs, on the CPU."""
JoinFn = Callable[[list[Any]], Any]
"""Joins the outputs of batches (or chunks), in order."""


def _plain_forward(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    return model(inputs).float().cpu()


def _concatenate(outputs: list[Any]) -> torch.Tensor:
    return torch.cat(outputs) if outputs else torch.empty(0)


def default_device() -> torch.device:
    """The first CUDA device when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def chunk_images(image_size: int, batch_size: int, budget_bytes: int = CHUNK_BYTES) -> int:
    """Images per chunk: a whole number of batches whose decoded images fit ``budget_bytes``
    (one batch at least)."""
    per_image = 3 * image_size * image_size
    batches = max(1, budget_bytes // (per_image * batch_size))
    return batches * batch_size


def forward_batches(
    model: nn.Module,
    images: torch.Tensor,
    batch_size: int,
    device: torch.device,
    check_cancelled: CancelCheck | None = None,
    on_batch: Callable[[int], None] | None = None,
    run: BatchFn = _plain_forward,
    join: JoinFn = _concatenate,
) -> Any:
    """The model's outputs for ``uint8`` images ``(N, 3, S, S)``, in order, on the CPU (by
    default the stacked float32 outputs; a task's ``run``/``join`` give its own, e.g. a list of
    detections per image).

    Args:
        model: a network in eval mode, on ``device``.
        images: the decoded images.
        batch_size: images per forward pass.
        device: where the model runs.
        check_cancelled: called before each batch (raises to stop).
        on_batch: called after each batch with the number of images done so far.
        run: the model's outputs of one normalised batch (default: ``model(x)`` as float32).
        join: the outputs of the batches joined (default: concatenated).

    Returns:
        The joined outputs (by default ``(N, …)``; ``(0,)`` when there is no image).
    """
    outputs: list[Any] = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            if check_cancelled is not None:
                check_cancelled()
            batch = images[start : start + batch_size].to(device, non_blocking=True)
            outputs.append(run(model, to_model_input(batch)))
            if on_batch is not None:
                on_batch(start + len(batch))
    return join(outputs)


def predict(
    model: nn.Module,
    paths: Sequence[Path],
    image_size: int,
    batch_size: int,
    device: torch.device,
    *,
    chunk: int | None = None,
    workers: int | None = None,
    on_progress: ProgressFn | None = None,
    check_cancelled: CancelCheck | None = None,
    run: BatchFn = _plain_forward,
    join: JoinFn = _concatenate,
) -> Any:
    """The model's outputs for the images at ``paths``, in order (on the CPU; see
    :func:`forward_batches` for ``run`` and ``join``).

    Args:
        model: a network in eval mode, on ``device``.
        paths: image files, decoded to RGB and resized to ``image_size`` squares.
        image_size: the side the model was trained at.
        batch_size: images per forward pass.
        device: where the model runs.
        chunk: images decoded at once (default: :func:`chunk_images`).
        workers: decoding threads (default: the CPUs this process may use).
        on_progress: ``(images done, total)`` after each batch.
        check_cancelled: called from this thread before each batch and, while it waits for a
            chunk to be decoded, every :data:`CANCEL_POLL_S` seconds (raises to stop).

    Returns:
        The joined outputs (by default ``(N, …)``).
    """
    total = len(paths)
    size = chunk or chunk_images(image_size, batch_size)
    starts = list(range(0, total, size))
    stop = threading.Event()

    def decode(start: int) -> torch.Tensor:
        def step(_done: int, _total: int) -> None:
            if stop.is_set():
                raise _Stopped

        return decode_all(paths[start : start + size], image_size, workers or cpu_count(), step)

    outputs: list[Any] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as prefetch:
        pending = prefetch.submit(decode, starts[0]) if starts else None
        try:
            for index, start in enumerate(starts):
                images = _wait(pending, check_cancelled)
                ahead = index + 1 < len(starts)
                pending = prefetch.submit(decode, starts[index + 1]) if ahead else None
                report = _offset_progress(on_progress, start, total)
                outputs.append(
                    forward_batches(
                        model, images, batch_size, device, check_cancelled, report, run, join
                    )
                )
                del images
        finally:
            stop.set()  # a decode still running (after an error) stops at its next step
    logger.info("inference on %d images done (%s)", total, device)
    return join(outputs)


class _Stopped(Exception):
    """Raised in the decoding thread when inference stopped early."""


def _wait(
    pending: Future[torch.Tensor] | None, check_cancelled: CancelCheck | None
) -> torch.Tensor:
    """The decoded chunk of ``pending``, checking for a cancel while waiting."""
    if pending is None:
        raise RuntimeError("no chunk is being decoded")
    while True:
        try:
            return pending.result(timeout=CANCEL_POLL_S)
        except FutureTimeout:
            if check_cancelled is not None:
                check_cancelled()


def _offset_progress(
    on_progress: ProgressFn | None, offset: int, total: int
) -> Callable[[int], None] | None:
    if on_progress is None:
        return None

    def report(done: int) -> None:
        on_progress(offset + done, total)

    return report
