-- Upserts without a window (reference data) log the instant they ran.
INSERT INTO ops.ingest_log (table_name, interval, window_start, window_end, symbols, mode, rows_deleted,
                            rows_loaded, rows_updated, rows_quarantined, source, run_id, partition_key,
                            symbols_changed, symbols_skipped)
VALUES (%(table)s, %(interval)s, coalesce(%(start)s::timestamptz, now()),
        coalesce(%(end)s::timestamptz, now() + interval '1 microsecond'), %(symbols)s::text[], %(mode)s,
        %(deleted)s, %(loaded)s, %(updated)s, %(quarantined)s, %(source)s, %(run_id)s, %(partition_key)s,
        %(changed)s::text[], %(skipped)s::text[])
RETURNING ingest_id
