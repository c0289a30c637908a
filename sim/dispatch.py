"""A front-end batcher: arriving requests are held and handed to one replica in groups.

Some serving front ends collect requests before they reach the engine. AMD's MLPerf Llama-2-70B harness
(``--enable-batcher``) is one: it sends the queries it holds, as one group to one engine, when ``window_s``
has passed since its previous send, or at once when it holds ``max_requests``; a query arriving when the
window has already passed (and nothing is held) leaves at once. The first window starts with the first
arrival. A group goes to the replica the router picks (one replica per request class in the group, so a
class-aware router keeps each class on its pools), so the group's prompts reach one engine together. The wait counts in the request's queueing delay and TTFT (its arrival time is
when it reached the batcher).

Simplification: the harness checks its clock when a query arrives and when its queue poll times out; here a
timer fires exactly at the end of the window (at tens of arrivals per second the two differ by a few ms).
"""

from __future__ import annotations

from collections.abc import Callable

import simpy
from pydantic import Field, PositiveFloat, PositiveInt

from sim.replica import CallbackTimeout
from sim.request import Request
from workloads.spec import Spec

#: a timer due within this many seconds of now counts as due (float rounding of ``now + delay``)
_DUE_TOLERANCE_S = 1e-12


class BatcherSpec(Spec):
    """Hold arriving requests; send them in groups to one replica each."""

    window_s: PositiveFloat = Field(description="send what is held when this long has passed since the last send")
    max_requests: PositiveInt = Field(default=96, description="send at once when this many requests are held")


class DispatchBatcher:
    """Groups arriving requests by time window and size; ``send(group)`` delivers each group."""

    def __init__(self, env: simpy.Environment, spec: BatcherSpec, send: Callable[[list[Request]], None]) -> None:
        self.env = env
        self.window_s = spec.window_s
        self.max_requests = spec.max_requests
        self._send = send
        self._held: list[Request] = []
        self._stamp_s: float | None = None  # time of the last send (or of the first arrival)
        self._timer_due_s: float | None = None  # when the armed timer fires (None: no timer)

    @property
    def held(self) -> list[Request]:
        """The requests waiting for their group to leave, in arrival order."""
        return list(self._held)

    def add(self, req: Request) -> None:
        now = self.env.now
        if self._stamp_s is None:
            self._stamp_s = now
        self._held.append(req)
        if len(self._held) >= self.max_requests or self._expired(now):
            self._flush(now)
        else:
            self._arm(now)

    def _expired(self, now: float) -> bool:
        assert self._stamp_s is not None
        return now >= self._stamp_s + self.window_s - _DUE_TOLERANCE_S

    def _flush(self, now: float) -> None:
        """Send one group (at most ``max_requests``); the window restarts now."""
        group, self._held = self._held[: self.max_requests], self._held[self.max_requests:]
        self._stamp_s = now
        self._send(group)
        if self._held:
            self._arm(now)

    def _arm(self, now: float) -> None:
        """Make sure a timer fires by the end of the current window."""
        assert self._stamp_s is not None
        due = self._stamp_s + self.window_s
        if self._timer_due_s is not None and self._timer_due_s <= due:
            return  # an earlier timer re-arms when it finds the window still open
        self._timer_due_s = due
        CallbackTimeout.at(self.env, max(due, now), None, self._on_timer)

    def _on_timer(self, _event: simpy.Event) -> None:
        now = self.env.now
        self._timer_due_s = None  # (at most one timer is armed: windows only move later)
        if not self._held:
            return
        if self._expired(now):
            self._flush(now)
        else:
            self._arm(now)
