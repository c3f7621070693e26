-- Through the SECURITY DEFINER function of sql/0011: the monitor role reads sizes, never rows.
SELECT hypertable, chunks AS num_chunks, total_bytes, compressed_chunks
FROM ops.metrics_hypertables()
ORDER BY total_bytes DESC
