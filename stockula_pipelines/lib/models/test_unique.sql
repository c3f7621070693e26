-- Rows that share their key with another row (NULLs count as equal, so a NULL key also fails).
SELECT coalesce(sum(n), 0)::bigint
FROM (SELECT count(*) AS n FROM {relation} GROUP BY {columns} HAVING count(*) > 1) AS duplicates
