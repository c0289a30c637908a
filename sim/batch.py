"""One forward iteration of a replica as a scheduling policy forms it (``sim.schedulers``): which requests take
part and how many new tokens each, the aggregates the performance model prices, and what the policy did."""

from __future__ import annotations

from sim.decode_cohort import DecodeCohort
from sim.request import Request


class Batch:
    """One forward iteration: which requests, how many new tokens each, and what the policy did.

    The replica's decode cohort (``sim.decode_cohort``) takes part as a whole, one token per member, when
    ``cohort`` is set; the other requests are listed one by one in ``listed`` and ``listed_new``.
    """

    __slots__ = ("listed", "listed_new", "cohort", "admitted", "preempted", "swapped_in_tokens", "size",
                 "new_tokens_total", "kv_read_tokens", "attention_pairs", "decoding", "decoders")

    def __init__(self) -> None:
        self.listed: list[Request] = []
        self.listed_new: list[int] = []
        self.cohort: DecodeCohort | None = None
        self.admitted: list[Request] = []
        self.preempted: list[Request] = []
        #: KV tokens restored from host memory this iteration (swap preemption)
        self.swapped_in_tokens = 0
        #: aggregates for the performance model (BatchWork fields): requests, new tokens, KV read, pairs
        self.size = 0
        self.new_tokens_total = 0
        self.kv_read_tokens = 0
        self.attention_pairs = 0.0
        #: every request decodes one token (no prefill, no admission): the iteration may repeat unchanged
        self.decoding = True
        #: requests in the batch that decode (each receives one output token after a decode step)
        self.decoders = 0

    @property
    def decode_only(self) -> bool:
        return self.decoding and not self.admitted

    def add(self, req: Request, new: int) -> None:
        self.listed.append(req)
        self.listed_new.append(new)
        ctx = req.computed_tokens
        if new != 1 or ctx < req.prefill_tokens:
            self.decoding = False
        else:
            self.decoders += 1
        self.size += 1
        self.new_tokens_total += new
        self.kv_read_tokens += ctx + new
        self.attention_pairs += new * (ctx + (new + 1) / 2)

    def add_cohort(self, cohort: DecodeCohort) -> None:
        """Every member of ``cohort`` decodes one token (one query attends its context and itself)."""
        n = cohort.size
        kv_read = cohort.kv_read_tokens()
        self.cohort = cohort
        self.size += n
        self.decoders += n
        self.new_tokens_total += n
        self.kv_read_tokens += kv_read
        self.attention_pairs += kv_read

    def entries(self) -> list[tuple[Request, int]]:
        """(request, new tokens) in running order; read before the policy's ``update`` moves the cohort."""
        pairs = list(zip(self.listed, self.listed_new))
        if self.cohort is not None:
            pairs += [(req, 1) for req in self.cohort.members()]
        return sorted(pairs, key=lambda pair: pair[0].run_seq)

    @property
    def reqs(self) -> list[Request]:
        return [req for req, _ in self.entries()]

    @property
    def new_tokens(self) -> list[int]:
        return [new for _, new in self.entries()]

    def __len__(self) -> int:
        return self.size
