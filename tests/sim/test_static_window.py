"""Static batching with a window (``sim.schedulers.StaticPolicy`` on ``sim.serving.LLMReplica``): the replica
waits ``window_s`` from the first waiting request's arrival for a batch to fill, a full batch closes the window
early, and requests beyond ``max_batch_requests`` go to the next batch. Checked in both engine modes.

The performance model prices every iteration at exactly 1 s (``LinearModel(a_s=1, b_s=0, c_s=0)``), and
arrival times are binary fractions, so every expected time below is exact arithmetic on the inputs.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import simpy

from experiments import load_scenario
from experiments.runner import build_simulation
from sim.kv_cache import KVCache
from sim.records import Status
from sim.request import Request
from sim.schedulers import StaticScheduler, build_policy
from sim.serving import LLMReplica, StepTimer
from fakes import LinearModel

WINDOW_S = 0.05
MAX_EVENTS = 10_000
STEP_S = 1.0  # every iteration, prefill or decode, of any batch


def drive(arrivals_s: list[float], fast: bool, output_tokens: int = 3, max_batch: int = 8,
          window_s: float = WINDOW_S) -> dict[int, Request]:
    """Submit one request (100 prompt tokens) at each time to a single static-batching replica; run to the end."""
    env = simpy.Environment()
    spec = StaticScheduler(type="static", max_batch_requests=max_batch, window_s=window_s)
    kv = KVCache(100_000, spec.block_tokens, False, spec.prefix_block_tokens)
    done: dict[int, Request] = {}

    def on_done(req: Request, status: Status, reason: str) -> None:
        assert status == Status.OK, reason
        done[req.id] = req

    replica = LLMReplica(env, 0, 0, on_done, build_policy(spec, kv),
                         StepTimer(LinearModel(a_s=STEP_S, b_s=0.0, c_s=0.0)), fast=fast)

    def source():
        for i, t in enumerate(arrivals_s):
            if t > env.now:
                yield env.timeout(t - env.now)
            replica.submit(Request(i, 0, 0, 100, output_tokens, env.now))

    env.process(source())
    for _ in range(MAX_EVENTS):  # bounded: a replica that keeps re-opening its window fails instead of hanging
        if env.peek() == math.inf:
            break
        env.step()
    assert env.peek() == math.inf, "the replica never went idle"
    assert len(done) == len(arrivals_s)
    return done


MODES = pytest.mark.parametrize("fast", [True, False], ids=["fast", "step"])


@MODES
@pytest.mark.parametrize("t0", [0.0, 1.0])
def test_requests_within_the_window_start_together_at_its_deadline(fast: bool, t0: float) -> None:
    arrivals = [t0, t0 + 1 / 256, t0 + 10 / 256]  # all within 0.05 s of the first; 3 < max_batch_requests 8
    done = drive(arrivals, fast)
    deadline = t0 + WINDOW_S  # the first arrival + the window, not the last arrival + the window
    for i in range(3):
        assert done[i].start_s == deadline
        assert done[i].first_token_s == deadline + STEP_S  # one prefill iteration for the whole batch
        assert done[i].finish_s == deadline + STEP_S + STEP_S + STEP_S  # then two decode iterations


@MODES
def test_a_lone_request_waits_out_the_window(fast: bool) -> None:
    done = drive([0.0], fast, output_tokens=1)
    assert done[0].start_s == WINDOW_S
    assert done[0].finish_s == WINDOW_S + STEP_S


@MODES
def test_a_full_batch_closes_the_window_early_and_the_ninth_waits_for_the_next_batch(fast: bool) -> None:
    arrivals = [k / 256 for k in range(9)]  # nine arrivals 1/256 s apart, all within 0.05 s of the first
    done = drive(arrivals, fast)
    eighth = 7 / 256  # the eighth arrival fills the batch: it starts then, before the window's deadline
    batch_end = eighth + STEP_S + STEP_S + STEP_S  # prefill, then two decode steps (3 output tokens)
    for i in range(8):
        assert done[i].start_s == eighth
        assert done[i].first_token_s == eighth + STEP_S
        assert done[i].finish_s == batch_end
    # the ninth arrived while the first batch ran; its window (8/256 + 0.05) has long passed when that batch
    # ends, so the next batch (of one) starts at once
    assert done[8].start_s == batch_end
    assert done[8].first_token_s == batch_end + STEP_S
    assert done[8].finish_s == batch_end + STEP_S + STEP_S + STEP_S


@MODES
def test_nine_simultaneous_arrivals_make_a_batch_of_eight_then_one(fast: bool) -> None:
    done = drive([0.0] * 9, fast, output_tokens=2)
    for i in range(8):  # the first eight in arrival order
        assert done[i].start_s == 0.0
        assert done[i].finish_s == 2 * STEP_S
    assert done[8].start_s == 2 * STEP_S
    assert done[8].finish_s == 4 * STEP_S


@MODES
def test_the_next_batch_gets_its_own_window_from_its_first_arrival(fast: bool) -> None:
    # a lone request at 0 runs 0.05 -> 1.05 (one token); a request at 2 finds the replica idle and waits 0.05
    done = drive([0.0, 2.0, 2.0 + 1 / 256], fast, output_tokens=1)
    assert done[0].start_s == WINDOW_S
    assert done[1].start_s == done[2].start_s == 2.0 + WINDOW_S


def _trace(tmp_path: Path, times: list[float]) -> str:
    path = tmp_path / "arrivals.csv"
    path.write_text("t,prompt,gen\n" + "".join(f"{t!r},200,64\n" for t in times))
    return str(path)


def scenario(trace: str, mode: str) -> dict:
    return {
        "name": "static-window", "seed": 1, "horizon": {"requests": 100}, "model": "llama-3.1-8b",
        "precision": "fp8", "engine": {"mode": mode},
        "workload": {"arrival": {"type": "trace", "path": trace, "format": "csv",
                                 "columns": {"time": "t", "input_tokens": "prompt", "output_tokens": "gen"}}},
        "fleet": {"pools": [{"name": "gpu", "hardware": "nvidia-h100-sxm", "replicas": 1,
                             "scheduler": {"type": "static", "max_batch_requests": 8, "window_s": WINDOW_S}}]},
    }


@pytest.mark.parametrize("mode", ["fast", "step"])
def test_the_window_end_to_end_on_catalog_hardware(tmp_path: Path, mode: str) -> None:
    """The same rules on a scenario built as ``experiments.run`` builds it (a CSV trace; the H100 model prices
    the iterations)."""
    # 3 requests within the window; 10 s later 9 at once (the trace's first row is t=0)
    times = [0.0, 0.01, 0.03] + [10.0] * 9
    sim = build_simulation(load_scenario(scenario(_trace(tmp_path, times), mode)))
    assert sim.advance(200_000), "the run did not end"  # what experiments.run does, with a bound on the events
    df = sim.finish().to_frame().set_index("request_id")
    assert (df["status"] == "ok").all() and len(df) == 12
    first = df.loc[[0, 1, 2]]
    assert (first["start_s"] == 0.0 + WINDOW_S).all()
    assert first["first_token_s"].nunique() == 1 and first["finish_s"].nunique() == 1
    burst = df.loc[list(range(3, 11))]
    assert (burst["start_s"] == 10.0).all()  # a full batch of 8 starts on arrival, without waiting
    ninth = df.loc[11]
    assert ninth["start_s"] == max(burst["finish_s"].max(), 10.0 + WINDOW_S)  # the next batch
    assert ninth["start_s"] > 10.0 + WINDOW_S
