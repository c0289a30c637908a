"""Routers: pure policies that pick a replica for each arriving request from read-only replica views.

Every router answers ``choose(request_class) -> replica position`` over the fleet's replica list; it
never sees the simulation, only :class:`sim.replica.ReplicaView` objects and its own random stream.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import Field

from sim.replica import ReplicaView
from workloads.spec import Spec

RANDOM_BATCH = 4096


class Router(ABC):
    """Chooses the position (in the fleet's replica list) of the replica that takes a request."""

    def __init__(self, replicas: Sequence[ReplicaView], rng: np.random.Generator) -> None:
        if not replicas:
            raise ValueError("a router needs at least one replica")
        self.replicas = list(replicas)
        self.everyone = tuple(range(len(self.replicas)))
        self._rng = rng
        self._uniforms: list[float] = []

    def _uniform(self) -> float:
        if not self._uniforms:
            self._uniforms = self._rng.random(RANDOM_BATCH).tolist()
        return self._uniforms.pop()

    def _pick(self, n: int) -> int:
        i = int(self._uniform() * n)
        return i if i < n else n - 1  # (a uniform draw just below 1 can round up to n)

    @abstractmethod
    def choose_among(self, candidates: Sequence[int]) -> int:
        """Pick one of ``candidates`` (positions in ``self.replicas``)."""

    def choose(self, request_class: int) -> int:
        return self.choose_among(self.everyone)


class RoundRobinRouter(Router):
    """Each candidate set in turn: one counter per candidate tuple, so a plain router cycles over the whole fleet
    for every class together, and under class affinity each rule's pool keeps its own turn."""

    def __init__(self, replicas: Sequence[ReplicaView], rng: np.random.Generator) -> None:
        super().__init__(replicas, rng)
        self._turn: dict[int, int] = {}

    def choose_among(self, candidates: Sequence[int]) -> int:
        key = id(candidates)  # candidate tuples are built once and kept, so their identity is stable
        turn = self._turn.get(key, 0)
        self._turn[key] = turn + 1
        return candidates[turn % len(candidates)]


class RandomRouter(Router):
    def choose_among(self, candidates: Sequence[int]) -> int:
        return candidates[self._pick(len(candidates))]


class ShortestQueueRouter(Router):
    """Fewest waiting requests (ties: the first in fleet order)."""

    def choose_among(self, candidates: Sequence[int]) -> int:
        replicas = self.replicas
        return min(candidates, key=lambda i: replicas[i].queued)


class LeastOutstandingRouter(Router):
    """Fewest requests waiting or in service (ties: the first in fleet order)."""

    def choose_among(self, candidates: Sequence[int]) -> int:
        replicas = self.replicas
        return min(candidates, key=lambda i: replicas[i].outstanding)


class PowerOfTwoRouter(Router):
    """Two distinct replicas drawn at random; the one with fewer outstanding requests wins (a tie: the first drawn)."""

    def choose_among(self, candidates: Sequence[int]) -> int:
        n = len(candidates)
        if n == 1:
            return candidates[0]
        a = self._pick(n)
        b = self._pick(n - 1)
        if b >= a:
            b += 1
        ra, rb = candidates[a], candidates[b]
        return ra if self.replicas[ra].outstanding <= self.replicas[rb].outstanding else rb


class ClassAffinityRouter(Router):
    """Classes named in ``rules`` go to their pool; the ``fallback`` policy picks the replica within it
    (and among all replicas for classes without a rule)."""

    def __init__(
        self,
        replicas: Sequence[ReplicaView],
        rng: np.random.Generator,
        candidates_by_class: list[tuple[int, ...]],
        fallback: Router,
    ) -> None:
        super().__init__(replicas, rng)
        self._candidates = candidates_by_class
        self._fallback = fallback

    def choose_among(self, candidates: Sequence[int]) -> int:
        return self._fallback.choose_among(candidates)

    def choose(self, request_class: int) -> int:
        return self._fallback.choose_among(self._candidates[request_class])


SimplePolicy = Literal["round_robin", "random", "shortest_queue", "least_outstanding", "power_of_two"]
_SIMPLE: dict[str, type[Router]] = {
    "round_robin": RoundRobinRouter,
    "random": RandomRouter,
    "shortest_queue": ShortestQueueRouter,
    "least_outstanding": LeastOutstandingRouter,
    "power_of_two": PowerOfTwoRouter,
}


class SimpleRouterSpec(Spec):
    type: SimplePolicy

    def build(
        self, replicas: Sequence[ReplicaView], pool_names: list[str], class_names: list[str], rng: np.random.Generator
    ) -> Router:
        return _SIMPLE[self.type](replicas, rng)


class ClassAffinitySpec(Spec):
    type: Literal["class_affinity"]
    rules: dict[str, str] = Field(description="class name -> pool name")
    fallback: SimplePolicy = "least_outstanding"

    def build(
        self, replicas: Sequence[ReplicaView], pool_names: list[str], class_names: list[str], rng: np.random.Generator
    ) -> Router:
        for cls, pool in self.rules.items():
            if cls not in class_names:
                raise ValueError(f"router.rules: unknown class {cls!r}; classes are {class_names}")
            if pool not in pool_names:
                raise ValueError(f"router.rules.{cls}: unknown pool {pool!r}; pools are {pool_names}")
        fallback = _SIMPLE[self.fallback](replicas, rng)
        everyone = fallback.everyone
        candidates = []
        for cls in class_names:
            pool = self.rules.get(cls)
            if pool is None:
                candidates.append(everyone)
            else:
                index = pool_names.index(pool)
                candidates.append(tuple(i for i, r in enumerate(replicas) if r.pool == index))
        return ClassAffinityRouter(replicas, rng, candidates, fallback)


RouterSpec = Annotated[Union[SimpleRouterSpec, ClassAffinitySpec], Field(discriminator="type")]
