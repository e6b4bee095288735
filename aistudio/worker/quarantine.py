"""Projects a worker has set aside: their log cannot be read (or a scan of them failed).

One damaged project must never stop the worker for the others (DESIGN §3.5, §4). When a scan of
a project fails (its log is damaged mid-file, unreadable, not a project's log, or a step of the
scan raised), the worker sets the project aside: it logs the reason once, leaves the project's
running jobs alone, and keeps serving every other project. It looks at the project again when
its log changes (size, modification or status-change time, inode: a stat per scan, no read), and
also every :data:`RETRY_S` seconds when the cause may lie outside the log (a permission, an
error of a step); once a scan succeeds, with a fresh projector, the project is served again.

Each worker writes the projects it has set aside to ``.run/quarantine/<worker-id>.json``
(:meth:`aistudio.workspace.Workspace.quarantine_path`), so other processes can show them:
:func:`read_quarantine` (torch-free, cheap) merges the lists of the workers alive.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from aistudio.worker.locks import is_held
from aistudio.workspace import Workspace, WorkspaceError

logger = logging.getLogger(__name__)

RETRY_S = 30.0
"""How often a project set aside for a cause outside its log is looked at again."""
MAX_REASON = 1000
"""Reasons are cut to this many characters (they are shown on pages)."""

Fingerprint = tuple[object, ...]


class ProjectUnusableError(Exception):
    """A project's folder or log cannot be served (it is not a project's log, or it is gone)."""


def log_fingerprint(path: Path) -> Fingerprint:
    """What changes when a log is written, replaced, truncated or has its mode changed.

    A ``stat`` only: the log is not read. A missing or unreadable file has a fingerprint too, so
    that its coming back is seen.
    """
    try:
        st = path.stat()
    except OSError as exc:
        return ("unreadable", exc.errno)
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)


@dataclass
class SetAside:
    """One project set aside: why, since when, and when to look at it again.

    Attributes:
        reason: one line for people (logs, pages, ``aistudio verify``).
        since: when it was set aside (UTC, ISO 8601).
        fingerprint: the log's :func:`log_fingerprint` when the failed scan began.
        retry_at: ``time.monotonic()`` after which to look again even if the log did not
            change; None: only when it changes (a damaged log stays damaged until written).
    """

    reason: str
    since: str
    fingerprint: Fingerprint
    retry_at: float | None


class Quarantine:
    """The projects one worker has set aside, mirrored to its quarantine file.

    Args:
        workspace: the worker's workspace.
        worker_id: the worker's id (names its file).
        retry_s: see :data:`RETRY_S`.
    """

    def __init__(self, workspace: Workspace, worker_id: str, retry_s: float = RETRY_S) -> None:
        self.workspace = workspace
        self.path = workspace.quarantine_path(worker_id)
        self.worker_id = worker_id
        self.retry_s = retry_s
        self._entries: dict[str, SetAside] = {}
        self._write_failed = False

    def __contains__(self, project_id: object) -> bool:
        return project_id in self._entries

    def reason(self, project_id: str) -> str | None:
        """Why ``project_id`` is set aside, or None when it is not."""
        entry = self._entries.get(project_id)
        return entry.reason if entry is not None else None

    def reasons(self) -> dict[str, str]:
        """Every project set aside, with its reason."""
        return {pid: entry.reason for pid, entry in self._entries.items()}

    def set_aside(
        self,
        project_id: str,
        reason: str,
        fingerprint: Fingerprint,
        *,
        retry: bool,
        exc: BaseException | None = None,
    ) -> None:
        """Set ``project_id`` aside (again); logged only when new or for a new reason.

        Args:
            project_id: the project.
            reason: why, in one line.
            fingerprint: the log's fingerprint taken before the scan that failed.
            retry: look again after ``retry_s`` even if the log does not change.
            exc: an unexpected error, whose traceback is logged (once).
        """
        reason = " ".join(reason.split())[:MAX_REASON] or "unknown reason"
        retry_at = time.monotonic() + self.retry_s if retry else None
        old = self._entries.get(project_id)
        since = old.since if old is not None and old.reason == reason else _now()
        self._entries[project_id] = SetAside(reason, since, fingerprint, retry_at)
        if old is not None and old.reason == reason:
            logger.debug("project %s is still set aside: %s", project_id, reason)
            return
        logger.error(
            "project %s set aside (the worker serves the other projects; it looks again when "
            "the log changes): %s",
            project_id,
            reason,
            exc_info=exc,
        )
        self._write()

    def due(self, project_id: str, fingerprint: Fingerprint) -> bool:
        """Whether to look at the set-aside ``project_id`` again (True when it is not set aside)."""
        entry = self._entries.get(project_id)
        if entry is None or entry.fingerprint != fingerprint:
            return True
        return entry.retry_at is not None and time.monotonic() >= entry.retry_at

    def release(self, project_id: str) -> None:
        """Serve ``project_id`` again: a scan of it succeeded."""
        entry = self._entries.pop(project_id, None)
        if entry is not None:
            logger.warning(
                "project %s is served again (it was set aside since %s: %s)",
                project_id,
                entry.since,
                entry.reason,
            )
            self._write()

    def forget(self, project_id: str) -> None:
        """Drop ``project_id`` without a word (its folder is gone)."""
        if self._entries.pop(project_id, None) is not None:
            self._write()

    def sweep_stale(self) -> None:
        """Remove the lists left by workers that died (a worker writes its list only while it
        holds its worker lock, and removes it before letting go of the lock)."""
        for path in self.workspace.quarantine_paths():
            if path == self.path:
                continue
            with contextlib.suppress(OSError, WorkspaceError):
                if not is_held(self.workspace.worker_lock_path(path.stem)):
                    path.unlink(missing_ok=True)

    def close(self) -> None:
        """Remove this worker's file (the worker stops)."""
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)

    def _write(self) -> None:
        """Mirror the entries to the worker's file (removed when empty); write then rename."""
        try:
            if not self._entries:
                self.path.unlink(missing_ok=True)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                payload = {
                    "worker_id": self.worker_id,
                    "pid": os.getpid(),
                    "updated": _now(),
                    "projects": {
                        pid: {"reason": entry.reason, "since": entry.since}
                        for pid, entry in sorted(self._entries.items())
                    },
                }
                tmp = self.path.with_name(f".{self.path.name}.tmp")
                tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
                tmp.replace(self.path)
        except OSError as exc:
            if not self._write_failed:
                logger.error("cannot write the quarantine list %s: %s", self.path, exc)
            self._write_failed = True
            return
        self._write_failed = False


def read_quarantine(workspace: Workspace) -> dict[str, str]:
    """The projects the workers alive in ``workspace`` have set aside: project id -> reason.

    Torch-free and cheap (a few small files, one lock probe each): the web pages and
    ``aistudio verify`` call it to say "the worker has set this project aside: <reason>". Lists
    left by workers that died are ignored; unreadable lists are skipped.

    Args:
        workspace: the workspace.

    Returns:
        The reason of every project set aside by some live worker (the first worker's, when two
        set the same project aside).
    """
    found: dict[str, str] = {}
    try:
        paths = workspace.quarantine_paths()
    except OSError:
        return found
    for path in paths:
        try:
            if not is_held(workspace.worker_lock_path(path.stem)):
                continue
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, WorkspaceError):
            continue
        projects = payload.get("projects") if isinstance(payload, dict) else None
        if not isinstance(projects, dict):
            continue
        for project_id, entry in projects.items():
            reason = entry.get("reason") if isinstance(entry, dict) else None
            if isinstance(project_id, str) and isinstance(reason, str):
                found.setdefault(project_id, reason)
    return found


def quarantine_reason(workspace: Workspace, project_id: str) -> str | None:
    """Why a live worker has set ``project_id`` aside, or None when none has."""
    return read_quarantine(workspace).get(project_id)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
