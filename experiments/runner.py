"""The runner: a validated scenario -> a simulation -> records -> summary (``experiments.run``)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from experiments.loading import load_scenario
from experiments.results import Result
from experiments.schema import Pool, Scenario
from sim.fleet import PoolPlan, Simulation
from sim.cost import CostParams, cost_summary
from sim.metrics import PoolMeta, json_ready, summarize
from sim.replica import DoneCallback
from sim.service import ServiceHardware, ServiceReplica
from sim.token_stats import TokenGapHistogram

EVENTS_PER_SLICE = 50_000
#: progress callback: (fraction done in [0, 1], simulated seconds so far)
Progress = Callable[[float, float], None]


def service_plan(pool: Pool) -> PoolPlan:
    hardware = pool.hardware
    assert isinstance(hardware, ServiceHardware)
    scheduler = pool.scheduler

    def factory(env: Any, pool_index: int, index: int, on_done: DoneCallback, rng: np.random.Generator) -> ServiceReplica:
        return ServiceReplica(env, pool_index, index, on_done, hardware, scheduler, rng)

    return PoolPlan(pool.name, pool.replicas, factory, scheduler.servers)


def pool_plans(scenario: Scenario) -> list[PoolPlan]:
    """One plan per pool; hardware pools get their performance model from ``hardware_models``."""
    plans = []
    for index, pool in enumerate(scenario.fleet.pools):
        if pool.is_service:
            plans.append(service_plan(pool))
        else:
            from experiments.hardware_pools import hardware_plan  # imported lazily: loads the catalog

            plans.append(hardware_plan(pool, scenario, index))
    return plans


def build_simulation(scenario: Scenario) -> Simulation:
    h = scenario.horizon
    return Simulation(
        pool_plans(scenario),
        scenario.fleet.router,
        scenario.workload,
        seed=scenario.seed,
        max_requests=h.requests,
        until_s=h.duration_s,
        decode_router=scenario.fleet.decode_router,
        batcher=scenario.fleet.batcher,
    )


def _fraction_done(sim: Simulation, scenario: Scenario) -> float:
    h = scenario.horizon
    parts = []
    if h.duration_s is not None:
        parts.append(sim.now_s / h.duration_s)
    if h.requests is not None:
        parts.append(sim.ended / h.requests)
    return min(max(parts), 1.0)


def simulate(scenario: Scenario, progress: Progress | None = None) -> tuple[Simulation, float]:
    """Run the event loop to the horizon; returns the simulation and the wall seconds it took."""
    sim = build_simulation(scenario)
    for replica in sim.replicas:
        if hasattr(replica, "stats_from_s"):
            replica.stats_from_s = scenario.warmup_s  # token gaps count after the warm-up, like the records
    started = time.perf_counter()  # wall clock of the runner only; the simulation never reads it
    while not sim.advance(EVENTS_PER_SLICE):
        if progress is not None:
            progress(_fraction_done(sim, scenario), sim.now_s)
    if progress is not None:
        progress(1.0, sim.now_s)
    return sim, time.perf_counter() - started


def inter_token_latency(sim: Simulation) -> dict[str, Any] | None:
    """The inter-token gap distribution over all decoded tokens, overall and per pool (serving pools)."""
    per_pool: dict[str, list[TokenGapHistogram]] = {}
    for replica in sim.replicas:
        gaps = getattr(replica, "token_gaps", None)
        if gaps is not None:
            per_pool.setdefault(sim.pools[replica.pool].name, []).append(gaps)
    if not per_pool:
        return None
    merged = {name: hs[0].merge(hs[1:]) for name, hs in per_pool.items()}
    everything = TokenGapHistogram().merge(merged.values())
    return json_ready({"all": everything.summary(), "pools": {n: h.summary() for n, h in merged.items()}})


def kv_cache_use(sim: Simulation) -> dict[str, dict[str, Any]]:
    """Per serving pool: one replica's KV capacity and the largest share of it any replica held at once over
    the whole run (warm-up included). Near 1, latencies depend on the KV capacity: a little less memory and
    requests wait for it (``run_warnings`` says so)."""
    caches: dict[str, list[Any]] = {}
    for replica in sim.replicas:
        kv = getattr(getattr(replica, "policy", None), "kv", None)
        if kv is not None:
            caches.setdefault(sim.pools[replica.pool].name, []).append(kv)
    return {name: {"capacity_tokens": kvs[0].capacity_tokens,
                   "peak_fraction": max(kv.peak_used_blocks for kv in kvs) / kvs[0].total_blocks}
            for name, kvs in caches.items()}


def run_cost(sim: Simulation, scenario: Scenario, summary: dict[str, Any], records: Any, end_s: float) -> Any:
    """Energy and cost over the window, or None for a fleet of abstract service stations only."""
    pricing = [p.pricing for p in sim.pools if p.pricing is not None]
    if not pricing:
        return None
    c = scenario.cost
    params = CostParams(c.electricity_usd_per_kwh, c.pue, c.amortization_years, c.pricing)
    lo = scenario.warmup_s
    done = records[(records["status"] == "ok") & (records["finish_s"] >= lo) & (records["finish_s"] <= end_s)]
    utilisation = {k: math.nan if v is None else v for k, v in summary["utilisation"].items()}  # null: no window
    result = cost_summary(pricing, utilisation, end_s - lo, params, len(done),
                          int(done["output_tokens"].sum()))
    return json_ready(result)


def run(scenario: Scenario | dict[str, Any] | str | Path, progress: Progress | None = None) -> Result:
    """Run one scenario; the same scenario and seed give identical records."""
    scenario = load_scenario(scenario)
    sim, wall_s = simulate(scenario, progress)
    records = sim.finish().to_frame()
    end_s = sim.end_s
    metas = [PoolMeta(p.name, p.replicas, p.servers_per_replica) for p in sim.pools]
    summary = summarize(records, metas, scenario.workload.classes, scenario.warmup_s, end_s)
    summary["cost"] = run_cost(sim, scenario, summary, records, end_s)
    itl = inter_token_latency(sim)
    if itl is not None:
        summary["itl_s"] = itl["all"]
        for name, block in itl["pools"].items():
            summary["pools"][name]["itl_s"] = block
    for name, use in kv_cache_use(sim).items():
        summary["pools"][name]["kv_cache"] = use
    summary["workload"] = json_ready({"skipped_rows": sim.source.skipped})  # trace rows skipped, by reason
    head = {"scenario": scenario.name, "seed": scenario.seed, "warmup_s": scenario.warmup_s, "end_s": end_s}
    summary = {**json_ready(head), **summary}  # the blocks above are JSON-ready already
    return Result(scenario=scenario, requests=records, summary=summary, wall_s=wall_s)
