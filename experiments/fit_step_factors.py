"""Re-fit a SKU's step-level efficiency factors (not a test): least squares on the log error of its cases in
``experiments/validation/step_level.yaml``, every other catalog number fixed.

The factors and their bounds (``BOUNDS``): achieved fractions of peak memory bandwidth and of peak FLOPs (16-bit and
FP8), the fixed per-step and per-layer overheads, the collective launch time and the roofline blend exponent. The
memory fraction is bounded above by the SKU's measured stream bandwidth over its peak where published.md has one
(H100: 3.18 / 3.35 TB/s), and the blend exponent below by 1.5 (softer blends double-count near the ridge point).
L-BFGS-B starts from the catalog's values; a factor none of the SKU's cases depends on (FP8 on an A100, the
collective launch without a multi-device case) stays where it started. The script prints the fitted values beside
the catalog's and each case's error at both, so a change to the cost model that leaves the catalog off its fit
shows here (``tests/experiments/test_fit_step_factors.py`` checks that it does not).

    python -m experiments.fit_step_factors [HARDWARE]
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import yaml
from scipy.optimize import minimize

from hardware_models.calibration import evaluate_case
from hardware_models.catalog import Accelerator, get_accelerator

CASES_PATH = Path(__file__).resolve().parent / "validation" / "step_level.yaml"

#: factor -> (lower, upper) bound of the fit
BOUNDS: dict[str, tuple[float, float]] = {
    "memory_bandwidth_fraction": (0.5, 0.95),
    "compute_fraction": (0.2, 1.0),
    "compute_fraction_fp8": (0.2, 1.0),
    "per_step_overhead_s": (0.0, 0.02),
    "per_layer_overhead_s": (0.0, 5e-4),
    "collective_launch_s": (0.0, 2e-4),
    "roofline_blend_exponent": (1.5, 8.0),
}
#: upper bound of the memory fraction from a measured stream bandwidth (published.md), per SKU
STREAM_BOUND: dict[str, float] = {"nvidia-h100-sxm": 3.18 / 3.35}


def cases_for(hardware: str) -> list[dict[str, Any]]:
    return [c for c in yaml.safe_load(CASES_PATH.read_text()) if c["step"]["hardware"] == hardware]


def log_errors(hardware: str, factors: dict[str, float], cases: list[dict[str, Any]]) -> dict[str, float]:
    """log(predicted / published) per case with ``factors`` in place of the SKU's catalog values."""
    catalog_value: Callable[[Accelerator, str], float] = Accelerator.efficiency

    def efficiency(acc: Accelerator, key: str) -> float:
        return factors[key] if acc.name == hardware and key in factors else catalog_value(acc, key)

    with mock.patch.object(Accelerator, "efficiency", efficiency):
        return {c["id"]: math.log(r["predicted"] / r["expected"]) for c in cases for r in [evaluate_case(c)]}


def rms(errors: dict[str, float]) -> float:
    return math.sqrt(sum(e * e for e in errors.values()) / len(errors))


def fit(hardware: str, cases: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    """(catalog values, fitted values) of every factor in ``BOUNDS``, fitted to ``cases`` (the SKU's)."""
    acc = get_accelerator(hardware)
    names = list(BOUNDS)
    catalog = {k: acc.efficiency(k) for k in names}
    bounds = [BOUNDS[k] if k != "memory_bandwidth_fraction" else (BOUNDS[k][0], STREAM_BOUND.get(hardware, 1.0))
              for k in names]
    scale = np.array([max(abs(catalog[k]), 1e-6) for k in names])  # the minimiser works on values / catalog

    def objective(x: np.ndarray) -> float:
        return rms(log_errors(hardware, dict(zip(names, x * scale)), cases))

    start = np.array([min(max(catalog[k], lo), hi) for k, (lo, hi) in zip(names, bounds)]) / scale
    res = minimize(objective, start, method="L-BFGS-B",
                   bounds=[(lo / s, hi / s) for (lo, hi), s in zip(bounds, scale)])
    return catalog, dict(zip(names, res.x * scale))


def main() -> None:
    hardware = sys.argv[1] if len(sys.argv) > 1 else "nvidia-h100-sxm"
    cases = cases_for(hardware)
    if not cases:
        raise SystemExit(f"no step-level case names hardware {hardware!r}")
    catalog, fitted = fit(hardware, cases)
    at_catalog, at_fit = log_errors(hardware, catalog, cases), log_errors(hardware, fitted, cases)
    print(f"{hardware}: {len(cases)} step-level cases")
    print(f"{'factor':28s} {'catalog':>12s} {'fitted':>12s}")
    for k in BOUNDS:
        print(f"{k:28s} {catalog[k]:12.4g} {fitted[k]:12.4g}")
    print(f"{'case':48s} {'catalog':>8s} {'fitted':>8s}")
    for cid in at_catalog:
        print(f"{cid:48s} {math.expm1(at_catalog[cid]):+8.1%} {math.expm1(at_fit[cid]):+8.1%}")
    print(f"rms log error: catalog {rms(at_catalog):.4f}, fitted {rms(at_fit):.4f}")


if __name__ == "__main__":
    main()
