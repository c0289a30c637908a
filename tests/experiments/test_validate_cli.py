"""``fleetsim validate``: the table, the overall line, one line per case file, and the exit status."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from experiments.cli import main

STEP = {"hardware": "nvidia-a100-80gb", "model": "llama-2-7b", "precision": "fp16", "parallelism": {"tensor": 1},
        "kind": "decode", "batch": 1, "context_tokens": 64}


def case(case_id: str, expected: float) -> dict:
    return {"id": case_id, "source": "test", "step": STEP, "metric": "tpot_s", "expected": expected,
            "tolerance": 0.25}


def write(path: Path, cases: list[dict]) -> Path:
    path.write_text(yaml.safe_dump(cases))
    return path


def test_each_case_file_gets_its_own_line_and_an_outside_case_fails(tmp_path: Path) -> None:
    # the model predicts ~9.6 ms for this decode step (lmdeploy measured 9 ms)
    near = write(tmp_path / "near.yaml", [case("near-a", 0.009), case("near-b", 0.0095)])
    far = write(tmp_path / "far.yaml", [case("far-a", 0.002)])
    result = CliRunner().invoke(main, ["validate", "--cases", str(near), "--cases", str(far)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("3 cases: median error") and "1 outside tolerance" in line for line in lines)
    assert any(line.startswith("  near: 2 cases") and "0 outside tolerance" in line for line in lines)
    assert any(line.startswith("  far: 1 cases") and "1 outside tolerance" in line for line in lines)
    assert "OUTSIDE" in result.output


def test_one_file_prints_no_breakdown_and_passes(tmp_path: Path) -> None:
    near = write(tmp_path / "near.yaml", [case("near-a", 0.009)])
    result = CliRunner().invoke(main, ["validate", "--cases", str(near)])
    assert result.exit_code == 0, result.output
    assert "1 cases: median error" in result.output and "  near:" not in result.output


def test_a_bad_case_file_names_each_case_field_before_anything_runs(tmp_path: Path) -> None:
    both = {**case("both", 0.009), "scenario": "elsewhere.yaml"}
    bad_step_metric = {**case("step-metric", 0.009), "metric": "ttft_p99_s"}
    bad_scenario_metric = {**case("scenario-metric", 0.009), "metric": "tpot_s", "step": None,
                           "scenario": "elsewhere.yaml"}
    path = write(tmp_path / "bad.yaml", [case("good", 0.009), both, bad_step_metric, bad_scenario_metric])
    result = CliRunner().invoke(main, ["validate", "--cases", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{path}: [1]: give exactly one of 'scenario' or 'step'" in result.output
    assert "[2].metric: a step case takes one of tpot_s, step_time_s" in result.output
    assert "[3].metric: must be one of" in result.output and "got 'tpot_s'" in result.output
    assert "Traceback" not in result.output
