"""Time windows: the half-open ``[start, end)`` every load, check and refresh works on.

The one place that decides whether a window is usable. A naive bound would be read in the server's
or the machine's zone and silently shift a whole day of bars, and an inverted one would select
nothing, so both are refused, naming what the window was for and the rule it broke.
"""

from __future__ import annotations

from datetime import UTC, datetime

Window = tuple[datetime, datetime]


class WindowError(ValueError):
    """A window that is not a pair of time-zone-aware datetimes with start before end."""


def utc_window(window: object, *, what: str) -> Window:
    """``window`` as a pair of UTC datetimes, or :class:`WindowError` naming ``what`` and the rule
    (``aware_window`` or ``window_order``)."""
    try:
        start, end = window  # type: ignore[misc]
    except (TypeError, ValueError):
        raise WindowError(f"{what}: window must be a (start, end) pair, got {window!r}") from None
    for label, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
            naive = isinstance(value, datetime)
            raise WindowError(f"{what}: window {label} {value.isoformat() if naive else repr(value)} "
                              f"{'is naive; it ' if naive else ''}must be a time-zone-aware datetime "
                              "(rule: aware_window)")
    if not start < end:
        raise WindowError(f"{what}: window start {start.isoformat()} is not before end {end.isoformat()} "
                          "(an empty window; rule: window_order)")
    return start.astimezone(UTC), end.astimezone(UTC)
