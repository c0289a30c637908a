"""Scheduling policies without the event loop: schedule() / update() with fabricated outcomes."""

from __future__ import annotations

import pytest

from sim.kv_cache import KVCache
from sim.request import Request
from sim.schedulers import (ChunkedPrefillScheduler, ContinuousPolicy, ContinuousScheduler, StaticPolicy,
                            StaticScheduler)


def req(i: int, inp: int, out: int, priority: int = 0) -> Request:
    return Request(i, 0, priority, inp, out, float(i))


def continuous(capacity: int = 10_000, **kw) -> ContinuousPolicy:
    spec = ContinuousScheduler(type="continuous", kv_watermark=0.0, **kw)
    return ContinuousPolicy(spec, KVCache(capacity, block_tokens=16))


def chunked(capacity: int = 10_000, **kw) -> ContinuousPolicy:
    spec = ChunkedPrefillScheduler(type="chunked_prefill", kv_watermark=0.0, **kw)
    return ContinuousPolicy(spec, KVCache(capacity, block_tokens=16))


def test_prefill_then_decode_token_accounting() -> None:
    p = continuous()
    r = req(0, 100, 3)
    assert p.add(r) is None
    b = p.schedule()
    assert b.reqs == [r] and b.new_tokens == [100] and b.admitted == [r]
    first, done = p.update(b)
    assert first == [r] and done == [] and r.computed_tokens == 100 and r.decoding
    b = p.schedule()
    assert b.new_tokens == [1] and b.decode_only
    p.update(b)
    first, done = p.update(p.schedule())
    assert done == [r] and r.computed_tokens == r.tokens_to_compute == 102
    assert not p.has_work and p.kv.used_blocks == 0


def test_running_first_then_waiting_under_budget_and_request_limit() -> None:
    p = continuous(max_batch_tokens=250, max_batch_requests=3)
    rs = [req(i, 100, 10) for i in range(5)]
    for r in rs:
        p.add(r)
    b = p.schedule()
    assert b.reqs == rs[:2] and sum(b.new_tokens) == 200  # a third 100-token prompt exceeds 250
    p.update(b)
    b = p.schedule()
    assert b.reqs == rs[:3] and b.new_tokens == [1, 1, 100]  # decodes first, then one more prompt
    p.update(b)
    b = p.schedule()
    assert len(b.reqs) == 3 and p.num_waiting == 2  # max_batch_requests holds the rest back


def test_chunked_prefill_splits_prompts() -> None:
    p = chunked(max_batch_tokens=300, chunk_tokens=128)
    a, b_ = req(0, 1000, 5), req(1, 50, 5)
    p.add(a)
    p.add(b_)
    b = p.schedule()
    assert b.new_tokens == [128, 50]
    p.update(b)
    assert a.computed_tokens == 128 and not a.decoding
    b = p.schedule()
    assert b.new_tokens == [128, 1]
    p.update(b)
    for _ in range(6):
        p.update(p.schedule())
    assert a.computed_tokens == 8 * 128 - 1024 + 1000 and a.decoding  # the last chunk is the 104 left


def test_prompt_over_budget_is_dropped_without_chunking() -> None:
    p = continuous(max_batch_tokens=512)
    assert "exceeds max_batch_tokens 512" in p.add(req(0, 600, 1))
    assert p.num_waiting == 0


def test_request_larger_than_kv_is_dropped() -> None:
    p = continuous(capacity=1600)
    assert p.add(req(0, 1000, 700)) == "needs 107 KV blocks, the replica has 100"


def test_recompute_preemption_frees_kv_and_requeues_first() -> None:
    p = continuous(capacity=16 * 20)  # 20 blocks; each request needs 17 at its end
    a, b_ = req(0, 64, 200), req(1, 64, 200)  # 4 blocks each to start
    assert p.add(a) is None and p.add(b_) is None
    p.update(p.schedule())
    preempted = []
    for _ in range(150):
        batch = p.schedule()
        preempted += batch.preempted
        p.kv.check()
        p.update(batch)
    assert preempted and preempted[0] is b_  # the most recently admitted goes first
    assert b_.preemptions >= 1 and b_.prefill_tokens > 64  # it recomputes prompt + generated tokens
    assert next(iter(p.waiting_requests())) is b_ or b_ in p.running


def test_swap_preemption_keeps_computed_tokens() -> None:
    p = continuous(capacity=16 * 20, preemption="swap")
    a, b_ = req(0, 64, 200), req(1, 64, 200)
    assert p.add(a) is None and p.add(b_) is None
    p.update(p.schedule())
    for _ in range(150):
        batch = p.schedule()
        if batch.preempted:
            assert b_.computed_tokens > 64 and b_.decoding
            break
        p.update(batch)
    else:
        pytest.fail("no preemption happened")


def test_full_sequence_admission_reserves_whole_sequences_and_never_preempts() -> None:
    # 20 blocks; each request needs 17 blocks at its end (64 + 200 - 1 tokens): on_demand admits both and
    # preempts (test above); full_sequence admits the second only when the first has finished.
    p = continuous(capacity=16 * 20, admission="full_sequence")
    a, b_ = req(0, 64, 200), req(1, 64, 200)
    assert p.add(a) is None and p.add(b_) is None
    batch = p.schedule()
    assert batch.admitted == [a] and p.promised_blocks == 17
    p.update(batch)
    finished = []
    for _ in range(400):
        batch = p.schedule()
        assert not batch.preempted
        p.kv.check()
        if b_ in batch.admitted:
            assert a in finished and p.promised_blocks == 17  # admitted only after ``a`` gave its blocks back
        finished += p.update(batch)[1]
        if not p.has_work:
            break
    assert finished == [a, b_] and p.promised_blocks == 0 and p.kv.used_blocks == 0
    assert a.preemptions == b_.preemptions == 0


def test_full_sequence_admission_fills_the_cache_with_whole_sequences() -> None:
    spec = ContinuousScheduler(type="continuous", admission="full_sequence", kv_watermark=0.2)  # (not used)
    p = ContinuousPolicy(spec, KVCache(16 * 100, block_tokens=16))
    reqs = [req(i, 100, 60) for i in range(20)]  # 159 tokens = 10 blocks each: exactly 10 fit
    for r in reqs:
        assert p.add(r) is None
    batch = p.schedule()
    assert batch.admitted == reqs[:10] and p.promised_blocks == 100
    assert p.kv.used_blocks == 70  # 100 prompt tokens = 7 blocks held now, the rest promised


def test_prefill_first_runs_admissions_alone_and_decoders_wait() -> None:
    p = continuous(prefill_first=True)
    a, b_ = req(0, 100, 50), req(1, 300, 50)
    p.add(a)
    p.update(p.schedule())  # a's prefill
    p.update(p.schedule())  # a decodes one token
    assert a.computed_tokens == 101
    p.add(b_)
    batch = p.schedule()
    assert batch.reqs == [b_] and batch.new_tokens == [300] and batch.admitted == [b_]
    p.update(batch)
    assert a.computed_tokens == 101  # a's decode waited for b's prefill
    batch = p.schedule()
    assert batch.decode_only and batch.reqs == [a, b_]
    # without prefill_first the prefill joins a's decode in one iteration
    q = continuous()
    a, b_ = req(0, 100, 50), req(1, 300, 50)
    q.add(a)
    q.update(q.schedule())
    q.add(b_)
    assert q.schedule().new_tokens == [1, 300]


def test_prefill_first_is_refused_with_chunked_prefill() -> None:
    with pytest.raises(ValueError, match="prefill_first: chunked prefill mixes"):
        ChunkedPrefillScheduler(type="chunked_prefill", prefill_first=True)


def test_priority_admits_lower_priority_value_first() -> None:
    p = continuous(priority=True, max_batch_requests=1)
    low, high = req(0, 10, 2, priority=1), req(1, 10, 2, priority=0)
    p.add(low)
    p.add(high)
    assert p.schedule().admitted == [high]


def test_decode_steps_stop_at_completion_and_kv_limit() -> None:
    p = continuous(capacity=16 * 6)
    for i in range(2):
        assert p.add(req(i, 15, 50)) is None  # 64 tokens = 4 blocks each at the end; 6 blocks in all
    p.update(p.schedule())  # computed 15 each, 1 block each
    b = p.schedule()  # decode: 16 tokens still in 1 block each
    assert p.decode_steps(b, 1000) == 33  # 2 x ceil((15 + k) / 16) <= 6  <=>  k <= 33
    q = continuous()
    s = req(0, 10, 5)
    q.add(s)
    q.update(q.schedule())
    assert q.decode_steps(q.schedule(), 1000) == 4


def test_static_batch_waits_for_whole_batch_to_finish() -> None:
    p = StaticPolicy(StaticScheduler(type="static", max_batch_requests=2), KVCache(10_000))
    a, b_, c = req(0, 10, 3), req(1, 20, 6), req(2, 5, 2)
    for r in (a, b_, c):
        p.add(r)
    assert p.ready
    batch = p.schedule()
    assert batch.admitted == [a, b_] and batch.new_tokens == [10, 20]
    first, _ = p.update(batch)
    assert first == [a, b_]
    assert p.decode_steps(p.schedule(), 100) == 2  # a needs two more tokens
    _, done = p.update(p.schedule(), 2)
    assert done == [a]
    batch = p.schedule()
    assert batch.reqs == [a, b_]  # a stays as padding; c still waits
    _, done = p.update(batch, p.decode_steps(batch, 100))
    assert done == [b_] and not p.running
    assert p.schedule().admitted == [c]


@pytest.mark.parametrize("make", [lambda: continuous(), lambda: StaticPolicy(StaticScheduler(type="static"),
                                                                              KVCache(10_000))])
def test_empty_prompt_dropped_and_zero_output_is_prefill_only(make) -> None:
    p = make()
    assert p.add(req(0, 0, 5)) == "empty prompt (0 input tokens)"
    r = req(1, 50, 0)  # a scoring request: the prompt's forward pass and nothing more
    assert p.add(r) is None and r.tokens_to_compute == 50
    first, done = p.update(p.schedule())
    assert first == [r] and done == [r]


def test_a_preempted_decoder_leaves_the_batch_and_its_decode_count() -> None:
    p = continuous(capacity=16 * 20, priority=True)  # 20 blocks
    low, high = req(0, 64, 200, priority=1), req(1, 72, 200, priority=0)  # 17 and 18 blocks at the end
    assert p.add(low) is None
    p.update(p.schedule())
    assert p.add(high) is None  # admitted later, behind ``low`` in the running list; ``low`` takes the last
    # free block first, so ``high`` then preempts it (the lower priority) after it joined the batch
    for _ in range(200):
        batch = p.schedule()
        if low in batch.preempted:
            break
        p.update(batch)
    else:
        pytest.fail("the low-priority request was never preempted")
    entries = batch.entries()
    assert low not in batch.listed and [r for r, _ in entries] == [high]
    assert batch.decoders == sum(1 for r, new in entries if new == 1 and r.decoding) == 1
