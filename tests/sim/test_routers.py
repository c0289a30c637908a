"""Routers as pure policies over read-only replica views (no event loop)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from sim.routers import ClassAffinitySpec, SimpleRouterSpec


class FakeView:
    def __init__(self, pool: int, index: int, queued: int = 0, outstanding: int = 0) -> None:
        self.pool, self.index, self.queued, self.outstanding = pool, index, queued, outstanding


def build(kind: str, views: list[FakeView], seed: int = 0):
    return SimpleRouterSpec(type=kind).build(views, ["p0", "p1"], ["c"], np.random.default_rng(seed))


def test_round_robin_cycles() -> None:
    router = build("round_robin", [FakeView(0, i) for i in range(3)])
    assert [router.choose(0) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]


def test_shortest_queue_and_least_outstanding() -> None:
    views = [FakeView(0, 0, queued=3, outstanding=4), FakeView(0, 1, queued=1, outstanding=9), FakeView(0, 2, 2, 2)]
    assert build("shortest_queue", views).choose(0) == 1
    assert build("least_outstanding", views).choose(0) == 2


def sequence(kind: str, views: list[FakeView], seed: int, n: int = 1000) -> list[int]:
    router = build(kind, views, seed=seed)
    return [router.choose(0) for _ in range(n)]


def test_random_is_uniform_and_seeded() -> None:
    views = [FakeView(0, i) for i in range(4)]
    router = build("random", views, seed=3)
    counts = Counter(router.choose(0) for _ in range(40_000))
    for i in range(4):  # binomial(40000, 1/4): sd ~ 87
        assert abs(counts[i] - 10_000) < 5 * 87
    # seeded: 1,000 draws repeat exactly for the same seed (an unseeded router matches with chance 4^-1000)
    # and differ for another seed
    picks = sequence("random", views, seed=3)
    assert picks == sequence("random", views, seed=3)
    assert picks != sequence("random", views, seed=4)
    assert set(picks) == {0, 1, 2, 3}


def test_power_of_two_is_seeded() -> None:
    views = [FakeView(0, i, outstanding=1) for i in range(4)]  # all tied: the draw decides every choice
    picks = sequence("power_of_two", views, seed=3)
    assert picks == sequence("power_of_two", views, seed=3)
    assert picks != sequence("power_of_two", views, seed=4)


def test_power_of_two_never_picks_the_worse_of_its_pair() -> None:
    views = [FakeView(0, i, outstanding=i) for i in range(5)]
    router = build("power_of_two", views, seed=1)
    counts = Counter(router.choose(0) for _ in range(20_000))
    assert counts[4] == 0  # the most loaded replica always loses its comparison
    # P(min of two distinct of five is i) = (4 - i) / 10
    for i in range(4):
        assert abs(counts[i] / 20_000 - (4 - i) / 10) < 0.02


def test_class_affinity_confines_a_class_to_its_pool() -> None:
    views = [FakeView(0, 0, outstanding=5), FakeView(1, 0, outstanding=9), FakeView(1, 1, outstanding=7)]
    spec = ClassAffinitySpec(type="class_affinity", rules={"chat": "p1"}, fallback="least_outstanding")
    router = spec.build(views, ["p0", "p1"], ["chat", "batch"], np.random.default_rng(0))
    assert router.choose(0) == 2  # chat: least outstanding within pool p1
    assert router.choose(1) == 0  # batch: no rule, least outstanding overall


def test_class_affinity_rejects_unknown_names() -> None:
    spec = ClassAffinitySpec(type="class_affinity", rules={"chat": "gpu"})
    with pytest.raises(ValueError, match="unknown pool 'gpu'"):
        spec.build([FakeView(0, 0)], ["p0"], ["chat"], np.random.default_rng(0))
