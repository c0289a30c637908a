"""One hand-worked physics check per family (and for the shared cost accounting)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import hardware_models as hm
from hardware_models import BatchWork, DoesNotFitError
from hardware_models.collectives import torus_allreduce_s, torus_diameter_hops, default_wraparound
from hardware_models.gpu import ScaleUpFabric
from hardware_models.transformer import TransformerCost, expected_experts_touched, kv_copies, param_counts


# ---------------------------------------------------------------- shared cost accounting
def test_llama2_7b_param_count_and_decode_flops() -> None:
    m = hm.get_model("llama-2-7b")
    c = param_counts(m)
    # per layer: 4 * 4096^2 attention + 3 * 4096 * 11008 MLP; plus 2 * 32000 * 4096 embeddings
    assert c.attention_per_layer == 4 * 4096 ** 2
    assert c.mlp_per_expert == 3 * 4096 * 11008
    assert c.total == 32 * (4 * 4096 ** 2 + 3 * 4096 * 11008) + 2 * 32000 * 4096
    cost = TransformerCost(m, "fp16").iteration(BatchWork.from_requests(np.array([1.0]), np.array([0.0])))
    # one decode token at empty context: 2 FLOPs per linear weight incl. the LM head, attention 4*L*H*D*1
    assert cost.linear_flops[0] == pytest.approx(2 * (c.total - c.embedding))
    assert cost.attention_flops[0] == 4 * 32 * 32 * 128
    # KV: 2 (K,V) * 32 layers * 32 heads * 128 dims * 2 bytes = 512 KiB per token
    assert TransformerCost(m, "fp16").kv_bytes_per_token == 524288


@pytest.mark.parametrize(("precision", "layer_bytes"), [("fp8", 1.0), ("int4", 0.5), ("bf16", 2.0)])
def test_quantized_weights_keep_the_embedding_and_lm_head_in_16_bit(precision: str, layer_bytes: float) -> None:
    """Llama-3.1-70B: 128,256 x 8,192 embedding and LM head (untied) stay 2 bytes a parameter; the layers take
    the precision's bytes. In FP8 that is 2.1 GB more than an all-FP8 count, and a decode step reads the LM head
    (not the embedding table) at 2 bytes."""
    m = hm.get_model("llama-3.1-70b")
    c = param_counts(m)
    head = 128256 * 8192
    assert (c.embedding, c.lm_head) == (head, head)
    cost = TransformerCost(m, precision)
    layers = c.total - 2 * head
    assert cost.total_weight_bytes == pytest.approx(layers * layer_bytes + 2 * head * 2.0, rel=1e-12)
    step = cost.iteration(BatchWork.from_requests(np.array([1.0]), np.array([0.0])))
    assert step.weight_bytes[0] == pytest.approx(layers * layer_bytes + head * 2.0, rel=1e-12)


def test_the_16_bit_lm_head_of_a_quantized_model_runs_at_the_16_bit_rate() -> None:
    """H100, Llama-3.1-8B in FP8: the LM head's 2 x 128,256 x 4,096 FLOPs per request cost
    (FP8 rate / BF16 rate) times what the FP8 rate charges, the rates being peak x compute fraction."""
    acc = hm.get_accelerator("nvidia-h100-sxm")
    fp8 = hm.build_performance_model("nvidia-h100-sxm", "llama-3.1-8b", "fp8", {"tensor": 1})
    ratio = (acc.peak_flops_per_s("fp8") * acc.compute_fraction("fp8")) / (
        acc.peak_flops_per_s("bf16") * acc.compute_fraction("bf16"))
    assert ratio > 1.0
    lm_flops = 2.0 * 128256 * 4096
    assert fp8.cost.lm_head_flops_per_request == lm_flops
    assert fp8._lm_head_extra_flops_per_request == pytest.approx(lm_flops * (ratio - 1.0), rel=1e-12)
    bf16 = hm.build_performance_model("nvidia-h100-sxm", "llama-3.1-8b", "bf16", {"tensor": 1})
    assert bf16._lm_head_extra_flops_per_request == 0.0


def test_tensor_parallelism_wider_than_the_kv_heads_replicates_them() -> None:
    """Llama-3.1-70B has 8 KV heads: at TP16 each device holds one head, so each head is kept twice and a
    token's KV takes 2 (K,V) * 80 layers * 8 heads * 128 dims * 1 byte (fp8) * 2 copies = 327,680 bytes."""
    assert [kv_copies(t, 8) for t in (1, 2, 4, 8, 16, 32)] == [1, 1, 1, 1, 2, 4]
    with pytest.raises(ValueError, match="3 does not divide the 8 KV heads"):
        kv_copies(3, 8)
    with pytest.raises(ValueError, match="12 is not a multiple of the 8 KV heads"):
        kv_copies(12, 8)
    tp8 = hm.build_performance_model("nvidia-h100-sxm", "llama-3.1-70b", "fp8", {"tensor": 8})
    tp16 = hm.build_performance_model("nvidia-h100-sxm", "llama-3.1-70b", "fp8", {"tensor": 16})
    assert (tp8.kv_bytes_per_token, tp16.kv_bytes_per_token) == (163840, 327680)
    weights = TransformerCost(hm.get_model("llama-3.1-70b"), "fp8").total_weight_bytes
    assert tp16.kv_capacity_tokens == int((16 * 85_520_809_984 * 0.9 - weights) // 327680)
    # a decode step reads twice the KV bytes per token in all, so per device the same as at TP8
    work = BatchWork.from_requests(np.array([64.0]), np.array([64 * 4096.0]))
    assert tp16.cost.iteration(work).kv_bytes[0] == pytest.approx(2 * tp8.cost.iteration(work).kv_bytes[0])


def test_moe_experts_touched() -> None:
    e, k = 8, 2
    assert expected_experts_touched(np.array([1.0]), e, k)[0] == pytest.approx(2.0)
    assert expected_experts_touched(np.array([2.0]), e, k)[0] == pytest.approx(8 * (1 - 0.75 ** 2))
    assert expected_experts_touched(np.array([1000.0]), e, k)[0] == pytest.approx(8.0)
    m = hm.get_model("mixtral-8x7b")
    cost = TransformerCost(m, "bf16")
    w1 = cost.iteration(BatchWork.from_requests(np.ones(1), np.zeros(1))).weight_bytes[0]
    w64 = cost.iteration(BatchWork.from_requests(np.ones(64), np.zeros(64))).weight_bytes[0]
    assert w64 > 3 * w1 * 0.9 and w64 <= cost.total_weight_bytes


@pytest.mark.parametrize("name", ["llama-2-7b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b",
                                  "mixtral-8x7b", "gpt-j-6b", "qwen3-30b-a3b"])
def test_param_counts_match_published(name: str) -> None:
    m = hm.get_model(name)
    assert param_counts(m).total == pytest.approx(m.params_published, rel=0.03)


# ---------------------------------------------------------------- GPU: TP=8 all-reduce on NVSwitch
def test_h100_tp8_allreduce_on_nvswitch() -> None:
    pm = hm.build_performance_model("nvidia-h100-sxm", "llama-3.1-70b", "bf16", {"tensor": 8})
    fab = ScaleUpFabric(pm)
    hop = 0.037e-3 / 28                       # derived per-hop latency (catalog)
    step = 2 * hop                             # GPU -> NVSwitch -> GPU
    bus = 18 * 25e9                            # 18 NVLink4 links x 25 GB/s one-way = 450 GB/s
    nbytes = 64e6
    ring = 14 * step + 2 * 7 / 8 * nbytes / bus
    tree = 2 * 3 * step + 2 * nbytes / bus
    expected = 1.82e-5 + min(ring, tree)       # + fitted per-collective launch cost
    assert fab.allreduce_s(np.array([nbytes]), 8)[0] == pytest.approx(expected, rel=1e-9)
    # small messages: the tree's 6 steps beat the ring's 14
    small = fab.allreduce_s(np.array([4096.0]), 8)[0]
    assert small == pytest.approx(1.82e-5 + 6 * step + 2 * 4096 / bus, rel=1e-9)


def test_gpu_replica_spanning_nodes_uses_scale_out() -> None:
    one_node = hm.build_performance_model("nvidia-h100-sxm", "llama-3.1-405b", "fp8", {"tensor": 8})
    two_nodes = hm.build_performance_model("nvidia-h100-sxm", "llama-3.1-405b", "fp8", {"tensor": 16})
    w = BatchWork.from_requests(np.full(1, 512.0), np.zeros(1))
    assert two_nodes.comm_s(w)[0] > one_node.comm_s(w)[0]


# ---------------------------------------------------------------- TPU: torus hop counts
def test_torus_hops_with_wraparound() -> None:
    assert torus_diameter_hops((4, 4), (True, True)) == 4       # 2 + 2
    assert torus_diameter_hops((4, 4), (False, False)) == 6     # 3 + 3
    assert torus_diameter_hops((4, 4, 4), (True, True, True)) == 6
    assert torus_diameter_hops((4, 4, 4), (False, False, False)) == 9
    # v5e (2D, 16x16 pod): a 4x4 slice has no wrap-around, a full 16-long axis does
    assert default_wraparound((4, 4), 16, cube=False) == (False, False)
    assert default_wraparound((16, 16), 16, cube=False) == (True, True)
    # v4/v5p (3D): axes that are multiples of 4 have wrap-around
    assert default_wraparound((4, 4, 4), 16, cube=True) == (True, True, True)
    pm = hm.build_performance_model("google-tpu-v5e", "llama-3.1-8b", "bf16", {"tensor": 16, "slice": "4x4"})
    assert pm.diameter_hops == 6
    pm3 = hm.build_performance_model("google-tpu-v4", "llama-3.1-70b", "bf16", {"tensor": 64, "slice": "4x4x4"})
    assert pm3.diameter_hops == 6


def test_torus_allreduce_by_hand() -> None:
    # 4x4 with wrap-around, 45 GB/s links, 1 us hops, 1 MB: per axis 2*(3 hops*1us + 3/4 * share / 90 GB/s)
    b = 1e6
    axis1 = 2 * (3e-6 + 0.75 * b / 90e9)
    axis2 = 2 * (3e-6 + 0.75 * (b / 4) / 90e9)
    got = torus_allreduce_s(np.array([b]), (4, 4), (True, True), 45e9, 1e-6)[0]
    assert got == pytest.approx(axis1 + axis2, rel=1e-12)


# ---------------------------------------------------------------- wafer: systems a 70B model needs
def test_cs3_llama70b_bf16_needs_four_systems() -> None:
    with pytest.raises(DoesNotFitError, match="needs at least 4 cerebras-cs3"):
        hm.build_performance_model("cerebras-cs3", "llama-3.1-70b", "bf16", {"pipeline": 3})
    pm = hm.build_performance_model("cerebras-cs3", "llama-3.1-70b", "bf16", {"pipeline": 4})
    assert pm.devices == 4
    # KV competes with weights for SRAM: 4 x 39.6 GB usable - 141 GB weights, at 320 KiB per token
    weights = TransformerCost(hm.get_model("llama-3.1-70b"), "bf16").total_weight_bytes
    assert pm.kv_capacity_tokens == int((4 * 44e9 * 0.9 - weights) // (2 * 80 * 8 * 128 * 2))
    streamed = hm.build_performance_model("cerebras-cs3", "llama-3.1-70b", "bf16",
                                          {"pipeline": 1, "weight_streaming": True})
    w = BatchWork.from_requests(np.ones(1), np.full(1, 100.0))
    assert streamed.iteration_time_s(w)[0] > 10 * pm.iteration_time_s(w)[0]


def test_wafer_fabric_traversal_by_hand() -> None:
    pm = hm.build_performance_model("cerebras-cs3", "llama-3.1-8b", "bf16", {"pipeline": 1})
    assert pm.hop_chain_s() == pytest.approx(32 * 18.3 * math.sqrt(900000) * 1e-9)


# ---------------------------------------------------------------- Groq: SRAM-only chip count
def test_groq_chip_count_for_weights() -> None:
    weights = TransformerCost(hm.get_model("llama-2-70b"), "int8").total_weight_bytes
    need = math.ceil(weights / (230e6 * 0.9))
    with pytest.raises(DoesNotFitError, match=f"needs at least {need} groq-lpu"):
        hm.build_performance_model("groq-lpu", "llama-2-70b", "int8", {"pipeline": need - 1})
    hm.build_performance_model("groq-lpu", "llama-2-70b", "int8", {"pipeline": need + 8})


# ---------------------------------------------------------------- FPGA: latency = depth x stage time
def test_fpga_latency_is_depth_times_stage_time() -> None:
    pm = hm.build_performance_model("amd-alveo-u55c", "llama-2-7b", "int8", {"pipeline": 2})
    w = BatchWork.from_requests(np.ones(4), np.full(4, 256.0))
    stage = pm.stage_time_s(w)[0]
    expected = 32 * stage + pm.transfer_s(w)[0] + pm.per_step_overhead_s
    assert pm.iteration_time_s(w)[0] == pytest.approx(expected, rel=1e-12)
    assert pm.initiation_interval_s(w)[0] == pytest.approx(16 * stage, rel=1e-12)
    # one card at batch 1: the stage time is one layer's int8 weights over 460 GB/s x 0.69 (memory-bound)
    one = hm.build_performance_model("amd-alveo-u55c", "llama-2-7b", "int8", {})
    w1 = BatchWork.from_requests(np.ones(1), np.zeros(1))
    c = TransformerCost(hm.get_model("llama-2-7b"), "int8").iteration(w1)
    mem = c.bytes[0] / (460e9 * 0.69) / 32
    assert one.stage_time_s(w1)[0] >= mem


# ---------------------------------------------------------------- Gaudi: all-reduce on direct RoCE links
def test_gaudi3_tp8_allreduce_direct_links() -> None:
    pm = hm.build_performance_model("intel-gaudi3", "llama-3.1-70b", "bf16", {"tensor": 8})
    t = 256.0
    w = BatchWork.from_requests(np.full(1, t), np.zeros(1))
    nbytes = t * 8192 * 2
    bus = 21 * 25e9 * 0.8
    ring = 14 * 3e-6 + 1.75 * nbytes / bus
    tree = 6 * 3e-6 + 2 * nbytes / bus
    launch = 1.82e-5  # each collective's launch and synchronisation (the family's, as on the GPUs)
    assert pm.comm_s(w)[0] == pytest.approx(160 * (launch + min(ring, tree)), rel=1e-9)


def test_expert_gemm_fraction_prices_only_the_expert_flops() -> None:
    """A MoE prefill costs the expert FLOPs over expert_gemm_fraction: hand-worked against the catalog factors."""
    acc = hm.get_accelerator("nvidia-h100-sxm")
    f = acc.efficiency("expert_gemm_fraction")
    assert 0.0 < f < 1.0
    pm = hm.build_performance_model("nvidia-h100-sxm", "mixtral-8x7b", "fp8", {"tensor": 1})
    c = param_counts(hm.get_model("mixtral-8x7b"))
    expert_flops_per_token = 2.0 * 32 * 2 * c.mlp_per_expert  # 32 layers, 2 of 8 experts per token
    assert pm.cost.expert_flops_per_token == expert_flops_per_token
    # a long prefill is compute-bound: the extra time is the extra expert FLOPs at the dense FP8 rate
    t = 8192.0
    work = BatchWork(np.array([t]), np.array([1.0]), np.array([0.0]), np.array([t * (t + 1) / 2]))
    rate = acc.peak_flops_per_s("fp8") * acc.compute_fraction("fp8")
    plain = hm.build_performance_model("nvidia-h100-sxm", "mixtral-8x7b", "fp8", {"tensor": 1})
    plain._expert_extra_flops_per_token = 0.0  # the same model with expert GEMMs at the dense rate
    extra_s = pm.iteration_time_s(work)[0] - plain.iteration_time_s(work)[0]
    assert extra_s == pytest.approx(t * expert_flops_per_token * (1 / f - 1) / rate, rel=0.02)
    # the lower bound (100% of peak, true FLOPs) is not touched by an efficiency factor
    assert pm.lower_bound_s(work)[0] == plain.lower_bound_s(work)[0]


def test_dense_models_have_no_expert_term() -> None:
    pm = hm.build_performance_model("nvidia-h100-sxm", "llama-3.1-8b", "fp8", {"tensor": 1})
    assert pm.cost.expert_flops_per_token == 0.0 and pm._expert_extra_flops_per_token == 0.0
