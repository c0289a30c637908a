"""Energy and cost: hand-computed cases for each pricing basis (cloud, owned, none) and the per-unit figures."""

from __future__ import annotations

import math

import pytest

from sim.cost import CostParams, PoolPricing, cost_summary, pool_cost, pool_energy_kwh

HOUR = 3600.0
DAY = 86400.0
YEAR = 365.25 * DAY  # a Julian year, the amortisation unit
KWH = 3.6e6  # joules


def sku(pool: str = "p", devices: int = 8, idle_w: float = 100.0, busy_w: float = 700.0,
        hourly: float | None = None, purchase: float | None = None) -> PoolPricing:
    return PoolPricing(pool=pool, hardware=f"hw-{pool}", devices=devices, idle_w=idle_w, busy_w=busy_w,
                       usd_per_device_hour=hourly, purchase_usd=purchase)


def params(pricing: str, pue: float = 1.25, electricity: float = 0.10, years: float = 3.0) -> CostParams:
    return CostParams(electricity_usd_per_kwh=electricity, pue=pue, amortization_years=years, pricing=pricing)


def exact(value: float) -> object:
    """Equal up to floating-point rounding of the code's differently ordered arithmetic."""
    return pytest.approx(value, rel=1e-12, abs=0.0)


# ---- energy ------------------------------------------------------------------------------------------

def test_energy_interpolates_idle_to_busy_power_and_multiplies_by_pue() -> None:
    p = sku(devices=8, idle_w=100.0, busy_w=700.0)
    # 8 devices x (100 + 0.5 x 600) W = 3200 W for 30 min = 1.6 kWh at the device, x 1.25 facility
    assert pool_energy_kwh(p, 0.5, 1800.0, pue=1.0) == exact(1.6)
    assert pool_energy_kwh(p, 0.5, 1800.0, pue=1.25) == exact(2.0)
    assert pool_energy_kwh(p, 0.5, 1800.0, pue=2.0) == exact(3.2)


@pytest.mark.parametrize(("utilisation", "watts_per_device"),
                         [(0.0, 100.0), (1.0, 700.0), (math.nan, 100.0), (-0.5, 100.0), (1.5, 700.0)])
def test_utilisation_outside_0_1_or_unknown_is_clamped(utilisation: float, watts_per_device: float) -> None:
    p = sku(devices=2, idle_w=100.0, busy_w=700.0)
    assert pool_energy_kwh(p, utilisation, HOUR, pue=1.0) == exact(2 * watts_per_device * HOUR / KWH)


# ---- one pool per basis ------------------------------------------------------------------------------

def test_cloud_is_device_hours_times_the_hourly_price() -> None:
    p = sku(devices=8, hourly=2.5, purchase=30_000.0)
    c = pool_cost(p, 0.5, 1800.0, params("cloud"))
    assert c["basis"] == "cloud"
    assert c["device_hours"] == exact(4.0)
    assert c["usd"] == exact(10.0)  # 4 device-hours x $2.50; power is in the price, not added
    assert c["energy_kwh"] == exact(2.0)  # still reported: 3200 W x 0.5 h x PUE 1.25
    assert c["usd_per_month"] == exact(10.0 / 1800.0 * YEAR / 12)
    assert (c["hardware"], c["devices"]) == ("hw-p", 8)


def test_owned_is_amortised_purchase_prorated_to_the_window_plus_facility_energy() -> None:
    p = sku(devices=4, idle_w=200.0, busy_w=1000.0, hourly=3.0, purchase=30_000.0)
    c = pool_cost(p, 0.25, DAY, params("owned", pue=1.5, electricity=0.10, years=3.0))
    capital = 4 * 30_000.0 * DAY / (3.0 * YEAR)  # one day of a 3-year straight-line write-off
    energy_kwh = 4 * (200.0 + 0.25 * 800.0) * DAY / KWH * 1.5  # 1600 W for 24 h = 38.4 kWh, x 1.5 = 57.6
    assert energy_kwh == exact(57.6)
    assert c["basis"] == "owned"
    assert c["energy_kwh"] == exact(57.6)
    assert c["usd"] == exact(capital + 57.6 * 0.10)


def test_pue_multiplies_the_energy_bill_of_an_owned_pool() -> None:
    p = sku(devices=4, idle_w=200.0, busy_w=1000.0, purchase=30_000.0)
    capital = 4 * 30_000.0 * DAY / (3.0 * YEAR)
    one = pool_cost(p, 0.25, DAY, params("owned", pue=1.0))["usd"] - capital
    two = pool_cost(p, 0.25, DAY, params("owned", pue=2.0))["usd"] - capital
    assert one == exact(38.4 * 0.10)
    assert two == exact(2 * 38.4 * 0.10)


def test_cloud_pricing_of_a_sku_without_hourly_price_falls_back_to_owned() -> None:
    p = sku(devices=1, idle_w=0.0, busy_w=1000.0, purchase=YEAR / DAY)  # $365.25: $1 a day over 1 year
    c = pool_cost(p, 1.0, DAY, params("cloud", pue=1.0, electricity=0.5, years=1.0))
    assert c["basis"] == "owned"
    assert c["usd"] == exact(1.0 + 24.0 * 0.5)  # 1 kW for 24 h = 24 kWh


def test_owned_pricing_of_a_sku_without_purchase_price_falls_back_to_cloud() -> None:
    c = pool_cost(sku(devices=2, hourly=4.0), 0.5, 2 * HOUR, params("owned"))
    assert c["basis"] == "cloud"
    assert c["usd"] == exact(2 * 2 * 4.0)


@pytest.mark.parametrize("pricing", ["cloud", "owned"])
def test_a_sku_without_any_price_has_no_cost(pricing: str) -> None:
    c = pool_cost(sku(devices=2), 0.5, HOUR, params(pricing, pue=1.0))
    assert c["basis"] == "none"
    assert math.isnan(c["usd"]) and math.isnan(c["usd_per_month"])
    assert c["energy_kwh"] == exact(2 * 400.0 * HOUR / KWH)  # energy needs no price


# ---- the run's totals --------------------------------------------------------------------------------

def two_cloud_pools() -> list[PoolPricing]:
    return [sku("a", devices=8, hourly=2.5), sku("b", devices=2, idle_w=50.0, busy_w=250.0, hourly=1.0)]


def test_totals_and_per_unit_figures() -> None:
    # 30 min: a = 4 device-hours x $2.50 = $10, b = 1 device-hour x $1 = $1
    s = cost_summary(two_cloud_pools(), {"a": 0.5, "b": 1.0}, 1800.0, params("cloud", pue=1.0),
                     ok_requests=44, output_tokens=2_000_000)
    assert s["pools"]["a"]["usd"] == exact(10.0) and s["pools"]["b"]["usd"] == exact(1.0)
    assert s["usd_total"] == exact(11.0)
    assert s["usd_per_request"] == exact(11.0 / 44)
    assert s["usd_per_million_output_tokens"] == exact(11.0 / 2.0)
    assert s["usd_per_month"] == exact(11.0 / 1800.0 * YEAR / 12)
    energy_kwh = (8 * 400.0 + 2 * 250.0) * 1800.0 / KWH  # 3700 W for half an hour
    assert s["energy_kwh"] == exact(energy_kwh)
    assert s["joules_per_output_token"] == exact(energy_kwh * KWH / 2_000_000)


def test_a_pool_missing_from_the_utilisation_draws_idle_power() -> None:
    s = cost_summary(two_cloud_pools(), {"a": 0.5}, HOUR, params("cloud", pue=1.0), 1, 1)
    assert s["pools"]["b"]["energy_kwh"] == exact(2 * 50.0 / 1000.0)


def test_an_unpriced_pool_makes_the_total_unknown_not_the_sum_of_the_others() -> None:
    pools = [*two_cloud_pools(), sku("c", devices=1)]
    s = cost_summary(pools, {"a": 0.5, "b": 0.5, "c": 0.5}, 1800.0, params("cloud"), 10, 1000)
    assert s["pools"]["c"]["basis"] == "none" and math.isnan(s["pools"]["c"]["usd"])
    assert s["pools"]["a"]["usd"] == exact(10.0)  # the priced pools keep their own figures
    for key in ("usd_total", "usd_per_request", "usd_per_million_output_tokens", "usd_per_month"):
        assert math.isnan(s[key]), key
    assert math.isfinite(s["energy_kwh"])


def test_no_completed_requests_or_tokens_leaves_per_unit_figures_undefined() -> None:
    s = cost_summary(two_cloud_pools(), {}, 1800.0, params("cloud"), ok_requests=0, output_tokens=0)
    assert s["usd_total"] == exact(11.0)
    for key in ("usd_per_request", "usd_per_million_output_tokens", "joules_per_output_token"):
        assert math.isnan(s[key]), key


def test_an_empty_window_costs_nothing() -> None:
    s = cost_summary(two_cloud_pools(), {}, -5.0, params("cloud"), ok_requests=0, output_tokens=0)
    assert s["usd_total"] == 0.0 and s["energy_kwh"] == 0.0
    assert math.isnan(s["usd_per_month"])
