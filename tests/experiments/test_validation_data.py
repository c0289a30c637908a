"""The shipped MLPerf length tables agree with figures published independently of them (see
experiments/validation/data/README.md): a copying slip in either file fails here."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).parents[2] / "experiments" / "validation" / "data"


def _table(name: str) -> pd.DataFrame:
    table = pd.read_csv(DATA / name)
    assert list(table.columns) == ["input_length", "output_length"]
    assert (table > 0).all().all() and all(dtype.kind == "i" for dtype in table.dtypes)
    return table


def test_llama2_70b_inputs_are_the_official_sample_set() -> None:
    """24,576 prompts, 5,463,976 tokens, 48 to 1,021 (the tabulation of open_orca_gpt4_tokenized_llama.sampled_24576.pkl)."""
    table = _table("mlperf-llama2-70b-lengths.csv")
    inputs = table["input_length"]
    assert len(table) == 24_576
    assert (int(inputs.sum()), int(inputs.min()), int(inputs.max())) == (5_463_976, 48, 1_021)


def test_mixtral_8x7b_table_matches_the_published_dataset_figures() -> None:
    table = _table("mlperf-mixtral-8x7b-lengths.csv")
    assert len(table) == 15_000
    # mlcommons/inference language/mixtral-8x7b/README.md: tokens_per_sample 144.84
    assert table["output_length"].mean() == pytest.approx(144.84, abs=0.005)
    assert table["output_length"].max() == 1_024 and table["input_length"].max() <= 2_048
    # row 0 is GSM8K train.548 (tok_input_len 657); rows quoted in mlcommons/inference issue #1777 (OpenOrca)
    quoted = {0: 657, 6486: 146, 6489: 192, 6630: 267, 6733: 259}
    assert {row: int(table["input_length"].iloc[row]) for row in quoted} == quoted
    # three blocks of 5,000: GSM8K's few-shot prompts are all long, MBXP's short
    gsm8k, orca, mbxp = (table["input_length"].iloc[k * 5000:(k + 1) * 5000] for k in range(3))
    assert gsm8k.min() >= 600 > orca.min() and mbxp.median() < orca.median() < gsm8k.median()


@pytest.mark.parametrize("scenario,key", [
    ("mlperf41-mixtral-8x7b-h100-server.yaml", "lengths"),
    ("mlperf41-llama2-70b-mi300x-server.yaml", "input_tokens"),
])
def test_validation_scenarios_draw_from_the_tables(scenario: str, key: str) -> None:
    import experiments

    spec = experiments.load_scenario(DATA.parent / "scenarios" / scenario)
    drawn = getattr(spec.workload, key)
    assert Path(drawn.path).resolve().parent == DATA.resolve()
