-- Apache edition: compression and policies are not available. Retention of option snapshots runs as
-- drop_chunks from the Dagster maintenance job; aggregates are refreshed by the aggregate assets.
SELECT 1;
