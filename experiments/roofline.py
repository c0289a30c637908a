"""Roofline plot: decode step time against batch size for chosen SKUs, with the asymptotes.

For each SKU: the modelled decode step (every request at ``context_tokens`` cached tokens), the memory-bound
asymptote (bytes read at the achieved bandwidth, the flat floor at small batch) and the compute-bound one
(FLOPs at the achieved peak, the rising line at large batch). Written atomically (``results.write_atomic``), in
the format its suffix names (:data:`FORMATS`).
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments.results import write_atomic  # noqa: E402
from hardware_models import BatchWork, build_performance_model  # noqa: E402

#: output suffixes (lower case, no dot) the plot can be saved as; each is also the matplotlib format name
FORMATS = ("png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp")


def output_format(path: str | os.PathLike) -> str:
    """The format named by ``path``'s suffix; a ValueError naming the suffix and the allowed ones otherwise."""
    suffix = Path(path).suffix
    if suffix.lower().lstrip(".") not in FORMATS:
        got = f"suffix {suffix!r}" if suffix else "no suffix"
        raise ValueError(f"{os.fspath(path)!r} has {got}; the plot is written as one of "
                         f"{', '.join('.' + f for f in FORMATS)}")
    return suffix.lower().lstrip(".")


def decode_work(batch_sizes: np.ndarray, context_tokens: int) -> BatchWork:
    b = np.asarray(batch_sizes, dtype=np.float64)
    kv = b * (context_tokens + 1.0)
    return BatchWork(new_tokens=b, requests=b.copy(), kv_read_tokens=kv, attention_pairs=kv.copy())


def roofline_series(hardware: str, model: str, precision: str, parallelism: dict, batch_sizes: list[int],
                    context_tokens: int) -> dict[str, np.ndarray]:
    """Step time and the two asymptotes (seconds) for each batch size."""
    pm = build_performance_model(hardware, model, precision, parallelism)
    work = decode_work(np.asarray(batch_sizes), context_tokens)
    cost = pm.cost.iteration(work)
    return {"batch": np.asarray(batch_sizes, dtype=np.float64), "step_s": pm.iteration_time_s(work),
            "memory_s": pm.memory_s(cost.bytes), "compute_s": pm.compute_s(cost.flops)}


def plot_roofline(hardware: list[str], model: str, precision: str, parallelism: dict | None,
                  batch_sizes: list[int], context_tokens: int, path: str | os.PathLike) -> Path:
    """Write a log-log plot of decode step time vs batch size, one line per SKU plus its asymptotes, in the
    format ``path``'s suffix names (png, pdf, svg, ...: :data:`FORMATS`)."""
    fmt = output_format(path)
    if context_tokens < 0:
        raise ValueError(f"context_tokens must be >= 0, got {context_tokens}")
    if not batch_sizes or min(batch_sizes) < 1:
        raise ValueError(f"batch sizes must be >= 1, got {list(batch_sizes)}")
    fig, ax = plt.subplots(figsize=(8, 5.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, hw in enumerate(hardware):
        s = roofline_series(hw, model, precision, dict(parallelism or {}), batch_sizes, context_tokens)
        c = colors[i % len(colors)]
        ax.plot(s["batch"], s["step_s"] * 1e3, "-o", color=c, ms=3, label=f"{hw} (model)")
        ax.plot(s["batch"], s["memory_s"] * 1e3, "--", color=c, lw=0.9, label=f"{hw} memory-bound")
        ax.plot(s["batch"], s["compute_s"] * 1e3, ":", color=c, lw=0.9, label=f"{hw} compute-bound")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size (decode requests per step)")
    ax.set_ylabel("decode step time (ms)")
    ax.set_title(f"{model}, {precision}, {parallelism or {}}, context {context_tokens} tokens")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    out = Path(path)
    try:  # the usual file mode (0o666 less the umask), like every other output
        write_atomic(out, lambda handle: fig.savefig(handle, dpi=120, format=fmt))
    finally:
        plt.close(fig)
    return out
