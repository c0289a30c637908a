"""The cited catalog: accelerators, model architectures and per-family efficiency factors.

Every number in a catalog YAML is a mapping ``{value: ..., source: "..."}`` (a published figure), optionally
with ``assumption: "..."`` when no figure was published and the value is reasoned (the reasoning is stated),
or ``{value: ..., fitted_to: "..."}`` for efficiency factors fitted to named measurements of
``docs/reference/published.md``. Files are validated on load; an error names the file and the field path.

Layout (shipped inside the package):
    catalog/accelerators/<name>.yaml   one per SKU
    catalog/models/<name>.yaml         one per model architecture
    catalog/families/<family>.yaml     efficiency factors and parameters shared by a family
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

CATALOG_DIR = Path(__file__).parent / "catalog"

Precision = Literal["bf16", "fp16", "fp8", "int8", "int4", "fp4"]
PRECISIONS: tuple[str, ...] = ("bf16", "fp16", "fp8", "int8", "int4", "fp4")
Family = Literal["gpu", "gaudi", "tpu", "wafer", "lpu", "fpga"]


class CatalogError(ValueError):
    """A catalog file is malformed; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sourced(_Strict):
    """A number with where it came from; ``assumption`` says why when it is reasoned, not published."""

    value: float
    source: str = Field(min_length=8)
    assumption: str | None = None
    date: str | None = None


class Fitted(_Strict):
    """An efficiency factor with the measurement(s) it was fitted to."""

    value: float
    fitted_to: str = Field(min_length=8)


def _check_efficiency(path: Path, factors: dict[str, Fitted]) -> None:
    """Each factor within its meaning: a ``*_fraction`` of a peak is in (0, 1], a ``*_s`` time is >= 0, the roofline
    blend exponent is >= 1 (the p-norm of two times is at least their max; inf is the plain max), any other > 0."""
    for key, f in factors.items():
        v = f.value
        if key.endswith("_fraction") or key.startswith("compute_fraction"):
            ok, rule = 0.0 < v <= 1.0, "must be in (0, 1]"
        elif key.endswith("_s"):
            ok, rule = 0.0 <= v < math.inf, "must be >= 0"
        elif key == "roofline_blend_exponent":
            ok, rule = v >= 1.0, "must be >= 1"
        else:
            ok, rule = 0.0 < v < math.inf, "must be > 0"
        if not ok:
            raise CatalogError(f"{path.name}: efficiency.{key}.value: {rule}, got {v}")


class Priced(Sourced):
    """A price: a date is mandatory."""

    date: str = Field(min_length=4)


class MemoryLevel(_Strict):
    level: str
    capacity_bytes: Sourced
    bandwidth_bytes_per_s: Sourced


class Interconnect(_Strict):
    topology: str
    topology_source: str = Field(min_length=8)
    scale_up_links: Sourced
    scale_up_link_bandwidth_bytes_per_s: Sourced
    scale_up_hop_latency_s: Sourced
    scale_up_domain_devices: Sourced
    scale_out_bandwidth_bytes_per_s: Sourced
    scale_out_latency_s: Sourced
    host_link_bandwidth_bytes_per_s: Sourced
    storage_bandwidth_bytes_per_s: Sourced


class Power(_Strict):
    idle_w: Sourced
    busy_w: Sourced


class Price(_Strict):
    usd_per_device_hour: Priced | None = None
    purchase_usd: Priced | None = None


class AcceleratorFile(_Strict):
    name: str
    family: Family
    description: str
    device_unit: Literal["chip", "card", "system"]
    compute_flops_per_s: dict[Precision, Sourced]
    memory: list[MemoryLevel] = Field(min_length=1)
    interconnect: Interconnect
    power: Power
    price: Price
    extra: dict[str, Sourced] = Field(default_factory=dict)
    efficiency: dict[str, Fitted] = Field(default_factory=dict)

    @field_validator("compute_flops_per_s")
    @classmethod
    def _some_compute(cls, v: dict[str, Sourced]) -> dict[str, Sourced]:
        if not v:
            raise ValueError("at least one precision is required")
        for k, s in v.items():
            if s.value <= 0:
                raise ValueError(f"{k}: must be > 0, got {s.value}")
        return v


class FamilyFile(_Strict):
    family: Family
    description: str
    efficiency: dict[str, Fitted]
    parameters: dict[str, Sourced] = Field(default_factory=dict)


class ModelFile(_Strict):
    name: str
    source: str = Field(min_length=8)
    layers: int = Field(gt=0)
    hidden: int = Field(gt=0)
    heads: int = Field(gt=0)
    kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    ffn: int = Field(gt=0)
    vocab: int = Field(gt=0)
    experts: int = Field(default=1, gt=0)
    active_experts: int = Field(default=1, gt=0)
    gated_mlp: bool = True
    tied_embeddings: bool = False
    params: Sourced
    notes: str | None = None


# ----------------------------------------------------------------------------- typed public objects


@dataclass(frozen=True)
class Accelerator:
    """One SKU. Cost code reads ``usd_per_device_hour``, ``purchase_usd``, ``idle_w``, ``busy_w``."""

    name: str
    family: str
    device_unit: str
    raw: AcceleratorFile
    family_raw: FamilyFile

    # -- compute / memory
    def peak_flops_per_s(self, precision: str) -> float:
        s = self.raw.compute_flops_per_s.get(precision)  # type: ignore[call-overload]
        if s is None:
            raise ValueError(
                f"{self.name} does not support precision {precision!r}; supported: "
                f"{', '.join(self.precisions)}"
            )
        return s.value

    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(p for p in PRECISIONS if p in self.raw.compute_flops_per_s)

    @property
    def memory_capacity_bytes(self) -> float:
        return self.raw.memory[0].capacity_bytes.value

    @property
    def memory_bandwidth_bytes_per_s(self) -> float:
        return self.raw.memory[0].bandwidth_bytes_per_s.value

    # -- interconnect
    def ic(self, field: str) -> float:
        return float(getattr(self.raw.interconnect, field).value)

    @property
    def topology(self) -> str:
        return self.raw.interconnect.topology

    # -- power / price
    @property
    def idle_w(self) -> float:
        return self.raw.power.idle_w.value

    @property
    def busy_w(self) -> float:
        return self.raw.power.busy_w.value

    @property
    def usd_per_device_hour(self) -> float | None:
        p = self.raw.price.usd_per_device_hour
        return None if p is None else p.value

    @property
    def purchase_usd(self) -> float | None:
        p = self.raw.price.purchase_usd
        return None if p is None else p.value

    # -- efficiency: SKU override, else family default
    def efficiency(self, key: str) -> float:
        if key in self.raw.efficiency:
            return self.raw.efficiency[key].value
        if key in self.family_raw.efficiency:
            return self.family_raw.efficiency[key].value
        raise KeyError(f"{self.name}: no efficiency factor {key!r} in the SKU or family {self.family!r} catalog")

    def compute_fraction(self, precision: str) -> float:
        specific = f"compute_fraction_{precision}"
        if specific in self.raw.efficiency or specific in self.family_raw.efficiency:
            return self.efficiency(specific)
        return self.efficiency("compute_fraction")

    def parameter(self, key: str) -> float:
        if key in self.raw.extra:
            return self.raw.extra[key].value
        if key in self.family_raw.parameters:
            return self.family_raw.parameters[key].value
        raise KeyError(f"{self.name}: no parameter {key!r} in the SKU extras or family {self.family!r} catalog")

    def has_extra(self, key: str) -> bool:
        return key in self.raw.extra


@dataclass(frozen=True)
class ModelArch:
    """A transformer architecture from its published configuration."""

    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    experts: int
    active_experts: int
    gated_mlp: bool
    tied_embeddings: bool
    params_published: float
    source: str

    @property
    def is_moe(self) -> bool:
        return self.experts > 1


# ----------------------------------------------------------------------------- loading


def _fmt_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _load_yaml(path: Path) -> Any:
    try:
        with path.open("r", encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path.name}: not valid YAML: {exc}") from None


def _validate(path: Path, schema: type[BaseModel]) -> Any:
    data = _load_yaml(path)
    if not isinstance(data, dict):
        raise CatalogError(f"{path.name}: expected a mapping at top level, got {type(data).__name__}")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_fmt_loc(tuple(e['loc']))}: {e['msg']}" + (f" (got {e['input']!r})" if e["type"] != "missing" else "")
            for e in exc.errors()
        )
        raise CatalogError(f"{path.name}: {problems}") from None


def load_families(directory: Path | None = None) -> dict[str, FamilyFile]:
    return dict(_load_families(directory or CATALOG_DIR))


@lru_cache(maxsize=8)
def _load_families(root: Path) -> dict[str, FamilyFile]:
    d = root / "families"
    out: dict[str, FamilyFile] = {}
    for path in sorted(d.glob("*.yaml")):
        fam = _validate(path, FamilyFile)
        _check_efficiency(path, fam.efficiency)
        if fam.family in out:
            raise CatalogError(f"{path.name}: duplicate family {fam.family!r}")
        out[fam.family] = fam
    return out


def load_accelerators(directory: Path | None = None) -> dict[str, Accelerator]:
    """All accelerators in ``directory`` (default: the packaged catalog), validated; duplicates rejected.

    Parsed files are memoised per directory (the objects are immutable): the engine builds many models.
    """
    return dict(_load_accelerators(directory or CATALOG_DIR))


@lru_cache(maxsize=8)
def _load_accelerators(root: Path) -> dict[str, Accelerator]:
    families = _load_families(root)
    out: dict[str, Accelerator] = {}
    seen: dict[str, str] = {}
    for path in sorted((root / "accelerators").glob("*.yaml")):
        acc = _validate(path, AcceleratorFile)
        _check_efficiency(path, acc.efficiency)
        if acc.name in seen:
            raise CatalogError(f"{path.name}: duplicate accelerator name {acc.name!r} (also in {seen[acc.name]})")
        if acc.name != path.stem:
            raise CatalogError(f"{path.name}: name: must match the file name {path.stem!r}, got {acc.name!r}")
        fam_key = acc.family
        if fam_key not in families:
            raise CatalogError(f"{path.name}: family: no catalog/families/{fam_key}.yaml for {acc.family!r}")
        seen[acc.name] = path.name
        out[acc.name] = Accelerator(acc.name, acc.family, acc.device_unit, acc, families[fam_key])
    return out


def load_models(directory: Path | None = None) -> dict[str, ModelArch]:
    return dict(_load_models(directory or CATALOG_DIR))


@lru_cache(maxsize=8)
def _load_models(root: Path) -> dict[str, ModelArch]:
    out: dict[str, ModelArch] = {}
    for path in sorted((root / "models").glob("*.yaml")):
        m = _validate(path, ModelFile)
        if m.name in out:
            raise CatalogError(f"{path.name}: duplicate model name {m.name!r}")
        if m.name != path.stem:
            raise CatalogError(f"{path.name}: name: must match the file name {path.stem!r}, got {m.name!r}")
        if m.active_experts > m.experts:
            raise CatalogError(f"{path.name}: active_experts: must be <= experts ({m.experts}), got {m.active_experts}")
        if m.heads % m.kv_heads:
            raise CatalogError(f"{path.name}: kv_heads: must divide heads ({m.heads}), got {m.kv_heads}")
        out[m.name] = ModelArch(
            m.name, m.layers, m.hidden, m.heads, m.kv_heads, m.head_dim, m.ffn, m.vocab, m.experts,
            m.active_experts, m.gated_mlp, m.tied_embeddings, m.params.value, m.source,
        )
    return out


def _unknown(kind: str, name: str, valid: list[str]) -> KeyError:
    return KeyError(f"unknown {kind} {name!r}; valid: {', '.join(valid)}")


def list_accelerators() -> list[str]:
    return sorted(load_accelerators())


def get_accelerator(name: str) -> Accelerator:
    accs = load_accelerators()
    if name not in accs:
        raise _unknown("accelerator", name, sorted(accs))
    return accs[name]


def list_models() -> list[str]:
    return sorted(load_models())


def get_model(name: str) -> ModelArch:
    models = load_models()
    if name not in models:
        raise _unknown("model", name, sorted(models))
    return models[name]


def iter_numbers(obj: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every (field path, value) whose value is a number or a Sourced/Fitted in a parsed YAML tree.

    Used by ``hardware show`` and by the catalog test that checks every number has a source.
    """
    out: list[tuple[str, Any]] = []
    if isinstance(obj, dict):
        if "value" in obj:
            out.append((path, obj))
            return out
        for k, v in obj.items():
            out.extend(iter_numbers(v, f"{path}.{k}" if path else str(k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.extend(iter_numbers(v, f"{path}[{i}]"))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out.append((path, obj))
    return out
