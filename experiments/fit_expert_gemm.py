"""Re-fit the GPU family's ``expert_gemm_fraction`` (not a test): the rate of the grouped expert GEMMs of a
mixture-of-experts model relative to a dense GEMM at the same precision.

Measurement: NVIDIA/TensorRT-LLM v0.14.0 docs/source/performance/perf-overview.md ("All data in the table below was
generated using version 0.14.0"), trtllm-bench throughput at max load, Mixtral-8x7B FP8 on two H100 SXM 80GB (TP2).
The fit uses the three prefill-heavy rows, where the expert GEMMs run at large token counts and dominate the time;
the table's six other rows are validation cases (experiments/validation/serving_level.yaml). Each row runs with the
engine limits trtllm-bench 0.14's ``build --dataset`` took from its fixed table (tensorrt_llm/bench/build/build.py at
b0880169, the v0.14.0 commit, reads benchmark_config.yml): mistralai/Mixtral-8x7B-v0.1 tp2_pp1 general,
max_batch_size 2048 and max_num_tokens 3072 (benchmark_config.yml at 8fcf9fc2, the latest stored copy), every
other H100 factor fixed.
The factor minimises the root-mean-square log error of the output-token throughput (golden-section search).

    python -m experiments.fit_expert_gemm
"""

from __future__ import annotations

import math
from unittest import mock

from experiments import load_scenario, run
from experiments.validation import SCENARIO_METRICS
from hardware_models.catalog import Accelerator

#: (input, output) tokens -> (published output tokens/s, requests, max_batch_size, max_num_tokens)
FIT_ROWS: dict[tuple[int, int], tuple[float, int, int, int]] = {
    (2048, 128): (2883.5166, 3000, 2048, 3072),
    (5000, 500): (3563.8228, 1500, 2048, 3072),
    (20000, 2000): (1659.5907, 1000, 2048, 3072),
}
KEY = "expert_gemm_fraction"


def scenario(input_tokens: int, output_tokens: int, requests: int, max_batch: int, max_tokens: int) -> dict:
    return {
        "name": f"fit-mixtral-tp2-{input_tokens}-{output_tokens}",
        "seed": 1,
        "horizon": {"requests": requests},
        "model": "mixtral-8x7b",
        "precision": "fp8",
        "workload": {
            "arrival": {"type": "offline"},
            "input_tokens": {"type": "fixed", "value": input_tokens},
            "output_tokens": {"type": "fixed", "value": output_tokens},
        },
        "fleet": {"pools": [{
            "name": "h100", "hardware": "nvidia-h100-sxm", "parallelism": {"tensor": 2}, "replicas": 1,
            "scheduler": {"type": "chunked_prefill", "max_batch_requests": max_batch, "max_batch_tokens": max_tokens,
                          "admission": "full_sequence"},
        }]},
    }


def relative_errors(fraction: float) -> dict[tuple[int, int], float]:
    """Predicted / published - 1 per fit row, with the GPU family's factor set to ``fraction``."""
    catalog_value = Accelerator.efficiency

    def efficiency(acc: Accelerator, key: str) -> float:
        return fraction if key == KEY and acc.family == "gpu" else catalog_value(acc, key)

    errors = {}
    with mock.patch.object(Accelerator, "efficiency", efficiency):
        for (i, o), (published, requests, max_batch, max_tokens) in FIT_ROWS.items():
            sc = load_scenario(scenario(i, o, requests, max_batch, max_tokens))
            predicted = SCENARIO_METRICS["output_tokens_per_s"](run(sc).requests, sc.warmup_s)
            errors[(i, o)] = predicted / published - 1.0
    return errors


def rms_log(errors: dict[tuple[int, int], float]) -> float:
    return math.sqrt(sum(math.log1p(e) ** 2 for e in errors.values()) / len(errors))


def rms_log_error(fraction: float) -> float:
    return rms_log(relative_errors(fraction))


def fit(lo: float = 0.5, hi: float = 1.0, tol: float = 0.005) -> float:
    """Golden-section minimum of the RMS log error on [lo, hi] (the error is unimodal in the factor)."""
    g = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = rms_log_error(c), rms_log_error(d)
    while b - a > tol:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = rms_log_error(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = rms_log_error(d)
    return (a + b) / 2.0


def main() -> None:
    best = fit()
    for fraction in (1.0, round(best, 2)):
        errs = relative_errors(fraction)
        rows = ", ".join(f"{i}/{o} {e:+.1%}" for (i, o), e in errs.items())
        print(f"{KEY} = {fraction:.3f}: {rows}; rms log error {rms_log(errs):.4f}")
    print(f"best fit {best:.3f} (catalog value: the GPU family's {KEY})")


if __name__ == "__main__":
    main()
