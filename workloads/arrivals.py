"""Arrival processes. Open processes yield absolute arrival times lazily, in numpy chunks.

``closed_loop`` is not an open process: its clients wait for their previous request to finish and then
think, so the engine drives it (``sim.sources``); this module only declares its parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from workloads.distributions import Fixed, TimeDistribution, sample_times
from workloads.spec import Spec

CHUNK = 8192


class _Renewal(Spec):
    """A renewal process: independent, identically distributed gaps between arrivals."""

    def gaps(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError

    def times(self, rng: np.random.Generator, chunk: int = CHUNK) -> Iterator[np.ndarray]:
        """Absolute arrival times from t=0, increasing, an endless stream of chunks."""
        t = 0.0
        while True:
            times = t + np.cumsum(self.gaps(rng, chunk))
            t = float(times[-1])
            yield times


class Poisson(_Renewal):
    type: Literal["poisson"]
    rate_per_s: PositiveFloat

    def gaps(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(1.0 / self.rate_per_s, n)


class GammaArrivals(_Renewal):
    """Gamma-distributed gaps: ``cv`` > 1 is burstier than Poisson, < 1 more regular."""

    type: Literal["gamma"]
    rate_per_s: PositiveFloat
    cv: float = Field(ge=1e-6, description="coefficient of variation of the gaps (periodic: constant gaps)")

    def gaps(self, rng: np.random.Generator, n: int) -> np.ndarray:
        shape = 1.0 / self.cv**2
        return rng.gamma(shape, 1.0 / (self.rate_per_s * shape), n)


class Periodic(_Renewal):
    """Fixed gaps of 1/rate: a deterministic (D) arrival stream."""

    type: Literal["periodic"]
    rate_per_s: PositiveFloat

    def gaps(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, 1.0 / self.rate_per_s)


class Offline(Spec):
    """Every request present at t=0 (MLPerf Offline). ``requests`` defaults to the horizon's count."""

    type: Literal["offline"]
    requests: PositiveInt | None = None

    def times(self, rng: np.random.Generator, chunk: int = CHUNK) -> Iterator[np.ndarray]:
        remaining = self.requests
        while remaining is None or remaining > 0:
            n = chunk if remaining is None else min(chunk, remaining)
            if remaining is not None:
                remaining -= n
            yield np.zeros(n)


class ClosedLoop(Spec):
    """``concurrency`` clients, each sending a request, waiting for it to finish, then thinking."""

    type: Literal["closed_loop"]
    concurrency: PositiveInt
    think_time_s: TimeDistribution = Field(
        default_factory=lambda: Fixed(type="fixed", value=0.0),
        description="a distribution, or a number of seconds (read as {type: fixed, value: <number>})")

    @field_validator("think_time_s", mode="before")
    @classmethod
    def _number_is_fixed(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return {"type": "fixed", "value": value}
        return value

    def think_times(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return sample_times(self.think_time_s, rng, n)
