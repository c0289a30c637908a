"""An LLM serving replica: a scheduling policy, a KV cache and a performance model on the event loop.

Events per request, not per token (DESIGN.md, "Speed"): between two events that change the batch (an
arrival, a completion, the KV cache filling, a chunk boundary) decode iterations are deterministic, so in
the fast mode a whole run of them is priced at once and the replica sleeps until the run ends. A decode
iteration's duration depends only on its batch size and KV read, so runs are sliced out of a table that
one vectorised call fills a block at a time (``DecodeTable``). An arrival during a run cuts it at the
iteration boundary that follows (where a step-by-step engine would next look at its queue). Times are
accumulated on the replica's own clock with the same additions in both modes, so the step-by-step mode
(``fast=False``) gives identical records; a test holds them together.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable
from itertools import accumulate

import numpy as np
import simpy
from simpy.events import NORMAL

from hardware_models.interface import BatchWork, PerformanceModel
from sim.batch import Batch
from sim.records import Status
from sim.replica import CallbackTimeout, DoneCallback, Replica
from sim.request import Request
from sim.schedulers import ServingPolicy, StaticPolicy
from sim.token_stats import TokenGapHistogram

#: longest run of decode iterations priced at once (bounds the work wasted when an arrival cuts a run)
MAX_RUN_STEPS = 4096
#: decode durations are tabulated in blocks of this many consecutive KV-read values (one batch size each)
TABLE_BLOCK = 1024
#: at most this many blocks (8 KiB each, 16 MiB in all) are kept per pool; runs beyond them are priced directly
TABLE_MAX_BLOCKS = 2048


class DecodeTable:
    """Durations of decode iterations by batch size and KV tokens read, a block of consecutive KV values at
    a time (one vectorised call each). A decode iteration's aggregates are (b, b, kv, kv) and the performance
    model is a pure function, bit-identical for equal aggregates, so a run of decode iterations is a few
    slices of the table instead of a call. Blocks are few (batch sizes times the KV range they meet)."""

    def __init__(self, perf: PerformanceModel) -> None:
        self.perf = perf
        self._blocks: dict[tuple[int, int], np.ndarray] = {}

    def _block(self, batch: int, index: int) -> np.ndarray | None:
        block = self._blocks.get((batch, index))
        if block is None and len(self._blocks) < TABLE_MAX_BLOCKS:
            kv = np.arange(index * TABLE_BLOCK, (index + 1) * TABLE_BLOCK, dtype=np.float64)
            size = np.full(TABLE_BLOCK, float(batch))
            block = self._blocks[(batch, index)] = self.perf.iteration_time_s(BatchWork(size, size, kv, kv))
        return block

    def run_s(self, batch: int, first_kv_tokens: int, steps: int) -> list[float]:
        """``steps`` decode iterations of ``batch`` requests, the first reading ``first_kv_tokens`` KV tokens
        (each next one ``batch`` more)."""
        durations: list[float] = []
        kv = first_kv_tokens
        last = first_kv_tokens + batch * (steps - 1)
        blocks = self._blocks
        while kv <= last:
            index = kv // TABLE_BLOCK
            offset = kv - index * TABLE_BLOCK
            block = blocks.get((batch, index))
            if block is None:
                block = self._block(batch, index)
            if block is None:  # the table is full: price the rest directly
                left = (last - kv) // batch + 1
                work = BatchWork.decode_run_sum(float(kv - batch), batch, left)
                return durations + self.perf.iteration_time_s(work).tolist()
            part = block[offset:last - index * TABLE_BLOCK + 1:batch].tolist()  # (a slice stops at the block's end)
            durations += part
            kv += batch * len(part)
        return durations


class StepTimer:
    """Prices iterations with a performance model: one mixed iteration, or a run of decode iterations. The
    engine's host time per request in the batch (``host_s_per_request``) is added to every iteration, the
    same addition in both engine modes."""

    def __init__(self, perf: PerformanceModel, host_link_bytes_per_s: float | None = None,
                 host_s_per_request: float = 0.0) -> None:
        self.perf = perf
        self._swap_s_per_token = (
            perf.kv_bytes_per_token / host_link_bytes_per_s if host_link_bytes_per_s else math.inf
        )
        self._host_s_per_request = host_s_per_request
        self._decode = DecodeTable(perf)

    def step_s(self, batch: Batch) -> float:
        # the scalar path: bit-identical to iteration_time_s on the same aggregates (it takes ints as floats)
        seconds = self.perf.iteration_time_scalar_s(
            batch.new_tokens_total, batch.size, batch.kv_read_tokens, batch.attention_pairs)
        if batch.swapped_in_tokens:
            seconds += batch.swapped_in_tokens * self._swap_s_per_token
        if self._host_s_per_request:
            seconds += self._host_s_per_request * batch.size
        return seconds

    def decode_run_s(self, batch: Batch, steps: int) -> list[float]:
        """``steps`` decode iterations of a decode-only batch (its KV read grows by one token per request a
        step)."""
        durations = self._decode.run_s(batch.size, batch.kv_read_tokens, steps)
        if self._host_s_per_request:
            host_s = self._host_s_per_request * batch.size
            return [d + host_s for d in durations]
        return durations


class LLMReplica(Replica):
    """A serving replica; ``fast=False`` runs every iteration as its own event (for the equivalence test)."""

    def __init__(
        self,
        env: simpy.Environment,
        pool: int,
        index: int,
        on_done: DoneCallback,
        policy: ServingPolicy,
        timer: StepTimer,
        fast: bool = True,
    ) -> None:
        super().__init__(env, pool, index, on_done)
        self.policy = policy
        self.timer = timer
        self.fast = fast
        self._clock = 0.0  # end of the last iteration, accumulated exactly as a step-by-step engine would
        self._busy = False
        self._gen = 0  # generation of the pending wake-up; older wake-ups are stale
        self._static = isinstance(policy, StaticPolicy)  # static batching: a batching window may open
        self._wake_callback = self._wake
        self._batch: Batch | None = None
        self._ends: list[float] = []
        self._durations: list[float] = []
        #: inter-token gaps of the tokens decoded on this replica from ``stats_from_s`` on (the warm-up end)
        self.token_gaps = TokenGapHistogram()
        self.stats_from_s = 0.0
        self._window_open = False  # a static batch is waiting for its batching window to close
        #: requests that arrived while an iteration was in flight, queued at its end (``_admit_arrived``)
        self._arrived: list[Request] = []
        #: set on prefill replicas of a disaggregated fleet: takes a request whose prompt is computed
        self.handoff: Callable[[Request], None] | None = None

    # ---- arrivals ------------------------------------------------------------------------------
    def submit(self, req: Request) -> None:
        req.pool = self.pool
        req.replica = self.index
        if self.handoff is not None and req.output_tokens > 1:
            req.stop_tokens = req.input_tokens  # prefill only: the decode side generates the rest
        policy = self.policy
        reason = policy.reject_reason(req)
        if reason is not None:
            self._on_done(req, Status.DROPPED, reason)
            return
        self.outstanding += 1
        if self._batch is not None:
            # an iteration is in flight (or ending: a closed loop's next request queues behind earlier ones): the
            # scheduler meets the request at the next boundary, in both engine modes (its prefix is looked up in
            # the cache as it stands there)
            self._arrived.append(req)
            self.queued = policy.num_waiting + len(self._arrived)
            if len(self._ends) > 1:
                self._cut_run()
            return
        policy.enqueue(req)
        self.queued = policy.num_waiting
        if not self._busy:
            self._busy = True
            self._clock = self.env.now
            self._wake_at(self._clock)  # a zero-delay wake-up: requests arriving at this instant join
        elif self._window_open:
            if self._static and self.policy.ready:  # type: ignore[union-attr]
                self._wake_at(self.env.now)  # a full batch closes the batching window early

    def _cut_run(self) -> None:
        """Stop the decode run at the first iteration boundary where the step-by-step mode would see the new
        request: the first one after now, or one exactly at now if the step mode's wake-up there has not fired
        yet (wake-ups fire before other events at one time, replicas in fleet order: ``wake_priority``)."""
        now = self.env.now
        j = bisect_left(self._ends, now)
        if j < len(self._ends) and self._ends[j] == now:
            waking = self.wake_order.waking_rank  # the replica whose wake-up is firing, if any
            if waking is None or waking >= self.rank:
                j += 1  # this replica's wake-up at now fired first in the step mode: the next boundary
        if j < len(self._ends) - 1:
            self._ends = self._ends[: j + 1]
            self._wake_at(self._ends[-1], boundary=True)

    def _wake_at(self, time_s: float, boundary: bool = False) -> None:
        """Wake up at ``time_s``: at the end of an iteration (``boundary``: before other events at that time, see
        ``wake_priority``), or to start one (after the events already due now: requests arriving at this
        instant join) or when a batching window closes."""
        self._gen += 1
        priority = self.boundary_priority if boundary else NORMAL
        now = self.env._now
        CallbackTimeout.at(self.env, time_s if time_s >= now else now, self._gen, self._wake_callback, priority)

    def _wake(self, event: simpy.Event) -> None:
        if event._value != self._gen:
            return  # superseded: the run was cut or the window closed early
        env = self.env
        order = self.wake_order
        order.waking_rank = self.rank  # read by _cut_run of the replicas this one feeds
        if self._window_open:
            self._window_open = False
            self._clock = env.now
        elif self._batch is not None:
            self._finish_iterations()
        if self._arrived:
            self._admit_arrived()
        self._start_iteration()
        order.waking_rank = None

    def _admit_arrived(self) -> None:
        """Queue the requests that arrived during the iteration that just ended, in arrival order."""
        enqueue = self.policy.enqueue
        for req in self._arrived:
            enqueue(req)
        self._arrived = []

    # ---- iterations ----------------------------------------------------------------------------
    def _start_iteration(self) -> None:
        policy = self.policy
        if self._static and not policy.running and policy.num_waiting:
            oldest = next(iter(policy.waiting_requests())).arrival_s
            deadline = oldest + policy.spec.window_s
            if not policy.ready and self._clock < deadline:
                self._window_open = True
                self._wake_at(deadline)
                return
        batch = policy.schedule()
        while not batch.size and batch.preempted:
            # the walk preempted a request without scheduling any (a lower-priority request ahead of others in
            # the running list gave itself up): the blocks it freed let the rest go on at this same boundary
            batch = policy.schedule()
        self.queued = policy.num_waiting
        if not batch.size:
            if policy.has_work and not policy.running:
                self._drop_unschedulable()
                self._start_iteration()
                return
            self._busy = False
            return
        clock = self._clock
        for req in batch.admitted:
            if math.isnan(req.start_s):
                req.start_s = clock
        if batch.decode_only:  # a run of decode iterations in the fast mode, one at a time otherwise
            steps = policy.decode_steps(batch, MAX_RUN_STEPS) if self.fast else 1
            durations = self.timer.decode_run_s(batch, steps)
        else:
            durations = [self.timer.step_s(batch)]
        self._batch = batch
        self._durations = durations
        if len(durations) == 1:
            ends = [clock + durations[0]]
        else:
            ends = list(accumulate(durations, initial=clock))
            del ends[0]
        self._ends = ends
        self._wake_at(ends[-1], boundary=True)

    def _finish_iterations(self) -> None:
        batch = self._batch
        assert batch is not None
        ends = self._ends
        steps = len(ends)
        end_s = ends[-1]
        self._ends = []
        self._clock = end_s
        if batch.decoders:  # the gaps of iterations that end from the warm-up's end on
            durations = self._durations
            first_counted = bisect_left(ends, self.stats_from_s) if self.stats_from_s > 0 else 0
            if first_counted or steps < len(durations):  # a cut run, or iterations before the warm-up's end
                durations = durations[first_counted:steps]
            self.token_gaps.add(durations, batch.decoders)
        first, done = self.policy.update(batch, steps)
        for req in first:
            if math.isnan(req.first_token_s):
                req.first_token_s = end_s
        for req in done:
            self.outstanding -= 1
            if req.stop_tokens < req.tokens_to_compute:
                req.stop_tokens = req.tokens_to_compute
                self.handoff(req)  # type: ignore[misc]
                continue
            req.finish_s = end_s
            self._on_done(req, Status.OK, "")
        self._batch = None  # only now: requests submitted while it ended (a closed loop's) wait with the others

    def settle(self, until_s: float) -> None:
        """At a time horizon, do what the step-by-step mode has done by then: apply the iterations of the
        pending run that ended before ``until_s`` (their KV blocks and token gaps; no request finishes inside a
        run) and schedule the next one, as the step mode did at the last of them. No record changes. Requests
        that arrived during the run stay out of it: a run is cut at the first boundary after an arrival, so
        they arrived after every iteration applied here."""
        j = bisect_left(self._ends, until_s)
        if self._batch is None or not 0 < j < len(self._ends):
            return
        self._ends = self._ends[:j]
        self._finish_iterations()
        self._start_iteration()

    def _drop_unschedulable(self) -> None:
        """An idle replica that cannot start its first waiting request never will: drop it, with why."""
        req = self.policy.pop_waiting()
        self.outstanding -= 1
        self.queued = self.policy.num_waiting
        self._on_done(req, Status.DROPPED, "does not fit an idle replica (KV watermark or token budget)")

    def in_flight(self) -> Iterable[Request]:
        yield from (r for r in self.policy.running if r.remaining_tokens > 0)
        yield from self.policy.waiting_requests()
        yield from self._arrived
