-- The latest load of each recent single-partition window, with the symbols it had to leave untouched
-- and how many loads of that partition already left symbols untouched (the retries so far).
SELECT ingest_id, table_name, interval, partition_key, symbols_skipped, skipped_loads
FROM (
  SELECT DISTINCT ON (table_name, interval, partition_key)
         ingest_id, table_name, interval, partition_key, symbols_skipped,
         count(*) FILTER (WHERE cardinality(symbols_skipped) > 0)
           OVER (PARTITION BY table_name, interval, partition_key) AS skipped_loads
  FROM ops.ingest_log
  WHERE table_name = ANY(%(tables)s::text[])
    AND loaded_at > now() - make_interval(days => %(lookback_days)s)
    AND partition_key IS NOT NULL AND strpos(partition_key, '...') = 0
  ORDER BY table_name, interval, partition_key, ingest_id DESC
) AS latest
WHERE cardinality(symbols_skipped) > 0
ORDER BY ingest_id
