-- Rows of the window for the load's symbols, except those a rejected row would have replaced: a bad
-- new row never takes the good stored row with it. RETURNING feeds the changed-symbols comparison.
DELETE FROM {table} AS t
WHERE t.time >= %(start)s AND t.time < %(end)s
  AND t.symbol = ANY(%(symbols)s::text[])
  AND NOT EXISTS (
    SELECT 1 FROM unnest(%(spare_keys)s::text[], %(spare_times)s::timestamptz[]) AS s(k, at)
    WHERE s.k = t.{key} AND s.at = t.time)
RETURNING {returning}
