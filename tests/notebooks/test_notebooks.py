"""Every notebook in notebooks/ runs top to bottom without a Jupyter kernel, and is committed clean.

Each notebook's code cells are exec'd in order in one fresh namespace (as a kernel would run them), with
the Agg matplotlib backend and a temporary working directory, so the figures they write land there. A
failing cell is reported with its index, its source and the traceback.
"""

from __future__ import annotations

import ast
import json
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def load_notebook(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def cell_source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def run_cell(source: str, namespace: dict[str, Any], name: str) -> None:
    """Exec a cell as a kernel would (a trailing expression is evaluated, its value discarded). IPython
    magics and shell escapes are not supported; the notebooks use none."""
    tree = ast.parse(source, filename=name)
    exec(compile(tree, name, "exec"), namespace)


def execute_notebook(path: Path) -> None:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for index, cell in enumerate(load_notebook(path)["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = cell_source(cell)
        try:
            run_cell(source, namespace, f"<{path.name} cell {index}>")
        except Exception:
            pytest.fail(f"{path.name}: code cell {index} failed\n--- source ---\n{source}\n--- error ---\n"
                        f"{traceback.format_exc()}", pytrace=False)


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOKS_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_clean_nbformat4(path: Path) -> None:
    nb = load_notebook(path)
    assert nb["nbformat"] == 4
    assert nb["cells"], "empty notebook"
    for index, cell in enumerate(nb["cells"]):
        assert cell["cell_type"] in {"code", "markdown", "raw"}, index
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"cell {index}: commit notebooks without outputs"
            assert cell.get("execution_count") is None, f"cell {index}: commit notebooks without counts"
    assert any(c["cell_type"] == "markdown" for c in nb["cells"]), "a notebook explains itself in markdown"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    execute_notebook(path)
    elapsed_s = time.perf_counter() - start
    pngs = list(tmp_path.rglob("*.png"))
    assert pngs, "the notebook wrote no figure"
    assert all(p.stat().st_size > 0 for p in pngs)
    # the time is reported, not asserted (wall-clock varies with the machine; -s shows it)
    print(f"{path.name} ran in {elapsed_s:.1f} s")
