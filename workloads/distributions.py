"""One distribution vocabulary for token lengths, service times and think times (DESIGN.md).

Each distribution is a frozen parameter object with ``sample(rng, n)`` returning a float64 array.
Optional ``min``/``max`` bounds clip samples (the convention of serving benchmarks' length caps); the
``mean`` and ``cv`` properties describe the unbounded distribution.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import AfterValidator, Field, PositiveFloat, model_validator

from workloads.spec import Spec


class _Bounded(Spec):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _check_bounds(self) -> "_Bounded":
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min must be <= max, got min={self.min} and max={self.max}")
        return self

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws, clipped to [min, max] when bounds are given."""
        values = self._draw(rng, n)
        if self.min is not None or self.max is not None:
            values = np.clip(values, self.min, self.max)
        return values

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError

    def _support_low(self) -> float | None:
        """The smallest value a draw attains before clipping; None for a continuous law on (0, inf)."""
        return None

    def _support_high(self) -> float | None:
        """The largest value a draw attains before clipping; None for a law unbounded above."""
        return None

    @property
    def highest(self) -> float | None:
        """The largest value a draw of a law bounded above can take (after ``max``); None for a law unbounded
        above (exponential, lognormal, gamma) or an empirical file not read yet."""
        high = self._support_high()
        return min(high, self.max) if high is not None and self.max is not None else high

    @property
    def lowest(self) -> float | None:
        """The smallest value a clipped draw can take, or None when it is positive without a floor
        (exponential, lognormal, gamma without ``min``, or an empirical file not read yet)."""
        low = self._support_low()
        if self.min is not None and (low is None or self.min > low):
            low = self.min if low is not None or self.min > 0 else None
        if self.max is not None and (self.max < low if low is not None else self.max <= 0):
            low = self.max  # every draw is clipped to max
        return low

    @property
    def mean(self) -> float:
        raise NotImplementedError

    @property
    def cv(self) -> float:
        """Coefficient of variation (standard deviation over mean) of the unbounded distribution."""
        raise NotImplementedError


class Fixed(_Bounded):
    type: Literal["fixed"]
    value: float

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, float(self.value))

    def _support_low(self) -> float | None:
        return float(self.value)

    def _support_high(self) -> float | None:
        return float(self.value)

    @property
    def mean(self) -> float:
        return float(self.value)

    @property
    def cv(self) -> float:
        return 0.0


class Uniform(_Bounded):
    type: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _check_order(self) -> "Uniform":
        if self.low > self.high:
            raise ValueError(f"low must be <= high, got low={self.low} and high={self.high}")
        return self

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, n)

    def _support_low(self) -> float | None:
        return self.low

    def _support_high(self) -> float | None:
        return self.high

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2.0

    @property
    def cv(self) -> float:
        return (self.high - self.low) / math.sqrt(12.0) / self.mean if self.mean else 0.0


class Exponential(_Bounded):
    type: Literal["exponential"]
    mean_: PositiveFloat = Field(alias="mean")

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(self.mean_, n)

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def cv(self) -> float:
        return 1.0


class LogNormal(_Bounded):
    """``mean`` of the distribution itself; ``sigma`` of the underlying normal."""

    type: Literal["lognormal"]
    mean_: PositiveFloat = Field(alias="mean")
    sigma: float = Field(ge=0)

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        mu = math.log(self.mean_) - self.sigma**2 / 2.0
        return rng.lognormal(mu, self.sigma, n)

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def cv(self) -> float:
        return math.sqrt(math.expm1(self.sigma**2))


class Gamma(_Bounded):
    type: Literal["gamma"]
    mean_: PositiveFloat = Field(alias="mean")
    cv_: float = Field(alias="cv", ge=1e-6, description="coefficient of variation (fixed: a constant)")

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        shape = 1.0 / self.cv_**2
        return rng.gamma(shape, self.mean_ / shape, n)

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def cv(self) -> float:
        return self.cv_


class Empirical(_Bounded):
    """Resampling (with replacement) of given values, or of one column of a CSV/Parquet file."""

    type: Literal["empirical"]
    values: list[float] | None = Field(default=None, min_length=1)
    path: str | None = None
    column: str | None = None

    @model_validator(mode="after")
    def _check_source(self) -> "Empirical":
        if (self.values is None) == (self.path is None):
            raise ValueError("give exactly one of 'values' or 'path' (with 'column')")
        if self.path is not None and self.column is None:
            raise ValueError("'path' needs 'column': the column of the file to resample")
        return self

    def data(self) -> np.ndarray:
        """The values resampled from (reads the file when ``path`` is given)."""
        if self.values is not None:
            return np.asarray(self.values, dtype=np.float64)
        return load_column(Path(self.path), self.column)  # type: ignore[arg-type]

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        data = self.data()
        return data[rng.integers(0, data.size, n)]

    def _support_low(self) -> float | None:
        return min(self.values) if self.values is not None else None

    def _support_high(self) -> float | None:
        return max(self.values) if self.values is not None else None

    @property
    def mean(self) -> float:
        return float(self.data().mean())

    @property
    def cv(self) -> float:
        data = self.data()
        return float(data.std() / data.mean()) if data.mean() else 0.0


def load_column(path: Path, column: str) -> np.ndarray:
    """One numeric column of a CSV or Parquet file, with a message naming the file and column on error."""
    import pandas as pd

    if not path.exists():
        raise ValueError(f"{path}: file not found")
    try:
        frame = pd.read_parquet(path, columns=[column]) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # pandas raises many types; report them as one bad-input message
        raise ValueError(f"{path}: cannot read: {exc}") from None
    if column not in frame.columns:
        raise ValueError(f"{path}: no column {column!r}; columns are {list(frame.columns)}")
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(f"{path}: column {column!r} row {int(bad[0]) + 2}: not a finite number")
    if values.size == 0:
        raise ValueError(f"{path}: column {column!r} is empty")
    return values


Distribution = Annotated[
    Union[Fixed, Uniform, Exponential, LogNormal, Gamma, Empirical],
    Field(discriminator="type"),
]


#: the most tokens one request may have (drawn or read from a trace): more is a typo or an overflowed counter
MAX_TOKENS = 2**31 - 1


def _check_time(dist: _Bounded) -> _Bounded:
    low = dist.lowest
    if low is not None and low < 0:
        raise ValueError(f"can draw negative times (lowest {low:g}); times must be >= 0: raise it or add min: 0")
    return dist


def _check_tokens(dist: _Bounded) -> _Bounded:
    low, high = dist.lowest, dist.highest
    if high is not None and high > MAX_TOKENS:
        raise ValueError(f"can draw {high:g} tokens; token counts must be <= {MAX_TOKENS:,}: lower it or add max")
    if low is not None and low < 1:
        raise ValueError(f"can draw fewer than 1 token (lowest {low:g}); a request has >= 1 token: raise it or add min: 1")
    return dist


#: a distribution of durations in seconds: no negative draws
TimeDistribution = Annotated[Distribution, AfterValidator(_check_time)]
#: a distribution of token counts: no draw below 1 token (a continuous law's rare draw below 0.5 rounds up to 1)
TokenDistribution = Annotated[Distribution, AfterValidator(_check_tokens)]


def sample_lengths(dist: _Bounded, rng: np.random.Generator, n: int) -> np.ndarray:
    """Token counts: draws rounded to the nearest integer; a continuous law's rare draw below 0.5 counts as
    1 token (a request is never empty). A draw the load-time checks could not see (an empirical file's value
    below 1, anything above ``MAX_TOKENS``) is an error naming the distribution."""
    draws = np.rint(dist.sample(rng, n))
    if draws.size and (draws.max() > MAX_TOKENS or (isinstance(dist, Empirical) and draws.min() < 1)):
        bad = draws.max() if draws.max() > MAX_TOKENS else draws.min()
        raise ValueError(f"{_file_of(dist)}the {dist.type} token-count distribution drew {bad:g}; token counts must be "
                         f"in [1, {MAX_TOKENS:,}]")
    return np.maximum(draws, 1).astype(np.int64)


def sample_times(dist: _Bounded, rng: np.random.Generator, n: int) -> np.ndarray:
    """Durations in seconds; a negative draw (only an empirical file can hold one: the load-time check sees
    every other law) is an error naming the file, not a value to clamp."""
    draws = dist.sample(rng, n)
    if draws.size and draws.min() < 0:
        raise ValueError(f"{_file_of(dist)}the {dist.type} time distribution drew {draws.min():g} s; times must be >= 0")
    return draws


def _file_of(dist: _Bounded) -> str:
    """``FILE: column 'C': `` for an empirical law read from a file (the start of a message), else ''."""
    return f"{dist.path}: column {dist.column!r}: " if isinstance(dist, Empirical) and dist.path else ""
