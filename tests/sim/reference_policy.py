"""The reference continuous-batching policy: the straightforward implementation of ``sim.schedulers`` as it
was before its speed work (commit 42e5297), kept as the oracle of ``test_policy_matches_reference``.

It walks the running list every iteration and keeps each request's counters itself: slow but easy to read.
The production policy may be organised differently (decode cohort, counters) but must form the same
batches. Do not optimise this file.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from sim.kv_cache import KVCache, blocks_for
from sim.request import Request
from sim.schedulers import ContinuousScheduler, ChunkedPrefillScheduler


@dataclass
class Batch:
    """One forward iteration: which requests, how many new tokens each, and what the policy did."""

    reqs: list[Request] = field(default_factory=list)
    new_tokens: list[int] = field(default_factory=list)
    admitted: list[Request] = field(default_factory=list)
    preempted: list[Request] = field(default_factory=list)
    #: KV tokens restored from host memory this iteration (swap preemption)
    swapped_in_tokens: int = 0
    #: aggregates for the performance model (BatchWork fields)
    kv_read_tokens: int = 0
    attention_pairs: float = 0.0

    #: every request decodes one token (no prefill, no admission): the iteration may repeat unchanged
    decoding: bool = True
    #: requests in the batch that decode (each receives one output token after a decode step)
    decoders: int = 0

    @property
    def decode_only(self) -> bool:
        return self.decoding and not self.admitted

    def add(self, req: Request, new: int) -> None:
        self.reqs.append(req)
        self.new_tokens.append(new)
        ctx = req.computed_tokens
        if new != 1 or ctx < req.prefill_tokens:
            self.decoding = False
        else:
            self.decoders += 1
        self.kv_read_tokens += ctx + new
        self.attention_pairs += new * (ctx + (new + 1) / 2)

    def __len__(self) -> int:
        return len(self.reqs)


class ReferencePolicy:
    """Continuous batching with an optional prefill chunk limit (chunked prefill when set)."""

    def __init__(self, spec: ContinuousScheduler, kv: KVCache) -> None:
        self.spec = spec
        self.kv = kv
        self.chunk = getattr(spec, "chunk_tokens", None)
        self.chunked = isinstance(spec, ChunkedPrefillScheduler)
        self.running: list[Request] = []
        self._waiting: dict[int, deque[Request]] = {}
        self.num_waiting = 0
        self._reserve = int(spec.kv_watermark * kv.total_blocks)

    # ---- queue -------------------------------------------------------------------------------
    def add(self, req: Request) -> str | None:
        """Queue a new request, or say why it can never be served (it is then dropped)."""
        if req.input_tokens < 1:
            return "empty prompt (0 input tokens)"
        if not self.chunked and req.input_tokens > self.spec.max_batch_tokens:
            return f"prompt of {req.input_tokens} tokens exceeds max_batch_tokens {self.spec.max_batch_tokens}"
        need = blocks_for(req.tokens_to_compute, self.kv.block_tokens)
        if need > self.kv.total_blocks:
            return f"needs {need} KV blocks, the replica has {self.kv.total_blocks}"
        if self.kv.prefix_caching and req.prefix_ids and req.computed_tokens == 0:
            hits = self.kv.cached_prefix_blocks(req.prefix_ids)
            req.cached_tokens = min(hits * self.kv.prefix_block_tokens, req.input_tokens - 1)
            req.computed_tokens = req.cached_tokens
        self._queue(req).append(req)
        self.num_waiting += 1
        return None

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
        return bool(self.running) or self.num_waiting > 0

    # ---- one iteration -----------------------------------------------------------------------
    def _prefill_share(self, req: Request, budget: int) -> int:
        left = req.prefill_tokens - req.computed_tokens
        if self.chunk is not None:
            left = min(left, self.chunk)
        return min(left, budget) if self.chunked else left

    def schedule(self) -> Batch:
        batch = Batch()
        budget = self.spec.max_batch_tokens
        kv = self.kv
        bt = kv.block_tokens
        reqs, news = batch.reqs, batch.new_tokens
        running = self.running
        i = 0
        kv_read = 0
        while i < len(running) and budget > 0:
            req = running[i]
            c = req.computed_tokens
            if c >= req.prefill_tokens and (c < req.kv_blocks * bt or kv.used_blocks < kv.total_blocks):
                # fast path: a decoding request whose next token fits (in its last block, or one new block)
                if c >= req.kv_blocks * bt:
                    kv.grow(req, c + 1)
                reqs.append(req)
                news.append(1)
                kv_read += c + 1
                batch.decoders += 1
                budget -= 1
                i += 1
                continue
            new = 1 if c >= req.prefill_tokens else self._prefill_share(req, budget)
            if new > budget:
                break
            preempted_self = False
            while not kv.can_hold(req, req.computed_tokens + new):
                victim = self._preempt_victim()
                if self.running.index(victim) < i:
                    i -= 1  # a request already in this batch left the running list before ``req``
                self._preempt(victim, batch)
                if victim is req:
                    preempted_self = True
                    break
            if preempted_self:  # nothing more fits this iteration
                break
            kv.grow(req, req.computed_tokens + new)
            batch.add(req, new)
            budget -= new
            i += 1
        batch.kv_read_tokens += kv_read  # decode fast path: one query per request attends its context
        batch.attention_pairs += kv_read
        if not batch.preempted:
            self._admit(batch, budget)
        self._check(batch)
        return batch

    def _admit(self, batch: Batch, budget: int) -> None:
        kv = self.kv
        while budget > 0 and self.num_waiting and len(self.running) < self.spec.max_batch_requests:
            req = self._head()
            assert req is not None
            swapped = req.computed_tokens if self.spec.preemption == "swap" and req.preemptions else 0
            new = 1 if req.decoding else self._prefill_share(req, budget)
            if new > budget:
                break
            if not kv.can_hold(req, req.computed_tokens + new, self._reserve):
                break
            self.pop_waiting()
            kv.grow(req, req.computed_tokens + new)
            self.running.append(req)
            batch.admitted.append(req)
            batch.swapped_in_tokens += swapped
            batch.add(req, new)
            budget -= new

    def _preempt_victim(self) -> Request:
        """The lowest-priority, most recently admitted running request (vLLM's choice)."""
        if self.spec.priority:
            return max(reversed(self.running), key=lambda r: r.priority)
        return self.running[-1]

    def _preempt(self, victim: Request, batch: Batch) -> None:
        self.running.remove(victim)
        if victim in batch.reqs:  # give back the tokens it had been granted this iteration
            k = batch.reqs.index(victim)
            new = batch.new_tokens[k]
            batch.kv_read_tokens -= victim.computed_tokens + new
            batch.attention_pairs -= new * (victim.computed_tokens + (new + 1) / 2)
            if new == 1 and victim.computed_tokens >= victim.prefill_tokens:
                batch.decoders -= 1  # fixed here: 42e5297 kept counting a preempted decoder (ITL histogram)
            del batch.reqs[k], batch.new_tokens[k]
        self.kv.release(victim)
        victim.preemptions += 1
        if self.spec.preemption == "recompute":
            victim.prefill_tokens = max(victim.computed_tokens, victim.prefill_tokens)
            victim.computed_tokens = 0
        batch.preempted.append(victim)
        self._queue(victim).appendleft(victim)
        self.num_waiting += 1

    def _check(self, batch: Batch) -> None:
        assert sum(batch.new_tokens) <= self.spec.max_batch_tokens, "token budget exceeded"
        assert len(self.running) <= self.spec.max_batch_requests, "too many running requests"
        assert self.kv.used_blocks <= self.kv.total_blocks, "KV over capacity"

    def update(self, batch: Batch, steps: int = 1) -> tuple[list[Request], list[Request]]:
        """Apply ``steps`` iterations of ``batch`` (several only for a decode-only batch).

        Returns (requests whose first token came out, requests that finished) in the last iteration.
        """
        first: list[Request] = []
        done: list[Request] = []
        if batch.decoding:  # decode only: no first tokens; several steps grow the KV of each request
            if steps == 1:  # schedule() already gave every request room for this token
                for req in batch.reqs:
                    c = req.computed_tokens = req.computed_tokens + 1
                    if c >= req.stop_tokens:
                        done.append(req)
            else:
                bt = self.kv.block_tokens
                extra = 0
                for req in batch.reqs:
                    c = req.computed_tokens = req.computed_tokens + steps
                    need = -(-c // bt) - req.kv_blocks
                    if need > 0:
                        extra += need
                        req.kv_blocks += need
                    if c >= req.stop_tokens:
                        done.append(req)
                self.kv.add_blocks(extra)
        else:
            for req, new in zip(batch.reqs, batch.new_tokens):
                before = req.computed_tokens
                req.computed_tokens = before + new * steps
                if before < req.input_tokens <= req.computed_tokens:
                    first.append(req)
                if req.computed_tokens >= req.stop_tokens:
                    done.append(req)
        for req in done:
            self.running.remove(req)
            self.kv.release(req, req.prefix_ids)
        return first, done

    def decode_steps(self, batch: Batch, limit: int) -> int:
        """How many identical decode iterations of ``batch`` may run before it must change (a request
        finishes, or the KV cache fills). At least 1: the batch was scheduled, so its first step fits."""
        kv = self.kv
        bt = kv.block_tokens
        # One pass: the nearest completion, and how many requests sit at each offset within their last
        # block (schedule() gave each one block room for its next token: it holds ceil((c + 1) / bt)).
        residues = [0] * bt
        steps = limit
        for r in batch.reqs:
            c = r.computed_tokens
            if r.stop_tokens - c < steps:
                steps = r.stop_tokens - c
            residues[(c + 1) % bt] += 1
        if steps <= 1:
            return 1

        def extra_blocks(k: int) -> int:  # blocks beyond those held that k steps need
            return sum(n * (-(-(off + k - 1) // bt) - (off > 0)) for off, n in enumerate(residues) if n)

        free = kv.free_blocks
        if extra_blocks(steps) <= free:
            return steps
        lo, hi = 1, steps  # lo steps fit, hi steps do not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if extra_blocks(mid) <= free:
                lo = mid
            else:
                hi = mid
        return lo
