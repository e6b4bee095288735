"""What every command module shares: the error, the log of a project, validated appends."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aistudio.workspace import Workspace, WorkspaceError
from events import (
    ConcurrencyError,
    Event,
    EventLog,
    EventLogError,
    InvalidEventError,
    UnknownEventTypeError,
    registry,
)

if TYPE_CHECKING:
    from aistudio.tasks.base import Task

logger = logging.getLogger(__name__)


class CommandError(ValueError):
    """The command is refused; the message is one line for the user."""


def project_task(workspace: Workspace, project_id: str) -> str:
    """The task of a project, from its ``ProjectCreated``."""
    first = log_of(workspace, project_id).first()
    if first is not None and first.type == "ProjectCreated":
        return str(first.data["task"])
    raise CommandError(f"project {project_id} has no ProjectCreated event")


def events_of(workspace: Workspace, project_id: str) -> list[Event]:
    """Every committed event of a project's log."""
    return list(log_of(workspace, project_id).read())


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """The sha256 of a file, in hex (read in chunks)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def log_of(workspace: Workspace, project_id: str) -> EventLog:
    try:
        path = workspace.events_path(project_id)
    except WorkspaceError as exc:
        raise CommandError(str(exc)) from None
    return EventLog(path)


def validate_data(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` checked against its type's schema, defaults filled in (CommandError if not)."""
    try:
        return registry.validate(event_type, data)
    except (InvalidEventError, UnknownEventTypeError) as exc:
        raise CommandError(str(exc)) from None


def append_event(
    workspace: Workspace,
    project_id: str,
    event_type: str,
    data: dict[str, Any],
    actor: str,
    expected_seq: int | None = None,
) -> Event:
    log = log_of(workspace, project_id)
    if expected_seq != 0 and not log.path.exists():
        raise CommandError(f"no project {project_id!r}")
    try:
        return log.append(event_type, data, actor=actor, expected_seq=expected_seq)
    except ConcurrencyError:
        raise
    except (InvalidEventError, UnknownEventTypeError) as exc:
        raise CommandError(str(exc)) from None
    except EventLogError as exc:
        raise CommandError(f"could not append to the log: {exc}") from None


def task_of(task_name: str) -> Task:
    """The registry's task ``task_name``, or a CommandError saying it cannot train yet."""
    from aistudio.tasks.registry import get_task  # task modules are torch-free

    try:
        return get_task(task_name)
    except (KeyError, LookupError, ValueError, NotImplementedError):
        raise CommandError(
            f"training is not available for {task_name.replace('_', ' ')} projects yet"
        ) from None
