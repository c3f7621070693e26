-- Seconds since the newest load of each market table (NULL: never loaded), through the exporter's function.
SELECT table_name,
       CASE WHEN last_loaded_timestamp_seconds > 0
            THEN extract(epoch FROM now())::double precision - last_loaded_timestamp_seconds END AS age_seconds
FROM ops.metrics_freshness()
