"""The expert_gemm_fraction fit tool: its rows load as scenarios and its override reaches the GPU models only."""

from __future__ import annotations

from unittest import mock

import hardware_models as hm
from experiments import load_scenario
from experiments.fit_expert_gemm import FIT_ROWS, KEY, scenario
from hardware_models.catalog import Accelerator


def test_fit_rows_are_valid_scenarios() -> None:
    for (i, o), (published, requests, max_batch, max_tokens) in FIT_ROWS.items():
        sc = load_scenario(scenario(i, o, requests, max_batch, max_tokens))
        assert sc.model == "mixtral-8x7b" and published > 0
        assert sc.fleet.pools[0].scheduler.max_batch_requests == max_batch


def test_override_changes_the_gpu_expert_term_only() -> None:
    catalog_value = Accelerator.efficiency

    def efficiency(acc: Accelerator, key: str) -> float:
        return 0.5 if key == KEY and acc.family == "gpu" else catalog_value(acc, key)

    with mock.patch.object(Accelerator, "efficiency", efficiency):
        gpu = hm.build_performance_model("nvidia-h100-sxm", "mixtral-8x7b", "fp8", {"tensor": 2})
        tpu = hm.build_performance_model("google-tpu-v5p", "mixtral-8x7b", "bf16", {"tensor": 4})
    assert gpu._expert_extra_flops_per_token == gpu.cost.expert_flops_per_token  # 1/0.5 - 1 = 1
    assert tpu._expert_extra_flops_per_token == 0.0  # the TPU family keeps 1.0
