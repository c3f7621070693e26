"""Derived metrics written back into the raw tables: adjusted prices, returns, volatility, Greeks.

Pure code over a psycopg connection (no Dagster). Each ``refresh_*`` function takes the loads it has
not processed yet (``lib/db/refresh_log``), computes, writes the columns and marks the loads done,
all in the caller's transaction.
"""

