"""``fleetsim hardware roofline``: bad arguments are refused with exit 2 and no file, --out's suffix picks the
format, and the plot gets the usual file mode (not mkstemp's 0600)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from experiments.cli import main
from experiments.results import write_text_atomic

BASE = ["hardware", "roofline", "--hardware", "nvidia-h100-sxm", "--model", "llama-3.1-8b", "--precision", "fp8",
        "--max-batch", "8"]


def roofline(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*BASE, *args])
    return result.exit_code, result.output


@pytest.fixture
def umask_027() -> Iterator[None]:
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize(("option", "value", "rule"), [
    ("--context", "-5", "x>=0"), ("--max-batch", "0", "x>=1"), ("--tensor", "0", "x>=1"),
    ("--pipeline", "0", "x>=1"),
])
def test_out_of_range_numbers_are_refused_with_the_option_value_and_rule(tmp_path: Path, option: str, value: str,
                                                                        rule: str) -> None:
    out = tmp_path / "r.png"
    code, output = roofline(option, value, "--out", str(out))
    assert code == 2, output
    assert f"'{option}'" in output and value in output and rule in output
    assert "Traceback" not in output and "log-scaled" not in output
    assert not out.exists()


@pytest.mark.parametrize("name", ["r.xyz", "r", "r.png.tmp"])
def test_an_unknown_suffix_is_refused_naming_out_the_suffix_and_the_allowed_ones(tmp_path: Path, name: str) -> None:
    code, output = roofline("--out", str(tmp_path / name))
    assert code == 2, output
    assert "'--out'" in output and ".png, .pdf, .svg" in output
    assert ("no suffix" if "." not in name else f"suffix '{Path(name).suffix}'") in output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "magic"), [("r.png", b"\x89PNG"), ("r.pdf", b"%PDF"), ("R.SVG", b"<?xml"),
                                             ("r.svg", b"<?xml")])
def test_the_suffix_picks_the_format(tmp_path: Path, name: str, magic: bytes) -> None:
    out = tmp_path / name
    code, output = roofline("--out", str(out))
    assert code == 0, output
    assert out.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind


def test_the_plot_gets_the_usual_file_mode(tmp_path: Path, umask_027: None) -> None:
    out = tmp_path / "r.png"
    code, output = roofline("--out", str(out))
    assert code == 0, output
    assert stat.S_IMODE(out.stat().st_mode) == 0o640  # 0o666 less the umask, as open() gives


def test_the_shared_atomic_writer_gives_the_usual_file_mode(tmp_path: Path, umask_027: None) -> None:
    out = tmp_path / "x.txt"
    write_text_atomic(out, "x")
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_an_out_path_under_a_file_is_refused_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    code, output = roofline("--out", str(tmp_path / "f" / "r.png"))
    assert code == 2, output
    assert "--out" in output and "a parent of it is a file" in output and "Traceback" not in output
