"""Inter-token latency over all tokens, without storing one number per token.

Every decode iteration hands one token to each decoding request in it, after a gap equal to the
iteration's duration; the engine adds (duration, tokens) pairs to a histogram with 200 log-spaced bins
per decade (about 1.2% relative resolution), so a run of k decode iterations costs one vectorised call.
Gaps that are not an iteration (a preempted request waiting to be re-admitted, a KV cache in transit
between prefill and decode pools) are not in this distribution; they show in TPOT and end-to-end latency.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

BINS_PER_DECADE = 200
LOW_S = 1e-7
DECADES = 11  # 100 ns .. 10,000 s
QUANTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p999": 0.999}
EDGES = LOW_S * 10.0 ** (np.arange(DECADES * BINS_PER_DECADE + 1) / BINS_PER_DECADE)


class TokenGapHistogram:
    """Counts of inter-token gaps by log-spaced bins, plus their exact sum for the mean."""

    def __init__(self) -> None:
        self.counts = [0.0] * (EDGES.size - 1)
        self.tokens = 0
        self.total_s = 0.0

    def add(self, durations: Sequence[float], tokens_per_step: int) -> None:
        """Each of ``durations`` handed one token to each of ``tokens_per_step`` requests."""
        if tokens_per_step <= 0:
            return
        counts = self.counts
        top = len(counts) - 1
        total_s = self.total_s  # the same additions in the same order, on a local
        log10, low_s, per_decade = math.log10, LOW_S, BINS_PER_DECADE
        for d in durations:  # one code path for one step or a run: identical bins in both engine modes
            i = int(log10(d / low_s) * per_decade) if d > low_s else 0
            counts[i if i < top else top] += tokens_per_step
            total_s += d * tokens_per_step
        self.total_s = total_s
        self.tokens += tokens_per_step * len(durations)

    def merge(self, others: Iterable["TokenGapHistogram"]) -> "TokenGapHistogram":
        out = TokenGapHistogram()
        total = np.asarray(self.counts, dtype=np.float64)
        out.tokens, out.total_s = self.tokens, self.total_s
        for h in others:
            total = total + np.asarray(h.counts, dtype=np.float64)
            out.tokens += h.tokens
            out.total_s += h.total_s
        out.counts = total.tolist()
        return out

    def quantile(self, q: float) -> float:
        """The q-quantile, as the geometric middle of the bin that holds it."""
        if self.tokens == 0:
            return math.nan
        cumulative = np.cumsum(self.counts)
        i = int(np.searchsorted(cumulative, q * cumulative[-1], side="left"))
        return float(math.sqrt(EDGES[i] * EDGES[i + 1]))

    def summary(self) -> dict[str, Any]:
        if self.tokens == 0:
            return {"tokens": 0, "mean": None, **{key: None for key in QUANTILES}}
        return {"tokens": self.tokens, "mean": self.total_s / self.tokens,
                **{key: self.quantile(q) for key, q in QUANTILES.items()}}
