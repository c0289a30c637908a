"""End to end: determinism, result files, horizons, warm-up and unfinished requests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from experiments import load_scenario, run
from experiments.cli import main
from sim.records import COLUMNS


def small(**overrides: object) -> dict:
    scenario = {
        "name": "small",
        "seed": 11,
        "horizon": {"duration_s": 200},
        "warmup_s": 20,
        "workload": {
            "arrival": {"type": "gamma", "rate_per_s": 20, "cv": 1.5},
            "classes": [{"name": "a", "share": 0.4, "priority": 0}, {"name": "b", "share": 0.6, "priority": 1}],
        },
        "fleet": {
            "pools": [
                {"name": "p", "hardware": {"type": "service", "time_s": {"type": "lognormal", "mean": 0.2, "sigma": 1}},
                 "replicas": 3, "scheduler": {"type": "priority", "servers": 2}},
            ],
            "router": {"type": "power_of_two"},
        },
    }
    scenario.update(overrides)
    return scenario


def test_same_seed_gives_byte_identical_parquet(tmp_path: Path) -> None:
    run(small()).to_dir(tmp_path / "one")
    run(small()).to_dir(tmp_path / "two")
    first = (tmp_path / "one" / "requests.parquet").read_bytes()
    assert first == (tmp_path / "two" / "requests.parquet").read_bytes()
    run(small(seed=12)).to_dir(tmp_path / "three")
    assert first != (tmp_path / "three" / "requests.parquet").read_bytes()
    a = pd.read_parquet(tmp_path / "one" / "requests.parquet")
    c = pd.read_parquet(tmp_path / "three" / "requests.parquet")
    assert not np.array_equal(a["arrival_s"].to_numpy()[:100], c["arrival_s"].to_numpy()[:100])


def test_records_follow_the_contract() -> None:
    result = run(small())
    df = result.requests
    assert list(df.columns) == COLUMNS
    assert df["request_id"].is_monotonic_increasing and df["request_id"].is_unique
    ok = df[df["status"] == "ok"]
    assert np.allclose(ok["queue_s"], ok["start_s"] - ok["arrival_s"])
    assert np.allclose(ok["e2e_s"], ok["finish_s"] - ok["arrival_s"])
    assert (ok["first_token_s"] == ok["finish_s"]).all() and (ok["output_tokens"] == 1).all()
    assert (ok["queue_s"] >= 0).all() and (ok["e2e_s"] >= ok["queue_s"]).all()
    # a duration horizon leaves requests in the system: they are recorded, not lost
    unfinished = df[df["status"] == "unfinished"]
    assert len(unfinished) > 0 and unfinished["finish_s"].isna().all()
    assert len(df) == df["request_id"].max() + 1


@pytest.mark.parametrize("seed", [11, 5])  # 5: a seed whose two sums differ in the last bit
def test_warmup_excluded_from_statistics(seed: int) -> None:
    result = run(small(seed=seed))
    df = result.requests
    start, end = result.summary["window_s"]
    assert start == 20
    in_window = df[(df["arrival_s"] >= start) & (df["arrival_s"] < end) & (df["status"] == "ok")]
    assert len(in_window) < (df["status"] == "ok").sum()  # the warm-up held completed requests to leave out
    e2e = in_window["e2e_s"].to_numpy()
    block = result.summary["e2e_s"]
    assert block["count"] == len(in_window)
    # the summary sums the sorted values, this the records in request order: equal up to rounding, not bit for bit
    assert block["mean"] == pytest.approx(e2e.mean(), rel=1e-12)
    assert block["p99"] == pytest.approx(float(np.quantile(e2e, 0.99)), rel=1e-12)


def test_request_horizon_drains() -> None:
    result = run(small(horizon={"requests": 500}, warmup_s=0))
    df = result.requests
    assert len(df) == 500 and (df["status"] == "ok").all()


def test_closed_loop_keeps_concurrency_bounded() -> None:
    scenario = small(workload={"arrival": {"type": "closed_loop", "concurrency": 4, "think_time_s": 0.0}},
                     horizon={"requests": 2000}, warmup_s=0)
    df = run(scenario).requests
    events = np.concatenate([np.c_[df["arrival_s"], np.ones(len(df))], np.c_[df["finish_s"], -np.ones(len(df))]])
    events = events[np.lexsort((events[:, 1], events[:, 0]))]  # departures before arrivals at equal times
    assert np.cumsum(events[:, 1]).max() == 4


def test_queue_capacity_drops_with_reason() -> None:
    scenario = small(warmup_s=0)
    scenario["fleet"]["pools"][0]["scheduler"] = {"type": "fcfs", "servers": 1, "queue_capacity": 0}
    df = run(scenario).requests
    dropped = df[df["status"] == "dropped"]
    assert len(dropped) > 0 and (dropped["reason"] == "queue full").all()
    assert dropped["start_s"].isna().all()


def test_cli_writes_three_files(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    import yaml

    path.write_text(yaml.safe_dump(small()))
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "out"), "--set", "seed=5"])
    assert result.exit_code == 0, result.output
    assert "p99 95% CI" in result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["seed"] == 5
    assert load_scenario(tmp_path / "out" / "scenario.resolved.yaml").seed == 5
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "requests.parquet", "scenario.resolved.yaml", "summary.json"]
    quiet = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "quiet"), "--quiet"])
    assert quiet.exit_code == 0 and quiet.output == "", quiet.output
    assert (tmp_path / "quiet" / "summary.json").exists()


def test_cli_runs_the_bundled_default_scenario(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--out", str(tmp_path / "out"), "--set", "horizon.duration_s=120",
                                       "--set", "warmup_s=10"])
    assert result.exit_code == 0, result.output
    for text in ("inter-token", "TPOT", "wafer", "cerebras-cs3", "no published price", "SLO attained"):
        assert text in result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["itl_s"]["tokens"] > 0 and summary["cost"]["pools"]["gpu"]["usd"] > 0


def test_a_single_request_run_has_an_empty_window_and_no_crash() -> None:
    # the only request finishes before the warm-up ends: the observation window is empty
    scenario = {"name": "one", "horizon": {"requests": 1}, "warmup_s": 5, "model": "llama-3.1-8b", "precision": "fp8",
                "workload": {"arrival": {"type": "poisson", "rate_per_s": 1},
                             "input_tokens": {"type": "fixed", "value": 10}, "output_tokens": {"type": "fixed",
                                                                                             "value": 1}},
                "fleet": {"pools": [{"name": "gpu", "hardware": "nvidia-h100-sxm"}]}}
    result = run(scenario)
    assert len(result.requests) == 1 and result.summary["utilisation"]["gpu"] is None
    cost = result.summary["cost"]
    assert cost["usd_total"] == 0.0 and cost["usd_per_request"] is None and cost["energy_kwh"] == 0.0


def test_exponent_notation_reads_as_a_number_and_a_run_folder_is_whole_or_has_no_summary(tmp_path: Path) -> None:
    import yaml

    scenario = small()
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario).replace("rate_per_s: 20", "rate_per_s: 2e1"))
    assert "2e1" in path.read_text()
    loaded = load_scenario(path)
    assert loaded.workload.arrival.rate_per_s == 20.0  # YAML 1.1 would have read the string '8e0'
    first = run(loaded)
    first.to_dir(tmp_path / "out")
    second = run(load_scenario(path, seed=9))

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    import experiments.results as results

    original = results.write_parquet_atomic
    results.write_parquet_atomic = interrupted  # type: ignore[assignment]
    try:
        with pytest.raises(KeyboardInterrupt):
            second.to_dir(tmp_path / "out")
    finally:
        results.write_parquet_atomic = original
    # the old summary went first, so the folder no longer looks like a whole run of either seed
    assert not (tmp_path / "out" / "summary.json").exists()
    second.to_dir(tmp_path / "out")
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["seed"] == 9


def test_cli_says_why_requests_were_dropped_and_when_the_window_is_empty(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "horizon: {requests: 40}\nwarmup_s: 1000\nmodel: llama-3.1-8b\nprecision: fp8\n"
        "workload: {arrival: {type: poisson, rate_per_s: 5}, input_tokens: {type: fixed, value: 128},"
        " output_tokens: {type: fixed, value: 32}}\n"
        "fleet: {pools: [{name: gpu, hardware: nvidia-h100-sxm,"
        " scheduler: {type: continuous, kv_capacity_tokens: 100}}]}\n")
    result = CliRunner().invoke(main, ["run", str(scenario), "--quiet", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "warning: 40 of 40 request(s) dropped: needs 10 KV blocks, the replica has 6" in result.output
    assert "warning: no request arrived in the observation window [1000," in result.output
    blocked = tmp_path / "file"
    blocked.write_text("")
    result = CliRunner().invoke(main, ["run", str(scenario), "--quiet", "--out", str(blocked / "sub")])
    assert result.exit_code == 2 and f"error: --out {blocked / 'sub'}: cannot write the results" in result.output
    assert "Traceback" not in result.output


def test_a_name_that_is_not_a_folder_name_needs_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(small(name="../elsewhere")))
    result = CliRunner().invoke(main, ["run", str(path), "--quiet"])
    assert result.exit_code == 2 and "name: '../elsewhere' is not a plain folder name" in result.output
    assert not (tmp_path.parent / "elsewhere").exists()
    result = CliRunner().invoke(main, ["run", str(path), "--quiet", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0 and (tmp_path / "o" / "summary.json").exists()


def test_a_kv_cache_that_ran_full_is_reported_in_the_summary_table_and_warned(tmp_path: Path) -> None:
    def scenario(requests: int) -> Path:
        path = tmp_path / f"s{requests}.yaml"
        path.write_text(
            f"horizon: {{requests: {requests}}}\nmodel: llama-3.1-8b\nprecision: fp8\n"
            "workload: {arrival: {type: offline}, input_tokens: {type: fixed, value: 128},"
            " output_tokens: {type: fixed, value: 32}}\n"
            "fleet: {pools: [{name: gpu, hardware: nvidia-h100-sxm,"
            " scheduler: {type: continuous, kv_capacity_tokens: 1600}}]}\n")  # 100 blocks; a request takes 10
        return path

    full = CliRunner().invoke(main, ["run", str(scenario(40)), "--out", str(tmp_path / "full")])
    assert full.exit_code == 0, full.output
    kv = json.loads((tmp_path / "full" / "summary.json").read_text())["pools"]["gpu"]["kv_cache"]
    assert kv["capacity_tokens"] == 1600 and 0.95 <= kv["peak_fraction"] <= 1.0
    assert f"warning: pool gpu: a replica's KV cache reached {100 * kv['peak_fraction']:.1f}% of its capacity" in full.output
    assert "KV peak" in full.output
    light = CliRunner().invoke(main, ["run", str(scenario(3)), "--out", str(tmp_path / "light")])
    kv = json.loads((tmp_path / "light" / "summary.json").read_text())["pools"]["gpu"]["kv_cache"]
    assert kv["peak_fraction"] == pytest.approx(0.30)  # three requests of ten blocks, all admitted at t=0
    assert light.exit_code == 0 and "KV cache reached" not in light.output


def test_host_overhead_per_request_reaches_every_iteration_of_a_scenario() -> None:
    """One request alone: each of its iterations holds one request, so its TPOT grows by exactly the overhead."""
    from experiments import run as run_scenario

    def tpot_s(host_s: float) -> float:
        scenario = {"name": "h", "horizon": {"requests": 1}, "model": "llama-3.1-8b", "precision": "fp8",
                    "workload": {"arrival": {"type": "offline"}, "input_tokens": {"type": "fixed", "value": 500},
                                 "output_tokens": {"type": "fixed", "value": 60}},
                    "fleet": {"pools": [{"name": "gpu", "hardware": "nvidia-h100-sxm",
                                         "scheduler": {"type": "continuous", "host_overhead_s_per_request": host_s}}]}}
        return float(run_scenario(scenario).requests["tpot_s"].iloc[0])

    assert tpot_s(1e-3) - tpot_s(0.0) == pytest.approx(1e-3, rel=1e-9)


def test_the_kv_warning_follows_the_printed_percentage() -> None:
    from experiments.report import run_warnings

    def warned(peak: float) -> bool:
        summary = {"counts": {"total": 1}, "pools": {"gpu": {"kv_cache": {"capacity_tokens": 100, "peak_fraction": peak}}}}
        return any("KV cache reached" in line for line in run_warnings(pd.DataFrame({"status": [], "reason": []}), summary))

    assert [warned(p) for p in (0.9494, 0.9496, 0.95, 1.0)] == [False, True, True, True]


def test_a_host_overhead_above_one_second_is_refused() -> None:
    import experiments

    scenario = {"model": "llama-3.1-8b", "precision": "fp8", "horizon": {"requests": 1},
                "workload": {"arrival": {"type": "offline"}},
                "fleet": {"pools": [{"name": "gpu", "hardware": "nvidia-h100-sxm",
                                     "scheduler": {"type": "static", "host_overhead_s_per_request": 1e302}}]}}
    with pytest.raises(experiments.ScenarioError, match=r"scheduler.host_overhead_s_per_request: must be <= 1.0"):
        experiments.load_scenario(scenario)


def test_a_kv_cap_above_what_memory_holds_is_reported_not_silently_ignored(tmp_path: Path) -> None:
    def cli(cap: int) -> str:
        path = tmp_path / f"cap{cap}.yaml"
        path.write_text(
            "horizon: {requests: 2}\nmodel: llama-3.1-8b\nprecision: fp8\n"
            "workload: {arrival: {type: offline}, input_tokens: {type: fixed, value: 64},"
            " output_tokens: {type: fixed, value: 8}}\n"
            f"fleet: {{pools: [{{name: gpu, hardware: nvidia-h100-sxm, scheduler: {{type: continuous,"
            f" kv_capacity_tokens: {cap}}}}}]}}\n")
        result = CliRunner().invoke(main, ["run", str(path), "--quiet", "--out", str(tmp_path / f"o{cap}")])
        assert result.exit_code == 0, result.output
        return result.output

    assert "kv_capacity_tokens" not in cli(1000)  # a cap below the memory's capacity is taken, no warning
    held = json.loads((tmp_path / "o1000" / "summary.json").read_text())
    assert held["pools"]["gpu"]["kv_cache"]["capacity_tokens"] == 992  # 62 blocks of 16: the cap, as blocks
    too_big = cli(10**9)
    assert "warning: fleet.pools[0].scheduler.kv_capacity_tokens: 1,000,000,000 is more than a replica's memory holds (" in too_big


def _priced_fleet(**pool_extra: object) -> dict:
    pools = [{"name": "h100", "hardware": "nvidia-h100-sxm"}, {"name": "mi300x", "hardware": "amd-mi300x"},
             {"name": "gaudi", "hardware": "intel-gaudi3", "precision": "bf16"}]
    pools[0].update(pool_extra)
    return {"name": "priced", "seed": 1, "horizon": {"requests": 60}, "model": "llama-3.1-8b", "precision": "fp8",
            "workload": {"arrival": {"type": "poisson", "rate_per_s": 20},
                         "input_tokens": {"type": "fixed", "value": 200}, "output_tokens": {"type": "fixed", "value": 20}},
            "fleet": {"pools": pools}}


def test_a_pool_can_give_its_own_prices_and_mixed_costs_are_warned() -> None:
    """Catalog hourly prices come from different sellers (H100: AWS capacity blocks; MI300X: a market rate) and
    Gaudi 3 has only a purchase price, so without the pools' own prices the run says its costs do not compare."""
    from experiments.report import run_warnings

    result = run(_priced_fleet())
    pools = result.summary["cost"]["pools"]
    assert [pools[n]["basis"] for n in ("h100", "mi300x", "gaudi")] == ["cloud", "cloud", "owned"]
    assert "AWS capacity blocks" in pools["h100"]["price_source"]
    warnings = run_warnings(result.requests, result.summary, result.scenario)
    assert any(w.startswith("pool gaudi: costed as owned, not cloud (cost.pricing)") for w in warnings)
    assert any(w.startswith("hourly prices from the catalog come from different sellers") for w in warnings)

    quoted = _priced_fleet(usd_per_device_hour=2.5)
    quoted["fleet"]["pools"][1]["usd_per_device_hour"] = 2.0
    quoted["fleet"]["pools"][2]["usd_per_device_hour"] = 3.0
    result = run(quoted)
    pools = result.summary["cost"]["pools"]
    assert all(p["basis"] == "cloud" and p["price_source"] == "scenario" for p in pools.values())
    assert pools["h100"]["usd"] == pytest.approx(pools["h100"]["device_hours"] * 2.5)
    assert run_warnings(result.requests, result.summary, result.scenario) == []


def test_a_service_pool_cannot_be_priced() -> None:
    import experiments

    scenario = small()
    scenario["fleet"]["pools"][0]["usd_per_device_hour"] = 1.0
    with pytest.raises(experiments.ScenarioError, match=r"usd_per_device_hour: the service model has no devices"):
        experiments.load_scenario(scenario)
