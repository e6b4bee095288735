"""The task registry: the trainable tasks, clear errors for the others, a torch-free import."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from aistudio.tasks import TaskNotAvailableError, available_tasks, get_task
from aistudio.tasks.base import Task
from events.schemas.common import TASKS
from events.schemas.training import Augmentations

TRAINABLE = (
    "classification",
    "regression",
    "detection",
    "instance_segmentation",
    "segmentation",
)
NOT_YET = [name for name in TASKS if name not in TRAINABLE]


def test_the_trainable_tasks_are_available_in_the_order_of_tasks() -> None:
    assert available_tasks() == [
        "classification",
        "detection",
        "segmentation",
        "instance_segmentation",
        "regression",
    ]
    for name in available_tasks():
        task = get_task(name)
        assert isinstance(task, Task)
        assert task.name == name


def test_classification_and_regression_take_labels_and_values() -> None:
    assert get_task("classification").label_kind == "label"
    assert get_task("regression").label_kind == "value"


@pytest.mark.parametrize("name", NOT_YET)
def test_the_other_tasks_say_training_is_not_available_yet(name: str) -> None:
    assert len(NOT_YET) == 2
    with pytest.raises(TaskNotAvailableError) as caught:
        get_task(name)
    assert str(caught.value).startswith(f"training for {name} is not available yet")
    listed = "classification, detection, segmentation, instance_segmentation, regression"
    assert listed in str(caught.value)


def test_an_unknown_task_is_a_value_error_listing_the_tasks() -> None:
    with pytest.raises(ValueError, match="unknown task 'clasification'") as caught:
        get_task("clasification")
    assert not isinstance(caught.value, TaskNotAvailableError)
    assert "object_detection" not in str(caught.value)
    assert "detection" in str(caught.value)


@pytest.mark.parametrize("name", ["classification", "regression", "detection", "segmentation"])
def test_task_metadata_is_consistent(name: str) -> None:
    task = get_task(name)
    names = [spec.name for spec in task.models]
    assert len(names) == len(set(names)) >= 5
    assert task.default_model == names[0], "the default is listed first"
    assert task.primary_metric in task.metric_names
    assert task.metric_mode in ("max", "min")
    Augmentations.model_validate(task.default_augmentations)  # every field known and in range
    assert set(task.default_augmentations) == set(Augmentations.model_fields)
    assert task.validate_options({}) == task.options_model()
    with pytest.raises(ValueError, match=rf"unknown model 'resnet19'.*{names[0]}"):
        task.model_spec("resnet19")


def test_importing_the_registry_does_not_import_torch() -> None:
    script = textwrap.dedent(
        """
        import sys
        from aistudio.tasks.registry import available_tasks, get_task
        import aistudio.tasks.models

        for name in available_tasks():
            task = get_task(name)
            task.validate_options({})
            task.model_spec(task.default_model)
        get_task("classification").target_info(["b", "a"], [None, None])
        get_task("regression").target_info([None, None], [1.0, 3.0])
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision"))
        assert not loaded, loaded
        print("torch-free")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "torch-free"
