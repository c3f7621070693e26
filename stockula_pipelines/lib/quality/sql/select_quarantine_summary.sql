-- Open quarantine by table, rule, symbol and trading day, largest first.
SELECT table_name, rule, symbol, trading_date, rows_quarantined, first_seen, last_seen
FROM quality.quarantine_summary
ORDER BY rows_quarantined DESC, table_name, rule, symbol, trading_date
LIMIT %(limit)s
