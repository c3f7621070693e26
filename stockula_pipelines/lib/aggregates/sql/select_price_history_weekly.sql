SELECT time_bucket(INTERVAL '7 days', time, %(tz)s::text, %(week_origin)s::timestamptz) AS bucket,
       symbol,
       first(open_price, time) AS open_price,
       max(high_price)         AS high_price,
       min(low_price)          AS low_price,
       last(close_price, time) AS close_price,
       sum(volume)             AS volume,
       sum(trading_value)      AS trading_value,
       count(*)                AS bar_count
FROM market.price_history
WHERE interval = '1d'
GROUP BY 1, 2
