"""The roofline shared by the memory-attached families (GPU, Gaudi, TPU; FPGA and wafer reuse pieces).

Per iteration of a replica with ``tensor`` x ``expert`` devices per pipeline stage and ``pipeline`` stages
run one after the other (the time of one batch's full pass; the serving engine overlaps passes by keeping
several batches in flight, ``parallelism.micro_batches``):

    time = blend(linear_flops / (W * peak * compute_fraction), weight_bytes / (W * bandwidth * memory_bandwidth_fraction))
         + blend(attention_flops / (W * peak * compute_fraction), kv_bytes / (W * bandwidth * memory_bandwidth_fraction))
         + communication(layout) + layers * per_layer_overhead_s + per_step_overhead_s

For a mixture-of-experts model the expert FLOPs in ``linear_flops`` count 1 / expert_gemm_fraction times: the
grouped expert GEMMs (each expert sees a share of the batch's tokens, plus the token permutation around them) run
at that fraction of a dense GEMM's rate. It is 1 where no MoE measurement says otherwise (see the family catalog).
In a quantized model the LM head stays 16-bit (``hardware_models.transformer``): its FLOPs count rate(precision) /
rate(16-bit) times, the device's achieved rates (peak x compute fraction) at the two precisions.

where W = tensor * expert (each stage holds 1/pipeline of the layers, so the stages' times add up to the work
divided by W). The linear operators and attention each have their own roofline and their times add (they
run one after the other inside every layer). ``blend`` is the roofline's max, softened near the ridge point by a p-norm
``(a^p + b^p)^(1/p)`` (>= max(a, b), equal to it far from the ridge). A kernel near the ridge is neither purely
compute- nor bandwidth-bound (operand tiles stream while the tensor cores run, and GEMMs of a few hundred rows
under-fill the SMs), which is what the Vidur per-layer timings between 64 and 256 tokens show; the exponent is
fitted to those points and named in the family catalog.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware_models.arith import SCALAR, VEC
from hardware_models.catalog import Accelerator, ModelArch
from hardware_models.interface import BatchWork, DoesNotFitError, PerformanceModel
from hardware_models.transformer import EMBEDDING_BYTES, TransformerCost, check_precision, kv_copies


@dataclass(frozen=True)
class Layout:
    """A parallelism layout: devices per replica = tensor * pipeline * expert."""

    tensor: int = 1
    pipeline: int = 1
    expert: int = 1
    slice: str | None = None
    weight_streaming: bool = False

    @property
    def devices(self) -> int:
        return self.tensor * self.pipeline * self.expert

    def describe(self) -> str:
        s = f"tensor={self.tensor}, pipeline={self.pipeline}, expert={self.expert}"
        return s + (f", slice={self.slice}" if self.slice else "")

    @staticmethod
    def from_dict(parallelism: dict | None) -> "Layout":
        p = dict(parallelism or {})
        allowed = {"tensor", "pipeline", "expert", "slice", "weight_streaming"}
        unknown = set(p) - allowed
        if unknown:
            raise ValueError(f"parallelism: unknown key(s) {sorted(unknown)}; valid: {sorted(allowed)}")
        vals = {}
        for k in ("tensor", "pipeline", "expert"):
            v = p.get(k, 1)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"parallelism.{k}: must be an integer >= 1, got {v!r}")
            vals[k] = int(v)
        sl = p.get("slice")
        if sl is not None and not isinstance(sl, str):
            raise ValueError(f"parallelism.slice: must be a string like '4x4', got {sl!r}")
        return Layout(vals["tensor"], vals["pipeline"], vals["expert"], sl, bool(p.get("weight_streaming", False)))


def check_layout_fits_model(layout: Layout, model: ModelArch) -> None:
    """The splits every family shares: tensor parallelism splits the attention heads (and the KV heads, or
    replicates them when there are fewer than devices) and expert parallelism the experts of a mixture-of-experts
    model (raise ValueError). Pipeline depth is the family's business (a
    Groq replica spreads one layer over several chips)."""
    if model.heads % layout.tensor:
        raise ValueError(f"parallelism.tensor: {layout.tensor} does not divide {model.name}'s {model.heads} "
                         "attention heads")
    try:
        kv_copies(layout.tensor, model.kv_heads)
    except ValueError as exc:
        raise ValueError(f"{exc} of {model.name}") from None
    if layout.expert > 1 and not model.is_moe:
        raise ValueError(f"parallelism.expert: {model.name} is a dense model; expert parallelism needs a "
                         "mixture-of-experts model")
    if layout.expert > 1 and model.experts % layout.expert:
        raise ValueError(f"parallelism.expert: {layout.expert} does not divide {model.name}'s {model.experts} experts")


def blend(a: np.ndarray, b: np.ndarray, exponent: float) -> np.ndarray:
    """p-norm of two non-negative times: max(a, b) <= blend <= 2^(1/p) max(a, b)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    # one blend through the pair formula (its second, identical result is dropped; off the engine's path)
    return blend_pair_ops(VEC, a, b, a, b, exponent, 1.0 / exponent)[0]


def blend_pair_ops(ops: Any, a1: Any, b1: Any, a2: Any, b2: Any, exponent: float, inv_exponent: float,
                   positive1: bool = False, positive2: bool = False) -> tuple[Any, Any]:
    """``(blend(a1, b1), blend(a2, b2))`` for either evaluator of ``hardware_models.arith``; ``inv_exponent`` is
    ``1.0 / exponent``; ``positive1``/``positive2``: the caller guarantees max(a, b) > 0 (no guard needed).
    Each power step of the two blends is one ``ops.power2`` call.

    ``m * ((a/m)^p + (b/m)^p)^(1/p)`` with m = max(a, b): the larger ratio is exactly 1 (x/x) and 1^p is
    exactly 1 (C99 pow), so this is ``m * (1 + (min/m)^p)^(1/p)`` bit for bit, one power fewer.
    Where m = 0 the blend is 0; the formula runs on m = 1 there (``_guard_den``) and is discarded.
    """
    m1 = ops.maximum(a1, b1)
    m2 = ops.maximum(a2, b2)
    if math.isinf(exponent):
        return m1, m2
    s1 = m1 if positive1 else _guard_den(ops, m1)
    s2 = m2 if positive2 else _guard_den(ops, m2)
    x1, x2 = ops.power2(ops.minimum(a1, b1) / s1, ops.minimum(a2, b2) / s2, exponent)
    y1, y2 = ops.power2(1.0 + x1, 1.0 + x2, inv_exponent)
    r1 = s1 * y1 if positive1 else ops.where(m1 > 0, s1 * y1, 0.0)
    r2 = s2 * y2 if positive2 else ops.where(m2 > 0, s2 * y2, 0.0)
    return r1, r2


def _guard_den(ops: Any, m: Any) -> Any:
    """``m`` where it is positive, else 1.0 (a harmless denominator for a result that is discarded)."""
    return ops.where(m > 0, m, 1.0)


#: runs of at most this many iterations are priced element by element with the scalar evaluator (cheaper
#: than ~25 numpy calls on tiny arrays; the result is the same to the bit)
SCALAR_LOOP_MAX = 6


class RooflineModel(PerformanceModel):
    """Common machinery: cost accounting, fit check, KV capacity, cold start, power, the roofline itself."""

    #: memory level (index into the catalog's ``memory`` list) that holds the weights and the KV cache
    weight_memory_level: int = 0

    def __init__(self, acc: Accelerator, model: ModelArch, precision: str, layout: Layout,
                 min_kv_tokens: int = 1) -> None:
        check_precision(precision)
        self.acc = acc
        self.model = model
        self.precision = precision
        self.layout = layout
        check_layout_fits_model(layout, model)
        self.cost = TransformerCost(model, precision, kv_copies(layout.tensor, model.kv_heads))
        self.peak_flops_per_s = acc.peak_flops_per_s(precision)  # ValueError when unsupported
        self.validate_layout()
        self.devices = layout.devices
        self.compute_fraction = acc.compute_fraction(precision)
        self.memory_fraction = acc.efficiency("memory_bandwidth_fraction")
        self.comm_fraction = acc.efficiency("comm_bandwidth_fraction")
        self.per_step_overhead_s = acc.efficiency("per_step_overhead_s")
        self.per_layer_overhead_s = acc.efficiency("per_layer_overhead_s")
        self.blend_exponent = acc.efficiency("roofline_blend_exponent")
        self.expert_gemm_fraction = acc.efficiency("expert_gemm_fraction") if model.is_moe else 1.0
        self.usable_fraction = acc.parameter("memory_usable_fraction")
        self.kv_bytes_per_token = self.cost.kv_bytes_per_token
        self._check_fit(min_kv_tokens)
        self.kv_capacity_tokens = int(self._kv_budget_bytes() // self.kv_bytes_per_token)
        self.cold_start_s = self._cold_start_s()
        # constants of the per-iteration formulas, folded once (the layout and the catalog are fixed)
        self._compute_den = self.stage_width * self.peak_flops_per_s * self.compute_fraction
        self._memory_den = self.stage_width * self.level_bandwidth_bytes_per_s * self.memory_fraction
        self._inv_blend_exponent = 1.0 / self.blend_exponent
        self._overhead_s = self.model.layers * self.per_layer_overhead_s + self.per_step_overhead_s
        #: extra FLOPs per new token that price the expert GEMMs at expert_gemm_fraction of the dense rate (0: dense)
        self._expert_extra_flops_per_token = self.cost.expert_flops_per_token * (1.0 / self.expert_gemm_fraction - 1.0)
        #: extra FLOPs per request that price the 16-bit LM head at the 16-bit rate in a quantized model (0: none)
        self._lm_head_extra_flops_per_request = self.cost.lm_head_flops_per_request * (
            self._rate_ratio_to_16_bit() - 1.0)
        #: communication terms of the layout, each ``term(ops, new_tokens)``, added in this order
        self._comm_terms: tuple[Callable[[Any, Any], Any], ...] = tuple(self._build_comm_terms())

    def _rate_ratio_to_16_bit(self) -> float:
        """Achieved FLOP rate at the model's precision over the 16-bit rate (bf16, else fp16) of this device: the
        LM head stays 16-bit in a quantized model (``hardware_models.transformer``), so its FLOPs cost this ratio
        times what the precision's rate would charge; 1 for a 16-bit model or a device without a 16-bit rate."""
        if self.cost.weight_bytes_per_param >= EMBEDDING_BYTES:
            return 1.0
        for half in ("bf16", "fp16"):
            if half in self.acc.precisions:
                rate_16 = self.acc.peak_flops_per_s(half) * self.acc.compute_fraction(half)
                return self.peak_flops_per_s * self.compute_fraction / rate_16
        return 1.0

    # ------------------------------------------------------------------ layout and fit
    def validate_layout(self) -> None:
        """Family-specific checks of the layout (raise ValueError)."""

    @property
    def level_capacity_bytes(self) -> float:
        return self.acc.raw.memory[self.weight_memory_level].capacity_bytes.value

    @property
    def level_bandwidth_bytes_per_s(self) -> float:
        return self.acc.raw.memory[self.weight_memory_level].bandwidth_bytes_per_s.value

    def usable_bytes_per_device(self) -> float:
        return self.level_capacity_bytes * self.usable_fraction

    def resident_weight_bytes(self) -> float:
        """Weight bytes that must sit in the replica's memory."""
        return self.cost.total_weight_bytes

    def min_devices_for_weights(self) -> int:
        return max(1, math.ceil(self.resident_weight_bytes() / self.usable_bytes_per_device()))

    def _kv_budget_bytes(self) -> float:
        return max(0.0, self.devices * self.usable_bytes_per_device() - self.resident_weight_bytes())

    def _check_fit(self, min_kv_tokens: int) -> None:
        need = self.min_devices_for_weights()
        what = f"{self.model.name} in {self.precision}"
        if self.devices < need:
            raise DoesNotFitError(
                f"{what} needs at least {need} {self.acc.name} for weights alone; got {self.layout.describe()} "
                f"({self.resident_weight_bytes() / 1e9:.1f} GB of weights, "
                f"{self.usable_bytes_per_device() / 1e9:.1f} GB usable per device)"
            )
        kv_tokens = self._kv_budget_bytes() / self.kv_bytes_per_token
        if kv_tokens < min_kv_tokens:
            per_dev_tokens = self.usable_bytes_per_device() / self.kv_bytes_per_token
            extra = math.ceil((min_kv_tokens - kv_tokens) / per_dev_tokens)
            raise DoesNotFitError(
                f"{what} on {self.devices} {self.acc.name} leaves room for {int(kv_tokens)} KV-cache tokens, "
                f"fewer than the {min_kv_tokens} required; needs at least {self.devices + extra} devices; "
                f"got {self.layout.describe()}"
            )

    def _cold_start_s(self) -> float:
        """Weights per device over the slower of storage and host link (devices load in parallel)."""
        bw = min(self.acc.ic("host_link_bandwidth_bytes_per_s"), self.acc.ic("storage_bandwidth_bytes_per_s"))
        return self.resident_weight_bytes() / self.devices / bw

    # ------------------------------------------------------------------ timing
    @property
    def stage_width(self) -> int:
        """Devices that share one pipeline stage's work."""
        return self.layout.tensor * self.layout.expert

    def compute_s(self, flops: np.ndarray) -> np.ndarray:
        return flops / self._compute_den

    def memory_s(self, nbytes: np.ndarray) -> np.ndarray:
        return nbytes / self._memory_den

    def _build_comm_terms(self) -> list[Callable[[Any, Any], Any]]:
        """The layout's communication terms, each ``term(ops, new_tokens)``; none for one device. Families
        override (called once, at the end of the constructor)."""
        return []

    def _comm(self, ops: Any, t: Any) -> Any:
        """Sum of the communication terms in order, or None when the layout has none."""
        total = None
        for term in self._comm_terms:
            x = term(ops, t)
            total = x if total is None else total + x
        return total

    def comm_s(self, work: BatchWork) -> np.ndarray:
        """Communication time of the layout; zero for a single device."""
        t = np.asarray(work.new_tokens, dtype=np.float64)
        total = self._comm(VEC, t)
        return np.zeros_like(t) if total is None else total

    def overhead_s(self) -> float:
        return self._overhead_s

    def _roofline(self, ops: Any, t: Any, r: Any, kv: Any, pairs: Any, active_only: bool = True) -> Any:
        """Compute-or-memory time of iterations, and their weight bytes (weight streaming uses them).

        Two operator classes, each on its own roofline, one after the other: the linear operators (GEMMs:
        their FLOPs against the weights they read) and attention (its FLOPs against the KV cache it reads).
        Within a layer they are data-dependent (QKV projection -> attention -> output projection), so their
        times add; one roofline over the sums would let a compute-bound GEMM hide a bandwidth-bound attention
        read, which under-prices large-batch decode with long contexts.

        ``active_only``: the caller discards iterations without new tokens (``_time``): their weights need
        not be zeroed, so the linear roofline has a positive memory time (resident weights) and its blend needs
        no guard against max = 0. The attention roofline of an iteration without new tokens and without context
        is 0/0, so only the scalar evaluator (called for new_tokens > 0 only) skips its guard. Elements with new
        tokens are the same either way.
        """
        linear, attention, weights, kv_bytes = self.cost.terms(ops, t, r, kv, pairs, active_only=active_only)
        if self._expert_extra_flops_per_token:
            linear = linear + t * self._expert_extra_flops_per_token
        if self._lm_head_extra_flops_per_request:
            linear = linear + r * self._lm_head_extra_flops_per_request
        p, inv_p = self.blend_exponent, self._inv_blend_exponent
        linear_s, attention_s = blend_pair_ops(
            ops, linear / self._compute_den, weights / self._memory_den,
            attention / self._compute_den, kv_bytes / self._memory_den, p, inv_p,
            positive1=active_only, positive2=active_only and ops.scalar)
        return linear_s + attention_s, weights

    def _time(self, ops: Any, t: Any, r: Any, kv: Any, pairs: Any) -> Any:
        """Iteration time for new_tokens > 0: the one formula behind both the vector and the scalar method."""
        total, _ = self._roofline(ops, t, r, kv, pairs)
        comm = self._comm(ops, t)
        if comm is not None:
            total = total + comm
        return total + self._overhead_s

    def iteration_time_s(self, work: BatchWork) -> np.ndarray:
        t = np.asarray(work.new_tokens, dtype=np.float64)
        r = np.asarray(work.requests, dtype=np.float64)
        kv = np.asarray(work.kv_read_tokens, dtype=np.float64)
        pairs = np.asarray(work.attention_pairs, dtype=np.float64)
        if t.ndim == 1 and t.size <= SCALAR_LOOP_MAX and t.shape == r.shape == kv.shape == pairs.shape:
            # a few iterations: numpy's per-call overhead dominates; the scalar evaluator is bit-identical
            time = self._time
            return np.array([time(SCALAR, a, b, c, d) if a > 0 else 0.0
                             for a, b, c, d in zip(t.tolist(), r.tolist(), kv.tolist(), pairs.tolist())],
                            dtype=np.float64)
        return np.where(t > 0, self._time(VEC, t, r, kv, pairs), 0.0)

    def iteration_time_scalar_s(self, new_tokens: float, requests: float, kv_read_tokens: float,
                                attention_pairs: float) -> float:
        t = float(new_tokens)
        if not t > 0:
            return 0.0
        return self._time(SCALAR, t, float(requests), float(kv_read_tokens), float(attention_pairs))

    def layer_linear_time_s(self, tokens: np.ndarray) -> np.ndarray:
        """One layer's linear ops (Vidur ``mlp.csv`` scope) on one stage, without communication."""
        c = self.cost.layer_linear(np.asarray(tokens, dtype=np.float64))
        return blend(self.compute_s(c.flops), self.memory_s(c.bytes), self.blend_exponent) + self.per_layer_overhead_s

    def lower_bound_s(self, work: BatchWork) -> np.ndarray:
        """Pure roofline at 100% of the catalog's peaks over all devices: no model may be faster."""
        c = self.cost.iteration(work)
        d = self.devices
        return np.maximum(c.flops / (d * self.peak_flops_per_s), c.bytes / (d * self.level_bandwidth_bytes_per_s))

    # ------------------------------------------------------------------ power
    def power_w(self, utilisation: float) -> float:
        u = min(1.0, max(0.0, float(utilisation)))
        return self.devices * (self.acc.idle_w + u * (self.acc.busy_w - self.acc.idle_w))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.acc.name}, {self.model.name}, {self.precision}, "
                f"{self.layout.describe()})")
