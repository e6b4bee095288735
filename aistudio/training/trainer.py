"""The trainer factory: device, precision, DDP and seed from the experiment config.

The trainer has no logger, progress bar, model summary or checkpoint callback of its own: the
event callback reports and checkpoints. Several GPUs train with Lightning's DDP in forked
processes (``ddp_fork``): the job process's data, caches and event log are inherited rather
than pickled, and only the first process appends events.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
from lightning_fabric.accelerators.cuda import num_cuda_devices

from aistudio.training.config import ConfigError
from events.schemas.training import TrainingConfig

logger = logging.getLogger(__name__)


PRECISION_WORDS: dict[str, str] = {
    "32": "32-bit precision",
    "16-mixed": "16-bit mixed precision",
    "bf16-mixed": "bf16 mixed precision",
}
"""How a run's precision reads in its device description (``TrainingStarted.device``)."""


@dataclass(frozen=True)
class DevicePlan:
    """Where a run trains: Lightning's accelerator, device count, strategy, and in words
    (``cpu (2 threads), 32-bit precision``); ``threads``: the CPU threads torch uses."""

    accelerator: str
    devices: int
    strategy: str
    precision: str
    description: str
    threads: int = 0


def plan_devices(config: TrainingConfig) -> DevicePlan:
    """Resolve ``accelerator``/``devices``/``precision`` against this machine.

    ``auto`` picks the GPUs when there are any (all of them with ``devices: auto``), else the
    CPU. CUDA is not initialised here (forked DDP processes need it untouched).

    Raises:
        ConfigError: GPUs asked for but absent or too few, several CPU devices, or a precision
            the device cannot do.
    """
    gpus = num_cuda_devices()
    wanted = config.accelerator
    if wanted == "gpu" and gpus == 0:
        raise ConfigError("accelerator gpu: this machine has no usable CUDA GPU (use auto or cpu)")
    use_gpu = gpus > 0 and wanted in ("auto", "gpu")
    precision = config.precision
    if not use_gpu:
        if isinstance(config.devices, int) and config.devices > 1:
            raise ConfigError(
                f"devices {config.devices}: several devices need GPUs; this run trains on the CPU"
            )
        if precision == "16-mixed":
            raise ConfigError("precision 16-mixed needs a GPU; on the CPU use 32 or bf16-mixed")
        threads = torch.get_num_threads()
        words = PRECISION_WORDS.get(precision, precision)
        return DevicePlan("cpu", 1, "auto", precision, f"cpu ({threads} threads), {words}", threads)
    words = PRECISION_WORDS.get(precision, precision)
    threads = torch.get_num_threads()
    devices = gpus if config.devices == "auto" else int(config.devices)
    if devices > gpus:
        raise ConfigError(f"devices {devices}: this machine has only {gpus} GPU(s)")
    if precision == "bf16-mixed" and devices == 1 and not torch.cuda.is_bf16_supported():
        raise ConfigError("precision bf16-mixed: this GPU does not support bfloat16; use 16-mixed")
    if devices == 1:
        name = torch.cuda.get_device_name(0)
        return DevicePlan("gpu", 1, "auto", precision, f"cuda:0 {name}, {words}"[:100], threads)
    return DevicePlan(
        "gpu", devices, "ddp_fork", precision, f"{devices}x cuda (DDP), {words}", threads
    )


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (and data loader workers) for a reproducible run."""
    pl.seed_everything(seed, workers=True, verbose=False)


def build_trainer(
    config: TrainingConfig,
    plan: DevicePlan,
    callbacks: Sequence[pl.Callback],
    root_dir: Path,
    has_val: bool,
) -> pl.Trainer:
    """A Lightning trainer for ``config`` on ``plan``, reporting only through ``callbacks``."""
    if plan.accelerator == "gpu":
        torch.set_float32_matmul_precision("high")  # TF32 on tensor cores: much faster
    # Noise for our use: few workers is a choice (the images are cached); Lightning's own code.
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*is deprecated.*")
    return pl.Trainer(
        accelerator=plan.accelerator,
        devices=plan.devices,
        strategy=plan.strategy,
        precision=plan.precision,  # type: ignore[arg-type]
        max_epochs=config.epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=None if has_val else 0,
        benchmark=plan.accelerator == "gpu",
        callbacks=list(callbacks),
        default_root_dir=str(root_dir),
    )
