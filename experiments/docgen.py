"""The scenario key reference, generated from the schema itself so it cannot drift from the code.

    python -m experiments.docgen > docs/scenario-reference.md

A test checks that the committed file equals this output.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from experiments.schema import Scenario

HEADER = """# Scenario file reference

Generated from the schema by `python -m experiments.docgen`; do not edit by hand. Every model rejects
unknown keys. A key marked *required* has no default; one marked *filled in* gets the default its
description gives when it is absent. Components chosen by `type` list their own keys.

Token lengths are drawn as real numbers, then rounded to the nearest whole token; a length distribution
whose lowest possible draw is below 1 token is rejected at load (a continuous law's rare draw below 0.5
counts as 1 token). Durations (service times, think times) must not be able to draw negative values.

Numbers must be finite (no `.inf` or `.nan`) and are not coerced from other types: `true` is not 1 and
`"3"` is not 3. Exponent notation (`1e-3`, `5e6`) reads as a number, as in YAML 1.2. A key given twice in
one mapping is an error, and so is a file whose aliases expand to more than a million values.
"""


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_models_in(arg))
    return found


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if annotation is type(None):
        return "null"
    if origin is typing.Annotated:
        inner, *meta = typing.get_args(annotation)
        rules = [r for m in meta for r in _rules(m)]
        return _type_name(inner) + (f" ({', '.join(rules)})" if rules else "")
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin in (list, dict, tuple):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in typing.get_args(annotation))}]"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _rules(meta: Any) -> list[str]:
    rules = []
    for name, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="), ("min_length", "min length"),
                         ("max_length", "max length")):
        value = getattr(meta, name, None)
        if value is not None:
            rules.append(f"{symbol} {value}")
    return rules


def _constraints(field: FieldInfo) -> str:
    return ", ".join(r for meta in field.metadata for r in _rules(meta))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        # a field a model validator fills in when it is absent says so: its description starts "default:"
        return "*filled in*" if (field.description or "").startswith("default:") else "*required*"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, list):
            value = [v.model_dump(by_alias=True, exclude_none=True) if isinstance(v, BaseModel) else v for v in value]
        elif isinstance(value, BaseModel):
            value = value.model_dump(by_alias=True, exclude_none=True)
        return f"`{value}`"
    return "" if field.default is PydanticUndefined else f"`{field.default}`"


def model_section(model: type[BaseModel]) -> str:
    doc = " ".join((model.__doc__ or "").strip().split("\n\n")[0].split())
    lines = [f"## {model.__name__}", "", doc, "", "| key | type | default | rule | description |",
             "|---|---|---|---|---|"]
    for name, field in model.model_fields.items():
        key = field.alias or name
        desc = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | {_constraints(field)} | {desc} |")
    return "\n".join(lines) + "\n"


def reference() -> str:
    seen: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [Scenario]
    while todo:
        model = todo.pop(0)
        if model in seen:
            continue
        seen.append(model)
        for field in model.model_fields.values():
            todo.extend(m for m in _models_in(field.annotation) if m not in seen)
    return HEADER + "\n" + "\n".join(model_section(m) for m in seen)


if __name__ == "__main__":
    print(reference(), end="")
