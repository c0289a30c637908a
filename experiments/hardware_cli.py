"""``fleetsim hardware``: the accelerator catalog with its sources, and roofline plots.

    fleetsim hardware list
    fleetsim hardware show NAME
    fleetsim hardware roofline --hardware A --hardware B --model M --precision P [--tensor N] --out file.png|.pdf|.svg
"""

from __future__ import annotations

import sys

import click

from hardware_models import DoesNotFitError, get_accelerator, list_accelerators, list_models
from hardware_models.catalog import CatalogError, iter_numbers


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _check_name(name: str, valid: list[str], kind: str) -> None:
    if name not in valid:
        _fail(f"unknown {kind} {name!r}; valid: {', '.join(valid)}")


@click.group(name="hardware")
def hardware() -> None:
    """Accelerator catalog (every number with its source) and roofline plots."""


@hardware.command(name="list")
def list_cmd() -> None:
    """A table of every SKU: family, bf16 TFLOP/s, memory, bandwidth, power and price."""
    try:
        names = list_accelerators()
    except CatalogError as exc:
        _fail(str(exc))
    rows = [("name", "family", "bf16 TF", "memory GB", "bw TB/s", "busy W", "USD/h", "purchase USD")]
    for n in names:
        a = get_accelerator(n)
        bf16 = a.raw.compute_flops_per_s.get("bf16") or a.raw.compute_flops_per_s.get("fp16")
        rows.append((n, a.family, f"{bf16.value / 1e12:,.0f}" if bf16 else "-",
                     f"{a.memory_capacity_bytes / 1e9:,.2f}", f"{a.memory_bandwidth_bytes_per_s / 1e12:,.2f}",
                     f"{a.busy_w:,.0f}", f"{a.usd_per_device_hour:.2f}" if a.usd_per_device_hour else "-",
                     f"{a.purchase_usd:,.0f}" if a.purchase_usd else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for j, r in enumerate(rows):
        click.echo("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if j == 0:
            click.echo("  ".join("-" * w for w in widths))


@hardware.command(name="show")
@click.argument("name")
def show_cmd(name: str) -> None:
    """Every number of one SKU with its source (and assumption or fit where stated)."""
    _check_name(name, list_accelerators(), "accelerator")
    a = get_accelerator(name)
    click.echo(f"{a.name} ({a.family}, one {a.device_unit} per device): {a.raw.description}")
    click.echo(f"topology: {a.topology} - {a.raw.interconnect.topology_source}")
    data = a.raw.model_dump(exclude_none=True)
    for field, leaf in iter_numbers(data):
        click.echo(f"  {field} = {leaf['value']:.6g}")
        for key in ("source", "fitted_to", "assumption", "date"):
            if leaf.get(key):
                click.echo(f"      {key}: {leaf[key]}")
    click.echo(f"family defaults ({a.family}):")
    fam = a.family_raw.model_dump(exclude_none=True)
    for field, leaf in iter_numbers({"efficiency": fam["efficiency"], "parameters": fam.get("parameters", {})}):
        overridden = field.split(".")[-1] in a.raw.efficiency
        click.echo(f"  {field} = {leaf['value']:.6g}{'  (overridden by the SKU)' if overridden else ''}")
        click.echo(f"      {'fitted_to' if 'fitted_to' in leaf else 'source'}: {leaf.get('fitted_to') or leaf.get('source')}")


def _check_out(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """--out must name a format the plot can be written in (by its suffix)."""
    from experiments.roofline import output_format

    try:
        output_format(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value


@hardware.command(name="roofline")
@click.option("--hardware", "hardware_names", multiple=True, required=True, help="SKU name (repeatable)")
@click.option("--model", required=True, help="model catalog name")
@click.option("--precision", required=True, help="bf16 | fp16 | fp8 | int8 | int4 | fp4")
@click.option("--tensor", default=1, show_default=True, type=click.IntRange(min=1), help="tensor-parallel devices")
@click.option("--pipeline", default=1, show_default=True, type=click.IntRange(min=1), help="pipeline stages")
@click.option("--context", "context_tokens", default=1024, show_default=True, type=click.IntRange(min=0),
              help="cached tokens per request")
@click.option("--max-batch", default=1024, show_default=True, type=click.IntRange(min=1),
              help="largest batch plotted (powers of two from 1)")
@click.option("--out", required=True, type=click.Path(dir_okay=False), callback=_check_out,
              help="output file; its suffix picks the format: .png, .pdf, .svg, .svgz, .eps, .ps, .jpg, .tif, .webp")
def roofline_cmd(hardware_names: tuple[str, ...], model: str, precision: str, tensor: int, pipeline: int,
                 context_tokens: int, max_batch: int, out: str) -> None:
    """Decode step time against batch size for the chosen SKUs (log axes), with the asymptotes."""
    valid = list_accelerators()
    for h in hardware_names:
        _check_name(h, valid, "accelerator")
    _check_name(model, list_models(), "model")
    from experiments.roofline import plot_roofline

    batches = [2 ** i for i in range(0, 20) if 2 ** i <= max_batch]
    par = {"tensor": tensor, "pipeline": pipeline}
    try:
        path = plot_roofline(list(dict.fromkeys(hardware_names)), model, precision, par, batches, context_tokens,
                             out)
    except (DoesNotFitError, ValueError) as exc:
        _fail(str(exc).splitlines()[0])
    except OSError as exc:  # e.g. a parent of --out is a file, or the directory is not writable
        why = ("a parent of it is a file, not a directory" if isinstance(exc, (FileExistsError, NotADirectoryError))
               else exc.strerror or str(exc))
        _fail(f"--out {out!r}: cannot write: {why}")
    click.echo(f"wrote {path}")


if __name__ == "__main__":  # pragma: no cover
    hardware()
