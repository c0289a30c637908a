"""The result of a run and how it is written: every file atomically (temp file, then rename)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from experiments.schema import Scenario


def write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through ``write`` into a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))


def write_parquet_atomic(path: Path, frame: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    write_atomic(path, lambda handle: pq.write_table(table, handle, compression="zstd"))


def scenario_yaml(scenario: Scenario) -> str:
    """The scenario with every default filled in, as YAML (``scenario.resolved.yaml``)."""
    data = scenario.model_dump(by_alias=True, exclude_none=True, mode="json")
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=110)


@dataclass
class Result:
    """Records (one row per request), the summary, and the scenario exactly as run."""

    scenario: Scenario
    requests: pd.DataFrame
    summary: dict[str, Any]
    wall_s: float = field(default=0.0, compare=False)

    def to_dir(self, path: str | Path) -> Path:
        """Write ``requests.parquet``, ``scenario.resolved.yaml`` and, last, ``summary.json`` into ``path``.

        Each file is atomic, and the set is too: an earlier run's ``summary.json`` is removed first and the new
        one is written last, so a folder holding a ``summary.json`` holds the three files of one run.
        """
        out = Path(path)
        summary_text = json.dumps(self.summary, indent=2, allow_nan=False) + "\n"  # strict JSON: no NaN
        (out / "summary.json").unlink(missing_ok=True)
        write_parquet_atomic(out / "requests.parquet", self.requests)
        write_text_atomic(out / "scenario.resolved.yaml", scenario_yaml(self.scenario))
        write_text_atomic(out / "summary.json", summary_text)
        return out
