"""Every data file the packages read is shipped: a non-editable install must run the bundled scenarios and
every validation case, not only the checkout the tests run in."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]


def _data_files(package: Path) -> set[Path]:
    return {p for p in package.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}


def test_package_data_globs_cover_every_data_file() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs: dict[str, list[str]] = config["package-data"]
    for package in config["packages"]["find"]["include"]:
        name = package.rstrip("*")
        shipped = {f for pattern in globs.get(name, []) for f in (ROOT / name).glob(pattern) if f.is_file()}
        missing = sorted(str(f.relative_to(ROOT)) for f in _data_files(ROOT / name) - shipped)
        assert not missing, f"pyproject.toml [tool.setuptools.package-data] {name}: not shipped: {missing[:10]}"
