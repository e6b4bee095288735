"""Pydantic errors in words: every kind the project's schemas produce reads plainly."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from events import InvalidEventError, registry
from events.validation import MAX_ERRORS, describe, error_words


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    code: str = Field(default="ab", min_length=2)
    epochs: int = Field(default=1, ge=1, le=1000)
    lr: float = Field(default=0.1, gt=0, lt=10)
    kind: Literal["onnx", "torchscript"] = "onnx"
    tags: list[str] = Field(default_factory=list, max_length=2)
    flag: bool = False

    @field_validator("name")
    @classmethod
    def _no_tabs(cls, value: str) -> str:
        if "\t" in value:
            raise ValueError("must not contain control characters")
        return value


def _words(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        _Form.model_validate(data)
    return describe(caught.value)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": ""}, "name: must not be empty"),
        ({"name": "x" * 81}, "name: must have at most 80 characters"),
        ({"name": "a", "code": "a"}, "code: must have at least 2 characters"),
        ({"name": "a\tb"}, "name: must not contain control characters"),
        ({"name": "a", "epochs": 0}, "epochs: must be at least 1"),
        ({"name": "a", "epochs": 1001}, "epochs: must be at most 1000"),
        ({"name": "a", "epochs": 1.5}, "epochs: must be a whole number"),
        ({"name": "a", "epochs": "many"}, "epochs: must be a whole number"),
        ({"name": "a", "lr": 0}, "lr: must be greater than 0"),
        ({"name": "a", "lr": 10}, "lr: must be less than 10"),
        ({"name": "a", "lr": "fast"}, "lr: must be a number"),
        ({"name": "a", "kind": "tflite"}, "kind: must be 'onnx' or 'torchscript'"),
        ({"name": "a", "tags": ["a", "b", "c"]}, "tags: must have at most 2 items"),
        ({"name": "a", "flag": "maybe"}, "flag: must be true or false"),
        ({"name": 3}, "name: must be text"),
        ({}, "name: is required"),
        ({"name": "a", "colour": "red"}, "colour: is not a known field"),
    ],
)
def test_each_kind_of_error_in_words(data: dict[str, Any], expected: str) -> None:
    assert _words(data) == expected


def test_several_errors_are_joined_and_counted_beyond_the_limit() -> None:
    data = {f"extra{i}": i for i in range(MAX_ERRORS + 2)}
    text = _words(data)
    assert text.startswith("name: is required; extra0: is not a known field")
    assert text.endswith("and 3 more")
    assert text.count(";") == MAX_ERRORS


def test_a_prefix_names_the_nested_place() -> None:
    with pytest.raises(ValidationError) as caught:
        _Form.model_validate({"name": "a", "epochs": 0})
    text = describe(caught.value, prefix="task_options.")
    assert text == "task_options.epochs: must be at least 1"


def test_an_unknown_kind_keeps_pydantics_message() -> None:
    assert error_words({"type": "something_new", "msg": "Something odd"}) == "Something odd"


def test_event_data_errors_read_the_same() -> None:
    with pytest.raises(InvalidEventError, match=r"^ProjectCreated: name: must not be empty"):
        registry.validate(
            "ProjectCreated", {"project_id": "proj-0000abcd", "name": "", "task": "regression"}
        )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": "a", "epochs": 0}, "epochs: must be at least 1, at most 1000"),
        ({"name": "a", "epochs": 1001}, "epochs: must be at least 1, at most 1000"),
        ({"name": "a", "lr": 0}, "lr: must be greater than 0, less than 10"),
        ({"name": "a", "lr": 10}, "lr: must be greater than 0, less than 10"),
    ],
)
def test_with_its_schema_a_number_out_of_range_states_both_limits(
    data: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        _Form.model_validate(data)
    assert describe(caught.value, model=_Form) == expected
    assert describe(caught.value) != expected, "without the schema, only the limit crossed"
