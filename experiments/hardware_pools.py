"""Hardware-backed pools: a catalog SKU, a model, a precision and a layout -> LLM serving replicas."""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments.schema import Pool, Scenario
from hardware_models import DoesNotFitError, PerformanceModel, build_performance_model, get_accelerator
from sim.cost import PoolPricing
from sim.disaggregation import LinkSpec
from sim.fleet import PoolPlan
from sim.kv_cache import KVCache
from sim.replica import DoneCallback
from sim.schedulers import build_policy
from sim.serving import LLMReplica, StepTimer


def pool_precision(pool: Pool, scenario: Scenario) -> str:
    precision = pool.precision or scenario.precision
    assert precision is not None, "the schema requires a precision for hardware pools"
    return precision


def performance_model(pool: Pool, scenario: Scenario, index: int) -> PerformanceModel:
    """The pool's performance model; a model that does not fit (or a bad layout) names the pool's field."""
    assert isinstance(pool.hardware, str) and scenario.model is not None
    layout: dict[str, Any] = pool.parallelism.model_dump(exclude_none=True, exclude={"micro_batches"})
    where = f"fleet.pools[{index}]"  # names, precision and slice were checked at load (schema._catalog_problems)
    try:
        return build_performance_model(pool.hardware, scenario.model, pool_precision(pool, scenario), layout)
    except DoesNotFitError as exc:
        raise ValueError(f"{where}: {exc}") from None
    except KeyError as exc:
        raise ValueError(f"{where}: {exc.args[0] if exc.args else exc}") from None
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def hardware_plan(pool: Pool, scenario: Scenario, index: int) -> PoolPlan:
    perf = performance_model(pool, scenario, index)
    spec = pool.scheduler
    assert not pool.is_service
    host_link = get_accelerator(pool.hardware).ic("host_link_bandwidth_bytes_per_s")  # type: ignore[arg-type]
    timer = StepTimer(perf, host_link, spec.host_overhead_s_per_request)  # type: ignore[union-attr]
    fast = scenario.engine.mode == "fast"
    prefix = bool(getattr(spec, "prefix_caching", False))
    cap = getattr(spec, "kv_capacity_tokens", None)
    capacity = min(perf.kv_capacity_tokens, cap) if cap else perf.kv_capacity_tokens
    # a pipelined replica runs ``batches`` engines (vLLM's virtual engines), each a full pass per iteration
    # on an equal share of the KV cache; records name the physical replica
    batches = pool.parallelism.batches_in_flight
    share = capacity // batches
    if share < spec.block_tokens:  # type: ignore[union-attr]
        raise ValueError(f"fleet.pools[{index}].parallelism.micro_batches: {batches} batches in flight leave each "
                         f"{share} KV tokens, less than one block of {spec.block_tokens}: keep fewer in flight")  # type: ignore[union-attr]
    owner = "the replica" if batches == 1 else f"each of the replica's {batches} batches in flight (micro_batches)"

    def factory(env: Any, pool_index: int, i: int, on_done: DoneCallback, rng: np.random.Generator) -> LLMReplica:
        kv = KVCache(share, spec.block_tokens, prefix, spec.prefix_block_tokens, owner)  # type: ignore[union-attr]
        return LLMReplica(env, pool_index, i, on_done, build_policy(spec, kv), timer, fast)  # type: ignore[arg-type]

    acc = get_accelerator(pool.hardware)  # type: ignore[arg-type]
    hourly, purchase = pool.usd_per_device_hour, pool.purchase_usd_per_device
    prices = acc.raw.price
    pricing = PoolPricing(pool.name, acc.name, perf.devices * pool.replicas, acc.idle_w, acc.busy_w,
                          hourly if hourly is not None else acc.usd_per_device_hour,
                          purchase if purchase is not None else acc.purchase_usd,
                          _price_source(hourly, prices.usd_per_device_hour),
                          _price_source(purchase, prices.purchase_usd))
    link = None
    if pool.role == "prefill":
        t = scenario.fleet.kv_transfer
        bandwidth = t.bandwidth_bytes_per_s or acc.ic("scale_out_bandwidth_bytes_per_s") * perf.devices
        latency = t.latency_s if t.latency_s is not None else acc.ic("scale_out_latency_s")
        link = LinkSpec(bandwidth, latency, perf.kv_bytes_per_token)
    return PoolPlan(pool.name, pool.replicas, factory, servers_per_replica=0, pricing=pricing, role=pool.role,
                    link=link, engines_per_replica=batches)


def _price_source(given: float | None, catalog: Any) -> str | None:
    """Where a pool's price comes from: 'scenario' (the pool gives it), the catalog entry's source and date, or
    None when neither has one."""
    if given is not None:
        return "scenario"
    if catalog is None:
        return None
    return f"{catalog.source} ({catalog.date})"
