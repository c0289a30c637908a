"""Metrics are pure functions of records: checked on hand-made records."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from sim.metrics import PoolMeta, describe, quantile_ci, union_length_s, utilisation


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
