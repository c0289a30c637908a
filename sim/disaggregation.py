"""Disaggregated serving: prefill replicas hand each request's KV cache to a decode replica.

A prefill replica computes the prompt (its last position yields the first output token); the request's KV
cache then crosses the network to a decode replica, which generates the remaining tokens. Each prefill
replica sends through its own outgoing link: transfers queue first come, first served on it (so a burst of
long prompts contends for the link), each taking ``latency_s + bytes / bandwidth``. The decode replica is
chosen by the decode router when the cache arrives, so it sees the decode side's current load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import simpy

from sim.replica import CallbackTimeout
from sim.request import Request


@dataclass(frozen=True)
class LinkSpec:
    """A prefill replica's outgoing link for KV caches, and the bytes one token's KV occupies."""

    bandwidth_bytes_per_s: float
    latency_s: float
    kv_bytes_per_token: float

    def __post_init__(self) -> None:
        if not self.bandwidth_bytes_per_s > 0:
            raise ValueError(f"bandwidth_bytes_per_s must be > 0, got {self.bandwidth_bytes_per_s}")
        if self.latency_s < 0:
            raise ValueError(f"latency_s must be >= 0, got {self.latency_s}")


class KVLink:
    """FIFO transfers of KV caches out of one prefill replica."""

    def __init__(self, env: simpy.Environment, spec: LinkSpec, deliver: Callable[[Request], None]) -> None:
        self.env = env
        self.spec = spec
        self._deliver = deliver
        self._free_at = 0.0  # when the link finishes serialising the transfers already queued
        self.bytes_sent = 0.0

    def send(self, req: Request) -> None:
        """Queue ``req``'s KV cache (its prompt's tokens) for the decode side."""
        now = self.env.now
        nbytes = req.computed_tokens * self.spec.kv_bytes_per_token
        start = max(now, self._free_at)
        self._free_at = start + nbytes / self.spec.bandwidth_bytes_per_s
        arrive = self._free_at + self.spec.latency_s
        req.transfer_s = arrive - now
        self.bytes_sent += nbytes
        CallbackTimeout.at(self.env, arrive, req, lambda ev: self._deliver(ev._value))  # type: ignore[attr-defined]
