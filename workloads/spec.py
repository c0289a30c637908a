"""Base class of every parameter object: frozen, unknown keys rejected, constraints declared on fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Spec(BaseModel):
    """A plain-data parameter object (scikit-learn style): validated at construction, no side effects. It dumps
    under the names a scenario file uses (``mean``, not the field ``mean_``), so a dump loads back."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True, serialize_by_alias=True)


def require_unique(names: list[str], what: str) -> None:
    """Raise the schema's message when a name appears more than once (``what``: e.g. "pool names")."""
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{what} must be unique, got {duplicates} more than once")
