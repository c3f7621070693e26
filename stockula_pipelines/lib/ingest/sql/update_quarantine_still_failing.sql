-- Rows a resubmission still refused stay open with the rule(s) and detail they break now, and with
-- the row as fixed so far, so that rule, detail and row_data describe the same row for the next fix.
UPDATE quality.quarantine AS q
SET rule = f.rule, detail = f.detail, row_data = f.row_data
FROM unnest(%(ids)s::bigint[], %(rules)s::text[], %(details)s::text[], %(rows)s::jsonb[])
     AS f (quarantine_id, rule, detail, row_data)
WHERE q.quarantine_id = f.quarantine_id AND q.resolved_at IS NULL
