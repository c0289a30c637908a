"""Transformer cost accounting shared by every family: FLOPs, bytes and collectives of one iteration.

Conventions (all per replica, i.e. summed over its devices, for the arrays of a :class:`BatchWork`):

* Precision sets the bytes of a weight and of a KV-cache element (``WEIGHT_BYTES``, ``KV_BYTES``).
  Choice, documented: the KV cache is kept at the compute precision for 16-bit (2 bytes) and for fp8/int8
  (1 byte, as TensorRT-LLM's and vLLM's fp8/int8 KV caches do); with 4-bit weights (int4, fp4) the KV cache
  is kept in 8 bits (1 byte): 4-bit KV caches are not a default of any mainstream server.
  Activations exchanged by collectives are 16-bit in every precision (``ACTIVATION_BYTES``).
* The embedding table and the LM head stay 16-bit in every precision (``EMBEDDING_BYTES``): quantized
  checkpoints quantize the transformer blocks' linear layers only (NVIDIA ModelOpt FP8/NVFP4 checkpoints list
  ``lm_head`` in ``hf_quant_config.json``'s ``exclude_modules``; AutoFP8, behind vLLM's FP8 checkpoints, is
  run with ``ignore_patterns=["re:.*lm_head"]``; the embedding is a lookup table, not a linear layer). For a
  128k-vocabulary model that is 2.1 GB more than 8-bit for Llama-3.1-70B, a third of the KV room 70B in FP8
  leaves on one 80 GB GPU. The LM head's FLOPs (one token per request, ~1.5% of a 70B and ~6% of an 8B model's
  decode FLOPs) run at the device's 16-bit rate: the roofline prices them (``lm_head_flops_per_request``).
* Linear FLOPs: 2 per multiply-accumulate, 2 x (active linear params) per new token, plus the LM head for the
  last token of each request only (logits are computed for the tokens that are sampled).
* Attention FLOPs: QK^T and PV are 2 x 2 x heads x head_dim FLOPs per query-key pair per layer, so
  ``4 * layers * heads * head_dim * attention_pairs`` (grows with context).
* Bytes: every weight the iteration touches is read once per iteration; the KV cache of every context token is
  read (``kv_read_tokens``) and the new tokens' KV is written.
* Tensor parallelism wider than the KV heads (``tensor`` > ``kv_heads``, grouped-query attention) gives each
  device one KV head, so every head is stored and read on ``tensor / kv_heads`` devices (``kv_copies``): the
  replica's KV bytes per token grow by that factor (vLLM and TensorRT-LLM replicate the KV heads this way).
* MoE: a token visits ``active_experts`` of ``experts``; a batch of T tokens touches, in expectation under
  uniform routing, ``E * (1 - (1 - k/E)**T)`` distinct experts per layer, whose weights are all read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from hardware_models.arith import VEC
from hardware_models.catalog import ModelArch
from hardware_models.interface import BatchWork

WEIGHT_BYTES: dict[str, float] = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5, "fp4": 0.5}
KV_BYTES: dict[str, float] = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 1.0, "fp4": 1.0}
ACTIVATION_BYTES: float = 2.0
EMBEDDING_BYTES: float = 2.0


def _is_power_of_two(x: float) -> bool:
    return x > 0 and math.frexp(x)[0] == 0.5


def check_precision(precision: str) -> None:
    if precision not in WEIGHT_BYTES:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(WEIGHT_BYTES)}")


@dataclass(frozen=True)
class ParamCounts:
    """Parameter counts of one layer and of the embeddings, derived from the architecture."""

    attention_per_layer: float
    mlp_per_expert: float
    router_per_layer: float
    experts: int
    active_experts: int
    layers: int
    embedding: float
    lm_head: float

    @property
    def dense_per_layer(self) -> float:
        """Weights every token of a layer reads: attention, router, and the MLP of a dense model."""
        dense_mlp = self.mlp_per_expert if self.experts == 1 else 0.0
        return self.attention_per_layer + self.router_per_layer + dense_mlp

    @property
    def expert_per_layer(self) -> float:
        """All expert MLP weights of one layer (0 for a dense model)."""
        return self.mlp_per_expert * self.experts if self.experts > 1 else 0.0

    @property
    def total(self) -> float:
        return self.layers * (self.dense_per_layer + self.expert_per_layer) + self.embedding + self.lm_head

    @property
    def active_linear_per_token(self) -> float:
        """Linear params one token multiplies through, all layers, without the LM head."""
        mlp = self.mlp_per_expert * (self.active_experts if self.experts > 1 else 1)
        return self.layers * (self.attention_per_layer + self.router_per_layer + mlp)


def param_counts(m: ModelArch) -> ParamCounts:
    q_out = m.heads * m.head_dim
    kv_out = 2 * m.kv_heads * m.head_dim
    attention = m.hidden * (q_out + kv_out) + q_out * m.hidden
    mlp = (3 if m.gated_mlp else 2) * m.hidden * m.ffn
    router = m.hidden * m.experts if m.experts > 1 else 0.0
    embedding = float(m.vocab * m.hidden)
    lm_head = 0.0 if m.tied_embeddings else float(m.vocab * m.hidden)
    return ParamCounts(float(attention), float(mlp), float(router), m.experts, m.active_experts, m.layers,
                       embedding, lm_head)


def expected_experts_touched(tokens: np.ndarray, experts: int, active: int) -> np.ndarray:
    """Expected distinct experts a batch of ``tokens`` tokens touches in one layer: E*(1-(1-k/E)^T)."""
    t = np.asarray(tokens, dtype=np.float64)
    if experts <= 1:
        return np.where(t > 0, 1.0, 0.0)
    return _experts_touched(VEC, t, experts, 1.0 - active / experts)


def _experts_touched(ops: Any, t: Any, experts: int, miss: float) -> Any:
    """E * (1 - miss^T) with ``miss`` = 1 - k/E: the one formula behind both evaluators."""
    return experts * (1.0 - ops.power(miss, t))


def kv_copies(tensor: int, kv_heads: int) -> int:
    """Devices that hold each KV head under ``tensor``-way tensor parallelism: 1 while the heads split evenly
    (``kv_heads`` divisible by ``tensor``), ``tensor / kv_heads`` when there are fewer heads than devices."""
    if tensor <= kv_heads:
        if kv_heads % tensor:
            raise ValueError(f"parallelism.tensor: {tensor} does not divide the {kv_heads} KV heads")
        return 1
    if tensor % kv_heads:
        raise ValueError(f"parallelism.tensor: {tensor} is not a multiple of the {kv_heads} KV heads (a device "
                         "holds whole KV heads: tensor must divide them or be a multiple of them)")
    return tensor // kv_heads


@dataclass(frozen=True)
class IterationCost:
    """FLOPs and bytes of one or many iterations for the whole replica (arrays)."""

    linear_flops: np.ndarray
    attention_flops: np.ndarray
    weight_bytes: np.ndarray
    kv_bytes: np.ndarray

    @property
    def flops(self) -> np.ndarray:
        return self.linear_flops + self.attention_flops

    @property
    def bytes(self) -> np.ndarray:
        return self.weight_bytes + self.kv_bytes


@dataclass(frozen=True)
class TransformerCost:
    """Cost accounting of one model at one precision."""

    model: ModelArch
    precision: str
    #: copies of each KV head the replica keeps (``kv_copies(tensor, kv_heads)``; 1 without replication)
    kv_copies: int = 1

    @cached_property
    def counts(self) -> ParamCounts:
        return param_counts(self.model)

    @property
    def weight_bytes_per_param(self) -> float:
        return WEIGHT_BYTES[self.precision]

    @property
    def kv_bytes_per_token(self) -> float:
        """KV-cache bytes of one token held by the replica: all layers, K and V, each KV head ``kv_copies`` times."""
        m = self.model
        return 2.0 * m.layers * m.kv_heads * m.head_dim * KV_BYTES[self.precision] * self.kv_copies

    @property
    def lm_head_flops_per_request(self) -> float:
        """FLOPs of the LM head for the one token a request samples per iteration (the tied embedding when the
        model has no separate head)."""
        c = self.counts
        return 2.0 * (c.lm_head if c.lm_head else c.embedding)

    @property
    def expert_flops_per_token(self) -> float:
        """FLOPs of the expert MLPs one new token runs through, all layers (0 for a dense model)."""
        c = self.counts
        return 2.0 * self.model.layers * c.active_experts * c.mlp_per_expert if c.experts > 1 else 0.0

    @property
    def total_weight_bytes(self) -> float:
        """Bytes of all weights held by a replica: the layers at the precision, the embedding table and the LM
        head at ``EMBEDDING_BYTES``."""
        c = self.counts
        return (c.total - c.embedding - c.lm_head) * self.weight_bytes_per_param + (
            c.embedding + c.lm_head) * EMBEDDING_BYTES

    @cached_property
    def _coef(self) -> tuple:
        """Constants of :meth:`terms`, folded once.

        Only exact folds: a product with 2.0 or with a power-of-two byte count is exact in floating point, so
        ``(2.0 * t) * A == t * (2.0 * A)`` and ``(E * touched) * wb == (E * wb) * touched`` bit for bit.
        """
        c = self.counts
        m = self.model
        wb = self.weight_bytes_per_param
        lm_params = c.lm_head if c.lm_head else c.embedding  # tied: the embedding doubles as the head
        attention = 4.0 * m.layers * m.heads * m.head_dim
        moe = c.experts > 1
        miss = 1.0 - c.active_experts / c.experts if moe else 0.0
        expert = m.layers * c.mlp_per_expert  # params of one touched expert over all layers
        if not _is_power_of_two(wb):
            raise ValueError(f"weight bytes per parameter must be a power of two, got {wb}")
        resident = m.layers * c.dense_per_layer * wb + lm_params * EMBEDDING_BYTES  # read by an active iteration
        return (2.0 * c.active_linear_per_token, self.lm_head_flops_per_request, attention, moe, c.experts, miss,
                expert * wb, resident, self.kv_bytes_per_token)

    def terms(self, ops: Any, t: Any, r: Any, kv_read: Any, pairs: Any,
              active_only: bool = False) -> tuple[Any, Any, Any, Any]:
        """Linear FLOPs, attention FLOPs, weight bytes and KV bytes of iterations (arrays or floats, ``ops``).

        Written once for both evaluators of ``hardware_models.arith``. ``active_only``: the caller discards
        iterations without new tokens, so their weights need not be zeroed (saves work per call). For a MoE
        model the scalar evaluator remembers E*(1-(1-k/E)^T) per token count T (a pure function of T).

            linear    = 2 t (active linear params) + 2 r (LM-head params)
            attention = 4 layers heads head_dim pairs
            weights   = [t > 0] (dense layers wb + LM head EMBEDDING_BYTES) + layers * mlp_per_expert * touched(t) * wb
            kv        = kv_bytes_per_token (kv_read + t)
        """
        linear2, lm2, attention, moe, experts, miss, expert_wb, resident, kvb = self._coef
        linear = t * linear2 + r * lm2
        attn = attention * pairs
        weights = resident if active_only else ops.where(t > 0, resident, 0.0)
        if moe:
            if ops.scalar:
                touched = self._touched_cache.get(t)
                if touched is None:
                    touched = _experts_touched(ops, t, experts, miss)
                    if len(self._touched_cache) < 65536:
                        self._touched_cache[t] = touched
            else:
                touched = _experts_touched(ops, t, experts, miss)
            weights = weights + expert_wb * touched
        kv = kvb * (kv_read + t)
        return linear, attn, weights, kv

    @cached_property
    def _touched_cache(self) -> dict[float, float]:
        return {}

    def iteration(self, work: BatchWork) -> IterationCost:
        t = np.asarray(work.new_tokens, dtype=np.float64)
        r = np.asarray(work.requests, dtype=np.float64)
        kv = np.asarray(work.kv_read_tokens, dtype=np.float64)
        pairs = np.asarray(work.attention_pairs, dtype=np.float64)
        return IterationCost(*self.terms(VEC, t, r, kv, pairs))

    def layer_linear(self, tokens: np.ndarray) -> IterationCost:
        """One layer's linear ops (norms, QKV, O-proj, MLP) for ``tokens`` tokens: Vidur's ``mlp.csv`` scope."""
        c = self.counts
        t = np.asarray(tokens, dtype=np.float64)
        wb = self.weight_bytes_per_param
        k = c.active_experts if c.experts > 1 else 1
        flops = 2.0 * t * (c.attention_per_layer + c.router_per_layer + k * c.mlp_per_expert)
        touched = expected_experts_touched(t, c.experts, c.active_experts)
        w = (c.attention_per_layer + c.router_per_layer + touched * c.mlp_per_expert) * wb
        return IterationCost(flops, 0.0 * t, w + 0.0 * t, 0.0 * t)

    # --- collectives implied by a parallelism layout (message sizes; the families price them)

    def tensor_allreduce_bytes(self, tokens: np.ndarray) -> np.ndarray:
        """Message of each of the 2 all-reduces per layer under tensor parallelism (activations, 16-bit)."""
        return np.asarray(tokens, dtype=np.float64) * self.model.hidden * ACTIVATION_BYTES

    def tensor_allreduces_per_iteration(self) -> int:
        return 2 * self.model.layers

    def pipeline_send_bytes(self, tokens: np.ndarray) -> np.ndarray:
        """Activations one stage sends to the next."""
        return np.asarray(tokens, dtype=np.float64) * self.model.hidden * ACTIVATION_BYTES

    def expert_alltoall_bytes(self, tokens: np.ndarray) -> np.ndarray:
        """Bytes each all-to-all (dispatch or combine) moves in total: every token to its k experts."""
        k = self.model.active_experts if self.model.is_moe else 1
        return np.asarray(tokens, dtype=np.float64) * k * self.model.hidden * ACTIVATION_BYTES

    def expert_alltoalls_per_iteration(self) -> int:
        return 2 * self.model.layers if self.model.is_moe else 0
