"""The in-flight state of one request. Immutable rows are written to ``sim.records`` when it ends."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.decode_cohort import DecodeCohort

NAN = math.nan


class Request:
    """A request travelling through the fleet; times are simulated seconds, NaN until reached."""

    __slots__ = (
        "id",
        "cls",
        "priority",
        "input_tokens",
        "output_tokens",
        "arrival_s",
        "start_s",
        "first_token_s",
        "finish_s",
        "pool",
        "replica",
        "preemptions",
        "client",
        # token-centric serving state (sim.serving): tokens whose KV is computed vs total to compute
        "_computed_tokens",
        "prefill_tokens",
        "cached_tokens",
        "prefix_ids",
        "_kv_blocks",
        "stop_tokens",
        "tokens_to_compute",
        "transfer_s",
        # a decoding request in a replica's decode cohort counts its tokens on the cohort's tick (sim.decode_cohort)
        "cohort",
        "cohort_base",
        "run_seq",
    )

    def __init__(
        self,
        request_id: int,
        cls: int,
        priority: int,
        input_tokens: int,
        output_tokens: int,
        arrival_s: float,
        client: int = -1,
    ) -> None:
        self.id = request_id
        self.cls = cls
        self.priority = priority
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.arrival_s = arrival_s
        self.start_s = NAN
        self.first_token_s = NAN
        self.finish_s = NAN
        self.pool = -1
        self.replica = -1
        self.preemptions = 0
        self.client = client
        self._computed_tokens = 0
        #: tokens to process as prefill: the prompt, or after a recompute preemption everything computed so far
        self.prefill_tokens = input_tokens
        #: prompt tokens found in the prefix cache (their prefill is skipped)
        self.cached_tokens = 0
        #: ids of the prompt's prefix blocks (equal ids = shared prefix), empty when unknown
        self.prefix_ids: tuple[int, ...] = ()
        #: KV-cache blocks the request holds on its replica (kept by sim.kv_cache)
        self._kv_blocks = 0
        #: the decode cohort the request belongs to (None: its counters are its own), and its tokens then are
        #: ``cohort_base + cohort.tick``
        self.cohort: DecodeCohort | None = None
        self.cohort_base = 0
        #: admission order on the current replica (the order of its running list)
        self.run_seq = -1
        #: forward-pass tokens of the whole request: the prompt (its last position yields the first output token)
        #: and one per further output token; a request for no output (scoring, embedding) is its prompt's
        #: forward pass. Fixed, so kept rather than recomputed (read on arrival and at the end)
        self.tokens_to_compute = input_tokens + max(output_tokens, 1) - 1
        #: computed tokens at which the current replica is done with the request: all of them, or the prompt
        #: only on a prefill replica of a disaggregated fleet
        self.stop_tokens = self.tokens_to_compute
        #: seconds from the end of prefill to the KV cache's arrival on a decode replica (disaggregation)
        self.transfer_s = NAN

    @property
    def computed_tokens(self) -> int:
        """Tokens whose KV is computed (prompt and generated ones)."""
        cohort = self.cohort
        return self._computed_tokens if cohort is None else self.cohort_base + cohort.tick

    @computed_tokens.setter
    def computed_tokens(self, tokens: int) -> None:
        if self.cohort is not None:
            raise AssertionError(f"request {self.id} is in a decode cohort: its tokens move with the cohort")
        self._computed_tokens = tokens

    @property
    def kv_blocks(self) -> int:
        """KV-cache blocks the request holds on its replica (kept by sim.kv_cache)."""
        cohort = self.cohort
        return self._kv_blocks if cohort is None else cohort.blocks_held(self.cohort_base)

    @kv_blocks.setter
    def kv_blocks(self, blocks: int) -> None:
        if self.cohort is not None:
            raise AssertionError(f"request {self.id} is in a decode cohort: its blocks grow with the cohort")
        self._kv_blocks = blocks

    @property
    def remaining_tokens(self) -> int:
        """Tokens the current replica still computes for the request."""
        return self.stop_tokens - self.computed_tokens

    @property
    def decoding(self) -> bool:
        return self.computed_tokens >= self.prefill_tokens

    def __repr__(self) -> str:
        return (
            f"Request(id={self.id}, cls={self.cls}, in={self.input_tokens}, out={self.output_tokens}, "
            f"arrival_s={self.arrival_s:.6g}, computed={self.computed_tokens})"
        )
