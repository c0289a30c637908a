"""The docs agree with the code: the committed scenario reference is the one the schema generates, and the
example scenario in docs/DESIGN.md loads and runs as written."""

import re
from pathlib import Path

import yaml

from experiments import load_scenario, run
from experiments.docgen import reference

DOCS = Path(__file__).parents[2] / "docs"


def test_scenario_reference_is_current() -> None:
    committed = (DOCS / "scenario-reference.md").read_text()
    assert committed == reference(), "regenerate: python -m experiments.docgen > docs/scenario-reference.md"


def test_the_design_example_scenario_runs_as_written() -> None:
    block = re.search(r"```yaml\n(.*?)```", (DOCS / "DESIGN.md").read_text(), re.S)
    assert block is not None, "docs/DESIGN.md has no yaml example"
    scenario = load_scenario(yaml.safe_load(block.group(1)), ["horizon.duration_s=90", "warmup_s=10"])
    result = run(scenario)
    summary = result.summary
    assert summary["counts"]["ok"] > 0 and set(summary["pools"]) == {"wafer", "gpu"}
    _every_output_key_is_documented(result.requests.columns, summary)


def _every_output_key_is_documented(columns: list[str], summary: dict) -> None:
    text = (DOCS / "outputs.md").read_text()
    named = set(re.findall(r"`([A-Za-z_0-9]+)`", text)) | {
        word for span in re.findall(r"`([^`]+)`", text) for word in re.findall(r"[A-Za-z_0-9]+", span)}
    keys = set(columns) | set(summary) | set(summary["counts"]) | set(summary["ttft_s"]) | set(summary["itl_s"])
    keys |= set(summary["pools"]["gpu"]) | set(summary["cost"]) | set(summary["cost"]["pools"]["gpu"])
    for cls in summary["classes"].values():
        keys |= set(cls) | set(cls["slo"] or {})
    missing = sorted(keys - named)
    assert not missing, f"docs/outputs.md does not name: {missing}"
