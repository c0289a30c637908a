"""Serving-level validation cases (experiments/validation/serving_level.yaml): every case parses, names a scenario
file that loads and references catalog hardware and models; reduced-size runs of representative cases give a finite,
positive prediction within a loose band of the published figure. The accuracy check itself (25% tolerance) is
``fleetsim validate``, not this test."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest

from experiments.loading import load_scenario, read_yaml, resolve_paths
from experiments.validation import CASES_DIR, SCENARIO_METRICS, load_cases
from hardware_models.catalog import list_accelerators, list_models

SERVING = CASES_DIR / "serving_level.yaml"


def _cases():
    return load_cases(SERVING)


def test_serving_file_is_found_by_default_and_parses() -> None:
    from experiments.validation import default_case_files

    assert SERVING in default_case_files()
    cases = _cases()
    assert len(cases) >= 20
    ids = [case.id for case, _ in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"


@pytest.mark.parametrize("case", [c for c, _ in load_cases(SERVING)], ids=lambda c: c.id)
def test_case_references_loadable_scenario_on_catalog_hardware(case) -> None:  # noqa: ANN001
    assert case.scenario is not None and case.step is None
    assert case.metric in SCENARIO_METRICS
    assert case.expected > 0 and case.tolerance == 0.25
    assert case.source.strip()
    path = SERVING.parent / str(case.scenario)
    assert path.is_file(), f"{case.id}: missing scenario file {path}"
    scenario = load_scenario(path)
    assert scenario.model in list_models()
    for pool in scenario.fleet.pools:
        assert isinstance(pool.hardware, str) and pool.hardware in list_accelerators()


def _reduced(name: str, requests: int) -> dict:
    folder = SERVING.parent / "scenarios"
    raw = resolve_paths(copy.deepcopy(read_yaml(folder / name)), folder)  # a dict has no folder of its own
    raw["horizon"] = {"requests": requests}
    raw["warmup_s"] = 0.0
    arrival = raw["workload"]["arrival"]
    if arrival.get("type") == "offline":
        arrival.pop("requests", None)
    return raw


def _expected(name: str, metric: str) -> float:
    [case] = [c for c, _ in _cases() if str(c.scenario) == f"scenarios/{name}" and c.metric == metric]
    return case.expected


# A reduced run is not the published run, so its prediction is held to a band around the published figure that
# the reduction explains (the accuracy itself is fleetsim validate's): a factor of 2 either way when the reduced
# run keeps the published load, wider below where it lightens the load. Measured at the bundled seeds (value /
# expected):
# - mlperf Server: 300 Poisson arrivals from an empty fleet keep ~75 requests in flight per replica instead of the
#   ~860 of the 45,000-request run (Little's law), so the decode step is far shorter and latency comes out low:
#   TTFT p99 0.25x, TPOT p50 0.16x (the full run: 0.63x and 0.51x, README "Known limits"). Band [0.1x, 2x]: less
#   load cannot make it slower than published, and an idle fleet (0.2 requests/s) gives 0.19x and 0.13x, so below
#   0.1x the prediction would beat an empty fleet.
# - TensorRT-LLM 128/128 offline: 400 requests fill one batch (of up to 2,048) once, with ramp-up and drain, so
#   throughput is below the steady state: 0.74x. Band [0.5x, 2x].
# - NIM concurrency 25: a closed loop at the published concurrency is at its load from the first request:
#   1.005x. Band [0.5x, 2x].
@pytest.mark.parametrize(
    ("name", "requests", "metric", "lowest"),
    [
        ("mlperf41-llama2-70b-h100-server.yaml", 300, "ttft_p99_s", 0.1),
        ("mlperf41-llama2-70b-h100-server.yaml", 300, "tpot_p50_s", 0.1),
        ("trtllm-llama31-8b-fp8-h100-128-128.yaml", 400, "output_tokens_per_s", 0.5),
        ("nim-llama33-70b-fp8-h100-tp2-c25.yaml", 60, "tpot_mean_s", 0.5),
    ],
)
def test_reduced_runs_predict_near_the_published_figure(name: str, requests: int, metric: str, lowest: float) -> None:
    from experiments.runner import run

    scenario = load_scenario(_reduced(name, requests))
    result = run(scenario)
    value = SCENARIO_METRICS[metric](result.requests, scenario.warmup_s)
    assert math.isfinite(value) and value > 0
    assert (result.requests["status"] == "ok").all()
    expected = _expected(name, metric)
    assert lowest * expected <= value <= 2 * expected, f"{metric} {value:.4g} vs published {expected:.4g}"
