"""Disaggregated serving end to end: the KV cache a prefill replica hands over takes latency + bytes / bandwidth,
with the link given in ``fleet.kv_transfer`` or defaulting to the prefill replica's scale-out NICs, and a run
cut while caches are in transit loses none of them.

KV bytes per token are computed here from the model card (llama-3.1-8b: 32 layers, 8 KV heads, head_dim 128)
at bf16 (2 bytes): K and V, so 2 x 32 x 8 x 128 x 2 = 131,072 bytes a token. The prompt's tokens are what
crosses the link (the prefill replica computed exactly those).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from experiments import load_scenario, run
from experiments.runner import simulate
from hardware_models import get_accelerator

KV_BYTES_PER_TOKEN = 2 * 32 * 8 * 128 * 2
PREFILL_HW = "intel-gaudi3"  # scale-out NIC 75 GB/s a device
DECODE_HW = "nvidia-a100-80gb"  # 25 GB/s: a different figure, so mixing up the pools shows
COLUMNS = {"time": "t", "input_tokens": "prompt", "output_tokens": "gen"}


def trace(tmp_path: Path, rows: list[tuple[float, int, int]]) -> str:
    path = tmp_path / "trace.csv"
    path.write_text("t,prompt,gen\n" + "".join(f"{t!r},{i},{o}\n" for t, i, o in rows))
    return str(path)


def scenario(trace_path: str, kv_transfer: dict, layout: dict | None = None, horizon: dict | None = None) -> dict:
    return {
        "name": "disaggregated", "seed": 3, "model": "llama-3.1-8b", "precision": "bf16",
        "horizon": horizon or {"requests": 1},
        "workload": {"arrival": {"type": "trace", "path": trace_path, "format": "csv", "columns": COLUMNS}},
        "fleet": {
            "pools": [  # the decode pool first: the link must come from the prefill pool's own hardware
                {"name": "dec", "hardware": DECODE_HW, "replicas": 1, "role": "decode"},
                {"name": "pre", "hardware": PREFILL_HW, "parallelism": layout or {"tensor": 2}, "replicas": 1,
                 "role": "prefill"},
            ],
            "kv_transfer": kv_transfer,
        },
    }


def one_request(tmp_path: Path, kv_transfer: dict, layout: dict | None = None, input_tokens: int = 1000) -> pd.Series:
    df = run(scenario(trace(tmp_path, [(0.0, input_tokens, 10)]), kv_transfer, layout)).requests
    assert len(df) == 1
    row = df.iloc[0]
    assert row["status"] == "ok" and row["pool"] == "dec"
    return row


@pytest.mark.parametrize("bandwidth,latency", [(1e9, 0.002), (4e8, 0.0), (2.5e10, 0.25)])
def test_transfer_time_with_an_explicit_link(tmp_path: Path, bandwidth: float, latency: float) -> None:
    row = one_request(tmp_path, {"bandwidth_bytes_per_s": bandwidth, "latency_s": latency})
    expected = 1000 * KV_BYTES_PER_TOKEN / bandwidth + latency
    assert row["transfer_s"] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # the first token comes out of prefill; the decode side starts only once the cache has arrived
    assert row["finish_s"] > row["first_token_s"] + expected


@pytest.mark.parametrize("layout,devices", [({"tensor": 2}, 2), ({"tensor": 4}, 4), ({"tensor": 1}, 1)])
def test_transfer_time_over_the_default_link(tmp_path: Path, layout: dict, devices: int) -> None:
    """Default: the prefill replica's devices' scale-out NICs in parallel, and their latency."""
    acc = get_accelerator(PREFILL_HW)
    bandwidth = acc.ic("scale_out_bandwidth_bytes_per_s") * devices
    latency = acc.ic("scale_out_latency_s")
    row = one_request(tmp_path, {}, layout)
    assert row["transfer_s"] == pytest.approx(1000 * KV_BYTES_PER_TOKEN / bandwidth + latency, rel=1e-12)


def test_an_explicit_bandwidth_keeps_the_default_latency_and_vice_versa(tmp_path: Path) -> None:
    acc = get_accelerator(PREFILL_HW)
    row = one_request(tmp_path, {"bandwidth_bytes_per_s": 1e9})
    assert row["transfer_s"] == pytest.approx(1000 * KV_BYTES_PER_TOKEN / 1e9 + acc.ic("scale_out_latency_s"),
                                              rel=1e-12)
    row = one_request(tmp_path, {"latency_s": 0.0})  # 0 is a latency, not "unset"
    assert row["transfer_s"] == pytest.approx(1000 * KV_BYTES_PER_TOKEN / (2 * acc.ic(
        "scale_out_bandwidth_bytes_per_s")), rel=1e-12)


@pytest.mark.parametrize("input_tokens", [1, 17, 4096])
def test_the_bytes_sent_are_the_prompt_s_kv(tmp_path: Path, input_tokens: int) -> None:
    row = one_request(tmp_path, {"bandwidth_bytes_per_s": 1e9, "latency_s": 0.0}, input_tokens=input_tokens)
    assert row["transfer_s"] == pytest.approx(input_tokens * KV_BYTES_PER_TOKEN / 1e9, rel=1e-12)


def test_a_horizon_during_transfers_loses_no_request(tmp_path: Path) -> None:
    """Arrivals every second, each KV cache taking 100 x 131,072 B / 1e7 B/s = 1.31072 s on the one link: the
    transfers queue, the k-th (from 0) reaching the decode side about 1.31072 (k + 1) s after t=0 (plus a
    prefill of a few ms). At the 10 s horizon caches 0-6 have arrived (by ~9.2 s) and been decoded, 7-9 are in
    transit (7 arrives at ~10.5 s), and the request at 9.99999 s is still being prefilled."""
    rows = [(float(t), 100, 5) for t in range(10)] + [(9.99999, 100, 5)]
    s = scenario(trace(tmp_path, rows), {"bandwidth_bytes_per_s": 1e7, "latency_s": 0.0},
                 horizon={"duration_s": 10.0})
    sim, _ = simulate(load_scenario(s))
    assert sim.issued == 11
    records = sim.finish().to_frame().set_index("request_id")
    assert len(records) == sim.issued  # one record per issued request, none lost in transit
    assert records.index.tolist() == list(range(11))
    assert (records.loc[0:6, "status"] == "ok").all()
    assert (records.loc[0:6, "pool"] == "dec").all()
    in_transit = records.loc[7:9]
    assert (in_transit["status"] == "unfinished").all()
    assert (in_transit["reason"] == "KV cache in transit").all()
    assert records.loc[10, "status"] == "unfinished" and records.loc[10, "reason"] == ""
    assert records.loc[10, "pool"] == "pre"

    df = run(s).requests  # the runner's records agree
    assert len(df) == 11
    assert (df["reason"] == "KV cache in transit").sum() == 3
