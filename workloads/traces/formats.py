"""Trace formats: where the time, the lengths and the prefix blocks are in each, and detection from the header.

| format | file | time | lengths | order |
|---|---|---|---|---|
| ``azure`` | CSV ``TIMESTAMP,ContextTokens,GeneratedTokens`` (Azure LLM 2023: ``2023-11-16 18:17:03.9799600``) | wall clock | context, generated | non-decreasing |
| ``azure2024`` | same columns, timestamps with a UTC offset (``2024-05-10 00:00:00.009930+00:00``) | wall clock | same | non-decreasing |
| ``mooncake`` | JSONL ``timestamp`` (ms, relative), ``input_length``, ``output_length``, ``hash_ids`` | ms | input, output | non-decreasing |
| ``burstgpt`` | CSV ``Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type`` | s, relative | request, response | non-decreasing |
| ``csv`` / ``parquet`` | any, with a ``columns`` mapping | ``time_unit``, or none | optional | non-decreasing |

A ``csv``/``parquet`` mapping without ``time`` reads a *length table* (one row per sample, e.g. a dataset's
``input_length,output_length``): its rows have no arrival times (every time is 0 s and there is no order to
keep), so it can give lengths (``lengths: {type: trace_pairs}``) but cannot be replayed as arrivals
(:class:`ReplayColumns` requires the time column).

Text files are UTF-8 (a leading byte-order mark is ignored); blank and whitespace-only lines are passed
over. ``time_unit`` (``s``, ``ms``, ``us``, ``ns`` or ``datetime`` for ISO-8601 text) applies to numbers
and text; a Parquet time column of date-times (``timestamp``, ``date``) is read as date-times and one of
``duration`` as seconds, whatever ``time_unit`` says. Date-times must lie in 1677-09-21 00:12:44 ..
2262-04-11 23:47:16 UTC (int64 ns) and token counts in 0 .. 2**31 - 1; other values are bad rows.

Every format with times promises time order: a row earlier than a previous one is a bad row. BurstGPT
rows with ``Response tokens`` 0 are failed requests: they are not replayed, and are counted in the skip
log under ``failed request (output tokens 0)`` whatever ``on_error`` says. Times are re-based so that the
file's first valid row is at 0 s.

Both Azure flavours parse with one ISO-8601 parser (a naive time is taken as UTC), so ``azure`` reads
2024 files too; ``auto`` names the flavour from the first row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from workloads.errors import TraceError
from workloads.spec import Spec

TraceFormat = Literal["auto", "azure", "azure2024", "mooncake", "burstgpt", "csv", "parquet"]
TimeUnit = Literal["s", "ms", "us", "ns", "datetime"]
UNIT_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "datetime": 1.0}
HEADER_PEEK_BYTES = 1 << 16
BOM = b"\xef\xbb\xbf"


#: why a replayed trace needs its time column (the message after ``...columns.time:``)
REPLAY_NEEDS_TIME = (
    "required to replay a trace (a table without times can only give lengths: lengths: {type: trace_pairs})"
)


class Columns(Spec):
    """Column mapping of a generic CSV/Parquet trace: which column holds what. Without ``time`` it is a table
    of lengths only, for ``lengths: {type: trace_pairs}``."""

    time: str | None = Field(
        default=None, min_length=1, description="arrival time column; leave out for a table of lengths only"
    )
    input_tokens: str | None = Field(default=None, min_length=1)
    output_tokens: str | None = Field(default=None, min_length=1)


class ReplayColumns(Columns):
    """Column mapping of a generic CSV/Parquet trace replayed as arrivals: the time column is required."""

    time: str | None = Field(
        default=None,
        min_length=1,
        validate_default=True,  # so that a missing time reaches the check below
        description="arrival time column: required to replay a trace",
    )

    @field_validator("time")
    @classmethod
    def _required(cls, time: str | None) -> str:
        if time is None:
            raise ValueError(REPLAY_NEEDS_TIME)
        return time


@dataclass(frozen=True)
class Layout:
    """Where a format keeps each field. ``time_unit`` turns the time column into seconds; ``time`` is None
    for a table of lengths only (a ``csv``/``parquet`` mapping without it)."""

    format: str
    kind: Literal["csv", "jsonl", "parquet"]
    time: str | None
    time_unit: TimeUnit
    input_tokens: str | None
    output_tokens: str | None
    prefix: str | None = None
    #: rows whose output column is 0 are failed requests (BurstGPT), not malformed rows
    zero_output_failed: bool = False

    @property
    def has_lengths(self) -> bool:
        return self.input_tokens is not None and self.output_tokens is not None

    @property
    def has_times(self) -> bool:
        return self.time is not None

    @property
    def required(self) -> list[str]:
        return [c for c in (self.time, self.input_tokens, self.output_tokens) if c is not None]


AZURE = Layout("azure", "csv", "TIMESTAMP", "datetime", "ContextTokens", "GeneratedTokens")
AZURE_2024 = Layout("azure2024", "csv", "TIMESTAMP", "datetime", "ContextTokens", "GeneratedTokens")
MOONCAKE = Layout("mooncake", "jsonl", "timestamp", "ms", "input_length", "output_length", "hash_ids")
BURSTGPT = Layout(
    "burstgpt", "csv", "Timestamp", "s", "Request tokens", "Response tokens", zero_output_failed=True
)
FORMATS: dict[str, Layout] = {l.format: l for l in (AZURE, AZURE_2024, MOONCAKE, BURSTGPT)}
BURSTGPT_HEADER = ["Timestamp", "Model", "Request tokens", "Response tokens", "Total tokens", "Log Type"]


def layout_for(fmt: str, columns: Columns | None = None, time_unit: TimeUnit = "s") -> Layout:
    """The layout of a named format; ``csv``/``parquet`` take theirs from ``columns``."""
    if fmt in ("csv", "parquet"):
        if columns is None:
            raise TraceError(
                f"format {fmt} needs 'columns': {{time: ..., input_tokens: ..., output_tokens: ...}} "
                "(without time for a table of lengths only)"
            )
        return Layout(fmt, fmt, columns.time, time_unit, columns.input_tokens, columns.output_tokens)  # type: ignore[arg-type]
    if columns is not None:
        raise TraceError(f"'columns' applies to formats csv and parquet, not {fmt}")
    return FORMATS[fmt]


def first_lines(path: Path, count: int = 2) -> list[str]:
    """The first ``count`` non-blank lines of a text file (fewer if it is shorter), without a byte-order mark.
    A first line (the header) that is not UTF-8 is a TraceError naming it; later ones are only hints for
    detection, decoded leniently (the reader reports them as bad rows)."""
    with path.open("rb") as handle:
        head = handle.read(HEADER_PEEK_BYTES)
        cut = handle.read(1) != b""  # the peek may end inside the last line (and inside a character)
    raw_lines = head.removeprefix(BOM).split(b"\n")
    lines: list[str] = []
    for number, raw in enumerate(raw_lines, start=1):
        if len(lines) == count:
            break
        if not raw.strip():
            continue
        try:
            lines.append(raw.decode("utf-8").strip())
        except UnicodeDecodeError as exc:
            if lines or (cut and number == len(raw_lines)):
                lines.append(raw.decode("utf-8", errors="replace").strip())
            else:
                raise TraceError(f"{path.name} line {number}: {utf8_problem(raw, exc)}") from None
    return lines


def utf8_problem(line: bytes, exc: UnicodeDecodeError) -> str:
    """What is wrong with a line that is not UTF-8, for a message after its file and line."""
    return f"not UTF-8 text: byte 0x{line[exc.start]:02x} at column {exc.start + 1}; a trace file must be UTF-8 text"


def csv_header(path: Path) -> list[str]:
    lines = first_lines(path, 1)
    if not lines:
        raise TraceError(f"{path.name}: empty file")
    return [c.strip() for c in lines[0].split(",")]


def detect_format(path: Path) -> str:
    """The format of ``path`` from its suffix and header, or a TraceError asking for ``format:``."""
    if path.suffix == ".parquet":
        return "parquet"
    lines = first_lines(path, 2)
    if not lines:
        raise TraceError(f"{path.name}: empty file")
    if lines[0].startswith("{"):
        try:
            keys = set(json.loads(lines[0]))
        except json.JSONDecodeError as exc:
            raise TraceError(f"{path.name} line 1: not a JSON object: {exc.msg}") from None
        if {"timestamp", "input_length", "output_length"} <= keys:
            return "mooncake"
        raise TraceError(f"{path.name}: cannot detect the format from the JSON keys {sorted(keys)}; name it with format:")
    header = [c.strip() for c in lines[0].split(",")]
    if header == ["TIMESTAMP", "ContextTokens", "GeneratedTokens"]:
        has_offset = len(lines) > 1 and _has_utc_offset(lines[1].split(",")[0])
        return "azure2024" if has_offset else "azure"
    if header[: len(BURSTGPT_HEADER)] == BURSTGPT_HEADER:
        return "burstgpt"
    raise TraceError(
        f"{path.name}: cannot detect the trace format from the header {header}; "
        "name it with format: (azure, azure2024, mooncake, burstgpt, csv with columns, parquet with columns)"
    )


def _has_utc_offset(stamp: str) -> bool:
    tail = stamp.strip()[-6:]
    return stamp.strip().endswith("Z") or (len(tail) == 6 and tail[0] in "+-" and tail[3] == ":")
