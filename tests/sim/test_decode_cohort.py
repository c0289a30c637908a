"""The decode cohort's counters agree with stepping every member by hand."""

from __future__ import annotations

import numpy as np
import pytest

from sim.decode_cohort import DecodeCohort
from sim.kv_cache import KVCache, blocks_for
from sim.request import Request
from sim.schedulers import ContinuousPolicy, ContinuousScheduler

BT = 16


def member(i: int, computed: int, stop: int) -> Request:
    r = Request(i, 0, 0, computed, stop - computed + 1, 0.0)
    r.computed_tokens = computed
    r.kv_blocks = blocks_for(computed, BT)
    r.run_seq = i
    return r


@pytest.mark.parametrize("seed", range(6))
def test_cohort_matches_members_stepped_one_by_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cohort = DecodeCohort(BT)
    tokens: dict[int, int] = {}  # reference: each member's computed tokens
    stops: dict[int, int] = {}
    next_id = 0
    for _ in range(300):
        for _ in range(int(rng.integers(0, 3))):  # members join between steps
            c = int(rng.integers(1, 200))
            r = member(next_id, c, c + int(rng.integers(1, 60)))
            cohort.join(r)
            tokens[r.id], stops[r.id] = c, r.stop_tokens
            next_id += 1
        if not cohort.size:
            continue
        assert cohort.kv_read_tokens() == sum(c + 1 for c in tokens.values())
        assert cohort.growers() == sum(c % BT == 0 for c in tokens.values())
        left = min(stops[i] - c for i, c in tokens.items())
        assert cohort.steps_to_stop() == left
        steps = int(rng.integers(1, left + 1))
        expect_extra = sum(blocks_for(c + steps, BT) - blocks_for(c + 1, BT) for c in tokens.values())
        assert cohort.extra_blocks(steps) == expect_extra
        cohort.reserve()
        extra, done = cohort.advance(steps)
        assert extra == expect_extra
        for i in tokens:
            tokens[i] += steps
        finished = sorted(i for i, c in tokens.items() if c >= stops[i])
        assert sorted(r.id for r in done) == finished
        for r in done:  # written back, out of the cohort
            assert r.cohort is None and r.computed_tokens == tokens[r.id]
            assert r.kv_blocks == blocks_for(r.computed_tokens, BT)
            del tokens[r.id], stops[r.id]
    members = cohort.dissolve()
    assert sorted(r.id for r in members) == sorted(tokens)
    assert all(r.computed_tokens == tokens[r.id] and r.kv_blocks == blocks_for(tokens[r.id], BT) for r in members)


def test_a_running_decoder_reads_its_current_tokens_and_may_not_be_set() -> None:
    spec = ContinuousScheduler(type="continuous", kv_watermark=0.0)
    policy = ContinuousPolicy(spec, KVCache(10_000, block_tokens=BT))
    r = Request(0, 0, 0, 40, 10, 0.0)
    policy.add(r)
    policy.update(policy.schedule())  # prefill
    for _ in range(3):
        policy.update(policy.schedule())
    assert r.cohort is policy.cohort and r.computed_tokens == 43 and r.kv_blocks == 3 and r.remaining_tokens == 6
    with pytest.raises(AssertionError):
        r.computed_tokens = 0
    with pytest.raises(AssertionError):
        r.kv_blocks = 0
    policy.kv.check()
