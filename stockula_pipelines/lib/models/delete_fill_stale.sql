-- Keys the model no longer produces (e.g. a corrected trading day) leave the filled table too.
DELETE FROM {target} AS t
WHERE NOT EXISTS (SELECT 1 FROM {relation} AS m WHERE {key_match})
