SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
       sum(volume)        AS total_volume,
       sum(trading_value) AS total_trading_value,
       count(*)           AS bar_count
FROM market.price_history
WHERE interval = '5m'
GROUP BY 1
