"""One distribution vocabulary for token lengths, service times and think times (DESIGN.md).

Each distribution is a frozen parameter object with ``sample(rng, n)`` returning a float64 array.
Optional ``min``/``max`` bounds clip samples (the convention of serving benchmarks' length caps); the
``mean`` and ``cv`` properties describe the unbounded distribution.
"""

from __future__ import annotations

import math
from functools import cached_property
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
        above (exponential, lognormal, gamma)."""
        high = self._support_high()
        return min(high, self.max) if high is not None and self.max is not None else high

    @property
    def lowest(self) -> float | None:
        """The smallest value a clipped draw can take, or None when it is positive without a floor
        (exponential, lognormal, gamma without ``min``)."""
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
    """Resampling (with replacement) of given values, or of one column of a CSV/Parquet file. The file is read
    once, when the spec is made, so a bad value is a load error naming its line and the run reuses the values."""

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
        if self.path is not None:
            _ = self._file  # read now: the role checks (tokens >= 1, times >= 0) see its smallest value
        return self

    @cached_property
    def _file(self) -> "FileColumn":
        return load_column(Path(self.path), self.column)  # type: ignore[arg-type]

    def data(self) -> np.ndarray:
        """The values resampled from (the file's, read once)."""
        if self.values is not None:
            return np.asarray(self.values, dtype=np.float64)
        return self._file.values

    def where(self, value: float) -> str:
        """Where ``value`` first occurs in the file (``FILE column 'C' line N``), or '' for listed values."""
        return self._file.where(value) if self.path is not None else ""

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        data = self.data()
        return data[rng.integers(0, data.size, n)]

    def _support_low(self) -> float | None:
        return float(self.data().min())

    def _support_high(self) -> float | None:
        return float(self.data().max())

    @property
    def mean(self) -> float:
        return float(self.data().mean())

    @property
    def cv(self) -> float:
        data = self.data()
        return float(data.std() / data.mean()) if data.mean() else 0.0


class FileColumn:
    """One numeric column read from a file, with where each value came from. Compared by identity: a spec
    holding it (pydantic compares a model's ``__dict__`` first) then falls back to comparing its fields."""

    __slots__ = ("path", "column", "values", "lines")

    def __init__(self, path: Path, column: str, values: np.ndarray, lines: np.ndarray | None) -> None:
        self.path, self.column, self.values = path, column, values
        self.lines = lines  # the CSV line of each value; None for Parquet (rows are counted from 1)

    def where(self, value: float) -> str:
        i = int(np.flatnonzero(self.values == value)[0])
        place = f"line {int(self.lines[i])}" if self.lines is not None else f"row {i + 1}"
        return f"{self.path} column {self.column!r} {place}"


def load_column(path: Path, column: str) -> FileColumn:
    """One numeric column of a CSV (header on line 1) or Parquet file. A message names the file, the column
    and the line (CSV) or row (Parquet) of a bad cell; blank lines are not rows."""
    import pandas as pd

    if not path.exists():
        raise ValueError(f"{path}: file not found")
    parquet = path.suffix == ".parquet"
    try:
        if parquet:
            frame = pd.read_parquet(path, columns=[column])
        else:  # every cell as text, blank lines kept: row i is line i + 2
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False,
                                encoding="utf-8-sig")
    except Exception as exc:  # pandas raises many types; report them as one bad-input message
        raise ValueError(f"{path}: cannot read: {exc}") from None
    if column not in frame.columns:
        raise ValueError(f"{path}: no column {column!r}; columns are {list(frame.columns)}")
    cells = frame[column]
    lines = None
    if not parquet:
        text = frame.apply(lambda col: col.str.strip())
        blank = (text == "").all(axis=1).to_numpy()
        lines = np.flatnonzero(~blank) + 2
        cells = text[column][~blank]
    values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        place = f"line {int(lines[i])}" if lines is not None else f"row {i + 1}"
        raise ValueError(f"{path}: column {column!r} {place}: {cells.iloc[i]!r} is not a finite number")
    if values.size == 0:
        raise ValueError(f"{path}: column {column!r} is empty")
    return FileColumn(path, column, values, lines)


Distribution = Annotated[
    Union[Fixed, Uniform, Exponential, LogNormal, Gamma, Empirical],
    Field(discriminator="type"),
]


#: the most tokens one request may have (drawn or read from a trace): more is a typo or an overflowed counter
MAX_TOKENS = 2**31 - 1


def _check_time(dist: _Bounded) -> _Bounded:
    low = dist.lowest
    if low is not None and low < 0:
        raise ValueError(f"can draw negative times (lowest {low:g}{_at(dist, low)}); times must be >= 0: raise it "
                         "or add min: 0")
    return dist


def _check_tokens(dist: _Bounded) -> _Bounded:
    low, high = dist.lowest, dist.highest
    if high is not None and high > MAX_TOKENS:
        raise ValueError(f"can draw {high:g} tokens{_at(dist, high, ' (', ')')}; token counts must be <= "
                         f"{MAX_TOKENS:,}: lower it or add max")
    if low is not None and low < 1:
        raise ValueError(f"can draw fewer than 1 token (lowest {low:g}{_at(dist, low)}); a request has >= 1 token: "
                         "raise it or add min: 1")
    return dist


def _at(dist: _Bounded, value: float, before: str = ": ", after: str = "") -> str:
    """Where an empirical file holds ``value`` (the bound a check refused), '' when it is not a file's value
    (listed values, another law, or a bound set by ``min``/``max``)."""
    if not isinstance(dist, Empirical) or dist.path is None or not np.any(dist.data() == value):
        return ""
    return f"{before}{dist.where(value)}{after}"


#: a distribution of durations in seconds: no negative draws
TimeDistribution = Annotated[Distribution, AfterValidator(_check_time)]
#: a distribution of token counts: no draw below 1 token (a continuous law's rare draw below 0.5 rounds up to 1)
TokenDistribution = Annotated[Distribution, AfterValidator(_check_tokens)]


def sample_lengths(dist: _Bounded, rng: np.random.Generator, n: int) -> np.ndarray:
    """Token counts: draws rounded to the nearest integer; a continuous law's rare draw below 0.5 counts as
    1 token (a request is never empty). A draw above ``MAX_TOKENS`` (a law unbounded above: the load-time check
    could not see it) is an error naming the distribution."""
    draws = np.rint(dist.sample(rng, n))
    if draws.size and draws.max() > MAX_TOKENS:
        raise ValueError(f"the {dist.type} token-count distribution drew {draws.max():g}; token counts must be "
                         f"in [1, {MAX_TOKENS:,}]")
    return np.maximum(draws, 1).astype(np.int64)


def sample_times(dist: _Bounded, rng: np.random.Generator, n: int) -> np.ndarray:
    """Durations in seconds. A time distribution cannot draw a negative value: its load-time check saw every
    law's lowest draw (an empirical file's smallest value included)."""
    draws = dist.sample(rng, n)
    assert not draws.size or draws.min() >= 0, f"the {dist.type} time distribution drew {draws.min():g} s"
    return draws
