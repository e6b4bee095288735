"""The rules of every event type a writer may submit, in one table: ``RULES``.

The CLI's dedicated commands, the web pages and :func:`submit` (``aistudio submit``, scripts) all
reach the same check functions of the area modules (``check_import``, ``check_training``, …);
this module routes a submitted event type to its rule. A type is either submittable (in
:data:`RULES`), appended only by jobs and workers (:data:`JOB_ONLY_TYPES`), or refused with the
command to use instead (:data:`USE_INSTEAD`): a test holds every registered type to one of the
three, so a new event type cannot slip through unchecked.

A command that reaches the log another way (a script's raw ``EventLog.append`` or a hand-written
line) is checked again by the worker when it claims it: :func:`recheck`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aistudio.commands.annotations import change_annotation
from aistudio.commands.base import CommandError, validate_data
from aistudio.commands.datasets import (
    change_label,
    recheck_import,
    remove_image,
    submit_import,
)
from aistudio.commands.evaluation import request_evaluation, reset_evaluation, set_threshold
from aistudio.commands.export import request_export
from aistudio.commands.jobs import request_cancel
from aistudio.commands.projects import delete_project, rename_project
from aistudio.commands.splits import delete_split
from aistudio.commands.training import request_training
from aistudio.workspace import Workspace
from events import Event, registry
from events.jsonlimits import MAX_JSON_DEPTH, json_depth_over

Submit = Callable[[Workspace, str, dict[str, Any], str], Event]
Recheck = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Rule:
    """How one event type is checked.

    Attributes:
        submit: checks ``data`` (its keys are known to the schema) against the project as it is
            and appends it, through the same function as the dedicated command.
        recheck: for a command, the rules of its data alone that must hold when a worker claims
            it, whoever appended it (raises :class:`CommandError`); None when the schema says it
            all. What depends on the project's state is the job's to check when it runs.
        schema_first: validate the whole data against the schema before ``submit`` (types whose
            data is complete as given; training takes a partial config the task fills in).
    """

    submit: Submit
    recheck: Recheck | None = None
    schema_first: bool = True


JOB_ONLY_TYPES = frozenset(
    {
        "ProjectCreated",
        "JobClaimed",
        "JobStarted",
        "JobProgress",
        "JobSucceeded",
        "JobFailed",
        "JobCancelled",
        "ImagesAdded",
        "AnnotationsSet",
        "ClassesDefined",
        "ImportSkipped",
        "ImportCompleted",
        "TrainingStarted",
        "EpochCompleted",
        "CheckpointSaved",
        "TrainingCompleted",
        "EvaluationCompleted",
        "ExportCompleted",
    }
)
"""Events only jobs and workers append (or, for ``ProjectCreated``, ``aistudio project create``)."""

USE_INSTEAD: dict[str, str] = {
    "SplitCreated": "create splits with `aistudio split` (it computes the assignment)",
}
"""Types a script may not submit as data, and what to use instead."""


def _text(data: dict[str, Any], key: str, default: str | None = None) -> str | None:
    value = data.get(key, default)
    if value is not None and not isinstance(value, str):
        raise CommandError(f"{key}: must be a string")
    return value


def _submit_training(
    workspace: Workspace, project_id: str, data: dict[str, Any], actor: str
) -> Event:
    config = data.get("config", {})
    if not isinstance(config, dict):
        raise CommandError("TrainingRequested: config must be a JSON object")
    resume = data.get("resume", False)
    if not isinstance(resume, bool):
        raise CommandError("resume: must be true or false")
    experiment = _text(data, "experiment_id")
    if resume and not experiment:
        raise CommandError("resume: name the experiment to resume (experiment_id)")
    return request_training(
        workspace,
        project_id,
        _text(data, "name"),
        _text(data, "split"),
        config,
        actor,
        resume_experiment=experiment if resume else None,
    )


def _submit_evaluation(
    workspace: Workspace, project_id: str, data: dict[str, Any], actor: str
) -> Event:
    return request_evaluation(
        workspace,
        project_id,
        data["experiment_id"],
        data["checkpoint"],
        data["subsets"],
        actor,
        data["batch_size"],
    )


def _submit_export(
    workspace: Workspace, project_id: str, data: dict[str, Any], actor: str
) -> Event:
    return request_export(
        workspace,
        project_id,
        data["experiment_id"],
        data["checkpoint"],
        data["format"],
        data["options"],
        actor,
        export_id=data["export_id"],
    )


RULES: dict[str, Rule] = {
    "ImportRequested": Rule(submit_import, recheck_import),
    "TrainingRequested": Rule(_submit_training, schema_first=False),
    "EvaluationRequested": Rule(_submit_evaluation),
    "EvaluationReset": Rule(lambda ws, p, d, a: reset_evaluation(ws, p, d["experiment_id"], a)),
    "ExportRequested": Rule(_submit_export),
    "ThresholdSet": Rule(
        lambda ws, p, d, a: set_threshold(ws, p, d["experiment_id"], d["threshold"], a)
    ),
    "CancelRequested": Rule(lambda ws, p, d, a: request_cancel(ws, p, d["job_id"], a)),
    "ProjectRenamed": Rule(lambda ws, p, d, a: rename_project(ws, p, d["name"], a)),
    "ProjectDeleted": Rule(lambda ws, p, _d, a: delete_project(ws, p, a)),
    "LabelChanged": Rule(
        lambda ws, p, d, a: change_label(ws, p, d["image_id"], d["label"], d["value"], a)
    ),
    "ImageRemoved": Rule(lambda ws, p, d, a: remove_image(ws, p, d["image_id"], a)),
    "AnnotationChanged": Rule(
        lambda ws, p, d, a: change_annotation(ws, p, d["image_id"], d["annotation"], a)
    ),
    "SplitDeleted": Rule(lambda ws, p, d, a: delete_split(ws, p, d["name"], a)),
}


def submit(
    workspace: Workspace, project_id: str, event_type: str, data: Any, actor: str = "script"
) -> Event:
    """Append any command or user action, checked exactly as its dedicated command checks it.

    Raises:
        CommandError: unknown type, a type scripts may not submit, data that is not an object,
            a key the type does not have, or anything the type's rule refuses (one line).
    """
    rule = _rule(event_type)
    if not isinstance(data, dict):
        raise CommandError("data must be a JSON object")
    if json_depth_over(data):
        raise CommandError(f"data nests deeper than {MAX_JSON_DEPTH} levels")
    unknown = sorted(set(data) - set(registry.get(event_type).model.model_fields))
    if unknown:
        raise CommandError(f"{event_type}: unknown field {unknown[0]!r}")
    checked = validate_data(event_type, data) if rule.schema_first else data
    return rule.submit(workspace, project_id, checked, actor)


def recheck(command: Event) -> str | None:
    """Why the claimed ``command`` breaks its type's rules (None when it does not).

    The worker calls it before running any command, so one appended by a raw write (which only
    the schema checked) gets ``JobFailed(invalid_command)`` with this reason instead of running:
    an import of a relative path never imports the worker's working directory.
    """
    rule = RULES.get(command.type)
    if rule is None or rule.recheck is None:
        return None
    try:
        rule.recheck(validate_data(command.type, command.data))  # defaults filled in
    except CommandError as exc:
        return str(exc)
    return None


def _rule(event_type: str) -> Rule:
    if event_type not in registry:
        raise CommandError(f"unknown event type {event_type!r}")
    if event_type in JOB_ONLY_TYPES:
        raise CommandError(f"{event_type} is appended by jobs and workers, not submitted")
    if event_type in USE_INSTEAD:
        raise CommandError(f"{event_type} cannot be submitted: {USE_INSTEAD[event_type]}")
    rule = RULES.get(event_type)
    if rule is None:
        raise CommandError(f"{event_type} cannot be submitted in this version")
    return rule
