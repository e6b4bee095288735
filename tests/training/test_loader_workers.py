"""Data loader workers ignore stop signals and are seeded as Lightning would seed them."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
import torch
from lightning_fabric.utilities.seed import pl_worker_init_function

from aistudio.training.data import LoaderWorkerInit


@pytest.fixture
def restored_signals() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_loader_workers_ignore_sigterm_and_sigint(
    restored_signals: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PL_SEED_WORKERS", "0")
    LoaderWorkerInit(rank=0)(0)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_loader_workers_are_seeded_as_lightning_seeds_them(
    restored_signals: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PL_SEED_WORKERS", "1")
    torch.manual_seed(1234 + 3)  # what a loader worker's torch seed is: base seed + worker id
    pl_worker_init_function(3, rank=1)
    expected = torch.rand(4)
    torch.manual_seed(1234 + 3)
    LoaderWorkerInit(rank=1)(3)
    assert torch.equal(torch.rand(4), expected)
