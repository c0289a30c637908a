"""The fast (event-skipping) mode and the step-by-step mode give identical records."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from experiments import run

BASE = {
    "name": "equivalence",
    "seed": 5,
    "horizon": {"requests": 400},
    "model": "llama-3.1-8b",
    "precision": "fp8",
    "workload": {
        "arrival": {"type": "poisson", "rate_per_s": 25},
        "input_tokens": {"type": "lognormal", "mean": 900, "sigma": 0.9, "max": 6000},
        "output_tokens": {"type": "lognormal", "mean": 150, "sigma": 0.9, "max": 800},
    },
    "fleet": {"pools": [{"name": "gpu", "hardware": "nvidia-h100-sxm", "replicas": 2}],
              "router": {"type": "round_robin"}},
}

SCHEDULERS = {
    "continuous": {"type": "continuous", "max_batch_tokens": 8192},
    "chunked": {"type": "chunked_prefill", "max_batch_tokens": 1024, "chunk_tokens": 512},
    "static-window": {"type": "static", "max_batch_requests": 8, "window_s": 0.05},
    "preemption-recompute": {"type": "continuous", "kv_capacity_tokens": 12_000},
    "preemption-swap": {"type": "chunked_prefill", "kv_capacity_tokens": 12_000, "preemption": "swap"},
    "priority": {"type": "continuous", "priority": True, "max_batch_requests": 8},
    "full-sequence": {"type": "chunked_prefill", "kv_capacity_tokens": 12_000, "admission": "full_sequence"},
    "prefill-first": {"type": "continuous", "prefill_first": True, "kv_capacity_tokens": 20_000},
    "host-overhead": {"type": "chunked_prefill", "host_overhead_s_per_request": 2e-5},
}


def scenario(scheduler: dict, mode: str) -> dict:
    s = copy.deepcopy(BASE)
    s["fleet"]["pools"][0]["scheduler"] = scheduler
    s["engine"] = {"mode": mode}
    s["workload"]["classes"] = [{"name": "hi", "share": 0.3, "priority": 0}, {"name": "lo", "share": 0.7,
                                                                             "priority": 1}]
    return s


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_fast_mode_equals_step_mode(name: str) -> None:
    fast_run = run(scenario(SCHEDULERS[name], "fast"))
    step_run = run(scenario(SCHEDULERS[name], "step"))
    fast, step = fast_run.requests, step_run.requests
    pd.testing.assert_frame_equal(fast, step, check_exact=True)
    assert (fast["status"] == "ok").all()
    # the KV peak too: a run of decode steps takes its blocks at once, but no block is freed inside a run
    assert fast_run.summary["pools"]["gpu"]["kv_cache"] == step_run.summary["pools"]["gpu"]["kv_cache"]
    if name.startswith("preemption"):
        assert fast["preemptions"].sum() > 0, "the scenario must exercise preemption"


def test_fast_mode_equals_step_mode_under_kv_thrash() -> None:
    """Long prompts, all queued at t=0, a KV cache a few sequences deep: decoders are preempted over and over
    (a scaled-down TensorRT-LLM 20000/2000 case, where an earlier fast mode lost most of the preemptions)."""
    s = copy.deepcopy(BASE)
    s["horizon"] = {"requests": 40}
    s["workload"] = {"arrival": {"type": "offline"}, "input_tokens": {"type": "fixed", "value": 4000},
                     "output_tokens": {"type": "fixed", "value": 400}}
    s["fleet"]["pools"][0].update(replicas=1, scheduler={"type": "chunked_prefill", "max_batch_tokens": 2048,
                                                         "kv_capacity_tokens": 20_000})
    fast = run(s).requests
    step = run({**s, "engine": {"mode": "step"}}).requests
    pd.testing.assert_frame_equal(fast, step, check_exact=True)
    assert (fast["status"] == "ok").all()
    assert fast["preemptions"].sum() > 40, "the scenario must thrash the KV cache"


def test_fast_mode_equals_step_mode_with_prefix_caching_on_a_real_trace() -> None:
    scenario = {
        "name": "prefix", "seed": 2, "horizon": {"requests": 300}, "model": "llama-3.1-8b", "precision": "fp8",
        "workload": {"arrival": {"type": "trace", "path": "traces/mooncake_conversation.jsonl", "format": "mooncake"}},
        "fleet": {"pools": [{"name": "gpu", "hardware": "nvidia-h100-sxm", "replicas": 2,
                             "scheduler": {"type": "chunked_prefill", "prefix_caching": True}}]},
    }
    fast = run(scenario).requests
    step = run({**scenario, "engine": {"mode": "step"}}).requests
    pd.testing.assert_frame_equal(fast, step, check_exact=True)
    assert fast["cached_tokens"].sum() > 0, "the trace's shared prefixes must hit the cache"


DISAGGREGATED = {
    "name": "disaggregated", "seed": 3, "horizon": {"duration_s": 60}, "model": "llama-3.1-70b",
    "precision": "fp8",
    "workload": {"arrival": {"type": "poisson", "rate_per_s": 8},
                 "lengths": {"type": "trace_pairs", "path": "traces/azure_conv_2023.csv", "format": "azure"}},
    "fleet": {"pools": [
        {"name": "pre", "hardware": "nvidia-h100-sxm", "parallelism": {"tensor": 4}, "role": "prefill",
         "scheduler": {"type": "chunked_prefill"}},
        {"name": "dec", "hardware": "nvidia-h100-sxm", "parallelism": {"tensor": 4}, "replicas": 2,
         "role": "decode"}]},
}


def test_fast_mode_equals_step_mode_disaggregated() -> None:
    fast = run(DISAGGREGATED).requests
    step = run({**DISAGGREGATED, "engine": {"mode": "step"}}).requests
    pd.testing.assert_frame_equal(fast, step, check_exact=True)
    ok = fast[fast["status"] == "ok"]
    multi = ok[ok["output_tokens"] > 1]
    assert (multi["pool"] == "dec").all() and multi["transfer_s"].notna().all()
    assert (ok[ok["output_tokens"] == 1]["pool"] == "pre").all()
    # the first token comes out of prefill, before the KV cache leaves for the decode side
    assert (multi["first_token_s"] + multi["transfer_s"] <= multi["finish_s"]).all()


def test_fast_mode_equals_step_mode_behind_a_front_end_batcher() -> None:
    s = scenario({"type": "continuous", "prefill_first": True}, "fast")
    s["fleet"]["batcher"] = {"window_s": 0.3, "max_requests": 16}
    fast = run(s).requests
    step = run({**s, "engine": {"mode": "step"}}).requests
    pd.testing.assert_frame_equal(fast, step, check_exact=True)
    assert (fast["status"] == "ok").all()


def test_a_time_horizon_inside_a_decode_run_gives_equal_kv_peaks_and_token_gaps() -> None:
    """A duration horizon stops the run in the middle of a long decode run: the fast mode applies the
    iterations that ended before it (as the step mode has), so the summaries agree, not only the records."""
    s = {"name": "horizon", "seed": 1, "horizon": {"duration_s": 3}, "model": "llama-3.1-8b", "precision": "fp8",
         "workload": {"arrival": {"type": "poisson", "rate_per_s": 20},
                      "input_tokens": {"type": "fixed", "value": 100}, "output_tokens": {"type": "fixed", "value": 4000}},
         "fleet": {"pools": [{"name": "gpu", "hardware": "nvidia-h100-sxm",
                              "scheduler": {"type": "continuous", "kv_capacity_tokens": 200_000}}]}}
    fast, step = run({**s, "engine": {"mode": "fast"}}), run({**s, "engine": {"mode": "step"}})
    pd.testing.assert_frame_equal(fast.requests, step.requests, check_exact=True)
    assert (fast.requests["status"] == "unfinished").all()  # every request was still decoding at the horizon
    assert fast.summary["pools"]["gpu"]["kv_cache"] == step.summary["pools"]["gpu"]["kv_cache"]
    assert fast.summary["itl_s"] == step.summary["itl_s"] and fast.summary["itl_s"]["tokens"] > 0


def test_fast_mode_equals_step_mode_with_batches_in_flight_through_pipeline_stages() -> None:
    """Two replicas of two pipeline stages, two batches in flight each (four engines with half a KV cache), one
    of them prefilling for a decode pool: the engines of a replica share its record index and its KV link."""
    s = copy.deepcopy(BASE)
    s["fleet"] = {"pools": [
        {"name": "pre", "hardware": "nvidia-h100-sxm", "parallelism": {"tensor": 2, "pipeline": 2}, "role": "prefill",
         "scheduler": {"type": "chunked_prefill", "max_batch_tokens": 2048}},
        {"name": "gpu", "hardware": "nvidia-h100-sxm", "parallelism": {"pipeline": 2}, "replicas": 2,
         "role": "decode", "scheduler": {"type": "continuous", "kv_capacity_tokens": 20_000}}],
        "router": {"type": "round_robin"}}
    fast = run(s).requests
    step = run({**s, "engine": {"mode": "step"}}).requests
    pd.testing.assert_frame_equal(fast, step, check_exact=True)
    assert (fast["status"] == "ok").all() and fast["preemptions"].sum() > 0
    assert set(fast["replica"]) == {0, 1}  # physical replicas, not engines
