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
