"""Length tables: a CSV/Parquet file of per-sample token counts without an arrival-time column (a dataset's
``input_length,output_length``). It gives lengths (``trace_pairs``, ``empirical``) with every row check of a
trace, and is refused, at scenario load, as an arrival process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import experiments
from wl_helpers import read_all, source
from workloads import TraceError
from workloads.errors import SkipLog
from workloads.lengths import TracePairs
from workloads.traces import Columns, open_trace

COLUMNS = {"input_tokens": "input_length", "output_tokens": "output_length"}
INPUTS, OUTPUTS = [512, 30, 2048, 7], [128, 300, 1, 64]
REFUSED = (
    "workload.arrival.columns.time: required to replay a trace "
    "(a table without times can only give lengths: lengths: {type: trace_pairs})"
)
BASE = {
    "horizon": {"requests": 10},
    "model": "llama-3.1-8b",
    "precision": "fp8",
    "fleet": {"pools": [{"name": "gpu", "hardware": "nvidia-h100-sxm"}]},
}


def csv_table(tmp_path: Path, rows: list[str] | None = None) -> Path:
    path = tmp_path / "lengths.csv"
    rows = rows if rows is not None else [f"{i},{o}" for i, o in zip(INPUTS, OUTPUTS)]
    path.write_text("\n".join(["input_length,output_length", *rows]) + "\n")
    return path


def parquet_table(tmp_path: Path, inputs: list[int] = INPUTS, outputs: list[int] = OUTPUTS) -> Path:
    path = tmp_path / "lengths.parquet"
    pd.DataFrame({"input_length": inputs, "output_length": outputs}).to_parquet(path)
    return path


#: a writer of the same length table as CSV or as Parquet, and its format
Table = Callable[[Path], Path]
TABLES = pytest.mark.parametrize("table, fmt", [(csv_table, "csv"), (parquet_table, "parquet")], ids=["csv", "parquet"])


def pairs(path: Path, fmt: str, on_error: str = "strict") -> TracePairs:
    return TracePairs(type="trace_pairs", path=str(path), format=fmt, columns=Columns(**COLUMNS), on_error=on_error)


@TABLES
def test_trace_pairs_read_a_length_table_exactly(tmp_path: Path, table: Table, fmt: str) -> None:
    path = table(tmp_path)
    inputs, outputs = pairs(path, fmt).pairs
    assert inputs.tolist() == INPUTS and outputs.tolist() == OUTPUTS
    wl = {"arrival": {"type": "poisson", "rate_per_s": 50.0},
          "lengths": {"type": "trace_pairs", "path": str(path), "format": fmt, "columns": COLUMNS}}
    chunk = next(source(wl).chunks(max_requests=200))
    drawn = set(zip(chunk.input_tokens.tolist(), chunk.output_tokens.tolist()))
    assert drawn == set(zip(INPUTS, OUTPUTS))  # 200 draws of 4 rows: every row, and only those rows


@TABLES
def test_a_length_table_has_no_times(tmp_path: Path, table: Table, fmt: str) -> None:
    reader = open_trace(table(tmp_path), fmt, Columns(**COLUMNS))
    batch = read_all(reader)
    assert not reader.has_times and reader.has_lengths
    assert batch.time_s.tolist() == [0.0] * len(INPUTS)


def test_a_bad_cell_of_a_length_table_names_its_line(tmp_path: Path) -> None:
    path = csv_table(tmp_path, ["512,128", "30,-3", "", "abc,1", "7,64"])
    message = r"lengths.csv line 3: output_length: must be a non-negative integer, got '-3'"
    with pytest.raises(ValueError, match=message):
        pairs(path, "csv")  # every row is read when the spec is built: a scenario-load error
    log = SkipLog()
    reader = open_trace(path, "csv", Columns(**COLUMNS), on_error="skip", log=log)
    batch = read_all(reader)
    assert batch.input_tokens.tolist() == [512, 7] and batch.line.tolist() == [2, 6]  # type: ignore[union-attr]
    assert log.as_dict() == {"input_length: must be a non-negative integer": 1,
                             "output_length: must be a non-negative integer": 1}
    assert "lengths.csv line 5: input_length: must be a non-negative integer, got 'abc'" in log.summary()


def test_a_bad_cell_of_a_parquet_length_table_names_its_row(tmp_path: Path) -> None:
    path = parquet_table(tmp_path, [1, 2, -5], [4, 5, 6])
    message = r"lengths.parquet row 3: input_length: must be a non-negative integer, got '-5'"
    with pytest.raises(ValueError, match=message):
        pairs(path, "parquet")
    assert pairs(path, "parquet", on_error="skip").pairs[0].tolist() == [1, 2]


def test_a_length_table_needs_a_named_format(tmp_path: Path) -> None:
    """``auto`` does not guess a table without times as a trace format: it asks for ``format:``."""
    path = csv_table(tmp_path)
    with pytest.raises(ValueError, match=r"cannot detect the trace format from the header \['input_length', "
                                         r"'output_length'\]; name it with format: .*csv with columns"):
        TracePairs(type="trace_pairs", path=str(path))
    with pytest.raises(ValueError, match="format parquet needs 'columns'"):
        TracePairs(type="trace_pairs", path=str(parquet_table(tmp_path)))


@TABLES
def test_a_length_table_loads_as_lengths_in_a_scenario(tmp_path: Path, table: Table, fmt: str) -> None:
    path = table(tmp_path)
    lengths = {"type": "trace_pairs", "path": str(path), "format": fmt, "columns": COLUMNS}
    workload = {"arrival": {"type": "poisson", "rate_per_s": 2}, "lengths": lengths}
    scenario = experiments.load_scenario({**BASE, "workload": workload})
    assert scenario.workload.lengths is not None and scenario.workload.lengths.pairs[1].tolist() == OUTPUTS


@TABLES
@pytest.mark.parametrize("time", ["absent", None])
def test_replaying_a_length_table_is_refused_at_scenario_load(
    tmp_path: Path, table: Table, fmt: str, time: str | None
) -> None:
    columns = COLUMNS if time == "absent" else {**COLUMNS, "time": time}
    arrival = {"type": "trace", "path": str(table(tmp_path)), "format": fmt, "columns": columns}
    with pytest.raises(experiments.ScenarioError) as info:
        experiments.load_scenario({**BASE, "workload": {"arrival": arrival}})
    assert str(info.value) == REFUSED


def test_empirical_lengths_read_a_column_of_a_length_table(tmp_path: Path) -> None:
    for path in (csv_table(tmp_path), parquet_table(tmp_path)):
        dist = {"type": "empirical", "path": str(path), "column": "input_length"}
        wl = {"arrival": {"type": "poisson", "rate_per_s": 50.0}, "input_tokens": dist,
              "output_tokens": {"type": "fixed", "value": 3}}
        chunk = next(source(wl).chunks(max_requests=200))
        assert set(chunk.input_tokens.tolist()) == set(INPUTS)
        assert np.all(chunk.output_tokens == 3)


def test_rows_a_length_table_skips_are_reported_in_the_run_summary(tmp_path: Path) -> None:
    """``on_error: skip`` leaves a bad row out of the pairs and says so: the run's ``workload.skipped_rows``
    counts it under the file's name (nothing is dropped silently)."""
    path = csv_table(tmp_path, ["512,128", "x,300", "30,300", "-4,1"])
    scenario = {**BASE, "workload": {"arrival": {"type": "poisson", "rate_per_s": 5.0},
                                     "lengths": {"type": "trace_pairs", "path": str(path), "format": "csv",
                                                 "columns": COLUMNS, "on_error": "skip"}}}
    skipped = experiments.run(experiments.load_scenario(scenario)).summary["workload"]["skipped_rows"]
    assert skipped == {"lengths file lengths.csv: input_length: must be a non-negative integer": 2}


def test_a_repeated_header_name_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("input_length,output_length,note,note\n5,6,a,b\n")
    with pytest.raises(ValueError, match=r"twice.csv line 1: column 'note' appears more than once in the header"):
        pairs(path, "csv")  # the header is read when the scenario loads


def test_a_bad_cell_far_down_a_large_table_is_reported_without_a_pandas_warning(tmp_path: Path) -> None:
    """pandas guesses column types chunk by chunk unless told not to, and warned on stderr ('mixed types')
    when a bad cell came after many good ones: the reader parses each block whole, so only its own message
    is printed."""
    import warnings

    rows = ["100,20"] * 250_000 + ["12x,5"] + ["100,20"] * 50_000  # good rows after it: a second pandas chunk
    path = csv_table(tmp_path, rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"lengths.csv line 250002: input_length: must be a non-negative integer"):
            pairs(path, "csv")


@pytest.mark.parametrize("stamp", [pd.Timestamp("2020-01-01"), pd.Timedelta(seconds=3)], ids=["timestamp", "duration"])
def test_a_date_time_or_duration_in_a_length_column_is_not_a_count(tmp_path: Path, stamp: object) -> None:
    path = tmp_path / "lengths.parquet"
    pd.DataFrame({"input_length": [stamp, stamp], "output_length": [4, 5]}).to_parquet(path)
    with pytest.raises(ValueError, match=r"lengths.parquet row 1: input_length: must be a non-negative integer"):
        pairs(path, "parquet")


def test_a_bad_cell_is_a_scenario_load_error_naming_the_field(tmp_path: Path) -> None:
    path = csv_table(tmp_path, ["512,128", "30,-3"])
    scenario = {**BASE, "workload": {"arrival": {"type": "poisson", "rate_per_s": 5.0},
                                     "lengths": {"type": "trace_pairs", "path": str(path), "format": "csv",
                                                 "columns": COLUMNS}}}
    with pytest.raises(experiments.ScenarioError,
                       match=r"workload.lengths: lengths.csv line 3: output_length: must be a non-negative integer"):
        experiments.load_scenario(scenario)
