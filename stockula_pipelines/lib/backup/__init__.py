"""Backups of the stockula database: pgBackRest (physical, point in time) and pg_dump (logical), their
manifests, restores, verification drills and retention. Pure code: no Dagster import."""
