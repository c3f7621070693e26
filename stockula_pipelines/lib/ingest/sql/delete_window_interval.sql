-- As delete_window.sql, for the bars of one interval.
DELETE FROM {table} AS t
WHERE t.time >= %(start)s AND t.time < %(end)s
  AND t.symbol = ANY(%(symbols)s::text[])
  AND t.interval = %(interval)s
  AND NOT EXISTS (
    SELECT 1 FROM unnest(%(spare_keys)s::text[], %(spare_times)s::timestamptz[]) AS s(k, at)
    WHERE s.k = t.{key} AND s.at = t.time)
RETURNING {returning}
