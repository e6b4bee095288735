"""Helpers of the dataset tests: tiny image bytes, projects and import contexts."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from aistudio.datasets.store import ImageStore, sha256_hex
from aistudio.worker.context import JobContext
from aistudio.workspace import Workspace, new_id
from events import Event, EventLog


def image_bytes(
    fmt: str = "PNG", size: tuple[int, int] = (40, 32), color: int = 0, mode: str = "RGB"
) -> bytes:
    """A small image in ``fmt``; ``color`` makes it distinct (its content hash differs)."""
    fill: int | tuple[int, ...]
    if mode in ("L", "P", "I;16", "I", "F"):
        fill = color % 256
    else:
        fill = tuple((color * k) % 256 for k in (1, 7, 13, 19)[: len(mode)])
    image = Image.new(mode, size, fill)
    for x in range(min(size)):  # a diagonal so that codecs have something to encode
        image.putpixel((x, x), 255 if mode in ("L", "P") else fill)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (folders created); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_png(path: Path, color: int = 0, size: tuple[int, int] = (40, 32)) -> Path:
    """A small distinct PNG at ``path``."""
    return write(path, image_bytes("PNG", size, color))


def make_project(workspace: Workspace, task: str = "classification") -> str:
    """A project log holding only ``ProjectCreated``; returns the project id."""
    project_id = new_id("proj")
    EventLog(workspace.events_path(project_id)).append(
        "ProjectCreated", {"project_id": project_id, "name": "Test", "task": task}
    )
    return project_id


def request_import(
    workspace: Workspace, project_id: str, source: Path | str, fmt: str = "auto"
) -> JobContext:
    """Append an ``ImportRequested`` and return the job context for it."""
    log = EventLog(workspace.events_path(project_id))
    command = log.append("ImportRequested", {"source": str(source), "format": fmt, "options": {}})
    return JobContext(workspace, project_id, command)


def set_settings(workspace: Workspace, **values: object) -> None:
    """Change some of the workspace's settings.json."""
    settings = json.loads(workspace.settings_path.read_text())
    settings.update(values)
    workspace.settings_path.write_text(json.dumps(settings))


def events_of(workspace: Workspace, project_id: str) -> list[Event]:
    """Every committed event of a project."""
    return list(EventLog(workspace.events_path(project_id)).read())


@contextlib.contextmanager
def images_lock_held_elsewhere(workspace: Workspace, project_id: str) -> Iterator[None]:
    """Another process holds the project's images lock shared (as an import in flight does)."""
    path = workspace.images_lock_path(project_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys\n"
            f"f = open({str(path)!r}, 'a')\n"
            "fcntl.flock(f, fcntl.LOCK_SH)\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def leftovers(workspace: Workspace, project_id: str, color: int = 200) -> set[Path]:
    """What a killed import leaves: an original and a thumbnail no event names, and a .part."""
    store = ImageStore(workspace, project_id)
    data = image_bytes("PNG", color=color)
    sha = sha256_hex(data)
    store.put_original(sha, "png", data)
    store.put_thumbnail(sha, image_bytes("JPEG", (8, 8), color=color))
    part = write(workspace.tmp_dir(project_id) / f"{sha[:16]}-killed.part", b"half a file")
    return {store.original_path(sha, "png"), store.thumbnail_path(sha), part}
