"""The measured cost table behind the estimate, through the task contract.

Every model a task offers has figures; the parameter count the table gives for a head (what
the Training form shows) is exactly what the built network counts (what the run reports);
the estimate follows the table's formula.
"""

from __future__ import annotations

import pytest

from aistudio.tasks.base import TargetInfo
from aistudio.tasks.costs import MODEL_COSTS, REFERENCE_SIZE, REFERENCE_THREADS
from aistudio.tasks.registry import available_tasks, get_task
from aistudio.training.resources import (
    FIT_OVERHEAD,
    JOB_PROCESS_MB,
    PIPELINE_MB,
    MachineFacts,
    MemoryState,
    estimate_run,
)

INFO = TargetInfo(classes=["a", "b", "c"], mean=2.0, std=1.5)


def _pairs() -> list[tuple[str, str]]:
    return [(task, spec.name) for task in available_tasks() for spec in get_task(task).models]


@pytest.mark.parametrize(("task_name", "model"), _pairs())
def test_every_model_offered_has_measured_figures(task_name: str, model: str) -> None:
    cost = get_task(task_name).model_cost(model)
    assert cost is not None, f"{model} has no figures: run `python -m bench resources`"
    assert cost.fixed_mb > 0 and cost.per_image_mb > 0
    assert cost.train_ms > 0 and cost.eval_ms > 0
    assert cost.params_base > 0 and cost.params_per_output > 0
    assert set(MODEL_COSTS) >= {model}


@pytest.mark.parametrize(("task_name", "model"), _pairs())
def test_the_table_counts_the_parameters_the_built_network_has(task_name: str, model: str) -> None:
    task = get_task(task_name)
    size = max(64, task.model_spec(model).min_image_size)
    network, _ = task.build_model(model, INFO, False, size)
    built = sum(p.numel() for p in network.parameters())
    assert task.parameter_count(model, INFO) == built


def test_the_estimate_follows_the_table() -> None:
    task = get_task("classification")
    cost = task.model_cost("resnet18")
    assert cost is not None
    machine = MachineFacts(
        "cpu", REFERENCE_THREADS, MemoryState(total=64 << 30, available=64 << 30)
    )
    config = {
        "model": "resnet18",
        "image_size": 2 * REFERENCE_SIZE,
        "batch_size": 8,
        "num_workers": 0,
        "augmentations": {},
    }
    estimate = estimate_run(task, config, 100, 20, INFO, machine)
    step_mb = cost.fixed_mb + cost.per_image_mb * 8 * 4  # (2 S0 / S0)^2 = 4
    cache = 120 * 3 * (2 * REFERENCE_SIZE) ** 2  # the decoded images, kept in memory
    expected = (JOB_PROCESS_MB + PIPELINE_MB) * 1e6 + FIT_OVERHEAD * step_mb * 1e6 + cache
    assert estimate.peak_bytes == pytest.approx(expected, rel=1e-6)
    steps = 13  # 100 images in batches of 8
    epoch = steps * (cost.step_ms + cost.train_ms * 8 * 4) / 1000 + cost.eval_ms * 20 * 4 / 1000
    assert estimate.epoch_s == pytest.approx(epoch, rel=1e-6)
    assert estimate.parameters == cost.params_base + 3 * cost.params_per_output
    # twice the threads, half the time; a GPU: the time is not the table's to say
    faster = estimate_run(task, config, 100, 20, INFO, MachineFacts("cpu", 4, machine.memory))
    assert faster.epoch_s == pytest.approx(epoch / 2, rel=1e-6)
    gpu = estimate_run(task, config, 100, 20, INFO, MachineFacts("gpu", 2, machine.memory))
    assert gpu.epoch_s is None and gpu.peak_bytes is not None
    assert gpu.peak_bytes < estimate.peak_bytes  # the activations live on the GPU
    # loader workers add their batches and their own memory when images are augmented
    augmented = {**config, "num_workers": 2, "augmentations": {"horizontal_flip": True}}
    with_workers = estimate_run(task, augmented, 100, 20, INFO, machine)
    assert with_workers.peak_bytes is not None and with_workers.peak_bytes > estimate.peak_bytes
    assert "data loader workers" in dict(with_workers.parts)
