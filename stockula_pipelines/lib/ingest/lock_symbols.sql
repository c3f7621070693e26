-- Sorted, so two loads with overlapping symbol sets always take their locks in the same order.
SELECT pg_advisory_xact_lock(hashtextextended(%(table)s || ':' || s, 0))
FROM (SELECT DISTINCT s FROM unnest(%(symbols)s::text[]) AS s ORDER BY s) AS ordered
