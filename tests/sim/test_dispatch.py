"""The front-end batcher: groups leave when the window has passed since the last send or when full, each
group to one replica, and nothing it holds is lost."""

from __future__ import annotations

import pytest
import simpy

from experiments import load_scenario, run
from experiments.errors import ScenarioError
from sim.dispatch import BatcherSpec, DispatchBatcher
from sim.request import Request


def drive(arrivals_s: list[float], window_s: float, max_requests: int = 96) -> list[tuple[float, list[int]]]:
    """Feed requests at the given times; return (send time, request ids) per group."""
    env = simpy.Environment()
    sent: list[tuple[float, list[int]]] = []
    batcher = DispatchBatcher(env, BatcherSpec(window_s=window_s, max_requests=max_requests),
                              lambda group: sent.append((env.now, [r.id for r in group])))

    def source():
        for i, t in enumerate(arrivals_s):
            yield env.timeout(t - env.now)
            batcher.add(Request(i, 0, 0, 10, 5, env.now))

    env.process(source())
    env.run()
    assert not batcher.held
    return sent


def test_groups_leave_a_window_after_the_last_send() -> None:
    sent = drive([0.0, 0.1, 0.2, 0.5, 0.55, 1.5], window_s=0.3)
    assert [ids for _, ids in sent] == [[0, 1, 2], [3, 4], [5]]
    times = [t for t, _ in sent]
    assert times[0] == pytest.approx(0.3)  # the first window starts with the first arrival
    assert times[1] == pytest.approx(0.6)  # 0.3 after the previous send, not after the group's first arrival
    assert times[2] == pytest.approx(1.5)  # arrived after the window had passed: leaves at once


def test_a_full_group_leaves_at_once_and_restarts_the_window() -> None:
    sent = drive([0.0, 0.0, 0.0, 0.0, 0.0, 0.1], window_s=0.3, max_requests=2)
    assert sent == [(0.0, [0, 1]), (0.0, [2, 3]), (0.1, [4, 5])]
    sent = drive([0.0, 0.0, 0.0], window_s=0.3, max_requests=2)
    assert sent[0] == (0.0, [0, 1]) and sent[1][1] == [2] and sent[1][0] == pytest.approx(0.3)


SCENARIO = {
    "name": "batcher", "seed": 4, "horizon": {"requests": 300}, "model": "llama-3.1-8b", "precision": "fp8",
    "workload": {"arrival": {"type": "poisson", "rate_per_s": 40},
                 "input_tokens": {"type": "fixed", "value": 200}, "output_tokens": {"type": "fixed", "value": 20}},
    "fleet": {"pools": [{"name": "gpu", "hardware": "nvidia-h100-sxm", "replicas": 4}],
              "router": {"type": "round_robin"}, "batcher": {"window_s": 0.25, "max_requests": 8}},
}


def test_each_group_reaches_one_replica_and_waits_in_the_queue() -> None:
    df = run(SCENARIO).requests.sort_values("request_id")
    assert len(df) == 300 and (df["status"] == "ok").all()
    # round robin picks a replica per group: in arrival order the replica changes only between groups, in
    # cycle, and no run of one replica is longer than a group (without the batcher it changes every request)
    replicas = df["replica"].tolist()
    runs = [replicas[0]] + [b for a, b in zip(replicas, replicas[1:]) if b != a]
    lengths = df.groupby((df["replica"] != df["replica"].shift()).cumsum()).size()
    assert runs == [i % 4 for i in range(len(runs))]
    assert 300 / 8 <= len(runs) < 150 and lengths.max() <= 8
    unbatched = run({**SCENARIO, "fleet": {**SCENARIO["fleet"], "batcher": None}}).requests
    assert df["ttft_s"].mean() > unbatched["ttft_s"].mean() + 0.08  # ~half a window of extra wait on average
    assert df["ttft_s"].min() >= unbatched["ttft_s"].min()


def test_requests_held_at_the_horizon_are_recorded_unfinished() -> None:
    s = {**SCENARIO, "horizon": {"duration_s": 2.0}, "fleet": {**SCENARIO["fleet"],
                                                             "batcher": {"window_s": 5.0, "max_requests": 1000}}}
    df = run(s).requests
    held = df[df["reason"] == "held by the front-end batcher"]
    assert len(held) == len(df) > 40 and (held["status"] == "unfinished").all()


def test_bad_batcher_settings_name_the_field() -> None:
    bad = {**SCENARIO, "fleet": {**SCENARIO["fleet"], "batcher": {"window_s": 0}}}
    with pytest.raises(ScenarioError, match=r"fleet\.batcher\.window_s"):
        load_scenario(bad)


def test_a_group_is_split_by_class_for_a_class_aware_router() -> None:
    s = {**SCENARIO, "workload": {**SCENARIO["workload"], "classes": [{"name": "a", "share": 0.5},
                                                                    {"name": "b", "share": 0.5}]},
         "fleet": {"pools": [{"name": "pa", "hardware": "nvidia-h100-sxm", "replicas": 2},
                             {"name": "pb", "hardware": "nvidia-h100-sxm", "replicas": 2}],
                   "router": {"type": "class_affinity", "rules": {"a": "pa", "b": "pb"}},
                   "batcher": {"window_s": 0.25, "max_requests": 8}}}
    df = run(s).requests
    assert (df["status"] == "ok").all()
    assert (df.loc[df["class"] == "a", "pool"] == "pa").all() and (df.loc[df["class"] == "b", "pool"] == "pb").all()
