"""Conformance: every scheduling policy, driven by a fabricated clock (no event loop), keeps the KV cache
within capacity, never exceeds its token budget (static: its batch and whole-sequence reservation) or batch size,
accounts for every request (the unservable ones dropped with their reason), preempts only where it may, and keeps
first-come-first-served admission where it promises it (within each priority level for the priority variants)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.kv_cache import KVCache, blocks_for
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
FCFS = {"continuous", "continuous-swap", "chunked", "chunked-prefix", "chunked-full-sequence",
        "continuous-prefill-first", "static"}
#: these admit by class priority, then first-come-first-served within each priority level
FCFS_PER_PRIORITY = {"continuous-priority", "continuous-full-sequence-priority"}
#: these never preempt: full_sequence admission promises the whole sequence, static reserves it up front
NO_PREEMPTION = {"chunked-full-sequence", "continuous-full-sequence-priority", "static"}
EMPTY_EVERY, OVERSIZED_EVERY = 23, 37  # request ids that get an empty prompt / more KV than the replica holds


def workload(seed: int, capacity: int, n: int = 300) -> list[Request]:
    rng = np.random.default_rng(seed)
    inputs = rng.integers(1, 2000, n)
    outputs = rng.integers(1, 400, n)
    out = []
    for i in range(n):
        if i % EMPTY_EVERY == 7:
            inputs[i] = 0  # an empty prompt: refused when added
        elif i % OVERSIZED_EVERY == 11:
            inputs[i] = capacity + 100  # more KV than the whole replica holds: refused when added
        r = Request(i, 0, int(rng.integers(0, 3)), int(inputs[i]), int(outputs[i]), float(i))
        r.prefix_ids = tuple(int(x) for x in rng.integers(0, 20, int(inputs[i]) // 64))
        out.append(r)
    return out


def unservable(r: Request, capacity: int) -> bool:
    """An empty prompt, or one whose KV does not fit the replica (all other prompts fit every budget here)."""
    return r.input_tokens == 0 or r.input_tokens > capacity


def check_static_batch(policy: StaticPolicy, batch, unfinished_before: bool) -> None:  # noqa: ANN001
    """Static batching's own limits (no token budget): a batch of at most max_batch_requests formed only when
    the previous one has ended, prefilling every member's whole prompt, with the KV of each member's whole
    sequence reserved up front; then every member (finished ones as padding) decodes one token per step."""
    spec = policy.spec
    assert len(policy.running) <= spec.max_batch_requests
    if batch.admitted:
        assert not unfinished_before, "static formed a new batch before the last one ended"
        assert batch.reqs == batch.admitted == policy.running
        assert batch.new_tokens == [r.input_tokens for r in batch.admitted], "a static batch prefills whole prompts"
    elif policy.running:
        assert batch.reqs == policy.running and batch.new_tokens == [1] * len(policy.running)
    for r in policy.running:
        assert r.kv_blocks >= blocks_for(r.tokens_to_compute, policy.kv.block_tokens), "whole sequence not reserved"


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("capacity", [8_000, 60_000])
def test_policy_conformance(name: str, capacity: int) -> None:
    spec = SPECS[name]
    kv = KVCache(capacity, spec.block_tokens, spec.prefix_caching, spec.prefix_block_tokens)
    policy = build_policy(spec, kv)
    requests = workload(seed=capacity, capacity=capacity)
    dropped, finished, admitted_order = [], [], []
    reasons: dict[int, str] = {}
    prefix_hits = 0
    pending = list(requests)
    budget = getattr(spec, "max_batch_tokens", None)  # static has none: check_static_batch checks its limits
    for step in range(200_000):
        for _ in range(3):  # a few arrivals per iteration while they last
            if pending:
                r = pending.pop(0)
                reason = policy.add(r)
                if reason is not None:
                    dropped.append(r)
                    reasons[r.id] = reason
                elif r.cached_tokens > 0:
                    prefix_hits += 1
                    assert r.computed_tokens == r.cached_tokens < r.input_tokens
        if not policy.has_work and not pending:
            break
        unfinished_before = isinstance(policy, StaticPolicy) and any(r.remaining_tokens > 0 for r in policy.running)
        batch = policy.schedule()
        kv.check()
        assert len(policy.running) <= spec.max_batch_requests
        if getattr(spec, "admission", "") == "full_sequence":
            assert not batch.preempted, "full_sequence admission never preempts"
        if budget is not None:
            assert sum(batch.new_tokens) <= budget
        if isinstance(policy, StaticPolicy):
            check_static_batch(policy, batch, unfinished_before)
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
    # the dropped ones are exactly the unservable ones, each with its reason, and none was admitted
    assert dropped, "the workload must exercise the dropped accounting"
    assert {r.id for r in dropped} == {r.id for r in requests if unservable(r, capacity)}
    unchunked = isinstance(spec, ContinuousScheduler) and not isinstance(spec, ChunkedPrefillScheduler)
    for r in dropped:  # (a whole prompt over the token budget is found before its KV)
        expected = ("empty prompt" if r.input_tokens == 0 else
                    "exceeds max_batch_tokens" if unchunked else "KV blocks, the replica has")
        assert expected in reasons[r.id], reasons[r.id]
    assert not {r.id for r in dropped} & {r.id for r in admitted_order}
    if spec.prefix_caching:
        assert prefix_hits > 0, "the prefix cache was never hit"
    preemptions = sum(r.preemptions for r in requests)
    if name in NO_PREEMPTION:
        assert preemptions == 0
    elif capacity == 8_000:
        assert preemptions > 0, "the small KV cache must force preemptions"
    if name in FCFS:
        ids = [r.id for r in admitted_order]
        assert ids == sorted(ids), "first admissions must follow arrival order"
    if name in FCFS_PER_PRIORITY:
        for level in {r.priority for r in admitted_order}:
            ids = [r.id for r in admitted_order if r.priority == level]
            assert ids == sorted(ids), f"first admissions within priority {level} must follow arrival order"
    if isinstance(policy, StaticPolicy):
        assert not policy.running
