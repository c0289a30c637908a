"""The simulation: a fleet of pools of replicas behind a router, fed by a workload, recording every request.

Open arrival processes are replayed as a chain of timeouts with callbacks (one event per distinct arrival
time, no process per request); a closed loop keeps ``concurrency`` clients that think after each answer.
The caller drives time with :meth:`Simulation.advance` (so it can show progress between calls) and
collects the records with :meth:`Simulation.finish`. No wall clock, no global state: the seed's
``SeedSequence`` is spawned once per component.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np
import simpy
from simpy.core import EmptySchedule

from sim.cost import PoolPricing
from sim.dispatch import BatcherSpec, DispatchBatcher
from sim.records import RecordStore, Status
from sim.replica import CallbackTimeout, DoneCallback, Replica, WakeOrder
from sim.request import Request
from sim.disaggregation import KVLink, LinkSpec
from sim.routers import Router, RouterSpec, SimpleRouterSpec
from workloads.arrivals import ClosedLoop
from workloads.workload import RequestChunk, RequestSource, Workload

#: builds one replica: (env, pool index, replica index within the pool, done callback, rng) -> Replica
ReplicaFactory = Callable[[simpy.Environment, int, int, DoneCallback, np.random.Generator], Replica]
ATTRIBUTE_BATCH = 1024


#: closed-loop requests refused in a row at one instant after which the clients are taken to be refused forever
INSTANT_REFUSALS_LIMIT = 100_000


@dataclass(frozen=True)
class PoolPlan:
    """How to build one pool: its name, size and a factory for its replicas."""

    name: str
    replicas: int
    factory: ReplicaFactory
    #: requests one replica serves at once for utilisation (servers of a service replica); 0 = batched:
    #: a batched replica counts as busy while it holds any request in service
    servers_per_replica: int = 1
    #: devices, power and prices of the pool's hardware, for energy and cost (None: the service model)
    pricing: PoolPricing | None = None
    #: "mixed" serves whole requests; "prefill" hands the KV cache over ``link`` to a "decode" pool
    role: str = "mixed"
    link: LinkSpec | None = None
    #: engines per replica, each built by ``factory`` with the replica's index: a pipelined replica keeps one
    #: batch in flight per engine (vLLM's virtual engines); its records and utilisation are the replica's
    engines_per_replica: int = 1

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError(f"pool {self.name!r}: replicas must be >= 1, got {self.replicas}")
        if self.engines_per_replica < 1:
            raise ValueError(f"pool {self.name!r}: engines_per_replica must be >= 1, got {self.engines_per_replica}")
        if self.role not in ("mixed", "prefill", "decode"):
            raise ValueError(f"pool {self.name!r}: role must be mixed, prefill or decode, got {self.role!r}")
        if self.role == "prefill" and self.link is None:
            raise ValueError(f"pool {self.name!r}: a prefill pool needs a link to its decode pools")


class Simulation:
    """One run of a fleet on a workload, cut at ``max_requests`` arrivals and/or at time ``until_s``."""

    def __init__(
        self,
        pools: list[PoolPlan],
        router: RouterSpec,
        workload: Workload,
        seed: int,
        max_requests: int | None = None,
        until_s: float | None = None,
        decode_router: RouterSpec | None = None,
        batcher: BatcherSpec | None = None,
    ) -> None:
        if max_requests is None and until_s is None:
            raise ValueError("a run needs a horizon: max_requests, until_s or both")
        if not pools:
            raise ValueError("a fleet needs at least one pool")
        self.env = simpy.Environment()
        self.pools = pools
        self.workload = workload
        self.max_requests = max_requests
        self.until_s = until_s
        workload_seed, router_seed, fleet_seed, decode_seed = np.random.SeedSequence(seed).spawn(4)
        self.source = RequestSource(workload, workload_seed)
        self.records = RecordStore(workload.class_names, [p.name for p in pools])
        self._in_transit: dict[int, Request] = {}  # KV caches on their way from prefill to decode
        self.replicas = self._build_replicas(fleet_seed)
        self._entry = [r for r in self.replicas if pools[r.pool].role != "decode"]
        self._decoders = [r for r in self.replicas if pools[r.pool].role == "decode"]
        if not self._entry:
            raise ValueError("a fleet needs a pool that takes arrivals (mixed or prefill)")
        if any(p.role == "prefill" for p in pools) and not self._decoders:
            raise ValueError("prefill pools need at least one decode pool")
        self.router = self._build_router(router, self._entry, router_seed)
        self.batcher = DispatchBatcher(self.env, batcher, self._send_group) if batcher is not None else None
        if self._decoders:
            spec = decode_router if decode_router is not None else SimpleRouterSpec(type="least_outstanding")
            self.decode_router = self._build_router(spec, self._decoders, decode_seed)
            self._connect_prefill_links()
        self._priorities = [c.priority for c in workload.classes]
        self.issued = 0
        #: when a request last arrived or ended (the end of a run that no time horizon stopped)
        self.last_activity_s = 0.0
        self._refusal_instant_s, self._refusals_in_a_row = math.nan, 0  # closed-loop refusals at one instant
        self.ended = 0
        self._closed = isinstance(workload.arrival, ClosedLoop)
        if self._closed:
            self._start_closed_loop()
        else:
            self._on_arrival_callback = self._on_arrival
            self._chunks: Iterator[RequestChunk] = self.source.chunks(max_requests, until_s)
            self._load_chunk()
            self._schedule_arrival()

    # ---- construction --------------------------------------------------------------------------
    def _build_replicas(self, fleet_seed: np.random.SeedSequence) -> list[Replica]:
        replicas: list[Replica] = []
        order = WakeOrder()
        for pool_index, (plan, pool_seed) in enumerate(zip(self.pools, fleet_seed.spawn(len(self.pools)))):
            engines = plan.engines_per_replica
            for i, replica_seed in enumerate(pool_seed.spawn(plan.replicas * engines)):
                replica = plan.factory(self.env, pool_index, i // engines, self._done, np.random.default_rng(replica_seed))
                replica.place(len(replicas), order)
                replicas.append(replica)
        return replicas

    def _build_router(self, spec: RouterSpec, replicas: list[Replica], seed: np.random.SeedSequence) -> Router:
        names = [p.name for p in self.pools]
        return spec.build([r.view() for r in replicas], names, self.workload.class_names, np.random.default_rng(seed))

    def _connect_prefill_links(self) -> None:
        """Each prefill replica sends its KV caches over a link of its own (the engines of a pipelined replica,
        which share its ``index``, share its link)."""
        links: dict[tuple[int, int], KVLink] = {}
        for replica in self.replicas:
            plan = self.pools[replica.pool]
            if plan.role == "prefill" and plan.link is not None:
                link = links.get((replica.pool, replica.index))
                if link is None:
                    link = links[replica.pool, replica.index] = KVLink(self.env, plan.link, self._deliver)
                replica.handoff = partial(self._handoff, link)  # type: ignore[attr-defined]

    # ---- open arrivals -------------------------------------------------------------------------
    def _load_chunk(self) -> bool:
        chunk = next(self._chunks, None)
        if chunk is None:
            self._times: list[float] = []
            self._pos = 0
            return False
        self._times = chunk.arrival_s.tolist()
        self._inputs = chunk.input_tokens.tolist()
        self._outputs = chunk.output_tokens.tolist()
        self._classes = chunk.class_index.tolist()
        self._prefixes = chunk.prefix_lists() if chunk.prefix_offsets is not None else None
        self._pos = 0
        return True

    def _schedule_arrival(self) -> None:
        if self._pos == len(self._times):
            return
        CallbackTimeout.at(self.env, max(self._times[self._pos], self.env.now), None, self._on_arrival_callback)

    def _on_arrival(self, _event: simpy.Event) -> None:
        now = self.env.now
        while True:
            pos = self._pos
            prefix = self._prefixes[pos] if self._prefixes is not None else ()
            self._submit(self._inputs[pos], self._outputs[pos], self._classes[pos], -1, prefix)
            self._pos = pos + 1
            if self._pos == len(self._times) and not self._load_chunk():
                return
            if self._times[self._pos] > now:
                break
        self._schedule_arrival()

    def _submit(
        self, input_tokens: int, output_tokens: int, cls: int, client: int, prefix: tuple[int, ...] = ()
    ) -> None:
        self.last_activity_s = now = self.env.now
        req = Request(self.issued, cls, self._priorities[cls], input_tokens, output_tokens, now, client)
        req.prefix_ids = prefix
        self.issued += 1
        if self.batcher is not None:
            self.batcher.add(req)
        else:
            self._entry[self.router.choose(cls)].submit(req)

    def _send_group(self, group: list[Request]) -> None:
        """The front-end batcher's group goes to one replica, the router's pick (one per request class, so
        class-aware routers keep each class on its pools), requests in arrival order."""
        by_class: dict[int, list[Request]] = {}
        for req in group:
            by_class.setdefault(req.cls, []).append(req)
        for cls, members in by_class.items():
            replica = self._entry[self.router.choose(cls)]
            for req in members:
                replica.submit(req)

    def _handoff(self, link: KVLink, req: Request) -> None:
        self._in_transit[req.id] = req
        link.send(req)

    def _deliver(self, req: Request) -> None:
        """A KV cache arrived from a prefill replica: a decode replica generates the rest."""
        del self._in_transit[req.id]
        self._decoders[self.decode_router.choose(req.cls)].submit(req)

    # ---- closed loop ---------------------------------------------------------------------------
    def _start_closed_loop(self) -> None:
        arrival = self.workload.arrival
        assert isinstance(arrival, ClosedLoop)
        self._attrs: list[tuple[int, int, int]] = []
        self._thinks: list[float] = []
        for client in range(arrival.concurrency):
            self._closed_submit(client)

    def _closed_submit(self, client: int) -> None:
        if not self._may_issue():
            return
        if not self._attrs:
            inputs, outputs, classes = self.source.attributes(ATTRIBUTE_BATCH)
            self._attrs = list(zip(inputs.tolist(), outputs.tolist(), classes.tolist()))[::-1]
        input_tokens, output_tokens, cls = self._attrs.pop()
        self._submit(input_tokens, output_tokens, cls, client)

    def _may_issue(self) -> bool:
        if self.max_requests is not None and self.issued >= self.max_requests:
            return False
        return self.until_s is None or self.env.now < self.until_s

    def _think_then_submit(self, client: int) -> None:
        if not self._thinks:
            self._thinks = self.source.think_times(ATTRIBUTE_BATCH).tolist()[::-1]
        think = self._thinks.pop()
        if think == 0.0:
            self._closed_submit(client)
        else:
            CallbackTimeout(self.env, think, client, lambda ev: self._closed_submit(ev._value))  # type: ignore[attr-defined]

    # ---- bookkeeping ---------------------------------------------------------------------------
    def _done(self, req: Request, status: Status, reason: str) -> None:
        now = self.env.now
        self.last_activity_s = now
        self.records.add(req, status, reason)
        self.ended += 1
        if self._closed and req.client >= 0:
            if status is Status.DROPPED and req.arrival_s == now:
                self._refused_at_issue(req, reason)
            else:
                self._refusals_in_a_row = 0
                self._think_then_submit(req.client)

    def _refused_at_issue(self, req: Request, reason: str) -> None:
        """A closed-loop request refused the instant it was issued: its client goes on through the event queue
        (a direct call nests once per refusal, and a client whose every request is refused would exhaust the
        stack). Without a think time and a request bound, such clients would re-issue at one instant forever:
        after ``INSTANT_REFUSALS_LIMIT`` refusals in a row there, the run stops with an error that says so."""
        now = self.env.now
        if now != self._refusal_instant_s:
            self._refusal_instant_s, self._refusals_in_a_row = now, 0
        self._refusals_in_a_row += 1
        if self._refusals_in_a_row > INSTANT_REFUSALS_LIMIT and self.max_requests is None:
            raise ValueError(
                f"closed loop: {self._refusals_in_a_row - 1:,} requests in a row were refused the instant they were "
                f"issued at t = {now:g} s (last: {reason}); with no think time the clients would re-issue there "
                "forever: give the clients a think time, bound the run by requests, or make the requests fit")
        CallbackTimeout.at(self.env, now, req.client, lambda ev: self._think_then_submit(ev._value))  # type: ignore[attr-defined]

    def advance(self, max_events: int) -> bool:
        """Process up to ``max_events`` events; True once the horizon is reached or nothing is left."""
        env = self.env
        step = env.step
        peek = env.peek
        if self.until_s is None:  # no time horizon: only an empty schedule stops the run (no peek per event)
            try:
                for _ in range(max_events):
                    step()
            except EmptySchedule:
                return True
            return peek() == math.inf
        until = self.until_s
        for _ in range(max_events):
            if peek() >= until:
                return True
            step()
        return peek() >= until

    @property
    def now_s(self) -> float:
        return float(self.env.now)

    def finish(self) -> RecordStore:
        """Record every request still in the system as ``unfinished`` and return the records."""
        if self.until_s is not None and self.env.peek() != math.inf:  # the time horizon stopped the run
            for replica in self.replicas:
                replica.settle(self.until_s)
        for replica in self.replicas:
            for req in list(replica.in_flight()):
                self.records.add(req, Status.UNFINISHED, "")
        for req in self._in_transit.values():
            self.records.add(req, Status.UNFINISHED, "KV cache in transit")
        if self.batcher is not None:
            for req in self.batcher.held:
                self.records.add(req, Status.UNFINISHED, "held by the front-end batcher")
        self._in_transit.clear()
        return self.records

    @property
    def end_s(self) -> float:
        """The end of the observed period: the horizon time if it stopped the run, else the last time a request
        arrived or ended. (Not the last event: a wake-up that a cut run left behind, or a closed-loop client's
        think time after the last request, does nothing, and the fast mode has such wake-ups where the step mode
        has none.)"""
        if self.until_s is not None and self.env.peek() != math.inf:
            return self.until_s
        return self.last_activity_s
