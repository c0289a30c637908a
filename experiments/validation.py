"""Validation against published measurements (DESIGN.md, "Validation cases").

A case file is a YAML list; each case has ``id``, ``source``, ``metric``, ``expected``, ``tolerance``
(relative) and either ``scenario`` (inline, or a path relative to the case file) run through the engine,
or ``step`` priced directly by the hardware model (``hardware_models.calibration``).
"""

from __future__ import annotations

import fnmatch
import math
import multiprocessing
import re
import statistics
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, model_validator

from experiments.errors import ScenarioError, problems_from_validation
from experiments.loading import load_scenario, read_yaml
from hardware_models.calibration import METRICS as STEP_METRICS
from workloads.spec import Spec

_FIELD_FIRST = re.compile(r"^[A-Za-z_][\w-]*[.\[:]")  # a problem line that starts with its field path
CASES_DIR = Path(str(resources.files("experiments") / "validation"))


def _completed(df: pd.DataFrame, warmup_s: float) -> pd.DataFrame:
    return df[(df["status"] == "ok") & (df["arrival_s"] >= warmup_s)]


def output_tokens_per_s(df: pd.DataFrame, warmup_s: float) -> float:
    """Output tokens of completed requests / (last finish - first arrival)."""
    done = _completed(df, warmup_s)
    span = done["finish_s"].max() - done["arrival_s"].min()
    return float(done["output_tokens"].sum() / span) if span > 0 else math.nan


def requests_per_s(df: pd.DataFrame, warmup_s: float) -> float:
    """Completed requests / (last finish - first arrival)."""
    done = _completed(df, warmup_s)
    span = done["finish_s"].max() - done["arrival_s"].min()
    return float(len(done) / span) if span > 0 else math.nan


def tokens_per_s_per_user(df: pd.DataFrame, warmup_s: float) -> float:
    """Mean over completed requests of 1 / tpot_s: the streaming speed one user sees."""
    tpot = _completed(df, warmup_s)["tpot_s"].to_numpy(dtype=np.float64)
    tpot = tpot[np.isfinite(tpot) & (tpot > 0)]
    return float(np.mean(1.0 / tpot)) if tpot.size else math.nan


def _quantile(column: str, q: float):  # noqa: ANN202 - a metric function factory
    def metric(df: pd.DataFrame, warmup_s: float) -> float:
        values = _completed(df, warmup_s)[column].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        return float(np.quantile(values, q)) if values.size else math.nan

    return metric


def _mean(column: str):  # noqa: ANN202
    def metric(df: pd.DataFrame, warmup_s: float) -> float:
        values = _completed(df, warmup_s)[column].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        return float(values.mean()) if values.size else math.nan

    return metric


SCENARIO_METRICS = {
    "output_tokens_per_s": output_tokens_per_s,
    "tokens_per_s_per_user": tokens_per_s_per_user,
    "requests_per_s": requests_per_s,
    **{f"{col}_p{name}_s": _quantile(f"{col}_s", q) for col in ("ttft", "tpot", "e2e", "queue")
       for name, q in (("50", 0.5), ("90", 0.9), ("99", 0.99))},
    **{f"{col}_mean_s": _mean(f"{col}_s") for col in ("ttft", "tpot", "e2e", "queue")},
}


class Case(Spec):
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    metric: str
    expected: float
    tolerance: float = Field(gt=0)
    scenario: dict[str, Any] | str | None = None
    step: dict[str, Any] | None = None
    notes: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> "Case":
        if (self.scenario is None) == (self.step is None):
            raise ValueError("give exactly one of 'scenario' or 'step'")
        if self.scenario is not None and self.metric not in SCENARIO_METRICS:
            raise ValueError(f"metric: must be one of {', '.join(sorted(SCENARIO_METRICS))}, got {self.metric!r}")
        if self.step is not None and self.metric not in STEP_METRICS:
            raise ValueError(f"metric: a step case takes one of {', '.join(STEP_METRICS)}, got {self.metric!r}")
        return self


def load_cases(path: Path) -> list[tuple[Case, Path]]:
    """The cases of one file, each with the directory its scenario path is relative to; every problem of the
    file at once (a ScenarioError), including a case id given twice and a scenario that is missing or invalid."""
    data = read_yaml(path)
    if not isinstance(data, list):
        raise ScenarioError(["a validation file must be a YAML list of cases"], str(path))
    cases, problems = [], []
    first: dict[str, int] = {}
    checked: dict[str, list[str]] = {}  # a scenario shared by several cases is loaded once
    for i, raw in enumerate(data):
        if not isinstance(raw, dict):
            problems.append(f"[{i}]: a case must be a mapping of keys to values, got {type(raw).__name__}")
            continue
        try:
            case = Case.model_validate(raw)
        except ValidationError as exc:
            problems += [f"[{i}].{line}" if _FIELD_FIRST.match(line) else f"[{i}]: {line}"
                         for line in problems_from_validation(exc, raw, Case)]
            continue
        if case.id in first:
            problems.append(f"[{i}].id: case id {case.id!r} is already used by [{first[case.id]}]; ids must be unique")
        first.setdefault(case.id, i)
        key = repr(case.scenario) if isinstance(case.scenario, dict) else str(case.scenario)
        if key not in checked:
            checked[key] = _scenario_problems(case, path.parent)
        problems += [f"[{i}].scenario: {line}" for line in checked[key]]
        cases.append((case, path.parent))
    if problems:
        raise ScenarioError(problems, str(path))
    return cases


def _scenario_problems(case: Case, base_dir: Path) -> list[str]:
    """Why a case's scenario (a file beside the case file, or inline) cannot load; checked before anything runs."""
    if case.scenario is None:
        return []
    source = scenario_source(case, base_dir)
    if isinstance(source, Path) and not source.exists():
        return [f"file not found: {source}"]
    if isinstance(source, Path) and not source.is_file():
        return [f"not a file: {source}"]
    try:
        load_scenario(source)
    except ScenarioError as exc:
        return str(exc).splitlines()
    return []


def load_case_files(files: list[Path]) -> list[tuple[str, tuple[Case, Path]]]:
    """``(file stem, (case, base dir))`` for every case of every file, as ``fleetsim validate`` runs them; the
    problems of every file at once, and a case id used in two files named with both places."""
    loaded: list[tuple[str, tuple[Case, Path]]] = []
    problems: list[str] = []
    where: dict[str, str] = {}  # case id -> "FILE: [index]" of its first use
    for f in files:
        try:
            cases = load_cases(f)
        except ScenarioError as exc:
            problems += str(exc).splitlines()
            continue
        if not cases:
            problems.append(f"{f}: no cases (a case file is a YAML list of cases)")
        for i, (case, base) in enumerate(cases):
            here = f"{f}: [{i}]"
            if case.id in where:
                problems.append(f"{here}.id: case id {case.id!r} is already used by {where[case.id]}; "
                                "ids must be unique across the case files")
            else:
                where[case.id] = here
            loaded.append((f.stem, (case, base)))
    if problems:
        raise ScenarioError(problems)
    return loaded


def select_cases(loaded: list[tuple[str, tuple[Case, Path]]], patterns: list[str]) -> list[tuple[str, tuple[Case, Path]]]:
    """The cases whose id matches one of the shell-style ``patterns`` (all of them when there is none); a
    pattern that matches no case is a ScenarioError naming it (a misspelt id must not pass as "no cases")."""
    if not patterns:
        return loaded
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(case.id, p) for _, (case, _) in loaded)]
    if unmatched:
        raise ScenarioError([f"--case {p!r}: matches no case id (ids look like {loaded[0][1][0].id!r}; * matches "
                             "any text, ? one character, [...] one of those characters)" for p in unmatched])
    return [item for item in loaded if any(fnmatch.fnmatchcase(item[1][0].id, p) for p in patterns)]


def default_case_files() -> list[Path]:
    return sorted(CASES_DIR.glob("*.yaml"))


def scenario_path(case: Case, base_dir: Path) -> Path:
    """The scenario file of a case that names one, resolved against the case file's directory."""
    return (base_dir / str(case.scenario)).resolve()


def scenario_source(case: Case, base_dir: Path) -> dict[str, Any] | Path:
    """A scenario case's scenario: the inline mapping, or its file resolved against the case file's directory."""
    return case.scenario if isinstance(case.scenario, dict) else scenario_path(case, base_dir)


def source_key(source: Path | dict[str, Any]) -> str:
    """One string per scenario (an inline mapping's sorted items, or a file's resolved path): cases with equal
    keys run the same scenario."""
    return repr(sorted(source.items())) if isinstance(source, dict) else str(Path(source).resolve())


class ScenarioRuns:
    """The last scenario run and its records, so that consecutive cases on one scenario (its TTFT and TPOT
    percentiles, say) run it once: the engine is deterministic, so a rerun would give the same records. Only
    the last run is kept (a case file lists a scenario's cases together), bounding the memory to one run."""

    def __init__(self) -> None:
        self._key: str | None = None
        self._run: tuple[pd.DataFrame, float, str] | None = None

    def records(self, source: Path | dict[str, Any]) -> tuple[pd.DataFrame, float, str]:
        """(records, warm-up end in s, hardware) of the scenario at ``source`` (a file, or an inline scenario);
        hardware names its pools' SKUs, ``+`` between several."""
        key = source_key(source)
        if key != self._key or self._run is None:
            from experiments.runner import run

            scenario = load_scenario(source)
            skus = dict.fromkeys(p.hardware if isinstance(p.hardware, str) else "service" for p in scenario.fleet.pools)
            self._key, self._run = key, (run(scenario).requests, scenario.warmup_s, "+".join(skus))
        return self._run


def predict(case: Case, base_dir: Path, runs: ScenarioRuns | None = None) -> tuple[float, str]:
    """The case's predicted value and the hardware it was predicted on."""
    if case.step is not None:
        from hardware_models.calibration import predict as predict_step

        return float(predict_step(case.step, case.metric)), str(case.step.get("hardware", "?"))
    source = scenario_source(case, base_dir)
    requests, warmup_s, hardware = (runs or ScenarioRuns()).records(source)
    return SCENARIO_METRICS[case.metric](requests, warmup_s), hardware


def metric_kind(metric: str) -> str:
    """What a case measures: throughput, a tail latency (p90/p99), or a latency (a median, a mean or one step)."""
    if metric.endswith("_per_s"):
        return "throughput"
    if metric.endswith(("_p90_s", "_p99_s")):
        return "tail latency (p90, p99)"
    return "latency (median, mean or one step)"


def evaluate(case: Case, base_dir: Path, runs: ScenarioRuns | None = None) -> dict[str, Any]:
    """Predict one case and compare; a ScenarioError carries the scenario's own problems (the caller, e.g.
    ``fleetsim validate``, names the case: prefixing it here too printed ``case b: case b: ...``). ``runs``
    reuses the records of the previous case's scenario when it is the same one."""
    predicted, hardware = predict(case, base_dir, runs)
    error = abs(predicted - case.expected) / abs(case.expected) if case.expected else math.inf
    return {"id": case.id, "metric": case.metric, "predicted": predicted, "expected": case.expected,
            "relative_error": error, "tolerance": case.tolerance,
            "ok": bool(math.isfinite(error) and error <= case.tolerance), "source": case.source,
            "hardware": hardware, "kind": metric_kind(case.metric)}


class CaseFailure(Exception):
    """A case that could not be predicted: its id and the problem (plain arguments, so that it crosses from a
    worker process to the caller)."""

    def __init__(self, case_id: str, message: str) -> None:
        super().__init__(case_id, message)
        self.case_id = case_id
        self.message = message


def _run_key(case: Case, base_dir: Path) -> str | None:
    """What a case runs: its scenario (file or inline), or None for a step case (priced, nothing to run)."""
    return None if case.step is not None else source_key(scenario_source(case, base_dir))


def case_groups(cases: list[tuple[Case, Path]]) -> list[list[tuple[Case, Path]]]:
    """The cases in order, cut into runs of consecutive cases on one scenario (or consecutive step cases): the
    unit one worker evaluates, so that a scenario's cases share its run."""
    groups: list[list[tuple[Case, Path]]] = []
    keys: list[str | None] = []
    for case, base in cases:
        key = _run_key(case, base)
        if groups and key == keys[-1]:
            groups[-1].append((case, base))
        else:
            groups.append([(case, base)])
            keys.append(key)
    return groups


def evaluate_group(group: list[tuple[Case, Path]]) -> list[dict[str, Any]]:
    """Evaluate consecutive cases, sharing one scenario run; a case that cannot be predicted raises CaseFailure."""
    runs = ScenarioRuns()
    rows = []
    for case, base in group:
        try:
            rows.append(evaluate(case, base, runs))
        except (ScenarioError, ValueError, KeyError) as exc:
            raise CaseFailure(case.id, str(exc)) from None
    return rows


def evaluate_cases(cases: list[tuple[Case, Path]], jobs: int = 1,
                   on_group: Callable[[list[tuple[Case, Path]]], None] | None = None) -> list[dict[str, Any]]:
    """Every case's row, in the cases' order. ``jobs`` > 1 evaluates groups (``case_groups``) in that many worker
    processes; the engine is deterministic, so the rows do not depend on it. ``on_group`` is called with each
    group when it is done (in completion order)."""
    groups = case_groups(cases)
    done: list[list[dict[str, Any]] | None] = [None] * len(groups)
    if jobs <= 1 or len(groups) < 2:
        for i, group in enumerate(groups):
            done[i] = evaluate_group(group)
            if on_group is not None:
                on_group(group)
    else:
        pool = ProcessPoolExecutor(max_workers=min(jobs, len(groups)), mp_context=multiprocessing.get_context("spawn"))
        try:
            futures = {pool.submit(evaluate_group, group): i for i, group in enumerate(groups)}
            for future in as_completed(futures):
                i = futures[future]
                done[i] = future.result()
                if on_group is not None:
                    on_group(groups[i])
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return [row for rows in done if rows is not None for row in rows]


def error_summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    errors = [r["relative_error"] for r in rows]
    return {"cases": len(rows), "median_relative_error": statistics.median(errors) if errors else math.nan,
            "worst_relative_error": max(errors) if errors else math.nan,
            "outside_tolerance": sum(not r["ok"] for r in rows)}
