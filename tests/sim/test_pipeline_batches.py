"""A replica with pipeline stages keeps ``parallelism.micro_batches`` batches in flight (vLLM's virtual
engines): each takes a full pass through the stages per iteration, so one request's latency does not change,
while under load the stages work on different batches at once and throughput grows with the batches."""

from __future__ import annotations

import copy

import pytest

import experiments
from experiments import run

BASE = {
    "name": "pipeline", "seed": 3, "horizon": {"requests": 256}, "model": "llama-3.1-70b", "precision": "fp8",
    "workload": {"arrival": {"type": "offline"}, "input_tokens": {"type": "fixed", "value": 256},
                 "output_tokens": {"type": "fixed", "value": 64}},
    "fleet": {"pools": [{"name": "gpu", "hardware": "nvidia-h100-sxm", "parallelism": {"tensor": 2, "pipeline": 4},
                         "scheduler": {"type": "continuous", "max_batch_requests": 16}}]},
}


def with_batches(batches: int | None, requests: int = 256) -> dict:
    s = copy.deepcopy(BASE)
    s["horizon"] = {"requests": requests}
    if batches is not None:
        s["fleet"]["pools"][0]["parallelism"]["micro_batches"] = batches
    return s


def test_one_request_takes_the_same_time_with_any_number_of_batches_in_flight() -> None:
    e2e = [run(with_batches(b, requests=1)).requests["e2e_s"].iloc[0] for b in (1, 2, 4)]
    assert e2e[0] == e2e[1] == e2e[2]


def test_throughput_grows_with_the_batches_in_flight_up_to_the_stage_count() -> None:
    """16 requests per batch, 256 queued: with b batches in flight the same work finishes ~b times sooner
    (each batch's iterations are as long as before; b of them overlap)."""
    end = {b: run(with_batches(b)).summary["end_s"] for b in (1, 2, 4)}
    assert end[1] / end[2] == pytest.approx(2.0, rel=0.05)
    assert end[1] / end[4] == pytest.approx(4.0, rel=0.05)
    assert run(with_batches(None)).summary["end_s"] == end[4]  # the default: one batch per stage


def test_each_batch_in_flight_holds_an_equal_share_of_the_kv_cache() -> None:
    one = run(with_batches(1)).summary["pools"]["gpu"]["kv_cache"]["capacity_tokens"]
    four = run(with_batches(4)).summary["pools"]["gpu"]["kv_cache"]["capacity_tokens"]
    assert four == pytest.approx(one / 4, abs=16)


def test_a_request_too_long_for_its_share_is_dropped_with_the_reason() -> None:
    s = with_batches(4, requests=2)
    s["fleet"]["pools"][0]["scheduler"]["kv_capacity_tokens"] = 4 * 256
    s["workload"]["input_tokens"]["value"] = 400
    records = run(s).requests
    assert (records["status"] == "dropped").all()
    assert records["reason"].iloc[0].endswith("each of the replica's 4 batches in flight (micro_batches) has 16")


@pytest.mark.parametrize(("parallelism", "message"), [
    ({"tensor": 2, "pipeline": 4, "micro_batches": 5}, "micro_batches: at most one batch per pipeline stage (4), got 5"),
])
def test_micro_batches_beyond_the_stages_are_refused(parallelism: dict, message: str) -> None:
    s = copy.deepcopy(BASE)
    s["fleet"]["pools"][0]["parallelism"] = parallelism
    with pytest.raises(experiments.ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)")):
        experiments.load_scenario(s)


def test_batches_in_flight_need_a_kv_block_each() -> None:
    """A cap too small to share is a load error (the default takes one batch per stage, so it names the key)."""
    s = with_batches(None, requests=2)
    s["fleet"]["pools"][0]["scheduler"]["kv_capacity_tokens"] = 40
    with pytest.raises(experiments.ScenarioError, match=r"fleet.pools\[0\]: parallelism.micro_batches: 4 batches in "
                                                        r"flight would each hold 10 of scheduler.kv_capacity_tokens"):
        experiments.load_scenario(s)
