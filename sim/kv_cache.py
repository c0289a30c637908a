"""KV-cache accounting in fixed-size blocks (PagedAttention-style), with an optional LRU prefix cache.

A request holding ``t`` tokens of KV occupies ``ceil(t / block_tokens)`` blocks. Blocks of finished
requests that carry prefix ids stay cached (evictable, least recently used first) so a later request with
the same prefix skips that part of its prefill. Pure bookkeeping: no time, no events.
"""

from __future__ import annotations

from collections import OrderedDict

from sim.request import Request


def blocks_for(tokens: int, block_tokens: int) -> int:
    return -(-tokens // block_tokens)


class KVCache:
    """Blocks of one replica: held by running requests, cached for reuse, or free."""

    def __init__(
        self, capacity_tokens: int, block_tokens: int = 16, prefix_caching: bool = False, prefix_block_tokens: int = 512,
        owner: str = "the replica",
    ) -> None:
        #: who holds this cache, as drop reasons name it ("the replica", or one engine of a pipelined replica)
        self.owner = owner
        if block_tokens < 1:
            raise ValueError(f"block_tokens must be >= 1, got {block_tokens}")
        if capacity_tokens < block_tokens:
            raise ValueError(f"KV capacity {capacity_tokens} tokens is less than one block of {block_tokens}")
        self.block_tokens = block_tokens
        self.total_blocks = capacity_tokens // block_tokens
        self.used_blocks = 0
        #: the most blocks held at once so far (requests' blocks; cached prefixes live in unused ones)
        self.peak_used_blocks = 0
        self._holders: dict[int, Request] = {}  # request id -> request holding blocks (for the invariant)
        self.prefix_caching = prefix_caching
        #: KV blocks one cached prefix block (e.g. one of Mooncake's 512-token hash blocks) occupies
        self.blocks_per_prefix_block = blocks_for(prefix_block_tokens, block_tokens)
        self.prefix_block_tokens = prefix_block_tokens
        # prefix block ids, least recently used first. Simplification: a cached prefix occupies unused
        # blocks; a request reusing it still allocates its own blocks (no sharing), which over-counts memory
        # when requests with a common prefix run at the same time (conservative).
        self._cached: OrderedDict[int, None] = OrderedDict()

    @property
    def capacity_tokens(self) -> int:
        return self.total_blocks * self.block_tokens

    @property
    def free_blocks(self) -> int:
        """Blocks a request could get now: unused ones plus evictable cached prefix blocks."""
        return self.total_blocks - self.used_blocks

    def extra_blocks(self, req: Request, tokens: int) -> int:
        """Blocks ``req`` needs beyond what it holds to keep ``tokens`` tokens of KV."""
        extra = -(-tokens // self.block_tokens) - req.kv_blocks
        return extra if extra > 0 else 0

    def can_hold(self, req: Request, tokens: int, reserve_blocks: int = 0) -> bool:
        return self.extra_blocks(req, tokens) + reserve_blocks <= self.free_blocks

    def grow(self, req: Request, tokens: int) -> None:
        """Give ``req`` enough blocks for ``tokens`` tokens (evicting cached prefixes if needed)."""
        extra = self.extra_blocks(req, tokens)
        if extra > self.free_blocks:
            raise AssertionError(f"KV over capacity: request {req.id} needs {extra} blocks, {self.free_blocks} free")
        if extra:
            self._take(extra)
            if not req.kv_blocks:
                self._holders[req.id] = req
            req.kv_blocks += extra

    def add_blocks(self, extra: int) -> None:
        """Account ``extra`` blocks that requests already holding blocks took (a run of decode steps that
        the scheduler checked fits)."""
        if extra:
            self._take(extra)

    def _take(self, extra: int) -> None:
        """``extra`` more blocks held (evicting cached prefixes for them), and the peak kept."""
        if self._cached:
            self._evict(extra)
        self.used_blocks += extra
        if self.used_blocks > self.total_blocks:
            raise AssertionError(f"KV over capacity: {self.used_blocks} of {self.total_blocks} blocks")
        if self.used_blocks > self.peak_used_blocks:
            self.peak_used_blocks = self.used_blocks

    def release(self, req: Request, prefix_ids: tuple[int, ...] = ()) -> None:
        """Free the blocks of ``req``; with prefix caching its prefix blocks stay cached."""
        if self._holders.pop(req.id, None) is not None:
            self.used_blocks -= req.kv_blocks
            req.kv_blocks = 0
        if self.prefix_caching:
            for block_id in prefix_ids:
                self._cached[block_id] = None
                self._cached.move_to_end(block_id)
            self._evict(0)

    def cached_prefix_blocks(self, prefix_ids: tuple[int, ...]) -> int:
        """How many leading prefix blocks are cached (and mark them recently used)."""
        hits = 0
        for block_id in prefix_ids:
            if block_id not in self._cached:
                break
            self._cached.move_to_end(block_id)
            hits += 1
        return hits

    def _evict(self, needed: int) -> None:
        """Keep cached prefix blocks within the unused blocks, evicting least recently used first."""
        room = self.total_blocks - self.used_blocks - needed
        while self._cached and len(self._cached) * self.blocks_per_prefix_block > room:
            self._cached.popitem(last=False)

    def check(self) -> None:
        """Invariants: blocks held add up, never above capacity, never negative."""
        assert 0 <= self.used_blocks <= self.total_blocks, (self.used_blocks, self.total_blocks)
        assert sum(r.kv_blocks for r in self._holders.values()) == self.used_blocks
        assert len(self._cached) * self.blocks_per_prefix_block <= self.total_blocks - self.used_blocks
