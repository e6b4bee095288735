"""ONNX Runtime next to PyTorch eager on the CPU, for models exported the way the app exports them.

Run with ``python -m bench export``. For ResNet-18 and MobileNetV3-Small (the app's backbones with
a 10-class head, random weights: nothing is downloaded; BatchNorm statistics recomputed on the
inputs so the activations are realistic), at 224 px (the usual deployment size) and 64 px:

* **latency**: median time of one image (batch 1) over ``LATENCY_RUNS`` runs;
* **throughput**: images per second of one batch of 32.

Each figure is the best of ``ROUNDS`` rounds in which the two runtimes alternate (this kind of
machine is shared and its speed drifts).

The ONNX file is made by :func:`aistudio.export.onnx_export.to_onnx` (legacy exporter, opset 17)
and run by onnxruntime's CPU provider with its default graph optimisations; PyTorch eager runs the
same network in eval mode under ``torch.inference_mode``. Both use the same number of threads
(every CPU this process may use), and both are warmed up first. The baseline is PyTorch eager,
measured in the same run; ratios are ONNX Runtime / PyTorch (latency: below 1 is faster;
throughput: above 1 is faster). The largest output difference is printed too (the app's
validation tolerance is 1e-3).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from aistudio.export.onnx_export import PROVIDERS, to_onnx
from aistudio.tasks.base import TargetInfo
from aistudio.tasks.models import recalibrate_batchnorm
from aistudio.tasks.registry import get_task
from aistudio.training.data import cpu_count
from bench.common import Row, print_table

MODELS = ("resnet18", "mobilenet_v3_small")
SIZES = (224, 64)
BATCH = 32
LATENCY_RUNS = 15
ROUNDS = 3
WARMUP = 2


def _model(name: str, size: int) -> nn.Module:
    task = get_task("classification")
    torch.manual_seed(0)
    model, _ = task.build_model(name, TargetInfo(classes=[str(d) for d in range(10)]), False)
    calibration = torch.randn(8, 3, size, size, generator=torch.Generator().manual_seed(1))
    recalibrate_batchnorm(model, [calibration])
    return model.eval()


def _session(model: nn.Module, size: int, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    proto = to_onnx(model, size)
    return ort.InferenceSession(proto.SerializeToString(), options, providers=PROVIDERS)


def _median_s(func: Callable[[], object], runs: int) -> float:
    for _ in range(WARMUP):
        func()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _images_per_s(func: Callable[[], object], images: int) -> float:
    func()  # warm-up
    start = time.perf_counter()
    func()
    return images / (time.perf_counter() - start)


def measure(name: str, size: int, threads: int) -> list[Row]:
    """The rows of one model at one image size."""
    model = _model(name, size)
    session = _session(model, size, threads)
    batch = np.random.default_rng(2).normal(size=(BATCH, 3, size, size)).astype(np.float32)
    one = batch[:1]
    tensor_batch = torch.from_numpy(batch)
    tensor_one = torch.from_numpy(one)

    def torch_run(x: torch.Tensor) -> Callable[[], object]:
        def run() -> object:
            with torch.inference_mode():
                return model(x)

        return run

    def ort_run(x: np.ndarray) -> Callable[[], object]:
        return lambda: session.run(["output"], {"input": x})

    with torch.inference_mode():
        expected = model(tensor_batch).numpy()
    diff = float(np.max(np.abs(session.run(["output"], {"input": batch})[0] - expected)))
    torch_latency = ort_latency = float("inf")
    torch_rate = ort_rate = 0.0
    for _ in range(ROUNDS):  # interleaved: the machine's speed drifts
        torch_latency = min(torch_latency, _median_s(torch_run(tensor_one), LATENCY_RUNS) * 1000)
        ort_latency = min(ort_latency, _median_s(ort_run(one), LATENCY_RUNS) * 1000)
        torch_rate = max(torch_rate, _images_per_s(torch_run(tensor_batch), BATCH))
        ort_rate = max(ort_rate, _images_per_s(ort_run(batch), BATCH))
    label = f"{name} {size}px"
    return [
        Row(f"{label} latency b1, ORT", ort_latency, "ms", "PyTorch", torch_latency, "< 1"),
        Row(f"{label} throughput b{BATCH}, ORT", ort_rate, "img/s", "PyTorch", torch_rate, "> 1"),
        Row(f"{label} max |ORT - PyTorch|", diff, "abs", "", None, "<= 1e-3"),
    ]


def main() -> None:
    """Measure and print the table."""
    logging.getLogger("aistudio").setLevel(logging.WARNING)
    threads = cpu_count()
    torch.set_num_threads(threads)
    rows: list[Row] = []
    for size in SIZES:
        for name in MODELS:
            rows += measure(name, size, threads)
    print_table(
        f"ONNX Runtime {ort.__version__} vs PyTorch {torch.__version__} eager, CPU, "
        f"{threads} threads, random weights",
        rows,
    )


if __name__ == "__main__":
    main()
