"""Pydantic validation errors in plain words, one line: the CLI prints it, the pages show it.

``name: must not be empty`` rather than ``name: String should have at least 1 character``.
Used for every schema error of the project (event data, training config, export options), so a
refusal reads the same wherever it comes from. Unknown error kinds keep pydantic's message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

MAX_ERRORS = 5
"""How many errors one line names; the rest are counted."""


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _chars(n: Any) -> str:
    return f"{n} character" if n == 1 else f"{n} characters"


def _too_short(ctx: Mapping[str, Any]) -> str:
    n = ctx.get("min_length")
    return "must not be empty" if n == 1 else f"must have at least {_chars(n)}"


_WORDS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda ctx: "is required",
    "extra_forbidden": lambda ctx: "is not a known field",
    "string_too_short": _too_short,
    "string_too_long": lambda ctx: f"must have at most {_chars(ctx.get('max_length'))}",
    "too_short": lambda ctx: f"must have at least {ctx.get('min_length')} items",
    "too_long": lambda ctx: f"must have at most {ctx.get('max_length')} items",
    "greater_than": lambda ctx: f"must be greater than {_number(ctx.get('gt'))}",
    "greater_than_equal": lambda ctx: f"must be at least {_number(ctx.get('ge'))}",
    "less_than": lambda ctx: f"must be less than {_number(ctx.get('lt'))}",
    "less_than_equal": lambda ctx: f"must be at most {_number(ctx.get('le'))}",
    "int_parsing": lambda ctx: "must be a whole number",
    "int_from_float": lambda ctx: "must be a whole number",
    "int_type": lambda ctx: "must be a whole number",
    "float_parsing": lambda ctx: "must be a number",
    "float_type": lambda ctx: "must be a number",
    "finite_number": lambda ctx: "must be a finite number",
    "bool_parsing": lambda ctx: "must be true or false",
    "bool_type": lambda ctx: "must be true or false",
    "string_type": lambda ctx: "must be text",
    "string_unicode": lambda ctx: "must be valid UTF-8 text (a name of bytes that are not UTF-8?)",
    "dict_type": lambda ctx: "must be an object",
    "list_type": lambda ctx: "must be a list",
    "literal_error": lambda ctx: f"must be {ctx.get('expected')}",
    "enum": lambda ctx: f"must be {ctx.get('expected')}",
    "string_pattern_mismatch": lambda ctx: "is not in the expected form",
    "union_tag_invalid": lambda ctx: (
        f"kind {ctx.get('tag')!r} is not one of {ctx.get('expected_tags')}"
    ),
    "union_tag_not_found": lambda ctx: f"needs a {ctx.get('discriminator', 'kind')}",
}


def error_words(error: Mapping[str, Any]) -> str:
    """One pydantic error (an item of ``ValidationError.errors()``) in words, without where."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    wording = _WORDS.get(kind)
    if wording is not None:
        return wording(ctx)
    return str(error.get("msg", "is invalid")).removeprefix("Value error, ")


def error_place(error: Mapping[str, Any], prefix: str = "") -> str:
    """Where the error is: its field path (``augmentations.rotation_degrees``), after ``prefix``."""
    where = ".".join(_shown(p) for p in error.get("loc", ()) if p != "__root__")
    return f"{prefix}{where}" if where else prefix.rstrip(".")


def _shown(part: object) -> str:
    """A field path part as text on one line: a key with control or odd characters (a script's
    ``"\\n"`` key) is shown quoted with escapes, and a very long one cut."""
    text = str(part)
    if text.isprintable() and text.strip() == text and text:
        return text if len(text) <= 60 else text[:57] + "..."
    shown = ascii(text)
    return shown if len(shown) <= 60 else shown[:57] + "..."


_BOUND_ERRORS = {
    "greater_than": "low",
    "greater_than_equal": "low",
    "less_than": "high",
    "less_than_equal": "high",
}


def _field_schema(model: type[BaseModel], loc: Sequence[Any]) -> Mapping[str, Any] | None:
    """The JSON schema of the field at ``loc`` of ``model`` (None: not a plain field path)."""
    root = model.model_json_schema()
    node: Mapping[str, Any] = root
    for part in loc:
        if not isinstance(part, str):
            return None
        ref = node.get("$ref")
        if isinstance(ref, str):
            node = root.get("$defs", {}).get(ref.rsplit("/", 1)[-1], {})
        node = (node.get("properties") or {}).get(part)
        if node is None:
            return None
    return node


def _other_limit(error: Mapping[str, Any], model: type[BaseModel] | None) -> str:
    """The field's other limit in words (``at most 10000``), so a refusal states the whole rule."""
    side = _BOUND_ERRORS.get(str(error.get("type", "")))
    if side is None or model is None:
        return ""
    field = _field_schema(model, error.get("loc", ()))
    if field is None:
        return ""
    if side == "low":
        if "maximum" in field:
            return f"at most {_number(field['maximum'])}"
        if "exclusiveMaximum" in field:
            return f"less than {_number(field['exclusiveMaximum'])}"
        return ""
    if "minimum" in field:
        return f"at least {_number(field['minimum'])}"
    if "exclusiveMinimum" in field:
        return f"greater than {_number(field['exclusiveMinimum'])}"
    return ""


def describe(exc: ValidationError, prefix: str = "", model: type[BaseModel] | None = None) -> str:
    """Every error of ``exc`` as ``field: words``, joined by ``; `` (at most ``MAX_ERRORS``).

    With ``model`` (the schema ``exc`` came from), a number out of range states both of its
    field's limits: ``epochs: must be at least 1, at most 10000``.
    """
    errors = exc.errors()
    parts = []
    for error in errors[:MAX_ERRORS]:
        place = error_place(error, prefix)
        words = error_words(error)
        other = _other_limit(error, model)
        if other:
            low_first = _BOUND_ERRORS[str(error["type"])] == "low"
            words = f"{words}, {other}" if low_first else f"must be {other}, {words[8:]}"
        parts.append(f"{place}: {words}" if place else words)
    if len(errors) > MAX_ERRORS:
        parts.append(f"and {len(errors) - MAX_ERRORS} more")
    return "; ".join(parts)
