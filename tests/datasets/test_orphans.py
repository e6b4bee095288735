"""Image files no event names: imports that fail or are cancelled remove theirs, leftovers of a
killed import are swept, and nothing any ``ImagesAdded`` ever named is deleted."""

from __future__ import annotations

import contextlib
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aistudio.datasets import importer, orphans
from aistudio.datasets.importer import ImportResult, run_import
from aistudio.datasets.orphans import ImagesBusyError, ImagesLock, Sweep, collect_garbage
from aistudio.datasets.store import ImageStore, sha256_hex
from aistudio.worker.context import JobCancelledError, JobContext
from aistudio.workspace import Workspace
from events import EventLog
from projections.dataset import rebuild
from tests.datasets.support import (
    events_of,
    image_bytes,
    images_lock_held_elsewhere,
    leftovers,
    make_project,
    request_import,
    write,
    write_png,
)


# ---------------------------------------------------------------------------- helpers
def store_files(workspace: Workspace, project_id: str) -> set[Path]:
    """Every file under the project's images/, thumbs/ and .tmp/."""
    root = workspace.project_dir(project_id)
    return {
        p for sub in ("images", "thumbs", ".tmp") for p in (root / sub).rglob("*") if p.is_file()
    }


def referenced_files(workspace: Workspace, project_id: str) -> set[Path]:
    """The original and thumbnail of every image any ``ImagesAdded`` of the log names."""
    files: set[Path] = set()
    for event in events_of(workspace, project_id):
        if event.type == "ImagesAdded":
            for r in event.data["images"]:
                files.add(workspace.image_path(project_id, r["sha256"], r["ext"]))
                files.add(workspace.thumb_path(project_id, r["sha256"]))
    return files


def assert_all_referenced_exist(workspace: Workspace, project_id: str) -> None:
    missing = {p for p in referenced_files(workspace, project_id) if not p.is_file()}
    assert not missing, f"referenced files deleted: {sorted(missing)}"


def assert_clean(workspace: Workspace, project_id: str) -> None:
    """The store holds exactly the files the log names: none missing, none unreferenced."""
    assert_all_referenced_exist(workspace, project_id)
    assert store_files(workspace, project_id) == referenced_files(workspace, project_id)


def commit(ctx: JobContext, result: ImportResult) -> None:
    """Append the import's events as the runner does, then release its images lock."""
    assert result.rebase is not None
    seq = ctx.log.last_seq()
    ctx.log.append_many(result.rebase(seq).events, expected_seq=seq)
    result.release()


def import_folder(workspace: Workspace, project_id: str, source: Path, **kw: Any) -> ImportResult:
    ctx = request_import(workspace, project_id, source)
    result = run_import(ctx, **kw)
    commit(ctx, result)
    return result


class _CancelAfter(JobContext):
    """A context whose cancel arrives after ``n`` checks."""

    n = 5

    def cancel_requested(self) -> bool:
        self.n -= 1
        return self.n < 0


@pytest.fixture
def sweeps(monkeypatch: pytest.MonkeyPatch) -> list[Sweep]:
    """Every sweep that removed something (start-of-import sweeps, end-of-failure sweeps, gc)."""
    seen: list[Sweep] = []
    real = orphans.sweep_locked

    def spy(*args: Any, **kwargs: Any) -> Sweep:
        result = real(*args, **kwargs)
        seen.append(result)
        return result

    monkeypatch.setattr(orphans, "sweep_locked", spy)
    monkeypatch.setattr(importer, "sweep_locked", spy)
    return seen


def _failing_sync(
    monkeypatch: pytest.MonkeyPatch, before: Callable[[], None] | None = None
) -> None:
    """``ImageStore.sync`` (after every file is stored) fails once: disk full."""
    real = ImageStore.sync
    calls = {"n": 0}

    def sync(self: ImageStore, sha256s: Any = ()) -> None:
        calls["n"] += 1
        if calls["n"] > 1:
            return real(self, sha256s)
        if before is not None:
            before()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ImageStore, "sync", sync)


# ---------------------------------------------------------------------------- failed, cancelled
@pytest.mark.parametrize("executor", ["thread", "process"])
def test_a_cancelled_import_removes_its_files(
    ws: Workspace, src: Path, executor: str, sweeps: list[Sweep]
) -> None:
    project_id = make_project(ws)
    for i in range(3):
        write_png(src / "a" / "cat" / f"{i}.png", i)
    import_folder(ws, project_id, src / "a")
    for i in range(60):  # the first 3 are already in the dataset
        write_png(src / "b" / "cat" / f"{i}.png", i)
    command = request_import(ws, project_id, src / "b").command
    with pytest.raises(JobCancelledError):
        run_import(_CancelAfter(ws, project_id, command), workers=2, executor=executor)  # type: ignore[arg-type]

    assert sum(s.files for s in sweeps) > 0  # it had stored files, and removed them
    assert len(referenced_files(ws, project_id)) == 6
    assert_clean(ws, project_id)


def test_a_failed_import_removes_its_files(
    ws: Workspace, src: Path, monkeypatch: pytest.MonkeyPatch, sweeps: list[Sweep]
) -> None:
    project_id = make_project(ws)
    write_png(src / "a" / "cat" / "0.png", 0)
    import_folder(ws, project_id, src / "a")
    for i in range(10):
        write_png(src / "b" / "dog" / f"{i}.png", i + 1)
    _failing_sync(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        run_import(request_import(ws, project_id, src / "b"))
    assert sum(len(s.originals) for s in sweeps) == 10
    assert_clean(ws, project_id)
    assert ImagesLock.try_acquire(ws, project_id, exclusive=True) is not None  # released


def test_a_failed_job_through_the_runner_leaves_nothing(
    ws: Workspace, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aistudio.worker.runner import run_job

    project_id = make_project(ws)
    for i in range(5):
        write_png(src / "cat" / f"{i}.png", i)
    _failing_sync(monkeypatch)
    ctx = request_import(ws, project_id, src)
    assert run_job(ws, project_id, ctx.job_id) == "failed"
    assert events_of(ws, project_id)[-1].type == "JobFailed"
    assert store_files(ws, project_id) == set()


def test_a_succeeded_job_through_the_runner_keeps_its_files(ws: Workspace, src: Path) -> None:
    from aistudio.worker.runner import run_job

    project_id = make_project(ws)
    for i in range(5):
        write_png(src / "cat" / f"{i}.png", i)
    ctx = request_import(ws, project_id, src)
    assert run_job(ws, project_id, ctx.job_id) == "succeeded"
    assert len(referenced_files(ws, project_id)) == 10
    assert collect_garbage(ws, project_id).files == 0  # the lock went with the job's result
    assert_clean(ws, project_id)


# ---------------------------------------------------------------------------- killed imports
def test_gc_sweeps_what_a_killed_import_left(ws: Workspace, src: Path) -> None:
    project_id = make_project(ws)
    write_png(src / "cat" / "0.png", 0)
    import_folder(ws, project_id, src)
    left = leftovers(ws, project_id)
    assert store_files(ws, project_id) == referenced_files(ws, project_id) | left

    sweep = collect_garbage(ws, project_id)
    assert {p for p, _ in sweep.entries()} == left
    assert (len(sweep.originals), len(sweep.thumbnails), len(sweep.partials)) == (1, 1, 1)
    assert sweep.bytes == sum(size for _, size in sweep.entries()) > 0
    assert sweep.summary().startswith("removed 1 original (")
    assert_clean(ws, project_id)
    assert collect_garbage(ws, project_id).files == 0


_KILLED_IMPORT = """
import sys, time
from aistudio.datasets.importer import run_import
from aistudio.datasets.store import ImageStore
from aistudio.worker.context import JobContext
from aistudio.workspace import Workspace
from events import EventLog

def stuck(self, sha256s=()):  # every file stored, no event yet: the worst moment to die
    print("stored", flush=True)
    time.sleep(600)

ImageStore.sync = stuck
workspace, project_id, job_id = Workspace(sys.argv[1]), sys.argv[2], sys.argv[3]
command = EventLog(workspace.events_path(project_id)).get(job_id)
run_import(JobContext(workspace, project_id, command))
"""


def test_gc_sweeps_what_an_import_killed_with_sigkill_left(ws: Workspace, src: Path) -> None:
    project_id = make_project(ws)
    for i in range(6):
        write_png(src / "cat" / f"{i}.png", i)
    ctx = request_import(ws, project_id, src)
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_IMPORT, str(ws.root), project_id, ctx.job_id],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "stored"
        assert len(store_files(ws, project_id)) == 12
        with pytest.raises(ImagesBusyError):
            collect_garbage(ws, project_id)
    finally:
        child.kill()  # SIGKILL: no cleanup runs; the kernel drops its lock
        child.wait(timeout=30)
    assert collect_garbage(ws, project_id).files == 12
    assert store_files(ws, project_id) == set()


def test_the_next_import_sweeps_what_a_killed_import_left(ws: Workspace, src: Path) -> None:
    project_id = make_project(ws)
    left = leftovers(ws, project_id)
    write_png(src / "cat" / "0.png", 0)
    import_folder(ws, project_id, src)
    assert not any(p.exists() for p in left)
    assert_clean(ws, project_id)


def test_an_import_does_not_sweep_while_another_is_in_flight(ws: Workspace, src: Path) -> None:
    """While one import is in flight, a second one neither sweeps nor waits."""
    project_id = make_project(ws)
    write_png(src / "a" / "cat" / "0.png", 0)
    write_png(src / "b" / "cat" / "1.png", 1)
    ctx_a = request_import(ws, project_id, src / "a")
    first = run_import(ctx_a)  # in flight: holds the lock shared until released
    left = leftovers(ws, project_id)
    ctx_b = request_import(ws, project_id, src / "b")
    second = run_import(ctx_b)
    assert all(p.exists() for p in left)  # not swept: the first import could name them
    commit(ctx_a, first)
    commit(ctx_b, second)
    collect_garbage(ws, project_id)
    assert_clean(ws, project_id)


# ---------------------------------------------------------------------------- never too much
def test_files_of_removed_images_are_kept(ws: Workspace, src: Path) -> None:
    project_id = make_project(ws)
    for i in range(3):
        write_png(src / "cat" / f"{i}.png", i)
    import_folder(ws, project_id, src)
    log = EventLog(ws.events_path(project_id))
    view = rebuild(log.read())
    removed = next(iter(view.images))
    before = log.last_seq()
    log.append("ImageRemoved", {"image_id": removed})
    assert removed not in rebuild(log.read()).images

    assert collect_garbage(ws, project_id).files == 0
    entry = rebuild(log.read(), until_seq=before).images[removed]  # time travel still shows it
    assert ws.image_path(project_id, entry.sha256, entry.ext).is_file()
    assert ws.thumb_path(project_id, entry.sha256).is_file()
    assert_clean(ws, project_id)


def test_gc_refuses_while_another_process_holds_the_lock(ws: Workspace) -> None:
    project_id = make_project(ws)
    left = leftovers(ws, project_id)
    with images_lock_held_elsewhere(ws, project_id):
        with pytest.raises(ImagesBusyError, match="importing images: nothing was removed"):
            collect_garbage(ws, project_id)
        with pytest.raises(ImagesBusyError):
            collect_garbage(ws, project_id, dry_run=True)
        assert all(p.exists() for p in left)
    assert collect_garbage(ws, project_id).files == 3


def test_an_uncommitted_import_holds_off_gc(ws: Workspace, src: Path) -> None:
    project_id = make_project(ws)
    write_png(src / "cat" / "0.png", 0)
    ctx = request_import(ws, project_id, src)
    result = run_import(ctx)
    with pytest.raises(ImagesBusyError):
        collect_garbage(ws, project_id)  # its files are named by no event yet
    commit(ctx, result)
    assert collect_garbage(ws, project_id).files == 0
    assert_clean(ws, project_id)


def test_a_failing_import_keeps_files_another_import_will_name(
    ws: Workspace, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stores X; B, in flight, finds X stored and names it without writing it; A then fails:
    A's cleanup must not take X away from B."""
    project_id = make_project(ws)
    data = image_bytes("PNG", color=7)
    write(src / "a" / "cat" / "x.png", data)
    write(src / "b" / "cat" / "same-x.png", data)
    ctx_b = request_import(ws, project_id, src / "b")
    results: list[ImportResult] = []
    _failing_sync(monkeypatch, before=lambda: results.append(run_import(ctx_b)))
    with pytest.raises(OSError):
        run_import(request_import(ws, project_id, src / "a"))
    [second] = results
    sha = sha256_hex(data)
    assert [
        r["sha256"] for e in second.events if e.type == "ImagesAdded" for r in e.data["images"]
    ] == [sha]
    assert ws.image_path(project_id, sha, "png").is_file()  # B holds the lock: A swept nothing
    commit(ctx_b, second)
    assert collect_garbage(ws, project_id).files == 0
    assert_clean(ws, project_id)


def test_dry_run_deletes_nothing(ws: Workspace, src: Path) -> None:
    project_id = make_project(ws)
    write_png(src / "cat" / "0.png", 0)
    import_folder(ws, project_id, src)
    left = leftovers(ws, project_id)
    before = store_files(ws, project_id)
    sweep = collect_garbage(ws, project_id, dry_run=True)
    assert sweep.dry_run and {p for p, _ in sweep.entries()} == left
    assert sweep.summary().startswith("would remove 1 original")
    assert store_files(ws, project_id) == before


def test_files_that_are_not_the_stores_are_never_touched(ws: Workspace) -> None:
    project_id = make_project(ws)
    root = ws.project_dir(project_id)
    sha = "ab" * 32
    others = [
        write(root / "images" / "ab" / "notes.txt", b"mine"),
        write(root / "images" / "zz" / f"{sha}.png", b"wrong shard name"),
        write(root / "images" / "cd" / f"{sha}.png", b"wrong shard for this sha"),
        write(root / "images" / f"{sha}.png", b"not in a shard"),
        write(root / "thumbs" / f"{sha}.png", b"not a jpg thumbnail"),
        write(root / ".tmp" / "other.tmp", b"not a .part"),
        write(root / "experiments" / "exp-0000abcd" / "checkpoints" / "best.ckpt", b"ckpt"),
        write(root / "experiments" / "exp-0000abcd" / "evaluation" / f"{sha}.png", b"x"),
    ]
    (root / "thumbs" / f"{'cd' * 32}.jpg").mkdir(parents=True)  # a folder, not a file
    assert collect_garbage(ws, project_id).files == 0
    assert all(p.exists() for p in others)


# ---------------------------------------------------------------------------- property
@pytest.mark.parametrize("seed", range(4))
def test_nothing_referenced_is_ever_deleted(
    ws: Workspace, src: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """Random histories: imports (committed, cancelled, failed) with duplicates within and
    across imports, removals and leftovers; after every step every file any ``ImagesAdded``
    named exists, and after every gc the store holds nothing else."""
    rng = random.Random(seed)
    project_id = make_project(ws)
    log = EventLog(ws.events_path(project_id))
    pool = [(i, f"c{i % 3}") for i in range(16)]  # content i always carries label c{i%3}
    for step in range(10):
        action = rng.choice(["commit", "commit", "cancel", "fail", "remove", "leftover", "gc"])
        if action in ("commit", "cancel", "fail"):
            source = src / f"src{step}"
            for k, (color, label) in enumerate(rng.choices(pool, k=rng.randint(1, 12))):
                write_png(source / label / f"{k}.png", color)  # repeats: duplicates
            ctx = request_import(ws, project_id, source)
            if action == "commit":
                commit(ctx, run_import(ctx))
            elif action == "cancel":
                cancelling = _CancelAfter(ws, project_id, ctx.command)
                cancelling.n = rng.randint(1, 6)
                with contextlib.suppress(JobCancelledError):
                    commit(cancelling, run_import(cancelling))
            else:
                with monkeypatch.context() as patch:
                    _failing_sync(patch)
                    with pytest.raises(OSError):
                        run_import(ctx)
        elif action == "remove":
            live = list(rebuild(log.read()).images)
            if live:
                log.append("ImageRemoved", {"image_id": rng.choice(live)})
        elif action == "leftover":
            leftovers(ws, project_id, color=100 + step)
        else:
            collect_garbage(ws, project_id)
            assert_clean(ws, project_id)
        assert_all_referenced_exist(ws, project_id)
    collect_garbage(ws, project_id)
    assert_clean(ws, project_id)
