-- Row count and an order-independent checksum of a table's rows: the sum of a 64-bit hash of each
-- row's text form. The session pins TimeZone, DateStyle and float output first, so the text form of a
-- row is the same on the live server and on a restored copy.
SELECT count(*) AS row_count, coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text AS row_checksum
FROM {table} AS t
