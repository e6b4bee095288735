"""``aistudio import`` says how many skipped files were copies with another label, and why."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from aistudio.cli import cli
from aistudio.workspace import Workspace
from tests.datasets.support import image_bytes, write
from tests.helpers import make_project


def test_the_summary_counts_and_lists_label_conflicts(workspace: Workspace, tmp_path: Path) -> None:
    make_project(workspace, "Pets")
    data = image_bytes("PNG", color=3)
    write(tmp_path / "src" / "cat" / "a.png", data)
    write(tmp_path / "src" / "cat" / "again.png", data)
    write(tmp_path / "src" / "dog" / "b.png", data)
    write(tmp_path / "src" / "dog" / "c.png", image_bytes("PNG", color=4))
    result = CliRunner().invoke(
        cli, ["--workspace", str(workspace.root), "import", "Pets", str(tmp_path / "src"), "--wait"]
    )
    assert result.exit_code == 0, result.output
    assert "added 2, duplicates 1, skipped 1 (1 copy with another label)" in result.output
    assert (
        "skipped dog/b.png: same image as cat/a.png, which is labelled 'cat'; this copy says "
        "'dog' (kept 'cat')"
    ) in result.output
