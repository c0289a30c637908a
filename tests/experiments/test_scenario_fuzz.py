"""Property: whatever a user writes into a scenario, loading either succeeds or fails with ScenarioError
(one line per problem, naming a field) -- never another exception, never a traceback."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiments import ScenarioError, load_scenario

#: a problem line starts with the field it is about (experiments.errors.format_path), as in test_run_fuzz
FIELD_LINE = re.compile(r"^(\(scenario\)|[A-Za-z_][\w-]*|\[[^\]]*\])(\.[^\s.\[\]'\"]+|\[[^\]]*\])*: \S")
SCENARIOS = sorted((Path(__file__).parents[2] / "experiments" / "scenarios").glob("*.yaml"))
BASES = [yaml.safe_load(p.read_text()) for p in SCENARIOS]

junk = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=5),
                                                                                     st.integers(), max_size=2),
)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, prefix + (i,))
    return out


def mutate(data: dict, path: tuple, action: str, value: Any) -> dict:
    data = copy.deepcopy(data)
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete" and isinstance(parent, dict):
        del parent[last]
    elif action == "rename" and isinstance(parent, dict):
        parent[str(last) + "x"] = parent.pop(last)
    else:
        parent[last] = value
    return data


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corrupted_scenarios_load_or_fail_with_a_field_message(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(BASES))
    path = data.draw(st.sampled_from(paths(base)))
    action = data.draw(st.sampled_from(["delete", "rename", "replace"]))
    broken = mutate(base, path, action, data.draw(junk))
    try:
        load_scenario(broken)
    except ScenarioError as exc:
        assert exc.problems and all(isinstance(p, str) and p and "\n" not in p for p in exc.problems)
        unnamed = [p for p in exc.problems if not FIELD_LINE.match(p)]
        assert not unnamed, f"problems that do not name their field: {unnamed}"
