"""Conformance: every router the registry in ``sim.routers`` knows picks among its candidates, resolves ties as
it documents, is reproducible from its seed (and, if it draws at random, changes with the seed), keeps its
round-robin turns per candidate set, and (class affinity) keeps each class on its rule's pool.

The parametrisation is written out by hand and checked against the registry, so a router added to the
registry without being listed here fails ``test_every_registered_router_is_covered``.
"""

from __future__ import annotations

import typing
from collections import Counter

import numpy as np
import pytest

from sim import routers
from sim.routers import ClassAffinitySpec, RouterSpec, SimplePolicy, SimpleRouterSpec

SIMPLE = ["round_robin", "random", "shortest_queue", "least_outstanding", "power_of_two"]
ROUTER_TYPES = SIMPLE + ["class_affinity"]
#: (router type, fallback policy): class affinity is checked with every fallback it accepts
CASES = [(kind, None) for kind in SIMPLE] + [("class_affinity", fallback) for fallback in SIMPLE]
CASE_IDS = [kind if fallback is None else f"{kind}-{fallback}" for kind, fallback in CASES]
#: policies whose choice depends on their random stream
RANDOM_POLICIES = {"random", "power_of_two"}

POOLS = ["p0", "p1", "p2"]
#: replica position -> pool; the index within the pool differs from the pool number on purpose
LAYOUT = [0, 0, 1, 1, 1, 2, 2]
P1 = (2, 3, 4)  # positions of pool p1's replicas
P2 = (5, 6)
EVERYONE = tuple(range(len(LAYOUT)))
#: class names in workload order; class_affinity rules send "a" to p1 and "b" to p2, "c" has no rule
CLASSES = ["c", "a", "b"]
RULES = {"a": "p1", "b": "p2"}
ALLOWED = {0: EVERYONE, 1: P1, 2: P2}


class FakeView:
    def __init__(self, pool: int, index: int, queued: int = 0, outstanding: int = 0) -> None:
        self.pool, self.index, self.queued, self.outstanding = pool, index, queued, outstanding


def views(outstanding: list[int] | None = None, queued: list[int] | None = None) -> list[FakeView]:
    out: list[FakeView] = []
    seen: Counter[int] = Counter()
    for pos, pool in enumerate(LAYOUT):
        out.append(FakeView(pool, seen[pool], queued[pos] if queued else 0, outstanding[pos] if outstanding else 0))
        seen[pool] += 1
    return out


def make(kind: str, fallback: str | None, replicas: list[FakeView], seed: int = 0) -> routers.Router:
    rng = np.random.default_rng(seed)
    if kind == "class_affinity":
        spec = ClassAffinitySpec(type="class_affinity", rules=RULES, fallback=fallback)
        return spec.build(replicas, POOLS, CLASSES, rng)
    return SimpleRouterSpec(type=kind).build(replicas, POOLS, CLASSES, rng)


def policy_of(kind: str, fallback: str | None) -> str:
    return fallback if kind == "class_affinity" else kind


def registry_types() -> set[str]:
    """Every ``type`` the router spec union accepts (the registry the scenario schema reads)."""
    union = typing.get_args(RouterSpec)[0]
    names: set[str] = set()
    for spec in typing.get_args(union):
        names.update(typing.get_args(spec.model_fields["type"].annotation))
    return names


def test_every_registered_router_is_covered() -> None:
    assert set(ROUTER_TYPES) == registry_types()
    assert len(ROUTER_TYPES) == len(set(ROUTER_TYPES))
    # the simple routers' table and their Literal agree, and class affinity is checked with each fallback
    assert set(routers._SIMPLE) == set(typing.get_args(SimplePolicy)) == set(SIMPLE)
    assert {fallback for kind, fallback in CASES if kind == "class_affinity"} == set(SIMPLE)
    assert typing.get_args(ClassAffinitySpec.model_fields["fallback"].annotation) == typing.get_args(SimplePolicy)


def drive(router: routers.Router, replicas: list[FakeView], n: int = 1000, cls_cycle: int = 3) -> list[int]:
    """``n`` choices, the load moving with them: the chosen replica gains a request (and a queued one every other
    time), and one replica in turn loses two; the same choices always give the same loads."""
    picks = []
    for step in range(n):
        cls = step % cls_cycle
        pick = router.choose(cls)
        picks.append(pick)
        replicas[pick].outstanding += 1
        replicas[pick].queued = (replicas[pick].queued + 1) % 3
        other = replicas[step % len(replicas)]
        other.outstanding = max(0, other.outstanding - 2)
    return picks


@pytest.mark.parametrize("kind,fallback", CASES, ids=CASE_IDS)
def test_the_choice_is_always_among_the_candidates(kind: str, fallback: str | None) -> None:
    replicas = views()
    router = make(kind, fallback, replicas, seed=7)
    load = np.random.default_rng(99)
    subsets = [(0,), (2, 5, 6), (1, 3), (4, 6), EVERYONE, (3, 4, 5, 6)]
    for step in range(1000):
        for view in replicas:  # arbitrary loads, redrawn every step
            view.outstanding = int(load.integers(0, 4))
            view.queued = int(load.integers(0, view.outstanding + 1))
        candidates = subsets[step % len(subsets)]
        assert router.choose_among(candidates) in candidates
        cls = step % 3
        allowed = ALLOWED[cls] if kind == "class_affinity" else EVERYONE
        assert router.choose(cls) in allowed


def fill(values: dict[int, int], default: int) -> list[int]:
    return [values.get(i, default) for i in range(len(LAYOUT))]


@pytest.mark.parametrize("kind,fallback", CASES, ids=CASE_IDS)
def test_ties_resolve_as_documented(kind: str, fallback: str | None) -> None:
    policy = policy_of(kind, fallback)
    # class affinity: class "a" is confined to p1 = (2, 3, 4), the others see the whole fleet
    cls, pool = (1, P1) if kind == "class_affinity" else (0, EVERYONE)
    if policy == "least_outstanding":  # "ties: the first in fleet order"; queued does not matter
        router = make(kind, fallback, views([5] * 7, [0] * 7))
        assert router.choose(cls) == pool[0]
        router = make(kind, fallback, views(fill({pool[1]: 1, pool[2]: 1}, 4), fill({pool[1]: 3}, 0)))
        assert router.choose(cls) == pool[1]  # tied with pool[2] at 1; its longer queue does not count
        # among (2, 3, 4) the lowest outstanding is 1 on replica 3 (class affinity) or on replica 2 (plain)
        assert router.choose_among((2, 3, 4)) == (3 if kind == "class_affinity" else 2)
    elif policy == "shortest_queue":  # "ties: the first in fleet order"; outstanding does not matter
        router = make(kind, fallback, views([0] * 7, [2] * 7))
        assert router.choose(cls) == pool[0]
        router = make(kind, fallback, views(fill({pool[1]: 9, pool[2]: 0}, 0), fill({pool[1]: 1, pool[2]: 1}, 3)))
        assert router.choose(cls) == pool[1]
    elif policy == "power_of_two":
        # two *distinct* replicas are compared: with two candidates the less loaded one always wins
        router = make(kind, fallback, views(fill({3: 1, 4: 2}, 0)), seed=3)
        assert {router.choose_among((3, 4)) for _ in range(1000)} == {3}
        assert {router.choose_among((4, 3)) for _ in range(1000)} == {3}
        assert {router.choose_among((5,)) for _ in range(100)} == {5}
        # all tied: a uniformly random pair, either of which may win, so each candidate is equally likely
        router = make(kind, fallback, views([2] * 7), seed=4)
        counts = Counter(router.choose(cls) for _ in range(30_000))
        p = 1 / len(pool)
        sd = (30_000 * p * (1 - p)) ** 0.5
        assert set(counts) == set(pool)
        for i in pool:
            assert abs(counts[i] - 30_000 * p) < 5 * sd
    elif policy == "random":  # no load-based ties: uniform among the candidates, whatever their load
        router = make(kind, fallback, views(fill({1: 50}, 0)), seed=5)
        counts = Counter(router.choose_among((1, 4, 6)) for _ in range(30_000))
        sd = (30_000 * (1 / 3) * (2 / 3)) ** 0.5
        assert set(counts) == {1, 4, 6}
        for i in (1, 4, 6):
            assert abs(counts[i] - 10_000) < 5 * sd
    else:  # round robin ignores the load: tied or not, the turn moves on through the candidates in order
        assert policy == "round_robin"
        router = make(kind, fallback, views(fill({pool[0]: 100}, 0)))
        assert [router.choose(cls) for _ in range(2 * len(pool) + 1)] == [*pool, *pool, pool[0]]


@pytest.mark.parametrize("kind,fallback", CASES, ids=CASE_IDS)
def test_same_seed_same_sequence_and_a_new_seed_a_new_one_if_random(kind: str, fallback: str | None) -> None:
    def sequence(seed: int) -> list[int]:
        replicas = views()
        return drive(make(kind, fallback, replicas, seed=seed), replicas)

    first = sequence(11)
    assert len(first) == 1000
    assert sequence(11) == first
    if policy_of(kind, fallback) in RANDOM_POLICIES:
        assert sequence(12) != first
        assert sequence(2**40 + 11) != first
    else:  # deterministic policies do not read their random stream
        assert sequence(12) == first


def test_round_robin_of_a_plain_router_shares_one_turn_across_classes() -> None:
    """A plain router serves every class from the whole fleet with one counter: classes take turns from it."""
    router = make("round_robin", None, views())
    picks = [router.choose(cls) for cls in [0, 1, 2, 2, 1, 0, 0, 1, 2]]
    assert picks == [0, 1, 2, 3, 4, 5, 6, 0, 1]


def test_round_robin_keeps_one_turn_per_candidate_set() -> None:
    """``choose_among`` keeps a counter per candidate tuple (they are built once and kept)."""
    router = make("round_robin", None, views())
    odd, even = (1, 3, 5), (0, 2, 4, 6)
    picks = [router.choose_among(c) for c in (odd, even, odd, even, odd, odd, even)]
    assert picks == [1, 0, 3, 2, 5, 1, 4]
    assert router.choose(0) == 0  # the whole fleet's turn is a third counter, untouched so far


def test_class_affinity_round_robin_turns_per_rule_and_shared_by_classes_without_one() -> None:
    """Each class with a rule has its own turn within its pool; classes without a rule share the fleet's."""
    replicas = views()
    spec = ClassAffinitySpec(type="class_affinity", rules={"a": "p1", "b": "p1", "d": "p2"}, fallback="round_robin")
    router = spec.build(replicas, POOLS, ["c", "a", "b", "d", "e"], np.random.default_rng(0))
    order = [1, 2, 1, 0, 4, 3, 1, 2, 0, 4, 3, 1, 2]
    # a -> 2, 3, 4, 2 (own turn in p1); b -> 2, 3, 4 (p1, a turn of its own); d -> 5, 6 (p2);
    # c and e -> 0, 1, 2, 3 between them (one turn over the whole fleet)
    assert [router.choose(cls) for cls in order] == [2, 2, 3, 0, 1, 5, 4, 3, 2, 3, 6, 2, 4]


@pytest.mark.parametrize("fallback", SIMPLE)
def test_class_affinity_sends_ruled_classes_to_their_pool_and_the_rest_to_the_fallback(fallback: str) -> None:
    replicas = views()
    router = make("class_affinity", fallback, replicas, seed=1)
    picks = drive(router, replicas, n=3000)
    by_class: dict[int, set[int]] = {0: set(), 1: set(), 2: set()}
    for step, pick in enumerate(picks):
        by_class[step % 3].add(pick)
    assert by_class[1] <= set(P1) and by_class[2] <= set(P2)
    assert by_class[0] - set(P1) - set(P2), "class c has no rule: the fallback may send it anywhere"
    assert by_class[1] == set(P1) and by_class[2] == set(P2)  # the loads move, so every member is used


@pytest.mark.parametrize("fallback", ["least_outstanding", "shortest_queue"])
def test_class_affinity_fallback_picks_within_the_pool_or_the_fleet(fallback: str) -> None:
    load = {0: 6, 1: 1, 2: 5, 3: 4, 4: 3, 5: 2, 6: 7}  # replica 1 (pool p0) is the least loaded overall
    values = fill(load, 0)
    replicas = views(values, values)
    router = make("class_affinity", fallback, replicas)
    assert router.choose(0) == 1  # "c": no rule, the least loaded of the whole fleet
    assert router.choose(1) == 4  # "a": the least loaded of p1 = (2, 3, 4)
    assert router.choose(2) == 5  # "b": the least loaded of p2 = (5, 6)


def test_class_affinity_round_robin_fallback_for_an_unruled_class_covers_the_fleet_in_order() -> None:
    router = make("class_affinity", "round_robin", views())
    assert [router.choose(0) for _ in range(8)] == [0, 1, 2, 3, 4, 5, 6, 0]
    assert [router.choose(1) for _ in range(4)] == [2, 3, 4, 2]
    assert [router.choose(2) for _ in range(3)] == [5, 6, 5]
