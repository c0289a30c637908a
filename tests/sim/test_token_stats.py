"""The inter-token histogram: quantiles within its bin resolution, exact means and counts."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from experiments import run
from sim.kv_cache import KVCache
from sim.request import Request
from sim.schedulers import ContinuousScheduler, build_policy
from sim.serving import LLMReplica, StepTimer
from sim.token_stats import BINS_PER_DECADE, TokenGapHistogram
from fakes import LinearModel

RESOLUTION = 10 ** (1 / BINS_PER_DECADE)  # ratio between neighbouring bin edges


def test_quantiles_match_exact_ones_within_a_bin() -> None:
    rng = np.random.default_rng(0)
    gaps = rng.lognormal(np.log(0.02), 0.7, 50_000)
    h = TokenGapHistogram()
    for chunk in np.array_split(gaps, 100):
        h.add(chunk.tolist(), 3)
    assert h.tokens == 3 * gaps.size
    assert np.isclose(h.summary()["mean"], gaps.mean())
    for q in (0.5, 0.9, 0.99):
        exact = np.quantile(gaps, q)
        assert exact / RESOLUTION <= h.quantile(q) <= exact * RESOLUTION


def test_itl_of_a_steady_batch_equals_its_tpot() -> None:
    scenario = {"name": "itl", "seed": 1, "horizon": {"requests": 16}, "model": "llama-3.1-8b", "precision": "fp8",
                "workload": {"arrival": {"type": "offline"}, "input_tokens": {"type": "fixed", "value": 128},
                             "output_tokens": {"type": "fixed", "value": 64}},
                "fleet": {"pools": [{"name": "gpu", "hardware": "nvidia-h100-sxm",
                                     "scheduler": {"type": "static", "max_batch_requests": 16}}]}}
    result = run(scenario)
    itl = result.summary["itl_s"]
    assert itl["tokens"] == 16 * 63
    assert np.isclose(itl["mean"], result.requests["tpot_s"].mean())


@pytest.mark.parametrize("fast", [True, False])
def test_gaps_of_iterations_ending_before_the_warm_up_are_not_counted(fast: bool) -> None:
    env = simpy.Environment()
    spec = ContinuousScheduler(type="continuous")
    timer = StepTimer(LinearModel(a_s=0.01, b_s=0.0, c_s=0.0))  # every iteration takes 10 ms
    replica = LLMReplica(env, 0, 0, lambda *_: None, build_policy(spec, KVCache(100_000)), timer, fast)
    replica.stats_from_s = 0.505
    replica.submit(Request(0, 0, 0, 100, 101, 0.0))
    env.run()
    # prefill ends at 0.01 s, then 100 decode iterations end at 0.02 .. 1.01 s: those from 0.51 s count
    assert replica.token_gaps.tokens == 51
