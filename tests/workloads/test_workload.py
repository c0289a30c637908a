"""Tenants with their own arrivals, trace-pair lengths, ServeGen mix, chunks, determinism, bundled scenarios."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from wl_helpers import TRACES, read_all, source
from workloads.servegen import ServeGenMix
from workloads.traces import open_trace
from workloads.workload import Workload

SCENARIOS = Path(__file__).resolve().parents[2] / "experiments" / "scenarios"
CODE = str(TRACES / "azure_code_2023.csv")
CONV = str(TRACES / "azure_conv_2023.csv")
SERVEGEN = str(TRACES / "servegen" / "deepseek-r1")
FIXED = {"input_tokens": {"type": "fixed", "value": 10}, "output_tokens": {"type": "fixed", "value": 2}}


def collect(workload: dict, seed: int = 1, **cut: float) -> dict[str, np.ndarray]:
    chunks = list(source(workload, seed).chunks(**cut))  # type: ignore[arg-type]
    return {
        name: np.concatenate([getattr(c, name) for c in chunks])
        for name in ("arrival_s", "input_tokens", "output_tokens", "class_index")
    }


def test_tenants_with_own_arrivals_are_merged_by_time() -> None:
    workload = {
        "classes": [
            {"name": "chat", "priority": 0, "slo": {"ttft_s": 0.5}, "arrival": {"type": "trace", "path": CONV}},
            {"name": "batch", "priority": 1, "arrival": {"type": "poisson", "rate_per_s": 3.0}, **FIXED},
            {"name": "bg", "arrival": {"type": "periodic", "rate_per_s": 0.5},
             "input_tokens": {"type": "fixed", "value": 99}, "output_tokens": {"type": "fixed", "value": 9}},
        ]
    }
    out = collect(workload, until_s=1200.0)
    assert np.all(np.diff(out["arrival_s"]) >= 0)
    conv = read_all(open_trace(CONV))
    chat = out["class_index"] == 0
    assert chat.sum() == (conv.time_s < 1200).sum()
    assert np.array_equal(out["input_tokens"][chat], conv.input_tokens[conv.time_s < 1200])
    assert abs((out["class_index"] == 1).sum() - 3600) < 4 * math.sqrt(3600)
    assert (out["class_index"] == 2).sum() == 599 and np.all(out["input_tokens"][out["class_index"] == 2] == 99)


def test_shares_split_the_workload_arrival_next_to_own_arrivals() -> None:
    workload = {
        "arrival": {"type": "poisson", "rate_per_s": 10.0},
        **FIXED,
        "classes": [
            {"name": "a", "share": 0.25},
            {"name": "b", "share": 0.75},
            {"name": "c", "arrival": {"type": "poisson", "rate_per_s": 5.0}},
        ],
    }
    out = collect(workload, until_s=2000.0)
    n = (out["class_index"] != 2).sum()
    assert abs((out["class_index"] == 0).sum() - 0.25 * n) < 4 * math.sqrt(n * 0.25 * 0.75)
    assert abs((out["class_index"] == 2).sum() - 10000) < 4 * 100


@pytest.mark.parametrize(
    "workload, message",
    [
        ({"classes": [{"name": "a", "share": 0.5, "arrival": {"type": "poisson", "rate_per_s": 1}}]}, "share or arrival"),
        ({"classes": [{"name": "a", "share": 1.0}]}, "arrival is required"),
        ({"arrival": {"type": "poisson", "rate_per_s": 1}, "classes": [{"name": "a", "arrival": {"type": "poisson", "rate_per_s": 1}}]},
         "arrival is unused"),
        ({"arrival": {"type": "poisson", "rate_per_s": 1}, "classes": [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.4}]},
         "class shares must sum to 1, got 0.9"),
        ({"arrival": {"type": "closed_loop", "concurrency": 2},
          "classes": [{"name": "a", "share": 1.0}, {"name": "b", "arrival": {"type": "poisson", "rate_per_s": 1}}]},
         "closed_loop arrival cannot be mixed"),
        ({"arrival": {"type": "poisson", "rate_per_s": 1}, "lengths": {"type": "trace_pairs", "path": CODE}, **FIXED},
         "lengths \\(trace pairs\\) or input_tokens"),
    ],
)
def test_workload_validation(workload: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Workload.model_validate(workload)


def test_trace_pairs_keep_the_length_correlation() -> None:
    code = read_all(open_trace(CODE))
    log_in, log_out = np.log(code.input_tokens), np.log(code.output_tokens)
    target = np.corrcoef(log_in, log_out)[0, 1]
    out = collect({"arrival": {"type": "poisson", "rate_per_s": 100.0}, "lengths": {"type": "trace_pairs", "path": CODE}},
                  max_requests=100_000)
    pairs = set(zip(code.input_tokens.tolist(), code.output_tokens.tolist()))
    assert all(p in pairs for p in zip(out["input_tokens"][:2000].tolist(), out["output_tokens"][:2000].tolist()))
    drawn = np.corrcoef(np.log(out["input_tokens"]), np.log(out["output_tokens"]))[0, 1]
    assert abs(drawn - target) < 4 * (1 - target**2) / math.sqrt(100_000)
    se = code.input_tokens.std() / math.sqrt(100_000)
    assert abs(out["input_tokens"].mean() - code.input_tokens.mean()) < 4 * se


def test_servegen_mix_rates_and_lengths() -> None:
    mix = ServeGenMix(type="servegen", path=SERVEGEN)
    rates = mix.total_rate_per_s()
    assert rates.size == 144 and rates.mean() == pytest.approx(16.0, abs=0.05) and rates.max() == pytest.approx(42.5, abs=0.05)
    window = ServeGenMix(type="servegen", path=SERVEGEN, start_s=3600, end_s=3 * 3600)
    out = collect({"arrival": window.model_dump(exclude_none=True)}, until_s=1e9)
    expected = window.total_rate_per_s().sum() * 600
    assert out["arrival_s"][0] >= 0 and out["arrival_s"][-1] < 7200
    # Gamma/Weibull renewals with CVs near 1 per client: counts near Poisson; allow a CV of 2 per client
    assert abs(out["arrival_s"].size - expected) < 4 * 2 * math.sqrt(expected)
    # lengths: the rate-weighted mixture of the clients' length PMFs of the 6-h window (0-6 h here)
    for column, which in (("input_tokens", 0), ("output_tokens", 1)):
        weights, means, squares = [], [], []
        for client in window.loaded:
            pmf = client.lengths_at(3600.0)[which]
            inside = (client.start_s >= 3600) & (client.start_s < 3 * 3600)
            probs = np.diff(np.concatenate(([0.0], pmf.cdf)))
            weights.append(client.rate_per_s[inside].sum())
            means.append(probs @ pmf.values)
            squares.append(probs @ pmf.values.astype(float) ** 2)
        w = np.array(weights) / np.sum(weights)
        mean, var = w @ means, w @ squares - (w @ means) ** 2
        drawn = out[column]
        # client counts vary around their expectation, so allow the sampling error plus the count error
        assert abs(drawn.mean() - mean) < 4 * math.sqrt(var / drawn.size) * 2, column
    with pytest.raises(ValueError, match="clients \\[999\\] are not in"):
        ServeGenMix(type="servegen", path=SERVEGEN, clients=[999])


def test_same_seed_same_stream_and_class_streams_independent() -> None:
    workload = {"arrival": {"type": "trace", "path": str(TRACES / "mooncake_conversation.jsonl"),
                            "spread_ticks_s": 3.0, "rate_scale": 0.5}}
    a, b = collect(workload, seed=4, until_s=1e9), collect(workload, seed=4, until_s=1e9)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["arrival_s"][:100], collect(workload, seed=5, until_s=1e9)["arrival_s"][:100])


def test_chunk_head_keeps_prefix_blocks() -> None:
    src = source({"arrival": {"type": "trace", "path": str(TRACES / "mooncake_conversation.jsonl")}})
    chunk = next(src.chunks(max_requests=10))
    assert len(chunk) == 10 and chunk.prefix_offsets is not None and chunk.prefix_offsets.size == 11
    head = chunk.head(3)
    assert head.prefix_lists() == chunk.prefix_lists()[:3] and head.prefix_ids(1) == chunk.prefix_ids(1)
    assert chunk.prefix_ids(0)[:3] == (0, 1, 2)


@pytest.mark.parametrize("name", ["azure_conv", "azure_code", "mooncake_conversation", "servegen_deepseek_r1", "tenants_mixed"])
def test_bundled_scenarios_load(name: str) -> None:
    import experiments  # a project package: a plain import (a broken import must fail, not skip)
    scenario = experiments.load_scenario(SCENARIOS / f"{name}.yaml")
    assert scenario.workload.has_lengths
