"""Energy and cost of a run: pure functions of pool sizes, prices, utilisation and the records' counts.

Energy: each device draws idle power plus utilisation x (busy - idle), times PUE for the facility.
Cost, per pool:
* ``cloud``: device-hours x the SKU's hourly price (which includes power and facility);
* ``owned``: purchase price amortised linearly over ``amortization_years`` plus facility energy x the
  electricity price.
A pool may give its own prices (a quote) in place of the catalog's. A SKU without an hourly price is costed as
owned, and one without either price is reported without cost; the summary says which basis each pool used and
where its price came from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

SECONDS_PER_YEAR = 365.25 * 86400.0
JOULES_PER_KWH = 3.6e6


@dataclass(frozen=True)
class PoolPricing:
    """Per-device figures of one pool's hardware, and how many devices the pool has."""

    pool: str
    hardware: str
    devices: int
    idle_w: float
    busy_w: float
    usd_per_device_hour: float | None
    purchase_usd: float | None
    #: where each price comes from ('scenario', or the catalog entry's source); None without a price
    hourly_source: str | None = None
    purchase_source: str | None = None


@dataclass(frozen=True)
class CostParams:
    electricity_usd_per_kwh: float
    pue: float
    amortization_years: float
    pricing: str  # "cloud" | "owned"


def pool_energy_kwh(p: PoolPricing, utilisation: float, span_s: float, pue: float) -> float:
    u = min(max(utilisation if math.isfinite(utilisation) else 0.0, 0.0), 1.0)
    watts = p.devices * (p.idle_w + u * (p.busy_w - p.idle_w))
    return watts * span_s * pue / JOULES_PER_KWH


def pool_cost(p: PoolPricing, utilisation: float, span_s: float, params: CostParams) -> dict[str, Any]:
    energy_kwh = pool_energy_kwh(p, utilisation, span_s, params.pue)
    device_hours = p.devices * span_s / 3600.0
    basis = params.pricing
    if basis == "cloud" and p.usd_per_device_hour is None:
        basis = "owned"
    if basis == "owned" and p.purchase_usd is None:
        basis = "cloud" if p.usd_per_device_hour is not None else "none"
    if basis == "cloud":
        usd = device_hours * p.usd_per_device_hour  # type: ignore[operator]
    elif basis == "owned":
        capital = p.devices * p.purchase_usd * span_s / (params.amortization_years * SECONDS_PER_YEAR)  # type: ignore[operator]
        usd = capital + energy_kwh * params.electricity_usd_per_kwh
    else:
        usd = math.nan
    return {
        "hardware": p.hardware,
        "devices": p.devices,
        "device_hours": device_hours,
        "energy_kwh": energy_kwh,
        "basis": basis,
        "price_source": {"cloud": p.hourly_source, "owned": p.purchase_source}.get(basis),
        "usd": usd,
        "usd_per_month": usd / span_s * SECONDS_PER_YEAR / 12.0 if span_s > 0 else math.nan,
    }


def cost_summary(
    pools: list[PoolPricing],
    utilisation: dict[str, float],
    span_s: float,
    params: CostParams,
    ok_requests: int,
    output_tokens: int,
) -> dict[str, Any]:
    """Totals over the observation window and per pool; per-request and per-token figures use the
    requests completed (and their output tokens) in the window. An empty window (the run ended before the
    warm-up did) costs nothing."""
    span_s = max(span_s, 0.0)
    per_pool = {p.pool: pool_cost(p, utilisation.get(p.pool, math.nan), span_s, params) for p in pools}
    priced = [c["usd"] for c in per_pool.values() if math.isfinite(c["usd"])]
    usd_total = sum(priced) if priced else math.nan
    if per_pool and len(priced) < len(per_pool):
        usd_total = math.nan  # a pool without any price: no honest total
    energy = sum(c["energy_kwh"] for c in per_pool.values())
    return {
        "usd_total": usd_total,
        "usd_per_request": usd_total / ok_requests if ok_requests else math.nan,
        "usd_per_million_output_tokens": usd_total / output_tokens * 1e6 if output_tokens else math.nan,
        "usd_per_month": sum(c["usd_per_month"] for c in per_pool.values()) if priced else math.nan,
        "energy_kwh": energy,
        "joules_per_output_token": energy * JOULES_PER_KWH / output_tokens if output_tokens else math.nan,
        "pools": per_pool,
    }
