"""Edge cases found by fuzzing the trace readers: overflowing numbers, out-of-range dates, byte-order marks,
whitespace-only lines, non-UTF-8 bytes and Parquet date-time columns. Each is either read correctly or
rejected with one message naming the file, the line, the value and the rule (and counted under skip)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from wl_helpers import read_all
from workloads import TraceError
from workloads.errors import SkipLog
from workloads.traces import Columns, open_trace

HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens"
ROWS = [
    "2023-11-16 18:15:46.6805900,374,44",
    "2023-11-16 18:15:47.6805900,375,45",
    "2023-11-16 18:15:48.6805900,376,46",
]
COLUMNS = Columns(time="when", input_tokens="in", output_tokens="out")
TOO_MANY = "must be at most 2147483647 tokens (2**31 - 1)"
DATE_RANGE = "must be between 1677-09-21 00:12:44 and 2262-04-11 23:47:16 UTC (the supported date-time range)"


def azure(tmp_path: Path, middle: str, name: str = "t.csv") -> Path:
    """A three-row Azure trace whose second row (line 3) is ``middle``."""
    path = tmp_path / name
    path.write_text("\n".join([HEADER, ROWS[0], middle, ROWS[2]]) + "\n")
    return path


def strict_message(path: Path, fmt: str = "auto", columns: Columns | None = None) -> str:
    with pytest.raises(TraceError) as info:
        read_all(open_trace(path, fmt, columns))
    return str(info.value)


def skipped(path: Path, fmt: str = "auto", columns: Columns | None = None) -> tuple[int, dict[str, int]]:
    log = SkipLog()
    batch = read_all(open_trace(path, fmt, columns, on_error="skip", log=log))
    return len(batch), log.as_dict()


# ---- 1. token counts beyond int64 (or any plausible request) ------------------------------------------
@pytest.mark.parametrize("cell", ["99999999999999999999", "1e30", "2147483648", "1e400"])
def test_token_count_above_the_limit_is_a_bad_cell(tmp_path: Path, cell: str) -> None:
    path = azure(tmp_path, f"2023-11-16 18:15:47.6805900,{cell},44")
    assert strict_message(path) == f"t.csv line 3: ContextTokens: {TOO_MANY}, got '{cell}'"
    assert skipped(path) == (2, {f"ContextTokens: {TOO_MANY}": 1})


def test_token_count_at_the_limit_is_kept(tmp_path: Path) -> None:
    path = azure(tmp_path, "2023-11-16 18:15:47.6805900,2147483647,44")
    assert read_all(open_trace(path)).input_tokens.tolist() == [374, 2147483647, 376]  # type: ignore[union-attr]


def test_generic_csv_and_parquet_token_columns_have_the_limit(tmp_path: Path) -> None:
    csv = tmp_path / "g.csv"
    csv.write_text("when,in,out\n0,5,1\n1,5,99999999999999999999\n")
    assert strict_message(csv, "csv", COLUMNS) == f"g.csv line 3: out: {TOO_MANY}, got '99999999999999999999'"
    parquet = tmp_path / "g.parquet"
    pq.write_table(pa.table({"when": [0.0, 1.0], "in": pa.array([5, 2**64 - 1], pa.uint64()), "out": [1, 2]}), parquet)
    assert strict_message(parquet, "parquet", COLUMNS) == f"g.parquet row 2: in: {TOO_MANY}, got '18446744073709551615'"


def test_json_booleans_are_not_token_counts(tmp_path: Path) -> None:
    path = tmp_path / "mc.jsonl"
    path.write_text(json.dumps({"timestamp": 0, "input_length": True, "output_length": 2, "hash_ids": []}) + "\n")
    assert strict_message(path) == "mc.jsonl line 1: input_length: must be a non-negative integer, got 'true'"


# ---- 2. Mooncake hash_ids beyond int64 ----------------------------------------------------------------
def mooncake(tmp_path: Path, middle_ids: object) -> Path:
    rows = [{"timestamp": t, "input_length": 600, "output_length": 20, "hash_ids": [t, t + 1]} for t in (0, 10, 20)]
    rows[1]["hash_ids"] = middle_ids
    path = tmp_path / "mc.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


IDS_RULE = "hash_ids: must be a list of integers from -2**63 to 2**63 - 1"


@pytest.mark.parametrize(
    "ids, got",
    [
        ([1, 100000000000000000000000], "100000000000000000000000"),
        ([2**63], "9223372036854775808"),
        ([1, 2.5], "2.5"),
        ([1, None], "null"),
        (["a"], "a"),
        ("abc", "abc"),
    ],
)
@pytest.mark.filterwarnings("error")  # a wrapped id came with only a RuntimeWarning
def test_hash_ids_outside_int64_are_rejected_with_the_line(tmp_path: Path, ids: object, got: str) -> None:
    path = mooncake(tmp_path, ids)
    assert strict_message(path, "mooncake") == f"mc.jsonl line 2: {IDS_RULE}, got '{got}'"
    assert skipped(path, "mooncake") == (2, {IDS_RULE: 1})


def test_hash_ids_at_the_int64_ends_are_kept_exactly(tmp_path: Path) -> None:
    path = mooncake(tmp_path, [2**63 - 1, -(2**63)])
    batch = read_all(open_trace(path, "mooncake"))
    assert batch.prefix_blocks is not None
    assert batch.prefix_blocks.tolist() == [0, 1, 2**63 - 1, -(2**63), 20, 21]


def test_iso_timestamps_in_mooncake_are_not_numbers(tmp_path: Path) -> None:
    path = tmp_path / "mc.jsonl"
    path.write_text(json.dumps({"timestamp": "2023-11-16T18:15:46", "input_length": 5, "output_length": 2}) + "\n")
    assert strict_message(path, "mooncake") == "mc.jsonl line 1: timestamp: must be a number, got '2023-11-16T18:15:46'"


# ---- 3. byte-order marks ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["auto", "azure"])
def test_bom_before_a_csv_header_is_ignored(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ("\n".join([HEADER, *ROWS]) + "\n").encode())
    batch = read_all(open_trace(path, fmt))
    assert batch.input_tokens.tolist() == [374, 375, 376] and batch.line.tolist() == [2, 3, 4]  # type: ignore[union-attr]


@pytest.mark.parametrize("fmt", ["auto", "mooncake"])
def test_bom_before_jsonl_is_ignored(tmp_path: Path, fmt: str) -> None:
    path = mooncake(tmp_path, [7])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    batch = read_all(open_trace(path, fmt))
    assert batch.time_s.tolist() == [0.0, 0.01, 0.02] and batch.prefix_blocks.tolist() == [0, 1, 7, 20, 21]  # type: ignore[union-attr]


def test_bom_before_a_generic_csv_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_bytes(b"\xef\xbb\xbfwhen,in,out\n0,5,1\n2,6,1\n")
    assert read_all(open_trace(path, "csv", COLUMNS)).time_s.tolist() == [0.0, 2.0]


# ---- 4. whitespace-only lines are blank ---------------------------------------------------------------
@pytest.mark.parametrize("blank", ["   ", "\t", " \t \r"])
def test_whitespace_only_lines_are_blank(tmp_path: Path, blank: str) -> None:
    path = azure(tmp_path, blank)
    batch = read_all(open_trace(path, on_error="strict"))
    assert batch.line.tolist() == [2, 4]  # type: ignore[union-attr]
    path.write_text("\n".join([blank, HEADER, ROWS[0], blank, ROWS[1]]) + "\n")
    assert read_all(open_trace(path)).line.tolist() == [3, 5]  # type: ignore[union-attr]
    jsonl = mooncake(tmp_path, [1])
    lines = jsonl.read_text().splitlines()
    jsonl.write_text("\n".join([lines[0], blank, lines[1], lines[2]]) + "\n")
    assert read_all(open_trace(jsonl)).line.tolist() == [1, 3, 4]  # type: ignore[union-attr]


# ---- 5. bytes that are not UTF-8 ----------------------------------------------------------------------
def test_non_utf8_row_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(("\n".join([HEADER, ROWS[0]]) + "\n").encode() + b"2023-11-16 18:15:47.6805900,37\xff4,44\n")
    message = "t.csv line 3: not UTF-8 text: byte 0xff at column 31; a trace file must be UTF-8 text"
    assert strict_message(path) == message
    path.write_bytes(path.read_bytes() + (ROWS[2] + "\n").encode())
    assert skipped(path) == (2, {"not UTF-8 text": 1})


def test_non_utf8_jsonl_row_and_header(tmp_path: Path) -> None:
    path = mooncake(tmp_path, [1])
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([lines[0], lines[1].replace(b"600", b"6\xfe0"), lines[2], b""]))
    assert strict_message(path) == (
        "mc.jsonl line 2: not UTF-8 text: byte 0xfe at column 36; a trace file must be UTF-8 text"
    )
    header = tmp_path / "h.csv"
    header.write_bytes(b"TIMESTAMP,Context\xffTokens,GeneratedTokens\n" + (ROWS[0] + "\n").encode())
    expected = "h.csv line 1: not UTF-8 text: byte 0xff at column 18; a trace file must be UTF-8 text"
    assert strict_message(header) == expected
    assert strict_message(header, "azure") == expected


# ---- 6. date-times outside the int64-ns range ---------------------------------------------------------
@pytest.mark.parametrize(
    "stamp",
    ["1600-11-16 18:15:47.6805900", "1600-11-16 18:15:47", "9999-11-16 18:15:47", "9999-12-31 00:00:00.009930+00:00"],
)
def test_date_time_out_of_range_names_the_range(tmp_path: Path, stamp: str) -> None:
    path = azure(tmp_path, f"{stamp},374,44")
    assert strict_message(path) == f"t.csv line 3: TIMESTAMP: {DATE_RANGE}, got '{stamp}'"
    assert skipped(path) == (2, {f"TIMESTAMP: {DATE_RANGE}": 1})


def test_date_time_out_of_range_in_the_first_row(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f"{HEADER}\n1600-11-16 18:15:47,374,44\n2023-11-16 18:15:48,374,44\n")
    assert strict_message(path) == f"t.csv line 2: TIMESTAMP: {DATE_RANGE}, got '1600-11-16 18:15:47'"


def test_parquet_date_time_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "old.parquet"
    stamps = pa.array([pd.Timestamp("1600-01-01"), pd.Timestamp("2023-01-01")], pa.timestamp("us"))
    pq.write_table(pa.table({"when": stamps, "in": [1, 2], "out": [1, 2]}), path)
    assert strict_message(path, "parquet", COLUMNS) == f"old.parquet row 1: when: {DATE_RANGE}, got '1600-01-01 00:00:00'"


# ---- 7. Parquet time columns that carry their own unit ------------------------------------------------
@pytest.mark.parametrize(
    "times, expected_s",
    [
        (pa.array(pd.to_datetime(["2023-11-16 00:00:00", "2023-11-17 00:00:00", "2023-11-17 00:00:01.5"], format="ISO8601")), [0.0, 86400.0, 86401.5]),
        (pa.array(pd.to_datetime(["2023-11-16 01:00:00", "2023-11-16 01:00:02"]).tz_localize("Europe/Paris")), [0.0, 2.0]),
        (pa.array(pd.to_timedelta([0, 1.5, 3], unit="s")), [0.0, 1.5, 3.0]),
        (pa.array([pd.Timestamp("2023-11-16").date(), pd.Timestamp("2023-11-18").date()]), [0.0, 172800.0]),
    ],
)
@pytest.mark.parametrize("time_unit", ["s", "ms", "datetime"])
def test_parquet_date_time_and_duration_columns_are_read_in_seconds(
    tmp_path: Path, times: pa.Array, expected_s: list[float], time_unit: str
) -> None:
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"when": times, "in": [5] * len(times), "out": [1] * len(times)}), path)
    batch = read_all(open_trace(path, "parquet", COLUMNS, time_unit))  # type: ignore[arg-type]
    assert np.allclose(batch.time_s, expected_s)


# ---- the command line: one `error:` line, exit status 2 -----------------------------------------------
@pytest.mark.parametrize(
    "middle, expected",
    [
        ("2023-11-16 18:15:47.6805900,99999999999999999999,44", f"line 3: ContextTokens: {TOO_MANY}"),
        ("9999-11-16 18:15:47,374,44", f"line 3: TIMESTAMP: {DATE_RANGE}"),
    ],
)
def test_cli_reports_bad_trace_rows(tmp_path: Path, middle: str, expected: str) -> None:
    from experiments.cli import main

    trace = azure(tmp_path, middle)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "horizon: {requests: 10}\nmodel: llama-3.1-8b\nprecision: fp8\n"
        f"workload: {{arrival: {{type: trace, path: {trace}, format: azure}}}}\n"
        "fleet: {pools: [{name: gpu, hardware: nvidia-h100-sxm}]}\n"
    )
    result = CliRunner().invoke(main, ["run", str(scenario), "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 2, result.output
    assert f"error: t.csv {expected}" in result.output
