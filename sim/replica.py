"""The interface every replica implements, and the read-only view that routers see."""

from __future__ import annotations

from abc import ABC, abstractmethod
from heapq import heappush
from collections.abc import Callable, Iterable

import simpy
from simpy.events import NORMAL, Event

from sim.records import Status
from sim.request import Request

#: called by a replica when a request ends: (request, status, reason)
DoneCallback = Callable[[Request, Status, str], None]


class CallbackTimeout(Event):
    """A timeout ``delay_s`` from now whose one callback is known when it is made: what ``Timeout(env, delay_s,
    value)`` followed by ``callbacks.append(callback)`` does, in one step (one is made per iteration)."""

    def __init__(self, env: simpy.Environment, delay_s: float, value: object, callback: Callable[[Event], None]) -> None:
        if delay_s < 0:
            raise ValueError(f"negative delay {delay_s}")
        self._arm(env, value, callback)
        env.schedule(self, NORMAL, delay_s)

    def _arm(self, env: simpy.Environment, value: object, callback: Callable[[Event], None]) -> None:
        self.env = env
        self.callbacks = [callback]
        self._value = value
        self._ok = True

    @classmethod
    def at(cls, env: simpy.Environment, time_s: float, value: object, callback: Callable[[Event], None],
           priority: int = NORMAL) -> "CallbackTimeout":
        """The same event at the absolute time ``time_s`` (>= now), exactly: ``env.now`` is ``time_s`` when it
        fires. ``schedule`` adds a delay to ``now``, and ``now + (time_s - now)`` can miss ``time_s`` by a unit
        in the last place, which let two engine modes that compute the same time order events differently.
        Events at one time fire by ``priority`` (lower first), then in the order they were made."""
        if time_s < env._now:
            raise ValueError(f"time {time_s} is before now ({env._now})")
        event = cls.__new__(cls)
        event._arm(env, value, callback)
        heappush(env._queue, (time_s, priority, next(env._eid), event))  # what Environment.schedule does, at time_s
        return event


def wake_priority(rank: int) -> int:
    """The event priority of the replica of fleet-wide ``rank``'s wake-ups: before every other event at the same
    time (a batch that ends at t frees its capacity for an arrival at t), replicas in fleet order. The fast mode
    makes a run's wake-up when the run starts and the step mode at its last iteration, so creation order (SimPy's
    tie-break) would differ between them."""
    return NORMAL - 1_000_000 + rank


class WakeOrder:
    """Shared by the replicas of one fleet: the rank of the replica whose iteration-end wake-up is firing, if
    any. A replica that this wake-up feeds (a prefill replica handing a request to a decode replica) reads it
    to know whether its own wake-up at the same time has fired yet (``wake_priority``)."""

    __slots__ = ("waking_rank",)

    def __init__(self) -> None:
        self.waking_rank: int | None = None


class Replica(ABC):
    """One serving unit of a pool. Subclasses implement ``submit`` and keep the load counters current."""

    def __init__(self, env: simpy.Environment, pool: int, index: int, on_done: DoneCallback) -> None:
        self.env = env
        self.pool = pool
        self.index = index
        self._on_done = on_done
        #: requests waiting on this replica (not yet started)
        self.queued = 0
        #: requests on this replica, waiting or in service
        self.outstanding = 0
        self.place(0, WakeOrder())  # alone until a fleet places it

    def place(self, rank: int, order: WakeOrder) -> None:
        """Take the place ``rank`` in the fleet whose replicas share ``order`` (the fleet calls this once per
        replica, in fleet order): it orders the replica's events among others at one time."""
        self.rank = rank
        #: the event priority of its iteration-end wake-ups
        self.boundary_priority = wake_priority(rank)
        self.wake_order = order

    @abstractmethod
    def submit(self, req: Request) -> None:
        """Take a routed request (its ``arrival_s`` is now)."""

    def settle(self, until_s: float) -> None:
        """Called once when a time horizon stops the run, before the in-flight requests are recorded: a
        replica that skips ahead of the events (the fast serving mode) catches up to ``until_s`` here."""

    @abstractmethod
    def in_flight(self) -> Iterable[Request]:
        """Requests still on this replica, waiting or in service (reported as ``unfinished`` at the end)."""

    def view(self) -> "ReplicaView":
        return ReplicaView(self)


class ReplicaView:
    """What a router may know about a replica: its identity and its load, nothing it could change."""

    __slots__ = ("_replica",)

    def __init__(self, replica: Replica) -> None:
        self._replica = replica

    @property
    def pool(self) -> int:
        return self._replica.pool

    @property
    def index(self) -> int:
        return self._replica.index

    @property
    def queued(self) -> int:
        return self._replica.queued

    @property
    def outstanding(self) -> int:
        return self._replica.outstanding
