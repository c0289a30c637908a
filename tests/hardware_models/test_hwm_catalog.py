"""Catalog: every number has a source, duplicates and malformed files are rejected with clear messages."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

import hardware_models as hm
from hardware_models.catalog import CATALOG_DIR, CatalogError, iter_numbers, load_accelerators, load_models

ACC_FILES = sorted((CATALOG_DIR / "accelerators").glob("*.yaml"))
FAMILY_FILES = sorted((CATALOG_DIR / "families").glob("*.yaml"))

EXPECTED = ["nvidia-a100-80gb", "nvidia-h100-sxm", "nvidia-h200", "nvidia-b200", "amd-mi300x", "intel-gaudi2",
            "intel-gaudi3", "google-tpu-v4", "google-tpu-v5e", "google-tpu-v5p", "google-tpu-v6e", "cerebras-cs2",
            "cerebras-cs3", "groq-lpu", "amd-alveo-u55c", "amd-alveo-v80"]


def test_catalog_names_are_the_contract() -> None:
    assert sorted(EXPECTED) == hm.list_accelerators()
    for m in ["llama-2-7b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "mixtral-8x7b", "gpt-j-6b"]:
        assert m in hm.list_models()
    assert any(hm.get_model(m).experts > 8 for m in hm.list_models())  # a recent many-expert MoE


@pytest.mark.parametrize("path", ACC_FILES + FAMILY_FILES, ids=lambda p: p.name)
def test_every_number_has_a_source(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    numbers = iter_numbers(data)
    assert numbers
    for field, leaf in numbers:
        assert isinstance(leaf, dict), f"{path.name}: {field} is a bare number without a source"
        assert leaf.get("source") or leaf.get("fitted_to"), f"{path.name}: {field} has no source"


def test_typed_cost_fields() -> None:
    h100 = hm.get_accelerator("nvidia-h100-sxm")
    assert h100.usd_per_device_hour == pytest.approx(4.92)
    assert h100.purchase_usd == pytest.approx(24875)
    assert h100.busy_w == 700 and 0 < h100.idle_w < h100.busy_w
    assert hm.get_accelerator("nvidia-b200").usd_per_device_hour is None


def _copy_catalog(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, root)
    return root


def test_duplicate_names_rejected(tmp_path: Path) -> None:
    root = _copy_catalog(tmp_path)
    src = root / "accelerators" / "nvidia-h100-sxm.yaml"
    shutil.copy(src, root / "accelerators" / "zz-copy.yaml")
    with pytest.raises(CatalogError, match="zz-copy.yaml: duplicate accelerator name 'nvidia-h100-sxm'"):
        load_accelerators(root)


def test_bad_field_names_file_and_field(tmp_path: Path) -> None:
    root = _copy_catalog(tmp_path)
    path = root / "accelerators" / "nvidia-h100-sxm.yaml"
    data = yaml.safe_load(path.read_text())
    del data["memory"][0]["bandwidth_bytes_per_s"]["source"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CatalogError, match=r"nvidia-h100-sxm.yaml: memory\[0\].bandwidth_bytes_per_s.source"):
        load_accelerators(root)


def test_bad_value_and_bad_yaml(tmp_path: Path) -> None:
    root = _copy_catalog(tmp_path)
    path = root / "accelerators" / "google-tpu-v5e.yaml"
    data = yaml.safe_load(path.read_text())
    data["compute_flops_per_s"]["bf16"]["value"] = "fast"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CatalogError, match=r"google-tpu-v5e.yaml: compute_flops_per_s.bf16.value"):
        load_accelerators(root)
    path.write_text("name: [unclosed\n")
    with pytest.raises(CatalogError, match="google-tpu-v5e.yaml: not valid YAML"):
        load_accelerators(root)


@pytest.mark.parametrize(("where", "key", "value", "rule"), [
    ("families/gpu.yaml", "expert_gemm_fraction", 0.0, r"must be in \(0, 1\], got 0.0"),
    ("families/gpu.yaml", "compute_fraction_fp8", 1.5, r"must be in \(0, 1\], got 1.5"),
    ("accelerators/amd-mi300x.yaml", "memory_bandwidth_fraction", -0.1, r"must be in \(0, 1\]"),
    ("families/gpu.yaml", "per_step_overhead_s", -1e-3, "must be >= 0"),
    ("families/tpu.yaml", "roofline_blend_exponent", 0.5, "must be >= 1"),
])
def test_efficiency_factors_are_range_checked(tmp_path: Path, where: str, key: str, value: float, rule: str) -> None:
    """A factor outside its meaning (a fraction of a peak above 1, a negative time) is refused with its key."""
    root = _copy_catalog(tmp_path)
    path = root / where
    data = yaml.safe_load(path.read_text())
    data["efficiency"][key]["value"] = value
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CatalogError, match=rf"{path.name}: efficiency.{key}.value: {rule}"):
        load_accelerators(root)


def test_bad_model_file(tmp_path: Path) -> None:
    root = _copy_catalog(tmp_path)
    path = root / "models" / "mixtral-8x7b.yaml"
    data = yaml.safe_load(path.read_text())
    data["active_experts"] = 9
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CatalogError, match="mixtral-8x7b.yaml: active_experts"):
        load_models(root)


def test_prices_carry_dates() -> None:
    for name in hm.list_accelerators():
        price = hm.get_accelerator(name).raw.price
        for p in (price.usd_per_device_hour, price.purchase_usd):
            assert p is None or p.date


def test_no_catalog_or_bundled_yaml_gives_a_key_twice() -> None:
    # the catalog loader is plain yaml.safe_load (last key wins); the scenario loader refuses duplicates, so use it
    # to check every YAML the project ships: a number given twice would silently lose its first source
    from experiments.loading import parse_yaml

    root = Path(__file__).parents[2]
    files = sorted(root.glob("hardware_models/catalog/**/*.yaml")) + sorted(root.glob("experiments/**/*.yaml"))
    assert len(files) > 50
    for path in files:
        parse_yaml(path.read_text(encoding="utf-8"))  # raises, naming the line, on a key given twice


@pytest.mark.parametrize("name", hm.list_accelerators())
def test_a_narrower_precision_never_computes_slower(name: str) -> None:
    """Achieved compute (peak x efficiency factor) never falls when a SKU's precision narrows to one it lists at
    a rate at least as high, and is the same for two precisions of one width at one rate (H100 INT8 and FP8 run
    on the same tensor cores). Borrowed factors broke this twice: Gaudi 3 FP8 took the H100 fp8/bf16 ratio
    although its FP8 rate equals its BF16 rate, and H100 INT8 took the 16-bit factor."""
    from hardware_models.transformer import WEIGHT_BYTES

    acc = hm.get_accelerator(name)
    achieved = {p: acc.peak_flops_per_s(p) * acc.compute_fraction(p) for p in acc.raw.compute_flops_per_s}
    for wide, wide_rate in achieved.items():
        for narrow, narrow_rate in achieved.items():
            if WEIGHT_BYTES[narrow] > WEIGHT_BYTES[wide] or acc.peak_flops_per_s(narrow) < acc.peak_flops_per_s(wide):
                continue
            assert narrow_rate >= wide_rate * (1 - 1e-12), f"{name}: {narrow} computes slower than {wide}"
            if WEIGHT_BYTES[narrow] == WEIGHT_BYTES[wide] and acc.peak_flops_per_s(narrow) == acc.peak_flops_per_s(wide):
                assert narrow_rate == pytest.approx(wide_rate), f"{name}: {narrow} and {wide} differ at one rate"
