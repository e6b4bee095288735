"""Measured costs of training each model offered (torch-free): the table behind the estimate.

Each :class:`~aistudio.tasks.base.ModelCost` holds what a training step of the model holds and
takes on this kind of machine; the Training form, the commands and the job estimate a run from
it (:mod:`aistudio.training.resources`) before anything is allocated.

How and when: measured on 2026-12-02 by ``python -m bench resources`` (bench/bench_resources.py)
on the project's 2-core x86_64 machine (torch 2.14.1, 2 threads, 23 GB). For every model, a
fresh process per point imports what a job imports, builds the model through the task contract
(from scratch) and runs real training steps (AdamW) and validation batches on random images at
(64 px, 16), (128, 4), (128, 16), (256, 4) for the backbones and (96, 2), (128, 2), (128, 6),
(256, 2) for the detectors (image size, batch); ``fixed``/``per_image`` and ``step``/``train``
are least-squares fits of peak RSS increase and step time against ``batch x (S / S0)**2``.

* Memory reproduced within 3 % over three sweeps, and the scaling holds: 256 px at batch 4 holds
  what 128 px at batch 16 holds for every model (the same ``batch x S**2``). A whole job adds the
  process itself, the decoded-image cache and the loader workers (the estimate adds them).
* Times were measured while other work shared the two cores: each point is the fastest of its
  timed steps over the sweeps (four), the one least disturbed; they are good to about a factor
  of two, and on the slow side rather than the fast one. The job measures its first steps and
  reports them (``JobProgress``), so a run's own figures replace these within seconds.
* Parameter counts are exact (``params_base + params_per_output x outputs`` equals the built
  network's ``sum(p.numel())``; ``tests/tasks/test_costs.py`` holds every model to it).

Re-run the bench after changing a model, torch, or the machine, and paste the table it prints.
"""

from __future__ import annotations

from aistudio.tasks.base import ModelCost

REFERENCE_SIZE = 128
"""S0: the image side (px) the per-image figures of the table are given at."""
REFERENCE_THREADS = 2
"""CPU threads (``torch.get_num_threads()``) the table's times were measured with."""

MODEL_COSTS: dict[str, ModelCost] = {
    "resnet18": ModelCost(
        fixed_mb=224.8,
        per_image_mb=12.4,
        step_ms=170.5,
        train_ms=6.83,
        eval_ms=4.59,
        params_base=11176512,
        params_per_output=513,
    ),
    "resnet34": ModelCost(
        fixed_mb=378.6,
        per_image_mb=16.3,
        step_ms=210.7,
        train_ms=17.17,
        eval_ms=7.5,
        params_base=21284672,
        params_per_output=513,
    ),
    "resnet50": ModelCost(
        fixed_mb=441.6,
        per_image_mb=35.17,
        step_ms=0.0,
        train_ms=101.73,
        eval_ms=51.65,
        params_base=23508032,
        params_per_output=2049,
    ),
    "efficientnet_b0": ModelCost(
        fixed_mb=101.7,
        per_image_mb=36.01,
        step_ms=117.1,
        train_ms=13.24,
        eval_ms=2.78,
        params_base=4007548,
        params_per_output=1281,
    ),
    "efficientnet_b3": ModelCost(
        fixed_mb=224.7,
        per_image_mb=63.17,
        step_ms=1214.3,
        train_ms=114.25,
        eval_ms=10.98,
        params_base=10696232,
        params_per_output=1537,
    ),
    "mobilenet_v3_small": ModelCost(
        fixed_mb=62.0,
        per_image_mb=6.74,
        step_ms=26.5,
        train_ms=4.08,
        eval_ms=0.71,
        params_base=1517856,
        params_per_output=1025,
    ),
    "mobilenet_v3_large": ModelCost(
        fixed_mb=106.7,
        per_image_mb=19.59,
        step_ms=149.3,
        train_ms=5.97,
        eval_ms=3.4,
        params_base=4202032,
        params_per_output=1281,
    ),
    "centernet_resnet18": ModelCost(
        fixed_mb=247.2,
        per_image_mb=15.24,
        step_ms=107.3,
        train_ms=18.37,
        eval_ms=12.86,
        params_base=11964868,
        params_per_output=65,
    ),
    "fcos_resnet18_fpn": ModelCost(
        fixed_mb=389.5,
        per_image_mb=13.16,
        step_ms=120.5,
        train_ms=40.65,
        eval_ms=28.1,
        params_base=19093317,
        params_per_output=2305,
    ),
    "fcos_resnet50_fpn": ModelCost(
        fixed_mb=577.7,
        per_image_mb=41.99,
        step_ms=157.5,
        train_ms=62.65,
        eval_ms=37.42,
        params_base=32112965,
        params_per_output=2305,
    ),
    "retinanet_resnet50_fpn_v2": ModelCost(
        fixed_mb=666.7,
        per_image_mb=42.7,
        step_ms=150.1,
        train_ms=67.18,
        eval_ms=38.44,
        params_base=36311140,
        params_per_output=20745,
    ),
    "fasterrcnn_mobilenet_v3_large_fpn": ModelCost(
        fixed_mb=566.0,
        per_image_mb=8.32,
        step_ms=369.6,
        train_ms=157.54,
        eval_ms=105.11,
        params_base=18949504,
        params_per_output=5125,
    ),
    # measured 2026-12-02 by `AISTUDIO_BENCH_MODELS=centermask_resnet18,maskrcnn_resnet50_fpn
    # python -m bench resources` while other work shared the cores (times on the slow side)
    "centermask_resnet18": ModelCost(
        fixed_mb=258.5,
        per_image_mb=18.31,
        step_ms=149.2,
        train_ms=23.8,
        eval_ms=40.74,
        params_base=12157892,
        params_per_output=65,
    ),
    "maskrcnn_resnet50_fpn": ModelCost(
        fixed_mb=1067.9,
        per_image_mb=54.59,
        step_ms=4450.9,
        train_ms=40.72,
        eval_ms=933.69,
        params_base=43970133,
        params_per_output=5382,
    ),
    # measured 2026-12-02 by `AISTUDIO_BENCH_MODELS=unet_resnet18,…,deeplabv3_resnet50
    # python -m bench resources` on the idle machine
    "unet_resnet18": ModelCost(
        fixed_mb=261.0,
        per_image_mb=32.51,
        step_ms=21.9,
        train_ms=41.99,
        eval_ms=12.52,
        params_base=14328064,
        params_per_output=145,
    ),
    "unet_resnet34": ModelCost(
        fixed_mb=452.0,
        per_image_mb=30.6,
        step_ms=83.4,
        train_ms=44.61,
        eval_ms=14.3,
        params_base=24436224,
        params_per_output=145,
    ),
    "lraspp_mobilenet_v3_large": ModelCost(
        fixed_mb=93.2,
        per_image_mb=26.84,
        step_ms=23.7,
        train_ms=16.57,
        eval_ms=4.19,
        params_base=3217968,
        params_per_output=170,
    ),
    "deeplabv3_mobilenet_v3_large": ModelCost(
        fixed_mb=245.7,
        per_image_mb=26.29,
        step_ms=133.2,
        train_ms=16.78,
        eval_ms=7.38,
        params_base=11020080,
        params_per_output=257,
    ),
    "deeplabv3_resnet50": ModelCost(
        fixed_mb=714.1,
        per_image_mb=84.08,
        step_ms=131.8,
        train_ms=204.53,
        eval_ms=64.61,
        params_base=39633472,
        params_per_output=257,
    ),
}
"""Each model of the catalogues (``tasks/models.py``, ``tasks/detection_models/catalogue.py``,
``tasks/segmentation_models/catalogue.py``) by name."""
