"""The scalar path (``iteration_time_scalar_s``) equals the vector path (``iteration_time_s``) bit for bit.

The serving engine prices a mixed iteration through the scalar method and runs of decode iterations through
the vector one; it may price the same iteration either way, so the two must agree exactly (``==``), for every
family and layout, on the aggregates the engine produces (integer-valued floats; attention pairs may be a
half-integer).
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

import hardware_models as hm
import hardware_models.roofline as roofline
from hardware_models import BatchWork, PerformanceModel
from hardware_models.arith import SCALAR, VEC
from hwm_configs import SKU_CONFIGS, layout_configs, random_aggregates

CONFIGS = layout_configs(max_per_sku=40)
IDS = [f"{h}|{m}|{p}|" + ",".join(f"{k}={v}" for k, v in sorted(par.items())) for h, m, p, par in CONFIGS]
MOE_MODELS = {name for name in hm.list_models() if hm.get_model(name).is_moe}


def _build(cfg: tuple[str, str, str, dict]):
    return hm.build_performance_model(*cfg)


def test_the_configs_cover_every_family_and_layout_kind() -> None:
    assert {c[0] for c in CONFIGS} == set(hm.list_accelerators())
    assert {hm.get_accelerator(c[0]).family for c in CONFIGS} == {"gpu", "gaudi", "tpu", "wafer", "lpu", "fpga"}

    def some(pred) -> bool:  # noqa: ANN001
        return any(pred(h, m, p, par) for h, m, p, par in CONFIGS)

    gpu_domain = {h: int(hm.get_accelerator(h).ic("scale_up_domain_devices")) for h in hm.list_accelerators()}
    assert some(lambda h, m, p, par: m in MOE_MODELS and par.get("expert", 1) > 1)  # expert parallel MoE
    assert some(lambda h, m, p, par: m in MOE_MODELS and par.get("expert", 1) == 1)  # MoE, experts local
    assert some(lambda h, m, p, par: hm.get_accelerator(h).family == "gpu" and par.get("tensor", 1) > gpu_domain[h])
    assert some(lambda h, m, p, par: hm.get_accelerator(h).family == "gpu" and par.get("expert", 1) > gpu_domain[h])
    assert some(lambda h, m, p, par: par.get("tensor", 1) > 1 and par.get("pipeline", 1) > 1)
    assert some(lambda h, m, p, par: hm.get_accelerator(h).family == "gaudi" and par.get("pipeline", 1) > 1)
    assert some(lambda h, m, p, par: "slice" in par and len(par["slice"].split("x")) == 3)  # 3D TPU slice
    assert some(lambda h, m, p, par: "slice" in par and len(par["slice"].split("x")) == 2)  # 2D TPU slice
    assert some(lambda h, m, p, par: hm.get_accelerator(h).family == "tpu" and par.get("expert", 1) > 1)
    assert some(lambda h, m, p, par: hm.get_accelerator(h).family == "wafer" and par.get("pipeline", 1) > 1)
    assert some(lambda h, m, p, par: par.get("weight_streaming", False))
    assert some(lambda h, m, p, par: hm.get_accelerator(h).family == "lpu" and par.get("tensor", 1) > 1)
    assert some(lambda h, m, p, par: hm.get_accelerator(h).family == "fpga" and par.get("pipeline", 1) > 1)
    assert some(lambda h, m, p, par: hm.get_accelerator(h).family == "fpga" and par.get("pipeline", 1) == 1)


@pytest.mark.parametrize("cfg", CONFIGS, ids=IDS)
def test_scalar_equals_vector_exactly(cfg: tuple[str, str, str, dict]) -> None:
    pm = _build(cfg)
    t, r, kv, pairs = random_aggregates(zlib.crc32(str(cfg).encode()), 2000)
    assert np.any(pairs != np.floor(pairs)) and np.any(t == 0)  # half-integer pairs, empty iterations
    vector = pm.iteration_time_s(BatchWork(t, r, kv, pairs)).tolist()
    for i, args in enumerate(zip(t.tolist(), r.tolist(), kv.tolist(), pairs.tolist())):
        got = pm.iteration_time_scalar_s(*args)
        assert type(got) is float
        assert got == vector[i], (cfg, args, got, vector[i])


@pytest.mark.parametrize("scalar_loop_max", [0, roofline.SCALAR_LOOP_MAX])
@pytest.mark.parametrize("cfg", CONFIGS[::4], ids=IDS[::4])
def test_base_class_wrapper_equals_vector_exactly(cfg: tuple[str, str, str, dict], scalar_loop_max: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The default ``iteration_time_scalar_s`` (1-element arrays through the vector method) agrees too, also
    when 1-element arrays take numpy's path rather than the short-run scalar loop."""
    monkeypatch.setattr(roofline, "SCALAR_LOOP_MAX", scalar_loop_max)
    pm = _build(cfg)
    t, r, kv, pairs = random_aggregates(zlib.crc32(str(cfg).encode()) + 1, 200)
    vector = pm.iteration_time_s(BatchWork(t, r, kv, pairs)).tolist()
    wrapper = PerformanceModel.iteration_time_scalar_s
    for i, args in enumerate(zip(t.tolist(), r.tolist(), kv.tolist(), pairs.tolist())):
        got = wrapper(pm, *args)
        assert type(got) is float
        assert got == vector[i] == pm.iteration_time_scalar_s(*args), (cfg, args)


@pytest.mark.parametrize("sku", sorted(SKU_CONFIGS))
def test_decode_runs_agree_at_every_length(sku: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run priced at once equals its iterations priced one by one (fast vs step-by-step engine), whatever
    the run length and whichever path (numpy, short-run scalar loop, scalar method) prices it."""
    model, precision, par = SKU_CONFIGS[sku]
    pm = hm.build_performance_model(sku, model, precision, par)
    rng = np.random.default_rng(len(sku))
    for batch in (1, 7, 64, 300):
        ctx = np.floor(rng.uniform(0, 8000, batch))
        full = BatchWork.decode_run(ctx, 4096)
        long = pm.iteration_time_s(full)
        for k in (1, 2, 3, 5, 6, 7, 16, 100):
            for loop_max in (0, roofline.SCALAR_LOOP_MAX):
                monkeypatch.setattr(roofline, "SCALAR_LOOP_MAX", loop_max)
                assert np.array_equal(pm.iteration_time_s(BatchWork.decode_run(ctx, k)), long[:k]), (batch, k)
        for j in (0, 1, 17, 4095):
            args = (full.new_tokens[j], full.requests[j], full.kv_read_tokens[j], full.attention_pairs[j])
            assert pm.iteration_time_scalar_s(*map(float, args)) == long[j]


@pytest.mark.parametrize("sku", sorted(SKU_CONFIGS))
def test_empty_iteration_and_argument_types(sku: str) -> None:
    model, precision, par = SKU_CONFIGS[sku]
    pm = hm.build_performance_model(sku, model, precision, par)
    assert pm.iteration_time_scalar_s(0.0, 0.0, 0.0, 0.0) == 0.0
    assert pm.iteration_time_scalar_s(0.0, 3.0, 500.0, 0.0) == 0.0  # no new token: nothing is run
    w = BatchWork(np.array([0.0, 64.0]), np.array([0.0, 64.0]), np.array([0.0, 6464.0]), np.array([0.0, 6464.0]))
    assert pm.iteration_time_s(w)[0] == 0.0
    # ints and numpy scalars are accepted and give the float result
    a = pm.iteration_time_scalar_s(64.0, 64.0, 6464.0, 6464.0)
    assert pm.iteration_time_scalar_s(64, 64, 6464, 6464) == a
    assert pm.iteration_time_scalar_s(*np.array([64.0, 64.0, 6464.0, 6464.0])) == a == pm.iteration_time_s(w)[1]
    assert type(pm.iteration_time_scalar_s(np.float64(64.0), 64.0, 6464.0, 6464.0)) is float


def test_moe_cache_does_not_change_results() -> None:
    """The scalar evaluator remembers the expected experts touched per token count; the first (computed) and
    later (remembered) calls agree with each other and with the vector path."""
    pm = hm.build_performance_model("amd-mi300x", "qwen3-30b-a3b", "fp8", {"expert": 2})
    w = BatchWork(np.array([300.0]), np.array([20.0]), np.array([9000.0]), np.array([50000.5]))
    pm.cost._touched_cache.clear()
    first = pm.iteration_time_scalar_s(300.0, 20.0, 9000.0, 50000.5)
    assert 300.0 in pm.cost._touched_cache
    assert pm.iteration_time_scalar_s(300.0, 20.0, 9000.0, 50000.5) == first
    roofline_loop, roofline.SCALAR_LOOP_MAX = roofline.SCALAR_LOOP_MAX, 0
    try:
        assert pm.iteration_time_s(w)[0] == first
    finally:
        roofline.SCALAR_LOOP_MAX = roofline_loop


def test_a_model_without_an_override_uses_the_wrapper() -> None:
    class Linear(PerformanceModel):
        devices, kv_capacity_tokens, kv_bytes_per_token, cold_start_s = 1, 1000, 1.0, 0.0

        def iteration_time_s(self, work: BatchWork) -> np.ndarray:
            return 0.01 + 1e-5 * np.asarray(work.new_tokens) + 1e-7 * np.asarray(work.kv_read_tokens)

        def power_w(self, utilisation: float) -> float:
            return 1.0

    m = Linear()
    got = m.iteration_time_scalar_s(10.0, 2.0, 100.0, 55.0)
    assert type(got) is float and got == 0.01 + 1e-5 * 10.0 + 1e-7 * 100.0


# --------------------------------------------------------------------------- the evaluators' primitives


def _catalog_exponents() -> list[float]:
    out = set()
    for sku in hm.list_accelerators():
        out.add(hm.get_accelerator(sku).efficiency("roofline_blend_exponent"))
    return sorted(out)


@pytest.mark.parametrize("exponent", _catalog_exponents() + [1.0, 2.0, 3.0, 0.5, 1.25])
def test_scalar_power_is_the_vector_power(exponent: float) -> None:
    """``SCALAR.power`` gives each element what ``VEC.power`` gives it in a long array: both are the C library's
    ``pow`` (numpy's own power loop may use SIMD code that differs in the last bit; the formulas do not use it)."""
    rng = np.random.default_rng(int(exponent * 1000))
    x = np.concatenate([rng.uniform(0.0, 1.0, 20000), np.exp(rng.uniform(-40, 40, 5000)), [0.0, 1.0]])
    vec = VEC.power(x, exponent)
    for xi, vi in zip(x.tolist(), vec.tolist()):
        assert SCALAR.power(xi, exponent) == vi
    inv = 1.0 / exponent
    vec_inv = VEC.power(1.0 + x, inv)
    for xi, vi in zip(x.tolist(), vec_inv.tolist()):
        assert SCALAR.power(1.0 + xi, inv) == vi
    # the blend's identity: 1^p is exactly 1 in both evaluators
    assert SCALAR.power(1.0, exponent) == 1.0 and np.all(VEC.power(np.ones(100), exponent) == 1.0)


@pytest.mark.parametrize("exponent", _catalog_exponents())
def test_scalar_power2_is_the_vector_power(exponent: float) -> None:
    """``SCALAR.power2`` (two powers with one exponent) gives each element what the vector evaluator gives it in
    a long array, and what ``SCALAR.power`` gives it alone."""
    rng = np.random.default_rng(int(exponent * 1000) + 1)
    x = np.concatenate([rng.uniform(0.0, 1.0, 4000), np.exp(rng.uniform(-40, 40, 1000)), [0.0, 1.0]])
    z = x[::-1].copy()
    for y in (exponent, 1.0 / exponent):
        vx, vz = VEC.power2(x, z, y)
        assert np.array_equal(vx, VEC.power(x, y)) and np.array_equal(vz, VEC.power(z, y))
        for xi, zi, a, b in zip(x.tolist(), z.tolist(), vx.tolist(), vz.tolist()):
            got = SCALAR.power2(xi, zi, y)
            assert got == (a, b) == (SCALAR.power(xi, y), SCALAR.power(zi, y))
            assert type(got[0]) is float and type(got[1]) is float


@pytest.mark.parametrize("experts,active", [(8, 2), (128, 8), (64, 6)])
def test_scalar_power_of_integer_token_counts(experts: int, active: int) -> None:
    miss = 1.0 - active / experts
    t = np.arange(0.0, 20000.0)
    vec = VEC.power(miss, t)
    assert all(SCALAR.power(miss, ti) == vi for ti, vi in zip(t.tolist(), vec.tolist()))


def test_min_max_where_agree() -> None:
    rng = np.random.default_rng(3)
    a = np.concatenate([rng.uniform(0, 1, 1000), [0.0, 1.0, 2.0]])
    b = np.concatenate([rng.uniform(0, 1, 1000), [0.0, 1.0, 2.0]])
    assert VEC.maximum(a, b).tolist() == [SCALAR.maximum(x, y) for x, y in zip(a.tolist(), b.tolist())]
    assert VEC.minimum(a, b).tolist() == [SCALAR.minimum(x, y) for x, y in zip(a.tolist(), b.tolist())]
    assert VEC.where(a > 0.5, a, b).tolist() == [SCALAR.where(x > 0.5, x, y) for x, y in zip(a.tolist(), b.tolist())]
    assert math.isinf(float("inf"))
