"""Conformance: every scheduling policy, driven by a fabricated clock (no event loop), keeps the KV cache
within capacity, never exceeds its token budget or batch size, accounts for every request, and keeps
first-come-first-served admission where it promises it."""

from __future__ import annotations

import numpy as np
import pytest

from sim.kv_cache import KVCache
from sim.request import Request
from sim.schedulers import (ChunkedPrefillScheduler, ContinuousScheduler, StaticPolicy, StaticScheduler,
                            build_policy)

SPECS = {
    "continuous": ContinuousScheduler(type="continuous", max_batch_requests=16, max_batch_tokens=4096),
    "continuous-priority": ContinuousScheduler(type="continuous", max_batch_requests=16, max_batch_tokens=4096,
                                               priority=True),
    "continuous-swap": ContinuousScheduler(type="continuous", max_batch_requests=16, max_batch_tokens=4096,
                                           preemption="swap"),
    "chunked": ChunkedPrefillScheduler(type="chunked_prefill", max_batch_requests=16, max_batch_tokens=512,
                                       chunk_tokens=256),
    "chunked-prefix": ChunkedPrefillScheduler(type="chunked_prefill", max_batch_tokens=512, prefix_caching=True,
                                              prefix_block_tokens=64),
    "chunked-full-sequence": ChunkedPrefillScheduler(type="chunked_prefill", max_batch_requests=16,
                                                     max_batch_tokens=512, admission="full_sequence"),
    "continuous-full-sequence-priority": ContinuousScheduler(type="continuous", max_batch_requests=16,
                                                             max_batch_tokens=4096, priority=True,
                                                             admission="full_sequence"),
    "continuous-prefill-first": ContinuousScheduler(type="continuous", max_batch_requests=16, max_batch_tokens=4096,
                                                    prefill_first=True),
    "static": StaticScheduler(type="static", max_batch_requests=8),
}
FCFS = {"continuous", "chunked", "chunked-full-sequence", "continuous-prefill-first", "static"}


def workload(seed: int, n: int = 300) -> list[Request]:
    rng = np.random.default_rng(seed)
    inputs = rng.integers(1, 2000, n)
    outputs = rng.integers(1, 400, n)
    out = []
    for i in range(n):
        r = Request(i, 0, int(rng.integers(0, 3)), int(inputs[i]), int(outputs[i]), float(i))
        r.prefix_ids = tuple(int(x) for x in rng.integers(0, 20, int(inputs[i]) // 64))
        out.append(r)
    return out


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("capacity", [8_000, 60_000])
def test_policy_conformance(name: str, capacity: int) -> None:
    spec = SPECS[name]
    kv = KVCache(capacity, spec.block_tokens, spec.prefix_caching, spec.prefix_block_tokens)
    policy = build_policy(spec, kv)
    requests = workload(seed=capacity)
    dropped, finished, admitted_order = [], [], []
    pending = list(requests)
    budget = getattr(spec, "max_batch_tokens", None)
    for step in range(200_000):
        for _ in range(3):  # a few arrivals per iteration while they last
            if pending:
                r = pending.pop(0)
                if policy.add(r) is not None:
                    dropped.append(r)
        if not policy.has_work and not pending:
            break
        batch = policy.schedule()
        kv.check()
        assert len(policy.running) <= spec.max_batch_requests
        if getattr(spec, "admission", "") == "full_sequence":
            assert not batch.preempted, "full_sequence admission never preempts"
        if budget is not None:
            assert sum(batch.new_tokens) <= budget
        for r in batch.admitted:
            if r.preemptions == 0 and r not in admitted_order:
                admitted_order.append(r)
        if not batch.reqs:
            continue
        steps = policy.decode_steps(batch, 50) if batch.decode_only else 1
        _, done = policy.update(batch, steps)
        kv.check()
        finished += done
    else:
        pytest.fail("the policy did not drain its queue")
    assert len(finished) + len(dropped) == len(requests)
    assert len({r.id for r in finished}) == len(finished)
    assert all(r.computed_tokens >= r.tokens_to_compute for r in finished)
    assert kv.used_blocks == 0
    if name in FCFS:
        ids = [r.id for r in admitted_order]
        assert ids == sorted(ids), "first admissions must follow arrival order"
    if isinstance(policy, StaticPolicy):
        assert not policy.running
