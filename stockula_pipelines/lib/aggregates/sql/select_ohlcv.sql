-- OHLCV of one bar interval per symbol and bucket, exactly as the continuous aggregates of
-- sql/0008_aggregates.tsl.sql compute it; the bucket is the aggregate's own time_bucket() call.
SELECT {bucket} AS bucket,
       symbol,
       first(open_price, time) AS open_price,
       max(high_price)         AS high_price,
       min(low_price)          AS low_price,
       last(close_price, time) AS close_price,
       sum(volume)             AS volume,
       sum(trading_value)      AS trading_value,
       count(*)                AS bar_count
FROM {source}
WHERE interval = %(source_interval)s
GROUP BY 1, 2
