-- xmax = 0 marks a freshly inserted row; a row taken by DO UPDATE carries the updating transaction.
-- The WHERE skips keys whose values are already equal, so they are neither updated nor counted.
WITH merged AS (
  INSERT INTO {target} AS t ({columns})
  SELECT {columns} FROM {stage}
  ON CONFLICT ({key}) DO UPDATE SET {updates}, {touched} = now()
  WHERE ({current}) IS DISTINCT FROM ({incoming})
  RETURNING (t.xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged
