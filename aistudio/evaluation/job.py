"""The ``EvaluationRequested`` job: score one checkpoint of an experiment on subsets of its split.

Flow: read the log once and check it (:mod:`aistudio.evaluation.plan`: the experiment, its
checkpoint, its split, no standing evaluation); check the checkpoint file is the one
``CheckpointSaved`` recorded (sha256); load the model; build the targets of the labelled images
of the requested subsets, pooled in train, val, test order (images of a class the model lacks
are skipped, as are images without a label or value); run batched inference
(:mod:`aistudio.evaluation.inference`); let the task compute the figures
(:meth:`~aistudio.tasks.base.Task.evaluate`); write ``evaluation/results.jsonl`` and
``evaluation/report.json`` completely; return ``EvaluationCompleted`` naming them, which the
runner appends with ``JobSucceeded``.

Each row of the results is the task's row with ``image_id`` and ``subset`` first and
``label_changed`` last: whether the image's label (or value) differs from the one it had when
the run that saved the checkpoint started (``trained_seq``), i.e. the model learnt or was
selected with another label for it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aistudio.evaluation.plan import EvaluationPlan, plan_evaluation
from aistudio.tasks.base import (
    EvaluationContext,
    EvaluationOutput,
    TargetInfo,
    Task,
    TaskInputError,
)
from aistudio.worker.context import JobContext, JobInputError, JobResult
from events.schemas.evaluation import EvaluationRequested
from projections.dataset import ImageEntry

if TYPE_CHECKING:  # torch-side: imported when the job runs, not with this module
    import torch
    from torch import nn

    from aistudio.training.data import SubsetData

logger = logging.getLogger(__name__)


def _task(name: str) -> Task:
    from aistudio.tasks.registry import get_task

    try:
        return get_task(name)
    except ValueError as exc:  # TaskNotAvailableError is a ValueError too
        raise JobInputError(f"this version of AI Studio cannot evaluate {name!r} projects") from exc


def run_evaluation(ctx: JobContext) -> JobResult:
    """Job handler of ``EvaluationRequested`` (see the module's docstring).

    Raises:
        JobInputError: the experiment, checkpoint, split or images cannot be evaluated; the
            message says why.
        JobCancelledError: a cancel was requested (nothing is appended but ``JobCancelled``).
    """
    started = time.monotonic()
    ctx.progress(0, None, "preparing: reading the log", force=True)
    command = EvaluationRequested.model_validate(ctx.command.data)
    events = list(ctx.log.read())
    plan = plan_evaluation(events, command)
    del events
    task = _task(plan.task)
    ctx.progress(0, None, "preparing: loading the checkpoint", force=True)
    path = ctx.workspace.checkpoint_path(ctx.project_id, command.experiment_id, command.checkpoint)
    model, meta = _load_checked(path, plan, task)
    ctx.check_cancelled()
    try:
        return _evaluate(ctx, plan, task, model, meta, started)
    except TaskInputError as exc:
        raise JobInputError(str(exc)) from None


def _load_checked(path: Path, plan: EvaluationPlan, task: Task) -> tuple[nn.Module, dict[str, Any]]:
    """The checkpoint's model and metadata, once its file is the one the log recorded."""
    from aistudio.training.checkpoints import CheckpointError, load_model, sha256_of

    exp = plan.command.experiment_id
    which = plan.command.checkpoint
    if not path.is_file():
        raise JobInputError(f"the {which} checkpoint file of experiment {exp} is missing")
    if sha256_of(path) != plan.checkpoint.sha256:
        raise JobInputError(
            f"the {which} checkpoint file of experiment {exp} has changed since it was saved "
            "(its sha256 differs from the one recorded): it cannot be evaluated"
        )
    try:
        return load_model(path, task)
    except CheckpointError as exc:
        raise JobInputError(f"cannot evaluate {exp}: {exc}") from None


def _evaluate(
    ctx: JobContext,
    plan: EvaluationPlan,
    task: Task,
    model: nn.Module,
    meta: dict[str, Any],
    started: float,
) -> JobResult:
    from aistudio.evaluation.inference import default_device, predict
    from aistudio.training.checkpoints import target_info_of

    command = plan.command
    info = target_info_of(meta)
    image_size = int(meta["image_size"])
    data, subset_of, skipped = _images(ctx, plan, task, info, image_size)
    device = default_device()
    model.to(device)
    total = len(data)

    def progress(done: int, _total: int) -> None:
        ctx.progress(done, total, f"evaluating: {done}/{total} images")

    ctx.progress(0, total, f"evaluating: 0/{total} images", force=True)
    inference_started = time.monotonic()
    options = task.validate_options(meta.get("config", {}).get("task_options", {}))

    def run(network: nn.Module, inputs: torch.Tensor) -> Any:
        return task.infer(network, inputs, options)

    outputs = predict(
        model,
        data.paths,
        image_size,
        command.batch_size,
        device,
        on_progress=progress,
        check_cancelled=ctx.check_cancelled,
        run=run,
        join=task.join_outputs,
    )
    inference_s = time.monotonic() - inference_started
    threshold = plan.experiment.threshold
    calibration = None
    if task.uses_threshold and threshold is None and "val" not in command.subsets:
        calibration = _calibration(ctx, plan, task, info, image_size, model, device, run)
    context = EvaluationContext(
        subsets=[subset_of[i] for i in data.image_ids],
        threshold=threshold,
        image_size=image_size,
        calibration=calibration,
        files=lambda sha, ext: ctx.workspace.image_path(ctx.project_id, sha, ext),
    )
    evaluation = task.evaluate_pass(outputs, data.targets, info, data.entries, context)
    changed = plan.label_changed(data.image_ids, task)
    rows = [
        {"image_id": i, "subset": subset_of[i], **row, "label_changed": i in changed}
        for i, row in zip(data.image_ids, evaluation.rows, strict=True)
    ]
    report = _report(plan, evaluation, meta, skipped, len(changed), str(device))
    ctx.check_cancelled()
    refs = _write(ctx, command.experiment_id, rows, report)
    data_out = {
        "experiment_id": command.experiment_id,
        "checkpoint": command.checkpoint,
        "checkpoint_epoch": plan.checkpoint.epoch,
        "checkpoint_sha256": plan.checkpoint.sha256,
        "split": plan.split,
        "subsets": list(command.subsets),
        "images": total,
        "skipped": sum(skipped.values()),
        "trained_seq": plan.trained_seq,
        "primary_metric": task.primary_metric,
        "metrics": evaluation.metrics,
        "results": refs["results"],
        "report": refs["report"],
        "duration_s": round(time.monotonic() - started, 3),
        "images_per_s": round(total / inference_s, 3) if inference_s > 0 else 0.0,
    }
    logger.info(
        "evaluated %s (%s checkpoint) on %d images: %s = %s",
        command.experiment_id,
        command.checkpoint,
        total,
        task.primary_metric,
        evaluation.metrics.get(task.primary_metric),
    )
    summary = {
        "experiment_id": command.experiment_id,
        "images": total,
        "metric": task.primary_metric,
        "value": evaluation.metrics.get(task.primary_metric),
    }
    return JobResult(events=[ctx.new_event("EvaluationCompleted", data_out)], summary=summary)


def _calibration(
    ctx: JobContext,
    plan: EvaluationPlan,
    task: Task,
    info: TargetInfo,
    image_size: int,
    model: nn.Module,
    device: torch.device,
    run: Any,
) -> tuple[Any, list[ImageEntry]] | None:
    """The outputs and entries of the split's val images, to choose a confidence threshold on
    (never on the images evaluated); None without val images."""
    from aistudio.evaluation.inference import predict
    from aistudio.training.data import labelled_entries, subset_data

    entries = labelled_entries(plan.dataset, plan.split, task).get("val", [])

    def image_path(sha: str, ext: str) -> Path:
        return ctx.workspace.image_path(ctx.project_id, sha, ext)

    data, _unknown = subset_data(entries, task, info, image_path, image_size)
    if len(data) == 0:
        return None
    ctx.progress(0, None, f"choosing the threshold on {len(data)} validation images", force=True)
    outputs = predict(
        model,
        data.paths,
        image_size,
        plan.command.batch_size,
        device,
        check_cancelled=ctx.check_cancelled,
        run=run,
        join=task.join_outputs,
    )
    return outputs, data.entries


def _images(
    ctx: JobContext, plan: EvaluationPlan, task: Task, info: TargetInfo, image_size: int
) -> tuple[SubsetData, dict[str, str], dict[str, int]]:
    """The images to score with their targets, each image's subset, and the skipped counts.

    Raises:
        JobInputError: no image of the subsets can be scored.
    """
    from aistudio.training.data import labelled_entries, subset_data

    subsets = plan.command.subsets
    labelled = labelled_entries(plan.dataset, plan.split, task)
    pooled = [entry for subset in subsets for entry in labelled.get(subset, [])]
    subset_of = {entry.image_id: subset for subset in subsets for entry in labelled.get(subset, [])}
    members = Counter(plan.dataset.splits[plan.split].values())
    in_subsets = sum(members.get(subset, 0) for subset in subsets)

    def image_path(sha: str, ext: str) -> Path:
        return ctx.workspace.image_path(ctx.project_id, sha, ext)

    data, unknown = subset_data(pooled, task, info, image_path, image_size)
    skipped = {"without_target": in_subsets - len(pooled), "target_unknown_to_model": unknown}
    if len(data) == 0:
        what = task.target_noun
        raise JobInputError(
            f"no image of the {' + '.join(subsets)} subset(s) of split {plan.split!r} can be "
            f"evaluated: {in_subsets} images, {skipped['without_target']} without {what}, "
            f"{unknown} with {what} the model was not trained on"
        )
    return data, subset_of, skipped


def _report(
    plan: EvaluationPlan,
    evaluation: EvaluationOutput,
    meta: dict[str, Any],
    skipped: dict[str, int],
    label_changed: int,
    device: str,
) -> dict[str, Any]:
    """The task's report with what was evaluated, on what, with which checkpoint."""
    command = plan.command
    return {
        **evaluation.report,
        "experiment_id": command.experiment_id,
        "checkpoint": {
            "which": command.checkpoint,
            "epoch": plan.checkpoint.epoch,
            "sha256": plan.checkpoint.sha256,
            "model": str(meta.get("model", "")),
            "image_size": int(meta["image_size"]),
        },
        "split": plan.split,
        "subsets": list(command.subsets),
        "images": len(evaluation.rows),
        "skipped": skipped,
        "label_changed": label_changed,
        "trained_seq": plan.trained_seq,
        "device": device,
    }


def _write(
    ctx: JobContext, experiment_id: str, rows: list[dict[str, Any]], report: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Write the results and the report (complete and fsynced); their ``FileRef`` data."""
    from aistudio.evaluation.results import clean_temp_files, file_ref, write_report, write_results

    workspace, project_id = ctx.workspace, ctx.project_id
    folder = workspace.experiment_dir(project_id, experiment_id)
    results_path = workspace.evaluation_results_path(project_id, experiment_id)
    report_path = workspace.evaluation_report_path(project_id, experiment_id)
    clean_temp_files(results_path.parent)
    results = write_results(results_path, rows)
    written = write_report(report_path, report)
    return {"results": file_ref(results, folder), "report": file_ref(written, folder)}
