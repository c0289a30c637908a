"""The scenario schema (DESIGN.md, "Scenario file"): plain data, validated when loaded, before anything runs.

Component parameter objects (distributions, arrivals, classes, routers, schedulers) are declared next to
the code that uses them and composed here; every model forbids unknown keys.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import (Discriminator, Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Tag,
                      model_validator)

from hardware_models import get_accelerator, list_accelerators, list_models
from sim.schedulers import ChunkedPrefillScheduler, ContinuousScheduler, StaticScheduler
from sim.dispatch import BatcherSpec
from sim.routers import ClassAffinitySpec, RouterSpec, SimpleRouterSpec
from sim.service import FcfsScheduler, PriorityScheduler, ServiceHardware
from workloads.arrivals import ClosedLoop, Offline
from workloads.spec import Spec, require_unique
from workloads.workload import Workload

Precision = Literal["bf16", "fp16", "fp8", "int8", "int4", "fp4"]
SLICE_PATTERN = re.compile(r"^\d+x\d+(x\d+)?$")


class Horizon(Spec):
    """When the run stops: after ``duration_s`` of simulated time, after ``requests`` arrivals, or both
    (whichever comes first). A request-count horizon lets the system drain."""

    duration_s: PositiveFloat | None = None
    requests: PositiveInt | None = None

    @model_validator(mode="after")
    def _one_needed(self) -> "Horizon":
        if self.duration_s is None and self.requests is None:
            raise ValueError("give duration_s, requests or both")
        return self


class Parallelism(Spec):
    """Chips per replica = tensor x pipeline x expert; a TPU replica may name its torus ``slice``. A replica
    with pipeline stages keeps ``micro_batches`` batches in flight (vLLM's virtual engines), each with its own
    scheduler and an equal share of the KV cache, so its stages work on different batches at once."""

    tensor: PositiveInt = 1
    pipeline: PositiveInt = 1
    expert: PositiveInt = 1
    slice: str | None = None
    micro_batches: PositiveInt | None = Field(
        default=None, description="batches in flight through the pipeline stages, 1 to pipeline (default: pipeline)")

    @property
    def batches_in_flight(self) -> int:
        return self.micro_batches if self.micro_batches is not None else self.pipeline

    @model_validator(mode="after")
    def _check_micro_batches(self) -> "Parallelism":
        if self.micro_batches is not None and self.micro_batches > self.pipeline:
            raise ValueError(f"micro_batches: at most one batch per pipeline stage ({self.pipeline}), "
                             f"got {self.micro_batches}")
        return self

    @model_validator(mode="after")
    def _check_slice(self) -> "Parallelism":
        if self.slice is not None:
            if not SLICE_PATTERN.match(self.slice):
                raise ValueError(f"slice must look like 4x4 or 4x4x4, got {self.slice!r}")
            chips = 1
            for dim in self.slice.split("x"):
                chips *= int(dim)
            if chips != self.devices:
                raise ValueError(
                    f"slice {self.slice} has {chips} chips but tensor x pipeline x expert = {self.devices}"
                )
        return self

    @property
    def devices(self) -> int:
        return self.tensor * self.pipeline * self.expert


def _hardware_kind(value: object) -> str | None:
    if isinstance(value, str):
        return "catalog"
    return "service" if isinstance(value, dict) or isinstance(value, ServiceHardware) else None


#: a catalog accelerator name, or the abstract service model
HardwareSpec = Annotated[
    Union[Annotated[ServiceHardware, Tag("service")], Annotated[str, Tag("catalog")]],
    Discriminator(
        _hardware_kind,
        custom_error_type="hardware",
        custom_error_message="must be a catalog accelerator name or {type: service, time_s: <distribution>}",
    ),
]

SchedulerSpec = Annotated[
    Union[FcfsScheduler, PriorityScheduler, ContinuousScheduler, ChunkedPrefillScheduler, StaticScheduler],
    Field(discriminator="type"),
]
SERVICE_SCHEDULERS = ("fcfs", "priority")


class Pool(Spec):
    """A group of identical replicas: the abstract service model, or a catalog accelerator serving the
    scenario's model with a parallelism layout, a precision and a scheduler."""

    name: str = Field(min_length=1)
    hardware: HardwareSpec
    parallelism: Parallelism = Field(default_factory=Parallelism)
    replicas: PositiveInt = 1
    scheduler: SchedulerSpec = Field(description="default: fcfs for the service model, continuous for hardware")
    precision: Precision | None = Field(default=None, description="overrides the scenario's precision")
    role: Literal["mixed", "prefill", "decode"] = Field(
        default="mixed", description="disaggregated serving: prefill pools hand KV caches to decode pools"
    )
    usd_per_device_hour: PositiveFloat | None = Field(
        default=None, description="your hourly price per device (a quote), in place of the catalog's (cost.pricing: cloud)")
    purchase_usd_per_device: PositiveFloat | None = Field(
        default=None, description="your purchase price per device, in place of the catalog's (cost.pricing: owned)")

    @model_validator(mode="before")
    @classmethod
    def _default_scheduler(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("scheduler") is None:
            service = isinstance(data.get("hardware"), (dict, ServiceHardware))
            data = {**data, "scheduler": {"type": "fcfs" if service else "continuous"}}
        return data

    @model_validator(mode="after")
    def _scheduler_fits_hardware(self) -> "Pool":
        kind = self.scheduler.type
        if self.is_service and kind not in SERVICE_SCHEDULERS:
            raise ValueError(f"scheduler: the service model takes fcfs or priority, got {kind!r}")
        if not self.is_service and kind in SERVICE_SCHEDULERS:
            raise ValueError(f"scheduler: hardware pools take continuous, chunked_prefill or static, got {kind!r}")
        if self.is_service and self.role != "mixed":
            raise ValueError(f"role: the service model has no prefill or decode phase, got {self.role!r}")
        for key in ("usd_per_device_hour", "purchase_usd_per_device"):
            if self.is_service and getattr(self, key) is not None:
                raise ValueError(f"{key}: the service model has no devices to price")
        cap, batches = getattr(self.scheduler, "kv_capacity_tokens", None), self.parallelism.batches_in_flight
        if cap is not None and batches > 1 and cap // batches < self.scheduler.block_tokens:  # type: ignore[union-attr]
            raise ValueError(f"parallelism.micro_batches: {batches} batches in flight would each hold "
                             f"{cap // batches} of scheduler.kv_capacity_tokens ({cap}), less than one block of "
                             f"{self.scheduler.block_tokens}: keep fewer in flight or raise the cap")  # type: ignore[union-attr]
        return self

    @property
    def is_service(self) -> bool:
        return isinstance(self.hardware, ServiceHardware)


class KVTransfer(Spec):
    """The link a prefill replica sends KV caches over (default: its devices' scale-out NICs)."""

    bandwidth_bytes_per_s: PositiveFloat | None = None
    latency_s: NonNegativeFloat | None = None


class Fleet(Spec):
    """The pools of replicas and the router that picks a replica for every arriving request."""

    pools: list[Pool] = Field(min_length=1)
    router: RouterSpec = Field(default_factory=lambda: SimpleRouterSpec(type="least_outstanding"))
    decode_router: RouterSpec = Field(
        default_factory=lambda: SimpleRouterSpec(type="least_outstanding"),
        description="picks the decode replica for a KV cache arriving from a prefill pool",
    )
    kv_transfer: KVTransfer = Field(default_factory=KVTransfer)
    batcher: BatcherSpec | None = Field(
        default=None,
        description="a front end that holds arriving requests and sends them in groups, each group to one replica "
        "(e.g. AMD's MLPerf harness --enable-batcher); null: every request is routed when it arrives",
    )

    @model_validator(mode="after")
    def _unique_pools(self) -> "Fleet":
        require_unique([p.name for p in self.pools], "pool names")
        roles = {p.role for p in self.pools}
        if "prefill" in roles and "decode" not in roles:
            raise ValueError("a prefill pool needs a decode pool (role: decode) to hand its KV caches to")
        if "decode" in roles and "prefill" not in roles:
            raise ValueError("a decode pool needs a prefill pool (role: prefill) to feed it")
        return self


class Cost(Spec):
    """Prices for energy and owned hardware; cloud-priced SKUs use their hourly price."""

    electricity_usd_per_kwh: NonNegativeFloat = 0.08
    pue: float = Field(default=1.3, ge=1.0)
    amortization_years: PositiveFloat = 4.0
    pricing: Literal["cloud", "owned"] = "cloud"


class Engine(Spec):
    """``mode: step`` runs every iteration as its own event (slow; for checking the fast mode)."""

    mode: Literal["fast", "step"] = "fast"


class Scenario(Spec):
    """A whole what-if: the fleet, the model, the workload, the horizon and the prices (DESIGN.md)."""

    name: str = Field(default="scenario", min_length=1, max_length=128,
                      description="names the run; fleetsim run writes to runs/<name> unless --out is given")
    seed: NonNegativeInt = 0
    horizon: Horizon
    warmup_s: NonNegativeFloat = 0.0
    model: str | None = None
    precision: Precision | None = None
    workload: Workload
    fleet: Fleet
    cost: Cost = Field(default_factory=Cost)
    engine: Engine = Field(default_factory=Engine)

    @model_validator(mode="after")
    def _consistent(self) -> "Scenario":
        problems = []
        h = self.horizon
        if h.duration_s is not None and self.warmup_s >= h.duration_s:
            problems.append(f"warmup_s: must be < horizon.duration_s ({h.duration_s}), got {self.warmup_s}")
        arrival = self.workload.arrival
        if isinstance(arrival, Offline) and arrival.requests is None and h.requests is None:
            problems.append("workload.arrival: offline needs a request count (arrival.requests or horizon.requests)")
        if isinstance(arrival, ClosedLoop) and h.requests is None and h.duration_s is None:
            problems.append("horizon: a closed loop needs duration_s or requests")
        problems += _router_problems(self)
        problems += _catalog_problems(self)
        llm_pools = [p.name for p in self.fleet.pools if not p.is_service]
        if llm_pools:
            if self.model is None:
                problems.append(f"model: required by the hardware pools {llm_pools}")
            if self.precision is None and any(p.precision is None for p in self.fleet.pools if not p.is_service):
                problems.append(f"precision: required by the hardware pools {llm_pools}")
            if not self.workload.has_lengths and not getattr(arrival, "provides_lengths", False):
                problems.append("workload: input_tokens and output_tokens are required by hardware pools")
        if problems:
            raise ValueError("\n".join(problems))
        return self


def _catalog_problems(scenario: Scenario) -> list[str]:
    """Catalog names, each hardware pool's precision and torus ``slice`` checked against the catalog at load."""
    problems = []
    if scenario.model is not None and scenario.model not in list_models():
        problems.append(f"model: unknown model {scenario.model!r}; valid: {', '.join(list_models())}")
    for i, pool in enumerate(scenario.fleet.pools):
        if pool.is_service:
            continue
        where = f"fleet.pools[{i}]"
        if pool.hardware not in list_accelerators():
            problems.append(f"{where}.hardware: unknown accelerator {pool.hardware!r}; "
                            f"valid: {', '.join(list_accelerators())}")
            continue
        acc = get_accelerator(pool.hardware)  # type: ignore[arg-type]
        precision = pool.precision or scenario.precision
        if precision is not None and precision not in acc.precisions:
            field, hint = ((f"{where}.precision", "") if pool.precision else
                           (f"precision (inherited by {where})", f"; set {where}.precision to override"))
            problems.append(f"{field}: {acc.name} does not support precision {precision!r}; supported: "
                            f"{', '.join(acc.precisions)}{hint}")
        if pool.parallelism.slice is not None and acc.family != "tpu":
            problems.append(f"{where}.parallelism.slice: only TPU replicas are placed on a torus slice; "
                            f"{acc.name} is a {acc.family} accelerator, got slice {pool.parallelism.slice!r}")
    return problems


def _router_problems(scenario: Scenario) -> list[str]:
    """Class-affinity rules name known classes, and pools of the right kind: arrivals go to the prefill and
    mixed pools, KV caches from a prefill pool go to the decode pools."""
    pools = scenario.fleet.pools
    decode = [p.name for p in pools if p.role == "decode"]
    arriving = [p.name for p in pools if p.role != "decode"]
    problems = []
    for key, router, allowed, kind in (("router", scenario.fleet.router, arriving, "a decode pool"),
                                       ("decode_router", scenario.fleet.decode_router, decode, "not a decode pool")):
        if not isinstance(router, ClassAffinitySpec):
            continue
        classes = scenario.workload.class_names
        for cls, pool in router.rules.items():
            where = f"fleet.{key}.rules.{cls}"
            if cls not in classes:
                problems.append(f"{where}: unknown class {cls!r}; classes are {classes}")
            if pool not in [p.name for p in pools]:
                problems.append(f"{where}: unknown pool {pool!r}; pools are {[p.name for p in pools]}")
            elif pool not in allowed:
                problems.append(f"{where}: {pool!r} is {kind}; this router may send to {allowed}")
    return problems
