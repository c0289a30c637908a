"""Differential test: the production continuous-batching policy forms the same batches as the reference policy
(``reference_policy.py``, the straightforward implementation) on random workloads, under KV pressure,
preemption (recompute and swap), class priority, chunked prefill and runs of several decode steps.

Driven without the event loop: each round adds a few requests, schedules both policies, compares what they
scheduled, admitted and preempted, then applies the same outcome (one step, or a run of decode steps) to both.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.kv_cache import KVCache
from sim.request import Request
from sim.schedulers import ChunkedPrefillScheduler, ContinuousPolicy, ContinuousScheduler
from reference_policy import ReferencePolicy

CONFIGS = [
    # (scheduler type, kv capacity tokens, preemption, priority, longest prompt)
    ("continuous", 4_000, "recompute", False, 700),
    ("continuous", 2_500, "swap", False, 700),
    ("chunked_prefill", 3_000, "recompute", False, 700),
    ("chunked_prefill", 2_000, "swap", True, 700),
    ("chunked_prefill", 50_000, "recompute", False, 700),  # no KV pressure: every iteration formed together
    ("continuous", 6_000, "recompute", True, 700),
    ("chunked_prefill", 9_000, "recompute", False, 3_000),  # prompts longer than the token budget, unchunked
]


def _spec(kind: str, preemption: str, priority: bool, longest_prompt: int):  # noqa: ANN202
    common = {"max_batch_requests": 48, "max_batch_tokens": 1024, "preemption": preemption, "priority": priority,
              "block_tokens": 16}
    if kind == "chunked_prefill":
        chunk = 384 if longest_prompt <= 1024 else None
        return ChunkedPrefillScheduler(type="chunked_prefill", chunk_tokens=chunk, **common)
    return ContinuousScheduler(type="continuous", **common)


def _pair(i: int, rng: np.random.Generator, longest_prompt: int) -> tuple[Request, Request]:
    inp = int(rng.integers(1, longest_prompt))
    out = int(rng.integers(1, 300))
    prio = int(rng.integers(0, 3))
    return Request(i, 0, prio, inp, out, float(i)), Request(i, 0, prio, inp, out, float(i))


def _scheduled(batch) -> list[tuple[int, int]]:  # noqa: ANN001
    return sorted((req.id, new) for req, new in zip(batch.reqs, batch.new_tokens))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("kind", "capacity", "preemption", "priority", "longest_prompt"), CONFIGS)
def test_batches_match_reference(kind: str, capacity: int, preemption: str, priority: bool, longest_prompt: int,
                                 seed: int) -> None:
    rng = np.random.default_rng(seed)
    spec = _spec(kind, preemption, priority, longest_prompt)
    prod = ContinuousPolicy(spec, KVCache(capacity, spec.block_tokens))
    ref = ReferencePolicy(spec, KVCache(capacity, spec.block_tokens))
    next_id = 0
    finished = 0
    for round_ in range(400):
        for _ in range(int(rng.poisson(0.6))):
            a, b = _pair(next_id, rng, longest_prompt)
            next_id += 1
            assert prod.add(a) == ref.add(b)
        if not ref.has_work:
            assert not prod.has_work
            continue
        pb, rb = prod.schedule(), ref.schedule()
        where = f"round {round_}"
        assert _scheduled(pb) == _scheduled(rb), where
        assert sorted(r.id for r in pb.admitted) == sorted(r.id for r in rb.admitted), where
        assert [r.id for r in pb.preempted] == [r.id for r in rb.preempted], where
        assert pb.decode_only == rb.decode_only and pb.decoders == rb.decoders, where
        assert (pb.kv_read_tokens, pb.attention_pairs) == (rb.kv_read_tokens, rb.attention_pairs), where
        assert prod.kv.used_blocks == ref.kv.used_blocks, where
        steps = 1
        if rb.decode_only:
            limit = int(rng.integers(1, 60))
            # a run may be cut earlier than it must (the next schedule() repeats the batch), never later
            steps = prod.decode_steps(pb, limit)
            assert 1 <= steps <= ref.decode_steps(rb, limit), where
        p_first, p_done = prod.update(pb, steps)
        r_first, r_done = ref.update(rb, steps)
        assert sorted(r.id for r in p_first) == sorted(r.id for r in r_first), where
        assert sorted(r.id for r in p_done) == sorted(r.id for r in r_done), where
        assert prod.kv.used_blocks == ref.kv.used_blocks, where
        finished += len(r_done)
    assert finished > 5  # the workload exercised completions, not only admissions
