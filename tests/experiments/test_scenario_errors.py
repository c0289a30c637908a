"""Broken scenario files: each gives one line naming the field, the value and the rule; exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from experiments import ScenarioError, load_scenario
from experiments.cli import main
from hardware_models import list_accelerators, list_models

BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yaml"))


def expected_message(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: <message fragment>'"
    return first.removeprefix("# expect: ")


def test_there_are_at_least_ten_distinct_broken_files() -> None:
    assert len({expected_message(p) for p in BROKEN}) >= 10


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_loader_names_the_field(path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    assert expected_message(path) in text
    assert all(line.startswith(str(path)) for line in text.splitlines()), text


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_cli_exits_2_with_one_line_per_problem(path: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 2, result.output
    assert expected_message(path) in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_no_traceback_from_the_real_console_script(tmp_path: Path) -> None:
    path = next(p for p in BROKEN if p.stem == "zero_replicas")
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.cli", "run", str(path), "--quiet"],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {path}: fleet.pools[1].replicas: must be >= 1, got 0"


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    bad = tmp_path / "many.yaml"
    bad.write_text(
        "horizon: {duration_s: -1}\n"
        "workload: {arrival: {type: poisson, rate_per_s: 0}}\n"
        "fleet: {pools: [{name: a, hardware: {type: service, time_s: {type: fixed, value: 1}}, replicas: 0}]}\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(bad)
    assert len(info.value.problems) == 3, info.value.problems


def test_catalog_names_precision_and_slice_are_checked_at_load_all_at_once() -> None:
    bad = {
        "horizon": {"requests": 10}, "model": "llama-9", "precision": "fp8",
        "workload": {"arrival": {"type": "poisson", "rate_per_s": 1},
                     "input_tokens": {"type": "fixed", "value": 10}, "output_tokens": {"type": "fixed", "value": 10}},
        "fleet": {"pools": [{"name": "a", "hardware": "nvidia-h99"},
                            {"name": "b", "hardware": "cerebras-cs3"},
                            {"name": "c", "hardware": "nvidia-h100-sxm", "parallelism": {"tensor": 8, "slice": "2x4"}},
                            {"name": "d", "hardware": "cerebras-cs3", "precision": "int4"},
                            {"name": "e", "hardware": "google-tpu-v5e", "precision": "bf16", "parallelism": {"tensor": 8, "slice": "2x4"}}]},
    }
    with pytest.raises(ScenarioError) as info:
        load_scenario(bad)  # before any performance model is built
    assert info.value.problems == [
        "model: unknown model 'llama-9'; valid: " + ", ".join(list_models()),
        "fleet.pools[0].hardware: unknown accelerator 'nvidia-h99'; valid: " + ", ".join(list_accelerators()),
        "precision (inherited by fleet.pools[1]): cerebras-cs3 does not support precision 'fp8'; supported: bf16, "
        "fp16; set fleet.pools[1].precision to override",
        "fleet.pools[2].parallelism.slice: only TPU replicas are placed on a torus slice; nvidia-h100-sxm is a gpu "
        "accelerator, got slice '2x4'",
        "fleet.pools[3].precision: cerebras-cs3 does not support precision 'int4'; supported: bf16, fp16",
    ]


def test_missing_file_and_bad_override(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    good = Path(__file__).parents[2] / "experiments" / "scenarios" / "default.yaml"
    result = CliRunner().invoke(main, ["run", str(good), "--set", "fleet.pools[5].replicas=1"])
    assert result.exit_code == 2
    assert "no item [5] at fleet.pools" in result.output
    result = CliRunner().invoke(main, ["run", str(good), "--set", "novalue"])
    assert result.exit_code == 2
    assert "expected dotted.key=value" in result.output


def test_bad_cli_argument_exits_2() -> None:
    result = CliRunner().invoke(main, ["run", "--seed", "-4"])
    assert result.exit_code == 2


def test_hardware_pool_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "horizon: {requests: 10}\nmodel: llama-3.1-405b\nprecision: bf16\n"
        "workload: {arrival: {type: poisson, rate_per_s: 1}, input_tokens: {type: fixed, value: 100},"
        " output_tokens: {type: fixed, value: 10}}\n"
        "fleet: {pools: [{name: gpu, hardware: nvidia-h100-sxm, parallelism: {tensor: 8}}]}\n"
    )
    cases = {
        (): "fleet.pools[0]: llama-3.1-405b in bf16 needs at least 11 nvidia-h100-sxm for weights alone",
        ("fleet.pools[0].hardware=nvidia-h900",): "fleet.pools[0].hardware: unknown accelerator 'nvidia-h900'",
        ("model=llama-9",): "model: unknown model 'llama-9'",
        ("precision=fp4",): "does not support precision 'fp4'",
    }
    for sets, message in cases.items():
        args = ["run", str(path), "--quiet"] + [x for s in sets for x in ("--set", s)]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output


def test_bad_trace_row_names_its_line_and_skip_mode_says_what_it_skipped(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                      "2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,-3,20\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text("horizon: {requests: 10}\nmodel: llama-3.1-8b\nprecision: fp8\n"
                        "workload: {arrival: {type: trace, path: bad.csv, format: azure}}\n"
                        "fleet: {pools: [{name: gpu, hardware: nvidia-h100-sxm}]}\n")
    strict = CliRunner().invoke(main, ["run", str(scenario), "--quiet", "--out", str(tmp_path / "a")])
    assert strict.exit_code == 2 and "bad.csv line 3: ContextTokens: must be a non-negative integer" in strict.output
    skip = CliRunner().invoke(main, ["run", str(scenario), "--quiet", "--out", str(tmp_path / "b"),
                                     "--set", "workload.arrival.on_error=skip"])
    assert skip.exit_code == 0, skip.output
    assert "warning: 1 trace row(s) skipped: ContextTokens: must be a non-negative integer" in skip.output
