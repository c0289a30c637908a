"""Random streams are independent per component: the workload draws from its own ``SeedSequence`` child, so
changing the router (even to one that draws random numbers) leaves every request's arrival time and lengths
bit-identical, while changing the seed changes them.

20,000 requests span three of the workload's 8,192-request chunks, so later chunks are drawn after the router
has been drawing for a while: a stream shared with the router would show there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments import run

REQUESTS = 20_000
WORKLOAD_COLUMNS = ["arrival_s", "input_tokens", "output_tokens", "class"]


def scenario(router: dict, seed: int = 21) -> dict:
    return {
        "name": "streams", "seed": seed, "horizon": {"requests": REQUESTS},
        "workload": {
            "arrival": {"type": "poisson", "rate_per_s": 40},
            "input_tokens": {"type": "lognormal", "mean": 500, "sigma": 1.0, "max": 8000},
            "output_tokens": {"type": "lognormal", "mean": 100, "sigma": 1.0, "max": 2000},
            "classes": [{"name": "a", "share": 0.3}, {"name": "b", "share": 0.7}],
        },
        "fleet": {
            "pools": [
                {"name": "p", "hardware": {"type": "service", "time_s": {"type": "exponential", "mean": 0.1}},
                 "replicas": 4},
                {"name": "q", "hardware": {"type": "service", "time_s": {"type": "exponential", "mean": 0.1}},
                 "replicas": 2},
            ],
            "router": router,
        },
    }


def requests(router: dict, seed: int = 21) -> pd.DataFrame:
    df = run(scenario(router, seed)).requests
    assert len(df) == REQUESTS
    assert df["request_id"].tolist() == list(range(REQUESTS))
    return df


@pytest.fixture(scope="module")
def baseline() -> pd.DataFrame:
    return requests({"type": "round_robin"})


@pytest.mark.parametrize("router", [
    {"type": "random"},
    {"type": "power_of_two"},
    {"type": "least_outstanding"},
    {"type": "class_affinity", "rules": {"a": "q"}, "fallback": "random"},
], ids=lambda r: r["type"] if r["type"] != "class_affinity" else "class_affinity-random")
def test_the_router_does_not_move_the_workload(baseline: pd.DataFrame, router: dict) -> None:
    other = requests(router)
    for column in WORKLOAD_COLUMNS:
        pd.testing.assert_series_equal(baseline[column], other[column], check_exact=True)
    # and the router did change something: the replicas chosen differ
    assert not np.array_equal(baseline["replica"].to_numpy(), other["replica"].to_numpy())


def test_the_seed_moves_the_workload(baseline: pd.DataFrame) -> None:
    other = requests({"type": "round_robin"}, seed=22)
    a, b = baseline, other
    # continuous draws: no two runs share an arrival time; lengths and classes differ in most rows
    assert not np.any(a["arrival_s"].to_numpy() == b["arrival_s"].to_numpy())
    assert np.mean(a["input_tokens"].to_numpy() != b["input_tokens"].to_numpy()) > 0.9
    assert np.mean(a["output_tokens"].to_numpy() != b["output_tokens"].to_numpy()) > 0.9
    assert np.mean(a["class"].to_numpy() != b["class"].to_numpy()) > 0.3  # 2 x 0.3 x 0.7 = 0.42 expected
