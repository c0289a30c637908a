"""Metrics: pure functions of the per-request records (no simulation state).

Statistics cover the observation window: latency percentiles over requests that arrived in
[warmup_s, end_s) and completed, throughput over completions in [warmup_s, end_s] (a run that drains ends at
its last completion), utilisation over busy time in it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workloads.classes import RequestClass

LATENCY_COLUMNS = ("ttft_s", "tpot_s", "e2e_s", "queue_s")
QUANTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p999": 0.999}


@dataclass(frozen=True)
class PoolMeta:
    """What metrics need to know of a pool: its size, and how many requests a replica serves at once
    (``servers_per_replica``; 0 for a batched replica, busy while it holds any request)."""

    name: str
    replicas: int
    servers_per_replica: int


#: consecutive batches of the batch-quantile interval, and the fewest samples a batch needs
CI_BATCHES = 20
CI_MIN_BATCH_SAMPLES = 1000


def quantile_ci(sorted_values: np.ndarray, q: float, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the ``q`` quantile from order statistics.

    The ranks come from the binomial distribution of the count of samples below the true quantile; this
    assumes independent samples, so with autocorrelated latencies (queues) the interval is optimistic
    (:func:`latency_ci` widens it with :func:`batch_quantile_ci`).
    """
    n = sorted_values.size
    if n == 0:
        return (math.nan, math.nan)
    from scipy import stats  # deferred: ~0.3 s to import, needed only for the summary

    alpha = (1.0 - confidence) / 2.0
    lo = int(stats.binom.ppf(alpha, n, q))
    hi = int(stats.binom.ppf(1.0 - alpha, n, q)) + 1
    lo_value = sorted_values[max(lo - 1, 0)]
    hi_value = sorted_values[min(hi - 1, n - 1)] if hi <= n else math.inf
    return (float(lo_value), float(hi_value))


def batch_quantile_ci(ordered_values: np.ndarray, q: float, confidence: float = 0.95) -> tuple[float, float] | None:
    """Batch-quantile interval of the ``q`` quantile for a correlated sequence (values in arrival order).

    The sequence is cut into ``CI_BATCHES`` consecutive batches; each batch's ``q`` quantile is one
    observation and a Student t interval of their spread is centred on the whole sample's quantile
    (the method of batch means applied to quantiles; Law, Simulation Modeling and Analysis, chapter 9).
    Batches far longer than the queue's correlation time are nearly independent, which the order-statistic
    interval assumes of single requests. None when a batch would hold fewer than ``CI_MIN_BATCH_SAMPLES``.
    """
    k = CI_BATCHES
    n = ordered_values.size - ordered_values.size % k
    if n < k * CI_MIN_BATCH_SAMPLES:
        return None
    from scipy import stats  # deferred, as in quantile_ci

    estimates = np.quantile(ordered_values[:n].reshape(k, n // k), q, axis=1)
    half = float(stats.t.ppf(0.5 + confidence / 2.0, k - 1) * estimates.std(ddof=1) / math.sqrt(k))
    centre = float(np.quantile(ordered_values, q))
    return (centre - half, centre + half)


def latency_ci(ordered_values: np.ndarray, sorted_values: np.ndarray, q: float) -> tuple[float, float]:
    """The wider of the order-statistic and the batch-quantile 95% intervals (the latter when there are
    enough samples): honest for independent samples and for autocorrelated queueing latencies alike."""
    lo, hi = quantile_ci(sorted_values, q)
    batch = batch_quantile_ci(ordered_values, q)
    if batch is None:
        return (lo, hi)
    return (min(lo, batch[0]), max(hi, batch[1]))


def describe(values: np.ndarray) -> dict[str, Any]:
    """count, mean, p50, p90, p95, p99, p999 and the 95% CI of p99 of the finite values (given in arrival
    order, which the batch-quantile part of the interval needs)."""
    ordered = values[np.isfinite(values)]
    data = np.sort(ordered)
    out: dict[str, Any] = {"count": int(data.size)}
    if data.size == 0:
        out.update({"mean": None, **{k: None for k in QUANTILES}, "p99_ci95": [None, None]})
        return out
    out["mean"] = float(data.mean())
    for key, q in QUANTILES.items():
        out[key] = float(np.quantile(data, q))
    out["p99_ci95"] = list(latency_ci(ordered, data, 0.99))
    return out


def in_window(df: pd.DataFrame, warmup_s: float, end_s: float) -> pd.DataFrame:
    """Requests that arrived inside the observation window."""
    arrival = df["arrival_s"].to_numpy()
    return df[(arrival >= warmup_s) & (arrival < end_s)]


def status_counts(df: pd.DataFrame) -> dict[str, int]:
    counts = df["status"].value_counts()
    out = {name: int(counts.get(name, 0)) for name in ("ok", "dropped", "failed", "unfinished")}
    out["total"] = int(len(df))
    return out


def latency_block(df: pd.DataFrame) -> dict[str, Any]:
    """Latency statistics of the completed rows of ``df``, which must be in arrival order (see :func:`describe`)."""
    ok = df[df["status"] == "ok"]
    return {col: describe(ok[col].to_numpy(dtype=np.float64)) for col in LATENCY_COLUMNS}


def subset_latency_block(rows: pd.DataFrame, window: pd.DataFrame, window_block: dict[str, Any]) -> dict[str, Any]:
    """The latency block of ``rows``, a subset of ``window`` in its order: the window's own block when the subset
    holds every row (a fleet of one pool, a workload of one class), not computed again."""
    return window_block if len(rows) == len(window) else latency_block(rows)


def busy_overlap_s(start: np.ndarray, finish: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Length of each interval [start, finish) inside [lo, hi); an unfinished interval runs to ``hi``."""
    finish = np.where(np.isnan(finish), hi, finish)
    return np.clip(np.minimum(finish, hi) - np.maximum(start, lo), 0.0, None)


def union_length_s(start: np.ndarray, finish: np.ndarray) -> float:
    """Total length of the union of intervals (the busy time of a batched replica)."""
    if start.size == 0:
        return 0.0
    order = np.argsort(start, kind="stable")
    s, f = start[order], finish[order]
    reach = np.maximum.accumulate(f)
    # a new busy period starts where an interval begins after everything before it has ended
    new_period = np.empty(s.size, dtype=bool)
    new_period[0] = True
    new_period[1:] = s[1:] > reach[:-1]
    period_id = np.cumsum(new_period) - 1
    period_start = s[new_period]
    period_end = np.zeros(period_start.size)
    np.maximum.at(period_end, period_id, f)
    return float((period_end - period_start).sum())


def utilisation(df: pd.DataFrame, pool: PoolMeta, warmup_s: float, end_s: float) -> float:
    """Busy fraction of the pool's capacity over the window, from the records' service intervals."""
    span = end_s - warmup_s
    if span <= 0:
        return math.nan
    rows = df[(df["pool"] == pool.name) & df["start_s"].notna()]
    start = rows["start_s"].to_numpy(dtype=np.float64)
    finish = rows["finish_s"].to_numpy(dtype=np.float64)
    if pool.servers_per_replica > 0:
        busy = busy_overlap_s(start, finish, warmup_s, end_s).sum()
        return float(busy / (pool.servers_per_replica * pool.replicas * span))
    total = 0.0
    s_all = np.clip(start, warmup_s, end_s)
    f_all = np.clip(np.where(np.isnan(finish), end_s, finish), warmup_s, end_s)
    # each replica's rows in their order, as one slice of a stable sort by replica (no mask over all rows each)
    replica = rows["replica"].to_numpy()
    order = np.argsort(replica, kind="stable")
    bounds = np.flatnonzero(np.diff(replica[order])) + 1
    for group in np.split(order, bounds):
        s, f = s_all[group], f_all[group]
        keep = f > s
        total += union_length_s(s[keep], f[keep])
    return float(total / (pool.replicas * span))


def littles_law(df: pd.DataFrame, warmup_s: float, end_s: float) -> dict[str, float]:
    """Time-average number in system L over the window vs lambda x W of the requests arriving in it.

    L integrates the in-system count over the window; W is the mean time in system (to the end of the
    window for requests still there). Equal up to edge effects of requests straddling the window ends.
    """
    span = end_s - warmup_s
    arrival = df["arrival_s"].to_numpy(dtype=np.float64)
    leave = df["finish_s"].to_numpy(dtype=np.float64)
    dropped = (df["status"] == "dropped").to_numpy()
    leave = np.where(dropped, arrival, np.where(np.isnan(leave), end_s, leave))
    area = busy_overlap_s(arrival, leave, warmup_s, end_s).sum()
    inside = (arrival >= warmup_s) & (arrival < end_s)
    lam = inside.sum() / span if span > 0 else math.nan
    w = float(np.mean(np.minimum(leave[inside], end_s) - arrival[inside])) if inside.any() else math.nan
    return {"L": float(area / span) if span > 0 else math.nan, "lambda_per_s": float(lam), "W_s": w,
            "lambda_W": float(lam * w)}


def slo_block(df: pd.DataFrame, cls: RequestClass, span_s: float) -> dict[str, Any] | None:
    """Attainment (share of ended requests meeting every bound), goodput, and the quantile verdict."""
    if cls.slo is None:
        return None
    bounds = cls.slo.bounds()
    ended = df[df["status"] != "unfinished"]
    ok = (ended["status"] == "ok").to_numpy()
    met = ok.copy()
    verdict: dict[str, Any] = {}
    for column, bound in bounds.items():
        values = ended[column].to_numpy(dtype=np.float64)
        no_second_token = np.isnan(values) & (column == "tpot_s")  # one output token: no TPOT to judge
        met &= no_second_token | (values <= bound)
        finite = values[ok & np.isfinite(values)]
        observed = float(np.quantile(finite, cls.slo.quantile)) if finite.size else math.nan
        # completed requests with one output token each have no TPOT to judge: the bound holds vacuously
        vacuous = column == "tpot_s" and finite.size == 0 and bool(ok.any())
        verdict[column] = {"bound": bound, "observed": observed, "met": vacuous or bool(observed <= bound)}
    n = int(len(ended))
    attained = int(met.sum())
    return {
        "quantile": cls.slo.quantile,
        "attainment": attained / n if n else None,
        "goodput_requests_per_s": attained / span_s if span_s > 0 else None,
        "goodput_output_tokens_per_s": float(ended["output_tokens"].to_numpy()[met].sum() / span_s)
        if span_s > 0
        else None,
        "metrics": verdict,
        "met": all(v["met"] for v in verdict.values()),
    }


def prefix_cache(df: pd.DataFrame) -> dict[str, float]:
    """Share of prompt tokens found in the prefix cache, over requests that started."""
    started = df[df["start_s"].notna()]
    prompt = int(started["input_tokens"].sum())
    hits = int(started["cached_tokens"].sum())
    return {"hit_tokens": hits, "prompt_tokens": prompt, "hit_rate": hits / prompt if prompt else math.nan}


def throughput(df: pd.DataFrame, warmup_s: float, end_s: float) -> dict[str, float]:
    span = end_s - warmup_s
    finish = df["finish_s"].to_numpy(dtype=np.float64)
    done = ((df["status"] == "ok").to_numpy()) & (finish >= warmup_s) & (finish <= end_s)
    if span <= 0:
        return {"requests_per_s": math.nan, "output_tokens_per_s": math.nan, "input_tokens_per_s": math.nan}
    return {
        "requests_per_s": float(done.sum() / span),
        "output_tokens_per_s": float(df["output_tokens"].to_numpy()[done].sum() / span),
        "input_tokens_per_s": float(df["input_tokens"].to_numpy()[done].sum() / span),
    }


def summarize(
    df: pd.DataFrame,
    pools: Sequence[PoolMeta],
    classes: Sequence[RequestClass],
    warmup_s: float,
    end_s: float,
) -> dict[str, Any]:
    """The run summary (DESIGN.md, "Summary"), JSON-ready (NaN becomes null)."""
    # in arrival order once, so the latency blocks of the window and of its pool and class subsets inherit it
    window = in_window(df, warmup_s, end_s).sort_values("arrival_s", kind="stable")
    span = end_s - warmup_s
    window_latency = latency_block(window)
    summary: dict[str, Any] = {
        "window_s": [warmup_s, end_s],
        "counts": {**status_counts(window), "all_records": int(len(df))},
        **window_latency,
        "throughput": throughput(df, warmup_s, end_s),
        "utilisation": {p.name: utilisation(df, p, warmup_s, end_s) for p in pools},
        "pools": {},
        "classes": {},
        "checks": {"littles_law": littles_law(df, warmup_s, end_s)},
        "prefix_cache": prefix_cache(window),
    }
    for pool in pools:
        rows = window[window["pool"] == pool.name]
        summary["pools"][pool.name] = {
            "replicas": pool.replicas,
            "counts": status_counts(rows),
            "utilisation": summary["utilisation"][pool.name],
            "throughput": throughput(df[df["pool"] == pool.name], warmup_s, end_s),
            **subset_latency_block(rows, window, window_latency),
        }
    for cls in classes:
        rows = window[window["class"] == cls.name]
        summary["classes"][cls.name] = {
            "priority": cls.priority,
            "counts": status_counts(rows),
            "throughput": throughput(df[df["class"] == cls.name], warmup_s, end_s),
            **subset_latency_block(rows, window, window_latency),
            "slo": slo_block(rows, cls, span),
        }
    return json_ready(summary)


def json_ready(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: json_ready(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [json_ready(v) for v in node]
    if isinstance(node, (float, np.floating)):
        value = float(node)
        return value if math.isfinite(value) else None
    if isinstance(node, np.integer):
        return int(node)
    if isinstance(node, np.bool_):
        return bool(node)
    return node
