"""The command line end to end on generated data: exit codes, output, views, time travel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from aistudio.workspace import Workspace
from tests.helpers import digits_folder, events_of


def test_lifecycle_through_the_cli(run, workspace: Workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project_id = run("project", "create", "Digits", "--task", "classification").strip()
    assert project_id.startswith("proj-")
    assert "Digits" in run("project", "list")
    run("project", "create", "digits", "--task", "classification", code=2)  # names are unique

    out = run("import", "Digits", str(digits_folder(tmp_path, n_per_class=4)), "--wait")
    assert "added 40, duplicates 0, skipped 0" in out

    out = run("split", "Digits", "--train", "0.5", "--val", "0.25", "--test", "0.25")
    assert "split default: train 20, val 10, test 10" in out
    run("split", "Digits", "--train", "0.5", "--val", "0.6", "--test", "0.1", "--name", "x", code=2)

    dataset = json.loads(run("show", "Digits", "dataset"))
    assert len(dataset["images"]) == 40
    assert dataset["classes"] == [str(d) for d in range(10)]
    assert dataset["label_counts"] == {str(d): 4 for d in range(10)}
    assert len(dataset["splits"]["default"]) == 40

    split_seq = next(e.seq for e in events_of(workspace, project_id) if e.type == "SplitCreated")
    before = json.loads(run("show", "Digits", "dataset", "--at", str(split_seq - 1)))
    assert before["splits"] == {} and len(before["images"]) == 40
    first = json.loads(run("show", "Digits", "dataset", "--at", "1"))
    assert first["images"] == {}

    jobs = json.loads(run("show", project_id, "jobs"))
    assert [j["status"] for j in jobs["jobs"].values()] == ["succeeded"]
    splits = json.loads(run("show", "Digits", "splits"))
    assert splits["splits"]["default"]["counts"] == {"train": 20, "val": 10, "test": 10}

    out = run("events", "Digits", "--type", "SplitCreated")
    assert "SplitCreated" in out and "ImagesAdded" not in out
    lines = run("events", "Digits", "--json", "--since", "1").splitlines()
    assert json.loads(lines[0])["seq"] == 2

    assert "OK" in run("verify", "Digits")
    run("project", "rename", "Digits", "Numbers")
    run("project", "delete", "Numbers")
    assert "Numbers" not in run("project", "list")


def test_bad_input_exits_2_and_appends_nothing(run, workspace: Workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project_id = run("project", "create", "P", "--task", "classification").strip()
    before = workspace.events_path(project_id).read_bytes()
    run("import", "P", str(tmp_path / "nope"), code=2)
    run("import", "Nope", str(tmp_path), code=2)
    run("submit", "P", "ImportRequested", "--data", "{not json", code=2)
    run("submit", "P", "NoSuchType", "--data", "{}", code=2)
    run("submit", "P", "ProjectRenamed", "--data", '{"name": ""}', code=2)
    run("submit", "P", "JobSucceeded", "--data", '{"job_id": "evt-0000000000000000"}', code=2)
    run("cancel", "P", "evt-0000000000000000", code=2)
    run("split", "P", code=2)  # no images yet
    run("show", "P", "dataset", "--at", "0", code=2)
    assert workspace.events_path(project_id).read_bytes() == before


def test_import_failing_on_bad_input_exits_2_with_reason(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("project", "create", "P", "--task", "classification")
    bad = tmp_path / "bad"
    (bad / "cat").mkdir(parents=True)
    (bad / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = run("import", "P", str(bad), "--wait", code=2)  # bad input (DESIGN §6)
    assert "no importable image" in out


def test_submit_and_cancel(run, workspace: Workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("project", "create", "P", "--task", "classification")
    data = json.dumps({"source": str(digits_folder(tmp_path, 1)), "format": "imagefolder"})
    job_id = run("submit", "P", "ImportRequested", "--data", data).strip()
    assert job_id.startswith("evt-")
    run("cancel", "P", job_id)
    run("worker", "--once")
    jobs = json.loads(run("show", "P", "jobs"))
    assert jobs["jobs"][job_id]["status"] == "cancelled"
    run("cancel", "P", job_id, code=2)  # already ended


def test_verify_reports_damage(run, workspace: Workspace) -> None:  # type: ignore[no-untyped-def]
    project_id = run("project", "create", "P", "--task", "classification").strip()
    run("project", "rename", "P", "Q")
    run("project", "rename", "Q", "R")
    path = workspace.events_path(project_id)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = b'{"seq": 2, "garbage\n'
    path.write_bytes(b"".join(lines))
    out = run("verify", project_id, code=1)
    assert "line 2" in out and "DAMAGED" in out


def test_console_script_runs_demo(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    exe = Path(sys.executable).with_name("aistudio")
    proc = subprocess.run(
        [str(exe), "--workspace", str(ws), "demo"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "300 images, 10 classes" in proc.stdout
    again = subprocess.run(
        [str(exe), "--workspace", str(ws), "demo"], capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0 and "300 images" in again.stdout  # idempotent
