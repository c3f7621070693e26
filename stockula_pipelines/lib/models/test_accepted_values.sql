SELECT count(*) FROM {relation} WHERE {column} IS NOT NULL AND NOT ({column}::text = ANY(%s::text[]))
