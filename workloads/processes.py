"""Synthetic arrival processes beyond renewals: Weibull, Markov-modulated Poisson, time-varying rates, spikes.

All yield absolute arrival times from t=0 lazily in numpy chunks (``times(rng, chunk)``), like
``workloads.arrivals``. Rates are per second of simulated time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import cached_property
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import Field, NonNegativeFloat, PositiveFloat, model_validator
from scipy.special import gamma as gamma_fn

from workloads.arrivals import CHUNK, GammaArrivals, Periodic, Poisson, _Renewal
from workloads.batch import Batch
from workloads.merge import merge_streams
from workloads.spec import Spec


def weibull_cv(shape: float) -> float:
    """Coefficient of variation of a Weibull distribution of shape ``shape``."""
    g1, g2 = gamma_fn(1.0 + 1.0 / shape), gamma_fn(1.0 + 2.0 / shape)
    return math.sqrt(max(g2 / g1**2 - 1.0, 0.0))


def weibull_shape_for_cv(cv: float) -> float:
    """The Weibull shape whose coefficient of variation is ``cv`` (0.05 <= cv <= 20)."""
    from scipy.optimize import brentq  # deferred: ~0.3 s to import, needed only by Weibull arrivals

    return float(brentq(lambda k: weibull_cv(k) - cv, 0.05, 50.0))


class Weibull(_Renewal):
    """Weibull-distributed gaps at ``rate_per_s``, shaped by ``shape`` (k < 1 bursty) or by ``cv``."""

    type: Literal["weibull"]
    rate_per_s: PositiveFloat
    shape: PositiveFloat | None = None
    cv: float | None = Field(default=None, ge=0.05, le=20)

    @model_validator(mode="after")
    def _one_shape(self) -> "Weibull":
        if (self.shape is None) == (self.cv is None):
            raise ValueError(f"give exactly one of shape or cv, got shape={self.shape} and cv={self.cv}")
        if self.shape is not None and self.shape < 0.05:
            raise ValueError(f"shape must be >= 0.05, got {self.shape}")
        return self

    @cached_property
    def k(self) -> float:
        return self.shape if self.shape is not None else weibull_shape_for_cv(self.cv)  # type: ignore[arg-type]

    @property
    def scale_s(self) -> float:
        return 1.0 / (self.rate_per_s * gamma_fn(1.0 + 1.0 / self.k))

    def gaps(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.scale_s * rng.weibull(self.k, n)


class MMPP(Spec):
    """Markov-modulated Poisson process: Poisson at ``rates_per_s[i]`` while in state i.

    A state lasts an exponential time of mean ``mean_sojourn_s[i]``; on leaving, the next state is drawn
    uniformly among the others (two states: on/off alternation). The process starts in its stationary
    regime, so the long-run state shares are ``mean_sojourn_s / sum(mean_sojourn_s)``.
    """

    type: Literal["mmpp"]
    rates_per_s: list[NonNegativeFloat] = Field(min_length=2)
    mean_sojourn_s: list[PositiveFloat] = Field(min_length=2)

    @model_validator(mode="after")
    def _same_length(self) -> "MMPP":
        if len(self.rates_per_s) != len(self.mean_sojourn_s):
            raise ValueError(
                f"rates_per_s and mean_sojourn_s need one entry per state, got {len(self.rates_per_s)} and "
                f"{len(self.mean_sojourn_s)}"
            )
        if max(self.rates_per_s) <= 0:
            raise ValueError("rates_per_s: at least one state needs a positive rate")
        return self

    @property
    def state_shares(self) -> np.ndarray:
        sojourn = np.asarray(self.mean_sojourn_s)
        return sojourn / sojourn.sum()

    @property
    def rate_per_s(self) -> float:
        """Long-run mean rate."""
        return float(np.dot(self.state_shares, self.rates_per_s))

    def times(self, rng: np.random.Generator, chunk: int = CHUNK) -> Iterator[np.ndarray]:
        rates = np.asarray(self.rates_per_s)
        sojourn = np.asarray(self.mean_sojourn_s)
        n = rates.size
        per_sojourn = max(float(np.dot(self.state_shares, rates * sojourn)), 1e-9)
        block = int(min(max(chunk / per_sojourn, 16), 1 << 20))
        state = int(rng.choice(n, p=self.state_shares))
        t = 0.0
        while True:
            steps = rng.integers(1, n, block)
            states = (state + np.concatenate(([0], np.cumsum(steps[:-1])))) % n
            state = int((states[-1] + steps[-1]) % n)
            durations = rng.exponential(sojourn[states])
            starts = t + np.concatenate(([0.0], np.cumsum(durations[:-1])))
            t = float(starts[-1] + durations[-1])
            counts = rng.poisson(rates[states] * durations)
            times = np.repeat(starts, counts) + rng.random(int(counts.sum())) * np.repeat(durations, counts)
            times.sort()
            if times.size:
                yield times


class Diurnal(Spec):
    """Poisson with rate ``mean_rate_per_s * (1 + amplitude * cos(2 pi (t - peak_s) / period_s))``, by thinning."""

    type: Literal["diurnal"]
    mean_rate_per_s: PositiveFloat
    amplitude: float = Field(ge=0, le=1)
    period_s: PositiveFloat = 86400.0
    peak_s: NonNegativeFloat = 0.0

    @property
    def rate_per_s(self) -> float:
        return self.mean_rate_per_s

    def rate_at(self, t_s: np.ndarray) -> np.ndarray:
        phase = 2.0 * np.pi * (t_s - self.peak_s) / self.period_s
        return self.mean_rate_per_s * (1.0 + self.amplitude * np.cos(phase))

    def times(self, rng: np.random.Generator, chunk: int = CHUNK) -> Iterator[np.ndarray]:
        return _thinned(self.rate_at, self.mean_rate_per_s * (1.0 + self.amplitude), rng, chunk)


class Piecewise(Spec):
    """Poisson whose rate is ``rates_per_s[i]`` for ``durations_s[i]`` seconds, one step after another;
    after the last step the profile repeats (``repeat``) or holds its last rate."""

    type: Literal["piecewise"]
    rates_per_s: list[NonNegativeFloat] = Field(min_length=1)
    durations_s: list[PositiveFloat] = Field(min_length=1)
    repeat: bool = True

    @model_validator(mode="after")
    def _same_length(self) -> "Piecewise":
        if len(self.rates_per_s) != len(self.durations_s):
            raise ValueError(
                f"rates_per_s and durations_s need one entry per step, got {len(self.rates_per_s)} and "
                f"{len(self.durations_s)}"
            )
        if max(self.rates_per_s) <= 0:
            raise ValueError("rates_per_s: at least one step needs a positive rate")
        if not self.repeat and self.rates_per_s[-1] <= 0:
            raise ValueError("rates_per_s: the last rate is held forever without repeat, so it must be > 0")
        return self

    @property
    def rate_per_s(self) -> float:
        """Mean rate over one cycle of the profile."""
        return float(np.dot(self.rates_per_s, self.durations_s) / sum(self.durations_s))

    def rate_at(self, t_s: np.ndarray) -> np.ndarray:
        edges = np.cumsum(self.durations_s)
        t = np.mod(t_s, edges[-1]) if self.repeat else t_s
        index = np.minimum(np.searchsorted(edges, t, side="right"), len(edges) - 1)
        return np.asarray(self.rates_per_s)[index]

    def times(self, rng: np.random.Generator, chunk: int = CHUNK) -> Iterator[np.ndarray]:
        return _thinned(self.rate_at, max(self.rates_per_s), rng, chunk)


def _thinned(rate_at, peak_rate: float, rng: np.random.Generator, chunk: int) -> Iterator[np.ndarray]:  # type: ignore[no-untyped-def]
    """Lewis-Shedler thinning: Poisson candidates at ``peak_rate``, each kept with rate(t) / peak_rate."""
    t = 0.0
    while True:
        candidates = t + np.cumsum(rng.exponential(1.0 / peak_rate, chunk))
        t = float(candidates[-1])
        kept = candidates[rng.random(chunk) * peak_rate < rate_at(candidates)]
        if kept.size:
            yield kept


Base = Annotated[Union[Poisson, GammaArrivals, Periodic, Weibull, MMPP, Diurnal, Piecewise], Field(discriminator="type")]


class Spike(Spec):
    """Extra Poisson traffic at ``rate_per_s`` during [at_s, at_s + duration_s)."""

    at_s: NonNegativeFloat
    duration_s: PositiveFloat
    rate_per_s: PositiveFloat


class Spikes(Spec):
    """A base process with bursts added on top at given times (the two streams merged by time)."""

    type: Literal["spikes"]
    base: Base
    spikes: list[Spike] = Field(min_length=1)

    @property
    def rate_per_s(self) -> float:
        """The base's long-run rate (the spikes are finite and do not change it)."""
        return float(self.base.rate_per_s)

    def batches(self, rng: np.random.Generator, log: object = None) -> Iterator[Batch]:
        base_rng, spike_rng = rng.spawn(2)
        base = (Batch(t) for t in self.base.times(base_rng, CHUNK))
        extra = (Batch(t) for t in self._spike_times(spike_rng))
        return merge_streams([base, extra])

    def _spike_times(self, rng: np.random.Generator) -> Iterator[np.ndarray]:
        starts = np.array([s.at_s for s in self.spikes])
        durations = np.array([s.duration_s for s in self.spikes])
        counts = rng.poisson(np.array([s.rate_per_s for s in self.spikes]) * durations)
        times = np.repeat(starts, counts) + rng.random(int(counts.sum())) * np.repeat(durations, counts)
        times.sort()
        for lo in range(0, times.size, CHUNK):
            yield times[lo : lo + CHUNK]
