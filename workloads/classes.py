"""Request classes (tenants): a share of the traffic, a priority, and service-level objectives."""

from __future__ import annotations

from pydantic import Field, PositiveFloat, model_validator

from workloads.arrival_types import OpenArrival
from workloads.distributions import TokenDistribution
from workloads.lengths import TracePairs
from workloads.spec import Spec


class SLO(Spec):
    """Service-level objectives of a class.

    A request attains the SLO when every given bound holds for it (attainment, goodput); the class meets
    its SLO when the ``quantile`` of each bounded metric over its requests is within the bound.
    """

    ttft_s: PositiveFloat | None = None
    tpot_s: PositiveFloat | None = None
    e2e_s: PositiveFloat | None = None
    quantile: float = Field(default=0.99, gt=0, lt=1)

    def bounds(self) -> dict[str, float]:
        """The bounded metrics, by record column name."""
        return {k: v for k, v in (("ttft_s", self.ttft_s), ("tpot_s", self.tpot_s), ("e2e_s", self.e2e_s)) if v}


class RequestClass(Spec):
    """A class (tenant) of requests.

    Either a ``share`` of the workload's arrival stream, or its own ``arrival`` process (then no share):
    the streams are merged by time. A class may carry its own lengths (``input_tokens``/``output_tokens``
    or ``lengths``), used when its requests do not come with lengths (a trace row's lengths win).
    """

    name: str = Field(min_length=1)
    share: float | None = Field(default=None, gt=0, le=1)
    priority: int = Field(default=0, ge=0, description="0 is served first")
    slo: SLO | None = None
    arrival: OpenArrival | None = None
    input_tokens: TokenDistribution | None = None
    output_tokens: TokenDistribution | None = None
    lengths: TracePairs | None = None

    @model_validator(mode="after")
    def _check(self) -> "RequestClass":
        if self.arrival is not None and self.share is not None:
            raise ValueError(f"class {self.name!r}: give share or arrival, not both (a class with its own arrival has no share)")
        if self.lengths is not None and (self.input_tokens is not None or self.output_tokens is not None):
            raise ValueError(f"class {self.name!r}: give lengths or input_tokens/output_tokens, not both")
        if (self.input_tokens is None) != (self.output_tokens is None):
            raise ValueError(f"class {self.name!r}: give both input_tokens and output_tokens, or neither")
        return self

    @property
    def has_lengths(self) -> bool:
        return self.lengths is not None or self.input_tokens is not None


DEFAULT_CLASS = RequestClass(name="default", share=1.0)
