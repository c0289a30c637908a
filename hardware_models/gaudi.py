"""Gaudi family (Intel Gaudi 2, Gaudi 3): HBM roofline plus Ethernet (RoCE v2) ports on the chip itself.

Gaudi has no switch chip in the box: of its 24 on-die Ethernet ports, 21 connect the 8 chips of an HLS/UBB
board all-to-all (3 ports to each of the 7 peers) and 3 go to the scale-out network (Intel Gaudi 3 white
paper; docs.habana.ai Network_Configuration, cited in the SKU files). So a tensor-parallel all-reduce inside a
board takes 1 hop per step on direct links whose aggregate per-chip bandwidth is 21 ports x port rate, and a
replica larger than a board is bounded by the 3 scale-out ports. Same transformer cost accounting and
roofline as the GPU family; what differs is the fabric (RoCE latencies and per-port bandwidth).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hardware_models.collectives import AllToAll, PointToPoint, RingTreeAllReduce
from hardware_models.roofline import RooflineModel
from hardware_models.transformer import ACTIVATION_BYTES


class GaudiModel(RooflineModel):
    """An Intel Gaudi replica with on-chip RoCE scale-up (all-to-all in the board) and scale-out ports."""

    def _links(self, n: int) -> tuple[float, float]:
        acc = self.acc
        if n <= int(acc.ic("scale_up_domain_devices")):
            return (acc.ic("scale_up_links") * acc.ic("scale_up_link_bandwidth_bytes_per_s"),
                    acc.ic("scale_up_hop_latency_s"))
        return acc.ic("scale_out_bandwidth_bytes_per_s"), acc.ic("scale_out_latency_s")

    def _build_comm_terms(self) -> list[Callable[[Any, Any], Any]]:
        lay = self.layout
        eff = self.comm_fraction
        act = self.model.hidden * ACTIVATION_BYTES  # per token; t * act == t * hidden * 2 exactly
        launch = self.acc.efficiency("collective_launch_s")  # per collective, as on the GPU family
        terms = []
        if lay.tensor > 1:
            count = self.cost.tensor_allreduces_per_iteration()
            allreduce = RingTreeAllReduce(lay.tensor, *self._links(lay.tensor), eff)
            terms.append(lambda ops, t: count * (launch + allreduce(ops, t * act)))
        if lay.pipeline > 1:
            sends = lay.pipeline - 1
            send = PointToPoint(*self._links(self.devices), eff)
            terms.append(lambda ops, t: sends * send(ops, t * act))
        if lay.expert > 1 and self.model.is_moe:
            count_a2a = self.cost.expert_alltoalls_per_iteration()
            k = self.model.active_experts
            alltoall = AllToAll(lay.expert, *self._links(lay.expert), eff)
            terms.append(lambda ops, t: count_a2a * (launch + alltoall(ops, t * k * act)))
        return terms
