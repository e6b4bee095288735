"""Batched, chunked inference: the same outputs as one plain pass, in order; progress; cancel."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from aistudio.evaluation.inference import chunk_images, forward_batches, predict
from aistudio.training.data import decode_all, to_model_input

CPU = torch.device("cpu")


class MeanColour(nn.Module):
    """Outputs each image's mean per channel (so every output names its image)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def _images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{i}.png"
        Image.new("RGB", (20 + i, 16), (10 * i, 255 - 10 * i, (37 * i) % 256)).save(path)
        paths.append(path)
    return paths


class Cancelled(Exception):
    pass


def test_chunk_size_is_whole_batches_within_the_budget() -> None:
    assert chunk_images(32, 8, budget_bytes=3 * 32 * 32 * 20) == 16
    assert chunk_images(32, 8, budget_bytes=1) == 8  # one batch at least
    assert chunk_images(64, 64) % 64 == 0


@pytest.mark.parametrize(("chunk", "batch"), [(3, 2), (4, 4), (None, 5), (7, 16)])
def test_outputs_equal_one_plain_pass_in_order(tmp_path: Path, chunk: int | None, batch: int):
    paths = _images(tmp_path, 7)
    model = MeanColour()
    expected = model(to_model_input(decode_all(paths, 12, 1)))
    seen: list[tuple[int, int]] = []
    out = predict(
        model,
        paths,
        12,
        batch,
        CPU,
        chunk=chunk,
        workers=2,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    torch.testing.assert_close(out, expected)
    assert seen[-1] == (7, 7)
    assert [done for done, _ in seen] == sorted({done for done, _ in seen})  # increasing


def test_no_image_gives_no_output(tmp_path: Path) -> None:
    assert predict(MeanColour(), [], 12, 4, CPU).numel() == 0
    assert forward_batches(MeanColour(), torch.empty(0, 3, 8, 8), 4, CPU).numel() == 0


def test_a_cancel_stops_between_batches(tmp_path: Path) -> None:
    paths = _images(tmp_path, 9)
    calls: list[int] = []

    class Counting(MeanColour):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append(len(x))
            return super().forward(x)

    def check() -> None:
        if len(calls) == 2:
            raise Cancelled

    with pytest.raises(Cancelled):
        predict(Counting(), paths, 12, 2, CPU, chunk=4, check_cancelled=check)
    assert calls == [2, 2]  # the third batch never ran
