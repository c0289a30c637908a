"""Metrics are pure functions of records: checked on hand-made records."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sim.metrics import (PoolMeta, describe, in_window, quantile_ci, slo_block, throughput, union_length_s,
                         utilisation)
from sim.records import COLUMNS, STATUS_NAMES
from workloads.classes import SLO, RequestClass


def test_union_length() -> None:
    start = np.array([0.0, 1.0, 5.0, 5.5, 10.0])
    finish = np.array([2.0, 3.0, 6.0, 5.8, 10.0])
    assert union_length_s(start, finish) == 3.0 + 1.0


def test_quantile_ci_covers_the_true_quantile_at_its_level() -> None:
    rng = np.random.default_rng(5)
    truth = stats.expon.ppf(0.99)
    trials = 400
    covered = 0
    for _ in range(trials):
        lo, hi = quantile_ci(np.sort(rng.exponential(size=2000)), 0.99)
        covered += lo <= truth <= hi
    # coverage is >= 95% by construction (order statistics are conservative); binomial sd ~ 1.1%
    assert covered / trials >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / trials)


def test_describe_ignores_nan() -> None:
    d = describe(np.array([1.0, np.nan, 3.0]))
    assert d["count"] == 2 and d["mean"] == 2.0 and d["p50"] == 2.0


def frame(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["pool", "replica", "start_s", "finish_s"])
    df["pool"] = pd.Categorical(df["pool"], categories=["s", "b"])
    return df


def test_utilisation_of_servers_and_of_batched_replicas() -> None:
    df = frame([("s", 0, 0.0, 5.0), ("s", 0, 2.0, 4.0), ("s", 1, 8.0, np.nan),
                ("b", 0, 0.0, 4.0), ("b", 0, 1.0, 3.0), ("b", 1, 6.0, 10.0)])
    # servers: busy 5 + 2 + 2 (unfinished runs to the end) = 9 over 2 replicas x 2 servers x 10 s
    assert utilisation(df, PoolMeta("s", 2, 2), 0.0, 10.0) == 9 / 40
    # batched: replica 0 busy 4 s (overlapping requests count once), replica 1 busy 4 s, over 2 x 10 s
    assert utilisation(df, PoolMeta("b", 2, 0), 0.0, 10.0) == 8 / 20
    # a warm-up cuts the window: [2, 10)
    assert utilisation(df, PoolMeta("b", 2, 0), 2.0, 10.0) == (2 + 4) / 16


def test_p99_interval_covers_under_autocorrelation() -> None:
    """Latencies of a queue are correlated: an AR(1) sequence (correlation time ~100 requests) has a known
    stationary p99. The order-statistic interval alone under-covers it; the reported one (widened by batch
    quantiles) covers it near its level."""
    from scipy.signal import lfilter

    from sim.metrics import CI_BATCHES, CI_MIN_BATCH_SAMPLES, latency_ci

    phi, n, trials = 0.99, 2 * CI_BATCHES * CI_MIN_BATCH_SAMPLES, 200
    sd = 1.0 / np.sqrt(1.0 - phi * phi)
    truth = np.exp(stats.norm.ppf(0.99) * sd)
    rng = np.random.default_rng(11)
    plain = reported = 0
    for _ in range(trials):
        start = rng.normal(0.0, sd)
        x = np.exp(lfilter([1.0], [1.0, -phi], rng.normal(size=n), zi=[phi * start])[0])
        s = np.sort(x)
        lo, hi = quantile_ci(s, 0.99)
        plain += lo <= truth <= hi
        lo, hi = latency_ci(x, s, 0.99)
        reported += lo <= truth <= hi
    assert plain / trials < 0.75  # the independence assumption fails here
    assert reported / trials >= 0.85  # t interval on 20 batches: nominal 95%, a few points lost to batch bias


def test_batch_interval_needs_enough_samples() -> None:
    from sim.metrics import batch_quantile_ci

    assert batch_quantile_ci(np.arange(100.0), 0.99) is None
    lo, hi = batch_quantile_ci(np.random.default_rng(1).exponential(size=40_000), 0.99)
    assert lo < stats.expon.ppf(0.99) < hi


# ---- order-statistic interval: exact ranks -----------------------------------------------------------

def binomial_ranks(n: int, q: float, confidence: float) -> tuple[int, int]:
    """1-based ranks (l, u) of the equal-tailed order-statistic interval [X_(l), X_(u)] of the q quantile.

    B ~ Binomial(n, q) counts the samples below the true quantile; the interval misses it low when B < l
    and high when B >= u. l is the largest rank with P(B < l) <= alpha, u the smallest with P(B >= u) <= alpha.
    """
    alpha = (1.0 - confidence) / 2.0
    lo = max(k for k in range(1, n + 1) if stats.binom.cdf(k - 1, n, q) <= alpha)
    hi = min(k for k in range(1, n + 2) if stats.binom.sf(k - 1, n, q) <= alpha)
    return lo, hi


def test_quantile_ci_uses_the_binomial_order_statistics() -> None:
    n, q = 100, 0.5
    lo, hi = binomial_ranks(n, q, 0.95)
    assert (lo, hi) == (40, 61)
    coverage = stats.binom.cdf(hi - 1, n, q) - stats.binom.cdf(lo - 1, n, q)  # P(lo <= B < hi)
    assert coverage >= 0.95
    values = np.arange(1, n + 1) ** 2 * 0.5  # x_(k) = k^2 / 2: an off-by-one rank shows
    assert quantile_ci(values, q) == (lo**2 * 0.5, hi**2 * 0.5)


def test_quantile_ci_of_a_high_quantile_of_few_samples_is_unbounded_above() -> None:
    n, q = 10, 0.99
    lo, hi = binomial_ranks(n, q, 0.95)
    assert hi == n + 1  # even the largest sample is below the p99 with probability > 2.5%
    values = np.arange(1.0, n + 1.0) * 10
    assert quantile_ci(values, q) == (values[lo - 1], np.inf)


def test_quantile_ci_of_nothing_is_nan() -> None:
    lo, hi = quantile_ci(np.array([]), 0.5)
    assert np.isnan(lo) and np.isnan(hi)


# ---- hand-made request records -----------------------------------------------------------------------

def records(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A records frame with the columns of sim.records; each row gives arrival_s and what else it needs
    (``first_s`` for the first token); derived latencies are computed as the record store does."""
    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for i, row in enumerate(rows):
        arrival = row["arrival_s"]
        start, first, finish = row.get("start_s", arrival), row.get("first_s", np.nan), row.get("finish_s", np.nan)
        out = row.get("output_tokens", 2)
        values = {"request_id": i, "class": row.get("class", "c"), "pool": "gpu", "replica": 0,
                  "arrival_s": arrival, "start_s": start, "first_token_s": first, "finish_s": finish,
                  "input_tokens": row.get("input_tokens", 100), "output_tokens": out,
                  "status": row.get("status", "ok"), "queue_s": start - arrival, "ttft_s": first - arrival,
                  "tpot_s": (finish - first) / (out - 1) if out > 1 else np.nan, "e2e_s": finish - arrival,
                  "preemptions": 0, "reason": "", "cached_tokens": 0, "transfer_s": np.nan}
        for c in COLUMNS:
            cols[c].append(values[c])
    df = pd.DataFrame(cols)
    df["status"] = pd.Categorical(df["status"], categories=STATUS_NAMES)
    df["pool"] = pd.Categorical(df["pool"], categories=["gpu"])
    df["class"] = pd.Categorical(df["class"], categories=["c"])
    return df[COLUMNS]


def done(arrival_s: float, finish_s: float, output_tokens: int = 10, input_tokens: int = 100) -> dict[str, Any]:
    return {"arrival_s": arrival_s, "first_s": arrival_s, "finish_s": finish_s, "output_tokens": output_tokens,
            "input_tokens": input_tokens}


# ---- the observation window --------------------------------------------------------------------------

def test_throughput_counts_completions_on_both_ends_of_the_window() -> None:
    """end_s of a drained run is its last event, the last completion: completions at warmup_s and at
    end_s are in the window (fleet.Simulation.end_s; the runner's cost uses the same closed interval)."""
    df = records([done(0.0, 1.0, output_tokens=1000),  # before the warm-up ends
                  done(0.5, 2.0, output_tokens=1),  # exactly at warmup_s
                  done(3.0, 5.0, output_tokens=2, input_tokens=20),
                  done(4.0, 6.0, output_tokens=4, input_tokens=40),  # exactly at end_s
                  done(5.0, 6.5, output_tokens=1000),  # after the end
                  {"arrival_s": 5.5, "status": "unfinished"}])
    t = throughput(df, warmup_s=2.0, end_s=6.0)
    assert t["requests_per_s"] == 3 / 4
    assert t["output_tokens_per_s"] == (1 + 2 + 4) / 4
    assert t["input_tokens_per_s"] == (100 + 20 + 40) / 4


def test_throughput_counts_only_completed_requests() -> None:
    df = records([done(0.0, 1.0), {"arrival_s": 0.5, "finish_s": 1.0, "status": "dropped"},
                  {"arrival_s": 0.6, "status": "unfinished"}])
    assert throughput(df, 0.0, 2.0)["requests_per_s"] == 1 / 2


def test_window_of_arrivals_is_half_open() -> None:
    df = records([done(1.0, 3.0), done(2.0, 3.0), done(4.0, 5.0), done(6.0, 6.0)])
    assert in_window(df, 2.0, 6.0)["arrival_s"].tolist() == [2.0, 4.0]


# ---- SLO attainment ----------------------------------------------------------------------------------

def slo_class(**bounds: float) -> RequestClass:
    return RequestClass(name="c", slo=SLO(**bounds))


def test_a_value_equal_to_its_bound_meets_it() -> None:
    # TTFTs 0.5, 0.5, 0.75 s against a 0.5 s bound at the median: two requests meet it, and the median is 0.5
    df = records([{"arrival_s": 0.0, "first_s": 0.5, "finish_s": 1.0, "output_tokens": 3},
                  {"arrival_s": 1.0, "first_s": 1.5, "finish_s": 2.0, "output_tokens": 5},
                  {"arrival_s": 2.0, "first_s": 2.75, "finish_s": 3.0, "output_tokens": 7}])
    s = slo_block(df, slo_class(ttft_s=0.5, quantile=0.5), span_s=4.0)
    assert s is not None
    assert s["attainment"] == 2 / 3
    assert s["goodput_requests_per_s"] == 2 / 4
    assert s["goodput_output_tokens_per_s"] == (3 + 5) / 4
    assert s["metrics"]["ttft_s"] == {"bound": 0.5, "observed": 0.5, "met": True}
    assert s["met"] is True


def test_a_one_token_request_is_not_failed_on_tpot() -> None:
    # tpot_s is NaN for one output token; the other request's TPOT is (2.0 - 0.5) / 3 = 0.5 s
    df = records([{"arrival_s": 0.0, "first_s": 0.25, "finish_s": 0.25, "output_tokens": 1},
                  {"arrival_s": 0.0, "first_s": 0.5, "finish_s": 2.0, "output_tokens": 4}])
    assert np.isnan(df["tpot_s"][0])
    s = slo_block(df, slo_class(tpot_s=0.5, quantile=0.99), span_s=2.0)
    assert s is not None
    assert s["attainment"] == 1.0
    assert s["metrics"]["tpot_s"] == {"bound": 0.5, "observed": 0.5, "met": True}
    # its other bounds still apply: a 0.25 s TTFT bound is met by the first, not the second (0.5 s)
    s = slo_block(df, slo_class(tpot_s=0.5, ttft_s=0.25), span_s=2.0)
    assert s is not None and s["attainment"] == 1 / 2


def test_ended_requests_that_did_not_complete_miss_the_slo_and_unfinished_ones_do_not_count() -> None:
    df = records([{"arrival_s": 0.0, "first_s": 0.25, "finish_s": 1.0, "output_tokens": 4},
                  {"arrival_s": 0.5, "status": "dropped"},
                  {"arrival_s": 0.75, "status": "unfinished"}])
    s = slo_block(df, slo_class(ttft_s=1.0), span_s=1.0)
    assert s is not None and s["attainment"] == 1 / 2


def test_a_dropped_request_misses_a_tpot_only_slo() -> None:
    """A dropped request has no TPOT either (NaN), but it is not a one-token completion: it misses."""
    df = records([{"arrival_s": 0.0, "first_s": 0.25, "finish_s": 1.0, "output_tokens": 4},
                  {"arrival_s": 0.5, "status": "dropped", "output_tokens": 4}])
    s = slo_block(df, slo_class(tpot_s=1.0), span_s=1.0)
    assert s is not None and s["attainment"] == 1 / 2
    assert s["goodput_output_tokens_per_s"] == 4 / 1.0


def test_a_tpot_bound_holds_vacuously_when_every_completed_request_has_one_token() -> None:
    from sim.metrics import slo_block
    from workloads.classes import RequestClass

    cls = RequestClass.model_validate({"name": "a", "slo": {"ttft_s": 1.0, "tpot_s": 0.05}})
    df = pd.DataFrame({"status": ["ok", "ok"], "ttft_s": [0.2, 0.3], "tpot_s": [np.nan, np.nan],
                       "output_tokens": [1, 1]})
    block = slo_block(df, cls, span_s=10.0)
    assert block is not None and block["attainment"] == 1.0
    assert block["metrics"]["tpot_s"]["met"] and block["met"]
