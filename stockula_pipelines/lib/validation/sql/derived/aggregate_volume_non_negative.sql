SELECT count(*) FILTER (WHERE {volume} < 0), count(*) FROM {relation}
