"""Validation case files: non-finite figures, duplicate ids (in one file and across files) and missing or invalid
scenario files are refused when the files load, once each, with the file, the case index and the field."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from experiments.cli import main
from experiments.errors import ScenarioError
from experiments.validation import Case, evaluate, load_case_files, load_cases

STEP = {"hardware": "nvidia-a100-80gb", "model": "llama-2-7b", "precision": "fp16", "parallelism": {"tensor": 1},
        "kind": "decode", "batch": 1, "context_tokens": 64}


def case(case_id: str, **fields: object) -> dict:
    return {"id": case_id, "source": "test", "step": STEP, "metric": "tpot_s", "expected": 0.009,
            "tolerance": 0.25, **fields}


def scenario_case(case_id: str, scenario: object) -> dict:
    return {"id": case_id, "source": "test", "scenario": scenario, "metric": "output_tokens_per_s",
            "expected": 100.0, "tolerance": 0.25}


def write(path: Path, cases: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cases))
    return path


def validate(*files: Path) -> tuple[int, str]:
    args = ["validate"]
    for f in files:
        args += ["--cases", str(f)]
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.output


@pytest.mark.parametrize("field", ["expected", "tolerance"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_case_itself_refuses_a_non_finite_figure(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match="finite number"):
        Case.model_validate(case("a", **{field: value}))


def test_a_nan_expected_and_inf_tolerance_are_refused_naming_the_fields(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("- {id: a, source: s, metric: tpot_s, expected: .nan, tolerance: .inf, step: "
                    + yaml.safe_dump(STEP, default_flow_style=True).strip() + "}\n")
    code, output = validate(path)
    assert code == 2, output
    assert f"{path}: [0].expected: must be a finite number, got nan" in output
    assert f"{path}: [0].tolerance: must be a finite number, got inf" in output
    assert "Traceback" not in output


def test_a_case_id_twice_in_one_file_is_refused_naming_both(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", [case("a"), case("b"), case("a")])
    code, output = validate(path)
    assert code == 2, output
    assert f"{path}: [2].id: case id 'a' is already used by [0]" in output


def test_a_case_id_in_two_files_is_refused_naming_both_places(tmp_path: Path) -> None:
    one = write(tmp_path / "one.yaml", [case("a"), case("b")])
    two = write(tmp_path / "two.yaml", [case("c"), case("b")])
    with pytest.raises(ScenarioError) as info:
        load_case_files([one, two])
    assert str(info.value) == (f"{two}: [1].id: case id 'b' is already used by {one}: [1]; "
                               "ids must be unique across the case files")
    assert [suite for suite, _ in load_case_files([one])] == ["one", "one"]


def test_load_case_files_reports_every_file_at_once(tmp_path: Path) -> None:
    one = write(tmp_path / "one.yaml", [case("a", expected=math.nan)])
    two = write(tmp_path / "two.yaml", [case("b", tolerance=0)])
    with pytest.raises(ScenarioError) as info:
        load_case_files([one, two])
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f"{one}: [0].expected:") and lines[1].startswith(f"{two}: [0].tolerance:")


def test_a_missing_scenario_file_is_found_at_load_time_once_with_its_resolved_path(tmp_path: Path,
                                                                                   monkeypatch) -> None:
    path = write(tmp_path / "cases" / "c.yaml", [case("a"), scenario_case("b", "missing.yaml")])
    monkeypatch.chdir(tmp_path)  # the case file named relative to the working directory
    code, output = validate(Path("cases/c.yaml"))
    assert code == 2, output
    resolved = (tmp_path / "cases" / "missing.yaml").resolve()
    assert output.strip() == f"error: cases/c.yaml: [1].scenario: file not found: {resolved}"
    assert path.exists()


def test_an_invalid_scenario_file_is_reported_at_load_time(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("seed: x\n")
    path = write(tmp_path / "c.yaml", [scenario_case("b", "bad.yaml"), scenario_case("c", {"seed": 1})])
    with pytest.raises(ScenarioError) as info:
        load_cases(path)
    lines = str(info.value).splitlines()
    assert f"{path}: [0].scenario: {(tmp_path / 'bad.yaml').resolve()}: seed: must be an integer, got 'x'" in lines
    assert f"{path}: [1].scenario: horizon: required field is missing" in lines


def test_a_scenario_shared_by_cases_is_checked_once_and_each_case_names_its_problems(tmp_path: Path,
                                                                                      monkeypatch) -> None:
    import experiments.validation as validation

    (tmp_path / "bad.yaml").write_text("seed: x\n")
    path = write(tmp_path / "c.yaml", [scenario_case(c, "bad.yaml") for c in ("p50", "p99", "mean")])
    loads = []
    real = validation.load_scenario
    monkeypatch.setattr(validation, "load_scenario", lambda source: loads.append(source) or real(source))
    with pytest.raises(ScenarioError) as info:
        load_cases(path)
    assert len(loads) == 1
    where = [line.split(": ", 2)[1] for line in str(info.value).splitlines()]
    assert where == sorted(where) and where.count("[0].scenario") == where.count("[2].scenario") > 0
    assert set(where) == {"[0].scenario", "[1].scenario", "[2].scenario"}


def test_evaluate_does_not_prefix_the_case_id_the_caller_adds_it(tmp_path: Path) -> None:
    broken = Case.model_validate(scenario_case("b", "missing.yaml"))
    with pytest.raises(ScenarioError) as info:
        evaluate(broken, tmp_path)
    assert "case b" not in str(info.value)
    assert str(tmp_path / "missing.yaml") in str(info.value)
