DELETE FROM {table}
WHERE time >= %(start)s AND time < %(end)s
  AND symbol = ANY(%(symbols)s::text[])
  AND interval = %(interval)s
