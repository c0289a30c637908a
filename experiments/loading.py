"""Loading scenarios: YAML or a dict, ``--set dotted.key=value`` overrides, relative paths resolved.

Every problem comes back as one line naming the field path, the value and the rule (``ScenarioError``),
never a traceback and never a silent default for a misspelled key.
"""

from __future__ import annotations

import copy
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from experiments.errors import ScenarioError, problems_from_validation
from experiments.schema import Scenario

SCENARIO_DIR = Path(str(resources.files("experiments") / "scenarios"))
DEFAULT_SCENARIO = SCENARIO_DIR / "default.yaml"
_INDEX = re.compile(r"^(\w[\w-]*)\[(\d+)\]$")


def bundled_data_dir() -> Path:
    """The data shipped with the package (traces), against which relative paths resolve last."""
    return Path(str(resources.files("workloads") / "data"))


#: a document whose aliases expand to more nodes than this is refused (a "billion laughs" file)
MAX_EXPANDED_NODES = 1_000_000
#: YAML 1.2 floats: PyYAML (YAML 1.1) reads ``1e-3`` or ``5e6`` as strings
_FLOAT_12 = re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.\d*)?[eE][-+]?\d+$")


class ScenarioLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that reads ``1e-3`` as a number and refuses a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping (first on line {seen[key]})",
                    key_node.start_mark)
            if isinstance(key, str):
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


ScenarioLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))


def parse_yaml(text: str) -> Any:
    """One YAML document with the scenario loader; refuses alias bombs and absurd nesting."""
    data = yaml.load(text, Loader=ScenarioLoader)  # noqa: S506 - a SafeLoader subclass
    _check_size(data)
    return data


def _check_size(data: Any) -> None:
    sizes: dict[int, int] = {}

    def size(node: Any, depth: int) -> int:
        if depth > 100:
            raise ScenarioError(["invalid YAML: nested more than 100 levels deep"])
        if not isinstance(node, (dict, list)):
            return 1
        if id(node) not in sizes:  # an alias repeats an object: count what it expands to, once
            children = node.values() if isinstance(node, dict) else node
            sizes[id(node)] = 1 + sum(size(child, depth + 1) for child in children)
        return sizes[id(node)]

    total = size(data, 0)
    if total > MAX_EXPANDED_NODES:
        raise ScenarioError([f"invalid YAML: its aliases expand to {total:,} values (the limit is "
                             f"{MAX_EXPANDED_NODES:,})"])


def read_yaml(path: Path) -> Any:
    """The YAML document at ``path``; a syntax error is reported with its line and column."""
    if not path.exists():
        raise ScenarioError([f"file not found: {path}"])
    if path.is_dir():
        raise ScenarioError([f"{path}: is a directory, expected a scenario YAML file"])
    try:
        return parse_yaml(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ScenarioError([f"{where}invalid YAML: {exc.problem}"], str(path)) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"invalid YAML: {exc}"], str(path)) from None
    except RecursionError:
        raise ScenarioError(["invalid YAML: nested too deep"], str(path)) from None
    except ScenarioError as exc:
        raise ScenarioError(exc.problems, str(path)) from None


def parse_override(text: str) -> tuple[list[str | int], Any]:
    """``fleet.pools[0].replicas=4`` or ``fleet.pools.0.replicas=4`` -> (path, value parsed as YAML)."""
    if "=" not in text:
        raise ScenarioError([f"--set {text!r}: expected dotted.key=value"])
    key, raw = text.split("=", 1)
    if not key.strip():
        raise ScenarioError([f"--set {text!r}: the key is empty"])
    path: list[str | int] = []
    for part in key.strip().split("."):
        match = _INDEX.match(part)
        if match:
            path += [match.group(1), int(match.group(2))]
        elif part.isdigit():
            path.append(int(part))
        elif part:
            path.append(part)
        else:
            raise ScenarioError([f"--set {text!r}: empty part in the key"])
    try:
        value = parse_yaml(raw)
    except (yaml.YAMLError, RecursionError):
        value = raw
    return path, value


def apply_override(data: dict[str, Any], path: list[str | int], value: Any, text: str) -> None:
    """Set ``value`` at ``path`` in ``data`` (creating mappings on the way; list indices must exist)."""
    node: Any = data
    for depth, part in enumerate(path[:-1]):
        nxt = path[depth + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise ScenarioError([f"--set {text}: no item [{part}] at {_dotted(path[:depth])}"])
            node = node[part]
        else:
            if not isinstance(node, dict):
                raise ScenarioError([f"--set {text}: {_dotted(path[:depth])} is not a mapping"])
            if part not in node or node[part] is None:
                node[part] = [] if isinstance(nxt, int) else {}
            node = node[part]
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise ScenarioError([f"--set {text}: no item [{last}] at {_dotted(path[:-1])}"])
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ScenarioError([f"--set {text}: {_dotted(path[:-1])} is not a mapping"])


def _dotted(path: list[str | int]) -> str:
    return ".".join(str(p) for p in path) or "(scenario)"


def resolve_paths(node: Any, base_dir: Path | None) -> Any:
    """Relative ``path`` values resolve against the scenario's folder, then the bundled data."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "path" and isinstance(value, str) and not Path(value).is_absolute():
                out[key] = str(_resolve_one(value, base_dir))
            else:
                out[key] = resolve_paths(value, base_dir)
        return out
    if isinstance(node, list):
        return [resolve_paths(v, base_dir) for v in node]
    return node


def _resolve_one(value: str, base_dir: Path | None) -> Path:
    for root in ([base_dir] if base_dir else []) + [bundled_data_dir()]:
        candidate = root / value
        if candidate.exists():
            return candidate.resolve()
    return (base_dir / value) if base_dir else Path(value)


def load_scenario(
    source: str | Path | dict[str, Any] | Scenario,
    overrides: list[str] | tuple[str, ...] = (),
    seed: int | None = None,
) -> Scenario:
    """A validated :class:`Scenario` from a YAML file, a dict or a scenario, with overrides applied."""
    if isinstance(source, Scenario) and not overrides and seed is None:
        return source
    base_dir: Path | None = None
    label = ""
    if isinstance(source, Scenario):
        data: Any = source.model_dump(by_alias=True, exclude_none=True, mode="json")
    elif isinstance(source, dict):
        data = copy.deepcopy(source)
    else:
        path = Path(source)
        data = read_yaml(path)
        base_dir = path.resolve().parent
        label = str(path)
    if data is None:
        raise ScenarioError(["the scenario is empty"], label)
    if not isinstance(data, dict):
        raise ScenarioError([f"(scenario): must be a mapping of keys to values, got {type(data).__name__}"], label)
    for text in overrides:
        key_path, value = parse_override(text)
        apply_override(data, key_path, value, text)
    if seed is not None:
        data["seed"] = seed
    data = resolve_paths(data, base_dir)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(problems_from_validation(exc, data, Scenario), label) from None
