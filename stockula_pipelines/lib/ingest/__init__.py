"""The loader: binary COPY of normalised frames into TimescaleDB, idempotent by window.

``load_window`` replaces a half-open time window for a set of symbols; ``upsert`` merges late
corrections and reference data. Both run in one transaction and write ``ops.ingest_log``.
"""

from .copy import PGCOPY_SIGNATURE, copy_frame, encode_frame, iter_copy_stream, to_arrow
from .loader import LoadResult, load_window
from .upsert import upsert
from .validate import IngestError

__all__ = [
    "PGCOPY_SIGNATURE",
    "IngestError",
    "LoadResult",
    "copy_frame",
    "encode_frame",
    "iter_copy_stream",
    "load_window",
    "to_arrow",
    "upsert",
]
