INSERT INTO {target} ({target_columns})
SELECT {model_columns} FROM {relation}
ON CONFLICT ({key}) DO UPDATE SET {updates}
