"""The decode table gives the durations a direct vectorised call gives, to the bit, across its blocks."""

from __future__ import annotations

import pytest

import sim.serving as serving
from hardware_models import build_performance_model
from hardware_models.interface import BatchWork
from sim.serving import TABLE_BLOCK, DecodeTable


def direct(perf, batch: int, first_kv: int, steps: int) -> list[float]:
    return perf.iteration_time_s(BatchWork.decode_run_sum(float(first_kv - batch), batch, steps)).tolist()


@pytest.fixture(scope="module")
def perf():
    return build_performance_model("nvidia-h100-sxm", "llama-3.1-8b", "fp8", {})


@pytest.mark.parametrize("batch, first_kv, steps", [
    (1, 0, 1), (1, TABLE_BLOCK - 1, 3), (7, 5, 1), (30, 31_000, 8), (30, 2 * TABLE_BLOCK - 30, 2),
    (3, 100, 2000), (256, 250_000, 40), (TABLE_BLOCK + 5, 10 * TABLE_BLOCK + 3, 4),
])
def test_table_equals_direct_pricing(perf, batch: int, first_kv: int, steps: int) -> None:
    table = DecodeTable(perf)
    got = table.run_s(batch, first_kv, steps)
    assert got == direct(perf, batch, first_kv, steps)
    assert table.run_s(batch, first_kv, steps) == got  # from the filled blocks


def test_full_table_prices_the_rest_directly(perf, monkeypatch) -> None:
    monkeypatch.setattr(serving, "TABLE_MAX_BLOCKS", 2)
    table = DecodeTable(perf)
    got = table.run_s(20, 1000, 400)  # 8,000 KV values: more blocks than the table may hold
    assert got == direct(perf, 20, 1000, 400)


def test_host_time_per_request_is_added_to_every_iteration(perf) -> None:
    """``host_overhead_s_per_request`` adds the same h x batch to a mixed iteration and to each decode step of a
    run, whichever path prices it (the fast and step modes then stay identical: tests/sim/test_fast_equals_step)."""
    from sim.batch import Batch
    from sim.request import Request

    host_s = 2e-5
    plain, loaded = serving.StepTimer(perf), serving.StepTimer(perf, None, host_s)
    batch = Batch()
    for i, (tokens, new) in enumerate([(0, 512), (300, 1), (900, 1)]):
        req = Request(i, 0, 0, 1000, 50, 0.0)
        req.computed_tokens = tokens
        batch.add(req, new)
    assert loaded.step_s(batch) == plain.step_s(batch) + host_s * 3
    decoding = Batch()
    for i in range(4):
        req = Request(i, 0, 0, 100, 50, 0.0)
        req.computed_tokens = 120
        decoding.add(req, 1)
    runs = plain.decode_run_s(decoding, 5), loaded.decode_run_s(decoding, 5)
    assert runs[1] == [d + host_s * 4 for d in runs[0]] and len(runs[1]) == 5
