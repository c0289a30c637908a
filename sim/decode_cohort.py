"""The decoding requests of one replica, stepped together with counters instead of per-request updates.

In a continuous-batching iteration every running request that has finished its prefill gets one token. A
:class:`DecodeCohort` keeps those requests with one shared ``tick`` (decode steps the cohort has taken):
a member's computed tokens are ``cohort_base + tick`` (``Request.computed_tokens`` reads them so), so a step
of the whole cohort is ``tick += 1``, whatever its size. What the scheduler and the performance model need
from the members comes from aggregates kept as members join and leave:

* the KV tokens a step reads: the sum of the bases plus (tick + 1) per member;
* when the next member finishes: a heap keyed on the tick at which each one reaches its stop;
* KV blocks: a member holding ``ceil(c / block_tokens)`` blocks needs a new one for its next token exactly
  when ``c`` is a multiple of ``block_tokens``, so members are counted by ``base mod block_tokens``.

A member's blocks are ``ceil((base + reserved) / block_tokens)``, where ``reserved`` is ``tick`` or, while a
scheduled step is not yet applied (its blocks are already allotted), ``tick + 1``.
"""

from __future__ import annotations

from heapq import heappop, heappush

from sim.request import Request


class DecodeCohort:
    """Decoding requests that receive one token per iteration together (members of one replica)."""

    def __init__(self, block_tokens: int) -> None:
        self.block_tokens = block_tokens
        #: decode steps taken by the cohort since it was created
        self.tick = 0
        #: ``tick``, or ``tick + 1`` while a scheduled step is pending (its KV blocks already allotted)
        self.reserved = 0
        self.size = 0
        self._base_sum = 0
        self._by_residue = [0] * block_tokens  # members by cohort_base mod block_tokens
        self._stops: list[tuple[int, int, Request]] = []  # (tick at which the member stops, run_seq, member)

    # ---- membership ----------------------------------------------------------------------------
    def join(self, req: Request) -> None:
        """Take a decoding request holding ``ceil(computed / block_tokens)`` blocks, between steps."""
        assert self.reserved == self.tick, "members join between steps"
        tokens = req.computed_tokens
        assert req.kv_blocks == -(-tokens // self.block_tokens), (req, req.kv_blocks)
        assert req.prefill_tokens <= tokens < req.stop_tokens, req
        base = tokens - self.tick
        req.cohort = self
        req.cohort_base = base
        self.size += 1
        self._base_sum += base
        self._by_residue[base % self.block_tokens] += 1
        heappush(self._stops, (req.stop_tokens - base, req.run_seq, req))

    def _release(self, req: Request) -> None:
        """The member leaves with its counters written back to it."""
        base = req.cohort_base
        req.cohort = None
        req.computed_tokens = base + self.tick
        req.kv_blocks = self.blocks_held(base)
        self.size -= 1
        self._base_sum -= base
        self._by_residue[base % self.block_tokens] -= 1

    def dissolve(self) -> list[Request]:
        """Every member leaves (between steps); returns them in no particular order."""
        assert self.reserved == self.tick, "the cohort dissolves between steps"
        members = [req for _, _, req in self._stops]
        self._stops = []
        for req in members:
            self._release(req)
        assert self.size == 0 and self._base_sum == 0 and not any(self._by_residue)
        return members

    def members(self) -> list[Request]:
        """The members in running order (for inspection: O(size log size))."""
        return [req for _, _, req in sorted(self._stops)]

    # ---- what a step needs -----------------------------------------------------------------------
    def blocks_held(self, base: int) -> int:
        """KV blocks a member with ``cohort_base`` ``base`` holds now."""
        return -(-(base + self.reserved) // self.block_tokens)

    def growers(self) -> int:
        """Members whose next token needs a new KV block (their computed tokens fill their blocks)."""
        return self._by_residue[-self.tick % self.block_tokens]

    def kv_read_tokens(self) -> int:
        """KV tokens the members' next step reads: each one's context plus its new token."""
        return self._base_sum + self.size * (self.tick + 1)

    def reserve(self) -> int:
        """Schedule the next step; returns the KV blocks it needs beyond those held (0 if already reserved)."""
        if self.reserved > self.tick:
            return 0
        self.reserved = self.tick + 1
        return self.growers()

    def extra_blocks(self, steps: int) -> int:
        """KV blocks that ``steps`` steps from now need beyond the first step's (reserved by ``reserve``)."""
        bt = self.block_tokens
        cycles, rest = divmod(steps - 1, bt)
        # step j (1..rest) takes a block for the members with residue -(tick + j) mod bt: the ``rest`` residues
        # counting down from -(tick + 1) mod bt, a run of the residue list that may wrap around its start
        top = -(self.tick + 1) % bt
        low = top - rest + 1
        by_residue = self._by_residue
        growers = sum(by_residue[low:top + 1]) if low >= 0 else sum(by_residue[:top + 1]) + sum(by_residue[low:])
        return cycles * self.size + growers

    def steps_to_stop(self) -> int:
        """Steps until the first member reaches its stop (at least 1 for a non-empty cohort)."""
        return self._stops[0][0] - self.tick

    def advance(self, steps: int) -> tuple[int, list[Request]]:
        """Apply ``steps`` steps, the first one reserved. Returns the KV blocks the later steps took and the
        members that reached their stop (they leave the cohort with their counters written back)."""
        assert self.reserved == self.tick + 1, "advance a reserved step"
        extra = self.extra_blocks(steps) if steps > 1 else 0
        self.tick = self.reserved = tick = self.tick + steps
        done: list[Request] = []
        stops = self._stops
        while stops and stops[0][0] <= tick:
            req = heappop(stops)[2]
            self._release(req)
            done.append(req)
        return extra, done
