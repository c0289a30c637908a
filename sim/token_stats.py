"""Inter-token latency over all tokens, without storing one number per token.

Every decode iteration hands one token to each decoding request in it, after a gap equal to the
iteration's duration; the engine adds (duration, tokens) pairs to a histogram with 200 log-spaced bins
per decade (about 1.2% relative resolution). ``add`` only buffers the gaps (C-level array extends, no Python
work per gap); a full buffer is binned in one vectorised pass, with the same bins and the same running sum
as adding the gaps one by one in Python (``_bins``, ``_sequential_sum``).
Gaps that are not an iteration (a preempted request waiting to be re-admitted, a KV cache in transit
between prefill and decode pools) are not in this distribution; they show in TPOT and end-to-end latency.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

BINS_PER_DECADE = 200
LOW_S = 1e-7
DECADES = 11  # 100 ns .. 10,000 s
QUANTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p999": 0.999}
EDGES = LOW_S * 10.0 ** (np.arange(DECADES * BINS_PER_DECADE + 1) / BINS_PER_DECADE)
TOP_BIN = EDGES.size - 2
#: gaps buffered before they are binned (8 bytes each, per histogram: one per replica)
BUFFER_GAPS = 8192
#: a scaled log this close to an integer is on a bin edge to numpy's precision: recomputed with ``math.log10``
EDGE_GUARD = 1e-6


def gap_bin(gap_s: float) -> int:
    """The bin of one gap: ``log10(gap / LOW_S)`` in bins, rounded down, within the bins."""
    i = int(math.log10(gap_s / LOW_S) * BINS_PER_DECADE) if gap_s > LOW_S else 0
    return i if i < TOP_BIN else TOP_BIN


def _bins(gaps_s: np.ndarray) -> np.ndarray:
    """``gap_bin`` of each gap, vectorised. numpy's log10 may differ from the C library's in the last bits,
    which moves a scaled log (at most 2,200) by under 1e-11: only those within ``EDGE_GUARD`` of an integer
    could fall in another bin, and they are recomputed with ``gap_bin`` itself."""
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(gaps_s > LOW_S, np.log10(gaps_s / LOW_S) * BINS_PER_DECADE, 0.0)
    bins = np.minimum(scaled.astype(np.int64), TOP_BIN)
    for k in np.flatnonzero(np.abs(scaled - np.rint(scaled)) < EDGE_GUARD).tolist():
        bins[k] = gap_bin(float(gaps_s[k]))
    return bins


def _sequential_sum(start: float, values: np.ndarray) -> float:
    """``start + values[0] + values[1] + ...`` added left to right, as a Python loop would (an accumulate is
    sequential by definition; a sum may pair terms)."""
    return float(np.add.accumulate(np.concatenate(([start], values)))[-1])


class TokenGapHistogram:
    """Counts of inter-token gaps by log-spaced bins, plus their exact sum for the mean."""

    def __init__(self) -> None:
        self._counts = np.zeros(EDGES.size - 1)
        self.tokens = 0
        self._total_s = 0.0
        self._gaps_s = array("d")  # buffered gaps, in the order they were added
        self._runs = array("q")  # per buffered ``add``: its gaps, and its tokens per gap
        self._per_step = array("q")

    def add(self, durations: Sequence[float], tokens_per_step: int) -> None:
        """Each of ``durations`` handed one token to each of ``tokens_per_step`` requests."""
        if tokens_per_step <= 0:
            return
        gaps = self._gaps_s
        gaps.extend(durations)
        steps = len(durations)
        self._runs.append(steps)
        self._per_step.append(tokens_per_step)
        self.tokens += tokens_per_step * steps
        if len(gaps) >= BUFFER_GAPS:
            self._flush()

    def _flush(self) -> None:
        """Bin the buffered gaps and add them to the running sum, in the order they came."""
        if not self._runs:
            return
        gaps_s = np.array(self._gaps_s, dtype=np.float64)
        weights = np.repeat(np.array(self._per_step, dtype=np.int64), np.array(self._runs, dtype=np.int64))
        self._counts += np.bincount(_bins(gaps_s), weights=weights, minlength=self._counts.size)
        self._total_s = _sequential_sum(self._total_s, gaps_s * weights)
        self._gaps_s, self._runs, self._per_step = array("d"), array("q"), array("q")

    @property
    def counts(self) -> np.ndarray:
        """Tokens by bin (whole numbers, as floats)."""
        self._flush()
        return self._counts

    @property
    def total_s(self) -> float:
        """The sum of every token's gap."""
        self._flush()
        return self._total_s

    def merge(self, others: Iterable["TokenGapHistogram"]) -> "TokenGapHistogram":
        out = TokenGapHistogram()
        out._counts = self.counts.copy()
        out.tokens, out._total_s = self.tokens, self.total_s
        for h in others:
            out._counts = out._counts + h.counts
            out.tokens += h.tokens
            out._total_s += h.total_s
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
