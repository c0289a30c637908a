"""Replay of a recorded trace as an arrival process, with replay controls.

Time origin: the trace's first row (of the window, if one is given) arrives at t=0; spreading and
thinning may move the first replayed request slightly later. Controls, applied in this order on the
trace's own clock (seconds since its first row):

1. ``window_s: [start, end]`` keeps rows with start <= t < end.
2. ``loop``: at the end the trace starts again, shifted by its period: the window's length, or without
   a window the span from the first to the last row plus one mean gap. Each pass re-reads the file
   (bounded memory) and draws fresh randomness. Pass p > 0 is another user population, like a rate-scaled
   copy: its prefix block ids are remapped by one mapping per pass (keys apart from the copies'), so it
   shares prefixes within itself as the trace does, and gets no free cache hits from earlier passes.
3. ``spread_ticks_s``: quantised timestamps (Mooncake's 3-s ticks) are spread: each row moves by an
   independent uniform offset in [0, tick), and rows are re-sorted (lengths travel with their row).
4. Rate scaling by a factor f (``rate_scale``, or ``target_rate_per_s`` / the replayed trace's mean rate,
   which costs one extra pass over the file): f < 1 keeps each row independently with probability f
   (Bernoulli thinning); f > 1 replays each row floor(f) or floor(f)+1 times (the fractional part by a
   Bernoulli draw), the extra copies placed uniformly in the gap to the next row with the row's lengths.
   Both multiply the rate in every time window by f in expectation, so the burst shape is kept at every
   time scale longer than one inter-arrival gap. The k-th copies of all rows form one more replica of the
   trace's user population: their prefix block ids are remapped by one mapping per k, so they share
   prefixes among themselves exactly as the original rows do, and never with the originals or other copies
   (a copy of a conversation is another user's conversation, not a cache hit on the first).
5. ``time_scale`` multiplies every time: 0.5 plays twice as fast (twice the rate), 2 half as fast.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from functools import cached_property
from typing import Literal

import numpy as np
from pydantic import Field, PositiveFloat, model_validator

from workloads.batch import Batch
from workloads.errors import OnError, SkipLog, TraceError
from workloads.merge import Reorder
from workloads.spec import Spec
from workloads.traces import ReplayColumns, TraceFormat, TraceReader, open_trace
from workloads.traces.formats import TimeUnit


class TraceArrival(Spec):
    """``arrival: {type: trace, path: ..., format: ...}``: a recorded trace; its rows carry lengths."""

    type: Literal["trace"]
    path: str = Field(min_length=1)
    format: TraceFormat = "auto"
    columns: ReplayColumns | None = None
    time_unit: TimeUnit = Field(
        default="s",
        description="unit of the time column of csv/parquet traces (a Parquet timestamp or date column is read "
        "as date-times, a duration column as seconds)",
    )
    time_scale: PositiveFloat = Field(default=1.0, description="multiplies every time: < 1 plays faster")
    rate_scale: PositiveFloat | None = Field(default=None, description="multiplies the request rate")
    target_rate_per_s: PositiveFloat | None = Field(default=None, description="mean rate after scaling")
    window_s: tuple[float, float] | None = Field(default=None, strict=False, description="[start, end) in trace seconds")
    loop: bool = Field(default=False, description="start again at the end, one period later; each pass is another "
                       "user population (its own prefix block ids)")
    spread_ticks_s: float = Field(default=0.0, ge=0, description="spread rows uniformly within ticks this wide")
    on_error: OnError = "strict"

    @model_validator(mode="after")
    def _check(self) -> "TraceArrival":
        if self.rate_scale is not None and self.target_rate_per_s is not None:
            raise ValueError(
                f"give rate_scale or target_rate_per_s, not both (got {self.rate_scale} and {self.target_rate_per_s})"
            )
        if self.window_s is not None:
            start, end = self.window_s
            if not (0 <= start < end):
                raise ValueError(f"window_s must be [start, end] with 0 <= start < end, got {list(self.window_s)}")
        self.reader()  # the file exists, its format is known and its header has the needed columns
        return self

    def reader(self, log: SkipLog | None = None) -> TraceReader:
        return open_trace(self.path, self.format, self.columns, self.time_unit, self.on_error, log)

    @cached_property
    def provides_lengths(self) -> bool:
        """True when the trace's rows carry input and output lengths."""
        return self.reader().has_lengths

    def scan(self) -> tuple[int, float]:
        """Rows and period (s, trace clock) of one pass of the (windowed) trace, by reading it once."""
        rows, first, last = 0, math.nan, math.nan
        for batch in self._windowed(self.reader(SkipLog())):
            rows += len(batch)
            first = float(batch.time_s[0]) if math.isnan(first) else first
            last = float(batch.time_s[-1])
        return rows, self._period(rows, first, last)

    def mean_rate_per_s(self) -> float:
        """The mean request rate of the replay (after time and rate scaling); reads the file once."""
        rows, period = self.scan()
        return rows / period / self.time_scale * self._factor(rows, period)

    def _factor(self, rows: int, period: float) -> float:
        if self.target_rate_per_s is not None:
            return self.target_rate_per_s / (rows / period / self.time_scale)
        return 1.0 if self.rate_scale is None else self.rate_scale

    def _period(self, rows: int, first: float, last: float) -> float:
        if rows == 0:
            raise TraceError(f"{self.path}: no requests in window_s {list(self.window_s or [])}")
        if self.window_s is not None:
            return self.window_s[1] - self.window_s[0]
        span = last - first
        if span <= 0:
            raise TraceError(f"{self.path}: every row has the same time ({first:g} s), so the trace has no period to "
                             "loop over or rate to scale: loop, rate_scale and target_rate_per_s need rows at two or "
                             "more times (or give window_s)")
        return span + span / (rows - 1)

    def _windowed(self, reader: TraceReader) -> Iterator[Batch]:
        """Rows of the window, times on the trace clock (s since the file's first row)."""
        if self.window_s is None:
            yield from reader.batches()
            return
        start, end = self.window_s
        for batch in reader.batches():
            times = batch.time_s
            lo, hi = np.searchsorted(times, [start, end], side="left")
            if hi > lo:
                yield batch.take(np.arange(lo, hi))
            if hi < times.size:
                return  # the file is in time order: nothing later can fall in the window

    def batches(self, rng: np.random.Generator, log: SkipLog) -> Iterator[Batch]:
        """The replay as time-ordered Batches (lengths and prefix blocks from the trace)."""
        factor = 1.0
        if self.target_rate_per_s is not None:
            rows, period = self.scan()
            factor = self._factor(rows, period)
        elif self.rate_scale is not None:
            factor = self.rate_scale
        buffer = Reorder()
        shift = math.nan  # trace time of the first replayed row: it lands on t=0
        offset = 0.0
        passes = 0
        while True:
            rows, first, last = 0, math.nan, math.nan
            for batch in self._windowed(self.reader(log if passes == 0 else SkipLog())):
                rows += len(batch)
                first = float(batch.time_s[0]) if math.isnan(first) else first
                last = float(batch.time_s[-1])
                if math.isnan(shift):
                    shift = first
                times = batch.time_s - shift + offset
                watermark = float(times[-1])
                batch = self._randomise(_pass_population(batch.with_times(times), passes), factor, rng)
                buffer.push(batch)
                out = buffer.release(watermark)
                if out is not None:
                    yield self._scaled(out)
            if rows == 0:
                raise TraceError(f"{self.path}: no requests in window_s {list(self.window_s or [])}")
            passes += 1
            if not self.loop:
                break
            offset += self._period(rows, first, last)
        rest = buffer.flush()
        if rest is not None:
            yield self._scaled(rest)

    def _randomise(self, batch: Batch, factor: float, rng: np.random.Generator) -> Batch:
        times = batch.time_s
        if self.spread_ticks_s > 0:
            times = times + rng.uniform(0.0, self.spread_ticks_s, times.size)
            batch = batch.with_times(times)
        if factor < 1.0:
            return batch.take(rng.random(len(batch)) < factor)
        if factor > 1.0:
            return _copies(batch, factor, rng)
        return batch

    def _scaled(self, batch: Batch) -> Batch:
        return batch.with_times(batch.time_s * self.time_scale) if self.time_scale != 1.0 else batch


def _copies(batch: Batch, factor: float, rng: np.random.Generator) -> Batch:
    """Each row floor(f) or floor(f)+1 times; extra copies uniform in the gap to the next row, the k-th
    copy's prefix block ids remapped by the k-th mapping (:func:`copy_block_ids`)."""
    whole = math.floor(factor)
    counts = np.full(len(batch), whole, dtype=np.int64) + (rng.random(len(batch)) < factor - whole)
    index = np.repeat(np.arange(len(batch)), counts)
    times = batch.time_s
    gaps = np.diff(times, append=times[-1] + (float(np.mean(np.diff(times))) if times.size > 1 else 0.0))
    copy_no = np.arange(index.size) - np.repeat(np.cumsum(counts) - counts, counts)  # 0 for the original
    jitter = np.where(copy_no == 0, 0.0, rng.random(index.size) * gaps[index])
    out = batch.take(index)
    if out.prefix_offsets is not None and out.prefix_blocks is not None and out.prefix_blocks.size:
        per_block = np.repeat(copy_no, np.diff(out.prefix_offsets))
        out = replace(out, prefix_blocks=copy_block_ids(out.prefix_blocks, per_block))
    return out.with_times(out.time_s + jitter).sorted()


#: the mapping key of loop pass p is PASS_KEY_BASE + p: apart from the copies' keys 1, 2, ...
PASS_KEY_BASE = 1 << 32


def _pass_population(batch: Batch, passes: int) -> Batch:
    """The rows of loop pass ``passes`` as their own user population (pass 0: the trace's own ids)."""
    if passes == 0 or batch.prefix_blocks is None or not batch.prefix_blocks.size:
        return batch
    key = np.full(batch.prefix_blocks.size, PASS_KEY_BASE + passes, dtype=np.int64)
    return replace(batch, prefix_blocks=copy_block_ids(batch.prefix_blocks, key))


def copy_block_ids(blocks: np.ndarray, copy_no: np.ndarray) -> np.ndarray:
    """Block ids of copy ``copy_no`` (0: unchanged). Copy k > 0 maps id h to splitmix64(h ^ k * golden) >> 1:
    one fixed mapping per k, distinct ids stay distinct within a copy, and a remapped id lands on an original
    one (or another copy's) with probability ~ blocks / 2^63 (Steele, Lea & Flood 2014, SplitMix64)."""
    with np.errstate(over="ignore"):
        x = blocks.astype(np.uint64) ^ (copy_no.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return np.where(copy_no == 0, blocks, (x >> np.uint64(1)).astype(np.int64))
