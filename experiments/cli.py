"""The ``fleetsim`` command line (DESIGN.md, "CLI"). Bad input exits with status 2 and one line per problem."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from experiments.errors import ScenarioError
from experiments.hardware_cli import hardware
from experiments.loading import DEFAULT_SCENARIO, load_scenario
from experiments.report import format_summary, run_warnings

EXIT_BAD_INPUT = 2


def fail(lines: list[str] | str) -> "click.exceptions.Exit":
    """Print each problem on its own line to stderr and exit with status 2."""
    for line in [lines] if isinstance(lines, str) else lines:
        click.echo(f"error: {line}", err=True)
    return click.exceptions.Exit(EXIT_BAD_INPUT)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fleetsim")
def main() -> None:
    """fleetsim: discrete-event simulation of AI inference fleets (tail latency and cost per inference)."""


def default_out_dir(name: str) -> Path:
    """``runs/<name>``, when the scenario's name is one plain folder name (else ask for --out)."""
    if name.startswith(".") or any(c in "/\\" or ord(c) < 32 for c in name):
        raise fail([f"name: {name!r} is not a plain folder name (it has '/', '\\', a control character or a "
                    "leading '.'), so it cannot name the default output folder runs/<name>: give --out"])
    return Path("runs") / name


@main.command("run")
@click.argument("scenario", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for requests.parquet, summary.json, scenario.resolved.yaml [runs/<scenario name>].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a scenario field, e.g. --set fleet.pools[0].replicas=4 (repeatable).")
@click.option("--seed", type=click.IntRange(min=0), help="Override the scenario's seed.")
@click.option("--quiet", is_flag=True, help="Files only: no progress bar, no table, no 'wrote' line (warnings and errors still go to stderr).")
def run_command(scenario: Path | None, out_dir: Path | None, overrides: tuple[str, ...], seed: int | None,
                quiet: bool) -> None:
    """Run SCENARIO (a YAML file; the bundled default when omitted) and print its summary."""
    from experiments.runner import run

    path = scenario if scenario is not None else DEFAULT_SCENARIO
    try:
        loaded = load_scenario(path, overrides, seed)
    except ScenarioError as exc:
        raise fail(str(exc).splitlines()) from None
    progress = None if quiet else _progress_bar()
    try:
        result = run(loaded, progress=progress)
    except ValueError as exc:  # bad input found while building: a trace row, a model that does not fit
        raise fail(str(exc).splitlines()) from None
    finally:
        if progress is not None:
            progress.close()
    target = out_dir if out_dir is not None else default_out_dir(loaded.name)
    try:
        result.to_dir(target)
    except OSError as exc:
        raise fail([f"--out {target}: cannot write the results: {exc.strerror or exc}"]) from None
    if not quiet:
        click.echo(format_summary(result.summary, result.wall_s))
    for line in run_warnings(result.requests, result.summary, loaded):
        click.echo(f"warning: {line}", err=True)
    if not quiet:
        click.echo(f"\nwrote {target}/requests.parquet, summary.json, scenario.resolved.yaml")


@main.command("validate")
@click.option("--cases", "case_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A validation case file (repeatable) [every file in experiments/validation/].")
@click.option("--case", "patterns", multiple=True, metavar="PATTERN",
              help="Only the cases whose id matches (repeatable; *, ? and [...] as in the shell), e.g. 'mlperf41-*'.")
@click.option("--jobs", type=click.IntRange(min=0), default=1, show_default=True,
              help="Worker processes running scenarios side by side (0: one per CPU); the results do not depend on it.")
def validate_command(case_files: tuple[Path, ...], patterns: tuple[str, ...], jobs: int) -> None:
    """Predict every validation case and compare with the published figure; exit 1 if any is outside."""
    from experiments.report import table
    from experiments.validation import (CaseFailure, default_case_files, error_summary, evaluate_cases,
                                        load_case_files, select_cases)

    files = list(case_files) or default_case_files()
    try:
        loaded = select_cases(load_case_files(files), list(patterns))
    except ScenarioError as exc:
        raise fail(str(exc).splitlines()) from None
    suites = [suite for suite, _ in loaded]  # the file each case came from
    from tqdm import tqdm

    # a bar over the cases on a terminal after 2 s (the serving cases run whole scenarios: minutes in all)
    with tqdm(total=len(loaded), unit="case", delay=2.0, disable=None, file=sys.stderr, leave=False) as bar:
        def done(group: list) -> None:
            bar.set_postfix_str(group[-1][0].id, refresh=False)  # the last case finished
            bar.update(len(group))

        try:
            rows = evaluate_cases([pair for _, pair in loaded], jobs or os.cpu_count() or 1, done)
        except CaseFailure as exc:
            raise fail([f"case {exc.case_id}: {line}" for line in exc.message.splitlines()]) from None
    printable = [[r["id"], r["metric"], f"{r['predicted']:.4g}", f"{r['expected']:.4g}",
                  f"{100 * r['relative_error']:.1f}%", f"{100 * r['tolerance']:.0f}%",
                  "ok" if r["ok"] else "OUTSIDE"] for r in rows]
    click.echo(table(["case", "metric", "predicted", "published", "error", "tolerance", ""], printable, "<<>>>><"))
    s = error_summary(rows)
    click.echo(f"\n{_errors_line(s)}")
    # each file's, SKU's and kind of metric's own figures, so that one group cannot hide another
    for title, labels in (("", suites), ("by hardware", [r["hardware"] for r in rows]),
                          ("by metric", [r["kind"] for r in rows])):
        _echo_groups(title, rows, labels)
    if s["outside_tolerance"]:
        raise click.exceptions.Exit(1)


def _echo_groups(title: str, rows: list[dict], labels: list[str]) -> None:
    """The error summary of each group of rows (``labels`` gives each row's group), under ``title``, when there
    is more than one group; groups in order of first appearance."""
    from experiments.validation import error_summary

    if len(set(labels)) < 2:
        return
    if title:
        click.echo(title + ":")
    for label in dict.fromkeys(labels):
        click.echo(f"  {label}: {_errors_line(error_summary([r for r, x in zip(rows, labels) if x == label]))}")


def _errors_line(s: dict[str, float]) -> str:
    return (f"{s['cases']} cases: median error {100 * s['median_relative_error']:.1f}%, worst "
            f"{100 * s['worst_relative_error']:.1f}%, {s['outside_tolerance']} outside tolerance")


class _ProgressBar:
    """A tqdm bar in percent of the horizon (simulated time or requests), shown after 2 s of wall time."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=100, unit="%", delay=2.0, disable=None, file=sys.stderr,
                         bar_format="{l_bar}{bar}| {n:.0f}/100% [{elapsed}<{remaining}{postfix}]")
        self._done = 0.0

    def __call__(self, fraction: float, now_s: float) -> None:
        target = 100.0 * fraction
        if target > self._done:
            self._bar.update(target - self._done)
            self._done = target
        self._bar.set_postfix_str(f"t={now_s:,.0f} s simulated", refresh=False)

    def close(self) -> None:
        self._bar.close()


def _progress_bar() -> _ProgressBar:
    return _ProgressBar()


main.add_command(hardware)

if __name__ == "__main__":
    main()
