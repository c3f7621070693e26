SELECT count(*) AS open_rows, count(DISTINCT symbol) AS symbols, count(DISTINCT rule) AS rules
FROM quality.quarantine
WHERE resolved_at IS NULL
