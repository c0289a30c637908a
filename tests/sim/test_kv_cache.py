"""KV-cache block accounting and the LRU prefix cache, alone and as the continuous scheduler uses it.

Cache contents are observed through the public API only: ``cached_prefix_blocks((i,))`` is 1 when prefix
block ``i`` is cached. A probe marks the block recently used, so probes come last in each test.
"""

from __future__ import annotations

import random

import pytest

from sim.kv_cache import KVCache, blocks_for
from sim.request import Request
from sim.schedulers import ContinuousPolicy, ContinuousScheduler


def make_cache(total_blocks: int, prefix_block_tokens: int = 16, block_tokens: int = 16) -> KVCache:
    """A cache of ``total_blocks`` blocks with prefix caching on."""
    return KVCache(total_blocks * block_tokens, block_tokens=block_tokens, prefix_caching=True,
                   prefix_block_tokens=prefix_block_tokens)


def request(request_id: int, input_tokens: int = 16, output_tokens: int = 1,
            prefix_ids: tuple[int, ...] = ()) -> Request:
    r = Request(request_id, 0, 0, input_tokens, output_tokens, 0.0)
    r.prefix_ids = prefix_ids
    return r


def finish_with_prefix(kv: KVCache, request_id: int, *prefix_ids: int) -> None:
    """A request that held one block ends and leaves ``prefix_ids`` cached (in that order, last = newest)."""
    r = request(request_id)
    kv.grow(r, 1)
    kv.release(r, prefix_ids)


def cached(kv: KVCache, candidates: range | tuple[int, ...]) -> set[int]:
    """The candidate prefix blocks now cached (probing refreshes them: call last)."""
    return {i for i in candidates if kv.cached_prefix_blocks((i,)) == 1}


# ---- the cache alone ---------------------------------------------------------------------------------

def test_blocks_for_rounds_up() -> None:
    assert [blocks_for(t, 16) for t in (0, 1, 15, 16, 17, 32, 33)] == [0, 1, 1, 1, 2, 2, 3]


def test_released_prefix_is_cached_and_hits_count_leading_blocks_only() -> None:
    kv = make_cache(8)
    finish_with_prefix(kv, 0, 10, 11, 12)
    assert kv.used_blocks == 0
    assert kv.cached_prefix_blocks((10, 11, 12, 13)) == 3
    assert kv.cached_prefix_blocks((10, 99, 12)) == 1  # the run of hits stops at the first miss
    assert kv.cached_prefix_blocks((99, 10, 11)) == 0


def test_without_prefix_caching_nothing_is_kept() -> None:
    kv = KVCache(8 * 16, block_tokens=16, prefix_caching=False, prefix_block_tokens=16)
    finish_with_prefix(kv, 0, 10, 11)
    assert kv.cached_prefix_blocks((10, 11)) == 0


def test_eviction_drops_the_least_recently_used_entry() -> None:
    kv = make_cache(2)  # room for two one-block prefix entries
    finish_with_prefix(kv, 0, 1)
    finish_with_prefix(kv, 1, 2)
    finish_with_prefix(kv, 2, 3)  # a third entry: 1 is the oldest
    assert cached(kv, range(1, 4)) == {2, 3}


def test_a_hit_refreshes_the_entry() -> None:
    kv = make_cache(2)
    finish_with_prefix(kv, 0, 1)
    finish_with_prefix(kv, 1, 2)
    assert kv.cached_prefix_blocks((1,)) == 1  # 1 is now the most recently used; 2 the least
    finish_with_prefix(kv, 2, 3)
    assert cached(kv, range(1, 4)) == {1, 3}


def test_caching_a_prefix_again_refreshes_it() -> None:
    kv = make_cache(3)  # the one block a request holds leaves room for two entries until it ends
    finish_with_prefix(kv, 0, 1)
    finish_with_prefix(kv, 1, 2)
    finish_with_prefix(kv, 2, 1)  # another request with prefix 1 ends: 1 becomes the newest
    finish_with_prefix(kv, 3, 3, 4)  # four entries in three blocks: the least recent one goes
    assert cached(kv, range(1, 5)) == {1, 3, 4}


def test_a_full_cache_keeps_every_entry_that_fits() -> None:
    # prefix blocks of 32 tokens occupy 2 KV blocks of 16: 6 blocks hold exactly three entries
    kv = make_cache(6, prefix_block_tokens=32)
    assert kv.blocks_per_prefix_block == 2
    finish_with_prefix(kv, 0, 1, 2, 3)
    assert cached(kv, range(1, 4)) == {1, 2, 3}
    finish_with_prefix(kv, 1, 4)
    assert cached(kv, range(1, 5)) == {2, 3, 4}


def test_growing_a_request_evicts_least_recent_prefixes_for_its_blocks() -> None:
    kv = make_cache(4)
    finish_with_prefix(kv, 0, 1, 2, 3, 4)  # four one-block entries fill the four blocks
    r = request(9, input_tokens=40)
    kv.grow(r, 40)  # 3 blocks: only one entry still fits, the newest
    assert r.kv_blocks == 3 and kv.used_blocks == 3
    kv.check()
    assert cached(kv, range(1, 5)) == {4}


def test_decode_blocks_evict_least_recent_prefixes() -> None:
    kv = make_cache(4)
    r = request(9, input_tokens=16)
    kv.grow(r, 16)  # 1 block held, 3 free
    finish_with_prefix(kv, 0, 1, 2, 3)  # fills the 3 free blocks
    r.kv_blocks += 1  # the request took one more block in a decode run (as the cohort does)
    kv.add_blocks(1)
    assert kv.used_blocks == 2
    assert cached(kv, range(1, 4)) == {2, 3}


def test_prefixes_are_cached_only_in_blocks_no_request_holds() -> None:
    kv = make_cache(4)
    holder = request(9, input_tokens=48)
    kv.grow(holder, 48)  # 3 of 4 blocks held
    finish_with_prefix(kv, 0, 1, 2)  # only one entry fits in the last block: the newest
    assert kv.used_blocks == 3
    kv.check()
    assert cached(kv, range(1, 3)) == {2}


def test_grow_beyond_the_free_blocks_is_refused() -> None:
    kv = make_cache(4)
    holder = request(9, input_tokens=48)
    kv.grow(holder, 48)
    assert not kv.can_hold(request(1), 32)
    with pytest.raises(AssertionError):
        kv.grow(request(1, input_tokens=32), 32)


def test_random_traffic_never_caches_beyond_capacity() -> None:
    """Requests come and go with shared prefixes; at every step cached plus held blocks fit the cache."""
    rng = random.Random(3)
    kv = make_cache(12, prefix_block_tokens=32)  # 2 KV blocks per prefix entry
    running: list[Request] = []
    for i in range(2000):
        if running and (rng.random() < 0.5 or kv.free_blocks < 4):
            r = running.pop(rng.randrange(len(running)))
            kv.release(r, r.prefix_ids)
        else:
            r = request(i, input_tokens=rng.randint(1, 64), prefix_ids=tuple(rng.sample(range(8), 3)))
            kv.cached_prefix_blocks(r.prefix_ids)
            kv.grow(r, r.input_tokens)
            running.append(r)
        entries = len(cached(kv, range(8)))
        assert entries * kv.blocks_per_prefix_block <= kv.total_blocks - kv.used_blocks
        assert sum(x.kv_blocks for x in running) == kv.used_blocks <= kv.total_blocks
        kv.check()


# ---- the scheduler's use of the cache ----------------------------------------------------------------

PREFIX_TOKENS = 512


def policy(total_tokens: int = 64 * 1024) -> ContinuousPolicy:
    spec = ContinuousScheduler(type="continuous", kv_watermark=0.0, prefix_caching=True,
                               prefix_block_tokens=PREFIX_TOKENS)
    return ContinuousPolicy(spec, KVCache(total_tokens, block_tokens=16, prefix_caching=True,
                                          prefix_block_tokens=PREFIX_TOKENS))


def run_until_idle(p: ContinuousPolicy) -> None:
    while p.has_work:
        p.update(p.schedule())


def warm(p: ContinuousPolicy, *prefix_ids: int) -> None:
    """Serve a request whose prompt is exactly ``prefix_ids``; its blocks stay cached when it ends."""
    assert p.add(request(1000, input_tokens=PREFIX_TOKENS * len(prefix_ids), output_tokens=2,
                         prefix_ids=prefix_ids)) is None
    run_until_idle(p)


def test_a_finished_request_leaves_its_prefix_for_the_next_one() -> None:
    p = policy()
    warm(p, 7, 8)
    r = request(1, input_tokens=1500, output_tokens=4, prefix_ids=(7, 8, 9))
    assert p.add(r) is None
    assert r.cached_tokens == r.computed_tokens == 2 * PREFIX_TOKENS
    batch = p.schedule()
    assert batch.new_tokens == [1500 - 2 * PREFIX_TOKENS]  # the cached prefix is not recomputed


@pytest.mark.parametrize("input_tokens", [2 * PREFIX_TOKENS, 2 * PREFIX_TOKENS - 100])
def test_a_full_prefix_hit_leaves_one_prompt_token_to_compute(input_tokens: int) -> None:
    """The last prompt position yields the first output token, so it is always computed."""
    p = policy()
    warm(p, 7, 8)
    r = request(1, input_tokens=input_tokens, output_tokens=3, prefix_ids=(7, 8))
    assert p.add(r) is None
    assert r.cached_tokens == r.computed_tokens == input_tokens - 1
    batch = p.schedule()
    assert batch.new_tokens == [1] and not batch.decoding
    first, _ = p.update(batch)
    assert first == [r]  # that one token is the prefill that yields the first output token
    run_until_idle(p)
    assert r.computed_tokens == r.tokens_to_compute


def test_a_miss_on_the_first_prefix_block_caches_nothing() -> None:
    p = policy()
    warm(p, 7, 8)
    r = request(1, input_tokens=1500, output_tokens=2, prefix_ids=(6, 7, 8))
    p.add(r)
    assert r.cached_tokens == r.computed_tokens == 0


def test_peak_counts_the_most_blocks_held_at_once_not_cached_prefixes() -> None:
    cache = make_cache(10)
    a, b = request(1, prefix_ids=(7,)), request(2)
    cache.grow(a, 48)  # 3 blocks
    cache.grow(b, 16)  # 4 held
    cache.release(a, a.prefix_ids)  # 1 held; prefix 7 cached in an unused block
    b.kv_blocks += 2  # b's decode run took two more blocks (as the cohort does)
    cache.add_blocks(2)  # 3 held
    assert (cache.used_blocks, cache.peak_used_blocks) == (3, 4)
    cache.grow(request(3), 80)  # 8 held: above the old peak
    cache.release(b)
    assert (cache.used_blocks, cache.peak_used_blocks) == (5, 8)
