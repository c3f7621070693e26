-- The latest buckets of an OHLCV aggregate per symbol, oldest first, for the asset's sparkline plot.
SELECT symbol, bucket AS time, close_price, volume::double precision AS volume
FROM (
  SELECT symbol, bucket, close_price, volume,
         row_number() OVER (PARTITION BY symbol ORDER BY bucket DESC) AS age
  FROM {target}
) AS recent
WHERE age <= %(buckets)s
ORDER BY symbol, bucket
