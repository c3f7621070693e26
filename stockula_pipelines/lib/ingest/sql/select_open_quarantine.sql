-- Open quarantined rows matching every filter that is not NULL, with the partition of the load
-- that quarantined them (its window is what the rows are re-validated against).
SELECT quarantine_id, table_name, rule, symbol, row_data, partition_key
FROM quality.quarantine
WHERE resolved_at IS NULL
  AND (%(ids)s::bigint[] IS NULL OR quarantine_id = ANY(%(ids)s::bigint[]))
  AND (%(table)s::text IS NULL OR table_name = %(table)s::text)
  AND (%(rule)s::text IS NULL OR rule = %(rule)s::text OR %(rule)s::text = ANY(string_to_array(rule, ',')))
  AND (%(symbol)s::text IS NULL OR symbol = %(symbol)s::text)
ORDER BY quarantine_id
FOR UPDATE SKIP LOCKED
