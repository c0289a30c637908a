"""Property: a valid scenario with unusual numbers (tiny horizons, a warm-up longer than the run, one
replica, huge or tiny rates, budgets and sizes) runs to records and a summary, or is refused with one line
per problem naming the field (a ScenarioError when loading, a ValueError when building, which the CLI prints
as ``error:`` lines and exit status 2) -- never another exception, never a traceback."""

from __future__ import annotations

import copy
import re
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from experiments import ScenarioError, load_scenario, run

BASES = [yaml.safe_load(p.read_text()) for p in sorted((Path(__file__).parents[2] / "experiments" / "scenarios")
                                                       .glob("*.yaml"))]
#: a problem line starts with the field it is about: ``fleet.pools[0]: ...``, ``workload.classes[2].share: ...``,
#: ``(scenario): ...`` (experiments.errors.format_path)
FIELD_LINE = re.compile(r"^(\(scenario\)|[A-Za-z_][\w-]*|\[[^\]]*\])(\.[^\s.\[\]'\"]+|\[[^\]]*\])*: \S")
#: how the examples of the last run of the property ended (checked by the test that runs it)
OUTCOMES: Counter[str] = Counter()


def numeric_paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in numeric_paths(v, prefix + (k,))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in numeric_paths(v, prefix + (i,))]
    return [prefix] if isinstance(node, (int, float)) and not isinstance(node, bool) else []


def assert_one_line_per_problem_naming_a_field(lines: list[str]) -> None:
    assert lines, "an error with no problem in it"
    for line in lines:
        assert isinstance(line, str) and line.strip() and "\n" not in line, repr(line)
        assert "Traceback" not in line and 'File "' not in line, line
        assert FIELD_LINE.match(line), f"the problem does not name its field: {line!r}"


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def unusual_numbers_run_or_fail_cleanly(data: st.DataObject) -> None:
    scenario = copy.deepcopy(data.draw(st.sampled_from(BASES)))
    scenario["horizon"] = {"requests": data.draw(st.sampled_from([1, 2, 7, 40]))}
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(numeric_paths(scenario)))
        parent = scenario
        for part in path[:-1]:
            parent = parent[part]
        old = parent[path[-1]]
        new = data.draw(st.sampled_from([0, 1, 2, 3, 1e-9, old * 10, old / 10, old + 1]))
        parent[path[-1]] = max(1, int(new)) if isinstance(old, int) else new
    try:
        loaded = load_scenario(scenario)
    except ScenarioError as exc:
        assert_one_line_per_problem_naming_a_field(exc.problems)
        assert str(exc).splitlines() == exc.problems  # what the CLI prints (no source label for a dict)
        outcome = "refused when loaded (ScenarioError)"
    else:
        try:
            result = run(loaded)
        except ValueError as exc:  # e.g. a model that no longer fits: the CLI prints it as lines, exit 2
            lines = exc.problems if isinstance(exc, ScenarioError) else str(exc).splitlines()
            assert_one_line_per_problem_naming_a_field(lines)
            outcome = f"refused when built ({type(exc).__name__})"
        else:
            records = result.requests
            assert records["request_id"].is_unique and len(records) <= loaded.horizon.requests
            assert set(records["status"].unique()) <= {"ok", "dropped", "failed", "unfinished"}
            assert result.summary["counts"]["all_records"] == len(records)
            outcome = "ran to records"
    event(outcome)
    OUTCOMES[outcome] += 1


def test_unusual_numbers_run_or_fail_cleanly() -> None:
    OUTCOMES.clear()
    unusual_numbers_run_or_fail_cleanly()
    print(f"outcomes of the examples: {dict(OUTCOMES)}")  # (the hypothesis events; -s shows them)
    # the property is about runs: most examples must get through loading and run to records, not be refused
    assert OUTCOMES["ran to records"] >= 30, dict(OUTCOMES)
