-- Latest option snapshot date of {table} (an Identifier); the bound lets TimescaleDB skip old chunks.
SELECT max(snapshot_date) FROM {table} WHERE time >= %(since)s
