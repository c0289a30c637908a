"""The abstract service model: a replica with ``servers`` identical servers sharing one queue.

Fed by Poisson arrivals with exponential service times it is an M/M/c station, which is how the engine is
checked against queueing theory (``tests/theory``). Events per request: one completion; no SimPy process
is created per request (a completion is a timeout with a callback), which keeps the engine lean.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Literal

import numpy as np
import simpy
from pydantic import NonNegativeInt, PositiveInt

from sim.records import Status
from sim.replica import CallbackTimeout, DoneCallback, Replica
from sim.request import Request
from workloads.distributions import TimeDistribution, sample_times
from workloads.spec import Spec

SAMPLE_BATCH = 4096


class ServiceHardware(Spec):
    """``hardware: {type: service, time_s: <distribution>}``: service times drawn per request."""

    type: Literal["service"]
    time_s: TimeDistribution


class FcfsScheduler(Spec):
    """``servers`` servers take requests first come, first served from one queue per replica.

    ``queue_capacity`` bounds the waiting room: an arrival that finds it full is dropped (M/M/c/K).
    """

    type: Literal["fcfs"]
    servers: PositiveInt = 1
    queue_capacity: NonNegativeInt | None = None


class PriorityScheduler(FcfsScheduler):
    """Non-preemptive priority: the waiting request of the lowest ``priority`` value starts first,
    first come, first served within a priority level."""

    type: Literal["priority"]  # type: ignore[assignment]


class ServiceReplica(Replica):
    """``c`` servers, one FIFO queue (or one per priority level), service times from a distribution."""

    def __init__(
        self,
        env: simpy.Environment,
        pool: int,
        index: int,
        on_done: DoneCallback,
        hardware: ServiceHardware,
        scheduler: FcfsScheduler,
        rng: np.random.Generator,
    ) -> None:
        super().__init__(env, pool, index, on_done)
        self.servers = scheduler.servers
        self.capacity = scheduler.queue_capacity
        self._dist = hardware.time_s
        self._rng = rng
        self._samples: list[float] = []
        self._next = 0
        self._busy = 0
        self._in_service: dict[Request, None] = {}  # insertion-ordered
        self._by_priority = isinstance(scheduler, PriorityScheduler)
        self._queues: dict[int, deque[Request]] = {}
        self._fifo: deque[Request] = deque()

    def _service_time(self) -> float:
        if self._next == len(self._samples):
            self._samples = sample_times(self._dist, self._rng, SAMPLE_BATCH).tolist()
            self._next = 0
        value = self._samples[self._next]
        self._next += 1
        return value

    def submit(self, req: Request) -> None:
        req.pool = self.pool
        req.replica = self.index
        if self._busy < self.servers:
            self.outstanding += 1
            self._start(req)
        elif self.capacity is not None and self.queued >= self.capacity:
            self._on_done(req, Status.DROPPED, "queue full")
        else:
            self.outstanding += 1
            self.queued += 1
            if self._by_priority:
                self._queues.setdefault(req.priority, deque()).append(req)
            else:
                self._fifo.append(req)

    def _start(self, req: Request) -> None:
        self._busy += 1
        self._in_service[req] = None
        req.start_s = self.env.now
        CallbackTimeout(self.env, self._service_time(), req, self._complete)

    def _complete(self, event: simpy.Event) -> None:
        req: Request = event._value  # the request rides on its completion event
        req.first_token_s = req.finish_s = self.env.now
        self._busy -= 1
        self.outstanding -= 1
        del self._in_service[req]
        if self.queued:  # the queue head takes the freed server before anything the completion triggers
            self.queued -= 1
            self._start(self._pop())
        self._on_done(req, Status.OK, "")

    def _pop(self) -> Request:
        if not self._by_priority:
            return self._fifo.popleft()
        level = min(p for p, q in self._queues.items() if q)
        return self._queues[level].popleft()

    def in_flight(self) -> Iterable[Request]:
        yield from self._in_service
        yield from self._fifo
        for queue in self._queues.values():
            yield from queue
