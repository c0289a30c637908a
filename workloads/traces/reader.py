"""Streaming trace readers: CSV and JSONL in byte blocks cut at line ends, Parquet in record batches.

Memory is bounded by the block size (``BLOCK_BYTES`` of text, ``PARQUET_BATCH_ROWS`` rows), never by the
file. Line numbers are exact: blocks are cut at newlines and counted; blank lines (empty or whitespace
only) carry no request and are passed over. Text files must be UTF-8 (a leading byte-order mark is
ignored); a line that is not is a bad row. CSV fields must not contain quoted separators (none of the
supported formats has them). A Parquet time column of date-times (``timestamp``, ``date``) is read as
date-times and one of ``duration`` as seconds, whatever ``time_unit`` says. A ``csv``/``parquet`` layout
without a time column (a table of lengths only) yields Batches whose times are all 0 s.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from workloads.batch import Batch
from workloads.errors import OnError, SkipLog, TraceError, report
from workloads.traces.formats import BOM, Columns, Layout, TimeUnit, detect_format, layout_for, utf8_problem
from workloads.traces.rows import FileState, RawBlock, RawText, clean_block

BLOCK_BYTES = 8 << 20
PARQUET_BATCH_ROWS = 1 << 18
NEWLINE, COMMA, CR = 10, 44, 13
#: the bytes ``bytes.strip()`` removes: a line of only these is blank
WHITESPACE = np.frombuffer(b" \t\n\r\x0b\x0c", dtype=np.uint8)
UTF8_REASON = "not UTF-8 text"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EMPTY_IDS = np.zeros(0, dtype=np.int64)


def open_trace(
    path: str | Path,
    fmt: str = "auto",
    columns: Columns | None = None,
    time_unit: TimeUnit = "s",
    on_error: OnError = "strict",
    log: SkipLog | None = None,
) -> "TraceReader":
    """A reader of ``path``; the format is detected from the header when ``fmt`` is ``auto``."""
    path = Path(path)
    if not path.exists():
        raise TraceError(f"{path}: file not found")
    if path.is_dir():
        raise TraceError(f"{path}: is a directory, expected a trace file")
    if fmt == "auto":
        fmt = detect_format(path)
    return TraceReader(path, layout_for(fmt, columns, time_unit), on_error, log or SkipLog())


class TraceReader:
    """One pass (or several) over a trace file, as Batches of valid rows in file order."""

    def __init__(self, path: Path, layout: Layout, on_error: OnError, log: SkipLog) -> None:
        self.path = path
        self.layout = layout
        self.on_error = on_error
        self.log = log
        self._header = self._read_header()
        if layout.kind == "parquet":
            self.layout = _parquet_time(layout, self._parquet_schema())

    @property
    def has_lengths(self) -> bool:
        return self.layout.has_lengths

    @property
    def has_times(self) -> bool:
        """False for a table of lengths only: its Batches' times are all 0 s."""
        return self.layout.has_times

    def _read_header(self) -> list[str]:
        kind = self.layout.kind
        if kind == "parquet":
            names = list(self._parquet_schema().names)
            self._check_columns(names, "the columns are")
            return names
        first, number = self._first_line()
        try:
            text = first.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise TraceError(f"{self.path.name} line {number}: {utf8_problem(first, exc)}") from None
        if kind == "jsonl":
            try:
                keys = list(json.loads(text))
            except (json.JSONDecodeError, TypeError) as exc:
                raise TraceError(f"{self.path.name} line {number}: not a JSON object: {exc}") from None
            self._check_columns(keys, "the first row's keys are")
            return keys
        names = [c.strip() for c in text.split(",")]
        repeated = sorted({c for c in names if names.count(c) > 1})
        if repeated:  # pandas would refuse them with no file or line
            raise TraceError(f"{self.path.name} line {number}: column {repeated[0]!r} appears more than once in the "
                             "header; column names must be unique")
        self._check_columns(names, "the header is")
        return names

    def _parquet_schema(self):  # type: ignore[no-untyped-def]
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.path).schema_arrow
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise TraceError(f"{self.path.name}: cannot read as parquet: {exc}") from None

    def _first_line(self) -> tuple[bytes, int]:
        """The first non-blank line of a text file (without a byte-order mark) and its number."""
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if number == 1 and raw.startswith(BOM):
                    raw = raw[len(BOM) :]
                if raw.strip():
                    return raw, number
        raise TraceError(f"{self.path.name}: empty file")

    def _check_columns(self, names: list[str], what: str) -> None:
        missing = [c for c in self.layout.required if c not in names]
        if missing:
            unit = "" if self.layout.kind == "parquet" else " line 1"
            raise TraceError(
                f"{self.path.name}{unit}: missing column {missing[0]!r} for format {self.layout.format}; {what} {names}"
            )

    def batches(self) -> Iterator[Batch]:
        """Valid rows, in file order, times in s since the first valid row (all 0 without a time column);
        raises TraceError on an empty file."""
        state = FileState(self.path.name, "row" if self.layout.kind == "parquet" else "line")
        raw_blocks = {"csv": self._csv_blocks, "jsonl": self._jsonl_blocks, "parquet": self._parquet_blocks}
        for raw in raw_blocks[self.layout.kind](state):
            batch = clean_block(raw, self.layout, state, self.on_error, self.log)
            if len(batch):
                yield batch
        if state.rows == 0:
            skipped = f" ({self.log.total} rows skipped: {self.log.as_dict()})" if self.log.total else ""
            raise TraceError(f"{self.path.name}: no requests in the file{skipped}")

    # ---- text files ----------------------------------------------------------------------------
    def _text_blocks(self) -> Iterator[tuple[bytes, int]]:
        """Blocks of whole lines and the line number of each block's first line."""
        line, carry = 1, b""
        with self.path.open("rb") as handle:
            if handle.read(len(BOM)) != BOM:
                handle.seek(0)
            while data := handle.read(BLOCK_BYTES):
                data = carry + data
                cut = data.rfind(b"\n")
                if cut < 0:
                    carry = data
                    continue
                block, carry = data[: cut + 1], data[cut + 1 :]
                yield block, line
                line += block.count(b"\n")
        if carry:
            yield carry + b"\n", line

    def _lines(
        self, block: bytes, first_line: int, state: FileState
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Line starts, content ends (before CR/LF), 1-based numbers, the byte array of a block and the mask
        of lines that hold a row: not blank (empty or whitespace only) and UTF-8 (the others are reported)."""
        data = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(data == NEWLINE)
        starts = np.concatenate(([0], ends[:-1] + 1))
        content_end = ends - ((ends > starts) & (data[np.maximum(ends - 1, 0)] == CR))
        numbers = first_line + np.arange(ends.size, dtype=np.int64)
        filled = content_end > starts
        indented = filled & np.isin(data[np.minimum(starts, max(data.size - 1, 0))], WHITESPACE)
        for i in np.flatnonzero(indented).tolist():  # rare: only these can be whitespace only
            filled[i] = bool(block[int(starts[i]) : int(content_end[i])].strip())
        rows = filled & ~self._not_utf8(block, starts, content_end, numbers, filled, state)
        return starts, content_end, numbers, data, rows

    def _not_utf8(
        self, block: bytes, starts: np.ndarray, ends: np.ndarray, numbers: np.ndarray, rows: np.ndarray, state: FileState
    ) -> np.ndarray:
        """The lines of ``rows`` that are not UTF-8, reported as bad rows (one decode of the block when all are)."""
        bad = np.zeros(starts.size, dtype=bool)
        try:
            block.decode("utf-8")
            return bad
        except UnicodeDecodeError:
            pass
        example = ""
        for i in np.flatnonzero(rows).tolist():
            line = block[int(starts[i]) : int(ends[i])]
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad[i] = True
                example = example or f"{state.name} line {int(numbers[i])}: {utf8_problem(line, exc)}"
        report(self.on_error, self.log, UTF8_REASON, int(bad.sum()), example)
        return bad

    def _csv_blocks(self, state: FileState) -> Iterator[RawBlock]:
        header = self._header
        width = len(header)
        wanted = self.layout.required
        time = self.layout.time
        dtypes = {time: str} if time is not None and self.layout.time_unit == "datetime" else {}
        header_seen = False
        for block, first_line in self._text_blocks():
            starts, ends, numbers, data, row = self._lines(block, first_line, state)
            if not header_seen:  # the first non-blank line is the header
                first = int(np.argmax(row)) if row.any() else row.size
                row[: first + 1] = False
                header_seen = first < row.size
            commas = np.flatnonzero(data == COMMA)
            fields = np.searchsorted(commas, ends) - np.searchsorted(commas, starts) + 1
            wrong = row & (fields != width)
            if wrong.any():
                i = int(np.argmax(wrong))
                example = (
                    f"{state.name} line {int(numbers[i])}: wrong number of fields: expected {width} "
                    f"({','.join(header)}), got {int(fields[i])}"
                )
                report(self.on_error, self.log, "wrong number of fields", int(wrong.sum()), example)
            good = np.flatnonzero(row & ~wrong)
            if good.size == 0:
                continue
            if good.size == ends.size:
                text = block
            else:
                text = b"\n".join(block[s:e] for s, e in zip(starts[good].tolist(), ends[good].tolist())) + b"\n"
            frame = pd.read_csv(
                io.BytesIO(text), header=None, names=header, usecols=wanted, dtype=dtypes, engine="c",
                low_memory=False,  # one type per column over the whole block (<= BLOCK_BYTES), no DtypeWarning
            )
            yield RawBlock(
                numbers[good],
                frame[time] if time else None,
                frame[self.layout.input_tokens] if self.layout.input_tokens else None,
                frame[self.layout.output_tokens] if self.layout.output_tokens else None,
                _csv_raw(block, starts[good], ends[good], header),
            )

    def _jsonl_blocks(self, state: FileState) -> Iterator[RawBlock]:
        import pyarrow.json as pj

        layout = self.layout
        for block, first_line in self._text_blocks():
            starts, ends, numbers, _, rows = self._lines(block, first_line, state)
            good = np.flatnonzero(rows)
            if good.size == 0:
                continue
            lines = [block[s:e] for s, e in zip(starts[good].tolist(), ends[good].tolist())]
            text = block if good.size == ends.size else b"\n".join(lines) + b"\n"
            table = None
            try:
                options = pj.ReadOptions(use_threads=False, block_size=len(text) + 1)
                table = pj.read_json(io.BytesIO(text), read_options=options)
                if table.num_rows != good.size or not _exact_types(table, layout):
                    table = None
            except Exception:  # pyarrow rejects the block: find the bad lines one by one
                table = None
            if table is not None:
                yield _arrow_block(table, layout, numbers[good], _json_raw(lines))
            else:
                yield from self._jsonl_slow(lines, numbers[good], state)

    def _jsonl_slow(self, lines: list[bytes], numbers: np.ndarray, state: FileState) -> Iterator[RawBlock]:
        """Line-by-line JSON parsing of a block pyarrow rejected: report the bad lines, keep the rest."""
        layout = self.layout
        rows: list[dict] = []
        kept: list[int] = []
        for i, line in enumerate(lines):
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                reason = "not a JSON object"
                example = f"{state.name} line {int(numbers[i])}: {reason}: {str(exc).splitlines()[0]}"
                report(self.on_error, self.log, reason, 1, example)
                continue
            rows.append(obj)
            kept.append(i)
        if not rows:
            return
        index = np.asarray(kept, dtype=np.int64)

        def column(name: str | None) -> pd.Series | None:
            return None if name is None else pd.Series([r.get(name) for r in rows], dtype=object)

        prefix = prefix_bad = None
        if layout.prefix is not None:
            lists = [_int_list(r.get(layout.prefix)) for r in rows]
            offsets = np.zeros(len(lists) + 1, dtype=np.int64)
            np.cumsum([len(ids) for ids, _ in lists], out=offsets[1:])
            prefix = (offsets, np.concatenate([ids for ids, _ in lists]) if lists else EMPTY_IDS)
            prefix_bad = np.fromiter((not ok for _, ok in lists), dtype=bool, count=len(lists))
        kept_lines = [lines[i] for i in kept]
        yield RawBlock(
            numbers[index],
            column(layout.time),
            column(layout.input_tokens),
            column(layout.output_tokens),
            _json_raw(kept_lines, layout.prefix),
            prefix,
            prefix_bad,
        )

    # ---- parquet -------------------------------------------------------------------------------
    def _parquet_blocks(self, state: FileState) -> Iterator[RawBlock]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        layout = self.layout
        row = 1
        for record_batch in pq.ParquetFile(self.path).iter_batches(PARQUET_BATCH_ROWS, columns=layout.required):
            table = pa.Table.from_batches([record_batch])
            numbers = row + np.arange(table.num_rows, dtype=np.int64)
            row += table.num_rows

            def raw(i: int, name: str, table: pa.Table = table) -> str | None:
                value = table.column(name)[i].as_py()
                return None if value is None else str(value)

            yield _arrow_block(table, layout, numbers, raw)


def _arrow_block(table, layout: Layout, numbers: np.ndarray, raw) -> RawBlock:  # type: ignore[no-untyped-def]
    names = table.column_names

    def column(name: str | None) -> pd.Series | None:
        if name is None:
            return None
        if name not in names:
            return pd.Series([None] * table.num_rows, dtype=object)
        return table.column(name).to_pandas()

    prefix = None
    if layout.prefix is not None:
        prefix = _arrow_lists(table, layout.prefix) if layout.prefix in names else _empty_lists(table.num_rows)
    return RawBlock(numbers, column(layout.time), column(layout.input_tokens), column(layout.output_tokens), raw, prefix)


def _arrow_lists(table, name: str) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    import pyarrow as pa

    array = table.column(name).combine_chunks()
    if not pa.types.is_list(array.type):
        return _empty_lists(table.num_rows)
    offsets = array.offsets.to_numpy().astype(np.int64)
    values = array.values.to_numpy(zero_copy_only=False).astype(np.int64)
    start = int(offsets[0])
    return offsets - start, values[start : int(offsets[-1])]


def _empty_lists(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)


def _int_list(value: object) -> tuple[np.ndarray, bool]:
    """A prefix cell as int64 block ids and whether it is valid: missing (null) is no prefix; anything but a
    list of JSON integers within int64 is bad (ids are not rounded, wrapped or dropped)."""
    if value is None:
        return EMPTY_IDS, True
    if not isinstance(value, list) or _first_bad_id(value) is not None:
        return EMPTY_IDS, False
    return np.asarray(value, dtype=np.int64), True


def _first_bad_id(ids: list[object]) -> object | None:
    """The first entry of ``ids`` that is not an integer within int64 (None when all are)."""
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, int) or not INT64_MIN <= value <= INT64_MAX:
            return value if value is not None else "null"
    return None


def _exact_types(table, layout: Layout) -> bool:  # type: ignore[no-untyped-def]
    """True when pyarrow's inferred types are read exactly by the row checks: numbers, text or nulls for the
    time and lengths, lists of int64 without nulls for the prefix. Others (date-times or booleans inferred
    from a column, ids beyond int64 inferred as doubles) are read line by line with Python's json."""
    import pyarrow as pa

    scalar = (pa.types.is_integer, pa.types.is_floating, pa.types.is_null, pa.types.is_string, pa.types.is_large_string)
    for name in (layout.time, layout.input_tokens, layout.output_tokens):
        if name is not None and name in table.column_names:
            if not any(test(table.schema.field(name).type) for test in scalar):
                return False
    if layout.prefix is None or layout.prefix not in table.column_names:
        return True
    kind = table.schema.field(layout.prefix).type
    if pa.types.is_null(kind):
        return True
    if not pa.types.is_list(kind) or not (pa.types.is_signed_integer(kind.value_type) or pa.types.is_null(kind.value_type)):
        return False
    return all(chunk.values.null_count == 0 for chunk in table.column(layout.prefix).chunks)


def _parquet_time(layout: Layout, schema) -> Layout:  # type: ignore[no-untyped-def]
    """The layout with the unit the Parquet time column's type carries: date-times (``timestamp``, ``date``)
    are read as date-times and ``duration`` as seconds, whatever ``time_unit`` says (unchanged without one)."""
    import pyarrow as pa

    if layout.time is None:
        return layout
    kind = schema.field(layout.time).type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return replace(layout, time_unit="datetime")
    if pa.types.is_duration(kind):
        return replace(layout, time_unit="s")
    return layout


def _csv_raw(block: bytes, starts: np.ndarray, ends: np.ndarray, header: list[str]):  # type: ignore[no-untyped-def]
    def raw(i: int, name: str) -> str | None:
        fields = block[int(starts[i]) : int(ends[i])].decode("utf-8", errors="replace").split(",")
        position = header.index(name)
        return fields[position] if position < len(fields) else None

    return raw


def _json_raw(lines: list[bytes], prefix: str | None = None) -> RawText:
    """The text of a field of JSON lines for messages; for a bad ``prefix`` list, its first bad entry."""

    def raw(i: int, name: str) -> str | None:
        try:
            value = json.loads(lines[i]).get(name)
        except (ValueError, AttributeError):
            return None
        if name == prefix and isinstance(value, list) and (bad := _first_bad_id(value)) is not None:
            value = bad
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value)

    return raw
