-- Transactions that committed after snapshot %(before)s was taken but before snapshot %(after)s: if
-- any, rows were written between the manifest's snapshot and the restore point, and the manifest
-- would not describe what a restore to that point holds.
SELECT count(*)
FROM (
  SELECT x FROM pg_snapshot_xip(%(before)s::pg_snapshot) AS x
  UNION
  SELECT g::text::xid8
  FROM generate_series(pg_snapshot_xmax(%(before)s::pg_snapshot)::text::bigint,
                       pg_snapshot_xmax(%(after)s::pg_snapshot)::text::bigint - 1) AS g
) AS candidates (x)
WHERE pg_visible_in_snapshot(x, %(after)s::pg_snapshot)
  AND pg_xact_status(x) = 'committed'
