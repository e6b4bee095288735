"""The pieces of the training pipeline: schedule, checkpoint files, images, seed, bad commands."""

from __future__ import annotations

import hashlib
import itertools
import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from aistudio import commands
from aistudio.tasks.registry import get_task
from aistudio.training.checkpoints import load_model, read_checkpoint, save_atomically
from aistudio.training.data import (
    ImageDataset,
    SubsetData,
    TrainingDataModule,
    build_augmentation,
    decode_all,
    decode_image,
    to_model_input,
)
from aistudio.training.module import lr_factor
from aistudio.worker.runner import run_job
from aistudio.workspace import Workspace, new_id
from events import EventLog
from events.schemas.training import Augmentations
from tests.training.support import TINY, digits_project, of_experiment, of_job


# ---------------------------------------------------------------------- schedule
def test_warmup_then_schedules() -> None:
    per_epoch, epochs = 10, 5
    ramp = [lr_factor(s, per_epoch, epochs, "cosine", warmup_epochs=1) for s in range(10)]
    assert ramp == pytest.approx([(s + 1) / 10 for s in range(10)])
    cosine = [lr_factor(s, per_epoch, epochs, "cosine", warmup_epochs=1) for s in range(10, 50)]
    assert cosine[0] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(cosine))
    assert cosine[-1] < 0.01
    assert lr_factor(49, per_epoch, epochs, "none") == 1.0
    steps = [
        lr_factor(e * per_epoch, per_epoch, epochs, "step", step_size=2, gamma=0.5)
        for e in range(5)
    ]
    assert steps == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25])
    assert lr_factor(30, per_epoch, epochs, "plateau", plateau_factor=0.1) == pytest.approx(0.1)


# ---------------------------------------------------------------------- checkpoint files
def test_checkpoint_written_whole_then_renamed(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    payload = b"weights" * 1000

    def write(path: Path) -> None:
        assert not (folder / "last.ckpt").exists()  # nothing is visible while writing
        path.write_bytes(payload)

    saved = save_atomically(write, [folder / "last.ckpt", folder / "best.ckpt"])
    assert saved.sha256 == hashlib.sha256(payload).hexdigest()
    assert saved.size_bytes == len(payload)
    assert (folder / "last.ckpt").read_bytes() == payload == (folder / "best.ckpt").read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == ["best.ckpt", "last.ckpt"]

    def fail(path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        save_atomically(fail, [folder / "last.ckpt"])
    assert (folder / "last.ckpt").read_bytes() == payload  # the previous file is intact
    assert sorted(p.name for p in folder.iterdir()) == ["best.ckpt", "last.ckpt"]


# ---------------------------------------------------------------------- images
def test_images_decode_to_rgb_tensors_and_augment(tmp_path: Path) -> None:
    gray = tmp_path / "gray.png"
    Image.new("L", (50, 20), color=200).save(gray)
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (300, 200), color=(255, 0, 0)).save(photo, quality=95)
    image = decode_image(gray, 32)
    assert image.shape == (3, 32, 32) and image.dtype == torch.uint8
    assert int(image.min()) == int(image.max()) == 200
    red = decode_image(photo, 24)
    assert red.shape == (3, 24, 24)
    assert red[0].float().mean() > 240 and red[1].float().mean() < 15

    data = SubsetData(["a", "b"], [gray, photo], torch.tensor([0, 1]))
    cache = decode_all(data.paths, 32, workers=2)
    plain = ImageDataset(data, 32)
    cached = ImageDataset(data, 32, cache=cache)
    for i in range(2):
        assert torch.equal(plain[i][0], cached[i][0])
        assert int(plain[i][1]) == i

    augment = build_augmentation(
        Augmentations(
            random_resized_crop=True,
            horizontal_flip=True,
            vertical_flip=True,
            rotation_degrees=20,
            color_jitter=0.3,
        ),
        32,
    )
    assert augment is not None
    out = ImageDataset(data, 32, transform=augment, cache=cache)[1][0]
    assert out.shape == (3, 32, 32) and out.dtype == torch.uint8
    assert build_augmentation(Augmentations(), 32) is None

    normalised = to_model_input(cache)
    assert normalised.dtype == torch.float32
    # ImageNet normalisation: pure red is (1 - 0.485) / 0.229 in the red channel.
    assert float(normalised[1, 0].mean()) == pytest.approx((1 - 0.485) / 0.229, abs=0.1)


def test_data_module_caches_small_datasets_only(tmp_path: Path) -> None:
    paths = []
    for i in range(5):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (40, 30), color=(i * 40, 10, 200)).save(path)
        paths.append(path)
    train = SubsetData([f"t{i}" for i in range(3)], paths[:3], torch.tensor([0, 1, 0]))
    val = SubsetData(["v0", "v1"], paths[3:], torch.tensor([1, 0]))
    flips = Augmentations(horizontal_flip=True)
    seen: list[tuple[int, int]] = []
    cached = TrainingDataModule(train, val, 16, 2, num_workers=2, augment=flips)
    assert cached.decode(on_progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (5, 5)
    big = TrainingDataModule(train, val, 16, 2, num_workers=2, augment=flips, cache_budget_bytes=0)
    assert not big.decode() and not big.cached
    # Workers only where there is work: decoding, or augmenting.
    assert cached.workers_for(cached.val_dataset()) == 0
    assert cached.workers_for(cached.train_dataset()) == 2
    assert big.workers_for(big.val_dataset()) == 2
    same = [
        torch.equal(a[0], b[0])
        for a, b in zip(cached.val_dataloader(), big.val_dataloader(), strict=True)
    ]
    assert same == [True]
    # A last training batch of one image is dropped (BatchNorm cannot train on it).
    assert [len(batch[0]) for batch in cached.train_dataloader()] == [2]


# ---------------------------------------------------------------------- in-process runs
def _request(
    workspace: Workspace, project_id: str, name: str, **changes: object
) -> tuple[str, str]:
    event = commands.request_training(
        workspace, project_id, name, "default", {**TINY, **changes}, actor="script"
    )
    return event.id, event.data["experiment_id"]


@pytest.mark.slow
def test_same_seed_gives_the_same_first_epoch_loss(workspace: Workspace, tmp_path: Path) -> None:
    project_id = digits_project(workspace, tmp_path)
    runs = [
        _request(workspace, project_id, name, epochs=1, seed=seed, num_workers=workers)
        for name, seed, workers in [("a", 7, 2), ("b", 7, 2), ("c", 8, 2)]
    ]
    losses = []
    for job_id, exp in runs:
        assert run_job(workspace, project_id, job_id) == "succeeded"
        (epoch,) = of_experiment(workspace, project_id, exp, "EpochCompleted")
        losses.append(epoch.data["train_loss"])
    assert losses[0] == losses[1]
    assert losses[2] != losses[0]
    assert all(math.isfinite(loss) for loss in losses)

    # The best checkpoint loads (weights only) into the task's network.
    task = get_task("classification")
    exp = runs[0][1]
    model, meta = load_model(workspace.checkpoint_path(project_id, exp, "best"), task)
    assert meta["image_size"] == 32 and meta["target_info"]["classes"] == [
        str(d) for d in range(10)
    ]
    with torch.no_grad():
        outputs = model(to_model_input(torch.zeros((2, 3, 32, 32), dtype=torch.uint8)))
    assert outputs.shape == (2, 10)
    assert (
        read_checkpoint(workspace.checkpoint_path(project_id, exp, "last"))["aistudio"][
            "epochs_completed"
        ]
        == 1
    )


def test_job_refuses_commands_that_cannot_run(workspace: Workspace, tmp_path: Path) -> None:
    """Commands appended by scripts bypass ``commands``: the job still says what is wrong."""
    project_id = digits_project(workspace, tmp_path, n_per_class=2)
    log = EventLog(workspace.events_path(project_id))
    cases = [
        ({"split": "nope", "config": TINY}, "no split named 'nope'"),
        ({"split": "default", "config": {**TINY, "model": "vgg99"}}, "unknown model 'vgg99'"),
        ({"split": "default", "config": {**TINY, "image_size": 16}}, "at least"),
        (
            {"split": "default", "config": {**TINY, "task_options": {"bogus": 1}}},
            "task_options",
        ),
        (
            {"split": "default", "config": {**TINY, "accelerator": "gpu"}}
            if not torch.cuda.is_available()
            else {"split": "default", "config": {**TINY, "devices": 64}},
            "GPU",
        ),
    ]
    for data, needle in cases:
        command = log.append(
            "TrainingRequested",
            {"experiment_id": new_id("exp"), "name": "x", **data},
            actor="script",
        )
        assert run_job(workspace, project_id, command.id) == "failed"
        (failed,) = of_job(workspace, project_id, command.id, "JobFailed")
        assert needle in failed.data["error"], failed.data
        assert failed.data.get("traceback") is None  # a user's mistake, not a crash
