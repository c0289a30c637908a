"""Row checks shared by every trace format: parse, validate and re-base one block of raw columns.

Each check yields a boolean mask of bad rows with a reason; under ``strict`` the earliest bad row in the
file raises :class:`TraceError` (``file line N: column: rule, got 'value'``), under ``skip`` bad rows are
dropped and counted. Times are re-based so the file's first valid row is at 0 s; a block without a time
column (a table of lengths only) gets times all 0 s and no order check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from workloads.batch import Batch
from workloads.distributions import MAX_TOKENS
from workloads.errors import OnError, SkipLog, report
from workloads.traces.formats import UNIT_S, Layout

#: the raw text of one field for messages: (row index in the block, column) -> text, None when missing
RawText = Callable[[int, str], "str | None"]
#: a bad-row mask and the rule those rows break
Check = tuple[np.ndarray, str]
INT_RULE = "must be a non-negative integer"
MAX_TOKENS_RULE = f"must be at most {MAX_TOKENS} tokens (2**31 - 1)"
#: date-times are kept as int64 ns since the epoch; the whole seconds inside that range are accepted
DATETIME_MIN = datetime(1677, 9, 21, 0, 12, 44, tzinfo=timezone.utc)
DATETIME_MAX = datetime(2262, 4, 11, 23, 47, 16, tzinfo=timezone.utc)
DATETIME_RULE = "not a date-time"
DATETIME_RANGE_RULE = (
    f"must be between {DATETIME_MIN:%Y-%m-%d %H:%M:%S} and {DATETIME_MAX:%Y-%m-%d %H:%M:%S} UTC "
    "(the supported date-time range)"
)
NUMBER_RULE = "must be a number"
#: prefix block ids (Mooncake's ``hash_ids``) are int64
PREFIX_RULE = "must be a list of integers from -2**63 to 2**63 - 1"
FAILED_REASON = "failed request (output tokens 0)"


@dataclass
class RawBlock:
    """One block of rows as read: raw columns (any dtype), their file lines and optional prefix blocks;
    ``time`` is None for a table of lengths only."""

    lines: np.ndarray
    time: pd.Series | None
    input_tokens: pd.Series | None
    output_tokens: pd.Series | None
    raw: RawText
    prefix: tuple[np.ndarray, np.ndarray] | None = None
    #: rows whose prefix list is not a list of int64 ids (their entries in ``prefix`` are placeholders)
    prefix_bad: np.ndarray | None = None


@dataclass
class FileState:
    """What a reader remembers between blocks: the re-basing origin and the last time seen."""

    name: str
    unit: str = "line"
    origin: float | int | None = None
    last_s: float = -np.inf
    rows: int = 0
    failed: int = 0


def token_counts(values: pd.Series) -> tuple[np.ndarray, list[Check]]:
    """Token counts as int64 and the checks they fail: not a non-negative integer (missing, text, true, -3,
    2.5), or above :data:`MAX_TOKENS` (which also keeps them clear of int64 overflow)."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iu":  # plain int64 / uint64 columns
        native = values.to_numpy()
        negative = native < 0
        too_many = native > MAX_TOKENS
        ints = np.where(negative | too_many, 0, native).astype(np.int64)
        return ints, [(negative, INT_RULE), (too_many, MAX_TOKENS_RULE)]
    if isinstance(values.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(values.dtype):
        values = values.astype(object)
    if pd.api.types.is_datetime64_any_dtype(values.dtype) or pd.api.types.is_timedelta64_dtype(values.dtype):
        every = np.ones(len(values), dtype=bool)  # a date-time or duration is no count (to_numeric gives its ns)
        return np.zeros(len(values), dtype=np.int64), [(every, INT_RULE), (~every, MAX_TOKENS_RULE)]
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        fraction = np.isfinite(numbers) & (numbers != np.floor(numbers))
        bad = np.isnan(numbers) | (numbers < 0) | fraction | _is_bool(values)
    too_many = ~bad & (numbers > MAX_TOKENS)  # +inf (1e400) too
    return np.where(bad | too_many, 0, numbers).astype(np.int64), [(bad, INT_RULE), (too_many, MAX_TOKENS_RULE)]


def _is_bool(values: pd.Series) -> np.ndarray:
    """Entries that are booleans (JSON ``true``), which pandas would otherwise count as 1."""
    if values.dtype != object:
        return np.zeros(len(values), dtype=bool)
    return np.fromiter((isinstance(v, (bool, np.bool_)) for v in values), dtype=bool, count=len(values))


def parse_time(values: pd.Series, unit: str) -> tuple[np.ndarray, list[Check]]:
    """Times as int64 ns since the epoch (``datetime``) or float64 in the file's unit, and the checks they fail.

    A column of timedeltas (a Parquet ``duration``) is read as seconds whatever ``unit`` says."""
    if unit == "datetime":
        return _datetime_ns(values)
    if pd.api.types.is_timedelta64_dtype(values.dtype):
        numbers = values.dt.total_seconds().to_numpy(dtype=np.float64)
    else:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    return numbers, [(~np.isfinite(numbers), NUMBER_RULE)]


def _datetime_ns(values: pd.Series) -> tuple[np.ndarray, list[Check]]:
    """Date-times as int64 ns since the epoch; missing or unparseable ones, and ones outside the int64 ns range."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = pd.to_datetime(values, utc=True)
        text = None
    else:
        text = values.astype(str)
        stamps = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    missing = stamps.isna().to_numpy().copy()
    out = ~missing & ((stamps < DATETIME_MIN) | (stamps > DATETIME_MAX)).to_numpy()
    if text is not None and missing.any():  # pandas gives NaT for a date-time it cannot hold in ns
        rows = np.flatnonzero(missing)
        beyond = np.fromiter((_beyond_ns(text.iat[i]) for i in rows), dtype=bool, count=rows.size)
        out[rows[beyond]] = True
        missing[rows[beyond]] = False
    valid = ~missing & ~out
    ns = stamps.where(valid).dt.as_unit("ns").to_numpy(dtype="datetime64[ns]").view(np.int64)
    return np.where(valid, ns, 0), [(missing, DATETIME_RULE), (out, DATETIME_RANGE_RULE)]


def _beyond_ns(text: object) -> bool:
    """True when ``text`` is an ISO-8601 date-time outside the range int64 ns since the epoch can hold."""
    if not isinstance(text, str):
        return False  # missing
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        return False
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return not DATETIME_MIN <= stamp <= DATETIME_MAX


def clean_block(block: RawBlock, layout: Layout, state: FileState, on_error: OnError, log: SkipLog) -> Batch:
    """The valid rows of ``block`` as a Batch (times in s since the first valid row, all 0 without a time
    column); bad rows reported."""
    checks: list[tuple[np.ndarray, str, str]] = []  # (bad mask, column, rule)
    time_raw = None
    if block.time is not None and layout.time is not None:
        time_raw, time_checks = parse_time(block.time, layout.time_unit)
        checks += [(bad, layout.time, rule) for bad, rule in time_checks]
    inputs = outputs = None
    if block.input_tokens is not None and layout.input_tokens is not None:
        inputs, token_checks = token_counts(block.input_tokens)
        checks += [(bad, layout.input_tokens, rule) for bad, rule in token_checks]
    if block.output_tokens is not None and layout.output_tokens is not None:
        outputs, token_checks = token_counts(block.output_tokens)
        checks += [(bad, layout.output_tokens, rule) for bad, rule in token_checks]
    if block.prefix_bad is not None and layout.prefix is not None:
        checks.append((block.prefix_bad, layout.prefix, PREFIX_RULE))
    keep = _report_checks(block, checks, state, on_error, log)
    if layout.zero_output_failed and outputs is not None:
        failed = keep & (outputs == 0)
        if failed.any():
            first = int(np.argmax(failed))
            log.add(FAILED_REASON, int(failed.sum()), f"{_where(state, block, first)}: {layout.output_tokens} is 0")
            state.failed += int(failed.sum())
            keep &= ~failed
    if time_raw is None or layout.time is None:
        times_s = np.zeros(block.lines.size, dtype=np.float64)
    else:
        times_s = _rebase(time_raw, keep, layout, state)
        keep = _check_order(block, times_s, keep, layout.time, state, on_error, log)
    index = np.flatnonzero(keep)
    state.rows += index.size
    batch = Batch(
        times_s,
        inputs,
        outputs,
        None if block.prefix is None else block.prefix[0],
        None if block.prefix is None else block.prefix[1],
        block.lines,
    )
    return batch if index.size == len(batch) else batch.take(index)


def _where(state: FileState, block: RawBlock, row: int) -> str:
    return f"{state.name} {state.unit} {int(block.lines[row])}"


def _got(raw: str | None) -> str:
    return "got nothing (missing)" if raw is None else f"got {raw!r}"


def _report_checks(
    block: RawBlock, checks: list[tuple[np.ndarray, str, str]], state: FileState, on_error: OnError, log: SkipLog
) -> np.ndarray:
    bad_any = np.zeros(block.lines.size, dtype=bool)
    if on_error == "strict":
        firsts = [(int(np.argmax(bad)), column, rule) for bad, column, rule in checks if bad.any()]
        if firsts:
            row, column, rule = min(firsts, key=lambda f: f[0])
            report(on_error, log, "", 1, f"{_where(state, block, row)}: {column}: {rule}, {_got(block.raw(row, column))}")
        return ~bad_any
    for bad, column, rule in checks:
        new = bad & ~bad_any  # a row counts once, under its first failing check
        if new.any():
            row = int(np.argmax(new))
            example = f"{_where(state, block, row)}: {column}: {rule}, {_got(block.raw(row, column))}"
            report(on_error, log, f"{column}: {rule}", int(new.sum()), example)
        bad_any |= bad
    return ~bad_any


def _rebase(time_raw: np.ndarray, keep: np.ndarray, layout: Layout, state: FileState) -> np.ndarray:
    if state.origin is None and keep.any():
        state.origin = time_raw[int(np.argmax(keep))].item()
    origin = 0 if state.origin is None else state.origin
    if layout.time_unit == "datetime":
        return (time_raw - np.int64(origin)).astype(np.float64) * 1e-9
    return (time_raw - float(origin)) * UNIT_S[layout.time_unit]


def _check_order(
    block: RawBlock,
    times_s: np.ndarray,
    keep: np.ndarray,
    column: str,
    state: FileState,
    on_error: OnError,
    log: SkipLog,
) -> np.ndarray:
    """Rows earlier than a previous valid row (in time ``column``) break the order the formats promise."""
    index = np.flatnonzero(keep)
    if index.size == 0:
        return keep
    kept = times_s[index]
    previous = np.maximum.accumulate(np.concatenate(([state.last_s], kept)))[:-1]
    back = kept < previous
    if back.any():
        row = int(index[int(np.argmax(back))])
        rule = "earlier than the previous row (the format promises time order)"
        example = f"{_where(state, block, row)}: {column}: {rule}, {_got(block.raw(row, column))}"
        report(on_error, log, f"{column}: {rule}", int(back.sum()), example)
        keep = keep.copy()
        keep[index[back]] = False
        kept = kept[~back]
    if kept.size:
        state.last_s = max(state.last_s, float(kept[-1]))
    return keep
