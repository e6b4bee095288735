"""Fixtures of the task tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture
def torch_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty local torch hub cache; any download attempt fails the test."""

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"tried to download {args}")

    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    (hub / "checkpoints").mkdir(parents=True)
    return hub / "checkpoints"
