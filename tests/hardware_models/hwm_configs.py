"""Shared fixtures: one configuration that fits for every catalog SKU."""

from __future__ import annotations

# (hardware, model, precision, parallelism): one replica per SKU that fits, covering every family
SKU_CONFIGS: dict[str, tuple[str, str, dict]] = {
    "nvidia-a100-80gb": ("llama-2-7b", "fp16", {}),
    "nvidia-h100-sxm": ("llama-3.1-8b", "fp8", {}),
    "nvidia-h200": ("llama-3.1-70b", "fp8", {"tensor": 2}),
    "nvidia-b200": ("llama-3.1-70b", "bf16", {"tensor": 2}),
    "amd-mi300x": ("mixtral-8x7b", "fp8", {"tensor": 2, "expert": 2}),
    "intel-gaudi2": ("llama-2-7b", "bf16", {}),
    "intel-gaudi3": ("mixtral-8x7b", "bf16", {"tensor": 2, "expert": 2}),
    "google-tpu-v4": ("llama-2-7b", "bf16", {"tensor": 4, "slice": "1x2x2"}),
    "google-tpu-v5e": ("llama-2-7b", "bf16", {"tensor": 4, "slice": "2x2"}),
    "google-tpu-v5p": ("llama-3.1-70b", "bf16", {"tensor": 4}),
    "google-tpu-v6e": ("llama-3.1-8b", "int8", {}),
    "cerebras-cs2": ("llama-3.1-8b", "fp16", {"pipeline": 1}),
    "cerebras-cs3": ("llama-3.1-70b", "bf16", {"pipeline": 4}),
    "groq-lpu": ("llama-3.1-8b", "int8", {"pipeline": 64}),
    "amd-alveo-u55c": ("llama-2-7b", "int8", {}),
    "amd-alveo-v80": ("llama-3.1-8b", "int8", {"pipeline": 2}),
}


def _layout_candidates(family: str) -> list[dict]:
    """Parallelism layouts worth trying per family (the ones that do not fit are skipped by the caller)."""
    if family in ("gpu", "gaudi"):
        out = [{}]
        for tp in (2, 4, 8, 16):
            out.append({"tensor": tp})
        out += [{"pipeline": 2}, {"pipeline": 4}, {"tensor": 2, "pipeline": 2}, {"tensor": 8, "pipeline": 2},
                {"tensor": 4, "pipeline": 4}, {"expert": 2}, {"expert": 8}, {"expert": 16},
                {"tensor": 2, "expert": 2}, {"tensor": 2, "expert": 4, "pipeline": 2}]
        return out
    if family == "tpu":
        return [{}, {"tensor": 4}, {"tensor": 4, "slice": "2x2"}, {"tensor": 4, "slice": "1x4"},
                {"tensor": 8}, {"tensor": 16, "slice": "4x4"}, {"tensor": 16, "slice": "2x8"},
                {"tensor": 64, "slice": "4x4x4"}, {"tensor": 4, "slice": "1x2x2"}, {"tensor": 16},
                {"pipeline": 2}, {"tensor": 4, "pipeline": 2}, {"expert": 4}, {"tensor": 2, "expert": 4},
                {"tensor": 8, "pipeline": 2, "slice": "4x4"}, {"tensor": 256, "slice": "16x16"}]
    if family == "wafer":
        return [{}, {"pipeline": 2}, {"pipeline": 4}, {"pipeline": 8}, {"weight_streaming": True},
                {"pipeline": 2, "weight_streaming": True}]
    if family == "lpu":
        return [{"pipeline": 16}, {"pipeline": 64}, {"pipeline": 128}, {"pipeline": 576},
                {"tensor": 2, "pipeline": 64}, {"tensor": 8, "pipeline": 72}]
    if family == "fpga":
        return [{}, {"pipeline": 2}, {"pipeline": 3}, {"pipeline": 4}, {"pipeline": 8}, {"pipeline": 16}]
    raise ValueError(family)


def layout_configs(max_per_sku: int | None = None) -> list[tuple[str, str, str, dict]]:
    """(hardware, model, precision, parallelism) for every SKU across models, precisions and layouts that fit.

    Deterministic; covers dense and MoE models, tensor > 1 inside and beyond a scale-up domain, pipelines,
    expert parallelism, TPU slices, multi-system wafers, weight streaming, LPU chip pipelines and FPGA chains.
    """
    import hardware_models as hm

    out: list[tuple[str, str, str, dict]] = []
    for sku in hm.list_accelerators():
        family = hm.get_accelerator(sku).family
        found: list[tuple[str, str, str, dict]] = []
        for model in hm.list_models():
            for precision in ("bf16", "fp8", "int8", "int4"):
                for par in _layout_candidates(family):
                    try:
                        hm.build_performance_model(sku, model, precision, par)
                    except ValueError:  # DoesNotFitError, unsupported precision or layout
                        continue
                    found.append((sku, model, precision, par))
        if max_per_sku is not None and len(found) > max_per_sku:
            step = len(found) / max_per_sku
            found = [found[int(i * step)] for i in range(max_per_sku)]
        out += found
    # a rare kind the thinning above may skip: expert parallelism beyond the NVLink domain (128 experts / 16)
    out.append(("nvidia-h100-sxm", "qwen3-30b-a3b", "fp8", {"expert": 16}))
    return out


def random_aggregates(seed: int, n: int):
    """``n`` iterations' aggregates as the engine forms them (integer-valued floats; attention pairs may be
    a half-integer), from single decodes to long prefill chunks over long contexts; a few empty iterations.

    Returns four float64 arrays: new_tokens, requests, kv_read_tokens, attention_pairs.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    requests = np.floor(np.exp(rng.uniform(0.0, np.log(1024.0), n)))
    decoders = np.floor(rng.uniform(0.0, 1.0, n) * requests)
    prefill_tokens = np.floor(np.exp(rng.uniform(0.0, np.log(16384.0), n)))
    prefill_tokens = np.where(decoders < requests, prefill_tokens, 0.0)
    new_tokens = decoders + prefill_tokens
    context = np.floor(np.exp(rng.uniform(0.0, np.log(4.0e6), n)))
    kv_read = context + new_tokens
    # decoders: one query over its context; prefill chunk of c tokens over its context: c*(ctx + (c+1)/2)
    pairs = (decoders * 1.0 + np.floor(context * rng.uniform(0.0, 1.0, n))
             + prefill_tokens * (prefill_tokens + 1.0) / 2.0)
    pairs = pairs + 0.5 * (rng.uniform(0.0, 1.0, n) < 0.3)  # the engine's float sums may end in .5
    empty = rng.uniform(0.0, 1.0, n) < 0.01
    new_tokens[empty] = 0.0
    requests[empty] = 0.0
    kv_read[empty] = 0.0
    pairs[empty] = 0.0
    return new_tokens, requests, kv_read, pairs
