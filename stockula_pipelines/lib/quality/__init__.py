"""Data quality, in one place: the rules rows pass before loading and every check after.

========================  ===========================================================================
module                    what
========================  ===========================================================================
``results``               :class:`CheckSpec` and :class:`CheckOutcome`, the one check definition and
                          result type of every Dagster asset check, and ``quality.data_quality_results``
``rules``                 row rules applied to a normalised batch before it is loaded (bad rows go to
                          ``quality.quarantine``)
``suites``                the great-expectations suites of the loaded tables, kept in code, and the
                          checks they are grouped into
``windows``               the rows a suite validates: one table's window, as SQL for either engine
``engines``               ``validate_window`` on the ``compiled`` (``compiled.py``) or the
                          ``great_expectations`` engine (``ge_engine.py``)
``ingestion``             the checks of a loaded window: suite, trading-day calendar, source coverage
``freshness``             is the latest completed session loaded (exchange time)
``derived``               checks of the derived tables (metrics, Greeks, aggregates; backtests through
                          ``lib/strategies/checks.py``)
``quarantine``            the open quarantine, summarised for the report
========================  ===========================================================================

Loader preconditions (schema, keys, window) stay with the loader (``lib/ingest/validate.py``), and
re-submitting fixed quarantined rows is a load (``lib/ingest/resubmit.py``). Importing this package
is cheap: great_expectations is imported only by the GE engine.
"""

from stockula_pipelines.lib.quality.results import CheckOutcome, CheckSpec, record_results

__all__ = ["CheckOutcome", "CheckSpec", "record_results"]
