"""Which real images validate an export: test, then val, then train; unreadable ones skipped."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aistudio.datasets.demo import write_digits_imagefolder
from aistudio.export import samples
from aistudio.export.samples import candidate_entries, decode_samples
from aistudio.tasks.registry import get_task
from aistudio.training.data import decode_image
from projections.dataset import DatasetView, ImageEntry


def _entry(image_id: str, label: str | None, value: float | None = None) -> ImageEntry:
    sha = image_id.encode().hex().ljust(64, "0")[:64]
    return ImageEntry(image_id, sha, "png", f"{image_id}.png", 8, 8, 10, label, value, 1)


def _view() -> DatasetView:
    view = DatasetView()
    for name, label in [("a", "x"), ("b", "y"), ("c", None), ("d", "x"), ("e", "y")]:
        view.images[f"img-{name}"] = _entry(f"img-{name}", label, 1.0 if label else None)
    view.splits["default"] = {
        "img-a": "train",
        "img-b": "val",
        "img-c": "test",
        "img-d": "test",
        "img-e": "train",
    }
    return view


def test_split_order_is_test_then_val_then_train_labelled_only() -> None:
    entries = candidate_entries(_view(), "default", get_task("classification"))
    assert [e.image_id for e in entries] == ["img-d", "img-b", "img-a", "img-e"]


def test_without_the_split_every_labelled_image_in_log_order() -> None:
    entries = candidate_entries(_view(), "deleted", get_task("regression"))
    assert [e.image_id for e in entries] == ["img-a", "img-b", "img-d", "img-e"]


def test_decoding_skips_unreadable_images_and_stops_at_the_limit(tmp_path: Path) -> None:
    good = write_digits_imagefolder(tmp_path / "digits", n_per_class=1)[:3]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    files = {"img-a": good[0], "img-b": broken, "img-c": good[1], "img-d": good[2]}
    entries = [_entry(image_id, "x") for image_id in files]
    by_sha = {e.sha256: files[e.image_id] for e in entries}

    result = decode_samples(entries, lambda sha, _ext: by_sha[sha], 16, limit=2)
    assert result.image_ids == ["img-a", "img-c"]
    assert result.paths == [good[0], good[1]]
    assert result.images.dtype == torch.uint8 and result.images.shape == (2, 3, 16, 16)
    assert torch.equal(result.images[1], decode_image(good[1], 16))
    nothing = decode_samples(entries[1:2], lambda sha, _ext: by_sha[sha], 16, limit=2)
    assert len(nothing) == 0 and nothing.images.shape == (0, 3, 16, 16)


def test_large_images_are_fewer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    good = write_digits_imagefolder(tmp_path / "digits", n_per_class=1)[:4]
    entries = [_entry(f"img-{i}", "x") for i in range(4)]
    by_sha = {e.sha256: path for e, path in zip(entries, good, strict=True)}
    monkeypatch.setattr(samples, "MAX_SAMPLE_BYTES", 2 * 3 * 16 * 16)
    result = decode_samples(entries, lambda sha, _ext: by_sha[sha], 16, limit=4)
    assert result.image_ids == ["img-0", "img-1"]
