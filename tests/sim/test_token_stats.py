"""The inter-token histogram: quantiles within its bin resolution, exact means and counts."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from experiments import run
from sim.kv_cache import KVCache
from sim.request import Request
from sim.schedulers import ChunkedPrefillScheduler, ContinuousScheduler, build_policy
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


def replica_with(spec: ContinuousScheduler, fast: bool,
                 finished: dict[int, float]) -> tuple[simpy.Environment, LLMReplica]:
    """A replica whose iterations take 10 ms plus 1 ms per new token (the KV read is free); it writes the
    finish time of each request into ``finished``."""
    env = simpy.Environment()
    timer = StepTimer(LinearModel(a_s=0.01, b_s=0.001, c_s=0.0))

    def on_done(req: Request, *_: object) -> None:
        finished[req.id] = req.finish_s

    return env, LLMReplica(env, 0, 0, on_done, build_policy(spec, KVCache(100_000)), timer, fast)


def submit_at(env: simpy.Environment, replica: LLMReplica, at_s: float, req: Request) -> None:
    def arrive(_: simpy.Event) -> None:
        replica.submit(req)

    env.timeout(at_s).callbacks.append(arrive)


@pytest.mark.parametrize("fast", [True, False])
def test_a_mixed_iteration_gives_a_gap_only_to_the_decoding_request(fast: bool) -> None:
    finished: dict[int, float] = {}
    env, replica = replica_with(ContinuousScheduler(type="continuous"), fast, finished)
    submit_at(env, replica, 0.0, Request(0, 0, 0, 100, 4, 0.0))
    submit_at(env, replica, 0.115, Request(1, 0, 0, 50, 1, 0.115))
    env.run()
    # A: prefill [0, 0.110]; decode [0.110, 0.121]; B arrives at 0.115 and is admitted at the next boundary:
    # A's decode token and B's 50-token prompt share [0.121, 0.182] (61 ms); A's last decode [0.182, 0.193].
    # A's three output tokens after its first come after gaps of 11, 61 and 11 ms; B's only token is its
    # first (a time to first token, not an inter-token gap).
    assert finished == pytest.approx({0: 0.193, 1: 0.182}, rel=1e-12)
    h = replica.token_gaps
    assert h.tokens == 3
    assert h.total_s == pytest.approx(0.011 + 0.061 + 0.011, rel=1e-12)
    assert h.quantile(0.5) == pytest.approx(0.011, rel=RESOLUTION - 1)
    assert h.quantile(0.99) == pytest.approx(0.061, rel=RESOLUTION - 1)


@pytest.mark.parametrize("fast", [True, False])
def test_a_one_token_prefill_chunk_is_not_an_inter_token_gap(fast: bool) -> None:
    spec = ChunkedPrefillScheduler(type="chunked_prefill", chunk_tokens=50)
    finished: dict[int, float] = {}
    env, replica = replica_with(spec, fast, finished)
    submit_at(env, replica, 0.0, Request(0, 0, 0, 20, 4, 0.0))
    submit_at(env, replica, 0.0, Request(1, 0, 0, 51, 1, 0.0))
    env.run()
    # [0, 0.080]: A's 20-token prompt and B's first chunk of 50 (70 new tokens); [0.080, 0.092]: A's first
    # decode and B's last prompt token, a chunk of one token that yields B's first (and only) output token;
    # then A's last two decodes of 11 ms. Only A's tokens after its first come after inter-token gaps.
    assert finished == pytest.approx({0: 0.114, 1: 0.092}, rel=1e-12)
    h = replica.token_gaps
    assert h.tokens == 3
    assert h.total_s == pytest.approx(0.012 + 0.011 + 0.011, rel=1e-12)
