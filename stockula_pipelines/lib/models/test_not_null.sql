SELECT count(*) FROM {relation} WHERE {column} IS NULL
