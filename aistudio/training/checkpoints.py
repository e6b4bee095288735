"""Checkpoint files: written completely before any event names them, read with ``weights_only``.

A checkpoint is Lightning's (model, optimizer and loop state, so a run can resume) plus AI
Studio's metadata under ``checkpoint["aistudio"]`` (task, model, image size, target
information, config; see :meth:`aistudio.training.module.TrainingModule.on_save_checkpoint`).
Everything in it is plain data or tensors, so it loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from aistudio.tasks.base import TargetInfo, Task
from aistudio.training.module import CHECKPOINT_KEY

logger = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or not one of AI Studio's."""


@dataclass(frozen=True)
class SavedFile:
    """A file written completely: where, its sha256 and its size."""

    path: Path
    sha256: str
    size_bytes: int


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """The sha256 of a file, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_atomically(write: Callable[[Path], None], targets: list[Path]) -> SavedFile:
    """Write one file with ``write(temp_path)``, fsync it, and rename it to every target.

    The file is written once; further targets get hard links to it (a copy where the file
    system has none) before the renames, so every target is complete whenever it exists. The
    folder is fsynced after the renames.

    Returns:
        The first target with the file's sha256 and size.
    """
    folder = targets[0].parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{targets[0].name}.{os.getpid()}.tmp"
    extra: list[Path] = []
    try:
        write(tmp)
        _fsync_file(tmp)
        digest = sha256_of(tmp)
        size = tmp.stat().st_size
        for target in targets[1:]:
            link = folder / f".{target.name}.{os.getpid()}.tmp"
            link.unlink(missing_ok=True)
            try:
                os.link(tmp, link)
            except OSError:
                shutil.copyfile(tmp, link)
                _fsync_file(link)
            extra.append(link)
        for link, target in zip(extra, targets[1:], strict=True):
            link.replace(target)
        tmp.replace(targets[0])
        _fsync_dir(folder)
    finally:
        for leftover in [tmp, *extra]:
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return SavedFile(targets[0], digest, size)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint loaded on the CPU with ``weights_only=True`` (memory-mapped).

    Raises:
        CheckpointError: missing, unreadable, or without AI Studio's metadata.
    """
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path.name}: {exc}") from None
    if not isinstance(checkpoint, dict) or CHECKPOINT_KEY not in checkpoint:
        raise CheckpointError(f"{path.name} is not an AI Studio checkpoint")
    return checkpoint


def checkpoint_meta(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """AI Studio's metadata of a loaded checkpoint (task, model, image size, target info, …)."""
    meta: dict[str, Any] = checkpoint[CHECKPOINT_KEY]
    return meta


def target_info_of(meta: dict[str, Any]) -> TargetInfo:
    """The target information a checkpoint's model was trained with."""
    info = meta.get("target_info", {})
    return TargetInfo(
        classes=list(info.get("classes", [])),
        mean=float(info.get("mean", 0.0)),
        std=float(info.get("std", 1.0)),
    )


def load_model(path: Path, task: Task) -> tuple[nn.Module, dict[str, Any]]:
    """The trained network of a checkpoint (eval mode, CPU) and the checkpoint's metadata.

    Feed it :func:`aistudio.training.data.to_model_input` of ``uint8`` images resized to
    ``meta["image_size"]``.

    Raises:
        CheckpointError: the checkpoint is unreadable or was made for another task.
    """
    checkpoint = read_checkpoint(path)
    meta = checkpoint_meta(checkpoint)
    if meta.get("task") != task.name:
        raise CheckpointError(f"{path.name} was trained for {meta.get('task')}, not {task.name}")
    model, _sentence = task.build_model(
        meta["model"], target_info_of(meta), False, int(meta.get("image_size", 0))
    )
    prefix = "model."
    state = {
        k.removeprefix(prefix): v
        for k, v in checkpoint["state_dict"].items()
        if k.startswith(prefix)
    }
    model.load_state_dict(state)
    model.eval()
    return model, meta
