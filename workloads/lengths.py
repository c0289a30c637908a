"""Joint (input, output) lengths resampled from a trace's rows, so their correlation is kept.

``lengths: {type: trace_pairs, path: ..., format: ...}`` at the workload level (or in a class) replaces
``input_tokens``/``output_tokens``: each request draws one row of the trace uniformly with replacement
and takes both of its lengths. The pairs are read once, streamed, and held as two int64 arrays
(16 bytes per row: 160 MB for a ten-million-row trace). The file may be a table of lengths only, without
times (a dataset's ``input_length,output_length``): ``format: csv`` (or ``parquet``) with ``columns:
{input_tokens: ..., output_tokens: ...}`` and no ``time``.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from workloads.errors import OnError, SkipLog, TraceError
from workloads.spec import Spec
from workloads.traces import Columns, TraceFormat, open_trace
from workloads.traces.formats import TimeUnit


class TracePairs(Spec):
    type: Literal["trace_pairs"]
    path: str = Field(min_length=1)
    format: TraceFormat = "auto"
    columns: Columns | None = None
    time_unit: TimeUnit = "s"
    on_error: OnError = "strict"

    @model_validator(mode="after")
    def _check(self) -> "TracePairs":
        _ = self._read  # every row now, so a bad cell is a load error naming this field (the run reuses them)
        return self

    @cached_property
    def _read(self) -> "_Rows":
        log = SkipLog()
        reader = open_trace(self.path, self.format, self.columns, self.time_unit, self.on_error, log)
        if not reader.has_lengths:
            raise TraceError(f"{self.path}: trace_pairs needs input and output length columns")
        inputs, outputs = [], []
        for batch in reader.batches():
            inputs.append(batch.input_tokens)
            outputs.append(batch.output_tokens)
        return _Rows(np.concatenate(inputs), np.concatenate(outputs), log)  # type: ignore[arg-type]

    @property
    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """All (input, output) rows of the trace, as two int64 arrays (read once)."""
        return self._read.inputs, self._read.outputs

    @property
    def skip_log(self) -> SkipLog:
        """Rows left out under ``on_error: skip`` (or failed requests), by reason: the run reports them."""
        return self._read.log

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        inputs, outputs = self.pairs
        rows = rng.integers(0, inputs.size, n)
        return inputs[rows], outputs[rows]


class _Rows:
    """The rows read from a lengths file. Compared by identity: a spec holding them (pydantic compares a
    model's ``__dict__`` first) then falls back to comparing its fields, not arrays."""

    __slots__ = ("inputs", "outputs", "log")

    def __init__(self, inputs: np.ndarray, outputs: np.ndarray, log: SkipLog) -> None:
        self.inputs, self.outputs, self.log = inputs, outputs, log
