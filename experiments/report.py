"""Readable tables of a run summary, for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

LATENCY_ROWS = (("ttft_s", "TTFT"), ("tpot_s", "TPOT"), ("itl_s", "inter-token"), ("e2e_s", "end-to-end"),
                ("queue_s", "queueing"))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> str:
    """A plain fixed-width table; ``align`` has one of '<' or '>' per column (default: first left)."""
    align = align or "<" + ">" * (len(headers) - 1)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def seconds(value: Any) -> str:
    """A duration with a unit that keeps three significant digits readable."""
    if value is None:
        return "-"
    v = float(value)
    if v == 0:
        return "0"
    if abs(v) < 1e-3:
        return f"{v * 1e6:.3g} us"
    if abs(v) < 1:
        return f"{v * 1e3:.3g} ms"
    return f"{v:.3g} s"


def number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    v = float(value)
    return f"{v:,.0f}" if abs(v) >= 10 ** digits else f"{v:.{digits}g}"


def percent(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"


def latency_table(summary: dict[str, Any]) -> str:
    rows = []
    for key, label in LATENCY_ROWS:
        s = summary.get(key) or {}
        if not s.get("count") and not s.get("tokens"):
            continue
        lo, hi = s.get("p99_ci95") or (None, None)
        ci = f"{seconds(lo)} .. {seconds(hi)}" if lo is not None else "-"
        rows.append([label, *(seconds(s.get(k)) for k in ("mean", "p50", "p90", "p95", "p99", "p999")), ci])
    return table(["latency", "mean", "p50", "p90", "p95", "p99", "p99.9", "p99 95% CI"], rows)


def format_summary(summary: dict[str, Any], wall_s: float | None = None) -> str:
    c = summary["counts"]
    t = summary["throughput"]
    lo, hi = summary["window_s"]
    head = f"{summary.get('scenario', '')}  (seed {summary.get('seed')}, window {lo:g} .. {hi:g} s simulated"
    if wall_s:
        head += f", {wall_s:.1f} s wall, {c['all_records'] / wall_s:,.0f} requests/s"
    head += ")"
    parts = [
        head,
        f"requests in window: {c['total']:,}  ok {c['ok']:,}  dropped {c['dropped']:,}  failed {c['failed']:,}"
        f"  unfinished {c['unfinished']:,}",
        f"throughput: {number(t['requests_per_s'])} requests/s, {number(t['output_tokens_per_s'])} output tokens/s",
        "",
        latency_table(summary),
    ]
    pool_rows = []
    for name, p in summary["pools"].items():
        e2e = p.get("e2e_s") or {}
        pool_rows.append([name, str(p["replicas"]), percent(p["utilisation"]),
                          percent((p.get("kv_cache") or {}).get("peak_fraction")), f"{p['counts']['ok']:,}",
                          seconds(e2e.get("p50")), seconds(e2e.get("p99"))])
    parts += ["", table(["pool", "replicas", "utilisation", "KV peak", "ok", "e2e p50", "e2e p99"], pool_rows)]
    class_rows = []
    for name, k in summary["classes"].items():
        e2e = k.get("e2e_s") or {}
        slo = k.get("slo") or {}
        class_rows.append([name, str(k["priority"]), f"{k['counts']['ok']:,}", seconds(e2e.get("p50")),
                           seconds(e2e.get("p99")), percent(slo.get("attainment")) if slo else "-",
                           number(slo.get("goodput_requests_per_s")) if slo else "-",
                           ("yes" if slo.get("met") else "no") if slo else "-"])
    parts += ["", table(["class", "priority", "ok", "e2e p50", "e2e p99", "SLO attained", "goodput/s",
                         "SLO met"], class_rows)]
    cost = summary.get("cost")
    if cost:
        parts += ["", cost_table(cost)]
    prefix = summary.get("prefix_cache") or {}
    if prefix.get("hit_tokens"):
        parts += ["", f"prefix cache: {percent(prefix['hit_rate'])} of prompt tokens found in the cache"]
    skipped = (summary.get("workload") or {}).get("skipped_rows") or {}
    if skipped:
        parts += ["", "trace rows skipped: " + "; ".join(f"{n:,} {why}" for why, n in skipped.items())]
    return "\n".join(parts)


def cost_table(cost: dict[str, Any]) -> str:
    """Energy and cost per pool and in total; a pool without a published price says so."""
    rows = []
    for name, p in cost["pools"].items():
        usd = p.get("usd")
        rows.append([name, p["hardware"], str(p["devices"]), number(p["energy_kwh"]),
                     ("no published price" if usd is None
                      else p["basis"] + (" (yours)" if p.get("price_source") == "scenario" else "")),
                     "-" if usd is None else f"${number(usd)}",
                     "-" if p.get("usd_per_month") is None else f"${number(p['usd_per_month'])}"])
    text = table(["pool", "hardware", "devices", "energy kWh", "pricing", "cost", "per month"], rows, "<<>><>>")
    if cost.get("usd_total") is None:
        return text + "\ntotal cost: not computed (a pool has no price)"
    return (text + f"\ntotal ${number(cost['usd_total'])}: ${number(cost['usd_per_request'], 4)} per request, "
            f"${number(cost['usd_per_million_output_tokens'])} per million output tokens")


#: a pool whose KV cache peaked at this share of a replica's capacity is near the memory cliff
KV_NEAR_FULL = 0.95


def _kv_cap_warnings(scenario: Any, summary: dict[str, Any]) -> list[str]:
    """A ``kv_capacity_tokens`` cap above what a replica's memory holds has no effect: say so."""
    lines = []
    for i, pool in enumerate(scenario.fleet.pools):
        cap = getattr(pool.scheduler, "kv_capacity_tokens", None)
        kv = summary["pools"].get(pool.name, {}).get("kv_cache")
        if cap and kv and kv["capacity_tokens"] < cap - cap % pool.scheduler.block_tokens:
            lines.append(f"fleet.pools[{i}].scheduler.kv_capacity_tokens: {cap:,} is more than a replica's memory "
                         f"holds ({kv['capacity_tokens']:,} tokens), which is used instead")
    return lines


def _cost_warnings(scenario: Any, summary: dict[str, Any]) -> list[str]:
    """Costs a person could misread: a pool costed on another basis than ``cost.pricing`` asks (its SKU has no
    such price), a pool without any price, and catalog hourly prices of different SKUs, which come from
    different sellers and dates (a like-for-like comparison needs the pools' own prices)."""
    cost = summary.get("cost") or {}
    wanted = scenario.cost.pricing
    lines, catalog_hourly = [], {}
    for i, pool in enumerate(scenario.fleet.pools):
        priced = cost.get("pools", {}).get(pool.name)
        if priced is None:
            continue  # the service model
        key = "usd_per_device_hour" if wanted == "cloud" else "purchase_usd_per_device"
        if priced["basis"] == "none":
            lines.append(f"pool {pool.name}: {priced['hardware']} has no price in the catalog, so the run has no "
                         f"total cost: give fleet.pools[{i}].usd_per_device_hour or .purchase_usd_per_device")
        elif priced["basis"] != wanted:
            lines.append(f"pool {pool.name}: costed as {priced['basis']}, not {wanted} (cost.pricing): "
                         f"{priced['hardware']} has no {wanted} price in the catalog; give fleet.pools[{i}].{key} "
                         "to cost every pool on one basis")
        elif priced["basis"] == "cloud" and priced.get("price_source") != "scenario":
            catalog_hourly[pool.name] = (priced["hardware"], priced.get("price_source"))
    if len({hw for hw, _ in catalog_hourly.values()}) > 1:
        lines.append("hourly prices from the catalog come from different sellers and dates ("
                     + "; ".join(f"{name}: {src}" for name, (_, src) in catalog_hourly.items())
                     + "): for a like-for-like comparison give each pool your own usd_per_device_hour")
    return lines


def run_warnings(requests: Any, summary: dict[str, Any], scenario: Any = None) -> list[str]:
    """What a person should not miss in a finished run: trace rows skipped, requests dropped (by
    reason), a KV cache that ran (nearly) full or was capped above what memory holds, costs on mixed bases
    or prices (these two given the ``scenario``), and an observation window that holds no request."""
    lines = [f"{count:,} trace row(s) skipped: {reason}"
             for reason, count in (summary.get("workload") or {}).get("skipped_rows", {}).items()]
    dropped = requests.loc[requests["status"] == "dropped", "reason"].value_counts()
    dropped = dropped[dropped > 0]  # a categorical column counts its unused categories too
    for reason, count in dropped.head(3).items():
        lines.append(f"{count:,} of {len(requests):,} request(s) dropped: {reason}")
    if len(dropped) > 3:
        lines.append(f"{int(dropped.iloc[3:].sum()):,} more dropped for {len(dropped) - 3} other reason(s) "
                     "(column 'reason' of requests.parquet)")
    for name, pool in summary["pools"].items():
        peak = (pool.get("kv_cache") or {}).get("peak_fraction")
        if peak is not None and round(100 * peak, 1) >= 100 * KV_NEAR_FULL:  # as printed: 94.96% shows 95.0%
            lines.append(f"pool {name}: a replica's KV cache reached {percent(peak)} of its capacity: latencies here "
                         "depend on the KV capacity (a little less memory and requests wait for it)")
    if scenario is not None:
        lines += _kv_cap_warnings(scenario, summary)
        lines += _cost_warnings(scenario, summary)
    if summary["counts"]["total"] == 0:
        lines.append(f"no request arrived in the observation window [{summary['warmup_s']:g}, "
                     f"{summary['end_s']:g}) s: every statistic is empty (is warmup_s after the end of the run?)")
    return lines
