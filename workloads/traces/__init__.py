"""Readers of recorded request traces in their original formats, streamed in bounded memory.

``open_trace`` returns a :class:`~workloads.traces.reader.TraceReader` whose ``batches()`` yields
:class:`~workloads.batch.Batch` es with times in seconds since the file's first valid row (all 0 for a
``csv``/``parquet`` table of lengths only, whose ``columns`` leave out ``time``).
"""

from workloads.traces.formats import FORMATS, Columns, Layout, ReplayColumns, TraceFormat, detect_format, layout_for
from workloads.traces.reader import TraceReader, open_trace

__all__ = [
    "FORMATS",
    "Columns",
    "Layout",
    "ReplayColumns",
    "TraceFormat",
    "TraceReader",
    "detect_format",
    "layout_for",
    "open_trace",
]
