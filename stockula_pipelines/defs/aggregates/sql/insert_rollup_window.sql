INSERT INTO {target} ({columns})
