"""Replica schedulers as pure policy objects (no SimPy, no time): ``schedule()`` returns the next
iteration's batch, ``update()`` applies its outcome. Token-centric: every request has computed vs total
tokens, which covers prefill, chunked prefill, decode and recompute after preemption.

* ``continuous`` (vLLM-style iteration-level batching): running requests first, one token each for those
  decoding (the rest of the prompt for those prefilling), then waiting ones with their whole prompt, under
  ``max_batch_requests`` and ``max_batch_tokens``.
* ``chunked_prefill`` (Sarathi-Serve): the same token budget, but a prompt may be split into chunks of at
  most ``chunk_tokens`` so prefill and decode share iterations.
* ``static``: a fixed batch formed within a batching window, run until its longest request ends.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Annotated, Literal, Union

from pydantic import Field, NonNegativeFloat, PositiveInt, model_validator

from sim.admission import Admission, beyond_kv, empty_prompt
from sim.batch import Batch
from sim.decode_cohort import DecodeCohort
from sim.kv_cache import KVCache, blocks_for
from sim.request import Request
from sim.static_policy import StaticPolicy
from workloads.spec import Spec


class _ReplicaOptions(Spec):
    """What every serving scheduler takes: the paged KV cache and the engine's host time per request."""

    host_overhead_s_per_request: NonNegativeFloat = Field(
        default=0.0,
        le=1.0,  # microseconds in practice; a bound keeps iteration times finite
        description=(
            "host time an iteration spends per request in its batch, added to the iteration's duration (work a "
            "synchronous engine does between GPU steps, e.g. streaming each request's new token back: MLPerf "
            "Server harnesses do it, Offline ones do not); 0 = none beyond the catalog's fitted overheads"
        ),
    )
    block_tokens: PositiveInt = 16
    kv_capacity_tokens: PositiveInt | None = Field(
        default=None, description="cap the replica's KV cache below what its memory holds (a what-if knob)"
    )
    kv_watermark: float = Field(default=0.01, ge=0.0, lt=0.5,
                                description="share of blocks kept free at admission (on_demand admission only)")
    prefix_caching: bool = False
    prefix_block_tokens: PositiveInt = 512

    @model_validator(mode="after")
    def _capacity_holds_a_block(self) -> "_ReplicaOptions":
        if self.kv_capacity_tokens is not None and self.kv_capacity_tokens < self.block_tokens:
            raise ValueError(f"kv_capacity_tokens: {self.kv_capacity_tokens} is less than one block of "
                             f"block_tokens {self.block_tokens}")
        return self


class ContinuousScheduler(_ReplicaOptions):
    type: Literal["continuous"]
    max_batch_requests: PositiveInt = 256
    max_batch_tokens: PositiveInt = 16384
    priority: bool = Field(default=False, description="admit waiting requests by class priority, then FCFS")
    preemption: Literal["recompute", "swap"] = "recompute"
    admission: Literal["on_demand", "full_sequence"] = Field(
        default="on_demand",
        description=(
            "on_demand: KV blocks are taken as tokens are computed and a running request is preempted when they "
            "run out (vLLM; kv_watermark blocks stay free at admission); full_sequence: a request is admitted only "
            "when the blocks for its whole sequence (prompt + output) are free besides those promised to the "
            "running requests, so nothing is ever preempted (TensorRT-LLM's GUARANTEED_NO_EVICT capacity "
            "scheduler, with max_tokens set to each request's output length as trtllm-bench does)"
        ),
    )
    prefill_first: bool = Field(
        default=False,
        description=(
            "vLLM's scheduler before V1 (up to 0.5 without chunked prefill): when waiting requests can be admitted, "
            "an iteration runs only their prefills and the running requests' decodes wait for the next one"
        ),
    )


class ChunkedPrefillScheduler(ContinuousScheduler):
    type: Literal["chunked_prefill"]  # type: ignore[assignment]
    max_batch_tokens: PositiveInt = 8192
    chunk_tokens: PositiveInt | None = Field(default=None, description="largest prefill chunk of one request")

    @model_validator(mode="after")
    def _mixes_prefill_and_decode(self) -> "ChunkedPrefillScheduler":
        if self.prefill_first:
            raise ValueError("prefill_first: chunked prefill mixes prefill chunks into decode iterations; "
                             "use type continuous for prefill-only iterations")
        return self


class StaticScheduler(_ReplicaOptions):
    type: Literal["static"]
    max_batch_requests: PositiveInt = 8
    window_s: NonNegativeFloat = Field(default=0.0, description="wait this long for a batch to fill")


LLMScheduler = Annotated[
    Union[ContinuousScheduler, ChunkedPrefillScheduler, StaticScheduler], Field(discriminator="type")
]


class ContinuousPolicy(Admission):
    """Continuous batching with an optional prefill chunk limit (chunked prefill when set).

    Running requests that decode form a :class:`DecodeCohort`, stepped with counters; the others (prefilling,
    or admitted in the last iteration) are listed. When every running request gets its full share of the
    token budget and the KV cache has the blocks they need, the order of the running list makes no
    difference and the iteration is formed from the cohort's aggregates (``_schedule_together``); otherwise
    the cohort dissolves and the running list is walked in order, preempting for KV room as vLLM does
    (``_schedule_in_order``); the decoders rejoin at the next iteration.
    """

    def __init__(self, spec: ContinuousScheduler, kv: KVCache) -> None:
        self.spec = spec
        self.kv = kv
        self.chunk = getattr(spec, "chunk_tokens", None)
        self.chunked = isinstance(spec, ChunkedPrefillScheduler)
        self.cohort = DecodeCohort(kv.block_tokens)
        self._running: dict[int, Request] = {}  # run_seq -> request, in admission order
        self._listed: dict[int, Request] = {}  # the running requests outside the cohort
        self._next_seq = 0
        self._waiting: dict[int, deque[Request]] = {}
        self.num_waiting = 0
        self.full_sequence = spec.admission == "full_sequence"
        self._reserve = 0 if self.full_sequence else int(spec.kv_watermark * kv.total_blocks)
        #: full_sequence admission: blocks of the whole sequences of the running requests (held or promised)
        self.promised_blocks = 0

    @property
    def running(self) -> list[Request]:
        """The running requests in admission order."""
        return list(self._running.values())

    @property
    def num_running(self) -> int:
        return len(self._running)

    # ---- queue -------------------------------------------------------------------------------
    def reject_reason(self, req: Request) -> str | None:
        """Why ``req`` can never be served here (it is then dropped), or None. Depends only on the request and
        the fixed limits, so an engine may ask when the request arrives and queue it later."""
        reason = empty_prompt(req)
        if reason is None and not self.chunked and req.input_tokens > self.spec.max_batch_tokens:
            reason = f"prompt of {req.input_tokens} tokens exceeds max_batch_tokens {self.spec.max_batch_tokens}"
        return reason or beyond_kv(req, self.kv)

    def enqueue(self, req: Request) -> None:
        """Queue a request that ``reject_reason`` accepted, looking its prefix up in the cache."""
        if self.kv.prefix_caching and req.prefix_ids and req.computed_tokens == 0:
            hits = self.kv.cached_prefix_blocks(req.prefix_ids)
            req.cached_tokens = min(hits * self.kv.prefix_block_tokens, req.input_tokens - 1)
            req.computed_tokens = req.cached_tokens
        self._queue(req).append(req)
        self.num_waiting += 1

    def _queue(self, req: Request) -> deque[Request]:
        level = req.priority if self.spec.priority else 0
        queue = self._waiting.get(level)
        if queue is None:
            queue = self._waiting[level] = deque()
            self._waiting = dict(sorted(self._waiting.items()))
        return queue

    def _head(self) -> Request | None:
        for queue in self._waiting.values():
            if queue:
                return queue[0]
        return None

    def waiting_requests(self) -> Iterable[Request]:
        for queue in self._waiting.values():
            yield from queue

    def pop_waiting(self) -> Request:
        for queue in self._waiting.values():
            if queue:
                self.num_waiting -= 1
                return queue.popleft()
        raise IndexError("no waiting request")

    @property
    def has_work(self) -> bool:
        return bool(self._running) or self.num_waiting > 0

    # ---- one iteration -----------------------------------------------------------------------
    def _whole_share(self, req: Request) -> int:
        """Prompt tokens a prefilling request would take with budget to spare: the rest, or one chunk."""
        left = req.prefill_tokens - req.computed_tokens
        return left if self.chunk is None else min(left, self.chunk)

    def _prefill_share(self, req: Request, budget: int) -> int:
        share = self._whole_share(req)
        return min(share, budget) if self.chunked else share

    def schedule(self) -> Batch:
        listed = self._listed
        if listed:  # listed requests that now decode join the cohort
            for seq, req in list(listed.items()):
                if req.computed_tokens >= req.prefill_tokens:
                    del listed[seq]
                    self.cohort.join(req)
        batch = self._schedule_prefills() if self.spec.prefill_first and self.num_waiting else None
        if batch is None:
            batch = self._schedule_together()
        if batch is None:
            batch = self._schedule_in_order()
        self._check(batch)
        return batch

    def _schedule_prefills(self) -> Batch | None:
        """prefill_first: an iteration of admissions only (the decoders wait), or None when none fits."""
        if self._listed:  # a request is part-way through its prompt: finish it first, in the usual way
            return None
        batch = Batch()
        self._admit(batch, self.spec.max_batch_tokens)
        return batch if batch.admitted else None

    def _schedule_together(self) -> Batch | None:
        """The iteration when every running request gets its whole share (one token per decoder, the next
        chunk per prefilling request) within the token budget and the free KV blocks; else None."""
        kv = self.kv
        cohort = self.cohort
        listed = self._listed
        budget = self.spec.max_batch_tokens - cohort.size
        blocks = kv.free_blocks - (cohort.growers() if cohort.reserved == cohort.tick else 0)
        shares = [self._whole_share(req) for req in listed.values()] if listed else None
        if shares:
            for req, new in zip(listed.values(), shares):  # prefilling requests (decoders joined the cohort)
                budget -= new
                blocks -= kv.extra_blocks(req, req.computed_tokens + new)
        if budget < 0 or blocks < 0:
            return None
        batch = Batch()
        if cohort.size:
            kv.add_blocks(cohort.reserve())
            batch.add_cohort(cohort)
        if shares:
            for req, new in zip(listed.values(), shares):
                kv.grow(req, req.computed_tokens + new)
                batch.add(req, new)
        if self.num_waiting:
            self._admit(batch, budget)
        return batch

    def _schedule_in_order(self) -> Batch:
        """vLLM's walk over the running list when budget or KV blocks run short: one token for each decoding
        request, the rest of the prompt (or a chunk) for each prefilling one, preempting for KV room."""
        for req in self.cohort.dissolve():
            self._listed[req.run_seq] = req
        batch = Batch()
        budget = self.spec.max_batch_tokens
        kv = self.kv
        running = list(self._running.values())
        i = 0
        while i < len(running) and budget > 0:
            req = running[i]
            new = 1 if req.decoding else self._prefill_share(req, budget)
            if new > budget:
                break
            preempted_self = False
            while not kv.can_hold(req, req.computed_tokens + new):
                victim = self._preempt_victim(running)
                if running.index(victim) < i:
                    i -= 1  # a request already in this batch left the running list before ``req``
                self._preempt(victim, batch, running)
                if victim is req:
                    preempted_self = True
                    break
            if preempted_self:  # nothing more fits this iteration
                break
            kv.grow(req, req.computed_tokens + new)
            batch.add(req, new)
            budget -= new
            i += 1
        if not batch.preempted:
            self._admit(batch, budget)
        return batch

    def _admit(self, batch: Batch, budget: int) -> None:
        kv = self.kv
        while budget > 0 and self.num_waiting and len(self._running) < self.spec.max_batch_requests:
            req = self._head()
            assert req is not None
            swapped = req.computed_tokens if self.spec.preemption == "swap" and req.preemptions else 0
            new = 1 if req.decoding else self._prefill_share(req, budget)
            if new > budget:
                break
            if not kv.can_hold(req, req.computed_tokens + new, self._reserve):
                break
            if self.full_sequence:
                whole = blocks_for(req.stop_tokens, kv.block_tokens)
                if self.promised_blocks + whole > kv.total_blocks:
                    break
                self.promised_blocks += whole
            self.pop_waiting()
            kv.grow(req, req.computed_tokens + new)
            req.run_seq = seq = self._next_seq
            self._next_seq += 1
            self._running[seq] = req
            self._listed[seq] = req
            batch.admitted.append(req)
            batch.swapped_in_tokens += swapped
            batch.add(req, new)
            budget -= new

    def _preempt_victim(self, running: list[Request]) -> Request:
        """The lowest-priority, most recently admitted running request (vLLM's choice)."""
        if self.spec.priority:
            return max(reversed(running), key=lambda r: r.priority)
        return running[-1]

    def _preempt(self, victim: Request, batch: Batch, running: list[Request]) -> None:
        running.remove(victim)
        del self._running[victim.run_seq]
        del self._listed[victim.run_seq]
        if victim in batch.listed:  # give back the tokens it had been granted this iteration
            k = batch.listed.index(victim)
            new = batch.listed_new[k]
            batch.kv_read_tokens -= victim.computed_tokens + new
            batch.attention_pairs -= new * (victim.computed_tokens + (new + 1) / 2)
            batch.size -= 1
            batch.new_tokens_total -= new
            if new == 1 and victim.decoding:
                batch.decoders -= 1
            del batch.listed[k], batch.listed_new[k]
        self.kv.release(victim)
        self._unpromise(victim)
        victim.preemptions += 1
        if self.spec.preemption == "recompute":
            victim.prefill_tokens = max(victim.computed_tokens, victim.prefill_tokens)
            victim.computed_tokens = 0
        batch.preempted.append(victim)
        self._queue(victim).appendleft(victim)
        self.num_waiting += 1

    def _unpromise(self, req: Request) -> None:
        if self.full_sequence:
            self.promised_blocks -= blocks_for(req.stop_tokens, self.kv.block_tokens)

    def _check(self, batch: Batch) -> None:
        if self.full_sequence:
            assert not batch.preempted, "full_sequence admission preempted a request"
            assert self.kv.used_blocks <= self.promised_blocks <= self.kv.total_blocks, "KV promised beyond capacity"
        assert batch.new_tokens_total <= self.spec.max_batch_tokens, "token budget exceeded"
        assert len(self._running) <= self.spec.max_batch_requests, "too many running requests"
        assert self.cohort.size + len(self._listed) == len(self._running), "running requests lost"
        assert self.kv.used_blocks <= self.kv.total_blocks, "KV over capacity"

    def update(self, batch: Batch, steps: int = 1) -> tuple[list[Request], list[Request]]:
        """Apply ``steps`` iterations of ``batch`` (several only for the cohort alone: a decode-only batch).

        Returns (requests whose first token came out, requests that finished) in the last iteration.
        """
        first: list[Request] = []
        done: list[Request] = []
        if batch.cohort is not None:
            extra, done = batch.cohort.advance(steps)
            self.kv.add_blocks(extra)
        if batch.listed:
            assert steps == 1, "listed requests run one iteration at a time"
            for req, new in zip(batch.listed, batch.listed_new):
                before = req.computed_tokens
                req.computed_tokens = after = before + new
                if before < req.input_tokens <= after:
                    first.append(req)
                if after >= req.stop_tokens:
                    done.append(req)
        if len(done) > 1:
            done.sort(key=_running_order)
        for req in done:
            del self._running[req.run_seq]
            self._listed.pop(req.run_seq, None)
            self.kv.release(req, req.prefix_ids)
            self._unpromise(req)
        return first, done

    def decode_steps(self, batch: Batch, limit: int) -> int:
        """How many identical decode iterations of ``batch`` may run before it must change (a request
        finishes, or the KV cache fills). At least 1: the batch was scheduled, so its first step fits.
        Only the cohort alone runs several (a batch scheduled in order runs one at a time)."""
        cohort = batch.cohort
        if cohort is None or batch.listed:
            return 1
        steps = min(limit, cohort.steps_to_stop())
        if steps <= 1:
            return 1
        free = self.kv.free_blocks
        if cohort.size * -(-(steps - 1) // cohort.block_tokens) <= free or cohort.extra_blocks(steps) <= free:
            return steps  # (the first test bounds the extra blocks from above: one per member per block)
        lo, hi = 1, steps  # lo steps fit, hi steps do not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if cohort.extra_blocks(mid) <= free:
                lo = mid
            else:
                hi = mid
        return lo


def _running_order(req: Request) -> int:
    return req.run_seq


ServingPolicy = Union[ContinuousPolicy, StaticPolicy]


def build_policy(spec: ContinuousScheduler | ChunkedPrefillScheduler | StaticScheduler, kv: KVCache) -> ServingPolicy:
    if isinstance(spec, StaticScheduler):
        return StaticPolicy(spec, kv)
    return ContinuousPolicy(spec, kv)
