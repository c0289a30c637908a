"""Edge cases where the fast and step-by-step modes once parted, each the smallest scenario a differential fuzzer
found (random valid scenarios run in both modes, records and summaries compared exactly). Each names the rule
that now keeps the two together."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import experiments
from experiments import run

PREFIX_TRACE = [{"timestamp": 0, "input_length": 1024, "output_length": 1, "hash_ids": [1]},
                {"timestamp": 0, "input_length": 1000, "output_length": 1000, "hash_ids": [7]},
                {"timestamp": 1000, "input_length": 1030, "output_length": 5, "hash_ids": [1]}]


def both_modes(scenario: dict) -> tuple[experiments.Result, experiments.Result]:
    fast = run(scenario)
    step = run({**scenario, "engine": {"mode": "step"}})
    pd.testing.assert_frame_equal(fast.requests, step.requests, check_exact=True)
    drop = {"wall_s", "requests_per_wall_s"}
    assert {k: v for k, v in fast.summary.items() if k not in drop} == \
           {k: v for k, v in step.summary.items() if k not in drop}
    return fast, step


def gpu(**scheduler: object) -> dict:
    return {"name": "gpu", "hardware": "nvidia-h100-sxm", **({"scheduler": scheduler} if scheduler else {})}


def fixed(input_tokens: int, output_tokens: int) -> dict:
    return {"input_tokens": {"type": "fixed", "value": input_tokens},
            "output_tokens": {"type": "fixed", "value": output_tokens}}


def test_a_closed_loop_arrival_is_the_finish_time_to_the_last_bit() -> None:
    """Events fire at their exact time (``CallbackTimeout.at``): ``now + (t - now)`` missed ``t`` by an ulp,
    which differed between a run's one wake-up and the step mode's many."""
    fast, _ = both_modes({"name": "ulp", "horizon": {"requests": 2}, "model": "llama-3.1-8b", "precision": "fp8",
                          "workload": {"arrival": {"type": "closed_loop", "concurrency": 1}, **fixed(1000, 30)},
                          "fleet": {"pools": [gpu()]}})
    assert fast.requests["arrival_s"].iloc[1] == fast.requests["finish_s"].iloc[0]


def test_a_request_arriving_at_a_boundary_joins_where_the_step_mode_lets_it() -> None:
    """A replica's iteration-end wake-up fires before other events at that time, replicas in fleet order; a
    run cut by an arrival at one of its boundaries stops where the step mode would admit the request."""
    both_modes({"name": "tie", "seed": 0, "horizon": {"requests": 3}, "model": "llama-3.1-8b", "precision": "fp8",
                "workload": {"arrival": {"type": "closed_loop", "concurrency": 2},
                             "input_tokens": {"type": "fixed", "value": 1},
                             "output_tokens": {"type": "empirical", "values": [2, 100]}},
                "fleet": {"pools": [{**gpu(), "replicas": 2}], "router": {"type": "round_robin"}}})


def test_routing_at_a_tie_sees_the_same_loads_in_both_modes() -> None:
    both_modes({"name": "route", "seed": 1, "horizon": {"requests": 60}, "model": "llama-3.1-8b", "precision": "bf16",
                "workload": {"arrival": {"type": "closed_loop", "concurrency": 7,
                                         "think_time_s": {"type": "fixed", "value": 0.01}}, **fixed(1, 8)},
                "fleet": {"pools": [{"name": "p0", "hardware": "nvidia-h200", "replicas": 3,
                                     "scheduler": {"type": "static", "max_batch_requests": 1, "window_s": 0.0}}],
                          "router": {"type": "least_outstanding"}}})


def test_a_prefix_is_looked_up_at_the_boundary_where_the_request_is_queued(tmp_path: Path) -> None:
    """Requests that arrive during an iteration are queued at its end (``_admit_arrived``): a lookup at arrival
    saw the KV cache mid-run, before the step mode's evictions."""
    trace = tmp_path / "prefix.jsonl"
    trace.write_text("".join(json.dumps(row) + "\n" for row in PREFIX_TRACE))
    fast, _ = both_modes({"name": "prefix", "seed": 0, "horizon": {"requests": 3}, "model": "llama-3.1-8b",
                          "precision": "fp8", "workload": {"arrival": {"type": "trace", "path": str(trace),
                                                                       "format": "mooncake"}},
                          "fleet": {"pools": [gpu(type="continuous", kv_capacity_tokens=2048, prefix_caching=True,
                                                  prefix_block_tokens=1024)]}})
    assert fast.requests["cached_tokens"].iloc[2] == 0  # the long decode evicted the cached prefix by then


def test_at_a_time_horizon_a_request_that_arrived_mid_run_is_not_started(tmp_path: Path) -> None:
    trace = tmp_path / "late.jsonl"
    rows = [{"timestamp": 0, "input_length": 100, "output_length": 2000, "hash_ids": [1]},
            {"timestamp": 1000, "input_length": 100, "output_length": 10, "hash_ids": [2]}]
    trace.write_text("".join(json.dumps(row) + "\n" for row in rows))
    fast, _ = both_modes({"name": "late", "horizon": {"duration_s": 1.0001}, "model": "llama-3.1-8b",
                          "precision": "fp8", "workload": {"arrival": {"type": "trace", "path": str(trace),
                                                                       "format": "mooncake"}},
                          "fleet": {"pools": [gpu()]}})
    late = fast.requests.iloc[1]
    assert late["status"] == "unfinished" and pd.isna(late["start_s"])  # it had started 5 ms before arriving


def test_a_request_that_gives_itself_up_does_not_stall_the_replica() -> None:
    """A lower-priority request ahead of a higher-priority one in the running list runs out of KV and preempts
    itself: the iteration scheduled nothing, and the replica went idle with a running request, for ever (both
    requests unfinished; the fast mode's end time was a wake-up a cut run had left behind). It now schedules
    again at once, and a run ends at its last request."""
    fast, _ = both_modes({"name": "stall", "horizon": {"requests": 2}, "model": "llama-3.1-8b", "precision": "fp8",
                          "workload": {**fixed(16, 40), "classes": [
                              {"name": "hi", "priority": 0, "arrival": {"type": "periodic", "rate_per_s": 50}},
                              {"name": "lo", "priority": 1, "arrival": {"type": "offline", "requests": 1}}]},
                          "fleet": {"pools": [gpu(type="continuous", priority=True, kv_capacity_tokens=64,
                                                  kv_watermark=0.0)]}})
    assert (fast.requests["status"] == "ok").all() and fast.requests["preemptions"].sum() > 0
    assert fast.summary["end_s"] == fast.requests["finish_s"].max()


def test_a_disaggregated_request_counts_in_the_throughput_window() -> None:
    fast, _ = both_modes({"name": "end", "horizon": {"requests": 1}, "model": "llama-3.1-8b", "precision": "fp8",
                          "workload": {"arrival": {"type": "offline"}, **fixed(307, 30)},
                          "fleet": {"pools": [{**gpu(), "name": "pre", "role": "prefill"},
                                              {**gpu(), "name": "dec", "role": "decode"}],
                                    "kv_transfer": {"latency_s": 0.0123}}})
    assert fast.summary["throughput"]["requests_per_s"] > 0


@pytest.mark.parametrize("horizon", [{"requests": 300}, {"duration_s": 1.0}])
def test_closed_loop_clients_whose_every_request_is_refused(horizon: dict) -> None:
    """A prompt longer than the token budget is refused the instant it is issued, and a client without think
    time re-issues at once: bounded by requests, every one is recorded as dropped (this recursed until the stack
    ran out); bounded by time only, it would never end, and the run says so."""
    scenario = {"name": "refused", "horizon": horizon, "model": "llama-3.1-8b", "precision": "fp8",
                "workload": {"arrival": {"type": "closed_loop", "concurrency": 1}, **fixed(300, 10)},
                "fleet": {"pools": [gpu(type="continuous", max_batch_tokens=256)]}}
    if "requests" in horizon:
        fast, _ = both_modes(scenario)
        assert len(fast.requests) == 300 and (fast.requests["status"] == "dropped").all()
    else:
        with pytest.raises(ValueError, match=r"closed loop: 100,000 requests in a row were refused the instant they "
                                             r"were issued at t = 0 s \(last: prompt of 300 tokens exceeds"):
            run(scenario)
