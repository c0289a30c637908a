"""Loading: overrides, defaults, path resolution, the resolved scenario round trip."""

from __future__ import annotations

from pathlib import Path

import yaml

from experiments import load_scenario
from experiments.loading import DEFAULT_SCENARIO, parse_override
from experiments.results import scenario_yaml


def test_override_syntaxes() -> None:
    assert parse_override("fleet.pools[0].replicas=4") == (["fleet", "pools", 0, "replicas"], 4)
    assert parse_override("fleet.pools.1.name=gpu") == (["fleet", "pools", 1, "name"], "gpu")
    assert parse_override("workload.arrival={type: poisson, rate_per_s: 3}")[1] == {"type": "poisson", "rate_per_s": 3}


def test_overrides_and_seed_apply() -> None:
    s = load_scenario(DEFAULT_SCENARIO, ["fleet.pools[0].replicas=5", "workload.arrival.rate_per_s=12.5"], seed=99)
    assert s.fleet.pools[0].replicas == 5
    assert s.workload.arrival.rate_per_s == 12.5
    assert s.seed == 99


def test_resolved_yaml_round_trips() -> None:
    s = load_scenario(DEFAULT_SCENARIO)
    again = load_scenario(yaml.safe_load(scenario_yaml(s)))
    assert again == s


def test_plain_model_dump_loads_back() -> None:
    """A researcher's ``model_dump()`` (no ``by_alias``) gives the file's names (``mean``, not ``mean_``)."""
    s = load_scenario({
        "horizon": {"requests": 10}, "model": "llama-3.1-8b", "precision": "fp8",
        "workload": {"arrival": {"type": "poisson", "rate_per_s": 1.0},
                     "input_tokens": {"type": "lognormal", "mean": 300.0, "sigma": 0.5, "max": 4000},
                     "output_tokens": {"type": "gamma", "mean": 120.0, "cv": 0.8}},
        "fleet": {"pools": [{"name": "a", "hardware": "nvidia-h100-sxm"}]},
    })
    for mode in ("python", "json"):
        dumped = s.model_dump(mode=mode, exclude_none=True)
        assert dumped["workload"]["input_tokens"]["mean"] == 300.0 and "mean_" not in dumped["workload"]["input_tokens"]
        assert load_scenario(dumped) == s


def test_dict_source_is_not_mutated() -> None:
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    before = yaml.safe_dump(data)
    load_scenario(data, ["seed=3"])
    assert yaml.safe_dump(data) == before


def test_relative_paths_resolve_against_the_scenario_folder(tmp_path: Path) -> None:
    (tmp_path / "times.csv").write_text("t\n0.1\n0.2\n0.3\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "horizon: {requests: 10}\n"
        "workload: {arrival: {type: poisson, rate_per_s: 1}}\n"
        "fleet: {pools: [{name: a, hardware: {type: service, time_s: {type: empirical, path: times.csv, column: t}}}]}\n"
    )
    s = load_scenario(scenario)
    assert Path(s.fleet.pools[0].hardware.time_s.path) == (tmp_path / "times.csv").resolve()
