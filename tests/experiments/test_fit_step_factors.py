"""The catalog's step-level factors of the SKUs with their own measurements sit at the least-squares optimum of
their step-level cases under the current cost model (``python -m experiments.fit_step_factors``): a change to the
cost model that moves the optimum shows as a catalog that no longer fits."""

from __future__ import annotations

import pytest

from experiments.fit_step_factors import cases_for, fit, log_errors, rms


@pytest.mark.parametrize("hardware", ["nvidia-h100-sxm", "nvidia-a100-80gb"])
def test_catalog_factors_are_at_the_fit_of_their_step_level_cases(hardware: str) -> None:
    cases = cases_for(hardware)
    catalog, fitted = fit(hardware, cases)
    at_catalog, at_fit = rms(log_errors(hardware, catalog, cases)), rms(log_errors(hardware, fitted, cases))
    assert at_catalog - at_fit < 0.002, (hardware, at_catalog, at_fit, fitted)  # RMS of log error, ~0.2%
