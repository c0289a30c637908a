"""Per-request records: one immutable row per request, stored column-wise (8 bytes a value).

Rows are appended when a request ends (finished, dropped, failed, or still in the system when the run
stops) and sorted by ``request_id`` when the table is built, so memory is bounded by the records and not
by the tokens simulated. Derived columns (``queue_s``, ``ttft_s``, ``tpot_s``, ``e2e_s``) are computed
vectorised from the stored times (DESIGN.md, "Per-request records").
"""

from __future__ import annotations

from array import array
from enum import IntEnum

import numpy as np
import pandas as pd

from sim.request import Request


class Status(IntEnum):
    OK = 0
    DROPPED = 1
    FAILED = 2
    UNFINISHED = 3


STATUS_NAMES = ["ok", "dropped", "failed", "unfinished"]

#: column order of ``requests.parquet`` (DESIGN.md contract, then extensions)
COLUMNS = [
    "request_id",
    "class",
    "pool",
    "replica",
    "arrival_s",
    "start_s",
    "first_token_s",
    "finish_s",
    "input_tokens",
    "output_tokens",
    "status",
    "queue_s",
    "ttft_s",
    "tpot_s",
    "e2e_s",
    "preemptions",
    "reason",
    "cached_tokens",
    "transfer_s",
]


class RecordStore:
    """Append-only column store of ended requests."""

    def __init__(self, class_names: list[str], pool_names: list[str]) -> None:
        self.class_names = list(class_names)
        self.pool_names = list(pool_names)
        self.reasons: list[str] = [""]
        self._reason_index: dict[str, int] = {"": 0}
        self._id = array("q")
        self._cls = array("h")
        self._pool = array("h")
        self._replica = array("q")
        self._arrival = array("d")
        self._start = array("d")
        self._first = array("d")
        self._finish = array("d")
        self._input = array("q")
        self._output = array("q")
        self._status = array("b")
        self._preempt = array("q")
        self._reason = array("h")
        self._cached = array("q")
        self._transfer = array("d")
        # the columns' append methods in row order, bound once (``add`` runs once per request)
        self._appenders = (self._id.append, self._cls.append, self._pool.append, self._replica.append,
                           self._arrival.append, self._start.append, self._first.append, self._finish.append,
                           self._input.append, self._output.append, self._status.append, self._preempt.append,
                           self._reason.append, self._cached.append, self._transfer.append)

    def __len__(self) -> int:
        return len(self._id)

    def add(self, req: Request, status: Status, reason: str = "") -> None:
        """Write the final row of ``req``."""
        code = self._reason_index.get(reason)
        if code is None:
            code = self._reason_index[reason] = len(self.reasons)
            self.reasons.append(reason)
        (id_, cls, pool, replica, arrival, start, first, finish, input_, output, status_, preempt, reason_, cached,
         transfer) = self._appenders
        id_(req.id)
        cls(req.cls)
        pool(req.pool)
        replica(req.replica)
        arrival(req.arrival_s)
        start(req.start_s)
        first(req.first_token_s)
        finish(req.finish_s)
        input_(req.input_tokens)
        output(req.output_tokens)
        status_(status)
        preempt(req.preemptions)
        reason_(code)
        cached(req.cached_tokens)
        transfer(req.transfer_s)

    def to_frame(self) -> pd.DataFrame:
        """The records as a DataFrame sorted by request id, with the derived latency columns."""
        ids = np.frombuffer(self._id, dtype=np.int64)
        order = np.argsort(ids, kind="stable")

        def col(values: array, dtype: type) -> np.ndarray:
            return np.frombuffer(values, dtype=dtype)[order] if len(values) else np.empty(0, dtype=dtype)

        arrival = col(self._arrival, np.float64)
        start = col(self._start, np.float64)
        first = col(self._first, np.float64)
        finish = col(self._finish, np.float64)
        output = col(self._output, np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            tpot = np.where(output > 1, (finish - first) / (output - 1), np.nan)
        pools = col(self._pool, np.int16).astype(np.int64)
        frame = pd.DataFrame(
            {
                "request_id": ids[order] if ids.size else np.empty(0, np.int64),
                "class": pd.Categorical.from_codes(col(self._cls, np.int16), categories=self.class_names),
                "pool": pd.Categorical.from_codes(pools, categories=self.pool_names),
                "replica": col(self._replica, np.int64),
                "arrival_s": arrival,
                "start_s": start,
                "first_token_s": first,
                "finish_s": finish,
                "input_tokens": col(self._input, np.int64),
                "output_tokens": output,
                "status": pd.Categorical.from_codes(col(self._status, np.int8), categories=STATUS_NAMES),
                "queue_s": start - arrival,
                "ttft_s": first - arrival,
                "tpot_s": tpot,
                "e2e_s": finish - arrival,
                "preemptions": col(self._preempt, np.int64),
                "reason": pd.Categorical.from_codes(col(self._reason, np.int16), categories=self.reasons),
                "cached_tokens": col(self._cached, np.int64),
                "transfer_s": col(self._transfer, np.float64),
            }
        )
        return frame[COLUMNS]
