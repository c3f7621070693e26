SELECT * FROM {relation} LIMIT %s
