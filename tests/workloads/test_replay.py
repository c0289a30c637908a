"""Trace replay controls and the other formats (Azure 2024, BurstGPT, generic CSV/Parquet)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wl_helpers import TRACES, arrivals, read_all, source
from workloads.errors import SkipLog
from workloads.replay import TraceArrival
from workloads.traces import Columns, detect_format, open_trace
from workloads.workload import Workload

CONV = str(TRACES / "azure_conv_2023.csv")
MOONCAKE = str(TRACES / "mooncake_conversation.jsonl")
CONV_ROWS = 19366


def trace(**options: object) -> dict:
    return {"arrival": {"type": "trace", "path": CONV, **options}}


def all_requests(workload: dict, seed: int = 1, **cut: float):  # type: ignore[no-untyped-def]
    chunks = list(source(workload, seed).chunks(**cut))  # type: ignore[arg-type]
    return (np.concatenate([c.arrival_s for c in chunks]), np.concatenate([c.input_tokens for c in chunks]),
            np.concatenate([c.output_tokens for c in chunks]))


def test_replay_is_the_trace() -> None:
    times, inputs, outputs = all_requests(trace(), max_requests=10**6)
    batch = read_all(open_trace(CONV))
    assert times[0] == 0.0 and np.array_equal(times, batch.time_s)
    assert np.array_equal(inputs, batch.input_tokens) and np.array_equal(outputs, batch.output_tokens)
    assert TraceArrival(type="trace", path=CONV).provides_lengths
    assert Workload.model_validate(trace()).has_lengths


def test_horizon_cuts() -> None:
    assert arrivals(trace(), max_requests=1000).size == 1000
    times = arrivals(trace(), until_s=600.0)
    assert times.max() < 600 and times.size == int((read_all(open_trace(CONV)).time_s < 600).sum())


def test_time_scale_plays_faster() -> None:
    base = arrivals(trace(), until_s=1e9)
    fast = arrivals(trace(time_scale=0.5), until_s=1e9)
    assert np.allclose(fast, base * 0.5)


def binomial_band(n: int, p: float) -> float:
    return 4 * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("factor", [0.3, 2.5])
def test_rate_scale_thins_or_copies(factor: float) -> None:
    times, inputs, _ = all_requests(trace(rate_scale=factor), until_s=1e9)
    frac = factor - math.floor(factor)
    expected = CONV_ROWS * factor
    assert abs(times.size - expected) < binomial_band(CONV_ROWS, frac)
    assert np.all(np.diff(times) >= 0)
    # the burst shape is kept: per-5-minute counts scale by the factor
    base = np.histogram(read_all(open_trace(CONV)).time_s, bins=12, range=(0, 3600))[0]
    scaled = np.histogram(times, bins=12, range=(0, 3600))[0]
    sd = np.sqrt(base * max(frac * (1 - frac), factor * (1 - factor) if factor < 1 else frac * (1 - frac)))
    assert np.all(np.abs(scaled - factor * base) < 4 * sd + 2)
    assert set(np.unique(inputs)) <= set(np.unique(read_all(open_trace(CONV)).input_tokens))


def test_target_rate() -> None:
    spec = TraceArrival(type="trace", path=CONV, target_rate_per_s=2.0)
    rows, period = spec.scan()
    assert rows == CONV_ROWS
    assert spec.mean_rate_per_s() == pytest.approx(2.0)
    times = arrivals(trace(target_rate_per_s=2.0), until_s=1e9)
    expected = 2.0 * period
    p = expected / CONV_ROWS
    assert abs(times.size - expected) < binomial_band(CONV_ROWS, p)


def test_window() -> None:
    original = read_all(open_trace(CONV)).time_s
    times = arrivals(trace(window_s=[600, 1200]), until_s=1e9)
    inside = original[(original >= 600) & (original < 1200)]
    assert times.size == inside.size
    assert np.allclose(times, inside - inside[0])


def test_loop_repeats_with_the_window_period() -> None:
    times = arrivals(trace(window_s=[600, 1200], loop=True), until_s=1500)
    original = read_all(open_trace(CONV)).time_s
    inside = original[(original >= 600) & (original < 1200)] - original[(original >= 600)][0]
    assert np.allclose(times[: inside.size], inside)
    assert np.allclose(times[inside.size : 2 * inside.size], inside + 600)
    assert times.size == 2 * inside.size + int((inside < 300).sum())


def test_loop_without_window_uses_span_plus_a_mean_gap() -> None:
    original = read_all(open_trace(CONV)).time_s
    period = original[-1] * CONV_ROWS / (CONV_ROWS - 1)
    times = arrivals(trace(loop=True), max_requests=CONV_ROWS + 5)
    assert np.allclose(times[CONV_ROWS:], original[:5] + period)


def test_spread_ticks_breaks_ties_within_the_tick() -> None:
    original = read_all(open_trace(MOONCAKE)).time_s
    times = arrivals({"arrival": {"type": "trace", "path": MOONCAKE, "spread_ticks_s": 3.0}}, until_s=1e9)
    assert times.size == original.size
    assert (np.diff(times) == 0).mean() < 0.001 and np.all(np.diff(times) >= 0)
    # each tick's requests stay within [tick, tick + 3 s): counts per 3-s bin match the original's
    shifted = np.histogram(times, bins=np.arange(0, 3600, 30.0))[0]
    plain = np.histogram(original, bins=np.arange(0, 3600, 30.0))[0]
    assert np.abs(shifted - plain).sum() < 0.1 * plain.sum()
    gaps = np.diff(times)
    assert 0.8 < gaps.std() / gaps.mean() < 1.6  # spread ticks look Poisson-like inside a tick


def test_azure_2024_offsets(tmp_path: Path) -> None:
    path = tmp_path / "week.csv"
    path.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2024-05-10 00:00:00.009930+00:00,2162,5\n"
        "2024-05-10 00:00:00.509930+00:00,100,7\n"
        "2024-05-10 02:00:01.009930+02:00,10,1\n"
    )
    assert detect_format(path) == "azure2024"
    batch = read_all(open_trace(path))
    assert np.allclose(batch.time_s, [0.0, 0.5, 1.0])


BURSTGPT = """Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type
5,ChatGPT,472,18,490,Conversation log
45,ChatGPT,1087,0,1087,Conversation log
110.5,GPT-4,417,505,922,API log
120,ChatGPT,20,30,50,Conversation log
"""


def test_burstgpt_failed_rows_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "BurstGPT_1.csv"
    path.write_text(BURSTGPT)
    assert detect_format(path) == "burstgpt"
    log = SkipLog()
    batch = read_all(open_trace(path, log=log))
    assert np.allclose(batch.time_s, [0.0, 105.5, 115.0])
    assert batch.input_tokens.tolist() == [472, 417, 20] and batch.output_tokens.tolist() == [18, 505, 30]
    assert log.as_dict() == {"failed request (output tokens 0)": 1}
    assert "BurstGPT_1.csv line 3: Response tokens is 0" in log.summary()


def test_generic_csv_with_a_column_mapping(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("t_ms,prompt,gen,user\n1000,10,2,a\n1500,20,3,b\n4000,30,4,c\n")
    columns = {"time": "t_ms", "input_tokens": "prompt", "output_tokens": "gen"}
    reader = open_trace(path, "csv", columns=Columns(**columns),
                        time_unit="ms")
    batch = read_all(reader)
    assert np.allclose(batch.time_s, [0.0, 0.5, 3.0]) and batch.input_tokens.tolist() == [10, 20, 30]
    times = arrivals({"arrival": {"type": "trace", "path": str(path), "format": "csv", "columns": columns,
                                  "time_unit": "ms"}}, until_s=10)
    assert np.allclose(times, [0.0, 0.5, 3.0])


def test_times_only_trace_needs_length_distributions(tmp_path: Path) -> None:
    path = tmp_path / "times.csv"
    path.write_text("ts\n0\n1\n2\n")
    arrival = {"type": "trace", "path": str(path), "format": "csv", "columns": {"time": "ts"}}
    assert not Workload.model_validate({"arrival": arrival}).has_lengths
    wl = {"arrival": arrival, "input_tokens": {"type": "fixed", "value": 7}, "output_tokens": {"type": "fixed", "value": 3}}
    chunk = next(source(wl).chunks(until_s=10))
    assert chunk.input_tokens.tolist() == [7, 7, 7]


def test_parquet_with_a_column_mapping(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pd.DataFrame({"at": [10.0, 10.25, 11.0], "inp": [1, 2, 3], "out": [4, 5, 6]}).to_parquet(path)
    columns = {"time": "at", "input_tokens": "inp", "output_tokens": "out"}
    chunk = next(source({"arrival": {"type": "trace", "path": str(path), "columns": columns}}).chunks(until_s=10))
    assert np.allclose(chunk.arrival_s, [0.0, 0.25, 1.0]) and chunk.output_tokens.tolist() == [4, 5, 6]
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"at": [1.0, 2.0], "inp": [1, -2], "out": [4, 5]}).to_parquet(bad)
    with pytest.raises(ValueError, match="bad.parquet row 2: inp: must be a non-negative integer, got '-2'"):
        list(source({"arrival": {"type": "trace", "path": str(bad), "columns": columns}}).chunks(until_s=10))


def test_replay_control_validation() -> None:
    with pytest.raises(ValueError, match="rate_scale or target_rate_per_s, not both"):
        TraceArrival(type="trace", path=CONV, rate_scale=2, target_rate_per_s=3)
    with pytest.raises(ValueError, match="window_s must be"):
        TraceArrival(type="trace", path=CONV, window_s=(5, 1))
    with pytest.raises(ValueError, match="extra"):
        TraceArrival.model_validate({"type": "trace", "path": CONV, "speed": 2})


def test_rate_scaled_copies_are_another_user_population() -> None:
    """k-th copies share prefixes among themselves as the originals do, and never with the originals."""
    from workloads.batch import Batch
    from workloads.replay import _copies

    # rows 0 and 1 share block 7 (one conversation, two turns); row 2 is unrelated
    batch = Batch(np.array([0.0, 1.0, 2.0]), np.array([10, 20, 30]), np.array([1, 1, 1]),
                  np.array([0, 2, 5, 6]), np.array([7, 8, 7, 9, 10, 11], dtype=np.int64))
    out = _copies(batch, 2.0, np.random.default_rng(3))
    rows = [tuple(out.prefix_blocks[out.prefix_offsets[i]:out.prefix_offsets[i + 1]].tolist()) for i in range(len(out))]
    originals = [r for r in rows if r[0] in (7, 11)]
    copies = [r for r in rows if r[0] not in (7, 11)]
    assert sorted(originals) == [(7, 8), (7, 9, 10), (11,)]
    assert len(copies) == 3 and not set().union(*copies) & {7, 8, 9, 10, 11}
    first_blocks = [r[0] for r in copies if len(r) > 1]
    assert len(first_blocks) == 2 and first_blocks[0] == first_blocks[1]  # the copies' turns still share
    assert all(b >= 0 for r in copies for b in r)


def test_rate_scaled_mooncake_keeps_its_prefix_structure() -> None:
    """Scaling by 2 gives two populations with the original's share of repeated blocks each."""
    def repeat_share(workload: dict) -> float:
        chunks = list(source(workload, 1).chunks(until_s=1e9))
        blocks = np.concatenate([c.prefix_blocks[: int(c.prefix_offsets[-1])] for c in chunks])
        return 1.0 - np.unique(blocks).size / blocks.size

    base = repeat_share({"arrival": {"type": "trace", "path": MOONCAKE}})
    doubled = repeat_share({"arrival": {"type": "trace", "path": MOONCAKE, "rate_scale": 2.0}})
    assert doubled == pytest.approx(base, abs=0.01)  # shared copies would push it to ~(1 + base) / 2


def test_each_loop_pass_is_another_user_population() -> None:
    """A looped pass shares prefixes within itself as the trace does, and none with earlier passes."""
    n = TraceArrival(type="trace", path=MOONCAKE).scan()[0]
    looped = source({"arrival": {"type": "trace", "path": MOONCAKE, "loop": True}}, 1)
    rows = [ids for chunk in looped.chunks(max_requests=2 * n) for ids in chunk.prefix_lists()]
    assert len(rows) == 2 * n  # the second pass starts one period after the first: time order keeps them apart
    first, second = (np.concatenate([np.asarray(r, dtype=np.int64) for r in part]) for part in (rows[:n], rows[n:]))
    assert not set(first.tolist()) & set(second.tolist())  # no free cache hits from the first pass
    share = [1.0 - np.unique(b).size / b.size for b in (first, second)]
    assert share[1] == pytest.approx(share[0], rel=1e-12) and share[0] > 0.1  # the same reuse within a pass


def test_looping_a_trace_whose_rows_share_one_time_says_what_it_needs(tmp_path: Path) -> None:
    one = tmp_path / "one.jsonl"
    one.write_text('{"timestamp": 0, "input_length": 10, "output_length": 5, "hash_ids": [1]}\n')
    workload = {"arrival": {"type": "trace", "path": str(one), "format": "mooncake", "loop": True}}
    with pytest.raises(ValueError, match=r"one.jsonl: every row has the same time \(0 s\), so the trace has no period "
                                         r"to loop over or rate to scale: loop, rate_scale and target_rate_per_s"):
        all_requests(workload, max_requests=3)
