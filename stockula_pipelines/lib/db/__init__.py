"""Database plumbing without Dagster: capabilities of the server and the migration runner."""
