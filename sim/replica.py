"""The interface every replica implements, and the read-only view that routers see."""

from __future__ import annotations

from abc import ABC, abstractmethod
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
        self.env = env
        self.callbacks = [callback]
        self._value = value
        self._ok = True
        env.schedule(self, NORMAL, delay_s)


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
