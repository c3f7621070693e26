"""Step retries for what the infrastructure does to a run, never for what the data does.

A step that loses its database connection (PostgreSQL restarted, a backend terminated, PgBouncer
briefly gone, a pool that found no connection in time: all ``psycopg.OperationalError``) is asked
to run again after a growing pause. Loads and refreshes are idempotent by window and roll back
whole, so running one again is safe. Anything else (bad input, a source that answered for no
symbol, a failed check) fails the step at once, as before: retrying it would only repeat it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TypeVar

import dagster as dg
import psycopg

F = TypeVar("F", bound=Callable[..., object])

# 4 attempts over 5 + 10 + 20 s: longer than a fast or immediate restart of the server with crash
# recovery, short enough that a real outage fails the run within a minute.
MAX_RETRIES = 3
BASE_DELAY_SECONDS = 5.0


def delay_for(retry_number: int) -> float:
    """Seconds before the attempt after attempt ``retry_number`` (0 for the first run)."""
    return BASE_DELAY_SECONDS * 2**retry_number


def retry_on_lost_database(fn: F) -> F:
    """Decorate an asset whose first parameter is its context (plain or generator function): on
    ``psycopg.OperationalError`` request a retry, up to ``MAX_RETRIES``, saying why in the run's log."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(context, *args, **kwargs):
            try:
                yield from fn(context, *args, **kwargs)
            except psycopg.OperationalError as exc:
                raise _retry(context, exc) from exc

        return generator  # type: ignore[return-value]

    @functools.wraps(fn)
    def function(context, *args, **kwargs):
        try:
            return fn(context, *args, **kwargs)
        except psycopg.OperationalError as exc:
            raise _retry(context, exc) from exc

    return function  # type: ignore[return-value]


def _retry(context, exc: psycopg.OperationalError) -> dg.RetryRequested:
    attempt = context.retry_number
    wait = delay_for(attempt)
    text = str(exc).strip()
    reason = text.splitlines()[0] if text else type(exc).__name__
    if attempt < MAX_RETRIES:
        context.log.warning(f"database connection lost ({type(exc).__name__}: {reason}); attempt "
                            f"{attempt + 2} of {MAX_RETRIES + 1} in {wait:.0f}s")
    return dg.RetryRequested(max_retries=MAX_RETRIES, seconds_to_wait=wait)
