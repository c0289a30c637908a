"""Static batching as a pure policy object (the ``static`` scheduler of ``sim.schedulers``): a batch forms,
prefills together and decodes until its longest request ends; requests that finish early stay as padding."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sim.admission import Admission, beyond_kv, empty_prompt
from sim.batch import Batch
from sim.kv_cache import KVCache
from sim.request import Request

if TYPE_CHECKING:
    from sim.schedulers import StaticScheduler


class StaticPolicy(Admission):
    """Static batching: up to ``max_batch_requests`` waiting requests form a batch (the replica waits up to
    ``window_s`` for it to fill); the batch prefills together, then decodes until its longest request ends.
    Requests that finish early stay in the batch as padding (they are reported done at their last token)."""

    def __init__(self, spec: StaticScheduler, kv: KVCache) -> None:
        self.spec = spec
        self.kv = kv
        self.running: list[Request] = []
        self._waiting: deque[Request] = deque()

    @property
    def num_waiting(self) -> int:
        return len(self._waiting)

    @property
    def has_work(self) -> bool:
        return bool(self.running) or bool(self._waiting)

    def waiting_requests(self) -> Iterable[Request]:
        return iter(self._waiting)

    def pop_waiting(self) -> Request:
        return self._waiting.popleft()

    @property
    def ready(self) -> bool:
        """A full batch is waiting (no need to wait for the window)."""
        return len(self._waiting) >= self.spec.max_batch_requests

    def reject_reason(self, req: Request) -> str | None:
        """Why ``req`` can never be served here, or None (the request and the fixed limits only)."""
        return empty_prompt(req) or beyond_kv(req, self.kv)

    def enqueue(self, req: Request) -> None:
        """Queue a request that ``reject_reason`` accepted."""
        self._waiting.append(req)

    def _unfinished(self) -> list[Request]:
        return [r for r in self.running if r.remaining_tokens > 0]

    def schedule(self) -> Batch:
        batch = Batch()
        if self.running and self._unfinished():
            for req in self.running:  # every member decodes (finished ones as padding)
                batch.add(req, 1)
            return batch
        for req in self.running:
            self.kv.release(req)
        self.running = []
        while self._waiting and len(self.running) < self.spec.max_batch_requests:
            req = self._waiting[0]
            if not self.kv.can_hold(req, req.tokens_to_compute):  # reserve the whole sequence up front
                break
            self._waiting.popleft()
            self.kv.grow(req, req.tokens_to_compute)
            self.running.append(req)
            batch.admitted.append(req)
            batch.add(req, req.input_tokens)
        assert self.kv.used_blocks <= self.kv.total_blocks, "KV over capacity"
        assert len(self.running) <= self.spec.max_batch_requests
        return batch

    def update(self, batch: Batch, steps: int = 1) -> tuple[list[Request], list[Request]]:
        first: list[Request] = []
        done: list[Request] = []
        for req, new in zip(batch.listed, batch.listed_new):
            was_done = req.remaining_tokens <= 0
            before = req.computed_tokens
            req.computed_tokens = before + new * steps
            if before < req.input_tokens <= req.computed_tokens:
                first.append(req)
            if not was_done and req.remaining_tokens <= 0:
                done.append(req)
        if not self._unfinished():
            for req in self.running:
                self.kv.release(req)
            self.running = []
        return first, done

    def decode_steps(self, batch: Batch, limit: int) -> int:
        """Steps until the next member finishes (KV was reserved for whole sequences)."""
        return max(1, min(limit, min(r.remaining_tokens for r in self._unfinished())))
