"""A workload: arrival processes, length distributions and request classes, streamed lazily.

``RequestSource`` turns a ``Workload`` and a seed into numpy chunks of requests (``RequestChunk``), cut at
a request count or a time. Each random component draws from its own ``SeedSequence`` child, so adding a
class or changing a length distribution does not perturb the arrival times.

Streams: the workload's ``arrival`` is split among the classes without their own arrival by their
shares; each class with its own ``arrival`` is a separate stream; all streams are merged by time.
Lengths: a trace row's (or ServeGen's) lengths win; otherwise the class's own lengths, else the
workload's ``lengths`` (trace pairs) or ``input_tokens``/``output_tokens``; without any, requests have
0 input and 1 output token (the abstract service model).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import Field, model_validator

from workloads.arrival_types import Arrival, OpenArrival, provides_lengths, stream
from workloads.arrivals import ClosedLoop
from workloads.batch import Batch
from workloads.classes import DEFAULT_CLASS, RequestClass
from workloads.distributions import TokenDistribution, sample_lengths
from workloads.errors import SkipLog
from workloads.lengths import TracePairs
from workloads.merge import merge_streams
from workloads.spec import Spec, require_unique

__all__ = ["Arrival", "OpenArrival", "RequestChunk", "RequestSource", "Workload"]

SHARE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class RequestChunk:
    """Consecutive requests in arrival order; every array has one entry per request.

    Prefix blocks (a trace's ``hash_ids``, ids of 512-token prompt blocks; equal ids = shared prefix) are
    a flat int64 array plus offsets (CSR): request ``i`` owns ``prefix_blocks[prefix_offsets[i]:
    prefix_offsets[i + 1]]``. Both are ``None`` when the source carries no prefixes.
    """

    arrival_s: np.ndarray  # float64, non-decreasing
    input_tokens: np.ndarray  # int64
    output_tokens: np.ndarray  # int64
    class_index: np.ndarray  # int64, index into Workload.classes
    prefix_offsets: np.ndarray | None = None  # int64, len(chunk) + 1 entries
    prefix_blocks: np.ndarray | None = None  # int64

    def __len__(self) -> int:
        return int(self.arrival_s.size)

    def head(self, n: int) -> "RequestChunk":
        offsets = blocks = None
        if self.prefix_offsets is not None and self.prefix_blocks is not None:
            offsets = self.prefix_offsets[: n + 1]
            blocks = self.prefix_blocks[: int(offsets[-1])]
        return RequestChunk(
            self.arrival_s[:n], self.input_tokens[:n], self.output_tokens[:n], self.class_index[:n], offsets, blocks
        )

    def prefix_ids(self, i: int) -> tuple[int, ...]:
        """The prefix block ids of request ``i`` (empty when unknown)."""
        if self.prefix_offsets is None or self.prefix_blocks is None:
            return ()
        return tuple(self.prefix_blocks[self.prefix_offsets[i] : self.prefix_offsets[i + 1]].tolist())

    def prefix_lists(self) -> list[tuple[int, ...]]:
        """The prefix block ids of every request, as tuples (empty tuples when unknown)."""
        if self.prefix_offsets is None or self.prefix_blocks is None:
            return [()] * len(self)
        flat = self.prefix_blocks.tolist()
        bounds = self.prefix_offsets.tolist()
        return [tuple(flat[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


#: the keys by which a workload or a class gives request lengths
LENGTH_KEYS = ("input_tokens", "output_tokens", "lengths")


class Workload(Spec):
    arrival: Arrival | None = None
    input_tokens: TokenDistribution | None = None
    output_tokens: TokenDistribution | None = None
    lengths: TracePairs | None = Field(default=None, description="joint (input, output) pairs from a trace")
    classes: list[RequestClass] = Field(default_factory=lambda: [DEFAULT_CLASS], min_length=1)

    @model_validator(mode="after")
    def _check_classes(self) -> "Workload":
        require_unique([c.name for c in self.classes], "class names")
        if self.lengths is not None and (self.input_tokens is not None or self.output_tokens is not None):
            raise ValueError("give lengths (trace pairs) or input_tokens/output_tokens, not both")
        shared = self.shared_classes
        if self.arrival is None:
            if shared:
                raise ValueError(
                    f"arrival is required: classes {[c.name for c in shared]} have no arrival of their own"
                )
            return self
        if not shared:
            raise ValueError("arrival is unused: every class has its own arrival (drop one or the other)")
        if isinstance(self.arrival, ClosedLoop) and len(shared) < len(self.classes):
            raise ValueError("a closed_loop arrival cannot be mixed with classes that have their own arrival")
        shares = [1.0 if c.share is None and len(shared) == 1 else c.share for c in shared]
        if any(s is None for s in shares):
            missing = [c.name for c, s in zip(shared, shares) if s is None]
            raise ValueError(f"classes {missing} need a share (or an arrival of their own)")
        total = sum(shares)  # type: ignore[arg-type]
        if abs(total - 1.0) > SHARE_TOLERANCE:
            listed = ", ".join(f"{c.name}={s}" for c, s in zip(shared, shares))
            raise ValueError(f"class shares must sum to 1, got {total:g} ({listed})")
        self._check_unused_lengths()
        return self

    def _check_unused_lengths(self) -> None:
        """Length distributions that no request would use (every row of its trace carries lengths) are refused,
        not silently ignored."""
        carried = [provides_lengths(c.arrival if c.arrival is not None else self.arrival) for c in self.classes]
        given = [k for k in LENGTH_KEYS if getattr(self, k) is not None]
        if given and all(carried):
            raise ValueError(f"{given[0]} is unused: the trace's rows carry their own lengths (a row's lengths win); "
                             "remove it")
        for i, (cls, trace_lengths) in enumerate(zip(self.classes, carried)):
            own = [k for k in LENGTH_KEYS if getattr(cls, k) is not None]
            if own and trace_lengths:
                raise ValueError(f"classes[{i}].{own[0]} is unused: class {cls.name!r} is fed by a trace whose rows "
                                 "carry their own lengths; remove it")

    @property
    def shared_classes(self) -> list[RequestClass]:
        """Classes fed by the workload's arrival (those without their own)."""
        return [c for c in self.classes if c.arrival is None]

    @property
    def _workload_lengths(self) -> bool:
        return self.lengths is not None or (self.input_tokens is not None and self.output_tokens is not None)

    @property
    def has_lengths(self) -> bool:
        """True when every request gets lengths (from its arrival, its class or the workload)."""
        own = self._workload_lengths
        for cls in self.classes:
            arrival = cls.arrival if cls.arrival is not None else self.arrival
            if not (own or cls.has_lengths or provides_lengths(arrival)):
                return False
        return True

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]


class RequestSource:
    """The random request stream of a workload: arrival times, lengths, classes (and prefix blocks)."""

    def __init__(self, workload: Workload, seed: np.random.SeedSequence) -> None:
        arrival_seed, length_seed, class_seed, think_seed = seed.spawn(4)
        (tenant_seed,) = seed.spawn(1)
        self.workload = workload
        self._arrival_rng = np.random.default_rng(arrival_seed)
        self._length_rng = np.random.default_rng(length_seed)
        self._class_rng = np.random.default_rng(class_seed)
        self._think_rng = np.random.default_rng(think_seed)
        self._tenant_seeds = tenant_seed.spawn(len(workload.classes))
        self._shared = [i for i, c in enumerate(workload.classes) if c.arrival is None]
        shares = [1.0 if c.share is None else c.share for c in workload.shared_classes]
        self._shares = np.array(shares, dtype=np.float64)
        self._shares /= self._shares.sum() if shares else 1.0
        self.log = SkipLog()
        self._length_tables: dict[int, TracePairs] = {}  # trace_pairs sources drawn from, by id

    @property
    def skipped(self) -> dict[str, int]:
        """Rows of trace files skipped (``on_error: skip``) or dropped as failed requests, by reason; rows of a
        lengths file under the file's name."""
        skipped = self.log.as_dict()
        for table in self._length_tables.values():
            for reason, count in table.skip_log.as_dict().items():
                key = f"lengths file {Path(table.path).name}: {reason}"
                skipped[key] = skipped.get(key, 0) + count
        return skipped

    def _classes(self, n: int) -> np.ndarray:
        shared = np.asarray(self._shared, dtype=np.int64)
        if shared.size == 1:
            return np.full(n, shared[0], dtype=np.int64)
        return shared[self._class_rng.choice(shared.size, size=n, p=self._shares)]

    def _lengths(self, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = classes.size
        inputs = np.zeros(n, dtype=np.int64)
        outputs = np.ones(n, dtype=np.int64)
        for index in np.unique(classes).tolist():
            rows = np.flatnonzero(classes == index) if len(self.workload.classes) > 1 else slice(None)
            count = n if isinstance(rows, slice) else rows.size
            drawn = self._draw_lengths(self.workload.classes[index], count)
            if drawn is not None:
                inputs[rows], outputs[rows] = drawn
        return inputs, outputs

    def _draw_lengths(self, cls: RequestClass, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        w = self.workload
        pairs = cls.lengths if cls.lengths is not None else None if cls.input_tokens is not None else w.lengths
        if pairs is not None:
            self._length_tables.setdefault(id(pairs), pairs)
            return pairs.sample(self._length_rng, n)
        source = cls if cls.input_tokens is not None else w
        if source.input_tokens is not None and source.output_tokens is not None:
            return sample_lengths(source.input_tokens, self._length_rng, n), sample_lengths(
                source.output_tokens, self._length_rng, n
            )
        return None

    def attributes(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Input tokens, output tokens and class index of ``n`` new requests of the workload's arrival.

        Without length distributions (the abstract service model) requests have 0 input and 1 output token.
        """
        classes = self._classes(n)
        inputs, outputs = self._lengths(classes)
        return inputs, outputs, classes

    def think_times(self, n: int) -> np.ndarray:
        arrival = self.workload.arrival
        if not isinstance(arrival, ClosedLoop):
            raise TypeError("think times exist only for closed_loop arrivals")
        return arrival.think_times(self._think_rng, n)

    def _complete(self, batch: Batch, classes: np.ndarray) -> Batch:
        if batch.has_lengths:
            inputs, outputs = batch.input_tokens, batch.output_tokens
        else:
            inputs, outputs = self._lengths(classes)
        return Batch(batch.time_s, inputs, outputs, batch.prefix_offsets, batch.prefix_blocks, None, classes)

    def _streams(self) -> list[Iterator[Batch]]:
        streams: list[Iterator[Batch]] = []
        arrival = self.workload.arrival
        if arrival is not None:
            streams.append(self._shared_stream(stream(arrival, self._arrival_rng, self.log)))
        for index, cls in enumerate(self.workload.classes):
            if cls.arrival is not None:
                rng = np.random.default_rng(self._tenant_seeds[index])
                streams.append(self._class_stream(stream(cls.arrival, rng, self.log), index))
        return streams

    def _shared_stream(self, batches: Iterator[Batch]) -> Iterator[Batch]:
        for batch in batches:
            yield self._complete(batch, self._classes(len(batch)))

    def _class_stream(self, batches: Iterator[Batch], index: int) -> Iterator[Batch]:
        for batch in batches:
            yield self._complete(batch, np.full(len(batch), index, dtype=np.int64))

    def batches(self) -> Iterator[Batch]:
        """Every request, merged by time, with lengths and class index filled in (no horizon cut)."""
        if isinstance(self.workload.arrival, ClosedLoop):
            raise TypeError("closed_loop arrivals are driven by the engine, not streamed")
        streams = self._streams()
        return streams[0] if len(streams) == 1 else merge_streams(streams)

    def chunks(self, max_requests: int | None = None, until_s: float | None = None) -> Iterator[RequestChunk]:
        """Requests of the open arrival processes, cut after ``max_requests`` or at time ``until_s``."""
        remaining = max_requests
        for batch in self.batches():
            n = len(batch)
            cut = n if until_s is None else int(np.searchsorted(batch.time_s, until_s, side="left"))
            if remaining is not None:
                cut = min(cut, remaining)
                remaining -= cut
            if cut:
                part = batch if cut == n else batch.head(cut)
                yield RequestChunk(
                    part.time_s,
                    part.input_tokens,  # type: ignore[arg-type]
                    part.output_tokens,  # type: ignore[arg-type]
                    part.class_index,  # type: ignore[arg-type]
                    part.prefix_offsets,
                    part.prefix_blocks,
                )
            if cut < n or remaining == 0:
                return
