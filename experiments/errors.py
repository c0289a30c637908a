"""Turning pydantic's validation errors into one line per problem: field path, value and rule."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError


class ScenarioError(ValueError):
    """A scenario that cannot run; ``problems`` holds one human-readable line per problem."""

    def __init__(self, problems: list[str], source: str = "") -> None:
        self.problems = problems
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__("\n".join(prefix + p for p in problems))


def _strip_tags(loc: tuple[Any, ...], data: Any) -> list[Any]:
    """Drop the discriminator tags pydantic inserts into error locations, by walking the input data."""
    path: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part not in node and node.get("type") == part:
            continue  # the tag of a discriminated union member, e.g. ('arrival', 'poisson', 'rate_per_s')
        if node is not None and not isinstance(node, (dict, list)) and isinstance(part, str):
            continue  # a scalar has no children: this part is a union member's tag
        path.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return path


def format_path(path: list[Any]) -> str:
    """``fleet.pools[1].replicas``; a key that is empty, unprintable or holds a separator is quoted
    (``workload['\\n']``), so a message naming it stays on one line and cannot be misread."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _plain_key(str(part)):
            out += ("." if out else "") + str(part)
        else:
            out += f"[{str(part)!r}]"
    return out or "(scenario)"


def _plain_key(key: str) -> bool:
    return bool(key) and key.isprintable() and not any(c in key for c in " .[]'\"")


def _model_classes(annotation: Any) -> list[type[BaseModel]]:
    """Every pydantic model class an annotation may hold (through Optional, Union, list, Annotated)."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if origin is typing.Annotated:
        return _model_classes(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, dict):
        found: list[type[BaseModel]] = []
        for arg in typing.get_args(annotation):
            found.extend(_model_classes(arg))
        return found
    return []


def allowed_keys(root: type[BaseModel], path: list[Any], data: Any) -> list[str]:
    """Field names (aliases) allowed at ``path``, found by walking the schema alongside the data."""
    candidates = [root]
    node = data
    for part in path:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        nxt: list[type[BaseModel]] = []
        for model in candidates:
            for name, field in model.model_fields.items():
                if (field.alias or name) == part:
                    nxt.extend(_model_classes(field.annotation))
        node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and "type" in node:
            typed = [m for m in nxt if _accepts_type(m, node["type"])]
            nxt = typed or nxt
        candidates = nxt
    keys: list[str] = []
    for model in candidates:
        for name, field in model.model_fields.items():
            key = field.alias or name
            if key not in keys:
                keys.append(key)
    return keys


def _accepts_type(model: type[BaseModel], tag: Any) -> bool:
    field = model.model_fields.get("type")
    return field is not None and tag in typing.get_args(field.annotation)


#: pydantic error kinds whose rule needs no context: the expected type
_TYPE_RULES = {
    **dict.fromkeys(("int_parsing", "int_type", "int_from_float"), "must be an integer"),
    **dict.fromkeys(("float_parsing", "float_type"), "must be a number"),
    **dict.fromkeys(("bool_parsing", "bool_type"), "must be true or false"),
    "string_type": "must be a string",
    **dict.fromkeys(("model_type", "dict_type", "model_attributes_type"), "must be a mapping"),
    "list_type": "must be a list",
    "finite_number": "must be a finite number",
    "tuple_type": "must be a list",
}


def _rule(error: dict[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    got = f", got {value!r}"
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']}{got}"
    if kind == "greater_than":
        if isinstance(ctx["gt"], int) and isinstance(value, int):
            return f"must be >= {ctx['gt'] + 1}{got}"
        return f"must be > {ctx['gt']:g}{got}"
    if kind == "less_than_equal":
        return f"must be <= {ctx['le']}{got}"
    if kind == "less_than":
        return f"must be < {ctx['lt']}{got}"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        return f"unknown type {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return f"needs a 'type' key; expected one of the types of this field{got}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}{got}"
    if kind in _TYPE_RULES:
        return f"{_TYPE_RULES[kind]}{got}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s){got}"
    if kind == "string_too_long":
        return f"must have at most {ctx.get('max_length')} characters{got}"
    if kind == "string_too_short":
        return f"must not be empty{got}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return f"{error['msg']}{got}"


def problems_from_validation(exc: ValidationError, data: Any, root: type[BaseModel]) -> list[str]:
    """One line per problem, e.g. ``fleet.pools[1].replicas: must be >= 1, got 0``."""
    lines: list[str] = []
    for error in exc.errors():
        path = _strip_tags(error["loc"], data)
        if error["type"] == "extra_forbidden":
            key = path[-1]
            allowed = allowed_keys(root, path[:-1], data)
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            more = f"; did you mean {hint[0]!r}?" if hint else (f"; allowed: {', '.join(allowed)}" if allowed else "")
            line = f"{format_path(path)}: unknown key{more}"
        elif error["type"] in ("model_type", "dict_type") and not path:
            line = f"(scenario): must be a mapping of keys to values, got {type(error.get('input')).__name__}"
        elif error["type"] == "value_error" and not path:
            lines.extend(x for x in _rule(error).splitlines() if x not in lines)  # lines carry their paths
            continue
        else:
            line = f"{format_path(path)}: {_rule(error)}"
        if line not in lines:
            lines.append(line)
    return lines
