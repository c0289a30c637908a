"""Peer check against Ciw (an independent queueing-network simulator): the same G/G/4 station with no
closed form, gamma inter-arrival times (CV 2), lognormal service (mean 1 s, sigma 0.8 of the underlying
normal), 4 servers, utilisation 0.85.

Both simulators start empty and are observed identically: the same horizon T, the same window of
arrivals [WARMUP, T - MARGIN), the same estimators per replication (mean wait, p99 wait, share that
waits). Estimators of equal construction on equal-length runs share their biases (initial transient,
finite-sample quantile bias), so the difference of the two means should be zero up to noise: the test
passes when |fleetsim - ciw| <= t_{Welch dof, 1 - ALPHA/2} * sqrt(SE_fleetsim^2 + SE_ciw^2).

Ciw's API (3.x, verified against the installed source): ``ciw.dists.Gamma(shape, scale)`` (mean
shape x scale), ``ciw.dists.Lognormal(mean, sd)`` with mean and sd of the underlying normal;
``ciw.seed``; ``Simulation.simulate_until_max_time``; records with ``arrival_date`` and ``waiting_time``.
Ciw runs ~20k customers/s, fleetsim ~10x faster, so fleetsim gets twice the replications.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import ciw  # a declared test dependency (pyproject [test]): missing it must fail, not skip
import numpy as np

from .support import ALPHA, Estimate, critical, replicate, station, welch

LAM = 3.4  # arrivals/s: rho = LAM * E[S] / C = 0.85
C = 4
MEAN_S = 1.0
SIGMA = 0.8
CA = 2.0  # inter-arrival CV
T = 16_000.0
WARMUP = 1_000.0
MARGIN = 300.0  # arrivals after T - MARGIN are ignored: some of them are still in the system at T
CIW_REPLICATIONS = 10
FLEETSIM_REPLICATIONS = 20


@dataclass(frozen=True)
class Waits:
    mean: float
    p99: float
    p_wait: float


def waits_of(waits: np.ndarray) -> Waits:
    return Waits(float(waits.mean()), float(np.quantile(waits, 0.99)), float((waits > 0).mean()))


def ciw_replication(seed: int) -> Waits:
    ciw.seed(seed)
    shape = 1.0 / CA**2
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Gamma(shape, 1.0 / (LAM * shape))],
        service_distributions=[ciw.dists.Lognormal(math.log(MEAN_S) - SIGMA**2 / 2.0, SIGMA)],
        number_of_servers=[C],
    )
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(T)
    # nobody who arrived before the window's end is still in the station: the window is complete
    assert not any(ind.arrival_date < T - MARGIN for ind in sim.nodes[1].all_individuals)
    recs = [r for r in sim.get_all_records() if r.record_type == "service"]
    arrival = np.array([r.arrival_date for r in recs])
    wait = np.array([r.waiting_time for r in recs])
    return waits_of(wait[(arrival >= WARMUP) & (arrival < T - MARGIN)])


def fleetsim_replications() -> list[Waits]:
    scenario = station({"type": "gamma", "rate_per_s": LAM, "cv": CA},
                       {"type": "lognormal", "mean": MEAN_S, "sigma": SIGMA},
                       servers=C, duration_s=T, warmup_s=WARMUP, name="ciw-peer-gg4")
    out = []
    for r in replicate(scenario, replications=FLEETSIM_REPLICATIONS, fifo_servers=C):
        df = r.requests
        a = df["arrival_s"].to_numpy()
        inside = df[(a >= WARMUP) & (a < T - MARGIN)]
        assert (inside["status"] == "ok").all()
        out.append(waits_of(inside["queue_s"].to_numpy()))
    return out


def test_gg4_waits_agree_with_ciw() -> None:
    ours = fleetsim_replications()
    theirs = [ciw_replication(1000 + i) for i in range(CIW_REPLICATIONS)]
    for stat in ("mean", "p99", "p_wait"):
        a = Estimate(np.array([getattr(w, stat) for w in ours]))
        b = Estimate(np.array([getattr(w, stat) for w in theirs]))
        diff, se, dof = welch(a, b)
        k = critical(dof, ALPHA)
        line = (f"G/G/4 {stat} wait: fleetsim {a.mean:.4g} +- {a.se:.2g} (R={a.values.size}), ciw {b.mean:.4g} +- "
                f"{b.se:.2g} (R={b.values.size}); |diff| {abs(diff):.3g} <= {k:.2f} x {se:.2g} = {k * se:.3g} "
                f"({k * se / b.mean:.1%} of ciw)")
        print(line)
        assert abs(diff) <= k * se, line
