"""Option snapshots belong to a session: the rule a fetched chain must meet before it is stored.

No source keeps historical option chains, so a chain describes the session that was current when it
was fetched. A chain for ``snapshot_date`` is therefore accepted only if it was fetched after that
session opened and before the next one opens (after the close, overnight or over a weekend the
quotes are still that session's). Anything else would store today's quotes under another day.
"""

from __future__ import annotations

from datetime import UTC, date

import polars as pl

from stockula_pipelines.lib.calendar import get_calendar


def snapshot_problem(frame: pl.DataFrame, snapshot_date: date, *, exchange: str) -> str | None:
    """Why ``frame`` (one symbol's chain) cannot be the snapshot of ``snapshot_date``, or None."""
    if frame.height == 0 or "fetched_at" not in frame.columns:
        return None
    cal = get_calendar(exchange)
    opened, _closed = cal.session_open_close(snapshot_date)
    try:
        next_open = cal.session_open_close(cal.next_trading_day(snapshot_date))[0]
    except ValueError:  # past the calendar's end: nothing later can have opened yet
        next_open = None
    fetched = frame.get_column("fetched_at").drop_nulls()
    if fetched.is_empty():
        return None
    first, last = fetched.min(), fetched.max()
    if first < opened or (next_open is not None and last >= next_open):
        when = (first if first < opened else last).astimezone(UTC).isoformat()
        bound = (f"before the {snapshot_date.isoformat()} session opened" if first < opened
                 else f"after the next session opened ({next_open.isoformat()})")
        return (f"option chain for {snapshot_date.isoformat()} was fetched at {when}, {bound}; sources keep no "
                "history of option chains, so it would store another session's quotes (rule: snapshot_session)")
    return None
