"""Every path of the workspace is built here, nowhere else (DESIGN §2).

This module is torch-free: the web process imports it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

ENV_VAR = "AISTUDIO_WORKSPACE"
TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "workspace_template"

_ID_PATTERNS: dict[str, re.Pattern[str]] = {
    prefix: re.compile(rf"^{prefix}-[0-9a-f]{{8}}$") for prefix in ("proj", "img", "exp", "xpt")
}
_SHA = re.compile(r"^[0-9a-f]{64}$")
_EXT = re.compile(r"^[a-z0-9]{1,5}$")
_EVENT_ID = re.compile(r"^evt-[0-9a-f]{16}$")
_WORKER_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_UPLOAD_ID = re.compile(r"^upl-[0-9a-f]{16}$")


class WorkspaceError(ValueError):
    """A workspace path or id is invalid."""


def new_id(prefix: str, taken: Callable[[str], bool] | None = None) -> str:
    """A fresh ``{prefix}-{8 hex}`` id that ``taken`` does not report as used.

    Args:
        prefix: one of ``proj``, ``img``, ``exp``, ``xpt``.
        taken: returns True for ids already in use (32-bit ids clash in big projects).
    """
    if prefix not in _ID_PATTERNS:
        raise WorkspaceError(f"unknown id prefix {prefix!r}")
    for _ in range(1000):
        candidate = f"{prefix}-{secrets.token_hex(4)}"
        if taken is None or not taken(candidate):
            return candidate
    raise WorkspaceError(f"could not find a free {prefix}- id")


def check_id(prefix: str, value: str) -> str:
    """Return ``value`` when it is a well-formed ``{prefix}-`` id, else raise WorkspaceError."""
    pattern = _ID_PATTERNS.get(prefix)
    if pattern is None or not isinstance(value, str) or not pattern.match(value):
        raise WorkspaceError(f"not a valid {prefix}- id: {value!r}")
    return value


def resolve_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--workspace``, else ``$AISTUDIO_WORKSPACE``, else ``./workspace``."""
    chosen = explicit or os.environ.get(ENV_VAR) or "workspace"
    return Path(chosen).expanduser().resolve()


class Workspace:
    """The folder holding settings and projects; created from ``workspace_template/``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    @classmethod
    def open(cls, explicit: str | os.PathLike[str] | None = None) -> Workspace:
        """Resolve the workspace root and create it from the template on first use."""
        workspace = cls(resolve_root(explicit))
        workspace.ensure()
        return workspace

    def ensure(self) -> None:
        """Create the workspace's folders and settings from the template when missing."""
        self.projects_dir.mkdir(parents=True, exist_ok=True)
        if not self.settings_path.exists():
            template = TEMPLATE_DIR / "settings.json"
            tmp = self.settings_path.with_suffix(".json.tmp")
            shutil.copyfile(template, tmp)
            tmp.replace(self.settings_path)
            logger.info("created workspace %s", self.root)

    # ------------------------------------------------------------------ workspace level
    @property
    def settings_path(self) -> Path:
        return self.root / "settings.json"

    @property
    def projects_dir(self) -> Path:
        return self.root / "projects"

    @property
    def run_dir(self) -> Path:
        """Runtime state that is not project data: worker liveness locks."""
        return self.root / ".run"

    def worker_lock_path(self, worker_id: str) -> Path:
        if not _WORKER_ID.match(worker_id):
            raise WorkspaceError(f"not a valid worker id: {worker_id!r}")
        return self.run_dir / "workers" / f"{worker_id}.lock"

    def worker_lock_paths(self) -> list[Path]:
        folder = self.run_dir / "workers"
        return sorted(folder.glob("*.lock")) if folder.is_dir() else []

    @property
    def quarantine_dir(self) -> Path:
        """Where each live worker lists the projects it has set aside (one JSON file each)."""
        return self.run_dir / "quarantine"

    def quarantine_path(self, worker_id: str) -> Path:
        """The list of projects the worker ``worker_id`` has set aside, with the reasons."""
        if not _WORKER_ID.match(worker_id):
            raise WorkspaceError(f"not a valid worker id: {worker_id!r}")
        return self.quarantine_dir / f"{worker_id}.json"

    def quarantine_paths(self) -> list[Path]:
        """The quarantine lists of every worker that wrote one (live or not)."""
        folder = self.quarantine_dir
        return sorted(folder.glob("*.json")) if folder.is_dir() else []

    @property
    def uploads_dir(self) -> Path:
        """Unpacked uploads (zips sent through the web app), one folder each."""
        return self.root / "uploads"

    def upload_dir(self, upload_id: str) -> Path:
        """The folder of one unpacked upload (``upl-`` and 16 hex digits)."""
        if not isinstance(upload_id, str) or not _UPLOAD_ID.match(upload_id):
            raise WorkspaceError(f"not a valid upload id: {upload_id!r}")
        return self.uploads_dir / upload_id

    @staticmethod
    def demo_source() -> Path:
        """The demo dataset shipped in the template (an imagefolder of digits)."""
        return TEMPLATE_DIR / "demo" / "digits"

    # ------------------------------------------------------------------ project level
    def project_ids(self) -> list[str]:
        """Ids of the projects that have a log, sorted."""
        if not self.projects_dir.is_dir():
            return []
        return sorted(
            p.name
            for p in self.projects_dir.iterdir()
            if _ID_PATTERNS["proj"].match(p.name) and (p / "events.jsonl").is_file()
        )

    def project_folder_ids(self) -> list[str]:
        """Ids of every project folder, sorted, whether or not it holds a log (yet).

        Unlike :meth:`project_ids`, nothing inside the folders is looked at, so a folder that
        cannot be read does not stop the listing: the worker judges each folder on its own.

        Raises:
            OSError: the projects folder itself cannot be listed.
        """
        if not self.projects_dir.is_dir():
            return []
        return sorted(
            p.name for p in self.projects_dir.iterdir() if _ID_PATTERNS["proj"].match(p.name)
        )

    def event_logs(self) -> Iterable[Path]:
        """The ``events.jsonl`` of every project."""
        return (self.events_path(pid) for pid in self.project_ids())

    def project_dir(self, project_id: str) -> Path:
        return self.projects_dir / check_id("proj", project_id)

    def events_path(self, project_id: str) -> Path:
        return self.project_dir(project_id) / "events.jsonl"

    def image_path(self, project_id: str, sha256: str, ext: str) -> Path:
        """Content-addressed original: ``images/<sha[:2]>/<sha>.<ext>``."""
        if not _SHA.match(sha256) or not _EXT.match(ext):
            raise WorkspaceError("invalid image hash or extension")
        return self.project_dir(project_id) / "images" / sha256[:2] / f"{sha256}.{ext}"

    def thumb_path(self, project_id: str, sha256: str) -> Path:
        if not _SHA.match(sha256):
            raise WorkspaceError("invalid image hash")
        return self.project_dir(project_id) / "thumbs" / f"{sha256}.jpg"

    def job_lock_path(self, project_id: str, job_id: str) -> Path:
        """Held (flock) by whoever runs the job, for as long as it runs."""
        if not _EVENT_ID.match(job_id):
            raise WorkspaceError(f"not a valid job id: {job_id!r}")
        return self.project_dir(project_id) / ".run" / f"{job_id}.lock"

    def images_lock_path(self, project_id: str) -> Path:
        """The project's images lock (flock): shared by every import for its whole run, taken
        exclusively by whoever deletes unreferenced image files (``aistudio gc``)."""
        return self.project_dir(project_id) / ".run" / "images.lock"

    def job_log_path(self, project_id: str, job_id: str) -> Path:
        """Where a job process's own log (stdout/stderr) goes."""
        return self.job_lock_path(project_id, job_id).with_suffix(".log")

    def tmp_dir(self, project_id: str) -> Path:
        """Scratch space on the project's file system (for write-then-rename)."""
        return self.project_dir(project_id) / ".tmp"

    def experiment_dir(self, project_id: str, experiment_id: str) -> Path:
        return self.project_dir(project_id) / "experiments" / check_id("exp", experiment_id)

    def checkpoint_path(self, project_id: str, experiment_id: str, which: str) -> Path:
        if which not in ("best", "last"):
            raise WorkspaceError(f"checkpoint must be best or last, not {which!r}")
        return self.experiment_dir(project_id, experiment_id) / "checkpoints" / f"{which}.ckpt"

    def evaluation_dir(self, project_id: str, experiment_id: str) -> Path:
        """Where an experiment's evaluation files live (one evaluation at a time)."""
        return self.experiment_dir(project_id, experiment_id) / "evaluation"

    def evaluation_results_path(self, project_id: str, experiment_id: str) -> Path:
        """Per-image results of the evaluation: JSON lines, one row per image."""
        return self.evaluation_dir(project_id, experiment_id) / "results.jsonl"

    def evaluation_report_path(self, project_id: str, experiment_id: str) -> Path:
        """Per-class figures, confusion matrix, curves and sweeps of the evaluation (JSON)."""
        return self.evaluation_dir(project_id, experiment_id) / "report.json"

    def export_dir(self, project_id: str, experiment_id: str, export_id: str) -> Path:
        return (
            self.experiment_dir(project_id, experiment_id) / "exports" / check_id("xpt", export_id)
        )

    def export_path(
        self, project_id: str, experiment_id: str, export_id: str, fmt: str = "onnx"
    ) -> Path:
        """The exported model file: ``model.onnx`` (ONNX) or ``model.pt`` (TorchScript)."""
        names = {"onnx": "model.onnx", "torchscript": "model.pt"}
        if fmt not in names:
            raise WorkspaceError(f"unknown export format {fmt!r}: choose one of {', '.join(names)}")
        return self.export_dir(project_id, experiment_id, export_id) / names[fmt]

    def experiment_file(self, project_id: str, experiment_id: str, name: str) -> Path:
        """The file an event names relative to the experiment's folder (``FileRef.name``).

        Raises:
            WorkspaceError: the name is absolute, has ``..`` parts, or leads outside the folder.
        """
        root = self.experiment_dir(project_id, experiment_id)
        parts = name.split("/")
        if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise WorkspaceError(f"not a plain relative file name: {name!r}")
        path = root.joinpath(*parts)
        if not is_within(path, root):
            raise WorkspaceError(f"{name!r} leads outside the experiment's folder")
        return path

    def read_experiment_file(
        self, project_id: str, experiment_id: str, name: str, sha256: str
    ) -> bytes:
        """The bytes of a file an event names, checked against the sha256 the event recorded.

        Raises:
            WorkspaceError: the file is missing, unreadable or not the one the event names.
        """
        path = self.experiment_file(project_id, experiment_id, name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise WorkspaceError(f"{name} of {experiment_id} no longer exists") from None
        except OSError as exc:
            raise WorkspaceError(f"cannot read {name} of {experiment_id}: {exc}") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise WorkspaceError(
                f"{name} of {experiment_id} has changed since it was written (sha256 differs)"
            )
        return data


def is_within(path: Path, root: Path) -> bool:
    """Whether ``path`` (resolved, symlinks followed) lies inside ``root`` (resolved)."""
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return False
    return True
