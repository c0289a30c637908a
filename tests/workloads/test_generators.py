"""Synthetic processes and distributions against theory, with tolerances from the sample size (4 standard errors)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from pydantic import TypeAdapter
from scipy import stats

from wl_helpers import arrivals
from workloads.distributions import Distribution, TimeDistribution, TokenDistribution
from workloads.processes import Weibull, weibull_cv

Z = 4.0
N = 200_000


def cv_standard_error(dist: stats.rv_continuous, n: int) -> float:
    """Delta-method standard error of the sample coefficient of variation of ``n`` iid draws."""
    m = dist.mean()
    raw = [dist.moment(k) for k in (1, 2, 3, 4)]
    var = raw[1] - m**2
    mu3 = raw[2] - 3 * m * raw[1] + 2 * m**3
    mu4 = raw[3] - 4 * m * raw[2] + 6 * m**2 * raw[1] - 3 * m**4
    s = math.sqrt(var)
    grad = np.array([-s / m**2, 1 / (2 * m * s)])
    cov = np.array([[var, mu3], [mu3, mu4 - var**2]]) / n
    return float(math.sqrt(grad @ cov @ grad))


def gaps_of(arrival: dict, n: int = N, seed: int = 3) -> np.ndarray:
    times = arrivals({"arrival": arrival}, seed=seed, max_requests=n)
    return np.diff(np.concatenate(([0.0], times)))


@pytest.mark.parametrize(
    "arrival, dist",
    [
        ({"type": "poisson", "rate_per_s": 40.0}, stats.expon(scale=1 / 40)),
        ({"type": "gamma", "rate_per_s": 5.0, "cv": 2.0}, stats.gamma(0.25, scale=1 / (5 * 0.25))),
        ({"type": "gamma", "rate_per_s": 5.0, "cv": 0.5}, stats.gamma(4.0, scale=1 / (5 * 4.0))),
        ({"type": "weibull", "rate_per_s": 3.0, "shape": 0.7},
         stats.weibull_min(0.7, scale=1 / (3 * math.gamma(1 + 1 / 0.7)))),
        ({"type": "weibull", "rate_per_s": 3.0, "shape": 2.0},
         stats.weibull_min(2.0, scale=1 / (3 * math.gamma(1.5)))),
    ],
)
def test_renewal_rate_and_cv(arrival: dict, dist: stats.rv_continuous) -> None:
    gaps = gaps_of(arrival)
    mean_gap, sd = dist.mean(), dist.std()
    assert abs(gaps.mean() - mean_gap) < Z * sd / math.sqrt(N)  # the rate
    cv = gaps.std() / gaps.mean()
    assert abs(cv - sd / mean_gap) < Z * cv_standard_error(dist, N)


def test_weibull_moments_and_cv_parameter() -> None:
    spec = Weibull(type="weibull", rate_per_s=2.0, cv=1.8)
    assert weibull_cv(spec.k) == pytest.approx(1.8, rel=1e-6)
    dist = stats.weibull_min(spec.k, scale=spec.scale_s)
    assert dist.mean() == pytest.approx(0.5)
    gaps = gaps_of({"type": "weibull", "rate_per_s": 2.0, "cv": 1.8})
    for k in (2, 3):  # raw moments, standard error from the 2k-th moment
        se = math.sqrt((dist.moment(2 * k) - dist.moment(k) ** 2) / N)
        assert abs(np.mean(gaps**k) - dist.moment(k)) < Z * se
    with pytest.raises(ValueError, match="exactly one of shape or cv"):
        Weibull(type="weibull", rate_per_s=1.0)


def test_periodic_is_deterministic() -> None:
    gaps = gaps_of({"type": "periodic", "rate_per_s": 8.0}, n=10_000)
    assert np.allclose(gaps, 0.125)


def count_band(rate: float, duration: float) -> float:
    return Z * math.sqrt(rate * duration)


def test_mmpp_rate_and_count_dispersion() -> None:
    rates, sojourn = np.array([20.0, 1.0]), np.array([5.0, 15.0])
    arrival = {"type": "mmpp", "rates_per_s": rates.tolist(), "mean_sojourn_s": sojourn.tolist()}
    window, windows = 200.0, 600
    times = arrivals({"arrival": arrival}, seed=5, until_s=window * windows)
    counts = np.histogram(times, bins=windows, range=(0, window * windows))[0]
    shares = sojourn / sojourn.sum()
    mean_rate = float(shares @ rates)
    kappa = float((1 / sojourn).sum())
    var_rate = shares[0] * shares[1] * (rates[0] - rates[1]) ** 2
    var_count = mean_rate * window + 2 * var_rate / kappa**2 * (kappa * window - 1 + math.exp(-kappa * window))
    assert abs(counts.mean() - mean_rate * window) < Z * math.sqrt(var_count / windows)
    assert abs(counts.var(ddof=1) - var_count) < Z * var_count * math.sqrt(2 / (windows - 1))
    gaps = np.diff(times)
    assert gaps.std() / gaps.mean() > 1.5  # on/off bursts


def test_mmpp_validation() -> None:
    with pytest.raises(ValueError, match="one entry per state"):
        arrivals({"arrival": {"type": "mmpp", "rates_per_s": [1, 2], "mean_sojourn_s": [1, 2, 3]}}, until_s=1)


def expected_counts(rate_at, edges: np.ndarray, cycles: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    fine = np.linspace(edges[0], edges[-1], (edges.size - 1) * 200 + 1)
    mid = (fine[1:] + fine[:-1]) / 2
    per_bin = (rate_at(mid) * np.diff(fine)).reshape(edges.size - 1, 200).sum(axis=1)
    return per_bin * cycles


def test_diurnal_rate_profile() -> None:
    arrival = {"type": "diurnal", "mean_rate_per_s": 2.0, "amplitude": 0.8, "period_s": 3600.0, "peak_s": 900.0}
    cycles = 20
    times = arrivals({"arrival": arrival}, seed=7, until_s=3600.0 * cycles)
    edges = np.linspace(0, 3600, 25)
    observed = np.histogram(times % 3600.0, bins=edges)[0]
    from workloads.processes import Diurnal

    spec = Diurnal(**arrival)
    expected = expected_counts(spec.rate_at, edges, cycles)
    assert np.all(np.abs(observed - expected) < Z * np.sqrt(expected))
    assert np.argmax(observed) in (5, 6)  # the bins around the peak at 900 s
    assert abs(times.size - 2.0 * 3600 * cycles) < count_band(2.0, 3600 * cycles)


def test_piecewise_rate_profile() -> None:
    arrival = {"type": "piecewise", "rates_per_s": [1.0, 10.0, 0.0, 4.0], "durations_s": [100, 50, 30, 20]}
    cycles = 100
    times = arrivals({"arrival": arrival}, seed=8, until_s=200.0 * cycles)
    edges = np.array([0, 100, 150, 180, 200.0])
    observed = np.histogram(times % 200.0, bins=edges)[0]
    expected = np.array([100.0, 500.0, 0.0, 80.0]) * cycles
    assert observed[2] == 0
    keep = expected > 0
    assert np.all(np.abs(observed[keep] - expected[keep]) < Z * np.sqrt(expected[keep]))


def test_spikes_add_bursts_on_top() -> None:
    arrival = {
        "type": "spikes",
        "base": {"type": "poisson", "rate_per_s": 5.0},
        "spikes": [{"at_s": 100.0, "duration_s": 10.0, "rate_per_s": 200.0}, {"at_s": 300.0, "duration_s": 5.0, "rate_per_s": 100.0}],
    }
    times = arrivals({"arrival": arrival}, seed=9, until_s=400.0)
    assert np.all(np.diff(times) >= 0)
    in_spike = ((times >= 100) & (times < 110)).sum()
    assert abs(in_spike - 2050) < count_band(205.0, 10.0)
    quiet = ((times >= 150) & (times < 290)).sum()
    assert abs(quiet - 700) < count_band(5.0, 140.0)
    assert abs(((times >= 300) & (times < 305)).sum() - 525) < count_band(105.0, 5.0)


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "fixed", "value": 3.5},
        {"type": "uniform", "low": 2.0, "high": 10.0},
        {"type": "exponential", "mean": 4.0},
        {"type": "lognormal", "mean": 1024.0, "sigma": 0.8},
        {"type": "gamma", "mean": 300.0, "cv": 1.5},
        {"type": "empirical", "values": [1.0, 2.0, 10.0]},
    ],
)
def test_distribution_means(spec: dict) -> None:
    dist = TypeAdapter(Distribution).validate_python(spec)
    draws = dist.sample(np.random.default_rng(11), N)
    se = dist.cv * dist.mean / math.sqrt(N)
    assert abs(draws.mean() - dist.mean) <= Z * se + 1e-12
    if dist.cv > 0:
        assert abs(draws.std() / draws.mean() - dist.cv) < 0.05 * dist.cv + 5 * dist.cv / math.sqrt(N)


@pytest.mark.parametrize(
    ("spec", "lowest"),
    [
        ({"type": "fixed", "value": 3.5}, 3.5),
        ({"type": "fixed", "value": 3.5, "max": 2}, 2.0),
        ({"type": "uniform", "low": -2.0, "high": 10.0}, -2.0),
        ({"type": "uniform", "low": -2.0, "high": 10.0, "min": 1}, 1.0),
        ({"type": "exponential", "mean": 4.0}, None),
        ({"type": "lognormal", "mean": 1024.0, "sigma": 0.8, "min": 48}, 48.0),
        ({"type": "gamma", "mean": 300.0, "cv": 1.5, "min": -3}, None),
        ({"type": "empirical", "values": [7.0, 2.0, 10.0]}, 2.0),
    ],
)
def test_lowest_is_the_smallest_clipped_draw(spec: dict, lowest: float | None) -> None:
    dist = TypeAdapter(Distribution).validate_python(spec)
    assert dist.lowest == lowest
    assert dist.sample(np.random.default_rng(3), 20_000).min() >= (lowest if lowest is not None else 0.0)


def test_time_and_token_distributions_reject_impossible_draws() -> None:
    times, tokens = TypeAdapter(TimeDistribution), TypeAdapter(TokenDistribution)
    assert times.validate_python({"type": "uniform", "low": 0, "high": 1}).lowest == 0
    assert tokens.validate_python({"type": "lognormal", "mean": 5, "sigma": 2}).lowest is None
    for adapter, spec, message in [
        (times, {"type": "fixed", "value": -1}, "can draw negative times (lowest -1)"),
        (times, {"type": "empirical", "values": [1, -0.1]}, "can draw negative times (lowest -0.1)"),
        (tokens, {"type": "uniform", "low": 0, "high": 9}, "can draw fewer than 1 token (lowest 0)"),
        (tokens, {"type": "lognormal", "mean": 5, "sigma": 2, "min": 0.5}, "can draw fewer than 1 token (lowest 0.5)"),
        (tokens, {"type": "empirical", "values": [5, 3e9]}, "can draw 3e+09 tokens"),
        (tokens, {"type": "uniform", "low": 1, "high": 3e9, "max": 4e9}, "can draw 3e+09 tokens"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            adapter.validate_python(spec)


def test_an_empirical_file_is_read_when_the_spec_is_made_and_its_bounds_are_checked_by_role(tmp_path) -> None:  # noqa: ANN001
    """A file's smallest and largest values are the law's support: a value no request may have is a load error
    naming the file, column and line (it used to surface only if a run happened to draw it)."""
    (tmp_path / "v.csv").write_text("t,note\n2,a\n\n-5,b\n7,c\n")
    spec = {"type": "empirical", "path": str(tmp_path / "v.csv"), "column": "t"}
    dist = TypeAdapter(Distribution).validate_python(spec)
    assert (dist.lowest, dist.highest, dist.mean) == (-5.0, 7.0, 4.0 / 3.0)
    where = re.escape(f"(lowest -5: {tmp_path / 'v.csv'} column 't' line 4)")  # line 3 is blank
    with pytest.raises(ValueError, match=r"can draw fewer than 1 token " + where):
        TypeAdapter(TokenDistribution).validate_python(spec)
    with pytest.raises(ValueError, match=r"can draw negative times " + where):
        TypeAdapter(TimeDistribution).validate_python(spec)
    assert TypeAdapter(TokenDistribution).validate_python({**spec, "min": 1}).lowest == 1.0  # clipped by min: valid
    (tmp_path / "big.csv").write_text("t\n5\n3000000000\n")
    with pytest.raises(ValueError, match=r"can draw 3e\+09 tokens \(.*big.csv column 't' line 3\)"):
        TypeAdapter(TokenDistribution).validate_python({**spec, "path": str(tmp_path / "big.csv")})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('t\n1\n"1,000"\n', "column 't' line 3: '1,000' is not a finite number"),
        ("t\n1\n2,3\n", "cannot read: Error tokenizing data. C error: Expected 1 fields in line 3, saw 2"),
        ("t\n1\n\n  \nabc\n", "column 't' line 5: 'abc' is not a finite number"),
        ("\ufefft\n1\nnan\n", "column 't' line 3: 'nan' is not a finite number"),
        ("t\n\n", "column 't' is empty"),
        ("u\n1\n", "no column 't'; columns are ['u']"),
    ],
)
def test_a_bad_empirical_file_is_named_with_its_line(tmp_path, text: str, message: str) -> None:  # noqa: ANN001
    (tmp_path / "v.csv").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(message)):
        TypeAdapter(Distribution).validate_python({"type": "empirical", "path": str(tmp_path / "v.csv"), "column": "t"})


def test_an_empirical_parquet_column_names_the_row_of_a_bad_value(tmp_path) -> None:  # noqa: ANN001
    import pandas as pd

    pd.DataFrame({"t": [3.0, 0.0, 4.0]}).to_parquet(tmp_path / "v.parquet")
    spec = {"type": "empirical", "path": str(tmp_path / "v.parquet"), "column": "t"}
    with pytest.raises(ValueError, match=r"lowest 0: .*v.parquet column 't' row 2\)"):
        TypeAdapter(TokenDistribution).validate_python(spec)


def test_a_draw_above_the_token_limit_is_an_error_not_a_clamp() -> None:
    from workloads.distributions import sample_lengths

    huge = TypeAdapter(Distribution).validate_python({"type": "lognormal", "mean": 1e15, "sigma": 1})
    with pytest.raises(ValueError, match=r"the lognormal token-count distribution drew .*; token counts must be in"):
        sample_lengths(huge, np.random.default_rng(1), 100)
