"""What every serving policy refuses outright, and the ``add`` they share: a request is checked once when it
arrives (``reject_reason``, from the request and the fixed limits only) and queued with ``enqueue``."""

from __future__ import annotations

from sim.kv_cache import KVCache, blocks_for
from sim.request import Request


def empty_prompt(req: Request) -> str | None:
    return "empty prompt (0 input tokens)" if req.input_tokens < 1 else None


def beyond_kv(req: Request, kv: KVCache) -> str | None:
    """A request whose whole sequence needs more KV blocks than the cache has can never run."""
    need = blocks_for(req.tokens_to_compute, kv.block_tokens)
    return f"needs {need} KV blocks, {kv.owner} has {kv.total_blocks}" if need > kv.total_blocks else None


class Admission:
    """``add`` = ``reject_reason`` then ``enqueue``; a policy defines both."""

    def reject_reason(self, req: Request) -> str | None:
        raise NotImplementedError

    def enqueue(self, req: Request) -> None:
        raise NotImplementedError

    def add(self, req: Request) -> str | None:
        """Queue a new request, or say why it can never be served (it is then dropped)."""
        reason = self.reject_reason(req)
        if reason is None:
            self.enqueue(req)
        return reason
