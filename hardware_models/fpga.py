"""FPGA family (AMD Alveo U55C, V80): transformer layers mapped to a pipeline of stages over cards.

A design in the style of FlightLLM (Zeng et al., FPGA'24, arXiv 2401.03868) streams quantised weights from
the card's HBM through a fixed datapath built from the DSP slices; each transformer layer is one stage of the
pipeline, the ``pipeline`` cards each hold a contiguous block of layers and pass activations to the next card
over their QSFP ports. For one iteration:

    stage time     = roofline of one layer's work on one card + the per-layer (stage) overhead
    latency        = depth (layers) x stage time + card-to-card transfers + per-step overhead
    initiation interval (throughput) = the busiest card's share: layers per card x stage time

``iteration_time_s`` is the latency of one batch's pass; the serving engine keeps up to ``pipeline`` batches
in flight (``parallelism.micro_batches``), so under load a replica accepts a batch about every
``initiation_interval_s`` (exactly so when the cards' shares are equal). The LM head is spread over the layer
stages (an approximation: it is 2-4% of the weights of the catalog models).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from hardware_models.arith import VEC
from hardware_models.collectives import PointToPoint
from hardware_models.interface import BatchWork
from hardware_models.roofline import RooflineModel
from hardware_models.transformer import ACTIVATION_BYTES


class AlveoPipelineModel(RooflineModel):
    """A chain of ``pipeline`` Alveo cards, one transformer layer per pipeline stage."""

    def validate_layout(self) -> None:
        if self.layout.tensor != 1 or self.layout.expert != 1:
            raise ValueError(
                f"{self.acc.name}: FPGA replicas are layer pipelines over cards; use parallelism "
                f"{{pipeline: N}} (got {self.layout.describe()})")

    @property
    def depth(self) -> int:
        return self.model.layers

    @property
    def layers_per_card(self) -> int:
        return math.ceil(self.model.layers / self.layout.pipeline)

    def _build_comm_terms(self) -> list[Callable[[Any, Any], Any]]:
        # card-to-card transfers of the chain, kept apart from the stage time (see _time)
        sends = self.layout.pipeline - 1
        act = self.model.hidden * ACTIVATION_BYTES  # per token; t * act == t * hidden * 2 exactly
        send = PointToPoint(self.acc.ic("scale_out_bandwidth_bytes_per_s"), self.acc.ic("scale_out_latency_s"),
                            self.comm_fraction)
        self._transfer_term = lambda ops, t: sends * send(ops, t * act)
        return []

    def _stage(self, ops: Any, t: Any, r: Any, kv: Any, pairs: Any, active_only: bool = True) -> Any:
        roof, _ = self._roofline(ops, t, r, kv, pairs, active_only)
        return roof / self.depth + self.per_layer_overhead_s

    def _time(self, ops: Any, t: Any, r: Any, kv: Any, pairs: Any) -> Any:
        return (self.depth * self._stage(ops, t, r, kv, pairs) + self._transfer_term(ops, t)
                + self.per_step_overhead_s)

    @staticmethod
    def _arrays(work: BatchWork) -> tuple[np.ndarray, ...]:
        return tuple(np.asarray(x, dtype=np.float64)
                     for x in (work.new_tokens, work.requests, work.kv_read_tokens, work.attention_pairs))

    def stage_time_s(self, work: BatchWork) -> np.ndarray:
        """Time of one layer (stage) on one card for this iteration."""
        return self._stage(VEC, *self._arrays(work), active_only=False)

    def transfer_s(self, work: BatchWork) -> np.ndarray:
        return self._transfer_term(VEC, np.asarray(work.new_tokens, dtype=np.float64))

    def initiation_interval_s(self, work: BatchWork) -> np.ndarray:
        """Interval between successive iterations when cards work on different iterations concurrently."""
        return self.layers_per_card * self.stage_time_s(work)
